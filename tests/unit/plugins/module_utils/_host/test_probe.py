# -*- coding: utf-8 -*-
"""spawned_qemu against the real QEMU 7.2 (TCG) and against stand-in emulators that fail on purpose.

Every test checks the promise that matters on a fleet: whatever happens, the emulator is reaped (and its process
group empty) and the private temp dir is gone.
"""

import json
import os
import pathlib
import platform
import stat
import sys
import time

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._host import probe
from ansible_collections.armvirt.cpu.plugins.module_utils._host.probe import ProbeError, spawned_qemu, stderr_tail
from ansible_collections.armvirt.cpu.plugins.module_utils._host.qmp import QMPClient, QMPCommandError, QMPTimeoutError

HERE = pathlib.Path(__file__).resolve().parent.parent   # the module_utils tests, beside qmp_fake_emulator.py
TRANSCRIPTS = HERE.parents[2] / "fixtures" / "qemu-7.2-tcg-transcripts"
MARGIN = 1.0


def assert_cleaned_up(pid, workdir):
    """Reaped (no longer our child, not even a zombie), no process left in its group, temp dir removed."""
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert not os.path.exists(workdir)


def max_props_in_transcript():
    log = json.loads((TRANSCRIPTS / "10_query-cpu-model-expansion_full_max.json").read_text())
    return set(json.loads(log[1]["raw"])["return"]["model"]["props"])


# --- real QEMU --------------------------------------------------------------------------------------------------

@pytest.mark.real_qemu
def test_tcg_probe(qemu_binary):
    with spawned_qemu(qemu_binary, "tcg") as client:
        assert isinstance(client, QMPClient)
        version = client.greeting["QMP"]["version"]["qemu"]
        assert (version["major"], version["minor"]) >= (7, 2)   # Debian 12's 7.2, Debian 13's 10.0
        assert client.execute("query-version")["qemu"] == version
        with pytest.raises(QMPCommandError) as err:
            client.execute("query-arm-cpu-props-info")
        assert err.value.error_class == "CommandNotFound"
        with pytest.raises(QMPCommandError) as err:
            client.execute("query-cpu-model-expansion", {"type": "full", "model": {"name": "nosuchcpu"}})
        assert err.value.error_class == "GenericError"
        assert "nosuchcpu" in err.value.desc
        expansion = client.execute("query-cpu-model-expansion", {"type": "full", "model": {"name": "max"}})
        props = expansion["model"]["props"]
        assert props["sve"] is True and props["pauth"] is True
        # 7.2's transcript; QEMU 8.2 and 10.0 added the pointer authentication algorithm selectors
        newer = {"pauth-qarma3", "pauth-qarma5"} if version["major"] >= 10 else set()
        assert set(props) == max_props_in_transcript() | newer
        assert "qmp.sock" in client.address and client.stderr_tail() == ""
    assert any(e["event"] == "SHUTDOWN" for e in client.events), "QEMU was asked to quit, not killed"
    assert_cleaned_up(client.pid, client.workdir)


@pytest.mark.real_qemu
def test_kvm_unavailable_reports_qemu_stderr(qemu_binary):
    if platform.machine() in ("aarch64", "arm64") and os.path.exists("/dev/kvm"):
        pytest.skip("KVM for aarch64 may really work here")
    start = time.monotonic()
    with pytest.raises(ProbeError) as err:
        with spawned_qemu(qemu_binary, "kvm", timeout=10):
            pytest.fail("accel=kvm cannot start an aarch64 QEMU on this machine")
    assert time.monotonic() - start < 10
    message = str(err.value)
    assert qemu_binary in message and "status 1" in message
    # QEMU's own words: "invalid accelerator kvm" on x86, "Could not access KVM kernel module" without /dev/kvm
    assert os.path.basename(qemu_binary) + ": " in message and "kvm" in message.lower()


@pytest.mark.real_qemu
def test_command_timeout_leaves_nothing_behind(qemu_binary):
    with pytest.raises(QMPTimeoutError) as err:
        with spawned_qemu(qemu_binary, "tcg") as client:
            client.execute("query-qmp-schema", timeout=0.0005)
    assert "query-qmp-schema" in str(err.value) and "the emulator started for this probe" in str(err.value)
    assert "libvirt" not in str(err.value), "nobody else can hold the monitor of our own emulator"
    assert_cleaned_up(client.pid, client.workdir)


@pytest.mark.real_qemu
def test_second_client_is_never_greeted(qemu_binary):
    with spawned_qemu(qemu_binary, "tcg") as client:
        start = time.monotonic()
        with pytest.raises(QMPTimeoutError, match="one QMP client at a time.*libvirt"):
            QMPClient(client.address, timeout=0.3).connect()
        assert time.monotonic() - start < 0.3 + MARGIN
        assert client.execute("query-version")["qemu"] == client.greeting["QMP"]["version"]["qemu"], \
            "the first client still holds the monitor"
    assert_cleaned_up(client.pid, client.workdir)


@pytest.mark.real_qemu
def test_exception_in_block_still_cleans_up(qemu_binary):
    with pytest.raises(RuntimeError, match="caller failed"):
        with spawned_qemu(qemu_binary, "tcg") as client:
            raise RuntimeError("caller failed")
    assert_cleaned_up(client.pid, client.workdir)


@pytest.mark.real_qemu
def test_startup_deadline_with_real_qemu(qemu_binary):
    start = time.monotonic()
    with pytest.raises(ProbeError, match="no QMP monitor within"):
        with spawned_qemu(qemu_binary, "tcg", timeout=0.001):
            pytest.fail("no monitor can be ready after 1 ms")
    assert time.monotonic() - start < MARGIN


@pytest.mark.real_qemu
def test_paused_start_creates_the_vcpu_and_runs_nothing(qemu_binary):
    with probe.paused_cpu(qemu_binary, "tcg", "max,sve=off,sve128=off") as client:
        assert client.execute("query-status")["status"] == "prelaunch"     # -S: created, never run
        (vcpu,) = client.execute("query-cpus-fast")
        assert vcpu["qom-path"] == "/machine/unattached/device[0]" and vcpu["target"] == "aarch64"
        assert client.execute("qom-get", {"path": vcpu["qom-path"], "property": "sve"}) is False
    assert_cleaned_up(client.pid, client.workdir)


@pytest.mark.real_qemu
def test_paused_start_refused_gives_qemus_status_and_whole_message(qemu_binary, tmp_path):
    record = tmp_path / "argv"
    wrapper = script(tmp_path, shell_recorder(record) + 'exec %s "$@"\n' % qemu_binary)
    with pytest.raises(probe.EmulatorExited) as err:
        with probe.paused_cpu(wrapper, "tcg", "max,sve128=off"):
            pytest.fail("QEMU 7.2 refuses sve128=off with SVE on")
    assert err.value.returncode == 1
    assert err.value.stderr == ("qemu-system-aarch64: cannot disable sve128\nDisabling sve128 results in all vector "
                                "lengths being disabled.\nWith SVE enabled, at least one vector length must be "
                                "enabled.")
    assert isinstance(err.value, ProbeError) and wrapper in str(err.value)
    argv = record.read_text().splitlines()[1:]
    assert argv[:8] == ["-S", "-no-user-config", "-nodefaults", "-nographic", "-machine", "virt,accel=tcg", "-cpu",
                        "max,sve128=off"]
    pid, workdir = recorded(record)
    assert_cleaned_up(pid, workdir)


# --- emulators that misbehave -----------------------------------------------------------------------------------

def script(tmp_path, body, name="fake-qemu"):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def recorded(record):
    """pid and temp dir of a stand-in emulator, from what it wrote at start: its pid, then one argument a line."""
    lines = record.read_text().splitlines()
    spec = lines[lines.index("-qmp") + 1]
    return int(lines[0]), os.path.dirname(spec[len("unix:"):].split(",")[0])


def shell_recorder(record):
    return 'echo $$ > %s\nfor a in "$@"; do echo "$a" >> %s; done\n' % (record, record)


def test_nonexistent_emulator(tmp_path):
    missing = str(tmp_path / "no-such-qemu")
    with pytest.raises(ProbeError, match=missing):
        with spawned_qemu(missing, "tcg"):
            pass


def test_emulator_not_executable(tmp_path):
    path = tmp_path / "qemu-not-executable"
    path.write_text("#!/bin/sh\n")
    with pytest.raises(ProbeError, match=str(path)):
        with spawned_qemu(str(path), "tcg"):
            pass


def test_emulator_exits_at_once_with_stderr(tmp_path):
    record = tmp_path / "record"
    emulator = script(tmp_path, shell_recorder(record) +
                      "echo 'fake-qemu: Could not access KVM kernel module: No such file or directory' >&2\n"
                      "echo 'fake-qemu: failed to initialize kvm: No such file or directory' >&2\nexit 1\n")
    with pytest.raises(ProbeError) as err:
        with spawned_qemu(emulator, "kvm", timeout=5):
            pass
    message = str(err.value)
    assert emulator in message and "status 1" in message
    assert "Could not access KVM kernel module" in message and "failed to initialize kvm" in message
    assert_cleaned_up(*recorded(record))


def test_emulator_hanging_without_socket_is_killed(tmp_path):
    record = tmp_path / "record"
    emulator = script(tmp_path, shell_recorder(record) + "echo 'fake-qemu: stuck' >&2\nexec sleep 300\n")
    start = time.monotonic()
    with pytest.raises(ProbeError, match="no QMP monitor within 0.5 s.*fake-qemu: stuck"):
        with spawned_qemu(emulator, "tcg", timeout=0.5):
            pass
    assert time.monotonic() - start < 0.5 + MARGIN
    assert_cleaned_up(*recorded(record))


def python_fake(tmp_path, monkeypatch, mode):
    record = tmp_path / "record"
    monkeypatch.setenv("ARMVIRT_FAKE_QEMU_MODE", mode)
    monkeypatch.setenv("ARMVIRT_FAKE_QEMU_RECORD", str(record))
    return script(tmp_path, 'exec "%s" "%s" "$@"\n' % (sys.executable, HERE / "qmp_fake_emulator.py")), record


def test_emulator_ignoring_quit_is_killed(tmp_path, monkeypatch):
    monkeypatch.setattr(probe, "EXIT_GRACE", 0.2)
    emulator, record = python_fake(tmp_path, monkeypatch, "ignore-quit")
    with spawned_qemu(emulator, "tcg", timeout=5) as client:
        assert client.execute("query-version") == {}
    assert_cleaned_up(*recorded(record))


def test_broken_monitor_at_start_is_a_probe_error_with_stderr(tmp_path, monkeypatch):
    emulator, record = python_fake(tmp_path, monkeypatch, "bad-greeting")
    with pytest.raises(ProbeError, match="QMP start-up failed.*fake-qemu: running in mode bad-greeting"):
        with spawned_qemu(emulator, "tcg", timeout=5):
            pass
    assert_cleaned_up(*recorded(record))


def test_stderr_tail(tmp_path):
    path = tmp_path / "stderr"
    path.write_bytes(b"early noise\n" * 10000 + b"qemu: the reason \xff\n")
    tail = stderr_tail(str(path), limit=100)
    assert tail.endswith("qemu: the reason \ufffd") and len(tail) <= 100
    assert stderr_tail(str(tmp_path / "missing")) == ""
