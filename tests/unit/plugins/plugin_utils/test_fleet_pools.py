# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet pool of a fleet of mixed accelerators: a TCG host is left out of a KVM fleet's pool (its QEMU refuses the
fleet's host-passthrough) with the reason, keeps its class and that class's policy, frozen or not; and the pools a
rollout gives its hosts, by scope."""

import datetime
import json
import pathlib

import yaml

from ansible_collections.armvirt.cpu.plugins.action import fleet_state as action
from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, _fact_sources, _fleet_view, fleet_report

ROOT = pathlib.Path(__file__).resolve().parents[4]
FACTS = json.loads((ROOT / "tests" / "fixtures" / "fleet" / "small-fleet.json").read_text())
NOW = datetime.datetime(2026, 11, 29, 16, 14, tzinfo=datetime.timezone.utc)


def hostvars(hosts, accel=None):
    facts = {host: dict(FACTS[host], accel=(accel or {}).get(host, FACTS[host]["accel"])) for host in hosts}
    return {host: {"ansible_facts": {"arm_cpu_props": fact},
                   "armvirt_cpu_gather": {"status": "ok", "error": "", "gathered_at": "2026-11-29T16:00:00Z"}}
            for host, fact in facts.items()}


def view(hosts=("a1", "a2", "b1", "t1"), accel=None):
    return _fleet_view.view(hostvars(hosts, accel), list(hosts), 0, now=NOW)


def test_a_tcg_host_is_left_out_of_a_kvm_fleets_pool_and_keeps_its_class():
    state = view()
    t1 = state["hosts"]["t1"]
    assert state["baseline"]["members"] == ["a1", "a2", "b1"] and state["baseline"]["accel"] == "kvm"
    assert t1["status"] == "ok" and t1["usable"] is True and t1["pool"] == t1["class"]
    expected = ("left out of the fleet pool: it runs tcg, and the fleet pool is the kvm hosts (3 of 4), whose mode "
                "host-passthrough cannot run under tcg (QEMU's CPU model host needs KVM); it keeps its own class %s "
                "and that class's "
                "policy" % t1["class"])
    assert t1["reason"] == expected
    assert {"host": "t1", "reason": "it runs tcg, and the fleet pool is the kvm hosts (3 of 4), whose mode "
            "host-passthrough cannot run under tcg (QEMU's CPU model host needs KVM); it keeps its own class %s"
            % t1["class"]} \
        in state["baseline"]["excluded"]
    assert {state["hosts"][host]["pool"] for host in ("a1", "a2", "b1")} == {_fleet_view.FLEET_POOL}
    assert state["recommendations"][_fleet_view.FLEET_POOL]["mode"] == "host-passthrough"
    assert state["recommendations"][t1["class"]]["mode"] == "maximum"
    assert sorted(state["class_baselines"]) == sorted(state["classes"]["classes"])
    assert state["class_baselines"][t1["class"]]["members"] == ["t1"]
    assert "t1: " + expected in _fleet_view.summary_lines(state)


def test_the_fleet_pool_is_the_accelerator_most_hosts_run_and_one_accelerator_leaves_nobody_out():
    state = view(accel={"a1": "tcg", "a2": "tcg"})   # a1, a2, t1 on TCG; b1 on KVM
    assert state["baseline"]["members"] == ["a1", "a2", "t1"]
    assert state["hosts"]["b1"]["pool"] == state["hosts"]["b1"]["class"]
    assert "it runs kvm, and the fleet pool is the tcg hosts (3 of 4), whose mode maximum gives a guest another " \
        "CPU under kvm than under tcg" in state["hosts"]["b1"]["reason"]
    assert _fleet_view.mode_problem("maximum", "kvm") is None and _fleet_view.mode_problem("maximum", "tcg") is None
    assert state["recommendations"][_fleet_view.FLEET_POOL]["mode"] == "maximum"
    tie = view(("a1", "t1"))   # a tie goes to KVM, whose mode is the richer
    assert tie["baseline"]["members"] == ["a1"] and tie["hosts"]["t1"]["pool"] != _fleet_view.FLEET_POOL
    alone = view(("a1", "a2", "b1"))
    assert alone["baseline"]["excluded"] == [] and all(
        entry["pool"] == _fleet_view.FLEET_POOL and entry["reason"] is None for entry in alone["hosts"].values())


def test_an_unreachable_hosts_reason_is_kept_when_the_pool_leaves_it_out():
    vars_ = hostvars(("a1", "t1"))
    vars_["t1"]["armvirt_cpu_gather"].update(status="unreachable", error="Connection refused")
    entry = _fleet_view.view(vars_, ["a1", "t1"], 0, now=NOW)["hosts"]["t1"]
    assert entry["status"] == "unreachable" and entry["reason"].startswith("unreachable (Connection refused)")
    assert "; left out of the fleet pool: it runs tcg" in entry["reason"]


def test_the_class_baselines_are_written_and_a_frozen_view_keeps_the_left_out_host_in_its_class(tmp_path):
    state = view()
    paths = _artifacts.write_artifacts(str(tmp_path), state, now=NOW)[0]
    written = json.loads((tmp_path / "class-baselines.json").read_text())
    assert written == json.loads(json.dumps(state["class_baselines"]))
    assert "class_baselines" not in json.loads((tmp_path / "fleet.json").read_text())
    cid = state["hosts"]["t1"]["class"]
    assert yaml.safe_load(pathlib.Path(paths["policies"][cid]).read_text())["mode"] == "maximum"
    baseline = action.read_baseline(str(tmp_path / "baseline.json"))[0]
    classes, digest = action.read_class_baselines(str(tmp_path / "class-baselines.json"))
    assert digest.startswith("sha256:")
    frozen = action.frozen_view(_fact_sources.read_hostvars(hostvars(["a1", "t1"])), ["a1", "t1"], 0, baseline,
                                str(tmp_path / "baseline.json"), class_baselines=classes)
    assert frozen["hosts"]["a1"]["pool"] == _fleet_view.FLEET_POOL and frozen["hosts"]["a1"]["usable"]
    t1 = frozen["hosts"]["t1"]
    assert t1["pool"] == t1["class"] == cid and t1["usable"] is True
    assert "left out of the fleet pool of the frozen baseline" in t1["reason"] and "it runs tcg" in t1["reason"]
    # without class-baselines.json (an earlier version's artifacts) the host is no member and not usable
    assert action.read_class_baselines(str(tmp_path / "none.json")) == ({}, None)
    old = action.frozen_view(_fact_sources.read_hostvars(hostvars(["t1"])), ["t1"], 0, baseline, "b.json")["hosts"]
    assert old["t1"]["usable"] is False and "not a member of the frozen baseline" in old["t1"]["reason"]

    pools = action.rollout_pools(frozen, str(tmp_path), {}, True)
    assert pools[cid]["policy_file"] == paths["policies"][cid] and pools[cid]["baseline"]["members"] == ["t1"]
    assert pools[_fleet_view.FLEET_POOL]["baseline"] == baseline
    rollout = {"targets": ["a1", "t1"], "scope": "fleet", "policy_file": ""}
    plan = {"policy_file": paths["policies"][_fleet_view.FLEET_POOL]}
    assert action.used_policies(frozen, rollout, plan, pools) == [plan["policy_file"], paths["policies"][cid]]
    assert action.used_policies(frozen, dict(rollout, scope="class"), {}, pools) == sorted(
        {pools[frozen["hosts"][host]["class"]]["policy_file"] for host in ("a1", "t1")})
    assert action.used_policies(frozen, dict(rollout, policy_file="mine.yml"), plan, pools) == []
    assert action.plan_policies(pools, rollout) == {name: pool["policy_file"] for name, pool in pools.items()
                                                    if name != _fleet_view.FLEET_POOL}
    (tmp_path / "policies" / (cid + ".yml")).unlink()   # a class without a policy fails its hosts, with the reason
    assert "has no policy for it" in action.rollout_pools(frozen, str(tmp_path), {}, True)[cid]["failed"]


def test_the_report_shows_the_host_left_out_of_the_fleet_pool(tmp_path):
    _artifacts.write_artifacts(str(tmp_path), view(), snapshot=True, now=NOW)
    request = tmp_path / "passthrough.yml"
    request.write_text("mode: host-passthrough\nfeatures: []\n")
    model = fleet_report.build(str(tmp_path), extra_requests=[str(request)])
    (row,) = [row for row in model["attention"] if row["host"] == "t1"]
    assert row["stage"] == "fleet pool" and row["status"] == "own class" and "it runs tcg" in row["reason"]
    # a request whose every property fits still fails on a host whose QEMU refuses its mode
    (place,) = [place for place in model["placements"] if place["name"] == "passthrough.yml"]
    assert place["ok"] == ["a1", "a2", "b1"] and place["rules"] == {"mode-accelerator": 1}
    assert place["failed"] == [{"host": "t1", "count": 1, "rules": ["mode-accelerator"], "records": [
        {"host": "t1", "feature": None, "value": None, "allowed": [], "rule": "mode-accelerator",
         "message": "t1: mode host-passthrough cannot run under tcg (QEMU's CPU model host needs KVM)."}]}]


def test_the_matrix_has_one_row_per_field_and_shows_each_host_in_its_own_names(tmp_path):
    """a1 speaks hw_prop_WRPs, s1 the same CPU in SYSREG_ names: one row for the field, each cell in the host's own
    names, and the values compared as fields (s1's 0x0-0x3 is what both give, a1 has 5 too)."""
    sysreg_host = dict(FACTS["a1"], dialect="sysreg", properties={
        "SYSREG_ID_AA64DFR0_EL1_WRPs": {"type": "number", "supported_values": ["0x0-0x3"],
                                        "field": "ID_AA64DFR0_EL1.WRPs"},
        "sve": {"type": "bool", "supported_values": ["on", "off"]}})
    vars_ = hostvars(("a1",))
    vars_["s1"] = {"ansible_facts": {"arm_cpu_props": sysreg_host},
                   "armvirt_cpu_gather": {"status": "ok", "error": "", "gathered_at": "2026-11-29T16:00:00Z"}}
    _artifacts.write_artifacts(str(tmp_path), _fleet_view.view(vars_, ["a1", "s1"], 0, now=NOW), snapshot=True,
                               now=NOW)
    table = fleet_report.build(str(tmp_path))["matrix"]
    hosts = [column["host"] for column in table["columns"]]
    rows = {row["name"]: dict(zip(hosts, row["cells"])) for row in table["rows"]}
    assert "hw_prop_WRPs" not in rows and "SYSREG_ID_AA64DFR0_EL1_WRPs" in rows
    wrps = rows["SYSREG_ID_AA64DFR0_EL1_WRPs"]
    assert wrps["a1"]["text"] == "hw_prop_WRPs: 0-3, 5" and wrps["s1"]["text"] == "0x0-0x3"
    # the fleet shares s1's 0x0-0x3 (a field, compared by value); a1 offers more
    assert (wrps["a1"]["kind"], wrps["s1"]["kind"]) == (fleet_report.MORE, fleet_report.BASE)
    # feat_RAS is two fields (RAS and RAS_frac): two rows, each showing a1's one property; s1 lacks both
    for field in ("SYSREG_ID_AA64PFR0_EL1_RAS", "SYSREG_ID_AA64PFR1_EL1_RAS_frac"):
        assert rows[field]["a1"]["text"] == "feat_RAS: 0.0, 1.0, 1.1" and rows[field]["s1"]["text"] == "missing"
    sve = rows["SYSREG_ID_AA64PFR0_EL1_SVE"]   # released QEMU's boolean: off is 0, on the architecture's 1
    assert sve["a1"]["text"] == sve["s1"]["text"] == "sve: on, off"
    assert sve["a1"]["kind"] == sve["s1"]["kind"] == fleet_report.BASE
