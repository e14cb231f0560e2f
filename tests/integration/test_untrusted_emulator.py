"""A domain whose <emulator> is a script of its definer's choosing, against a real libvirtd: domain_cpu, cpu_check,
domain_cpu_info and the apply playbook never run it unless it is trusted (emulator_trust), and say why.

The script behaves as QEMU for libvirt (which probes it at define, as its own QEMU user) and creates a marker file
only when the collection starts it (its probes run in a private armvirt-probe-* directory): the marker tells exactly
whether this collection ran it. The trusted case (the script configured as the emulator) shows the marker does appear
when the collection runs it, so its absence elsewhere means something.
"""

import json
import os
import subprocess
import sys
import uuid

import pytest
import yaml

import libvirtd
from conftest import ROOT, run_module, run_modules

PROPS = json.loads((ROOT / "tests" / "fixtures" / "facts" / "qemu-7.2-released.json").read_text())  # real TCG max
SVE = [{"name": "sve"}, {"name": "sve256"}]
DEFAULT = "/usr/bin/qemu-system-aarch64"   # the modules' configured emulator by default


def trusted_here(qemu_binary):
    """The trusted emulators a refusal lists: the configured one, then those libvirt lists (Debian's QEMU)."""
    return ", ".join([DEFAULT] + ([qemu_binary] if qemu_binary != DEFAULT else []))


@pytest.fixture
def hostile(tmp_path, qemu_binary):
    """(script, marker): an emulator that creates ``marker`` when run by this collection, else is QEMU."""
    bin_dir = tmp_path / "definer"
    bin_dir.mkdir()
    script, marker = bin_dir / "qemu-system-aarch64", tmp_path / "ran-as-root"
    script.write_text('#!/bin/sh\ncase "$*" in *armvirt-probe-*) id -u > %s ;; esac\nexec %s "$@"\n'
                      % (marker, qemu_binary))
    script.chmod(0o755)
    return str(script), marker


@pytest.fixture
def define(libvirt_daemon, tmp_path):
    made = []

    def define_one(emulator):
        name = "armvirt-emu-%s" % uuid.uuid4().hex[:8]
        path = tmp_path / (name + ".xml")
        path.write_text(libvirtd.minimal_domain(name, emulator))
        libvirtd.virsh("define", str(path))
        made.append(name)
        return name

    yield define_one
    for name in made:
        libvirtd.virsh("undefine", name, check=False)


def dump(name):
    return libvirtd.virsh("dumpxml", "--inactive", name).stdout


def domain_cpu(name, **options):
    return run_module("domain_cpu", dict(name=name, mode="maximum", features=SVE, props=PROPS, host="hv1",
                                         **options))


def test_domain_cpu_refuses_a_domain_emulator_nobody_trusted(define, hostile, tmp_path, qemu_binary):
    script, marker = hostile
    name = define(script)
    before = dump(name)
    for check in (True, False):
        run = run_module("domain_cpu", dict(name=name, mode="maximum", features=SVE, props=PROPS, host="hv1",
                                            cache_dir=str(tmp_path / "cache")), check=check)
        assert run.failed and "Traceback" not in run.output
        assert run.result["msg"] == (
            "hv1: domain %s was left unchanged: the emulator %s is not trusted, so it was not run: it is neither the "
            "configured emulator nor one that libvirt's capabilities list for aarch64 guests of this type (trusted "
            "here: %s)" % (name, script, trusted_here(qemu_binary))), run.result["msg"]
        assert run.result["confirmation"]["status"] == "refused (untrusted emulator)"
        assert not marker.exists() and dump(name) == before and not (tmp_path / "cache").exists()
    # confirm: false runs nothing, so nothing is refused: the CPU is written without asking any QEMU
    unconfirmed = domain_cpu(name, confirm=False)
    assert not unconfirmed.failed, unconfirmed.output
    assert unconfirmed.result["confirmation"]["status"] == "skipped (confirm: false)"
    assert not marker.exists() and dump(name) != before


def test_a_configured_emulator_is_run_only_when_nobody_else_can_change_it(define, hostile, tmp_path):
    script, marker = hostile
    name = define(script)
    before = dump(name)
    os.chmod(script, 0o775)
    run, checked, probed = run_modules([   # the three modules that run an emulator, in one playbook run
        ("domain_cpu", dict(name=name, mode="maximum", features=SVE, props=PROPS, host="hv1", emulator=script)),
        ("cpu_check", dict(emulator=script, accel="tcg", mode="maximum", features=SVE, host="hv1",
                           cache_dir=str(tmp_path / "cache"))),
        ("props_facts", dict(emulator=script, accel="tcg", cache="ignore"))], tmp_path / "calls")
    assert run.failed and "Traceback" not in run.output
    assert run.result["msg"] == ("hv1: domain %s was left unchanged: the emulator %s is not trusted, so it was not "
                                 "run: %s is writable by group or others (mode 0775)" % (name, script, script))
    assert checked.failed and checked.result["msg"] == (
        "hv1: checking -cpu max,sve=on,sve256=on with QEMU %s (accel=tcg) failed: the emulator %s is not trusted, so "
        "it was not run: %s is writable by group or others (mode 0775)" % (script, script, script))
    assert probed.failed and probed.result["msg"].endswith(
        "the emulator %s is not trusted, so it was not run: %s is writable by group or others (mode 0775)"
        % (script, script))
    assert not marker.exists() and dump(name) == before
    # the same script, configured and safe: trusted, run (the marker shows it, as root), the domain written
    os.chmod(script, 0o755)
    run = domain_cpu(name, emulator=script)
    assert not run.failed, run.output
    assert run.result["confirmation"]["status"] == "accepted" and run.result["confirmation"]["emulator"] == script
    assert marker.read_text().strip() == str(os.geteuid()) and dump(name) != before


def test_domain_cpu_info_reports_the_refusal_per_domain(define, hostile, qemu_binary, tmp_path):
    script, marker = hostile
    bad, good = define(script), define(qemu_binary)
    # each domain by name (the daemon may hold other tests' domains), then the bad one with its emulator configured:
    # three tasks of one playbook run
    runs = run_modules([("domain_cpu_info", dict(host="hv1", name=bad)),
                        ("domain_cpu_info", dict(host="hv1", name=good)),
                        ("domain_cpu_info", dict(host="hv1", name=bad, emulator=script))], tmp_path / "calls")
    entries = {}
    for name, run in zip((bad, good), runs):
        assert not run.failed, run.output
        entries[name] = run.result["domains"][0]
    assert entries[good]["emulator"] == qemu_binary and entries[good]["emulator_refusal"] is None
    assert entries[bad]["emulator"] == script
    assert entries[bad]["emulator_refusal"] == (
        "hv1: domain %s: armvirt.cpu.domain_cpu would not run its emulator %s: it is neither the configured emulator "
        "nor one that libvirt's capabilities list for aarch64 guests of this type (trusted here: "
        "%s)" % (bad, script, trusted_here(qemu_binary)))
    configured = runs[2]
    assert configured.result["domains"][0]["emulator_refusal"] is None
    assert not marker.exists()


def test_apply_refuses_the_untrusted_guest_and_sets_the_others(define, hostile, tmp_path, qemu_binary):
    script, marker = hostile
    bad, good = define(script), define(qemu_binary)
    before = dump(bad)
    policy = tmp_path / "policy.yml"
    policy.write_text(yaml.safe_dump({"mode": "maximum", "features": SVE}))
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"hypervisors": {"hosts": {"hv1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    summary = tmp_path / "summary.json"
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), "armvirt.cpu.apply", "-e", json.dumps({
            "armvirt_cpu_apply_policy_file": str(policy), "armvirt_cpu_apply_domains": [bad, good],
            "armvirt_cpu_apply_props": PROPS, "armvirt_cpu_apply_summary": str(summary),
            "armvirt_cpu_cache_dir": str(tmp_path / "cache")})],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, ANSIBLE_NOCOLOR="1"), check=False)
    assert summary.exists(), proc.stdout[-5000:] + proc.stderr[-2000:]
    result = json.loads(summary.read_text())
    refusal = ("hv1: domain %s was left unchanged: the emulator %s is not trusted, so it was not run: it is neither "
               "the configured emulator nor one that libvirt's capabilities list for aarch64 guests of this type "
               "(trusted here: %s)" % (bad, script, trusted_here(qemu_binary)))
    assert result["changed"] == ["hv1/" + good] and result["drift"] == ["hv1/" + bad], result
    assert result["failed"] == ["hv1/%s: %s" % (bad, refusal)], result["failed"]
    entries = {entry["name"]: entry for entry in result["hosts"]["hv1"]["domains"]}
    assert entries[bad]["msg"] == refusal and entries[good]["failed"] is False
    assert not marker.exists() and dump(bad) == before
