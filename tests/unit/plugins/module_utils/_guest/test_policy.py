"""policy: the one definition of a guest CPU policy document, its messages, and the JSON Schema made from it."""

import json
import pathlib

import jsonschema
import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import policy

ROOT = pathlib.Path(__file__).resolve().parents[5]
SCHEMA_FILE = ROOT / "docs" / "schemas" / "cpu_policy.schema.json"
RAS = {"name": "feat_RAS", "value": "1.0"}

# documents a policy reader takes (check returns no message)
GOOD = [
    {"features": []},
    {"features": [RAS]},
    {"description": "pool A", "mode": "maximum", "delivery": "qemu-commandline",
     "features": [{"name": "sve256"}, {"name": "sve512", "policy": "disable"}, dict(RAS, policy="force")]},
    {"mode": "custom", "model": "cortex-a57", "features": [{"name": "pmu", "policy": "optional"}]},
    {"mode": "host-passthrough", "delivery": "feature-value", "features": [{"name": "sve", "policy": "forbid"}]},
]
# documents no reader takes, each with the place and words its first message must name
BAD = [
    (["feat_RAS"], "policy: at (document root): a policy is a mapping with features (and description, mode, model, "
                   "delivery), not list"),
    ({}, "policy: at (document root): features is missing"),
    ({"features": [], "feature": []}, "policy: at (document root): unknown key(s) feature; a policy takes "
                                      "description, mode, model, delivery, features"),
    ({"features": [], "description": 3}, "policy: at description: free text, a string, not int"),
    ({"features": [], "mode": "host"}, "policy: at mode: 'host' is not one of host-passthrough, maximum, custom"),
    ({"features": [], "mode": "custom"}, "policy: at mode: mode custom needs model"),
    ({"features": [], "model": "cortex-a57"}, "policy: at model: model cortex-a57 is only for mode custom, not "
                                              "host-passthrough"),
    ({"features": [], "mode": "custom", "model": "a b"}, "policy: at model: 'a b' is not a plain token"),
    ({"features": [], "delivery": "xml"}, "policy: at delivery: 'xml' is not one of feature-value, qemu-commandline"),
    ({"features": {"feat_RAS": "1.0"}}, "policy: the features must be a list of {name, policy, value} mappings"),
    ({"features": [{"name": "feat_RAS", "polcy": "disable"}]}, "policy: feat_RAS has unknown key(s) polcy"),
    ({"features": [{"policy": "disable"}]}, "policy: feature #1 has no name"),
    ({"features": [{"name": "feat RAS"}]}, "policy: feature name 'feat RAS' is not a plain token"),
    ({"features": [{"name": "sve", "policy": "off"}]}, "policy: sve has policy 'off'; use one of force, require, "
                                                       "optional, disable, forbid"),
    ({"features": [{"name": "sve", "value": False}]}, "policy: sve has value False, which is not a string (YAML reads"),
    ({"features": [{"name": "sve", "value": "on", "policy": "optional"}]}, "a value needs policy require or force"),
]


def test_the_schema_file_is_the_definition_written_out():
    assert json.loads(SCHEMA_FILE.read_text()) == policy.json_schema(), (
        "docs/schemas/cpu_policy.schema.json differs from policy.json_schema(); write it again with "
        "json.dumps(json_schema(), indent=2)")


def test_the_schema_takes_what_the_readers_use():
    schema = policy.json_schema()
    assert tuple(schema["properties"]) == policy.KEYS and schema["required"] == ["features"]
    assert tuple(schema["properties"]["mode"]["enum"]) == names.MODES
    assert tuple(schema["properties"]["delivery"]["enum"]) == names.DELIVERIES
    feature = schema["$defs"]["feature"]
    assert tuple(feature["properties"]) == validate.FEATURE_KEYS
    assert tuple(feature["properties"]["policy"]["enum"]) == validate.POLICIES
    assert tuple(feature["then"]["properties"]["policy"]["enum"]) == validate.VALUE_POLICIES


@pytest.mark.parametrize("document", GOOD + [document for document, _words in BAD])
def test_the_checker_and_the_schema_accept_the_same_documents(document):
    schema_ok = jsonschema.Draft202012Validator(policy.json_schema()).is_valid(document)
    assert schema_ok == (policy.check(document) == []), policy.check(document)


@pytest.mark.parametrize("document", GOOD)
def test_a_policy_is_read_with_the_readers_defaults_left_open(document):
    parsed = policy.read(document)
    assert parsed.features is document["features"]
    assert (parsed.mode, parsed.model, parsed.delivery, parsed.description) == tuple(
        document.get(key) for key in ("mode", "model", "delivery", "description"))


@pytest.mark.parametrize("document, words", BAD, ids=[words.split(": ")[-1][:40] for _doc, words in BAD])
def test_every_problem_names_the_place_and_what_is_allowed(document, words):
    with pytest.raises(policy.PolicyError) as caught:
        policy.read(document)
    assert words in caught.value.messages[0], caught.value.messages


def test_all_problems_at_once_with_the_readers_label():
    messages = policy.check({"mode": "maxi", "delivery": 1, "extra": 1, "features": [{"name": "x", "v": "1"}]},
                            "pool.yml")
    assert messages == [
        "pool.yml: at (document root): unknown key(s) extra; a policy takes description, mode, model, delivery, "
        "features",
        "pool.yml: at mode: 'maxi' is not one of host-passthrough, maximum, custom",
        "pool.yml: at delivery: 1 is not one of feature-value, qemu-commandline",
        "pool.yml: x has unknown key(s) v; a feature takes only name, policy and value.",
    ]


def test_a_reader_narrows_the_modes_and_may_leave_the_features_to_a_host():
    modes = tuple(names.CPU_MODELS)
    assert policy.check({"mode": "custom", "model": "a57", "features": []}, modes=modes) == [
        "policy: at mode: 'custom' is not one of host-passthrough, maximum"]
    assert policy.check({"features": [{"name": "x", "v": "1"}]}, features=False) == []


@pytest.mark.parametrize("mode, model, problem", [
    ("custom", None, "mode custom needs model (a QEMU/libvirt CPU model such as cortex-a57)"),
    ("maximum", "a57", "model a57 is only for mode custom, not maximum"),
    ("custom", "a57", None),
    ("host-passthrough", None, None),
])
def test_model_goes_with_mode_custom_only(mode, model, problem):
    assert policy.model_problem(mode, model) == problem
