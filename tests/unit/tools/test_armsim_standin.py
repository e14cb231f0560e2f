"""The stand-in emulator runs with libvirt's exact argv, serves QMP on its socket and leaves nothing behind."""

import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
from qemu.qmp import ConnectError
from qemu.qmp.legacy import QEMUMonitorProtocol

from armsim import write_wrapper
from armsim.cli import STANDIN

TRANSCRIPTS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "qemu-7.2-tcg-transcripts"
TOOLS = pathlib.Path(STANDIN).parent.parent


def libvirt_argv(tmp_path, accel="tcg", daemonize=True):
    """argv.txt with our paths: -S -no-user-config ... -qmp unix:SOCK,server=on,wait=off -pidfile P -daemonize."""
    argv = (TRANSCRIPTS / "argv.txt").read_text().split()[1:]
    argv = [a.replace("/tmp/qmp-machine-none-6570", str(tmp_path / "qmp")) for a in argv]
    argv = [a.replace("accel=tcg", "accel=" + accel) for a in argv]
    return argv if daemonize else [a for a in argv if a != "-daemonize"]


def when_listening(connect, timeout=5.0):
    """connect() once the monitor listens. QEMU, like armsim, creates its socket (bind) a moment before it listens:
    until then a client is told the path is missing or the connection is refused."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return connect()
        except (FileNotFoundError, ConnectionRefusedError, ConnectError):
            assert time.monotonic() < deadline, "the monitor never listened"
            time.sleep(0.01)


def qmp_client(sock):
    """A qemu.qmp client connected and negotiated."""
    client = QEMUMonitorProtocol(str(sock))
    client.connect()
    return client


def gone(pid):
    """True when pid has exited (a zombie left to a non-reaping init counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with contextlib.suppress(OSError):
        return pathlib.Path("/proc/%d/stat" % pid).read_text().split(")")[1].split()[0] == "Z"
    return True


def quit_monitor(sock):
    client = when_listening(lambda: qmp_client(sock))
    version = client.cmd("query-version")
    assert client.cmd_raw("quit") == {"return": {}}
    with contextlib.suppress(EOFError):
        client.close()
    return version


def test_libvirt_argv_with_daemonize_serves_and_quits_without_leftovers(tmp_path):
    argv = libvirt_argv(tmp_path)
    parent = subprocess.run([STANDIN, *argv, "--armsim-profile", "qemu-7.2-released"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=10, check=False)
    assert parent.returncode == 0, parent.stderr  # like QEMU: the parent returns once the monitor exists
    sock, pidfile = tmp_path / "qmp.sock", tmp_path / "qmp.pid"
    assert sock.exists() and pidfile.exists()
    pid = int(pidfile.read_text())
    try:
        assert quit_monitor(sock)["qemu"] == {"micro": 22, "minor": 2, "major": 7}
        deadline = time.monotonic() + 5
        while not gone(pid):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        if not gone(pid):  # never leave a daemon behind, even when the test fails
            os.kill(pid, signal.SIGKILL)
    assert not sock.exists() and not pidfile.exists()


@pytest.mark.parametrize("how", ["script", "module"])
def test_foreground_run_with_env_profile_exits_0_on_quit(tmp_path, how):
    env = dict(os.environ, ARMSIM_PROFILE="neoverse-v1", PYTHONPATH=str(TOOLS))
    program = [STANDIN] if how == "script" else [sys.executable, "-m", "armsim"]
    proc = subprocess.Popen([*program, *libvirt_argv(tmp_path, "kvm", daemonize=False)], env=env)
    try:
        quit_monitor(tmp_path / "qmp.sock")
        assert proc.wait(5) == 0
    finally:
        proc.kill()
        proc.wait()
    assert not (tmp_path / "qmp.sock").exists()


def test_kvm_on_a_host_without_kvm_fails_like_qemu(tmp_path):
    result = subprocess.run([STANDIN, *libvirt_argv(tmp_path, "kvm"), "--armsim-profile", "qemu-7.2-released"],
                            capture_output=True, text=True, timeout=10, check=False)
    assert result.returncode == 1
    assert result.stderr == "qemu-system-aarch64: invalid accelerator kvm\n"  # measured with Debian's QEMU 7.2
    assert not (tmp_path / "qmp.sock").exists()


def test_sigterm_ends_it_cleanly(tmp_path, rawclient):
    proc = subprocess.Popen([STANDIN, *libvirt_argv(tmp_path, daemonize=False), "--armsim-profile", "neoverse-n1"],
                            stderr=subprocess.PIPE, text=True)
    client = when_listening(lambda: rawclient(str(tmp_path / "qmp.sock"))).negotiate()
    proc.send_signal(signal.SIGTERM)
    assert client.msg()["data"] == {"guest": False, "reason": "host-signal"}  # QEMU's SHUTDOWN on a signal
    with pytest.raises(EOFError):
        client.line()
    client.close()
    assert proc.wait(5) == 0
    assert "terminating on signal 15" in proc.stderr.read()
    proc.stderr.close()
    assert not (tmp_path / "qmp.sock").exists()


def test_fault_crash_at_start_from_env(tmp_path):
    env = dict(os.environ, ARMSIM_FAULTS=json.dumps({"crash_at_start": "qemu-system-aarch64: simulated failure"}))
    result = subprocess.run([STANDIN, *libvirt_argv(tmp_path), "--armsim-profile", "neoverse-n1"], env=env,
                            capture_output=True, text=True, timeout=10, check=False)
    assert (result.returncode, result.stderr) == (1, "qemu-system-aarch64: simulated failure\n")
    assert not (tmp_path / "qmp.sock").exists()


def test_fault_hang_at_start_from_a_flag(tmp_path):
    proc = subprocess.Popen([STANDIN, *libvirt_argv(tmp_path, daemonize=False), "--armsim-profile", "neoverse-n1",
                             "--fault-hang-at-start"])
    try:
        time.sleep(0.4)
        assert proc.poll() is None and not (tmp_path / "qmp.sock").exists()
    finally:
        proc.terminate()
        assert proc.wait(5) == -signal.SIGTERM


def test_write_wrapper_gives_each_host_its_own_emulator(tmp_path):
    wrapper = write_wrapper(str(tmp_path / "emu-v2"), "neoverse-v2", faults={"events_before_reply": 1})
    assert os.access(wrapper, os.X_OK) and open(wrapper).readline() == "#!/bin/sh\n"
    proc = subprocess.Popen([wrapper, *libvirt_argv(tmp_path, "kvm", daemonize=False)])
    try:
        client = when_listening(lambda: qmp_client(tmp_path / "qmp.sock"))
        assert client.cmd("query-cpu-props-info")
        assert client.get_events()  # the baked-in fault sent an event before the reply
        client.cmd_raw("quit")
        with contextlib.suppress(EOFError):
            client.close()
        assert proc.wait(5) == 0
    finally:
        proc.kill()
        proc.wait()


def test_write_wrapper_refuses_unknown_profiles_and_faults(tmp_path):
    with pytest.raises(ValueError, match="no armsim profile"):
        write_wrapper(str(tmp_path / "x"), "no-such-host")
    with pytest.raises(ValueError, match="unknown fault"):
        write_wrapper(str(tmp_path / "x"), "neoverse-n1", faults={"bogus": 1})


def test_serve_subcommand_is_a_long_running_monitor(tmp_path):
    sock = tmp_path / "mon.sock"
    proc = subprocess.Popen([sys.executable, "-m", "armsim", "serve", "--profile", "neoverse-n1-oldkernel",
                             "--socket", str(sock)], env=dict(os.environ, PYTHONPATH=str(TOOLS)),
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == str(sock)
        for _client in range(2):  # it outlives a client; only quit ends it
            client = QEMUMonitorProtocol(str(sock))
            client.connect()
            assert client.cmd("query-kvm") == {"enabled": True, "present": True}
            client.close()
        quit_monitor(sock)
        assert proc.wait(5) == 0
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def paused_start_argv(tmp_path, cpu, accel="kvm"):
    """probe.paused_cpu's command line: machine virt and a -cpu instead of machine none."""
    return ["-S", "-no-user-config", "-nodefaults", "-nographic", "-machine", "virt,accel=" + accel, "-cpu", cpu,
            "-qmp", "unix:%s,server=on,wait=off" % (tmp_path / "qmp.sock")]


def test_a_refused_cpu_exits_1_with_qemus_words_before_any_monitor(tmp_path):
    result = subprocess.run([STANDIN, *paused_start_argv(tmp_path, "host,sve=off,sve256=on"), "--armsim-profile",
                             "neoverse-v1"], capture_output=True, text=True, timeout=10, check=False)
    assert (result.returncode, result.stderr) == (1, "qemu-system-aarch64: cannot enable sve256\n")
    assert not (tmp_path / "qmp.sock").exists()


def test_an_accepted_cpu_serves_its_monitor(tmp_path):
    proc = subprocess.Popen([STANDIN, *paused_start_argv(tmp_path, "host,sve=off,hw_prop_WRPs=3"), "--armsim-profile",
                             "neoverse-n1-oldkernel"])
    try:
        assert quit_monitor(tmp_path / "qmp.sock")["qemu"]["major"] == 9
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("profile, cpu, stderr", [
    ("ampereone-sysreg", "host,SYSREG_ID_AA64ISAR0_EL1_AES=0x3",   # above the host's 2: FTR_LOWER_SAFE refuses it
     "qemu-system-aarch64: SYSREG_ID_AA64ISAR0_EL1_AES=0x3: KVM refused the ID register value (KVM_SET_ONE_REG: "
     "Invalid argument)\nqemu-system-aarch64: kvm_init_vcpu: kvm_arch_init_vcpu failed (0): Invalid argument\n"),
    ("neoverse-v2-sysreg", "host,sve128=off", "qemu-system-aarch64: cannot disable sve128\n"),
])
def test_the_kernel_and_qemu_refuse_at_a_paused_start(tmp_path, profile, cpu, stderr):
    result = subprocess.run([STANDIN, *paused_start_argv(tmp_path, cpu), "--armsim-profile", profile],
                            capture_output=True, text=True, timeout=10, check=False)
    assert (result.returncode, result.stderr) == (1, stderr)
    assert not (tmp_path / "qmp.sock").exists()


def test_an_accepted_sysreg_value_serves_its_monitor(tmp_path):
    proc = subprocess.Popen([STANDIN, *paused_start_argv(tmp_path, "host,sve=off,sve128=off,"
                                                         "SYSREG_ID_AA64ISAR0_EL1_AES=0x1"),
                             "--armsim-profile", "neoverse-v2-sysreg"])
    try:
        assert quit_monitor(tmp_path / "qmp.sock")["qemu"]["major"] == 10
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
