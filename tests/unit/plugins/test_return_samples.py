"""RETURN docs carry realistic samples: every value a module or filter returns has one, a sample has the keys its
documentation lists, and a filter's sample has the shape of what the filter really returns for the fleet fixture."""

import importlib
import json
import pathlib

import pytest
import yaml

from ansible_collections.armvirt.cpu.plugins.filter import (
    cpu_feature_check, fleet_baseline, fleet_classes, fleet_placement, fleet_recommend)

ROOT = pathlib.Path(__file__).resolve().parents[3]
SMALL = json.loads((ROOT / "tests" / "fixtures" / "fleet" / "small-fleet.json").read_text())
FLEET = {host: SMALL[host] for host in ("a1", "a2", "b1", "u1")}
PLUGINS = sorted("%s.%s" % (path.parent.name, path.stem)
                 for directory in ("modules", "filter") for path in (ROOT / "plugins" / directory).glob("*.py"))


def return_doc(plugin):
    module = importlib.import_module("ansible_collections.armvirt.cpu.plugins." + plugin)
    return yaml.safe_load(module.RETURN)


def without_sample(doc, prefix=""):
    """Returned values with no sample of their own and, for those with ``contains``, none in every part."""
    missing = []
    for name, entry in doc.items():
        if "sample" not in entry:
            missing += without_sample(entry["contains"], prefix + name + ".") if "contains" in entry \
                else [prefix + name]
    return missing


def sampled_mappings(entry):
    """The mappings of a sample that must show the documented keys: each item of a list; a dict itself, or, for a
    dict keyed by names (of guests, hosts) that shares no key with the docs, each of its values."""
    sample, keys = entry["sample"], set(entry["contains"])
    if isinstance(sample, dict) and not keys & set(sample):
        sample = list(sample.values())
    return [item for item in sample if isinstance(item, dict)] if isinstance(sample, list) else [sample]


@pytest.mark.parametrize("plugin", PLUGINS)
def test_every_returned_value_has_a_sample_with_the_documented_keys(plugin):
    doc = return_doc(plugin)
    assert without_sample(doc) == [], plugin
    for name, entry in doc.items():
        if "sample" in entry and "contains" in entry:
            mappings, keys = sampled_mappings(entry), set(entry["contains"])
            assert mappings, "%s: the sample of %s shows none of its documented keys" % (plugin, name)
            for mapping in mappings:
                assert keys <= set(mapping), "%s: %s sample lacks %s" % (plugin, name, sorted(keys - set(mapping)))


REAL_CALLS = {
    "fleet_baseline": lambda: fleet_baseline.fleet_baseline(FLEET, "rack7"),
    "fleet_classes": lambda: fleet_classes.fleet_classes(FLEET),
    "fleet_placement": lambda: fleet_placement.fleet_placement(
        {"features": [{"name": "hw_prop_WRPs", "value": "4"}]}, FLEET),
    "fleet_recommend": lambda: fleet_recommend.fleet_recommend(FLEET),
    "cpu_feature_check": lambda: cpu_feature_check.cpu_feature_check(
        [{"name": "hw_prop_WRPs", "value": "4"}], SMALL["a1"], "a1"),
}


@pytest.mark.parametrize("name", sorted(REAL_CALLS))
def test_a_filter_sample_has_the_shape_of_a_real_result(name):
    sample, real = return_doc("filter." + name)["_value"]["sample"], REAL_CALLS[name]()
    assert isinstance(sample, type(real))
    if isinstance(real, list):
        sample, real = sample[0], real[0]
    assert set(sample) == set(real)
    for key, value in real.items():
        assert isinstance(sample[key], type(value)) or sample[key] is None or value is None, key
