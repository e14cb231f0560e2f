"""fleet recommendation: the richest policy every member of a pool accepts, with hand-checked expectations."""

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import baseline, grouping, placement, recommend
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import policy as _cpu_policy
from ansible_collections.armvirt.cpu.plugins.module_utils._host import vocabulary
from ansible_collections.armvirt.cpu.plugins.module_utils._host.props import HostProps, Property
from ansible_collections.armvirt.cpu.plugins.module_utils._guest.validate import check_features
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils._fleet.fleet_cases import (
    API, BRPS, CSV2, CSV2_FRAC, N1, PMUVER, RAS, RAS_FRAC, SMALL, SVE, V1, WRPS, on_host, one_prop, small)


def test_recommendation_is_the_richest_common_request_by_hand():
    """In canonical names: feat_RAS 1.0 is RAS 1 with RAS_frac 0; hw_prop_API only off (0) in canonical terms;
    pmu is not pinned (its PMUVer is unknown on hosts that give it as a boolean); CSV2_frac 0 is shared but CSV2
    is not, and these hosts name the two only together (feat_CSV2), so neither is pinned."""
    pool = small("a1", "a2", "b1")
    policy = recommend.recommend(pool)
    assert policy == {"mode": "host-passthrough", "features": [
        {"name": BRPS, "policy": "require", "value": "0x2"},
        {"name": WRPS, "policy": "require", "value": "0x5"},
        {"name": API, "policy": "require", "value": "0x0"},
        {"name": RAS, "policy": "require", "value": "0x1"},
        {"name": SVE, "policy": "require", "value": "0x0"},
        {"name": RAS_FRAC, "policy": "require", "value": "0x0"},
    ]}
    assert recommend.recommend(baseline.baseline(pool)) == policy == recommend.recommend(baseline.baseline(pool), members=pool)
    own = vocabulary.to_host(policy["features"], pool["a1"], "a1")[0]
    assert {feature["name"]: feature.get("value") for feature in own} == {
        "hw_prop_BRPs": "2", "hw_prop_WRPs": "5", "hw_prop_API": "off", "feat_RAS": "1.0", "sve": "off"}


@pytest.mark.parametrize("hosts", [("a1", "a2", "b1"), ("a1", "t1"), ("b1",), ("t1", "u1")])
def test_recommendation_passes_validation_against_the_baseline_and_every_member(hosts):
    pool = small(*hosts)
    result = baseline.baseline(pool)
    policy = recommend.recommend(result, members=pool)
    assert check_features(policy["features"], result)[1] == []
    for host in result["members"]:
        assert on_host(policy["features"], pool[host], host) == []
    names = [feature["name"] for feature in policy["features"]]
    assert names == sorted(names) and set(names) <= set(result["properties"])
    assert _cpu_policy.check(policy) == []   # a policy every reader takes


def test_recommendation_of_real_facts():
    """feat_CSV2 1.0 and feat_RAS 1.0 as their two fields each, the pointer-auth fields off (0), sve off as
    ID_AA64PFR0_EL1.SVE 0; PMUVer 4 says pmu on. hw_prop_DCZID_BS is no name of the vocabulary: kept as it is."""
    policy = recommend.recommend({"n1-01": N1, "v1-01": V1})
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
    assert recommend.recommend(V1)["features"][-3:] == [
        {"name": name, "policy": "require", "value": value}
        for name, value in (("sve128", "on"), ("sve256", "on"), ("sve512", "off"))]
    assert {"name": SVE, "policy": "require", "value": "0x1"} in recommend.recommend(V1)["features"]


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
    assert recommend.richest_value(prop) == expected


def test_nothing_to_recommend_without_members_or_with_a_wrong_input():
    with pytest.raises(ValueError, match="nothing to recommend: no supported host"):
        recommend.recommend({"u1": SMALL["u1"]})
    with pytest.raises(ValueError, match="not an arm_cpu_props fact"):
        recommend.recommend({"supported": True, "properties": {"x": {"type": "bool"}}})


# two spellings of one value: "k" and the KELVIN SIGN (U+212A), whose lower() is "k"

KELVIN = "\u212a"


@pytest.mark.parametrize("listed", [[KELVIN, "k"], ["k", KELVIN], [KELVIN, "K"], ["K", KELVIN, "k"]],
                         ids=["kelvin-k", "k-kelvin", "kelvin-K", "K-kelvin-k"])
def test_two_spellings_of_one_value_recommend_what_validation_renders_in_any_order(listed):
    """The recommendation took the last listed spelling ("k") and validation rendered the first (the KELVIN SIGN,
    no token), so the pool's recommendation raised. Both now take Property.match, which is order-independent."""
    fact = one_prop("string", listed)
    policy = recommend.recommend({"hv-01": fact})
    pinned = {feature["name"]: feature["value"] for feature in policy["features"]}
    ascii_spellings = [value for value in listed if value != KELVIN]
    assert pinned == {"x": "k" if "k" in listed else "K"}
    prop = Property("x", "string", listed)
    assert prop.match("k") == ("k" if "k" in listed else "K") and prop.match("K") == min(ascii_spellings)
    assert prop.match(" K ") == min(ascii_spellings)   # spaces around a request are not part of the value
    assert placement.placement(policy, {"hv-01": fact})["ok"] == ["hv-01"]
    reversed_fact = one_prop("string", list(reversed(listed)))
    assert recommend.recommend({"hv-01": reversed_fact}) == policy
    assert grouping.class_id(HostProps.from_fact(fact)) == grouping.class_id(HostProps.from_fact(reversed_fact))


def test_a_value_listed_only_as_a_look_alike_is_not_pinned():
    fact = one_prop("string", [KELVIN], y={"type": "number", "supported_values": ["007", "off"]})
    assert recommend.richest_value(Property("x", "string", [KELVIN])) is None
    assert recommend.recommend({"hv-01": fact})["features"] == [{"name": "y", "policy": "require", "value": "off"}]
