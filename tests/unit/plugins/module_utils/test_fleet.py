"""fleet: baseline, classes, placement and recommendation, with hand-checked expectations.

The speed of the same code is measured by `scripts/bench fleet_baseline` (tools/bench/fleet_rows.py), not here.
"""

import copy
import json
import pathlib

import jsonschema
import pytest
import referencing
from bench.fleet_rows import kind_facts

from ansible_collections.armvirt.cpu.plugins.module_utils import _cpu_policy, fleet
from ansible_collections.armvirt.cpu.plugins.module_utils.props import HostProps, Property
from ansible_collections.armvirt.cpu.plugins.module_utils.validate import check_features

ROOT = pathlib.Path(__file__).resolve().parents[4]
FACTS = ROOT / "tests" / "fixtures" / "facts"
SCHEMAS = ROOT / "docs" / "schemas"
SMALL = json.loads((ROOT / "tests" / "fixtures" / "fleet" / "small-fleet.json").read_text())


def load_fact(name):
    return json.loads((FACTS / (name + ".json")).read_text())


N1, V1, QEMU72 = load_fact("neoverse-n1"), load_fact("neoverse-v1"), load_fact("qemu-7.2-released")
UNSUPPORTED, FIXTURE_BASELINE = load_fact("qemu-7.2-kvm-unsupported"), load_fact("fleet-baseline")


def _validator(name):
    resources = [(schema["$id"], referencing.Resource.from_contents(schema))
                 for schema in (json.loads(path.read_text()) for path in SCHEMAS.glob("*.json"))]
    schema = json.loads((SCHEMAS / name).read_text())
    return jsonschema.Draft202012Validator(schema, registry=referencing.Registry().with_resources(resources))


BASELINE_SCHEMA, CLASSES_SCHEMA = _validator("fleet_baseline.schema.json"), _validator("fleet_classes.schema.json")


def small(*hosts):
    return {host: copy.deepcopy(SMALL[host]) for host in hosts}


def values(result, name):
    return result["properties"][name]["supported_values"]


def one_prop(prop_type, supported_values, **more):
    return {"supported": True, "dialect": "query-arm-cpu-props-info", "accel": "kvm", "emulator": None,
            "qemu_version": "9.1.50", "source": "probe", "reason": None,
            "properties": dict({"x": {"type": prop_type, "supported_values": supported_values}}, **more)}


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
    result = fleet.baseline({"h1": one_prop("number", first), "h2": one_prop("number", second)})
    assert values(result, "x") == expected


def test_small_fleet_baseline_by_hand():
    result = fleet.baseline(small("a1", "a2", "b1"), "rack7")
    # a1 "0-3","5" & a2 "5","0-1","2-3" = "0-1","2-3","5" (a1's order); & b1 "2-5" = "2-3","5"
    assert values(result, "hw_prop_WRPs") == ["2-3", "5"]
    assert values(result, "hw_prop_BRPs") == ["0-2"]
    assert values(result, "hw_prop_API") == ["PAuth", "off"]      # a1 sorts first: its spelling and order
    assert values(result, "feat_RAS") == ["0.0", "1.0"]
    assert values(result, "sve") == ["off"] and values(result, "pmu") == ["on", "off"]
    assert sorted(result["properties"]) == ["feat_RAS", "hw_prop_API", "hw_prop_BRPs", "hw_prop_WRPs", "pmu", "sve"]
    assert result["missing"] == {"feat_SPE": ["a1", "a2"]}
    assert result["empty"] == ["feat_CSV2", "hw_prop_MIDR"]
    assert result["members"] == ["a1", "a2", "b1"] and result["excluded"] == []
    assert result["label"] == "rack7" and result["supported"] is True and result["reason"] is None
    assert result["dialect"] == "query-arm-cpu-props-info" and result["accel"] == "kvm"
    assert result["classes"]["a1"] == result["classes"]["a2"] != result["classes"]["b1"]
    BASELINE_SCHEMA.validate(result)


def test_case_kept_in_the_first_hosts_spelling_whatever_the_input_order():
    lower, upper = one_prop("string", ["pauth", "off"]), one_prop("string", ["PAuth"])
    assert values(fleet.baseline({"b": lower, "a": upper}), "x") == ["PAuth"]
    assert values(fleet.baseline({"a": lower, "b": upper}), "x") == ["pauth"]


def test_result_does_not_depend_on_input_order():
    hosts = small("a1", "a2", "b1", "t1", "u1")
    backwards = dict(reversed(list(hosts.items())))
    assert fleet.baseline(hosts) == fleet.baseline(backwards)
    assert fleet.classes(hosts) == fleet.classes(backwards)


def test_real_fixture_pair_matches_the_hand_made_fleet_baseline():
    result = fleet.baseline({"v1-01": V1, "n1-01": N1}, "fleet-arm64")
    expected = {name: prop for name, prop in FIXTURE_BASELINE["properties"].items() if name != "hw_prop_MIDR"}
    assert result["properties"] == expected
    assert result["empty"] == ["hw_prop_MIDR"]        # 0x414fd0c1 and 0x411fd401 have nothing in common
    assert result["missing"] == {name: ["n1-01"] for name in ("sve128", "sve256", "sve512")}
    assert {key: result[key] for key in ("dialect", "accel", "qemu_version", "cpu_model")} == {
        "dialect": "query-arm-cpu-props-info", "accel": "kvm", "qemu_version": "9.1.50", "cpu_model": "host"}
    BASELINE_SCHEMA.validate(result)


def test_types_that_differ_count_as_empty_and_defaults_survive_only_when_equal():
    first = one_prop("number", ["0-3"], pmu={"type": "bool", "supported_values": ["on", "off"], "default": "on"},
                     sve={"type": "bool", "supported_values": ["on", "off"], "default": "on"})
    second = one_prop("string", ["0-3"], pmu={"type": "bool", "supported_values": ["off", "on"], "default": "off"},
                      sve={"type": "bool", "supported_values": ["ON", "off"], "default": "on"})
    result = fleet.baseline({"h1": first, "h2": second})
    assert result["empty"] == ["x"]
    assert result["properties"]["pmu"] == {"type": "bool", "supported_values": ["on", "off"]}
    assert result["properties"]["sve"] == {"type": "bool", "supported_values": ["on", "off"], "default": "on"}
    assert result["classes"]["h1"] != result["classes"]["h2"]


# baseline: who is left out

def test_unsupported_missing_and_malformed_hosts_are_excluded_with_reasons():
    bad_values = one_prop("number", "0-3")
    facts = dict(small("a1", "u1"), gone=None, empty={}, text="arm_cpu_props", props_only=SMALL["a1"]["properties"],
                 bad_values=bad_values, bad_prop=dict(one_prop("number", []), properties={"x": ["0-3"]}),
                 list_meta=dict(SMALL["a1"], dialect=["x"]), no_props=dict(SMALL["a1"], properties=None))
    result = fleet.baseline(facts)
    reasons = {entry["host"]: entry["reason"] for entry in result["excluded"]}
    assert result["members"] == ["a1"] and sorted(reasons) == sorted(set(facts) - {"a1"})
    assert reasons["u1"] == "arm_cpu_props reports supported: false (%s)" % SMALL["u1"]["reason"]
    assert reasons["gone"] == reasons["empty"] == reasons["text"] == fleet.NO_FACT
    assert reasons["props_only"].startswith("arm_cpu_props reports supported: false (no reason given)")
    assert reasons["bad_values"] == reasons["bad_prop"] == (
        "the props given are not an arm_cpu_props fact: property 'x' needs a type and a list of string "
        "supported_values")
    assert "unhashable" in reasons["list_meta"] and "'supported' and 'properties'" in reasons["no_props"]
    BASELINE_SCHEMA.validate(result)


def test_a_fleet_without_members_is_an_unsupported_baseline():
    result = fleet.baseline({"u1": SMALL["u1"], "gone": None})
    assert result["supported"] is False and result["members"] == [] and result["properties"] == {}
    assert result["reason"] == "no supported host among 2 (see excluded)" and result["dialect"] is None
    BASELINE_SCHEMA.validate(result)
    assert [error.rule for error in check_features([{"name": "pmu"}], result)[1]] == ["host-unsupported"]
    assert fleet.baseline({})["excluded"] == [] and fleet.baseline({})["supported"] is False


def test_input_that_is_not_a_mapping_raises_type_error():
    with pytest.raises(TypeError, match="mapping of host name to arm_cpu_props fact, got a list"):
        fleet.baseline([N1])


def test_validate_takes_the_baseline_unchanged():
    result = fleet.baseline(small("a1", "a2", "b1", "t1", "u1"), "mixed")
    assert check_features([], result) == ([], [])
    good = [{"name": "pmu"}, {"name": "sve", "policy": "disable"}]
    assert check_features(good, result)[1] == []
    [error] = check_features([{"name": "sve"}], result)[1]
    assert error.host == "mixed" and error.rule == "on-not-supported"
    full = fleet.baseline(small("a1", "b1"))
    assert check_features([{"name": "hw_prop_WRPs", "value": "0x5"}], full)[0] == [
        {"name": "hw_prop_WRPs", "policy": "require", "value": "5"}]


# classes

def test_same_kind_listed_differently_is_one_class_and_fallback_hosts_are_their_own():
    result = fleet.classes(small("a1", "a2", "b1", "t1", "u1"))
    CLASSES_SCHEMA.validate(result)
    ids = result["hosts"]
    assert sorted(ids) == ["a1", "a2", "b1", "t1"] and ids["a1"] == ids["a2"]
    assert len({ids["a1"], ids["b1"], ids["t1"]}) == 3
    assert result["excluded"] == [{"host": "u1", "reason": "arm_cpu_props reports supported: false (%s)"
                                   % SMALL["u1"]["reason"]}]
    assert result["classes"][ids["a1"]] == {
        "hosts": ["a1", "a2"], "count": 2, "representative": "a1", "dialect": "query-arm-cpu-props-info",
        "properties_count": 8, "cpu_names": [], "midr": None, "kernel_cmdline_overrides": None,
        "summary": "2 hosts like a1: 8 properties from query-arm-cpu-props-info"}
    assert result["classes"][ids["t1"]]["dialect"] == "query-cpu-model-expansion"


HOSTS = pathlib.Path(__file__).resolve().parents[4] / "tools" / "armsim" / "hosts"


def _with_identity(fact, tree):
    from ansible_collections.armvirt.cpu.plugins.module_utils import hostid
    return dict(copy.deepcopy(fact), host_cpu=hostid.read(str(HOSTS / tree / "sys"), str(HOSTS / tree / "proc")))


def test_equal_qemu_properties_with_different_cpus_are_different_classes():
    """A Neoverse-N1 and a Cortex-A72 can report the same booleans; a host-passthrough guest still tells them apart
    (MIDR), and a kernel that boots with arm64.nosve offers something else than the same CPU without it."""
    n1, a72 = _with_identity(QEMU72, "neoverse-n1"), _with_identity(QEMU72, "cortex-a72")
    v2, v2_nosve = _with_identity(QEMU72, "neoverse-v2"), _with_identity(QEMU72, "neoverse-v2-nosve")
    result = fleet.classes({"n1": n1, "n1-b": copy.deepcopy(n1), "a72": a72, "v2": v2, "v2-nosve": v2_nosve})
    CLASSES_SCHEMA.validate(result)
    ids = result["hosts"]
    assert ids["n1"] == ids["n1-b"] and len(set(ids.values())) == 4
    assert result["classes"][ids["n1"]]["cpu_names"] == ["Neoverse-N1"]
    assert result["classes"][ids["a72"]]["midr"] == ["0x00000000410fd083"]
    assert result["classes"][ids["v2-nosve"]]["kernel_cmdline_overrides"] == ["arm64.nosve"]
    assert "Neoverse-N1, 21 properties" in result["classes"][ids["n1"]]["summary"]
    # firmware and hwcaps are not part of the class: the same CPU with other firmware is the same class
    other_fw = copy.deepcopy(n1)
    other_fw["host_cpu"]["firmware"] = {"vendor": "Ampere(R)", "version": "F32", "date": "01/01/2026"}
    assert fleet.classes({"n1": n1, "fw": other_fw})["hosts"]["fw"] == ids["n1"]
    # the baseline of such a fleet is still the common CPU: classes split, the baseline does not change
    assert fleet.baseline({"n1": n1, "a72": a72})["properties"] == fleet.baseline({"n1": QEMU72})["properties"]


def test_class_ids_are_stable_across_runs_and_fleets():
    # Pinned: a change here changes every id a deployed report or inventory may refer to.
    assert fleet.classes({"n1": N1})["hosts"] == {"n1": "cpu-00cb1b634d"}
    assert fleet.classes({"v1": V1, "other": N1})["hosts"] == {"other": "cpu-00cb1b634d", "v1": "cpu-46c25a94b6"}
    # the fact recorded from the real QEMU 7.2 (aarch64 on only, sve128 off only with sve=off)
    assert fleet.classes({"tcg": QEMU72})["hosts"] == {"tcg": "cpu-4bde22f9b5"}
    # defaults, meta data and extra keys are not part of what a host accepts
    other = dict(copy.deepcopy(N1), qemu_version="9.2.0", source="cache")
    other["properties"]["pmu"]["default"] = "on"
    other["properties"]["pmu"]["note"] = "from a newer probe"
    assert fleet.classes({"n1-b": other})["hosts"] == {"n1-b": "cpu-00cb1b634d"}


def test_canonical_values_ignore_listing_order_case_and_range_splits():
    assert Property("x", "number", ["5", "0-1", "2-3", "OFF"]).canonical_values() == ("0-3", "5", "off")
    assert Property("x", "number", ["0x2-4", "1", "4"]).canonical_values() == ("1-4",)
    assert Property("x", "string", ["off", "PAuth", "pauth"]).canonical_values() == ("off", "pauth")
    assert Property("x", "bool", ["OFF", "true"]).canonical_values() == ("off", "on")
    assert Property("x", "uint64", ["0xB", "0xA"]).canonical_values() == ("0xA", "0xB")


def test_equal_facts_from_separate_dicts_share_one_kind_but_differences_do_not():
    facts = {"h%d" % n: copy.deepcopy(N1) for n in range(5)}
    facts["h3"]["properties"]["pmu"]["default"] = "on"          # same key, different dict: its own kind
    kinds, excluded = fleet._group(facts)
    assert excluded == [] and [kind.hosts for kind in kinds] == [["h0", "h1", "h2", "h4"], ["h3"]]
    assert len({kind.class_id for kind in kinds}) == 1


# placement

def test_placement_says_why_each_host_cannot():
    request = {"mode": "host-passthrough", "features": [{"name": "hw_prop_WRPs", "value": "5"},
                                                        {"name": "hw_prop_API", "value": "pauth"}]}
    result = fleet.placement(request, dict(small("a1", "a2", "b1", "t1", "u1"), gone=None))
    assert result["ok"] == ["a1", "a2", "b1"] and result["failed"] == ["gone", "t1", "u1"]
    assert result["summary"] == {"hosts": 6, "ok": 3, "failed": 3,
                                 "rules": {"bad-props": 1, "host-unsupported": 1, "unknown-property": 1,
                                           "untranslatable": 1}}
    assert result["hosts"]["a2"] == {"ok": True, "class": result["hosts"]["a1"]["class"], "errors": []}
    t1 = result["hosts"]["t1"]
    assert [(error["host"], error["feature"], error["rule"]) for error in t1["errors"]] == [
        ("t1", "hw_prop_WRPs", "unknown-property"), ("t1", "hw_prop_API", "untranslatable")]
    assert t1["errors"][0]["message"] == (
        "t1: hw_prop_WRPs is not among the 3 properties reported. t1 speaks released QEMU's booleans: hw_prop_WRPs "
        "is SYSREG_ID_AA64DFR0_EL1_WRPs there, and it offers no property for it.")
    # t1 has pointer authentication, as the pauth boolean: the fixture's named value is no field value it can give
    assert "hw_prop_API=pauth stands for no exact value of SYSREG_ID_AA64ISAR1_EL1_API" in t1["errors"][1]["message"]
    assert result["hosts"]["u1"]["class"] is None and result["hosts"]["u1"]["errors"][0]["rule"] == "host-unsupported"
    assert result["hosts"]["gone"]["errors"][0]["message"] == "gone: %s." % fleet.NO_FACT


def test_placement_records_are_addressed_to_each_host_of_a_kind():
    facts = {"n1-%02d" % n: copy.deepcopy(N1) for n in range(3)}
    result = fleet.placement([{"name": "hw_prop_WRPs", "value": "4"}], facts)
    assert result["mode"] == "host-passthrough" and result["ok"] == []
    for host, entry in result["hosts"].items():
        [error] = entry["errors"]
        assert error["host"] == host and error["message"].startswith(host + ": hw_prop_WRPs=4 is not supported")
        assert error["allowed"] == ["0-3"]
    first, second = (result["hosts"][host]["errors"][0] for host in ("n1-00", "n1-01"))
    assert first["allowed"] is not second["allowed"]


def test_placement_of_an_empty_request_fits_unsupported_hosts_but_not_hosts_without_a_fact():
    result = fleet.placement({"features": []}, {"u1": SMALL["u1"], "a1": SMALL["a1"], "gone": None})
    assert result["ok"] == ["a1", "u1"] and result["failed"] == ["gone"]


@pytest.mark.parametrize("request_, message", [
    ({"mode": "custom", "model": "a57", "features": []}, "at mode: 'custom' is not one of host-passthrough, maximum"),
    ({"features": [], "cpu": "x"}, "unknown key"),
    ({"mode": "maximum"}, "features is missing"),
    ("pmu=on", "a policy is a mapping with features"),
])
def test_placement_refuses_a_malformed_request(request_, message):
    with pytest.raises((TypeError, ValueError), match=message):
        fleet.placement(request_, {"a1": SMALL["a1"]})


# recommendation

def test_recommendation_is_the_richest_common_request_by_hand():
    pool = small("a1", "a2", "b1")
    policy = fleet.recommend(pool)
    assert policy == {"mode": "host-passthrough", "features": [
        {"name": "feat_RAS", "policy": "require", "value": "1.0"},
        {"name": "hw_prop_API", "policy": "require", "value": "PAuth"},
        {"name": "hw_prop_BRPs", "policy": "require", "value": "2"},
        {"name": "hw_prop_WRPs", "policy": "require", "value": "5"},
        {"name": "pmu", "policy": "require", "value": "on"},
        {"name": "sve", "policy": "require", "value": "off"},
    ]}
    assert fleet.recommend(fleet.baseline(pool)) == policy


@pytest.mark.parametrize("hosts", [("a1", "a2", "b1"), ("a1", "t1"), ("b1",), ("t1", "u1")])
def test_recommendation_passes_validation_against_the_baseline_and_every_member(hosts):
    pool = small(*hosts)
    result = fleet.baseline(pool)
    policy = fleet.recommend(result)
    assert check_features(policy["features"], result)[1] == []
    for host in result["members"]:
        assert check_features(policy["features"], pool[host], host)[1] == []
    assert [feature["name"] for feature in policy["features"]] == sorted(result["properties"])
    assert _cpu_policy.check(policy) == []   # a policy every reader takes


def test_recommendation_of_real_facts():
    policy = fleet.recommend({"n1-01": N1, "v1-01": V1})
    chosen = {feature["name"]: feature["value"] for feature in policy["features"]}
    assert chosen == {"feat_CSV2": "1.0", "feat_RAS": "1.0", "hw_prop_APA": "off", "hw_prop_API": "off",
                      "hw_prop_BRPs": "5", "hw_prop_CTX_CMPs": "1", "hw_prop_DCZID_BS": "4", "hw_prop_PMUVer": "4",
                      "hw_prop_WRPs": "3", "pmu": "on", "sve": "off"}
    assert fleet.recommend(V1)["features"][-4:] == [
        {"name": name, "policy": "require", "value": value}
        for name, value in (("sve", "on"), ("sve128", "on"), ("sve256", "on"), ("sve512", "off"))]


@pytest.mark.parametrize("prop, expected", [
    (Property("x", "number", ["1", "4", "off"]), "4"),
    (Property("x", "number", ["8-15", "0-3"]), "15"),
    (Property("x", "number", ["off"]), "off"),
    (Property("x", "string", ["0.0", "1.1_base", "off"]), "1.1_base"),
    (Property("x", "string", ["OFF"]), "OFF"),
    (Property("x", "bool", ["off", "on"]), "on"),
    (Property("x", "bool", ["false"]), "off"),
    (Property("x", "uint64", ["0x411fd401"]), "0x411fd401"),
    (Property("x", "string", ["has space"]), None),
    (Property("x", "string", []), None),
])
def test_richest_value(prop, expected):
    assert fleet.richest_value(prop) == expected


def test_nothing_to_recommend_without_members_or_with_a_wrong_input():
    with pytest.raises(ValueError, match="nothing to recommend: no supported host"):
        fleet.recommend({"u1": SMALL["u1"]})
    with pytest.raises(ValueError, match="not an arm_cpu_props fact"):
        fleet.recommend({"supported": True, "properties": {"x": {"type": "bool"}}})


# scale: the same code on a synthetic fleet, checked against a naive fold over every host

def synthetic_fleet(hosts=10000, props=150, kinds=50):
    """{host: fact} with ``kinds`` kinds of host that differ in 10 properties each (the benchmark's generator);
    every host is its own dict, as hostvars are."""
    facts = kind_facts(props, kinds)
    return json.loads(json.dumps({"host%05d" % n: facts[n % kinds] for n in range(hosts)}))


def test_synthetic_fleet_agrees_with_a_naive_fold():
    facts = synthetic_fleet(hosts=300, props=30, kinds=7)
    result = fleet.baseline(facts)
    naive = None
    for host in sorted(facts):
        props = HostProps.from_fact(facts[host]).properties
        naive = props if naive is None else {name: prop.intersect(props[name]) for name, prop in naive.items()}
    assert result["properties"] == {name: prop.to_fact() for name, prop in naive.items() if prop.supported_values}
    assert sorted(result["empty"]) == sorted(name for name, prop in naive.items() if not prop.supported_values)
    assert len(fleet.classes(facts)["classes"]) == 7 and len(result["members"]) == 300


# two spellings of one value: "k" and the KELVIN SIGN (U+212A), whose lower() is "k"

KELVIN = "\u212a"


@pytest.mark.parametrize("listed", [[KELVIN, "k"], ["k", KELVIN], [KELVIN, "K"], ["K", KELVIN, "k"]],
                         ids=["kelvin-k", "k-kelvin", "kelvin-K", "K-kelvin-k"])
def test_two_spellings_of_one_value_recommend_what_validation_renders_in_any_order(listed):
    """The recommendation took the last listed spelling ("k") and validation rendered the first (the KELVIN SIGN,
    no token), so the pool's recommendation raised. Both now take Property.match, which is order-independent."""
    fact = one_prop("string", listed)
    policy = fleet.recommend({"hv-01": fact})
    pinned = {feature["name"]: feature["value"] for feature in policy["features"]}
    ascii_spellings = [value for value in listed if value != KELVIN]
    assert pinned == {"x": "k" if "k" in listed else "K"}
    prop = Property("x", "string", listed)
    assert prop.match("k") == ("k" if "k" in listed else "K") and prop.match("K") == min(ascii_spellings)
    assert prop.match(" K ") == min(ascii_spellings)   # spaces around a request are not part of the value
    assert fleet.placement(policy, {"hv-01": fact})["ok"] == ["hv-01"]
    reversed_fact = one_prop("string", list(reversed(listed)))
    assert fleet.recommend({"hv-01": reversed_fact}) == policy
    assert fleet.class_id(HostProps.from_fact(fact)) == fleet.class_id(HostProps.from_fact(reversed_fact))


def test_a_value_listed_only_as_a_look_alike_is_not_pinned():
    fact = one_prop("string", [KELVIN], y={"type": "number", "supported_values": ["007", "off"]})
    assert fleet.richest_value(Property("x", "string", [KELVIN])) is None
    assert fleet.recommend({"hv-01": fact})["features"] == [{"name": "y", "policy": "require", "value": "off"}]
