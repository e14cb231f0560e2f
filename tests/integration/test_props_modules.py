"""props_facts and props_cache run as Ansible runs them (the `ansible` command), against real QEMU."""

import json
import os
import pathlib
import socket
import stat
import time

import jsonschema
import pytest

from conftest import ROOT

FACT_SCHEMA = json.loads((ROOT / "docs" / "schemas" / "arm_cpu_props.schema.json").read_text())

pytestmark = pytest.mark.real_qemu


@pytest.fixture
def cache_dir(tmp_path):
    return str(tmp_path / "cache")


def fact_of(run):
    assert not run.failed, run.output
    fact = run.result["ansible_facts"]["arm_cpu_props"]
    jsonschema.validate(fact, FACT_SCHEMA)
    return fact


def test_props_facts_on_real_qemu_reports_the_expansion_dialect(ansible_module, emulator, cache_dir):
    run = ansible_module("props_facts", {"emulator": emulator, "accel": "tcg", "cache_dir": cache_dir})
    fact = fact_of(run)
    assert run.result["changed"] is False
    assert fact["supported"] is True
    assert fact["dialect"] == "query-cpu-model-expansion"
    assert fact["cpu_model"] == "max"
    assert fact["source"] == "probe"
    assert fact["qemu_version"].startswith("7.2.")
    assert fact["emulator"] == emulator
    assert fact["properties"]["sve"]["supported_values"] == ["on", "off"]
    assert fact["properties"]["pauth"]["supported_values"] == ["on", "off"]
    assert fact["properties"]["aarch64"]["supported_values"] == ["on"]
    assert run.result["cache"]["status"] == "missing"
    assert not os.path.exists(cache_dir), "the facts module never writes the cache"


def test_cache_written_once_then_reused_until_the_emulator_changes(ansible_module, emulator, cache_dir):
    args = {"emulator": emulator, "accel": "tcg", "cache_dir": cache_dir}
    first = ansible_module("props_cache", args)
    assert first.result["changed"] is True, first.output
    assert fact_of(first)["source"] == "probe"
    path = first.result["path"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644

    second = ansible_module("props_cache", args)
    assert second.result["changed"] is False, second.output
    assert fact_of(second)["source"] == "cache"

    facts = ansible_module("props_facts", args)
    assert fact_of(facts)["source"] == "cache"
    assert facts.result["cache"]["status"] == "valid"
    assert fact_of(facts)["properties"] == fact_of(first)["properties"]

    ctime = os.stat(emulator).st_ctime_ns
    while os.stat(emulator).st_ctime_ns == ctime:
        time.sleep(0.01)
        os.chmod(emulator, 0o755)
    stale = ansible_module("props_facts", args)
    assert fact_of(stale)["source"] == "probe"
    assert "emulator changed" in stale.result["cache"]["status"]

    refreshed = ansible_module("props_cache", args)
    assert refreshed.result["changed"] is True
    assert ansible_module("props_cache", args).result["changed"] is False


def test_corrupt_cache_means_probe_again(ansible_module, emulator, cache_dir):
    args = {"emulator": emulator, "accel": "tcg", "cache_dir": cache_dir}
    path = ansible_module("props_cache", args).result["path"]
    pathlib.Path(path).write_text("<cpuPropertyInfo format='1'><property name=")
    facts = ansible_module("props_facts", args)
    assert fact_of(facts)["source"] == "probe"
    assert facts.result["cache"]["status"].startswith("corrupt")
    repaired = ansible_module("props_cache", args)
    assert repaired.result["changed"] is True
    assert fact_of(ansible_module("props_facts", args))["source"] == "cache"


def test_check_mode_and_diff_write_nothing(ansible_module, emulator, cache_dir):
    args = {"emulator": emulator, "accel": "tcg", "cache_dir": cache_dir}
    run = ansible_module("props_cache", args, check=True, diff=True)
    assert run.result["changed"] is True, run.output
    assert "<cpuPropertyInfo" in run.output, "diff mode shows the new file"
    assert not os.path.exists(run.result["path"])

    ansible_module("props_cache", args)
    removal = ansible_module("props_cache", dict(args, state="absent"), check=True)
    assert removal.result["changed"] is True
    assert os.path.exists(removal.result["path"])
    removed = ansible_module("props_cache", dict(args, state="absent"))
    assert removed.result["changed"] is True
    assert not os.path.exists(removed.result["path"])
    assert ansible_module("props_cache", dict(args, state="absent")).result["changed"] is False


def test_missing_emulator_fails_with_host_and_path(ansible_module, tmp_path, cache_dir):
    missing = str(tmp_path / "no-such-qemu")
    run = ansible_module("props_facts", {"emulator": missing, "accel": "tcg", "cache_dir": cache_dir})
    assert run.failed
    assert missing in run.result["msg"]
    assert socket.gethostname() in run.result["msg"]
    assert "Traceback" not in run.output


def test_kvm_probe_without_kvm_fails_with_qemu_words(ansible_module, emulator, cache_dir):
    if os.uname().machine == "aarch64" and os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("this host has KVM")
    run = ansible_module("props_facts", {"emulator": emulator, "accel": "kvm", "cache_dir": cache_dir})
    assert run.failed
    assert "accel=kvm" in run.result["msg"]
    assert "kvm" in run.result["msg"].lower()
    assert "Traceback" not in run.output


def test_symlinked_cache_is_refused(ansible_module, emulator, tmp_path, cache_dir):
    args = {"emulator": emulator, "accel": "tcg", "cache_dir": cache_dir}
    path = ansible_module("props_cache", dict(args, state="absent")).result["path"]
    os.makedirs(cache_dir, exist_ok=True)
    target = tmp_path / "elsewhere.xml"
    target.write_text("")
    os.symlink(str(target), path)
    run = ansible_module("props_cache", args)
    assert run.failed
    assert "symlink" in run.result["msg"]
    assert path in run.result["msg"]
    assert target.read_text() == ""
