"""fleet grouping: hosts sorted into kinds of identical facts, the ground of every fleet question."""

import copy

from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import grouping
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils._fleet.fleet_cases import N1


def test_equal_facts_from_separate_dicts_share_one_kind_but_differences_do_not():
    facts = {"h%d" % n: copy.deepcopy(N1) for n in range(5)}
    facts["h3"]["properties"]["pmu"]["default"] = "on"          # same key, different dict: its own kind
    kinds, excluded = grouping.group(facts)
    assert excluded == [] and [kind.hosts for kind in kinds] == [["h0", "h1", "h2", "h4"], ["h3"]]
    assert len({kind.class_id for kind in kinds}) == 1
