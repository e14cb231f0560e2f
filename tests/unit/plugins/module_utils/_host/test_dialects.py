"""dialects.read_host_props against replayed QMP replies (recorded from QEMU 7.2, or hand-written for the
unreleased dialects), and once against the real QEMU. Every fact produced is checked against the fact schema."""

import copy
import json
import os
import pathlib
import re

import jsonschema
import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._host import dialects, props, qmp
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils import replay

ROOT = pathlib.Path(__file__).resolve().parents[5]
TRANSCRIPTS = ROOT / "tests" / "fixtures" / "qemu-7.2-tcg-transcripts"
with open(ROOT / "docs" / "schemas" / "arm_cpu_props.schema.json") as _stream:
    SCHEMA = json.load(_stream)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

QEMU_72 = "qemu-7.2.22-tcg"
QEMU_72_HOST = "qemu-7.2.22-tcg-host-model"
RFC = "rfc-arm-cpu-props-info"
GUESS = "guess-cpu-props-info"
SYSREG = "kvm-sysreg-host"
NUTANIX_V3 = "nutanix-v3-cpu-props-info"
REDHAT_V10 = "redhat-v10-sysreg-host"
EXPANSION = "query-cpu-model-expansion"


def read(exchanges, accel="tcg"):
    """read_host_props over a replay; every reply must have been asked for and the fact must fit the schema."""
    client = replay.ReplayClient(exchanges)
    host = dialects.read_host_props(client, accel)
    client.assert_all_used()
    fact = host.to_fact(accel, "/usr/bin/qemu-system-aarch64", "probe")
    VALIDATOR.validate(fact)
    assert props.HostProps.from_fact(fact) == host
    return host


def minimal(*commands, replies=()):
    """A QEMU offering ``commands``, answering with ``replies`` (exchanges) after version and command list."""
    return [
        {"execute": "query-version", "return": {"qemu": {"major": 9, "minor": 1, "micro": 0}, "package": ""}},
        {"execute": "query-commands", "return": [{"name": name} for name in ("query-version",) + commands]},
    ] + list(replies)


def with_reply(exchanges, command, reply):
    """A copy of ``exchanges`` where ``command`` (its first exchange) answers ``reply`` instead."""
    exchanges = copy.deepcopy(exchanges)
    exchange = next(e for e in exchanges if e["execute"] == command)
    exchange.pop("error", None)
    exchange["return"] = reply
    return exchanges


def props_info(elements, command="query-arm-cpu-props-info"):
    return minimal(command, replies=[{"execute": command, "return": elements}])


def values(host):
    return {name: list(prop.supported_values) for name, prop in host.properties.items()}


# --- query-version and the 7.2 recordings ------------------------------------------------------------------------

def test_query_version_parsed():
    host = read(replay.load(QEMU_72))
    assert (host.qemu_version, host.qemu_package) == ("7.2.22", "Debian 1:7.2+dfsg-7+deb12u18+b3")


def test_query_version_without_package():
    exchanges = with_reply(replay.load(RFC), "query-version", {"qemu": {"major": 10, "minor": 0, "micro": 2}})
    host = read(exchanges)
    assert (host.qemu_version, host.qemu_package) == ("10.0.2", None)


def test_recorded_fixture_matches_reference_transcripts():
    """The recorded fixture agrees with the independently captured transcripts where they overlap."""
    recorded = {(e["execute"], json.dumps(e.get("arguments"), sort_keys=True)): e
                for name in (QEMU_72, QEMU_72_HOST) for e in replay.load(name)}
    for transcript in ("05_query-version", "07_query-commands", "10_query-cpu-model-expansion_full_max",
                       "12_query-cpu-model-expansion_full_host"):
        (expected,) = replay.from_transcript(TRANSCRIPTS / (transcript + ".json"))
        assert recorded[(expected["execute"], json.dumps(expected.get("arguments"), sort_keys=True))] == expected


def test_qemu_72_tcg_expansion_of_max():
    exchanges = replay.load(QEMU_72)
    client = replay.ReplayClient(exchanges)
    host = dialects.read_host_props(client, "tcg")
    client.assert_all_used()
    assert (host.supported, host.dialect, host.cpu_model, host.reason) == (True, EXPANSION, "max", None)
    assert len(host.properties) == 21
    # one expansion of the defaults, then one per boolean, and sve128=off once more with sve=off: N+2
    assert [call[0] for call in client.calls] == ["query-version", "query-commands"] + [EXPANSION] * 23
    got = values(host)
    assert got["aarch64"] == ["on"]
    assert got["sve128"] == ["on", "off"]
    for name in ("sve", "sve256", "sve384", "sve2048", "pauth", "pauth-impdef", "pmu"):
        assert got[name] == ["on", "off"], name
    assert host.properties["pauth-impdef"].default == "off"
    assert host.properties["sve"].default == "on"
    assert all(prop.type == props.BOOL_TYPE for prop in host.properties.values())


def test_qemu_72_host_model_without_kvm_is_unsupported():
    host = read(replay.load(QEMU_72_HOST), accel="kvm")
    assert (host.supported, host.dialect, host.properties) == (False, None, {})
    assert "query-cpu-model-expansion" in host.reason and "The CPU type 'host' requires KVM" in host.reason
    assert host.qemu_version == "7.2.22"


# --- dialect choice -------------------------------------------------------------------------------------------------

def test_dialect_1_rfc_form():
    host = read(replay.load(RFC))
    assert (host.supported, host.dialect, host.cpu_model) == (True, "query-arm-cpu-props-info", None)
    assert values(host) == {
        "hw_prop_WRPs": ["0-3"], "hw_prop_BRPs": ["0-5"], "hw_prop_API": ["off", "0-1"],
        "feat_RAS": ["0.0", "1.0", "1.1", "1.1_base", "2.0"], "feat_CSV2": ["0.0", "1.0", "1.1", "1.2", "2.0", "3.0"],
        "sve": ["on", "off"], "sve128": ["on"]}
    assert host.properties["hw_prop_WRPs"].type == "number" and host.properties["feat_RAS"].type == "string"
    assert host.properties["hw_prop_WRPs"].match("3") == "3"


def test_both_props_info_commands_use_dialect_1():
    exchanges = replay.load(RFC)
    exchanges[1]["return"].insert(0, {"name": "query-cpu-props-info"})
    assert read(exchanges).dialect == "query-arm-cpu-props-info"  # a dialect-2 call would find no reply


def test_dialect_2_min_max_normalised():
    host = read(replay.load(GUESS))
    assert (host.dialect, host.cpu_model, host.qemu_package) == ("query-cpu-props-info", None, "")
    assert values(host) == {"hw_prop_WRPs": ["0-3"], "hw_prop_CTX_CMPs": ["1"], "hw_prop_API": ["off", "0-1"],
                            "feat_NV": ["0.0", "1.0", "2.0", "2.0_only", "2.1"], "pmu": ["on", "off"]}
    assert "min" not in host.properties["hw_prop_WRPs"].extra


def test_dialect_2_asking_for_a_model():
    """The successor may require the CPU model and may say which model it answered for."""
    command = "query-cpu-props-info"
    exchanges = minimal(command, replies=[
        {"execute": command, "error": {"class": "GenericError", "desc": "Parameter 'model' is missing"}},
        {"execute": command, "arguments": {"model": {"name": "host"}},
         "return": {"model": {"name": "host"}, "props": [{"name": "hw_prop_WRPs", "type": "number", "max": 5,
                                                         "min": 0}]}}])
    host = read(exchanges, accel="kvm")
    assert (host.dialect, host.cpu_model, values(host)) == (command, "host", {"hw_prop_WRPs": ["0-5"]})


def test_dialect_2_other_error_falls_through_to_expansion():
    exchanges = minimal("query-cpu-props-info", EXPANSION, replies=[
        {"execute": "query-cpu-props-info", "error": {"class": "GenericError", "desc": "needs KVM"}},
        {"execute": EXPANSION, "arguments": {"type": "full", "model": {"name": "max"}},
         "return": {"model": {"name": "max", "props": {"SYSREG_CTR_EL0_IminLine": 4}}}}])
    host = read(exchanges)
    assert (host.dialect, values(host)) == (names.SYSREG, {"SYSREG_CTR_EL0_IminLine": ["0x0-0x4"]})


def test_unknown_types_and_members_kept():
    host = read(props_info([
        {"name": "feat_X", "type": "enum", "supported-values": ["a", "b"], "x-since": "9.1", "doc": {"k": [1]}},
        {"name": "hw_prop_Y", "type": "number", "supported-values": [], "default": 3},
        {"name": "flag", "type": "bool", "supported-values": ["on"], "default": True}]))
    x = host.properties["feat_X"]
    assert (x.type, x.supported_values, x.extra) == ("enum", ("a", "b"), {"x-since": "9.1", "doc": {"k": [1]}})
    assert host.properties["hw_prop_Y"].default == "3" and host.properties["flag"].default == "on"
    assert x.to_fact()["x-since"] == "9.1"


def test_sysreg_u64_props_in_a_kvm_expansion():
    """The fourth dialect: SYSREG_ fields of an expansion of host, each by its kernel rule around the host value."""
    host = read(replay.load(SYSREG), accel="kvm")
    assert (host.dialect, host.cpu_model, host.warnings) == (names.SYSREG, "host", [])
    aes = host.properties["SYSREG_ID_AA64ISAR0_EL1_AES"]   # lower-safe, host 2: 0 to 2
    assert (aes.type, aes.supported_values, aes.default) == ("number", ("0x0-0x2",), "0x2")
    assert aes.extra == {"field": "ID_AA64ISAR0_EL1.AES", "rule": "lower-safe", "signed": False, "host_value": "0x2"}
    got = values(host)
    assert got["SYSREG_ID_AA64PFR0_EL1_SVE"] == ["0x1"]   # KVM keeps it at what the sve flag gives
    assert got["SYSREG_CTR_EL0_DminLine"] == ["0x0-0x4"]
    assert got["aarch64"] == ["on"] and got["sve128"] == ["on", "off"]
    # sve128=off is refused alone ("cannot disable sve128") and accepted only together with sve=off
    assert host.properties["sve128"].extra == {
        props.CONDITIONAL: {"off": {"with": {"sve": "off"}, "rule": "sve-no-length"}}}
    assert all(props.CONDITIONAL not in prop.extra for name, prop in host.properties.items() if name != "sve128")
    assert got["kvm-no-adjvtime"] == ["on", "off"] and host.properties["kvm-no-adjvtime"].default == "off"


def test_nutanix_v3_range_lists_and_json_booleans():
    """query-cpu-props-info as Nutanix's RFC v3 posts it (the fixture cites the posting): numbers as inclusive
    {min, max} ranges, booleans as JSON true/false. It was dropped whole for the boolean fallback before."""
    host = read(replay.load(NUTANIX_V3), accel="kvm")
    assert (host.supported, host.dialect, host.warnings) == (True, "query-cpu-props-info", [])
    got = values(host)
    assert got["SYSREG_ID_AA64ISAR0_EL1_AES"] == ["0x0-0x2"]
    assert got["SYSREG_ID_AA64DFR0_EL1_PMUVer"] == ["0x0-0x1", "0x4-0x8"]
    assert got["SYSREG_ID_AA64ISAR2_EL1_MOPS"] == got["SYSREG_ID_AA64MMFR3_EL1_S1PIE"] == ["0x0-0x1"]
    assert (got["pmu"], got["sve"], got["aarch64"]) == (["on", "off"], ["on", "off"], ["on"])
    aes = host.properties["SYSREG_ID_AA64ISAR0_EL1_AES"]
    assert (aes.extra["field"], aes.extra["rule"]) == ("ID_AA64ISAR0_EL1.AES", "lower-safe")
    # KVM sets GIC itself and MIDR is the host's identity: each only at the host's value, QEMU's list kept
    gic = host.properties["SYSREG_ID_AA64PFR0_EL1_GIC"]
    assert (gic.supported_values, gic.extra["rule"], gic.extra["offered"]) == (("0x1",), "kvm-sets", ["0x0-0x1"])
    part = host.properties["SYSREG_MIDR_EL1_PartNum"]
    assert (part.supported_values, part.extra["rule"], part.extra["host_value"]) == (("0xd4f",), "identity", "0xd4f")
    assert got["SYSREG_MIDR_EL1_Implementer"] == ["0x41"]


def test_v3_identity_field_without_a_default_keeps_qemus_values_with_a_warning():
    host = read(props_info([{"name": "SYSREG_MIDR_EL1_PartNum", "type": "number",
                             "supported-values": [{"min": 0, "max": 4095}]}], "query-cpu-props-info"))
    prop = host.properties["SYSREG_MIDR_EL1_PartNum"]
    assert (prop.supported_values, prop.extra["rule"]) == (("0x0-0xfff",), "identity")
    assert any("no integer default" in warning for warning in host.warnings), host.warnings


@pytest.mark.parametrize("bad", [{"min": 2, "max": 1}, {"min": -1, "max": 1}, {"min": 0}, {"max": "1", "min": 0}])
def test_an_unreadable_range_falls_back(bad):
    expect_fallback(props_info([{"name": "SYSREG_ID_AA64ISAR0_EL1_AES", "type": "number",
                                 "supported-values": [bad]}], "query-cpu-props-info"), "query-cpu-props-info")


def test_redhat_v10_identification_and_newly_writable_fields():
    """Red Hat's v10 host model (the fixture cites the posting): MIDR_EL1's fields are the host's identity, offered
    only at its value; the fields KVM lets a VMM lower in 2026 are lowerable; GIC, set by KVM, is not."""
    host = read(replay.load(REDHAT_V10), accel="kvm")
    assert (host.dialect, host.warnings) == (names.SYSREG, [])
    got = values(host)
    for name, value in (("Implementer", "0x41"), ("Variant", "0x0"), ("Architecture", "0xf"), ("PartNum", "0xd4f"),
                        ("Revision", "0x1")):
        prop = host.properties["SYSREG_MIDR_EL1_" + name]
        assert (prop.supported_values, prop.extra["rule"], prop.extra["field"]) == (
            (value,), "identity", "MIDR_EL1." + name)
    for name in ("ID_AA64ISAR2_EL1_MOPS", "ID_AA64ISAR2_EL1_CLRBHB", "ID_AA64MMFR3_EL1_S1PIE", "ID_AA64MMFR3_EL1_TCRX"):
        assert (got["SYSREG_" + name], host.properties["SYSREG_" + name].extra["rule"]) == (["0x0-0x1"], "lower-safe")
    assert got["SYSREG_ID_AA64PFR1_EL1_CSV2_frac"] == ["0x0"]
    assert (got["SYSREG_ID_AA64PFR0_EL1_GIC"], host.properties["SYSREG_ID_AA64PFR0_EL1_GIC"].extra["rule"]) == (
        ["0x1"], "kvm-sets")


def test_sysreg_field_outside_the_table_is_its_host_value():
    expand = {"execute": EXPANSION, "arguments": {"type": "full", "model": {"name": "host"}},
              "return": {"model": {"name": "host", "props": {"SYSREG_ID_AA64MMFR0_EL1_ASIDBits": 2,
                                                             "SYSREG_ID_AA64ZZZ9_EL1_NEW": 3}}}}
    host = read(minimal(EXPANSION, replies=[expand]), accel="kvm")
    assert host.dialect == names.SYSREG
    asid = host.properties["SYSREG_ID_AA64MMFR0_EL1_ASIDBits"]   # KVM does not let a VMM write ASIDBits
    assert (asid.supported_values, asid.extra["rule"]) == (("0x2",), "host-value")
    assert values(host)["SYSREG_ID_AA64ZZZ9_EL1_NEW"] == ["0x3"]


def test_flip_that_qemu_ignores_is_not_allowed():
    """QEMU answering a flip without taking the value means the value is not available."""
    expand = {"execute": EXPANSION, "arguments": {"type": "full", "model": {"name": "max"}},
              "return": {"model": {"name": "max", "props": {"sticky": True}}}}
    flip = copy.deepcopy(expand)
    flip["arguments"]["model"]["props"] = {"sticky": False}
    assert values(read(minimal(EXPANSION, replies=[expand, flip]))) == {"sticky": ["on"]}


# --- unsupported hosts ----------------------------------------------------------------------------------------------

def test_no_dialect_command():
    host = read(minimal("query-cpu-definitions"))
    assert (host.supported, host.qemu_version) == (False, "9.1.0")
    assert all(command in host.reason for command in set(dialects.COMMANDS.values()))


@pytest.mark.parametrize("reply", [[], {"props": []}])
def test_no_properties_is_unsupported(reply):
    host = read(props_info(reply, "query-cpu-props-info"))
    assert not host.supported and "query-cpu-props-info reported no properties" in host.reason


def test_every_dialect_refusing_gives_every_reason():
    exchanges = minimal("query-arm-cpu-props-info", EXPANSION, replies=[
        {"execute": "query-arm-cpu-props-info", "error": {"class": "GenericError", "desc": "KVM only"}},
        {"execute": EXPANSION, "arguments": {"type": "full", "model": {"name": "host"}},
         "error": {"class": "GenericError", "desc": "The CPU type 'host' requires KVM"}}])
    host = read(exchanges, accel="kvm")
    assert not host.supported and "KVM only" in host.reason and "requires KVM" in host.reason


# --- faults and malformed replies ----------------------------------------------------------------------------------

def test_faults_propagate():
    class Failing(replay.ReplayClient):
        def execute(self, command, arguments=None):
            if arguments and "props" in arguments["model"]:
                raise qmp.QMPTimeoutError("no reply within 10 s")
            return super(Failing, self).execute(command, arguments)

    with pytest.raises(qmp.QMPTimeoutError):
        dialects.read_host_props(Failing(replay.load(QEMU_72)), "tcg")


def test_unknown_accel():
    with pytest.raises(ValueError, match="hvf"):
        dialects.read_host_props(replay.ReplayClient([]), "hvf")


GOOD = {"name": "hw_prop_WRPs", "type": "number", "supported-values": ["0-3"]}


def element(**changes):
    result = dict(GOOD, **changes)
    return {key: value for key, value in result.items() if value is not MISSING}


MISSING = object()

UNREADABLE_PROPS_INFO = {
    "reply is an object": {"hw_prop_WRPs": ["0-3"]},
    "reply is null": None,
    "reply is a string": "hw_prop_WRPs",
    "element not an object": [GOOD, ["hw_prop_BRPs"]],
    "missing name": [element(name=MISSING)],
    "name not a string": [element(name=7)],
    "name with a comma": [element(name="a,b")],
    "name with a trailing newline": [element(name="sve\n")],
    "empty name": [element(name="")],
    "type not a string": [element(type=["number"])],
    "missing supported-values": [element(**{"supported-values": MISSING})],
    "null value": [element(**{"supported-values": ["0", None]})],
    "object value": [element(**{"supported-values": [{"min": 0}]})],
    "duplicate names": [GOOD, element(**{"supported-values": ["0-1"]})],
}
# Shapes read with a liberty, each a warning: (elements, what the property becomes: type and values).
READ_WITH_A_WARNING = {
    "missing type": ([element(type=MISSING)], ("number", ("0-3",)), "has no type; read as number"),
    "missing type of booleans": ([element(type=MISSING, **{"supported-values": [True, False]})],
                                 ("bool", ("on", "off")), "has no type; read as bool"),
    "supported-values a string": ([element(**{"supported-values": "0-3"})], ("number", ("0-3",)), "one string"),
    "integer values": ([element(**{"supported-values": [0, 3]})], ("number", ("0", "3")), "integers"),
    "boolean values": ([element(type="bool", **{"supported-values": [True]})], ("bool", ("on",)), "JSON booleans"),
    # Nutanix's v3 (RFC v3 16/19, qemu-devel 2026-07-16): a list of inclusive {min, max} ranges
    "range list": ([element(**{"supported-values": [{"min": 0, "max": 1}, {"min": 3, "max": 3}]})],
                   ("number", ("0-1", "3")), "{min, max} ranges"),
    "reserved member": ([element(supported_values=["0-7"])], ("number", ("0-3",)), "the fact reserves"),
    "default a list": ([element(default=["0"])], ("number", ("0-3",)), "a default of list"),
    "flat union with min and max": ([element(**{"supported-values": MISSING, "min": 0, "max": 3})],
                                    ("number", ("0-3",)), None),
    "values instead of supported-values": ([element(**{"supported-values": MISSING, "values": ["0-3"]})],
                                           ("number", ("0-3",)), "'values' instead"),
    "sysreg name with only a default": ([{"name": "SYSREG_ID_AA64ISAR0_EL1_SHA1", "type": "number", "default": 1}],
                                        ("number", ("0x0-0x1",)), "kernel rule"),
}


def expect_fallback(exchanges, command, accel="tcg"):
    """The dialect's reply cannot be read: no exception, a warning naming the command, the next dialect (here none:
    unsupported, the problem in the reason)."""
    client = replay.ReplayClient(exchanges)
    host = dialects.read_host_props(client, accel)
    assert not host.supported and command in host.reason
    assert any(warning.startswith(command + ": ") and "falling back to the next dialect" in warning
               for warning in host.warnings), host.warnings
    VALIDATOR.validate(host.to_fact(accel, "/usr/bin/qemu-system-aarch64", "probe"))
    return host


@pytest.mark.parametrize("command", ["query-arm-cpu-props-info", "query-cpu-props-info"])
@pytest.mark.parametrize("reply", UNREADABLE_PROPS_INFO.values(), ids=UNREADABLE_PROPS_INFO.keys())
def test_unreadable_props_info_falls_back(command, reply):
    expect_fallback(props_info(reply, command), command)


@pytest.mark.parametrize("command", ["query-arm-cpu-props-info", "query-cpu-props-info"])
@pytest.mark.parametrize("case", READ_WITH_A_WARNING.values(), ids=READ_WITH_A_WARNING.keys())
def test_unexpected_shapes_are_read_with_a_warning(command, case):
    elements, (type_, supported), warning = case
    host = read(props_info(elements, command))
    (prop,) = list(host.properties.values())
    assert (host.supported, prop.type, prop.supported_values) == (True, type_, supported)
    if command == "query-cpu-props-info" and (warning is None or warning in dialects.V3_FORMS):
        assert host.warnings == []   # min/max, {min, max} ranges and JSON booleans are dialect 2's own forms
    else:
        assert [w for w in host.warnings if w.startswith(command + ": element 0")], host.warnings
        if warning:
            assert any(warning in w for w in host.warnings), host.warnings


def test_an_unreadable_dialect_gives_way_to_the_next():
    """Dialect 1 answers junk, the expansion works: the host is read from the expansion, with the warning."""
    exchanges = minimal("query-arm-cpu-props-info", EXPANSION, replies=[
        {"execute": "query-arm-cpu-props-info", "return": {"not": "a list"}},
        {"execute": EXPANSION, "arguments": {"type": "full", "model": {"name": "host"}},
         "return": {"model": {"name": "host", "props": {"SYSREG_ID_AA64ISAR0_EL1_AES": 1}}}}])
    host = read(exchanges, accel="kvm")
    assert (host.supported, host.dialect) == (True, names.SYSREG)
    assert host.warnings == ["query-arm-cpu-props-info: the reply should be a list, not dict; falling back to the "
                             "next dialect"]


MALFORMED_BOUNDS = {
    "min without max": [element(**{"supported-values": MISSING, "min": 0})],
    "max without min": [element(**{"supported-values": MISSING, "max": 3})],
    "min a string": [element(**{"supported-values": MISSING, "min": "0", "max": 3})],
    "max a boolean": [element(**{"supported-values": MISSING, "min": 0, "max": True})],
    "min above max": [element(**{"supported-values": MISSING, "min": 4, "max": 3})],
    "props not a list": {"model": {"name": "max"}, "props": {"a": 1}},
    "model not a string": {"model": {"name": 3}, "props": [GOOD]},
}


@pytest.mark.parametrize("reply", MALFORMED_BOUNDS.values(), ids=MALFORMED_BOUNDS.keys())
def test_unreadable_dialect_2_falls_back(reply):
    expect_fallback(props_info(reply, "query-cpu-props-info"), "query-cpu-props-info")


def expansion(reply):
    return minimal(EXPANSION, replies=[
        {"execute": EXPANSION, "arguments": {"type": "full", "model": {"name": "max"}}, "return": reply}])


UNREADABLE_EXPANSION = {
    "reply a list": [],
    "model missing": {"name": "max"},
    "props a list": {"model": {"name": "max", "props": ["sve"]}},
}


@pytest.mark.parametrize("reply", UNREADABLE_EXPANSION.values(), ids=UNREADABLE_EXPANSION.keys())
def test_unreadable_expansion_is_unsupported_with_a_warning(reply):
    expect_fallback(expansion(reply), EXPANSION)


@pytest.mark.parametrize("value, kind", [(1.5, "float"), (None, "missing or null"), ({}, "dict")])
def test_expansion_property_of_no_readable_value_is_left_out(value, kind):
    expand = {"execute": EXPANSION, "arguments": {"type": "full", "model": {"name": "max"}},
              "return": {"model": {"name": "max", "props": {"x": value, "y": "text"}}}}
    host = read(minimal(EXPANSION, replies=[expand]))
    assert values(host) == {"y": ["text"]}
    assert host.warnings == ["%s: model 'max': property 'x' has a value of %s; left out" % (EXPANSION, kind)]


def test_expansion_property_with_a_bad_name_is_left_out():
    expand = {"execute": EXPANSION, "arguments": {"type": "full", "model": {"name": "max"}},
              "return": {"model": {"name": "max", "props": {"x y": "1", "y": "2"}}}}
    host = read(minimal(EXPANSION, replies=[expand]))
    assert values(host) == {"y": ["2"]} and "left out" in host.warnings[0]


def test_malformed_flip_reply_is_a_refusal_with_a_warning():
    exchanges = copy.deepcopy(replay.load(QEMU_72))
    flip = next(e for e in exchanges if "props" in e.get("arguments", {}).get("model", {}) and "return" in e)
    flip["return"] = {"model": None}
    name, value = next(iter(flip["arguments"]["model"]["props"].items()))
    host = read(exchanges)
    assert host.supported and len(host.warnings) == 1 and "taken as a refusal" in host.warnings[0]
    assert values(host)[name] == ["on" if not value else "off"]


UNREADABLE_BASICS = {
    "version not an object": ("query-version", [], "the QEMU version is unknown"),
    "version without qemu": ("query-version", {"package": ""}, "the QEMU version is unknown"),
    "micro a string": ("query-version", {"qemu": {"major": 7, "minor": 2, "micro": "22"}},
                       "the QEMU version is unknown"),
    "major a boolean": ("query-version", {"qemu": {"major": True, "minor": 2, "micro": 22}},
                        "the QEMU version is unknown"),
    "negative minor": ("query-version", {"qemu": {"major": 7, "minor": -2, "micro": 22}},
                       "the QEMU version is unknown"),
    "package a number": ("query-version", {"qemu": {"major": 7, "minor": 2, "micro": 22}, "package": 1}, "left out"),
    "commands an object": ("query-commands", {"name": "query-version"}, "trying every dialect"),
    "command without name": ("query-commands", [{"nom": "query-version"}], "trying every dialect"),
    "command not an object": ("query-commands", ["query-version"], "trying every dialect"),
}


@pytest.mark.parametrize("command, reply, warning", UNREADABLE_BASICS.values(), ids=UNREADABLE_BASICS.keys())
def test_unreadable_version_or_commands_still_reads_the_host(command, reply, warning):
    exchanges = with_reply(replay.load(RFC), command, reply)
    host = dialects.read_host_props(replay.ReplayClient(exchanges), "tcg")
    assert host.supported and host.dialect == "query-arm-cpu-props-info"
    assert len(host.warnings) == 1 and host.warnings[0].startswith(command + ": ") and warning in host.warnings[0]


# --- the real QEMU --------------------------------------------------------------------------------------------------

def recorded_name(name, version):
    """The recording ``name`` of QEMU ``version``, else the newest one of the same major.minor (the same
    properties; only query-version's micro differs), else ``name`` itself, which then fails as missing."""
    if (replay.REPLIES / (name + ".json")).is_file():
        return name
    major_minor = version.rsplit(".", 1)[0]
    pattern = re.compile(re.escape(name).replace(re.escape(version), re.escape(major_minor) + r"\.(\d+)") + r"\.json$")
    found = sorted((int(match.group(1)), match.group(0)[:-len(".json")])
                   for match in (pattern.match(path.name) for path in replay.REPLIES.iterdir()) if match)
    return found[-1][1] if found else name


@pytest.mark.real_qemu
def test_real_qemu_tcg(qemu_binary):
    """The real QEMU (Debian 12's 7.2, Debian 13's 10.0) gives what its recorded fixtures give (and re-records them
    on ARMVIRT_REGENERATE_REPLIES=1): a QEMU version without recordings fails, so a new one gets them."""
    probe = pytest.importorskip("ansible_collections.armvirt.cpu.plugins.module_utils._host.probe")
    recorded = {}
    with probe.spawned_qemu(qemu_binary, "tcg") as client:
        version = "%(major)d.%(minor)d.%(micro)d" % client.greeting["QMP"]["version"]["qemu"]
        names = {"tcg": "qemu-%s-tcg" % version, "kvm": "qemu-%s-tcg-host-model" % version}
        if not os.environ.get("ARMVIRT_REGENERATE_REPLIES"):
            # a stable release's recordings stand for its later micro releases (Debian 13's 10.0.x, backports' 10.0.2)
            names = {accel: recorded_name(name, version) for accel, name in names.items()}
        for accel, name in names.items():
            recorder = replay.RecordingClient(client)
            recorded[name] = (dialects.read_host_props(recorder, accel), recorder.exchanges)
    host = recorded[names["tcg"]][0]
    VALIDATOR.validate(host.to_fact("tcg", qemu_binary, "probe"))
    assert (host.supported, host.dialect, host.cpu_model) == (True, EXPANSION, "max")
    got = values(host)
    assert got["aarch64"] == ["on"] and got["sve128"] == ["on", "off"]
    # sve128=off is refused alone ("cannot disable sve128") and accepted only together with sve=off
    assert host.properties["sve128"].extra == {
        props.CONDITIONAL: {"off": {"with": {"sve": "off"}, "rule": "sve-no-length"}}}
    assert all(props.CONDITIONAL not in prop.extra for name, prop in host.properties.items() if name != "sve128")
    assert got["sve"] == got["pauth"] == got["pmu"] == got["pauth-impdef"] == ["on", "off"]
    assert host.properties["pauth-impdef"].default == "off"
    # QEMU 8.2 added the QARMA3 selector, 10.0 the explicit QARMA5 one
    if int(version.split(".")[0]) >= 10:
        assert {"pauth-qarma3", "pauth-qarma5"} <= set(got)
    else:
        assert "pauth-qarma3" not in got
    unsupported = recorded[names["kvm"]][0]
    assert not unsupported.supported and "The CPU type 'host' requires KVM" in unsupported.reason

    for accel, name in names.items():
        live, exchanges = recorded[name]
        if os.environ.get("ARMVIRT_REGENERATE_REPLIES"):
            replay.save(name, exchanges)
        replayed = read(replay.load(name), accel)
        assert (replayed.properties, replayed.reason) == (live.properties, live.reason)
