"""armvirt.cpu.cpu_check run as Ansible runs it (the `ansible` command): against Debian's real QEMU 7.2 (TCG) and a
simulated KVM host. QEMU's own words come back in the result and the failure message; nothing but the results file
is written, and check mode writes nothing."""

import json
import os
import subprocess

import pytest

from armsim import write_wrapper


def checks_files(cache_dir):
    return sorted(path.name for path in cache_dir.glob("*.checks.json")) if cache_dir.exists() else []


@pytest.mark.real_qemu
def test_accepts_then_answers_from_its_results_file(ansible_module, emulator, tmp_path):
    cache_dir = tmp_path / "cache"
    args = {"emulator": emulator, "accel": "tcg", "mode": "maximum", "cache_dir": str(cache_dir), "host": "hv1",
            "features": [{"name": "sve", "policy": "disable"}, {"name": "sve128", "value": "off"},
                         {"name": "pmu", "policy": "optional"}]}
    predicted = ansible_module("cpu_check", args, check=True)
    assert not predicted.failed, predicted.output
    assert predicted.result["accepted"] is True and predicted.result["cache"]["written"] is False
    assert checks_files(cache_dir) == [], "check mode wrote the results file"

    first = ansible_module("cpu_check", args)
    assert not first.failed, first.output
    result = first.result
    assert (result["accepted"], result["error"], result["method"], result["cached"], result["changed"]) == \
        (True, None, "expansion", False, False)
    assert result["cpu_arg"] == "max,sve=off,sve128=off" and result["mode"] == "maximum"
    assert result["expanded"]["sve"] is False and result["expanded"]["pmu"] is True
    assert result["cache"]["written"] is True and len(checks_files(cache_dir)) == 1

    again = ansible_module("cpu_check", {"emulator": emulator, "accel": "tcg",
                                         "cpu_arg": "max,sve=off,sve128=off", "cache_dir": str(cache_dir)})
    assert again.result["cached"] is True and again.result["cache"]["status"] == "valid"
    assert again.result["expanded"] == result["expanded"]


@pytest.mark.real_qemu
@pytest.mark.parametrize("request_args, method, words", [
    ({"mode": "maximum", "features": [{"name": "sve", "policy": "disable"}, {"name": "sve256"}]}, "expansion",
     "cannot enable sve256"),
    ({"cpu_arg": "max,sve-max-vq=0"}, "start",
     "qemu-system-aarch64: can't apply global max-arm-cpu.sve-max-vq=0: unsupported SVE vector length\n"
     "Valid sve-max-vq in range [1-16]"),
])
def test_a_refusal_fails_with_the_host_the_request_and_qemus_words(ansible_module, emulator, tmp_path, request_args,
                                                                   method, words):
    args = dict(request_args, emulator=emulator, accel="tcg", cache_dir=str(tmp_path / "c"), host="hv1")
    run = ansible_module("cpu_check", args)
    assert run.failed and "Traceback" not in run.output
    result = run.result
    assert (result["accepted"], result["error"], result["method"], result["cached"]) == (False, words, method, False)
    assert result["msg"].startswith("hv1: QEMU %s (accel=tcg) refused the guest CPU -cpu %s (mode maximum)"
                                    % (emulator, result["cpu_arg"]))
    assert result["msg"].endswith(words)
    assert checks_files(tmp_path / "c") == []


@pytest.mark.real_qemu
def test_faults_and_bad_requests_fail_cleanly(ansible_module, emulator, tmp_path):
    bad = ansible_module("cpu_check", {"emulator": emulator, "accel": "tcg", "cpu_arg": "max,sve",
                                       "cache_dir": str(tmp_path)})
    assert bad.failed and "sve in the -cpu value max,sve is not name=value" in bad.result["msg"]
    assert bad.result["errors"][0]["rule"] == "bad-feature"
    both = ansible_module("cpu_check", {"emulator": emulator, "cpu_arg": "max", "features": []})
    assert both.failed and "mutually exclusive: features|cpu_arg" in both.result["msg"]
    missing = ansible_module("cpu_check", {"emulator": str(tmp_path / "nope"), "accel": "tcg", "cpu_arg": "max",
                                           "cache_dir": str(tmp_path), "host": "hv1"})
    assert missing.failed and missing.result["msg"].startswith("hv1: checking -cpu max with QEMU %s" % (tmp_path / "nope"))
    assert "does not exist" in missing.result["msg"] and "accepted" not in missing.result
    assert "Traceback" not in bad.output + both.output + missing.output


def test_a_simulated_kvm_host_refuses_an_id_register_value_at_vcpu_init(ansible_module, tmp_path):
    emulator = write_wrapper(str(tmp_path / "qemu-system-aarch64"), "neoverse-n1-oldkernel")
    args = {"emulator": emulator, "accel": "kvm", "cache_dir": str(tmp_path / "c"), "host": "altra-03",
            "features": [{"name": "sve", "policy": "disable"}, {"name": "hw_prop_WRPs", "value": "3"}]}
    accepted = ansible_module("cpu_check", args)
    assert not accepted.failed, accepted.output
    assert (accepted.result["method"], accepted.result["cpu_arg"]) == ("start", "host,sve=off,hw_prop_WRPs=3")
    refused = ansible_module("cpu_check", dict(args, features=[{"name": "hw_prop_WRPs", "value": "2"}]))
    assert refused.failed and refused.result["method"] == "start"
    assert refused.result["error"].startswith("qemu-system-aarch64: hw_prop_WRPs=2: KVM refused the ID register value")
    assert "altra-03: QEMU %s (accel=kvm) refused the guest CPU -cpu host,hw_prop_WRPs=2" % emulator in \
        refused.result["msg"]
    stored = json.loads(next((tmp_path / "c").glob("*-kvm.checks.json")).read_text())
    assert list(stored["accepted"]) == ["host-passthrough host,sve=off,hw_prop_WRPs=3"]


def test_the_module_documents_itself():
    proc = subprocess.run(["ansible-doc", "-t", "module", "armvirt.cpu.cpu_check"], capture_output=True, text=True,
                          timeout=60, check=False, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    assert proc.returncode == 0, proc.stderr
    for text in ("cpu_arg", "features", "accepted", "expanded", "method", "cached", "paused start"):
        assert text in proc.stdout, text
