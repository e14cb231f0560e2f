"""scripts/demo's work (tools/demo.py with a temporary workdir): end to end, then a second run that changes nothing,
and no process left behind. The two runs are the session's ``demo_runs`` (tests/conftest.py), which
test_fact_injection.py reads too."""

import json
import os
import pathlib
import re
import subprocess
import sys
import time

import yaml

from conftest import report_markdown
from libvirtd import needs_libvirt_schema

ROOT = pathlib.Path(__file__).resolve().parents[2]


def demo(workdir, unset=(), **extra_env):
    """tools/demo.py in ``workdir``, with ``extra_env`` set and the variables ``unset`` removed; its output."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tools"), ANSIBLE_NOCOLOR="1", **extra_env)
    for name in unset:
        env.pop(name, None)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "demo.py"), "--workdir", str(workdir)],
                          capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert time.monotonic() - started < 120, "the demo took %.0f s" % (time.monotonic() - started)
    return proc.stdout


def record(workdir, host):
    return json.loads((workdir / "artifacts" / "rollout" / "hosts" / (host + ".json")).read_text())


def written(workdir, host):
    return sorted((workdir / "hosts" / host / "guests").glob("*.xml"))


def leftovers(workdir):
    """Processes whose command line mentions the demo's directory (stand-in emulators, ssh, ansible)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if str(workdir) in command and entry.name != str(os.getpid()):
            found.append(command)
    return found


@needs_libvirt_schema
def test_demo_runs_end_to_end_twice_and_the_second_run_changes_nothing(demo_runs):
    """The demo's outcome after its first run (``demo_runs.first`` keeps what that run left), then a second run."""
    first, after = demo_runs.first_output, demo_runs.first
    for text in ("armvirt.cpu.gather", "armvirt.cpu.rollout", "armvirt.cpu.report",
                 "Delivery: qemu-commandline", "has no `value`", "offline-01"):
        assert text in first, text
    assert (after / "artifacts" / "report" / "index.html").is_file()
    assert str(demo_runs.workdir / "artifacts" / "report" / "index.html") in first
    assert (after / "hosts" / "altra-01" / "guests" / "web1.xml").is_file()
    assert not list((after / "hosts" / "graviton3-01" / "guests").glob("*.xml"))  # failed validation
    assert "feat_RAS" in first and "legacy-01" in first
    # legacy-01 runs TCG, whose QEMU refuses the KVM fleet's host-passthrough: the fleet pool leaves it out, with the
    # reason, and the rollout gives it its own class's policy (maximum), which its own QEMU confirms by expansion
    state = json.loads((after / "artifacts" / "fleet.json").read_text())
    entry = state["hosts"]["legacy-01"]
    assert entry["status"] == "ok" and entry["pool"] == entry["class"]
    assert "legacy-01" not in state["baseline"]["members"]
    assert entry["reason"].startswith("left out of the fleet pool: it runs tcg, and the fleet pool is the kvm hosts "
                                      "(10 of 11), whose mode host-passthrough cannot run under tcg (QEMU's CPU "
                                      "model host needs KVM)")
    policies = after / "artifacts" / "policies"
    written_policies = demo_runs.workdir / "artifacts" / "policies"   # the paths the run wrote
    assert yaml.safe_load((policies / "fleet.yml").read_text())["mode"] == "host-passthrough"
    assert yaml.safe_load((policies / (entry["class"] + ".yml")).read_text())["mode"] == "maximum"
    legacy = record(after, "legacy-01")
    assert legacy["status"] == "ok" and written(after, "legacy-01"), legacy
    assert legacy["pool"] == entry["class"]
    assert legacy["policy_file"] == str(written_policies / (entry["class"] + ".yml"))
    assert set(legacy["confirmed"].values()) == {"expansion"} and all(
        arg.startswith("max,") for arg in legacy["confirmed"])
    assert "legacy-01      accepted (expansion)" in first and "requires KVM" not in first
    only_the_deliberate_failures(after, "fleet", demo_runs.workdir)
    report_md = report_markdown(after / "artifacts" / "report" / "report.md")
    assert "| legacy-01 | fleet pool | own class | left out of the fleet pool: it runs tcg" in report_md
    # the fleet's policy pins canonical fields that legacy-01's booleans cannot give, on top of its KVM-only mode:
    # the placements say it does not fit, with those reasons
    fleet_pool = report_md.split("**pool fleet")[1].split("- **")[0]
    assert "legacy-01" not in fleet_pool.split("fails on:")[0]
    assert re.search(r"- legacy-01: \d+ problems \((?:[a-z-]+, )*unknown-property", fleet_pool), fleet_pool
    assert "| legacy-01 | ok | %s | %s |" % (entry["class"], written_policies / (entry["class"] + ".yml")) in report_md
    assert "altra-01       accepted (start)" in first
    # grace-sr-01 was rebooted with arm64.nobti after the gather: its cached facts still offer BT 0x0-0x1, so the
    # guest pinned to BTI passes validation, and the host's kernel refuses the value at vCPU init, in QEMU's words
    grace = record(after, "grace-sr-01")
    assert grace["status"] == "failed" and grace["errors"] == [], grace
    ((arg, words),) = grace["refused"].items()
    assert arg.startswith("host,") and "SYSREG_ID_AA64PFR1_EL1_BT=0x1" in arg.split(",")
    assert words == ("qemu-system-aarch64: SYSREG_ID_AA64PFR1_EL1_BT=0x1: KVM refused the ID register value "
                     "(KVM_SET_ONE_REG: Invalid argument)\nqemu-system-aarch64: kvm_init_vcpu: kvm_arch_init_vcpu "
                     "failed (0): Invalid argument")
    assert "grace-sr-01 rebooted with arm64.nobti after the gather" in first
    assert "grace-sr-01    REFUSED" in first and "written for grace-sr-01: nothing (no guest XML)" in first
    assert not written(after, "grace-sr-01")
    assert demo_runs.leftovers_first == []
    check_the_sysreg_hosts(after, first)
    second = demo_runs.second_output
    assert "changed=1" not in second and "changed: [" not in second, second[-4000:]
    assert demo_runs.leftovers_second == []
    # the same fleet rolled out per class (tests/conftest.py DemoRuns, on a copy of the artifacts): each host its
    # class's recommended policy against its class's baseline
    rollout = demo_runs.class_rollout
    assert rollout.returncode == 2, rollout.stdout[-4000:] + rollout.stderr[-2000:]
    only_the_deliberate_failures(demo_runs.class_run, "class")
    check_class_policies_start(demo_runs.class_run, demo_runs.workdir)
    assert demo_runs.leftovers_class == []


def only_the_deliberate_failures(workdir, scope, ran_in=None):
    """The last rollout failed only where the demo means it to, each host for its own reason: offline-01 is
    unreachable, graviton3-01's guest ras1 asks for a RAS its pool does not offer, and grace-sr-01's kernel (rebooted
    with arm64.nobti after the gather) refuses BT=1 at vCPU init. No host fails for the policy's own sake (a mode its
    QEMU refuses), and every record names the pool and policy file the host got. ``workdir`` holds the files;
    ``ran_in``, where the run wrote them (the records name those paths), defaults to it."""
    ran_in = ran_in or workdir
    plan = json.loads((workdir / "artifacts" / "rollout" / "plan.json").read_text())
    classes = json.loads((workdir / "artifacts" / "classes.json").read_text())["hosts"]
    fleet_state = json.loads((workdir / "artifacts" / "fleet.json").read_text())["hosts"]
    assert plan["scope"] == scope
    records = {host: record(workdir, host) for host in plan["targets"]}
    assert sorted(host for host, entry in records.items() if entry["status"] != "ok") == [
        "grace-sr-01", "graviton3-01", "offline-01"], {host: entry["reason"] for host, entry in records.items()}
    assert "unreachable" in records["offline-01"]["reason"] and "Connection refused" in records["offline-01"]["reason"]
    graviton = records["graviton3-01"]
    # (the fleet baseline may lack RAS, or offer it without 1.0; the class's offers only graviton3-01's own 1.1_base)
    # (against a baseline the record may name the canonical field, and then says what the request called it)
    ((error,),) = [graviton["errors"]]
    assert graviton["refused"] == {} and (error["feature"], error["value"]) in (
        ("feat_RAS", "1.0"), ("SYSREG_ID_AA64PFR0_EL1_RAS", "0x1")) and "feat_RAS" in error["message"], error
    assert error["rule"] in ("unknown-property", "value-not-supported")
    assert graviton["reason"].endswith("[guest: ras1]")
    grace = records["grace-sr-01"]
    assert grace["errors"] == [] and grace["refused"] and all(   # (the class's policy pins BT=1 for every guest)
        "SYSREG_ID_AA64PFR1_EL1_BT=0x1" in arg.split(",") and words.startswith(
            "qemu-system-aarch64: SYSREG_ID_AA64PFR1_EL1_BT=0x1: KVM refused the ID register value")
        for arg, words in grace["refused"].items())
    for host, entry in records.items():
        assert "requires KVM" not in entry["reason"], (host, entry["reason"])
        if host == "offline-01":
            continue
        if entry["scope"] == "host":   # grace-sr-01's inventory asks for its own facts, unless the run says class
            assert scope == "fleet" and host == "grace-sr-01" and entry["pool"] is None
            continue
        pool = classes[host] if scope == "class" else fleet_state[host]["pool"]
        assert entry["scope"] == scope and entry["pool"] == pool, (host, entry)
        assert entry["policy_file"] == str(ran_in / "artifacts" / "policies" / (pool + ".yml"))


SYSREG_HOSTS = ("altra-sr-01", "altra-sr-02", "grace-sr-01", "grace-nosve-01", "ampereone-01")


def check_the_sysreg_hosts(workdir, output):
    """The SYSREG hosts are gathered in the sysreg dialect, each with its recorded host tree; their classes tell the
    N1s together, and the Grace with arm64.nosve apart from the one without (that each class's recommended policy
    starts on its hosts: check_class_policies_start)."""
    classes = json.loads((workdir / "artifacts" / "classes.json").read_text())
    of = classes["hosts"]
    for host in SYSREG_HOSTS:
        assert "%s: supported (sysreg, " % host in output, host
        assert classes["classes"][of[host]]["dialect"] == "sysreg", host
    assert of["altra-sr-01"] == of["altra-sr-02"]
    assert len({of[host] for host in SYSREG_HOSTS}) == 4
    assert of["grace-sr-01"] != of["grace-nosve-01"] and of["grace-sr-01"] != of["grace-01"]
    assert classes["classes"][of["grace-nosve-01"]]["kernel_cmdline_overrides"] == ["arm64.nosve"]
    assert classes["classes"][of["ampereone-01"]]["cpu_names"] == ["Ampere-1"]
    assert classes["classes"][of["grace-sr-01"]]["cpu_names"] == ["Neoverse-V2"]
    assert classes["classes"][of["altra-sr-01"]]["cpu_names"] == ["Neoverse-N1"]
    assert classes["classes"][of["graviton3-01"]]["cpu_names"] == ["Neoverse-V1"]   # every Arm host has its tree
    for host in ("altra-sr-01", "altra-sr-02", "grace-nosve-01", "ampereone-01"):
        assert record(workdir, host)["status"] == "ok" and written(workdir, host), host
    # the demo's summary and the report show the SYSREG classes with their CPU
    assert "Ampere-1     sysreg" in output and "(kernel: arm64.nosve)" in output
    report = (workdir / "artifacts" / "report" / "report.md").read_text()
    assert "| altra-sr-01, altra-sr-02 | Neoverse-N1" in report and "Neoverse-V2 (arm64.nosve) | sysreg" in report


def check_class_policies_start(class_run, workdir):
    """After the rollout per class: every KVM host outside the deliberate failures got its class's recommended
    policy, and each -cpu its QEMU confirmed (in the host's own names) is one the simulated host itself starts."""
    from armsim import load_profile
    inventory = yaml.safe_load((workdir / "inventory.yml").read_text())["all"]["children"]["hypervisors"]["hosts"]
    classes = json.loads((class_run / "artifacts" / "classes.json").read_text())
    checked = 0
    for cid, info in classes["classes"].items():
        for host in info["hosts"]:
            profile = load_profile(inventory[host]["armsim_profile"])
            if not profile.kvm or host in ("grace-sr-01", "graviton3-01"):
                continue
            entry = record(class_run, host)
            assert entry["status"] == "ok" and entry["confirmed"], (cid, host, entry)
            for arg in entry["confirmed"]:
                assert profile.start_refusal(arg, "kvm") is None, (cid, host, arg)
                checked += 1
    assert checked >= 8, checked
