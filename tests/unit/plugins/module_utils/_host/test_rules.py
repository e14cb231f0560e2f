"""The rule model (rules.py) through validate: hand-checked cases for the SVE, pointer-authentication and PMU families.

TCG cases use the fact the collection's probe records for Debian's QEMU 7.2 (tests/fixtures/facts); their verdicts are
QEMU's own (tests/qtest/arm-cpu-features.c, and the differential test in tests/reliability, which asks the real QEMU).
KVM cases use a small hand-written host: SVE lengths 128 and 256, QARMA5 pointer authentication (APA=3, GPA=1), PMUv3
for Armv8.4 (PMUVer up to 5), each ID field offered as KVM lets a VMM set it.
"""

import json
import pathlib

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import baseline, recommend
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
from ansible_collections.armvirt.cpu.plugins.module_utils._host import props, rules

FACTS = pathlib.Path(__file__).resolve().parents[5] / "tests" / "fixtures" / "facts"
TCG_FACT = json.loads((FACTS / "qemu-7.2-released.json").read_text())


def _bool(*values, default=None):
    prop = {"type": "bool", "supported_values": list(values)}
    if default:
        prop["default"] = default
    return prop


def _number(*values):
    return {"type": "number", "supported_values": list(values)}


KVM_FACT = {
    "supported": True, "dialect": "query-arm-cpu-props-info", "accel": "kvm", "emulator": "/usr/bin/qemu-kvm",
    "qemu_version": "9.0.2", "source": "probe", "reason": None, "cpu_model": "host",
    "properties": {
        "sve": _bool("on", "off"), "sve128": _bool("on", "off"), "sve256": _bool("on", "off"),
        "sve384": _bool("off"), "sve512": _bool("off"),
        "pauth": _bool("on", "off"), "pmu": _bool("on", "off"), "kvm-no-adjvtime": _bool("on", "off"),
        "kvm-steal-time": _bool("on", "off"),
        "feat_SVE": _number("1", "off"), "hw_prop_SVEver": _number("0", "off"),
        "hw_prop_PMUVer": _number("0-1", "4-5", "off"),
        "hw_prop_APA": _number("3", "off"), "hw_prop_API": _number("0"), "hw_prop_APA3": _number("0"),
        "hw_prop_GPA": _number("1", "off"), "hw_prop_GPI": _number("0"),
        "hw_prop_WRPs": _number("0-3"),
    },
}


def verdict(features, fact):
    """The rule ids of the broken rules (and any other rule) for a request, in order."""
    return [error.rule for error in validate.check_features(features, fact, "h")[1]]


def req(**settings):
    return [{"name": name.replace("_", "-") if not name.startswith(("hw_", "feat_")) else name, "value": value}
            for name, value in settings.items()]


# --- SVE under TCG: QEMU's own qtest cases (model max, every length supported, powers of two implied) -----------------

@pytest.mark.parametrize("settings, rule", [
    ({"sve": "off"}, None),
    ({"sve128": "off"}, "sve-no-length"),
    ({"sve384": "on"}, None),
    ({"sve384": "off"}, None),
    ({"sve1024": "on", "sve384": "off"}, None),
    ({"sve1024": "on", "sve256": "off"}, "sve-length-pow2"),
    ({"sve384": "on", "sve512": "off", "sve640": "on"}, "sve-length-pow2"),
    ({"sve512": "off"}, None),
    ({"sve384": "on", "sve512": "on", "sve640": "off"}, None),
    ({"sve": "off", "sve256": "on"}, "sve-length-needs-sve"),
    ({"sve": "off", "sve128": "off"}, None),
    ({"sve": "off", "sve2048": "off", "sve128": "off"}, None),
    ({"pauth": "off", "pauth-impdef": "on"}, "pauth-impdef-needs-pauth"),
    ({"pauth": "off", "pauth-impdef": "off"}, None),
    ({"pauth-impdef": "on"}, None),
])
def test_tcg_cases(settings, rule):
    features = [{"name": name, "value": value} for name, value in settings.items()]
    assert verdict(features, TCG_FACT) == ([rule] if rule else [])


def test_tcg_messages_say_what_to_change():
    (error,) = validate.check_features([{"name": "sve", "policy": "disable"}, {"name": "sve256"}], TCG_FACT, "t1")[1]
    assert error.as_dict() == {
        "host": "t1", "feature": "sve256", "value": None, "allowed": ["on", "off"], "rule": "sve-length-needs-sve",
        "message": "t1: sve256=on needs sve=on (QEMU: cannot enable sve256); set sve=on, or leave the vector "
                   "lengths out."}
    (error,) = validate.check_features([{"name": "sve512", "value": "off"}, {"name": "sve640", "value": "on"}],
                                       TCG_FACT, "t1")[1]
    assert (error.feature, error.value, error.rule) == ("sve512", "off", "sve-length-pow2")
    assert "QEMU: cannot disable sve512" in error.message and "enable sve512 or disable sve640" in error.message


def test_conditional_value_only_with_its_condition():
    """sve128=off is listed (QEMU accepts it with sve=off) but refused alone, by the rule the fact names."""
    condition = TCG_FACT["properties"]["sve128"]["conditional_values"]["off"]
    assert condition == {"with": {"sve": "off"}, "rule": "sve-no-length"}
    assert verdict([{"name": "sve128", "policy": "disable"}], TCG_FACT) == [condition["rule"]]
    features = [{"name": "sve128", "policy": "disable"}] + [
        {"name": name, "value": value} for name, value in condition["with"].items()]
    assert verdict(features, TCG_FACT) == []


def test_qemu_cpu_arg_refuses_what_qemu_refuses():
    with pytest.raises(validate.FeatureRequestError) as caught:
        validate.qemu_cpu_arg([{"name": "pauth", "policy": "disable"}, {"name": "pauth-impdef"}], "maximum", TCG_FACT)
    assert [error.rule for error in caught.value.errors] == ["pauth-impdef-needs-pauth"]
    assert validate.qemu_cpu_arg([{"name": "sve", "policy": "disable"}, {"name": "sve128", "policy": "disable"}],
                                 "maximum", TCG_FACT) == "max,sve=off,sve128=off"


# --- SVE under KVM: every smaller host-supported length is implied; only host lengths exist ---------------------------

@pytest.mark.parametrize("settings, rules_broken", [
    ({"sve256": "on"}, []),
    ({"sve256": "off"}, []),                           # leaves sve128
    ({"sve128": "off"}, ["sve-no-length"]),            # the smallest host length: nothing left
    ({"sve128": "off", "sve256": "on"}, ["sve-length-host"]),
    ({"sve": "off", "sve128": "off", "sve256": "off"}, []),
    ({"sve": "off", "sve256": "on"}, ["sve-length-needs-sve"]),
    ({"sve512": "on"}, ["value-not-supported"]),       # not a host length: the property itself says so
])
def test_kvm_sve_cases(settings, rules_broken):
    assert verdict(req(**settings), KVM_FACT) == rules_broken


def test_same_request_differs_between_tcg_and_kvm():
    """sve128=off with sve384=on: TCG implies only powers of two (sve256), KVM every host length below."""
    tcg = dict(TCG_FACT)
    assert verdict(req(sve128="off", sve384="on"), tcg) == ["sve-length-pow2"]
    kvm_like = dict(TCG_FACT, accel="kvm")
    assert verdict(req(sve256="off", sve384="on"), kvm_like) == ["sve-length-host"]
    assert verdict(req(sve256="off", sve384="on"), tcg) == ["sve-length-pow2"]
    assert verdict(req(sve384="off", sve512="on"), tcg) == []
    assert verdict(req(sve384="off", sve512="on"), kvm_like) == ["sve-length-host"]


# --- gated ID fields: SVE, PMU, pointer authentication ------------------------------------------------------------------

@pytest.mark.parametrize("settings, rules_broken", [
    ({"sve": "off", "feat_SVE": "1"}, ["sve-fields-need-sve"]),
    ({"sve": "off", "feat_SVE": "off", "hw_prop_SVEver": "off"}, []),
    ({"sve": "on", "feat_SVE": "off"}, ["sve-fields-need-sve"]),
    ({"feat_SVE": "off"}, []),                          # the switch left at its default: the field decides
    ({"pmu": "off", "hw_prop_PMUVer": "5"}, ["pmu-fields-need-pmu"]),
    ({"pmu": "off", "hw_prop_PMUVer": "off"}, []),
    ({"pmu": "on", "hw_prop_PMUVer": "0"}, ["pmu-fields-need-pmu"]),
    ({"pmu": "on", "hw_prop_PMUVer": "4"}, []),
    ({"pauth": "off", "hw_prop_APA": "3"}, ["pauth-fields-need-pauth"]),
    ({"pauth": "on", "hw_prop_APA": "3", "hw_prop_GPA": "1", "hw_prop_API": "0"}, []),
    ({"pauth": "on", "hw_prop_APA": "off", "hw_prop_GPA": "1"}, ["pauth-algorithm-pairs"]),
    ({"hw_prop_APA": "3", "hw_prop_GPA": "off"}, ["pauth-algorithm-pairs"]),
    ({"pauth": "on", "hw_prop_APA": "off", "hw_prop_GPA": "off", "hw_prop_API": "0", "hw_prop_GPI": "0",
      "hw_prop_APA3": "0"}, ["pauth-fields-need-pauth"]),   # pauth needs an algorithm
    ({"pauth": "off", "hw_prop_APA": "off", "hw_prop_GPA": "off"}, []),
])
def test_gated_fields(settings, rules_broken):
    assert verdict(req(**settings), KVM_FACT) == rules_broken


def test_every_broken_rule_is_reported_at_once():
    got = verdict(req(sve="off", sve256="on", feat_SVE="1", pmu="off", hw_prop_PMUVer="5"), KVM_FACT)
    assert sorted(got) == ["pmu-fields-need-pmu", "sve-fields-need-sve", "sve-length-needs-sve"]


def test_two_algorithms_at_once():
    fact = json.loads(json.dumps(KVM_FACT))
    fact["properties"]["hw_prop_API"] = _number("0-1")
    fact["properties"]["hw_prop_GPI"] = _number("0-1")
    assert verdict(req(hw_prop_APA="3", hw_prop_GPA="1", hw_prop_API="1", hw_prop_GPI="1"), fact) == [
        "pauth-algorithm-pairs"]


# --- the table itself ---------------------------------------------------------------------------------------------------

def test_table_is_complete_data():
    assert len(set(rules.RULE_IDS)) == len(rules.RULES)
    assert set(rules.RULE_IDS) <= set(validate.ALL_RULE_IDS)
    for rule in rules.RULES:
        assert rule.kind in ("vector-lengths", "requires", "at-most-one", "gate", "algorithm-pairs"), rule
        assert rule.accels and set(rule.accels) <= set(names.ACCELS), rule
        assert rule.source and rule.summary.endswith("."), rule
    tcg_only = {rule.id for rule in rules.RULES if rule.accels == (names.TCG,)}
    assert {"sve-length-pow2", "pauth-impdef-needs-pauth"} <= tcg_only
    assert [rule.id for rule in rules.RULES if rule.accels == (names.KVM,)] == ["sve-length-host"]


def test_vm_switches():
    assert rules.is_vm_switch("kvm-no-adjvtime") and rules.is_vm_switch("kvm-steal-time")
    assert rules.is_vm_switch("kvm-future-knob")
    assert not any(rules.is_vm_switch(name) for name in ("pmu", "sve", "pauth", "aarch64", "feat_RAS"))


def test_companions_name_the_switch():
    names = KVM_FACT["properties"]
    assert rules.companions("sve128", "off", names) == {("sve", "off"): "sve-no-length"}
    assert rules.companions("hw_prop_PMUVer", "off", names) == {}   # the probe flips booleans only
    assert rules.companions("sve128", "on", names) == {}
    assert rules.companions("hw_prop_WRPs", "off", names) == {}


# --- recommendations hold ---------------------------------------------------------------------------------------------

def test_recommendation_never_pins_vm_switches_and_passes_the_rules():
    policy = recommend.recommend({"k1": KVM_FACT})
    names = {feature["name"] for feature in policy["features"]}
    assert not names & {"kvm-no-adjvtime", "kvm-steal-time"}
    assert validate.check_features(policy["features"], KVM_FACT, "k1")[1] == []
    pinned = {feature["name"]: feature["value"] for feature in policy["features"]}
    # recommendations speak canonical fields: the pointer-authentication family by its ID-register fields
    pauth = tuple(pinned["SYSREG_ID_AA64ISAR1_EL1_%s" % field] for field in ("APA", "GPA", "API", "GPI"))
    assert pauth == ("0x3", "0x1", "0x0", "0x0") and "pauth" not in pinned


def test_recommendation_of_a_pool_with_two_algorithms_turns_pauth_off():
    """One member uses QARMA5 (APA/GPA), the other IMPDEF (API/GPI): the common CPU can have neither."""
    other = json.loads(json.dumps(KVM_FACT))
    other["properties"].update(hw_prop_APA=_number("0", "off"), hw_prop_GPA=_number("0", "off"),
                               hw_prop_API=_number("1", "off"), hw_prop_GPI=_number("1", "off"))
    pool = {"qarma5": KVM_FACT, "impdef": other}
    policy = recommend.recommend(pool)
    pinned = {feature["name"]: feature["value"] for feature in policy["features"]}
    # every algorithm field at 0: pointer authentication off, which both members can give (the fields are
    # lower-safe in this dialect's facts, so the pool meets at the lowest value)
    assert {pinned["SYSREG_ID_AA64ISAR1_EL1_%s" % field] for field in ("APA", "GPA", "API", "GPI")} == {"0x0"}
    for host, fact in pool.items():
        assert validate.check_features(policy["features"], fact, host)[1] == []


def test_baseline_keeps_conditions():
    base = baseline.baseline({"t1": TCG_FACT, "t2": TCG_FACT})
    assert base["properties"]["sve128"]["conditional_values"] == {"off": {"with": {"sve": "off"},
                                                                          "rule": "sve-no-length"}}
    plain = json.loads(json.dumps(TCG_FACT))
    del plain["properties"]["sve128"]["conditional_values"]
    base = baseline.baseline({"a": plain, "b": TCG_FACT})
    assert base["properties"]["sve128"]["conditional_values"]["off"]["rule"] == "sve-no-length"
    assert verdict([{"name": "sve128", "policy": "disable"}], base) == ["sve-no-length"]


def test_the_rules_judge_what_goes_on_cpu():
    """The rules see the request as QEMU gets it: policies as on/off, optional left out, values in the host's
    spelling (validate.cpu_settings, the same settings qemu_cpu_arg writes)."""
    normalised = validate.check_features([{"name": "sve", "policy": "require"}, {"name": "pmu", "policy": "disable"},
                                          {"name": "pauth", "policy": "optional"}, {"name": "sve128", "value": "yes"}],
                                         TCG_FACT)[0]
    assert validate.cpu_settings(normalised) == [("sve", "on"), ("pmu", "off"), ("sve128", "on")]
    host = props.HostProps.from_fact(TCG_FACT)
    assert rules.check({"sve": "off", "sve256": "on"}, host, "tcg")[0].rule == "sve-length-needs-sve"


def test_every_rule_is_documented_with_its_accelerators():
    text = (FACTS.parents[1].parent / "docs" / "guest-validation.md").read_text()
    for rule in validate.ALL_RULE_IDS:
        assert "`%s`" % rule in text, rule
    for rule in rules.RULES:
        row = next(line for line in text.splitlines() if line.startswith("| `%s` |" % rule.id))
        accels = row.split("|")[2].strip()
        assert accels == ", ".join(accel.upper() for accel in rule.accels), (rule.id, accels)


QEMU10_TCG = {
    "supported": True, "dialect": "query-cpu-model-expansion", "accel": "tcg", "emulator": "/usr/bin/qemu-system-aarch64",
    "qemu_version": "10.1.0", "source": "probe", "reason": None, "cpu_model": "max",
    "properties": {name: _bool("on", "off", default=default) for name, default in (
        ("pauth", "on"), ("pauth-impdef", "off"), ("pauth-qarma3", "off"), ("pauth-qarma5", "off"), ("pmu", "on"))},
}


@pytest.mark.parametrize("settings, rules_broken", [
    ({"pauth-qarma3": "on"}, []),
    ({"pauth-qarma5": "on", "pauth-qarma3": "on"}, ["pauth-one-algorithm"]),
    ({"pauth-impdef": "on", "pauth-qarma3": "on", "pauth-qarma5": "on"}, ["pauth-one-algorithm"]),
    ({"pauth": "off", "pauth-qarma5": "on"}, ["pauth-qarma5-needs-pauth"]),
])
def test_qemu_10_pointer_authentication_selectors(settings, rules_broken):
    """QEMU 10's three algorithm selectors: at most one, each needing pauth (arm_cpu_pauth_finalize)."""
    assert verdict(req(**settings), QEMU10_TCG) == rules_broken


def test_selectors_are_never_pinned_and_unknown_defaults_judge_nothing():
    policy = recommend.recommend({"t": QEMU10_TCG})
    # a host of booleans only gives the guest its own pointer-authentication and PMU fields, which it does not
    # report: the baseline leaves those fields out with that reason, and nothing of the family is pinned
    assert policy == {"mode": "maximum", "features": []}
    unknown = baseline.baseline({"t": QEMU10_TCG})["unknown"]
    assert "released QEMU's booleans" in unknown["SYSREG_ID_AA64ISAR1_EL1_APA"]["t"]
    no_defaults = json.loads(json.dumps(QEMU10_TCG))
    for prop in no_defaults["properties"].values():
        del prop["default"]
    # without QEMU's defaults no rule can tell what an unset selector is: a request that sets none breaks none
    assert verdict([{"name": "pmu"}], no_defaults) == []
    assert verdict([{"name": "pauth", "policy": "disable"}], no_defaults) == []
    assert validate.check_features(recommend.recommend({"t": no_defaults})["features"], no_defaults, "t")[1] == []


def test_rules_wait_for_every_feature_to_pass_on_its_own():
    """A typo in sve's value must not add an sve-no-length for the sve128=off that needs sve=off."""
    got = verdict([{"name": "sve", "value": "of"}, {"name": "sve128", "policy": "disable"}], TCG_FACT)
    assert got == ["value-not-supported"]


def test_a_signed_field_recommends_its_highest_implemented_value():
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import sysreg
    fact = dict(KVM_FACT, properties={
        "SYSREG_ID_AA64MMFR0_EL1_TGran4": sysreg.read_property("SYSREG_ID_AA64MMFR0_EL1_TGran4", 0).to_fact()})
    assert fact["properties"]["SYSREG_ID_AA64MMFR0_EL1_TGran4"]["supported_values"] == ["0x0", "0xf"]
    (feature,) = recommend.recommend({"k": fact})["features"]
    assert feature["value"] == "0x0"   # 4K granule supported; 0xf would take it away from the guest


def test_recommendation_with_sve_off_and_lengths_on_converges():
    fact = json.loads(json.dumps(TCG_FACT))
    fact["properties"]["sve"] = _bool("off", default="off")
    policy = recommend.recommend({"t": fact})
    pinned = {feature["name"]: feature["value"] for feature in policy["features"]}
    assert pinned["SYSREG_ID_AA64PFR0_EL1_SVE"] == "0x0" and not [name for name in pinned if name.startswith("sve")]


@pytest.mark.parametrize("change, problem", [
    ({"default": True}, "has a default that is not a string"),
    ({"conditional_values": ["off"]}, "has conditional_values that are not a mapping"),
])
def test_a_fact_the_rules_cannot_read_is_bad_props(change, problem):
    fact = json.loads(json.dumps(TCG_FACT))
    fact["properties"]["sve128"].update(change)
    (error,) = validate.check_features([{"name": "sve"}], fact, "h")[1]
    assert error.rule == "bad-props" and problem in error.message
