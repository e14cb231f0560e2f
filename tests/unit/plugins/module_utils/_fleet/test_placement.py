"""fleet placement: which hosts can run a request, and why the others cannot."""

import copy

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import grouping, placement
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils._fleet.fleet_cases import N1, SMALL, small


def test_placement_says_why_each_host_cannot():
    request = {"mode": "host-passthrough", "features": [{"name": "hw_prop_WRPs", "value": "5"},
                                                        {"name": "hw_prop_API", "value": "pauth"}]}
    result = placement.placement(request, dict(small("a1", "a2", "b1", "t1", "u1"), gone=None))
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
    assert result["hosts"]["gone"]["errors"][0]["message"] == "gone: %s." % grouping.NO_FACT


def test_placement_records_are_addressed_to_each_host_of_a_kind():
    facts = {"n1-%02d" % n: copy.deepcopy(N1) for n in range(3)}
    result = placement.placement([{"name": "hw_prop_WRPs", "value": "4"}], facts)
    assert result["mode"] == "host-passthrough" and result["ok"] == []
    for host, entry in result["hosts"].items():
        [error] = entry["errors"]
        assert error["host"] == host and error["message"].startswith(host + ": hw_prop_WRPs=4 is not supported")
        assert error["allowed"] == ["0-3"]
    first, second = (result["hosts"][host]["errors"][0] for host in ("n1-00", "n1-01"))
    assert first["allowed"] is not second["allowed"]


def test_placement_of_an_empty_request_fits_unsupported_hosts_but_not_hosts_without_a_fact():
    result = placement.placement({"features": []}, {"u1": SMALL["u1"], "a1": SMALL["a1"], "gone": None})
    assert result["ok"] == ["a1", "u1"] and result["failed"] == ["gone"]


@pytest.mark.parametrize("request_, message", [
    ({"mode": "custom", "model": "a57", "features": []}, "at mode: 'custom' is not one of host-passthrough, maximum"),
    ({"features": [], "cpu": "x"}, "unknown key"),
    ({"mode": "maximum"}, "features is missing"),
    ("pmu=on", "a policy is a mapping with features"),
])
def test_placement_refuses_a_malformed_request(request_, message):
    with pytest.raises((TypeError, ValueError), match=message):
        placement.placement(request_, {"a1": SMALL["a1"]})
