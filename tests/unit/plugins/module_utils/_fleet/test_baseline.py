"""fleet baseline: many hosts' facts as one, and who is left out, with hand-checked expectations.

The speed of the same code is measured by `scripts/bench fleet_baseline` (tools/bench/fleet_rows.py), not here.
"""

import json

import jsonschema
import pytest
from bench.fleet_rows import kind_facts

from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import baseline, classes, grouping
from ansible_collections.armvirt.cpu.plugins.module_utils._host import vocabulary
from ansible_collections.armvirt.cpu.plugins.module_utils._host.props import HostProps
from ansible_collections.armvirt.cpu.plugins.module_utils._guest.validate import check_features
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils._fleet.fleet_cases import (
    API, BASELINE_SCHEMA, BRPS, CSV2, CSV2_FRAC, FIXTURE_BASELINE, N1, PMUVER, RAS, RAS_FRAC, SCHEMAS, SMALL, SVE, V1,
    WRPS, one_prop, small, values)


# baseline: intersections

def test_small_fleet_fixture_facts_fit_the_fact_schema():
    schema = json.loads((SCHEMAS / "arm_cpu_props.schema.json").read_text())
    for fact in SMALL.values():
        jsonschema.Draft202012Validator(schema).validate(fact)


@pytest.mark.parametrize("first, second, expected", [
    (["0-3"], ["0-2"], ["0-2"]),
    (["0-3", "5"], ["2-5"], ["2-3", "5"]),
    (["0-3", "off"], ["1", "OFF"], ["1", "off"]),
    (["0x0-0x3"], ["2-7"], ["0x2-0x3"]),   # the first member's spelling: a hex-listed property stays hex
])
def test_number_ranges_intersect(first, second, expected):
    result = baseline.baseline({"h1": one_prop("number", first), "h2": one_prop("number", second)})
    assert values(result, "x") == expected


def test_small_fleet_baseline_by_hand():
    """By canonical field (SYSREG_<REG>_<FIELD>, hex): the hosts speak feat_/hw_prop_ names and booleans."""
    result = baseline.baseline(small("a1", "a2", "b1"), "rack7")
    # hw_prop_WRPs: a1 "0-3","5" & a2 "5","0-1","2-3" & b1 "2-5" = 2-3 and 5, as ID_AA64DFR0_EL1.WRPs
    assert values(result, WRPS) == ["0x2-0x3", "0x5"]
    assert values(result, BRPS) == ["0x0-0x2"]
    # hw_prop_API: off is 0 (the field a vCPU flag gates); "PAuth" names no value of the series: not translated
    assert values(result, API) == ["0x0"]
    # feat_RAS "0.0","1.0" shared: RAS 0-1 with RAS_frac 0, the two halves of one value
    assert values(result, RAS) == ["0x0-0x1"] and values(result, RAS_FRAC) == ["0x0"]
    assert result["properties"][RAS]["coupled_with"] == RAS_FRAC
    # feat_CSV2 "0.0" on a1/a2, "1.0" on b1: CSV2 has nothing in common, CSV2_frac 0 is shared
    assert values(result, CSV2_FRAC) == ["0x0"]
    assert values(result, SVE) == ["0x0"]                            # b1 has sve only off
    assert sorted(result["properties"]) == [BRPS, WRPS, API, RAS, SVE, CSV2_FRAC, RAS_FRAC, "pauth", "sve"]
    # the switches the rule model reasons on, said by their fields: pauth's API only 0, SVE only 0
    assert result["properties"]["sve"] == result["properties"]["pauth"] == {"type": "bool", "supported_values": ["off"]}
    assert result["missing"] == {"SYSREG_ID_AA64DFR0_EL1_PMSVer": ["a1", "a2"]}          # feat_SPE, b1 only
    assert result["empty"] == [CSV2, "hw_prop_MIDR"]
    # pmu=on gives the guest the host's own PMUVer, which booleans do not tell: unknown on every host, with why
    assert sorted(result["unknown"]) == [PMUVER] and sorted(result["unknown"][PMUVER]) == ["a1", "a2", "b1"]
    assert "pmu=on gives the guest the host's own ID_AA64DFR0_EL1.PMUVer" in result["unknown"][PMUVER]["a1"]
    assert result["members"] == ["a1", "a2", "b1"] and result["excluded"] == []
    assert result["label"] == "rack7" and result["supported"] is True and result["reason"] is None
    assert result["dialect"] == "query-arm-cpu-props-info" and result["accel"] == "kvm"
    assert result["classes"]["a1"] == result["classes"]["a2"] != result["classes"]["b1"]
    BASELINE_SCHEMA.validate(result)


def test_case_kept_in_the_first_hosts_spelling_whatever_the_input_order():
    lower, upper = one_prop("string", ["pauth", "off"]), one_prop("string", ["PAuth"])
    assert values(baseline.baseline({"b": lower, "a": upper}), "x") == ["PAuth"]
    assert values(baseline.baseline({"a": lower, "b": upper}), "x") == ["pauth"]


def test_result_does_not_depend_on_input_order():
    hosts = small("a1", "a2", "b1", "t1", "u1")
    backwards = dict(reversed(list(hosts.items())))
    assert baseline.baseline(hosts) == baseline.baseline(backwards)
    assert classes.classes(hosts) == classes.classes(backwards)


def test_real_fixture_pair_matches_the_hand_made_fleet_baseline():
    """The hand-made baseline (host names) read in canonical fields is ours, less what differs from host to host
    (coupled_values: the pairs each host offers) and host_names, which both hosts share and the fixture lacks."""
    result = baseline.baseline({"v1-01": V1, "n1-01": N1}, "fleet-arm64")
    expected = vocabulary.canonical_fact(
        dict(FIXTURE_BASELINE, properties={name: prop for name, prop in FIXTURE_BASELINE["properties"].items()
                                           if name != "hw_prop_MIDR"}))["properties"]
    for prop in expected.values():
        prop.pop("coupled_values", None)
        prop.pop("host_names", None)
    switches = {"pmu": ["on", "off"], "sve": ["off"], "pauth": ["off"]}      # said by their fields
    expected.update((name, {"type": "bool", "supported_values": words}) for name, words in switches.items())
    assert {name: {key: value for key, value in prop.items() if key != "host_names"}
            for name, prop in result["properties"].items()} == expected
    assert values(result, WRPS) == ["0x0-0x3"]
    assert values(result, "SYSREG_ID_AA64DFR0_EL1_PMUVer") == ["0x0-0x1", "0x4"]
    assert result["empty"] == ["hw_prop_MIDR"]        # 0x414fd0c1 and 0x411fd401 have nothing in common
    assert result["missing"] == {name: ["n1-01"] for name in ("sve128", "sve256", "sve512")}
    assert {key: result[key] for key in ("dialect", "accel", "qemu_version", "cpu_model")} == {
        "dialect": "query-arm-cpu-props-info", "accel": "kvm", "qemu_version": "9.1.50", "cpu_model": "host"}
    BASELINE_SCHEMA.validate(result)


def test_types_that_differ_count_as_empty_and_defaults_survive_only_when_equal():
    # sve128 and kvm-steal-time are no ID register field: they keep their names
    first = one_prop("number", ["0-3"], sve128={"type": "bool", "supported_values": ["on", "off"], "default": "on"},
                     **{"kvm-steal-time": {"type": "bool", "supported_values": ["on", "off"], "default": "on"}})
    second = one_prop("string", ["0-3"], sve128={"type": "bool", "supported_values": ["off", "on"], "default": "off"},
                      **{"kvm-steal-time": {"type": "bool", "supported_values": ["ON", "off"], "default": "on"}})
    result = baseline.baseline({"h1": first, "h2": second})
    assert result["empty"] == ["x"]
    assert result["properties"]["sve128"] == {"type": "bool", "supported_values": ["on", "off"]}
    assert result["properties"]["kvm-steal-time"] == {"type": "bool", "supported_values": ["on", "off"],
                                                      "default": "on"}
    assert result["classes"]["h1"] != result["classes"]["h2"]


# baseline: who is left out

def test_unsupported_missing_and_malformed_hosts_are_excluded_with_reasons():
    bad_values = one_prop("number", "0-3")
    facts = dict(small("a1", "u1"), gone=None, empty={}, text="arm_cpu_props", props_only=SMALL["a1"]["properties"],
                 bad_values=bad_values, bad_prop=dict(one_prop("number", []), properties={"x": ["0-3"]}),
                 list_meta=dict(SMALL["a1"], dialect=["x"]), no_props=dict(SMALL["a1"], properties=None))
    result = baseline.baseline(facts)
    reasons = {entry["host"]: entry["reason"] for entry in result["excluded"]}
    assert result["members"] == ["a1"] and sorted(reasons) == sorted(set(facts) - {"a1"})
    assert reasons["u1"] == "arm_cpu_props reports supported: false (%s)" % SMALL["u1"]["reason"]
    assert reasons["gone"] == reasons["empty"] == reasons["text"] == grouping.NO_FACT
    assert reasons["props_only"].startswith("arm_cpu_props reports supported: false (no reason given)")
    assert reasons["bad_values"] == reasons["bad_prop"] == (
        "the props given are not an arm_cpu_props fact: property 'x' needs a type and a list of string "
        "supported_values")
    assert "unhashable" in reasons["list_meta"] and "'supported' and 'properties'" in reasons["no_props"]
    BASELINE_SCHEMA.validate(result)


def test_a_fleet_without_members_is_an_unsupported_baseline():
    result = baseline.baseline({"u1": SMALL["u1"], "gone": None})
    assert result["supported"] is False and result["members"] == [] and result["properties"] == {}
    assert result["reason"] == "no supported host among 2 (see excluded)" and result["dialect"] is None
    BASELINE_SCHEMA.validate(result)
    assert [error.rule for error in check_features([{"name": "pmu"}], result)[1]] == ["host-unsupported"]
    assert baseline.baseline({})["excluded"] == [] and baseline.baseline({})["supported"] is False


def test_input_that_is_not_a_mapping_raises_type_error():
    with pytest.raises(TypeError, match="mapping of host name to arm_cpu_props fact, got a list"):
        baseline.baseline([N1])


def test_validate_takes_the_baseline_unchanged():
    result = baseline.baseline(small("a1", "a2", "b1", "t1", "u1"), "mixed")
    assert check_features([], result) == ([], [])
    assert check_features([{"name": SVE, "value": "0"}], result)[1] == []
    [error] = check_features([{"name": SVE, "value": "1"}], result)[1]
    assert error.host == "mixed" and error.rule == "value-not-supported"
    [error] = check_features([{"name": PMUVER, "value": "1"}], result)[1]    # pmu: every member speaks a boolean
    assert error.rule == "unknown-property"
    full = baseline.baseline(small("a1", "b1"))
    assert check_features([{"name": WRPS, "value": "5"}], full)[0] == [
        {"name": WRPS, "policy": "require", "value": "0x5"}]


# scale: the same code on a synthetic fleet, checked against a naive fold over every host

def synthetic_fleet(hosts=10000, props=150, kinds=50):
    """{host: fact} with ``kinds`` kinds of host that differ in 10 properties each (the benchmark's generator);
    every host is its own dict, as hostvars are."""
    facts = kind_facts(props, kinds)
    return json.loads(json.dumps({"host%05d" % n: facts[n % kinds] for n in range(hosts)}))


def test_synthetic_fleet_agrees_with_a_naive_fold():
    facts = synthetic_fleet(hosts=300, props=30, kinds=7)
    result = baseline.baseline(facts)
    naive = None
    for host in sorted(facts):
        props = HostProps.from_fact(facts[host]).properties
        naive = props if naive is None else {name: prop.intersect(props[name]) for name, prop in naive.items()}
    assert result["properties"] == {name: prop.to_fact() for name, prop in naive.items() if prop.supported_values}
    assert sorted(result["empty"]) == sorted(name for name, prop in naive.items() if not prop.supported_values)
    assert len(classes.classes(facts)["classes"]) == 7 and len(result["members"]) == 300
