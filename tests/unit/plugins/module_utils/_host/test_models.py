"""Named CPU models (models.py): replayed replies of a QEMU with Nutanix's named models under KVM, malformed replies,
the cache and the fact schema, and the real QEMUs of the matrix under TCG, where every offered model must start."""

import json
import pathlib

import jsonschema
import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import confirm, delivery, domain_edit, domain_xml
from ansible_collections.armvirt.cpu.plugins.module_utils._host import (
    cache, collect, dialects, models, probe, props, qmp)
from ansible_collections.armvirt.cpu.plugins.plugin_utils import libvirt_schema
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils import replay
from armsim import write_wrapper
from libvirtd import SCHEMAS, minimal_domain, needs_libvirt_schema

ROOT = pathlib.Path(__file__).resolve().parents[5]
with open(ROOT / "docs" / "schemas" / "arm_cpu_props.schema.json") as _stream:
    VALIDATOR = jsonschema.Draft202012Validator(json.load(_stream))


def expansion_of(name):
    return {"type": "full", "model": {"name": name}}


def read(exchanges):
    client = replay.ReplayClient(exchanges)
    warnings = []
    found = models.read_models(client, warnings)
    client.assert_all_used()
    return found, warnings


def fact_of(cpu_models, accel="kvm"):
    host_props = props.HostProps.unsupported("no properties in this test")
    host_props.cpu_models = cpu_models
    fact = host_props.to_fact(accel, "/usr/bin/qemu-system-aarch64", "probe")
    VALIDATOR.validate(fact)
    return fact


def test_nutanix_models_offered_under_kvm_released_models_refused():
    found, warnings = read(replay.load("nutanix-named-models-kvm"))
    assert warnings == []
    assert models.offered(found) == ["arm-v9.0-a-v1", "neoverse-v2-v1"]
    assert set(found) == {"arm-v9.0-a-v1", "neoverse-v2-v1", "cortex-a57", "cortex-a15"}   # host and max are modes
    assert found["cortex-a57"] == {"offered": False, "reason": "We cannot guarantee the CPU type 'cortex-a57' works "
                                                               "with KVM on this host"}
    v2 = found["neoverse-v2-v1"]
    assert v2["props"]["pmu"] == "off" and v2["props"]["sve"] == "on"
    assert not any(name.startswith("SYSREG_") for name in v2["props"])   # only the booleans are kept
    assert models.needs_sve_lengths(v2)
    fact_of(found)


def test_a_model_without_aarch64_is_left_out():
    exchanges = [{"execute": "query-cpu-definitions", "return": [{"name": "cortex-a15"}, {"name": "cortex-a57"}]},
                 {"execute": "query-cpu-model-expansion", "arguments": expansion_of("cortex-a15"),
                  "return": {"model": {"name": "cortex-a15", "props": {"pmu": True}}}},
                 {"execute": "query-cpu-model-expansion", "arguments": expansion_of("cortex-a57"),
                  "return": {"model": {"name": "cortex-a57", "props": {"aarch64": True, "pmu": True}}}}]
    found, warnings = read(exchanges)
    assert found == {"cortex-a57": {"offered": True, "props": {"aarch64": "on", "pmu": "on"}}} and warnings == []
    assert not models.needs_sve_lengths(found["cortex-a57"])


def test_no_query_cpu_definitions_gives_no_models_and_says_so():
    exchanges = [{"execute": "query-cpu-definitions", "error": {
        "class": "CommandNotFound", "desc": "The command query-cpu-definitions has not been found"}}]
    found, warnings = read(exchanges)
    assert found == {}
    assert warnings == ["query-cpu-definitions: The command query-cpu-definitions has not been found "
                        "(CommandNotFound); no named models read"]


@pytest.mark.parametrize("reply, expected, warned", [
    ({"name": "cortex-a57"}, {}, "the reply should be a list, not dict"),
    ([{"name": "bad,name"}, "cortex-a57", {"typename": "x"}], {}, "element 0 has no name"),
])
def test_malformed_lists_are_warned_about(reply, expected, warned):
    found, warnings = read([{"execute": "query-cpu-definitions", "return": reply}])
    assert found == expected
    assert any(warned in warning for warning in warnings), warnings


def test_an_expansion_without_props_is_left_out_with_a_warning():
    exchanges = [{"execute": "query-cpu-definitions", "return": [{"name": "cortex-a57"}]},
                 {"execute": "query-cpu-model-expansion", "arguments": expansion_of("cortex-a57"),
                  "return": {"model": {"name": "cortex-a57", "props": [1, 2]}}}]
    found, warnings = read(exchanges)
    assert found == {}
    assert warnings == ["query-cpu-model-expansion of model 'cortex-a57': the reply has no props object; the model is "
                        "left out"]


def test_a_fault_propagates():
    class Broken(object):
        def execute(self, command, arguments=None):
            raise qmp.QMPTimeoutError("no answer")
    with pytest.raises(qmp.QMPTimeoutError):
        models.read_models(Broken(), [])


def test_models_survive_the_cache():
    found, _warnings = read(replay.load("nutanix-named-models-kvm"))
    host_props = props.HostProps.unsupported("none")
    host_props.cpu_models = found
    fp = {"format": "2", "accel": "kvm"}
    loaded, why = cache.loads(cache.dumps(host_props, fp), fp)
    assert why == "valid" and loaded.cpu_models == found and loaded == host_props
    without = props.HostProps.unsupported("none")
    assert cache.loads(cache.dumps(without, fp), fp)[0].cpu_models is None


def test_the_fingerprint_names_the_model_reader():
    assert cache.fingerprint("/nonexistent/qemu", "tcg")["reader_tables"].endswith(models.RECORDS)


@pytest.mark.real_qemu
def test_real_qemu_offers_the_aarch64_models_it_starts(matrix_qemu):
    """Under TCG every offered model starts (a paused start of -machine virt with it); 32-bit models are left out."""
    host_props = collect.probe_host(matrix_qemu, "tcg", 20)
    fact = host_props.to_fact("tcg", matrix_qemu, "probe")
    VALIDATOR.validate(fact)
    offered = models.offered(fact["cpu_models"])
    assert {"cortex-a57", "cortex-a72", "neoverse-n1", "a64fx"} <= set(offered)
    assert not {"host", "max", "cortex-a15", "cortex-m4", "pxa270"} & set(fact["cpu_models"])
    assert all(entry["offered"] for entry in fact["cpu_models"].values())   # TCG runs every AArch64 model
    assert models.needs_sve_lengths(fact["cpu_models"]["a64fx"]) is False   # a64fx sets its own lengths
    for name in offered:
        with probe.paused_cpu(matrix_qemu, "tcg", name, timeout=20) as client:
            assert client.execute("query-status")["status"] == "prelaunch", name


def nutanix_fact():
    found, _warnings = read(replay.load("nutanix-named-models-kvm"))
    fact = fact_of(found)
    fact.update(supported=True, properties={"sve": {"type": "bool", "supported_values": ["on", "off"]},
                                            "sve128": {"type": "bool", "supported_values": ["on", "off"]},
                                            "pmu": {"type": "bool", "supported_values": ["on", "off"]},
                                            "feat_AES": {"type": "number", "supported_values": ["0-2"]}})
    return fact


def plan(features, fact, model):
    view = delivery.LibvirtView(None, False, "hv1", names.QEMU_COMMANDLINE)
    return delivery.plan(features, fact, names.CUSTOM, "hv1", view, model)


def test_a_policy_naming_a_model_the_host_does_not_offer_names_host_model_and_offers():
    errors = plan([], nutanix_fact(), "cortex-a57").errors
    assert [error.rule for error in errors] == ["model-not-offered"]
    assert errors[0].message == (
        "hv1: CPU model cortex-a57 is not offered by this host's QEMU under kvm (QEMU: We cannot guarantee the CPU "
        "type 'cortex-a57' works with KVM on this host); it offers arm-v9.0-a-v1, neoverse-v2-v1.")
    assert errors[0].allowed == ["arm-v9.0-a-v1", "neoverse-v2-v1"]
    unlisted = plan([], nutanix_fact(), "grace-v1").errors[0].message
    assert "grace-v1 is not offered by this host's QEMU under kvm (QEMU does not list it)" in unlisted


def test_a_named_model_needs_its_sve_lengths():
    fact = nutanix_fact()
    errors = plan([], fact, "neoverse-v2-v1").errors
    assert [error.rule for error in errors] == ["model-needs-sve-lengths"]
    assert "neoverse-v2-v1 starts with SVE on and no vector length" in errors[0].message
    accepted = plan([{"name": "sve128", "value": "on"}, {"name": "feat_AES", "value": "1"}], fact, "neoverse-v2-v1")
    assert accepted.errors == [] and accepted.arg == "neoverse-v2-v1,sve128=on,feat_AES=1"
    assert plan([{"name": "sve", "policy": "disable"}], fact, "neoverse-v2-v1").errors == []


def test_a_boolean_the_model_lacks_is_refused():
    fact = fact_of({"cortex-a57": {"offered": True, "props": {"aarch64": "on", "pmu": "on"}}}, accel="tcg")
    fact.update(supported=True, properties={"sve": {"type": "bool", "supported_values": ["on", "off"]},
                                            "pmu": {"type": "bool", "supported_values": ["on", "off"]}})
    errors = plan([{"name": "sve", "policy": "disable"}], fact, "cortex-a57").errors
    assert [(error.rule, error.feature) for error in errors] == [("model-lacks-property", "sve")]
    assert errors[0].message == "hv1: CPU model cortex-a57 has no property sve (its properties: aarch64, pmu)."
    assert plan([{"name": "pmu", "policy": "disable"}], fact, "cortex-a57").arg == "cortex-a57,pmu=off"


def test_a_fact_without_models_leaves_the_model_to_the_host():
    fact = nutanix_fact()
    del fact["cpu_models"]
    assert plan([], fact, "anything-v1").errors == []


@needs_libvirt_schema
@pytest.mark.parametrize("delivery_name", [names.FEATURE_VALUE, names.QEMU_COMMANDLINE])
def test_a_named_model_renders_as_libvirt_writes_one_and_passes_its_schema(delivery_name):
    """<cpu mode='custom' match='exact'><model fallback='forbid'>: libvirt's form; libvirt on aarch64 checks the
    model against the models its QEMU lists (query-cpu-definitions), not against its CPU map."""
    fact = nutanix_fact()
    view = delivery.LibvirtView(None, False, "hv1", delivery_name)
    request = delivery.plan([{"name": "sve128", "value": "on"}], fact, names.CUSTOM, "hv1", view,
                            "neoverse-v2-v1")
    assert request.errors == []
    xml_text = domain_edit.edit_domain(minimal_domain("named"), request)
    cpu = domain_xml.cpu_xml(xml_text)
    assert '<cpu mode="custom" match="exact">' in cpu and '<model fallback="forbid">neoverse-v2-v1</model>' in cpu
    assert domain_xml.libvirt_text(delivery.cpu_element(request.mode, request.cpu_features, request.model)) == (
        "<cpu mode='custom' match='exact'>\n  <model fallback='forbid'>neoverse-v2-v1</model>\n%s</cpu>" % (
            "  <feature policy='require' name='sve128' value='on'/>\n" if request.cpu_features else ""))
    validator = libvirt_schema.domain_validator(SCHEMAS, allow_value=(delivery_name == names.FEATURE_VALUE))
    assert validator.errors(xml_text) == []
    if delivery_name == names.QEMU_COMMANDLINE:
        assert 'value="neoverse-v2-v1,sve128=on"' in cpu   # libvirt's own -cpu adds nothing here


@pytest.mark.parametrize("profile, method", [("neoverse-v2@sysreg10", confirm.EXPANSION),
                                             ("neoverse-v2@sysreg", confirm.START)])
def test_cpu_check_uses_the_full_expansion_where_it_judges_sysreg_values(tmp_path, profile, method):
    """The v10 posting: the full expansion of host tests SYSREG_ values on a scratch vCPU (the simulated v10 QEMU
    also takes type static); the v9 QEMU keeps the paused start. Both refuse what KVM refuses."""
    emulator = write_wrapper(str(tmp_path / "qemu-system-aarch64"), profile)
    for value, accepted in (("0x1", True), ("0xf", False)):
        req = confirm.parse_cpu_arg("host,pmu=on,SYSREG_CTR_EL0_DIC=%s" % value)
        result = confirm.check(emulator, "kvm", req, timeout=20)
        assert (result["method"], result["accepted"]) == (method, accepted), result
        if not accepted:
            assert "SYSREG_CTR_EL0_DIC=0xf: KVM refused the ID register value" in result["error"]
    with probe.spawned_qemu(emulator, "kvm", timeout=20) as client:
        assert confirm.validates_by_expansion(client) is (method == confirm.EXPANSION)


def test_a_request_with_other_valued_properties_keeps_the_paused_start():
    assert confirm.parse_cpu_arg("host,SYSREG_CTR_EL0_DIC=0x1").sysreg_only()
    assert not confirm.parse_cpu_arg("host,SYSREG_CTR_EL0_DIC=0x1,feat_AES=1").sysreg_only()
    assert not confirm.parse_cpu_arg("host,pmu=on").sysreg_only()
    assert not confirm.parse_cpu_arg("neoverse-v2-v1,SYSREG_CTR_EL0_DIC=0x1", "custom").sysreg_only()


@pytest.mark.real_qemu
def test_released_qemu_takes_no_static_expansion(matrix_qemu):
    """What validates_by_expansion tells by: released Arm QEMU refuses type static."""
    with probe.spawned_qemu(matrix_qemu, "tcg", timeout=20) as client:
        assert confirm.validates_by_expansion(client) is False


def _random_value(rng, depth=0):
    kinds = ["str", "int", "bool", "none", "float"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        return rng.choice(["cortex-a57", "max", "host", "bad,name", "", "neoverse-v2-v1", "x" * 300, "sve", "a\nb"])
    if kind == "int":
        return rng.choice([0, 1, -1, 2 ** 64])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "float":
        return 1.5
    if kind == "list":
        return [_random_value(rng, depth + 1) for _index in range(rng.randrange(4))]
    return dict((rng.choice(["name", "props", "model", "aarch64", "sve", "pmu", "typename"]),
                 _random_value(rng, depth + 1)) for _index in range(rng.randrange(4)))


GENERATED = 400


def test_generated_replies_never_abort_and_always_give_a_fact_the_schema_takes():
    """GENERATED random query-cpu-definitions and expansion replies: read where readable, warned about otherwise,
    refusals recorded; never an exception, and every result fits the fact schema."""
    import random
    rng = random.Random(20261207)

    class Generated(object):
        def execute(self, command, arguments=None):
            if command == models.COMMAND:
                listed = [{"name": rng.choice(["cortex-a57", "neoverse-v2-v1", "max", "bad,name", "a64fx"])}
                          for _index in range(rng.randrange(5))]
                return rng.choice([listed, listed, _random_value(rng)])
            if rng.random() < 0.2:
                raise qmp.QMPCommandError(command, "GenericError", "refused")
            props_ = _random_value(rng)
            if rng.random() < 0.5:
                props_ = {"aarch64": True, "pmu": rng.random() < 0.5, "sve": rng.random() < 0.5, "x y": True}
            return rng.choice([{"model": {"name": "m", "props": props_}}, {"model": props_}, props_])

    offered = refused = 0
    for _round in range(GENERATED):
        warnings = []
        found = models.read_models(Generated(), warnings)
        fact_of(found)
        offered += len(models.offered(found))
        refused += sum(1 for entry in found.values() if not entry["offered"])
    assert offered and refused   # both outcomes were generated


@needs_libvirt_schema
def test_the_role_renders_a_named_model_for_new_guests_and_refuses_one_not_offered():
    """guest_domains' build (the role's path): the default template writes the named model through cpu_element,
    libvirt's schema takes it, and the -cpu to confirm names the model; a model not offered writes nothing."""
    from ansible_collections.armvirt.cpu.plugins.plugin_utils import domains
    fact = nutanix_fact()
    guests = [{"name": "web1", "memory": 2048, "vcpus": 2}]
    outcome = domains.build(guests, [{"name": "sve128", "value": "on"}], fact, mode=names.CUSTOM, host="grace-07",
                            libvirt_check=False, accel="kvm", model="neoverse-v2-v1")
    assert outcome.errors == []
    (name, document), = outcome.documents
    assert "<cpu mode='custom' match='exact'>\n    <model fallback='forbid'>neoverse-v2-v1</model>" in document
    assert outcome.guests[name]["qemu_cpu_arg"] == "neoverse-v2-v1,sve128=on"
    refused = domains.build(guests, [], fact, mode=names.CUSTOM, host="grace-07", libvirt_check=False,
                            accel="kvm", model="grace-v1")
    assert refused.documents == [] and [error["rule"] for error in refused.errors] == ["model-not-offered"]
    assert "it offers arm-v9.0-a-v1, neoverse-v2-v1" in refused.errors[0]["message"]


def test_a_model_not_offered_is_said_first_beside_the_features_own_errors():
    errors = plan([{"name": "sve128", "value": "maybe"}], nutanix_fact(), "grace-v1").errors
    assert [error.rule for error in errors] == ["model-not-offered", "value-not-supported"]
    errors = plan([{"name": "sve128", "value": "maybe"}], nutanix_fact(), "neoverse-v2-v1").errors
    assert [error.rule for error in errors] == ["value-not-supported"]   # no length verdict on a refused length


@pytest.mark.real_qemu
def test_validation_says_a_model_lacks_a_property_exactly_when_qemu_does(matrix_qemu):
    """Differential, per QEMU of the matrix under TCG: for every offered model and every boolean property of the
    host (max), a request that sets it is refused as model-lacks-property exactly when QEMU's expansion of the model
    says the property is not found. Counts the cases so a run that judged nothing fails."""
    fact = collect.probe_host(matrix_qemu, "tcg", 20).to_fact("tcg", matrix_qemu, "probe")
    booleans = sorted(name for name, prop in fact["properties"].items() if prop["type"] == props.BOOL_TYPE)
    view = delivery.LibvirtView(None, False, "tcg-host", names.QEMU_COMMANDLINE)
    judged = lacking = 0
    with probe.spawned_qemu(matrix_qemu, "tcg", timeout=20) as client:
        for model in models.offered(fact["cpu_models"]):
            own = fact["cpu_models"][model]["props"]
            for name in booleans:
                value = own.get(name, fact["properties"][name]["default"])   # the model's own value: no value rule
                request = [{"name": name, "value": value}]
                rules = [error.rule for error in delivery.plan(request, fact, names.CUSTOM, "tcg-host", view,
                                                               model).errors]
                try:
                    dialects.expand(client, model, {name: value == props.ON})
                    qemu_lacks = False
                except qmp.QMPCommandError as exc:
                    assert "not found" in exc.desc, (model, name, exc.desc)
                    qemu_lacks = True
                assert ("model-lacks-property" in rules) == qemu_lacks, (model, name, rules)
                judged += 1
                lacking += qemu_lacks
    assert judged > 50 and 0 < lacking < judged
