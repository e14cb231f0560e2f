"""validate: every rule of a guest CPU request, against sample facts of real-looking hosts and a fleet baseline."""

import json
import pathlib

import jsonschema
import pytest
import yaml

from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
from ansible_collections.armvirt.cpu.plugins.module_utils._guest.validate import (
    FeatureError, FeatureRequestError, check_features, qemu_cpu_arg)

ROOT = pathlib.Path(__file__).resolve().parents[5]
FACTS = ROOT / "tests" / "fixtures" / "facts"


def load_fact(name):
    return json.loads((FACTS / (name + ".json")).read_text())


N1, V1, QEMU72 = load_fact("neoverse-n1"), load_fact("neoverse-v1"), load_fact("qemu-7.2-released")
BASELINE, UNSUPPORTED = load_fact("fleet-baseline"), load_fact("qemu-7.2-kvm-unsupported")


def errors_of(features, fact=V1, host="v1-01"):
    normalised, errors = check_features(features, fact, host)
    assert all(isinstance(error, FeatureError) for error in errors)
    return errors


def rules(features, fact=V1, host="v1-01"):
    return [error.rule for error in errors_of(features, fact, host)]


@pytest.mark.parametrize("path", sorted(FACTS.glob("*.json")), ids=lambda path: path.name)
def test_fixture_facts_fit_the_schema(path):
    schema = json.loads((ROOT / "docs" / "schemas" / "arm_cpu_props.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(path.read_text()))


# valid requests and normalisation

def test_valid_request_is_normalised_in_host_spelling():
    features = [{"name": "feat_RAS", "value": "1.1_BASE"}, {"name": "hw_prop_WRPs", "value": "0x2", "policy": "force"},
                {"name": "hw_prop_API", "value": "pauth"}, {"name": "sve", "value": "TRUE"},
                {"name": "hw_prop_PMUVer", "policy": "disable"}, {"name": "sve512", "policy": "forbid"},
                {"name": "pmu", "policy": "optional"}, {"name": "hw_prop_MIDR", "value": "0x411fd401"}]
    assert check_features(features, V1, "v1-01") == ([
        {"name": "feat_RAS", "policy": "require", "value": "1.1_base"},
        {"name": "hw_prop_WRPs", "policy": "force", "value": "2"},
        {"name": "hw_prop_API", "policy": "require", "value": "PAuth"},
        {"name": "sve", "policy": "require", "value": "on"},
        {"name": "hw_prop_PMUVer", "policy": "disable"},
        {"name": "sve512", "policy": "forbid"},
        {"name": "pmu", "policy": "optional"},
        {"name": "hw_prop_MIDR", "policy": "require", "value": "0x411fd401"},
    ], [])


def test_empty_request_is_valid_even_on_an_unsupported_host():
    assert check_features([], UNSUPPORTED, "old-01") == ([], [])


@pytest.mark.parametrize("value, spelled", [("0", "0"), ("3", "3"), ("0x3", "3"), ("0X0", "0")])
def test_number_hex_is_rendered_decimal(value, spelled):
    assert check_features([{"name": "hw_prop_WRPs", "value": value}], N1)[0][0]["value"] == spelled


@pytest.mark.parametrize("value", ["1.1_base", "1.1_BASE", "1.1_Base"])
def test_named_values_match_case_insensitively_in_host_spelling(value):
    assert check_features([{"name": "feat_RAS", "value": value}], V1)[0][0]["value"] == "1.1_base"


@pytest.mark.parametrize("value, spelled", [("on", "on"), ("true", "on"), ("OFF", "off"), ("false", "off")])
def test_bool_values_take_on_off_and_true_false(value, spelled):
    assert check_features([{"name": "sve", "value": value}], V1)[0][0]["value"] == spelled


def test_bool_on_only_where_supported():
    assert rules([{"name": "sve", "value": "on"}], N1) == ["value-not-supported"]
    assert rules([{"name": "sve"}], N1) == ["on-not-supported"]
    assert rules([{"name": "sve", "value": "off"}, {"name": "pmu", "policy": "disable"}], N1) == []


def test_unknown_type_matches_exactly():
    assert rules([{"name": "hw_prop_MIDR", "value": "0x411fd401"}]) == []
    assert rules([{"name": "hw_prop_MIDR", "value": "0x411FD401"}]) == ["value-not-supported"]
    assert rules([{"name": "hw_prop_MIDR", "value": "1092605953"}]) == ["value-not-supported"]


# each rule, with its record

def test_value_not_supported_record_names_host_property_value_and_allowed():
    [error] = errors_of([{"name": "feat_RAS", "value": "1.1"}], N1, "n1-01")
    assert error.as_dict() == {"host": "n1-01", "feature": "feat_RAS", "value": "1.1", "allowed": ["0.0", "1.0"],
                               "rule": "value-not-supported", "message": error.message}
    assert error.message == "n1-01: feat_RAS=1.1 is not supported; supported values (string): 0.0, 1.0."
    assert str(error) == error.message


@pytest.mark.parametrize("value", ["4", "0x4", "off", "-1", "1.0"])
def test_number_outside_the_ranges_is_not_supported(value):
    [error] = errors_of([{"name": "hw_prop_WRPs", "value": value}])
    assert (error.rule, error.allowed) == ("value-not-supported", ["0-3"])
    assert "0-3" in error.message and value in error.message


@pytest.mark.parametrize("value", ["010", "02", "00"])
def test_leading_zero_is_an_error_not_octal(value):
    [error] = errors_of([{"name": "hw_prop_WRPs", "value": value}])
    assert error.rule == "leading-zero"
    assert "octal" in error.message and value in error.message and "0-3" in error.message


@pytest.mark.parametrize("value, quoted, why", [
    (False, 'value: "off"', "boolean"), (True, 'value: "on"', "boolean"),
    (8, 'value: "8"', "octal"), (2, 'value: "2"', "integer"), (1.1, 'value: "1.1"', "float"),
])
def test_value_not_string_suggests_the_quoted_form(value, quoted, why):
    [error] = errors_of([{"name": "hw_prop_WRPs", "value": value}])
    assert (error.rule, error.value, error.feature) == ("value-not-string", value, "hw_prop_WRPs")
    assert quoted in error.message and why in error.message


def test_yaml_traps_as_yaml_really_reads_them():
    """Unquoted off is False, 010 is octal 8 and 1.10 is 1.1 in YAML 1.1 (PyYAML, as Ansible reads vars)."""
    features = yaml.safe_load("- {name: sve, value: off}\n- {name: hw_prop_WRPs, value: 010}\n"
                              "- {name: feat_RAS, value: 1.10}\n- {name: pmu, value: \"off\"}\n")
    assert [feature["value"] for feature in features] == [False, 8, 1.1, "off"]
    errors = errors_of(features)
    assert [(error.feature, error.rule) for error in errors] == [
        ("sve", "value-not-string"), ("hw_prop_WRPs", "value-not-string"), ("feat_RAS", "value-not-string")]
    assert 'value: "off"' in errors[0].message and 'value: "8"' in errors[1].message


def test_null_value_is_an_error():
    [error] = errors_of([{"name": "sve", "value": None}])
    assert error.rule == "value-not-string" and "leave value out" in error.message


@pytest.mark.parametrize("policy", ["disable", "forbid", "optional"])
def test_value_needs_policy_require_or_force(policy):
    [error] = errors_of([{"name": "feat_RAS", "value": "1.0", "policy": policy}])
    assert error.rule == "value-with-policy"
    assert policy in error.message and "require or force" in error.message


@pytest.mark.parametrize("policy", ["Require", "allow", "", None, 1])
def test_unknown_policy(policy):
    [error] = errors_of([{"name": "sve", "policy": policy}])
    assert error.rule == "unknown-policy" and "force, require, optional, disable, forbid" in error.message


def test_unknown_property_hints_at_the_host_spelling():
    [error] = errors_of([{"name": "feat_ras", "value": "1.0"}])
    assert (error.rule, error.allowed) == ("unknown-property", [])
    assert "feat_ras" in error.message and "Did you mean feat_RAS?" in error.message
    assert rules([{"name": "feat_NOPE", "policy": "optional"}]) == ["unknown-property"]


def test_require_and_force_without_value_need_on():
    assert rules([{"name": "sve"}]) == rules([{"name": "sve", "policy": "force"}]) == []
    assert rules([{"name": "hw_prop_WRPs"}]) == ["on-not-supported"]
    [error] = errors_of([{"name": "hw_prop_API", "policy": "force"}])
    assert error.rule == "on-not-supported" and "hw_prop_API=on" in error.message and "PAuth, off" in error.message


def test_disable_and_forbid_need_off():
    """A number property has no off unless the host lists it."""
    assert rules([{"name": "hw_prop_WRPs", "policy": "disable"}]) == ["off-not-supported"]
    assert rules([{"name": "hw_prop_PMUVer", "policy": "disable"}]) == []
    assert rules([{"name": "feat_RAS", "policy": "forbid"}]) == ["off-not-supported"]


def test_forbid_of_an_offered_feature_fails_like_libvirt_at_start():
    [error] = errors_of([{"name": "sve", "policy": "forbid"}])
    assert error.rule == "forbid-offered" and "disable" in error.message and error.allowed == ["on", "off"]
    assert rules([{"name": "sve", "policy": "forbid"}], N1, "n1-01") == []
    assert rules([{"name": "sve", "policy": "disable"}]) == []


def test_optional_needs_nothing_but_a_known_property():
    assert rules([{"name": "hw_prop_WRPs", "policy": "optional"}, {"name": "sve512", "policy": "optional"}]) == []


def test_duplicate_names():
    [error] = errors_of([{"name": "sve", "value": "on"}, {"name": "pmu"}, {"name": "sve", "policy": "disable"}])
    assert error.rule == "duplicate" and "#1 and #3" in error.message


@pytest.mark.parametrize("char", ["'", '"', "<", "&", ",", "=", "\n", "\x00", " "])
def test_metacharacters_are_rejected_in_values(char):
    [error] = errors_of([{"name": "feat_RAS", "value": "1.0" + char}])
    assert error.rule == "bad-token"
    with pytest.raises(FeatureRequestError):
        qemu_cpu_arg([{"name": "feat_RAS", "value": "1.0" + char}])


@pytest.mark.parametrize("char", ["'", '"', "<", "&", ",", "=", "\n", "\x00", " "])
def test_metacharacters_are_rejected_in_names(char):
    assert rules([{"name": "sve" + char}]) == ["bad-token"]
    with pytest.raises(FeatureRequestError):
        qemu_cpu_arg([{"name": "sve" + char, "policy": "disable"}])


@pytest.mark.parametrize("name", ["", 5, None, ["sve"]])
def test_name_must_be_a_non_empty_string(name):
    assert rules([{"name": name}]) == ["bad-token"]


def test_empty_value_is_not_a_token():
    assert rules([{"name": "feat_RAS", "value": ""}]) == ["bad-token"]


@pytest.mark.parametrize("features, fragment", [
    ([{"name": "sve", "vaule": "on"}], "vaule"), ([{"policy": "require"}], "no name"),
    (["sve"], "not a mapping"), ({"name": "sve"}, "must be a list"), ("sve", "must be a list"),
    (None, "must be a list"),
])
def test_bad_feature_shapes(features, fragment):
    [error] = errors_of(features)
    assert error.rule == "bad-feature" and fragment in error.message


def test_unsupported_host_with_features_is_an_error():
    [error] = errors_of([{"name": "sve", "policy": "disable"}], UNSUPPORTED, "old-01")
    assert (error.host, error.rule) == ("old-01", "host-unsupported")
    assert "supported: false" in error.message and UNSUPPORTED["reason"] in error.message


@pytest.mark.parametrize("props", [
    None, "arm_cpu_props", [], V1["properties"], {"properties": {}},
    {"supported": True, "properties": {"sve": {"type": "bool"}}},
    {"supported": True, "properties": {"sve": {"type": "bool", "supported_values": "on"}}},
    {"supported": True, "properties": {"sve": {"type": "bool", "supported_values": [True]}}},
])
def test_props_that_are_not_a_fact(props):
    assert rules([{"name": "sve"}], props) == ["bad-props"]


def test_all_errors_of_a_request_at_once_in_order():
    features = [{"name": "feat_RAS", "value": "9.9"}, {"name": "hw_prop_WRPs", "value": 8},
                {"name": "hw_prop_BRPs", "value": "07"}, {"name": "sve", "policy": "forbid"},
                {"name": "nope"}, {"name": "feat_RAS", "value": "1.0", "policy": "disable", "extra": 1},
                {"name": "feat_CSV2", "value": "1.2"}]
    normalised, errors = check_features(features, V1, "v1-01")
    assert [(error.feature, error.rule) for error in errors] == [
        ("feat_RAS", "value-not-supported"), ("hw_prop_WRPs", "value-not-string"), ("hw_prop_BRPs", "leading-zero"),
        ("sve", "forbid-offered"), ("nope", "unknown-property"), ("feat_RAS", "bad-feature"),
        ("feat_RAS", "value-with-policy"), ("feat_RAS", "duplicate")]
    assert normalised == [{"name": "feat_CSV2", "policy": "require", "value": "1.2"}]
    assert all(error.message.startswith("v1-01: ") for error in errors)
    assert set(validate.ALL_RULE_IDS) >= {error.rule for error in errors}


# fleet baseline

def test_fleet_baseline_label_and_intersected_values():
    [error] = errors_of([{"name": "feat_RAS", "value": "1.1"}], BASELINE, None)
    assert (error.host, error.allowed) == ("fleet-arm64", ["0.0", "1.0"])
    assert error.message.startswith("fleet-arm64: ")
    [midr] = errors_of([{"name": "hw_prop_MIDR", "value": "0x411fd401"}], BASELINE, None)
    assert midr.rule == "unknown-property"
    assert midr.message.endswith("The members report it, but no value is supported by all of them.")
    assert rules([{"name": "sve128"}], BASELINE) == ["unknown-property"]


def test_fleet_baseline_names_the_members_lacking_a_property():
    baseline = dict(BASELINE, missing={"feat_SVE": ["n1-01"]})
    [error] = errors_of([{"name": "feat_SVE", "value": "1"}], baseline, None)
    assert error.rule == "unknown-property"
    assert error.message.endswith("Members n1-01 do not report it.")


def test_unlabelled_baseline_is_called_fleet():
    baseline = dict(BASELINE)
    del baseline["label"]
    assert errors_of([{"name": "sve"}], baseline, None)[0].host == "fleet"


def test_host_defaults_to_host_for_a_plain_fact():
    assert errors_of([{"name": "sve"}], N1, None)[0].host == "host"


# qemu_cpu_arg

def test_qemu_cpu_arg_without_props_keeps_order_and_spelling():
    features = [{"name": "feat_RAS", "value": "1.0"}, {"name": "hw_prop_API", "policy": "disable"},
                {"name": "hw_prop_WRPs", "value": "2"}]
    assert qemu_cpu_arg(features) == "host,feat_RAS=1.0,hw_prop_API=off,hw_prop_WRPs=2"


def test_qemu_cpu_arg_policies_map_like_libvirt():
    features = [{"name": "a", "policy": "force"}, {"name": "b"}, {"name": "c", "policy": "optional"},
                {"name": "d", "policy": "disable"}, {"name": "e", "policy": "forbid"}]
    assert qemu_cpu_arg(features, "maximum") == "max,a=on,b=on,d=off,e=off"


def test_qemu_cpu_arg_with_props_uses_host_spelling_and_decimal():
    features = [{"name": "feat_RAS", "value": "1.1_BASE"}, {"name": "hw_prop_API", "value": "OFF"},
                {"name": "hw_prop_WRPs", "value": "0x2"}, {"name": "sve", "value": "true"},
                {"name": "pmu", "policy": "optional"}, {"name": "sve512", "policy": "forbid"}]
    assert qemu_cpu_arg(features, props_fact=V1) == "host,feat_RAS=1.1_base,hw_prop_API=off,hw_prop_WRPs=2,sve=on," \
                                                    "sve512=off"


def test_qemu_cpu_arg_on_released_qemu_under_tcg():
    features = [{"name": "sve", "policy": "require"}, {"name": "sve512", "policy": "disable"},
                {"name": "pauth-impdef", "value": "on"}]
    assert qemu_cpu_arg(features, "maximum", QEMU72) == "max,sve=on,sve512=off,pauth-impdef=on"


def test_qemu_cpu_arg_empty_request_is_the_model():
    assert qemu_cpu_arg([]) == "host"


def test_qemu_cpu_arg_raises_with_every_message():
    features = [{"name": "feat_RAS", "value": "2.0"}, {"name": "hw_prop_WRPs", "value": "9"}]
    with pytest.raises(FeatureRequestError) as caught:
        qemu_cpu_arg(features, props_fact=N1, host="n1-01")
    assert [error.rule for error in caught.value.errors] == ["value-not-supported", "value-not-supported"]
    assert str(caught.value).splitlines() == [error.message for error in caught.value.errors]
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("mode", ["host-model", "custom", None, "HOST-PASSTHROUGH"])
def test_qemu_cpu_arg_unknown_mode(mode):
    with pytest.raises(FeatureRequestError) as caught:
        qemu_cpu_arg([{"name": "sve"}, {"name": "x,y"}], mode)
    assert [error.rule for error in caught.value.errors] == ["unknown-mode", "bad-token"]
    assert "host-passthrough" in str(caught.value)


def test_split_and_join_are_inverse():
    for arg in ("max", "max,sve=on,pmu", "cortex-a57,feat_RAS=1.0,hw_prop_WRPs=2"):
        assert validate.join_cpu_arg(*validate.split_cpu_arg(arg)) == arg
    assert validate.split_cpu_arg("max,pmu,sve=off") == ("max", [("pmu", None), ("sve", "off")])
