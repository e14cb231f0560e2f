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

from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import fleet
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import policy as _cpu_policy
from ansible_collections.armvirt.cpu.plugins.module_utils._host import vocabulary
from ansible_collections.armvirt.cpu.plugins.module_utils._host.props import HostProps, Property
from ansible_collections.armvirt.cpu.plugins.module_utils._guest.validate import check_features

ROOT = pathlib.Path(__file__).resolve().parents[5]
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


WRPS, BRPS, API = "SYSREG_ID_AA64DFR0_EL1_WRPs", "SYSREG_ID_AA64DFR0_EL1_BRPs", "SYSREG_ID_AA64ISAR1_EL1_API"
RAS, RAS_FRAC, SVE = "SYSREG_ID_AA64PFR0_EL1_RAS", "SYSREG_ID_AA64PFR1_EL1_RAS_frac", "SYSREG_ID_AA64PFR0_EL1_SVE"
CSV2, CSV2_FRAC, PMUVER = "SYSREG_ID_AA64PFR0_EL1_CSV2", "SYSREG_ID_AA64PFR1_EL1_CSV2_frac", \
    "SYSREG_ID_AA64DFR0_EL1_PMUVer"


def on_host(features, fact, host):
    """Every problem of a request in canonical names on one host: its translation into the host's names, then
    validation on the host's own fact."""
    own, problems = vocabulary.to_host(features, fact, host)
    return problems + [error.message for error in check_features(own, fact, host)[1]]


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
    """By canonical field (SYSREG_<REG>_<FIELD>, hex): the hosts speak feat_/hw_prop_ names and booleans."""
    result = fleet.baseline(small("a1", "a2", "b1"), "rack7")
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
    assert values(fleet.baseline({"b": lower, "a": upper}), "x") == ["PAuth"]
    assert values(fleet.baseline({"a": lower, "b": upper}), "x") == ["pauth"]


def test_result_does_not_depend_on_input_order():
    hosts = small("a1", "a2", "b1", "t1", "u1")
    backwards = dict(reversed(list(hosts.items())))
    assert fleet.baseline(hosts) == fleet.baseline(backwards)
    assert fleet.classes(hosts) == fleet.classes(backwards)


def test_real_fixture_pair_matches_the_hand_made_fleet_baseline():
    """The hand-made baseline (host names) read in canonical fields is ours, less what differs from host to host
    (coupled_values: the pairs each host offers) and host_names, which both hosts share and the fixture lacks."""
    result = fleet.baseline({"v1-01": V1, "n1-01": N1}, "fleet-arm64")
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
    result = fleet.baseline({"h1": first, "h2": second})
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
    assert check_features([{"name": SVE, "value": "0"}], result)[1] == []
    [error] = check_features([{"name": SVE, "value": "1"}], result)[1]
    assert error.host == "mixed" and error.rule == "value-not-supported"
    [error] = check_features([{"name": PMUVER, "value": "1"}], result)[1]    # pmu: every member speaks a boolean
    assert error.rule == "unknown-property"
    full = fleet.baseline(small("a1", "b1"))
    assert check_features([{"name": WRPS, "value": "5"}], full)[0] == [
        {"name": WRPS, "policy": "require", "value": "0x5"}]


# classes

def test_same_kind_listed_differently_is_one_class_and_fallback_hosts_are_their_own():
    result = fleet.classes(small("a1", "a2", "b1", "t1", "u1"))
    CLASSES_SCHEMA.validate(result)
    ids = result["hosts"]
    assert sorted(ids) == ["a1", "a2", "b1", "t1"] and ids["a1"] == ids["a2"]
    assert len({ids["a1"], ids["b1"], ids["t1"]}) == 3
    assert result["excluded"] == [{"host": "u1", "reason": "arm_cpu_props reports supported: false (%s)"
                                   % SMALL["u1"]["reason"]}]
    # 8 host properties: 6 fields in canonical names (feat_RAS and feat_CSV2 are two each; pmu's PMUVer unknown)
    # and hw_prop_MIDR, which no entry of the vocabulary knows
    assert result["classes"][ids["a1"]] == {
        "hosts": ["a1", "a2"], "count": 2, "representative": "a1", "dialect": "query-arm-cpu-props-info",
        "properties_count": 9, "cpu_names": [], "midr": None, "kernel_cmdline_overrides": None,
        "summary": "2 hosts like a1: 9 properties from query-arm-cpu-props-info"}
    assert result["classes"][ids["t1"]]["dialect"] == "query-cpu-model-expansion"


HOSTS = pathlib.Path(__file__).resolve().parents[5] / "tools" / "armsim" / "hosts"


def _with_identity(fact, tree):
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import hostid
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
    # QEMU 7.2's 21 booleans in canonical fields: sve is ID_AA64PFR0_EL1.SVE, pmu's and pauth's fields are unknown
    # (on is the host's own value, which booleans do not tell), pauth-impdef selects an algorithm: 18 properties
    assert "Neoverse-N1, 18 properties" in result["classes"][ids["n1"]]["summary"]
    # firmware and hwcaps are not part of the class: the same CPU with other firmware is the same class
    other_fw = copy.deepcopy(n1)
    other_fw["host_cpu"]["firmware"] = {"vendor": "Ampere(R)", "version": "F32", "date": "01/01/2026"}
    assert fleet.classes({"n1": n1, "fw": other_fw})["hosts"]["fw"] == ids["n1"]
    # the baseline of such a fleet is still the common CPU: classes split, the baseline does not change
    assert fleet.baseline({"n1": n1, "a72": a72})["properties"] == fleet.baseline({"n1": QEMU72})["properties"]


def test_class_ids_are_stable_across_runs_and_fleets():
    # Pinned: a change here changes every id a deployed report or inventory may refer to. The ids are made of the
    # canonical fields since classes compare hosts of every dialect by field (issue 19), which changed them once.
    assert fleet.classes({"n1": N1})["hosts"] == {"n1": "cpu-ece2dfbe32"}
    assert fleet.classes({"v1": V1, "other": N1})["hosts"] == {"other": "cpu-ece2dfbe32", "v1": "cpu-77ca8a3ee4"}
    # the fact recorded from the real QEMU 7.2 (aarch64 on only, sve128 off only with sve=off)
    assert fleet.classes({"tcg": QEMU72})["hosts"] == {"tcg": "cpu-073958f3ee"}
    # defaults, meta data and extra keys are not part of what a host accepts
    other = dict(copy.deepcopy(N1), qemu_version="9.2.0", source="cache")
    other["properties"]["pmu"]["default"] = "on"
    other["properties"]["pmu"]["note"] = "from a newer probe"
    assert fleet.classes({"n1-b": other})["hosts"] == {"n1-b": "cpu-ece2dfbe32"}


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
    """In canonical names: feat_RAS 1.0 is RAS 1 with RAS_frac 0; hw_prop_API only off (0) in canonical terms;
    pmu is not pinned (its PMUVer is unknown on hosts that give it as a boolean); CSV2_frac 0 is shared but CSV2
    is not, and these hosts name the two only together (feat_CSV2), so neither is pinned."""
    pool = small("a1", "a2", "b1")
    policy = fleet.recommend(pool)
    assert policy == {"mode": "host-passthrough", "features": [
        {"name": BRPS, "policy": "require", "value": "0x2"},
        {"name": WRPS, "policy": "require", "value": "0x5"},
        {"name": API, "policy": "require", "value": "0x0"},
        {"name": RAS, "policy": "require", "value": "0x1"},
        {"name": SVE, "policy": "require", "value": "0x0"},
        {"name": RAS_FRAC, "policy": "require", "value": "0x0"},
    ]}
    assert fleet.recommend(fleet.baseline(pool)) == policy == fleet.recommend(fleet.baseline(pool), members=pool)
    own = vocabulary.to_host(policy["features"], pool["a1"], "a1")[0]
    assert {feature["name"]: feature.get("value") for feature in own} == {
        "hw_prop_BRPs": "2", "hw_prop_WRPs": "5", "hw_prop_API": "off", "feat_RAS": "1.0", "sve": "off"}


@pytest.mark.parametrize("hosts", [("a1", "a2", "b1"), ("a1", "t1"), ("b1",), ("t1", "u1")])
def test_recommendation_passes_validation_against_the_baseline_and_every_member(hosts):
    pool = small(*hosts)
    result = fleet.baseline(pool)
    policy = fleet.recommend(result, members=pool)
    assert check_features(policy["features"], result)[1] == []
    for host in result["members"]:
        assert on_host(policy["features"], pool[host], host) == []
    names = [feature["name"] for feature in policy["features"]]
    assert names == sorted(names) and set(names) <= set(result["properties"])
    assert _cpu_policy.check(policy) == []   # a policy every reader takes


def test_recommendation_of_real_facts():
    """feat_CSV2 1.0 and feat_RAS 1.0 as their two fields each, the pointer-auth fields off (0), sve off as
    ID_AA64PFR0_EL1.SVE 0; PMUVer 4 says pmu on. hw_prop_DCZID_BS is no name of the vocabulary: kept as it is."""
    policy = fleet.recommend({"n1-01": N1, "v1-01": V1})
    chosen = {feature["name"]: feature["value"] for feature in policy["features"]}
    assert chosen == {CSV2: "0x1", CSV2_FRAC: "0x0", RAS: "0x1", RAS_FRAC: "0x0",
                      "SYSREG_ID_AA64ISAR1_EL1_APA": "0x0", API: "0x0", BRPS: "0x5",
                      "SYSREG_ID_AA64DFR0_EL1_CTX_CMPs": "0x1", "hw_prop_DCZID_BS": "4", PMUVER: "0x4", WRPS: "0x3",
                      SVE: "0x0"}
    # on N1, in its own names: the recommendation before canonical fields
    own, problems = vocabulary.to_host(policy["features"], N1, "n1-01")
    assert problems == [] and {feature["name"]: feature["value"] for feature in own} == {
        "feat_CSV2": "1.0", "feat_RAS": "1.0", "hw_prop_APA": "off", "hw_prop_API": "off", "hw_prop_BRPs": "5",
        "hw_prop_CTX_CMPs": "1", "hw_prop_DCZID_BS": "4", "hw_prop_PMUVer": "4", "hw_prop_WRPs": "3",
        "sve": "off"}
    assert fleet.recommend(V1)["features"][-3:] == [
        {"name": name, "policy": "require", "value": value}
        for name, value in (("sve128", "on"), ("sve256", "on"), ("sve512", "off"))]
    assert {"name": SVE, "policy": "require", "value": "0x1"} in fleet.recommend(V1)["features"]


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
