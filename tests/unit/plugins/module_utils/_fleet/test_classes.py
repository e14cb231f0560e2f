"""fleet classes: hosts that accept exactly the same requests, with hand-checked expectations."""

import copy
import pathlib

from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import baseline, classes
from ansible_collections.armvirt.cpu.plugins.module_utils._host.props import Property
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils._fleet.fleet_cases import CLASSES_SCHEMA, N1, QEMU72, SMALL, V1, small


def test_same_kind_listed_differently_is_one_class_and_fallback_hosts_are_their_own():
    result = classes.classes(small("a1", "a2", "b1", "t1", "u1"))
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
    result = classes.classes({"n1": n1, "n1-b": copy.deepcopy(n1), "a72": a72, "v2": v2, "v2-nosve": v2_nosve})
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
    assert classes.classes({"n1": n1, "fw": other_fw})["hosts"]["fw"] == ids["n1"]
    # the baseline of such a fleet is still the common CPU: classes split, the baseline does not change
    assert baseline.baseline({"n1": n1, "a72": a72})["properties"] == baseline.baseline({"n1": QEMU72})["properties"]


def test_class_ids_are_stable_across_runs_and_fleets():
    # Pinned: a change here changes every id a deployed report or inventory may refer to. The ids are made of the
    # canonical fields since classes compare hosts of every dialect by field (issue 19), which changed them once.
    assert classes.classes({"n1": N1})["hosts"] == {"n1": "cpu-ece2dfbe32"}
    assert classes.classes({"v1": V1, "other": N1})["hosts"] == {"other": "cpu-ece2dfbe32", "v1": "cpu-77ca8a3ee4"}
    # the fact recorded from the real QEMU 7.2 (aarch64 on only, sve128 off only with sve=off)
    assert classes.classes({"tcg": QEMU72})["hosts"] == {"tcg": "cpu-073958f3ee"}
    # defaults, meta data and extra keys are not part of what a host accepts
    other = dict(copy.deepcopy(N1), qemu_version="9.2.0", source="cache")
    other["properties"]["pmu"]["default"] = "on"
    other["properties"]["pmu"]["note"] = "from a newer probe"
    assert classes.classes({"n1-b": other})["hosts"] == {"n1-b": "cpu-ece2dfbe32"}


def test_canonical_values_ignore_listing_order_case_and_range_splits():
    assert Property("x", "number", ["5", "0-1", "2-3", "OFF"]).canonical_values() == ("0-3", "5", "off")
    assert Property("x", "number", ["0x2-4", "1", "4"]).canonical_values() == ("1-4",)
    assert Property("x", "string", ["off", "PAuth", "pauth"]).canonical_values() == ("off", "pauth")
    assert Property("x", "bool", ["OFF", "true"]).canonical_values() == ("off", "on")
    assert Property("x", "uint64", ["0xB", "0xA"]).canonical_values() == ("0xA", "0xB")
