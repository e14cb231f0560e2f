"""Guest XML decisions: merge, validation via validate.py, libvirt safety, rendering of both deliveries, speed."""

import json
import os
import pathlib

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import confirm, delivery, domain_edit, domain_xml
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import policy
from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps
from ansible_collections.armvirt.cpu.plugins.plugin_utils import domains, libvirt_schema, policy_files
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils.module_runner import run_command

FACTS = pathlib.Path(__file__).resolve().parents[3] / "fixtures" / "facts"
SCHEMAS = "/usr/share/libvirt/schemas"
V1 = json.loads((FACTS / "neoverse-v1.json").read_text())
N1 = json.loads((FACTS / "neoverse-n1.json").read_text())
FEATURES = [{"name": "feat_RAS", "value": "1.0"}, {"name": "hw_prop_API", "policy": "disable"},
            {"name": "hw_prop_WRPs", "value": "0x2"}]
ARG = "host,feat_RAS=1.0,hw_prop_API=off,hw_prop_WRPs=2"
GUESTS = [{"name": "web1", "memory": 2048, "vcpus": 2}, {"name": "db1", "memory": 4096, "vcpus": 4}]

pytestmark = pytest.mark.skipif(not os.path.isfile(os.path.join(SCHEMAS, "domain.rng")),
                                reason="libvirt's schemas (Debian libvirt0) are not installed")


@pytest.fixture(scope="module")
def libvirt():
    """The libvirt_cpu fact of the unpatched Debian libvirt0 installed here."""
    return caps.gather(run_command(), ask_daemon=False)


def test_feature_value_renders_values_and_passes_only_the_extended_schema():
    outcome = domains.build(GUESTS, FEATURES, V1, host="v1-01", libvirt_check=False)
    assert outcome.errors == []
    assert [name for name, _unused in outcome.documents] == ["web1", "db1"]
    xml = outcome.documents[0][1]
    assert "<feature policy='require' name='feat_RAS' value='1.0'/>" in xml
    assert "<feature policy='require' name='hw_prop_WRPs' value='2'/>" in xml   # host spelling, from validate
    assert "<domain type='kvm'>" in xml and "arch='aarch64' machine='virt'" in xml
    assert outcome.guests["web1"]["qemu_cpu_arg"] == ARG == validate.qemu_cpu_arg(FEATURES, "host-passthrough", V1)
    assert "overlay" in outcome.schema
    assert libvirt_schema.domain_validator(SCHEMAS, allow_value=False).errors(xml)
    assert any("libvirt_check is false" in note for note in outcome.notes)
    assert outcome.libvirt_check.startswith("skipped")


def test_qemu_commandline_carries_the_full_cpu_and_validates_unmodified(libvirt):
    guests = [dict(GUESTS[0], features=[{"name": "sve256"}, {"name": "sve512", "value": "off"}])]
    outcome = domains.build(guests, FEATURES, V1, mode="maximum", host="v1-01", delivery="qemu-commandline",
                            libvirt=libvirt)
    assert outcome.errors == []
    xml = outcome.documents[0][1]
    assert "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'" in xml
    assert "<qemu:arg value='-cpu'/>" in xml
    request = "max,feat_RAS=1.0,hw_prop_API=off,hw_prop_WRPs=2,sve256=on,sve512=off"
    # the request, then what libvirt adds on its own -cpu for this <cpu>: sve=on for the vector lengths
    assert "<qemu:arg value='%s,sve=on'/>" % request in xml
    assert outcome.guests["web1"]["qemu_cpu_arg"] == request + ",sve=on"
    assert "qemu-cpu-arg='%s,sve=on' request-cpu-arg='%s'" % (request, request) in xml
    cpu = xml.split("<cpu", 1)[1].split("</cpu>", 1)[0]
    assert "mode='maximum'" in cpu
    # only names libvirt's CPU map knows, valueless; value off becomes disable, never a valueless require (= on)
    assert "<feature policy='disable' name='sve512'/>" in cpu and "<feature policy='require' name='sve256'/>" in cpu
    assert "feat_RAS" not in cpu and "value=" not in cpu
    assert libvirt_schema.domain_validator(SCHEMAS, allow_value=False).errors(xml) == []
    assert outcome.schema.endswith("unmodified")
    assert outcome.libvirt_check == "performed (libvirt %s)" % libvirt["version"]


def test_the_example_of_the_brief():
    outcome = domains.build(GUESTS[:1], FEATURES, V1, delivery="qemu-commandline", libvirt_check=False)
    assert "<qemu:arg value='%s'/>" % ARG in outcome.documents[0][1]
    assert "<cpu mode='host-passthrough'/>" in outcome.documents[0][1]   # no CPU map known: nothing in <cpu>


PMU_TEMPLATE = """<domain type='{{ domain_type }}' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{{ name }}</name>
  <memory unit='MiB'>{{ memory }}</memory>
  <vcpu>{{ vcpus }}</vcpu>
  <os><type arch='aarch64' machine='virt'>hvm</type></os>
  <features><pmu state='off'/><kvm><hidden state='on'/></kvm></features>
  <cpu mode='{{ mode }}'>
{% for feature in cpu_features %}
    <feature policy='{{ feature.policy }}' name='{{ feature.name }}'/>
{% endfor %}
  </cpu>
  <devices><emulator>/usr/bin/qemu-system-aarch64</emulator></devices>
  <qemu:commandline>
    <qemu:arg value='-cpu'/>
    <qemu:arg value='{{ qemu_cpu_arg }}'/>
  </qemu:commandline>
</domain>
"""


def test_qemu_commandline_keeps_what_libvirt_puts_on_its_own_cpu(libvirt, tmp_path):
    """A template with <pmu state='off'/> and <kvm><hidden/>: the override carries pmu=off and kvm=off after the
    request, and a guest asking for pmu=on gets pmu=on (the request wins)."""
    template = tmp_path / "pmu.xml.j2"
    template.write_text(PMU_TEMPLATE)
    guests = [dict(GUESTS[0], features=[{"name": "sve256"}]), dict(GUESTS[1], features=[{"name": "pmu"}])]
    outcome = domains.build(guests, [], V1, mode="maximum", host="v1-01", delivery="qemu-commandline",
                            libvirt=libvirt, template=str(template))
    assert outcome.errors == [], outcome.message()
    emulator = "/usr/bin/qemu-system-aarch64"   # the template's, the configured one by default
    assert outcome.guests == {"web1": {"qemu_cpu_arg": "max,sve256=on,sve=on,kvm=off,pmu=off", "emulator": emulator},
                              "db1": {"qemu_cpu_arg": "max,pmu=on,kvm=off", "emulator": emulator}}
    assert "<qemu:arg value='max,pmu=on,kvm=off'/>" in dict(outcome.documents)["db1"]


def test_domain_type_follows_the_accelerator():
    tcg = dict(V1, accel="tcg")
    for props, accel, expected in ((V1, None, "kvm"), (tcg, None, "qemu"), (tcg, "kvm", "kvm"), (V1, "tcg", "qemu"),
                                   (dict(V1, accel=None), None, "kvm")):
        outcome = domains.build(GUESTS[:1], FEATURES, props, libvirt_check=False, accel=accel)
        assert outcome.errors == []
        assert outcome.documents[0][1].startswith("<domain type='%s'>" % expected), (props["accel"], accel)
    assert [domains.domain_type(accel) for accel in ("kvm", "tcg", None, "hvf")] == ["kvm", "qemu", "kvm", "kvm"]


def test_unpatched_libvirt_is_refused_with_the_reason(libvirt):
    # sve512=off with sve256 on: valid for QEMU's SVE rules (a length above the longest enabled one may be off)
    outcome = domains.build(GUESTS, FEATURES + [{"name": "sve256"}, {"name": "sve512", "value": "off"}], V1,
                            host="v1-01", libvirt=libvirt)
    assert outcome.documents == []
    rules = {(record["guest"], record["feature"], record["rule"]) for record in outcome.errors}
    assert ("web1", "sve512", "libvirt-drops-value") in rules
    assert ("db1", "feat_RAS", "libvirt-unknown-feature") in rules
    assert ("web1", "hw_prop_API", "libvirt-unknown-feature") in rules
    assert ("web1", "sve512", "libvirt-unknown-feature") not in rules
    assert {record["rule"] for record in outcome.errors} == {"libvirt-drops-value", "libvirt-unknown-feature"}
    message = outcome.message()
    assert "drop value and keep sve512 as a boolean" in message and "sve128=on, the opposite" in message
    assert 'unknown CPU feature: feat_RAS' in message and "[guests: web1, db1]" in message


def test_libvirt_check_needs_the_fact():
    outcome = domains.build(GUESTS, FEATURES, V1, host="v1-01", libvirt=None)
    assert [record["rule"] for record in outcome.errors] == ["libvirt-facts-missing"]
    assert "armvirt.cpu.libvirt_facts" in outcome.errors[0]["message"]


def test_the_failure_counts_each_guest_once_and_no_host_problem_as_a_guest():
    nameless = [{"name": "a b", "memory": 1024, "vcpus": 1}, "web2", {"memory": 1024, "vcpus": 1}]
    outcome = domains.build(nameless, FEATURES, V1, host="v1-01", libvirt_check=False)
    assert [record["guest"] for record in outcome.errors] == [None, None, None]
    assert outcome.failure("v1-01").startswith(
        "v1-01: nothing was written; 3 problems in the guest CPU request of 3 guests:\n- ")
    # the host's missing libvirt facts and one guest's two problems: two guests' worth would be a miscount
    bad = [{"name": "web1", "memory": 0, "vcpus": 0}, {"name": "db1", "memory": 1024, "vcpus": 1}]
    outcome = domains.build(bad, FEATURES, V1, host="v1-01", libvirt=None)
    assert sorted(str(record["guest"]) for record in outcome.errors) == ["None", "web1", "web1"]
    assert outcome.failure("v1-01").startswith(
        "v1-01: nothing was written; 3 problems in the guest CPU request of 1 guest:\n- ")
    outcome = domains.build(GUESTS, FEATURES, V1, host="v1-01", libvirt=None)
    assert outcome.failure("v1-01").startswith("v1-01: nothing was written; 1 problem in the guest CPU request:\n- ")


def test_every_error_of_every_guest_at_once():
    guests = [{"name": "a", "memory": 1024, "vcpus": 1, "features": [{"name": "feat_RAS", "value": "1.1"}]},
              {"name": "b", "memory": 0, "vcpus": 1},
              {"name": "../etc/passwd", "memory": 1024, "vcpus": 1},
              {"name": "a", "memory": 1024, "vcpus": 1},
              {"name": "c", "memory": "1024", "vcpus": 1,
               "features": [{"name": "hw_prop_WRPs", "value": "9"}, {"name": "sve", "value": False}]}]
    outcome = domains.build(guests, FEATURES, N1, host="n1-01", libvirt_check=False)
    assert outcome.documents == [] and outcome.guests == {}
    got = sorted((str(record["guest"]), record["rule"]) for record in outcome.errors)
    assert got == sorted([("a", "value-not-supported"), ("b", "bad-guest"), ("None", "bad-guest-name"),
                          ("a", "duplicate-guest"), ("c", "value-not-supported"), ("c", "value-not-string")])
    for record in outcome.errors:
        assert set(record) == {"host", "guest", "feature", "value", "allowed", "rule", "message"}
    assert ("n1-01", "feat_RAS", "1.1", ["0.0", "1.0"]) in [
        (r["host"], r["feature"], r["value"], r["allowed"]) for r in outcome.errors]


def test_guest_features_override_common_ones_by_name_in_place():
    merged = domains.merge_features(FEATURES, [{"name": "hw_prop_WRPs", "value": "3"}, {"name": "pmu"}])
    assert merged == [FEATURES[0], FEATURES[1], {"name": "hw_prop_WRPs", "value": "3"}, {"name": "pmu"}]
    assert domains.merge_features(FEATURES, None) is FEATURES
    twice = domains.merge_features([], [{"name": "pmu"}, {"name": "pmu"}])
    assert len(twice) == 2   # kept, so validate reports the duplicate


def test_a_guest_feature_replaces_the_common_ones_of_its_fields_in_any_names():
    """A class policy in canonical fields, a guest asking for RAS by the seed's combined name: the guest's feat_RAS
    takes the place of both RAS fields (a request naming both would be one property twice); the rest stays."""
    ras, frac = "SYSREG_ID_AA64PFR0_EL1_RAS", "SYSREG_ID_AA64PFR1_EL1_RAS_frac"
    common = [{"name": "SYSREG_ID_AA64DFR0_EL1_WRPs", "value": "0x3"}, {"name": ras, "value": "0x1"},
              {"name": "sve128"}, {"name": frac, "value": "0x1"}]
    guest = [{"name": "feat_RAS", "value": "1.0"}, {"name": "hw_prop_WRPs", "value": "2"}]
    assert domains.merge_features(common, guest) == [guest[1], guest[0], {"name": "sve128"}]
    # a common feature the guest does not touch keeps its place; an item without a name is kept for validation
    assert domains.merge_features(common[2:3] + [{"value": "1"}], guest) == [{"name": "sve128"}, {"value": "1"}] + guest


def test_a_document_failing_the_schema_is_an_error(tmp_path):
    template = tmp_path / "bad.xml.j2"
    template.write_text("<domain type='kvm'><name>{{ name }}</name><bogus/></domain>\n")
    outcome = domains.build(GUESTS, FEATURES, V1, template=str(template), libvirt_check=False)
    assert outcome.documents == []
    assert {record["rule"] for record in outcome.errors} == {"schema"}
    assert "web1" in outcome.message() and "db1" in outcome.message()


def test_each_guest_gets_the_configured_emulator_or_its_own_escaped_and_confirmations_pair_them():
    odd = "/opt/q&a <x>/bin/qemu-system-aarch64"   # markup in a path is data: the XML writer escapes it
    guests = GUESTS + [{"name": "legacy1", "memory": 1024, "vcpus": 1, "emulator": odd}]
    outcome = domains.build(guests, FEATURES, V1, host="v1-01", libvirt_check=False,
                            emulator="/usr/libexec/qemu-kvm")
    assert outcome.errors == []
    written = dict(outcome.documents)
    assert "<emulator>/usr/libexec/qemu-kvm</emulator>" in written["web1"]
    assert "<emulator>/opt/q&amp;a &lt;x&gt;/bin/qemu-system-aarch64</emulator>" in written["legacy1"]
    assert [domains.rendered_emulator(written[name]) for name in ("web1", "db1", "legacy1")] == \
        ["/usr/libexec/qemu-kvm", "/usr/libexec/qemu-kvm", odd]
    assert confirm.confirmations(outcome.guests) == [
        {"emulator": odd, "cpu_arg": ARG, "guests": ["legacy1"]},
        {"emulator": "/usr/libexec/qemu-kvm", "cpu_arg": ARG, "guests": ["db1", "web1"]}]
    default = domains.build(GUESTS[:1], FEATURES, V1, libvirt_check=False)
    assert "<emulator>/usr/bin/qemu-system-aarch64</emulator>" in default.documents[0][1]


def test_refusal_message_lists_every_refused_request_with_its_guests():
    """What the guest_domains action fails with when the host's QEMU refused (the role's fail task said the same)."""
    refused = [{"msg": "n1-a: QEMU /q (accel=kvm) refused the guest CPU -cpu host,hw_prop_WRPs=2 (mode "
                       "host-passthrough) at a paused start: qemu-system-aarch64: KVM refused\nsecond line",
                "guests": ["db1", "web1"]},
               {"guests": ["legacy1"]}]
    assert confirm.refusals_message("n1-a", refused) == (
        "n1-a: nothing was written; this host's QEMU did not confirm 2 guest CPU request(s):\n"
        "- %s [guests: db1, web1]\n- the check failed [guests: legacy1]" % refused[0]["msg"])


@pytest.mark.parametrize("emulator, problem", [
    ("bin/qemu-system-aarch64", "is not an absolute path"),
    ("/usr/bin/qemu\n-system-aarch64", "contains a control character"),
    ("/usr/bin/qemu\x00", "contains a control character"),
    (" /usr/bin/qemu-system-aarch64", "has white space at its start or end"),
    (42, "is not a path"),
])
def test_an_emulator_that_is_no_plain_absolute_path_is_refused_naming_host_and_guest(emulator, problem):
    guests = GUESTS + [{"name": "bad1", "memory": 1024, "vcpus": 1, "emulator": emulator}]
    outcome = domains.build(guests, FEATURES, V1, host="v1-01", libvirt_check=False)
    assert outcome.documents == [] and outcome.guests == {}
    assert [(record["guest"], record["rule"]) for record in outcome.errors] == [("bad1", "bad-emulator")]
    assert outcome.errors[0]["message"].startswith("v1-01: the emulator %r %s" % (emulator, problem))
    assert outcome.message().endswith("[guest: bad1]")


def test_a_template_that_writes_another_emulator_is_refused(tmp_path):
    template = tmp_path / "own.xml.j2"
    role_template = pathlib.Path(__file__).resolve().parents[4] / domains.DEFAULT_TEMPLATE
    template.write_text(role_template.read_text().replace("{{ emulator }}", "/usr/bin/qemu-system-aarch64"))
    outcome = domains.build(GUESTS, FEATURES, V1, host="v1-01", template=str(template), libvirt_check=False,
                            emulator="/usr/libexec/qemu-kvm")
    assert outcome.documents == []
    assert {(record["guest"], record["rule"]) for record in outcome.errors} == {
        ("web1", "template"), ("db1", "template")}
    assert "writes <emulator>/usr/bin/qemu-system-aarch64</emulator>, not the emulator /usr/libexec/qemu-kvm that " \
        "confirms the guest's CPU" in outcome.errors[0]["message"]


def test_template_problems_are_setup_errors(tmp_path):
    broken = tmp_path / "broken.j2"
    broken.write_text("{% if %}")
    with pytest.raises(domains.SetupError, match="syntax error at line 1"):
        domains.build(GUESTS, FEATURES, V1, template=str(broken), libvirt_check=False)
    with pytest.raises(domains.SetupError, match="cannot read the domain template"):
        domains.build(GUESTS, FEATURES, V1, template=str(tmp_path / "missing.j2"), libvirt_check=False)
    with pytest.raises(domains.SetupError, match="domain.rng is missing"):
        domains.build(GUESTS, FEATURES, V1, schema_dir=str(tmp_path), libvirt_check=False)


def test_name_masking_only_where_provably_harmless():
    xml = "<domain type='kvm'>\n  <name>web1</name>\n  <memory>1</memory></domain>"
    assert domains.name_masked(xml, "web1") == xml.replace("web1", "\x00")
    assert domains.name_masked(xml.replace("<memory>1", "<memory>web1"), "web1") is None  # name used elsewhere
    assert domains.name_masked("<domain><uuid>web1</uuid><name>x</name></domain>", "web1") is None


def test_policy_file_messages_name_the_file_the_place_and_what_is_allowed(tmp_path):
    path = tmp_path / "policy.yml"
    path.write_text("mode: custom\nfeatures:\n  - {name: feat_RAS, polcy: disable}\n  - {name: sve, value: off}\n"
                    "extra: 1\n")
    with pytest.raises(policy.PolicyError) as caught:
        policy_files.load(str(path), modes=("host-passthrough", "maximum"))
    assert caught.value.messages == [
        "%s: at (document root): unknown key(s) extra; a policy takes description, mode, model, delivery, features"
        % path,
        "%s: at mode: 'custom' is not one of host-passthrough, maximum" % path,
        "%s: feat_RAS has unknown key(s) polcy; a feature takes only name, policy and value." % path,
        "%s: sve has value False, which is not a string (YAML reads unquoted on/off/yes/no/true/false as a boolean); "
        "quote it as written, e.g. value: \"off\"." % path,
    ]
    path.write_text("features: [{name: feat_RAS, value: '1.0'}]\ndelivery: qemu-commandline\n")
    assert policy_files.load(str(path)) == (None, None, "qemu-commandline", [{"name": "feat_RAS", "value": "1.0"}], None)
    with pytest.raises(policy.PolicyError, match="cannot read the policy file"):
        policy_files.load(str(tmp_path / "missing.yml"))


def test_the_default_template_comes_through_the_collection_and_writes_cpu_with_the_one_writer():
    template = domains.load_template()
    plan = delivery.plan([{"name": "sve128", "value": "on"}, {"name": "pmu", "policy": "disable"}], V1,
                         "maximum", "v1-01", delivery.LibvirtView(None, False, "v1-01", names.FEATURE_VALUE))
    document = template.render(name="g", memory=1, vcpus=1, mode="maximum", cpu_features=plan.cpu_features,
                               qemu_cpu_arg=plan.arg, request_cpu_arg=plan.arg, delivery=names.FEATURE_VALUE,
                               qemu_commandline=False, host="v1-01", guest={}, mark_ns=domain_xml.MARK_NS,
                               domain_type="kvm", emulator="/usr/libexec/qemu-kvm")
    assert "<emulator>/usr/libexec/qemu-kvm</emulator>" in document
    assert ("  <cpu mode='maximum'>\n    <feature policy='require' name='sve128' value='on'/>\n"
            "    <feature policy='disable' name='pmu'/>\n  </cpu>\n") in document
    cpu = domain_xml.parse(domain_edit.edit_domain("<domain><name>g</name></domain>", plan)).find("cpu")
    assert domain_xml.libvirt_text(cpu, level=1) == domains.cpu_element_filter(plan.cpu_features, "maximum")
    assert domains.cpu_element_filter([], "host-passthrough") == "  <cpu mode='host-passthrough'/>"


def test_ten_thousand_guests_validate_render_and_check():
    """Correctness at a fleet's size; the speed is row ``guests`` of scripts/bench (its smoke size runs in the tests)."""
    guests = [{"name": "g%05d" % index, "memory": 1024, "vcpus": 2} for index in range(10000)]
    for index in range(0, 10000, 10):
        guests[index]["features"] = [{"name": "sve128", "value": "on"}]
    outcome = domains.build(guests, FEATURES, V1, libvirt_check=False)
    assert outcome.errors == [] and len(outcome.documents) == 10000


def test_ten_thousand_qemu_commandline_guests_merge_once_per_document(libvirt, monkeypatch):
    """The override is worked out once per document apart from the name, then written into each guest's rendering
    (sve256 is in libvirt's CPU map, so <cpu> keeps it and libvirt would add sve=on)."""
    guests = [{"name": "g%05d" % index, "memory": 1024, "vcpus": 2} for index in range(10000)]
    features = [{"name": "sve256"}, {"name": "feat_RAS", "value": "1.0"}]
    options = dict(mode="maximum", delivery="qemu-commandline", libvirt=libvirt, libvirt_check=False)
    merges = []
    merge = domains.libvirt_flags.commandline_override
    monkeypatch.setattr(domains.libvirt_flags, "commandline_override",
                        lambda *args, **kwargs: merges.append(args) or merge(*args, **kwargs))
    outcome = domains.build(guests, features, V1, **options)
    assert len(merges) == 1   # one document apart from the guests' names
    assert outcome.errors == [] and len(outcome.documents) == 10000
    assert {info["qemu_cpu_arg"] for info in outcome.guests.values()} == {"max,sve256=on,feat_RAS=1.0,sve=on"}
    assert "<qemu:arg value='max,sve256=on,feat_RAS=1.0,sve=on'/>" in outcome.documents[-1][1]


def test_the_cpu_element_filter_refuses_features_that_are_not_a_plans_with_a_clear_error():
    import jinja2
    with pytest.raises(jinja2.TemplateRuntimeError, match="cpu_element takes a plan's cpu_features"):
        domains.cpu_element_filter([{"name": "sve"}], "maximum")
