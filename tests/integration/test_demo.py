"""scripts/demo's work (tools/demo.py with a temporary workdir): end to end, then a second run that changes nothing,
and no process left behind."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def demo(workdir):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tools"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "demo.py"), "--workdir", str(workdir)],
                          capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc.stdout


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


@pytest.mark.skipif(not os.path.isfile("/usr/share/libvirt/schemas/domain.rng"),
                    reason="libvirt's schemas (Debian libvirt0) are not installed")
def test_demo_runs_end_to_end_twice_and_the_second_run_changes_nothing(tmp_path):
    first = demo(tmp_path)
    for text in ("armvirt.cpu.gather", "armvirt.cpu.rollout", "armvirt.cpu.report",
                 "Delivery: qemu-commandline", "has no `value`", "offline-01"):
        assert text in first, text
    report = tmp_path / "artifacts" / "report" / "index.html"
    assert report.is_file() and str(report) in first
    assert (tmp_path / "hosts" / "altra-01" / "guests" / "web1.xml").is_file()
    assert not list((tmp_path / "hosts" / "graviton3-01" / "guests").glob("*.xml"))  # failed validation
    assert "feat_RAS" in first and "legacy-01" in first
    # cpu_check: legacy-01's own QEMU (TCG only) refuses the fleet policy's host-passthrough, in QEMU's words,
    # although the request passed validation against the facts; nothing is written there
    legacy = json.loads((tmp_path / "artifacts" / "rollout" / "hosts" / "legacy-01.json").read_text())
    assert legacy["status"] == "failed" and legacy["errors"] == []
    assert list(legacy["refused"].values()) == ["The CPU type 'host' requires KVM"]
    assert "legacy-01     REFUSED" in first and "QEMU's words: The CPU type 'host' requires KVM" in first
    assert "written for legacy-01: nothing (no guest XML)" in first
    assert not list((tmp_path / "hosts" / "legacy-01" / "guests").glob("*.xml"))
    assert "altra-01      accepted (start)" in first
    assert leftovers(tmp_path) == []

    second = demo(tmp_path)
    assert "changed=1" not in second and "changed: [" not in second, second[-4000:]
    assert leftovers(tmp_path) == []
