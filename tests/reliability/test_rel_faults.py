"""Fault injection through the simulated hosts (tools/armsim stand-in emulators with fault switches), through the real
props_facts module: every fault fails the task within its timeout (plus a margin for Ansible itself) with a message
that names the host and the emulator and says what happened; no traceback, bounded memory, nothing left behind.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._host import collect, dialects, qmp
from armsim import write_wrapper
from conftest import ROOT, run_module
from rel_helpers import RecordingProxy, open_fds, private_profile, processes_with

HOST = socket.gethostname()
TIMEOUT = 3.0
# Ansible's own start-up and result handling on a loaded 2-core machine: a deadline margin, not a speed claim.
MARGIN = 30.0

FAULTS = {
    # name: (fault switches, what the message must say)
    "no reply": ({"no_reply": ["query-arm-cpu-props-info"]},
                 r"timed out after 3 s waiting for query-arm-cpu-props-info"),
    "disconnect mid reply": ({"disconnect_mid_reply": ["query-commands"]},
                             r"monitor closed the connection while waiting for query-commands"),
    "garbage": ({"garbage_reply": ["query-version"]}, r"invalid JSON from the monitor while waiting for query-version"),
    "events forever": ({"events_forever": ["query-arm-cpu-props-info"]},
                       r"timed out after 3 s waiting for query-arm-cpu-props-info"),
    "oversized reply": ({"oversized_reply": ["query-commands"], "oversized_mib": 70},
                        r"a QMP message while waiting for query-commands exceeds 8388608 bytes \(the cap for that "
                        r"reply\); the connection was closed without decoding it"),
    "lists reply": ({"lists_reply": ["query-arm-cpu-props-info"], "oversized_mib": 60},
                    r"a QMP message while waiting for query-arm-cpu-props-info exceeds 1048576 bytes "
                    r"\(the cap for that reply\)"),
    "crash at start": ({"crash_at_start": "qemu-system-aarch64: armsim: simulated crash"},
                       r"exited with status 1 before its monitor answered: "
                       r"qemu-system-aarch64: armsim: simulated crash"),
    "hang at start": ({"hang_at_start": True}, r"no QMP monitor within 3 s \(its QMP socket was never created\)"),
}


def probe_dirs(directory):
    return sorted(name for name in os.listdir(directory) if name.startswith("armvirt-probe-"))


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_fails_the_module_cleanly(tmp_path, fault):
    switches, said = FAULTS[fault]
    # building and sending 60-70 MiB takes the stand-in seconds on a loaded machine: give it time to hit the bound
    timeout = 30.0 if fault in ("oversized reply", "lists reply") else TIMEOUT
    profile = private_profile(tmp_path)
    emulator = write_wrapper(str(tmp_path / "qemu-system-aarch64"), profile, switches)
    # the module's own temporary directory, to see it removed; under /tmp, since the monitor's socket is made in it
    # and a socket's path has at most 107 bytes (a pytest-xdist worker's tmp_path leaves too few of them)
    private_tmp = tempfile.mkdtemp(prefix="armvirt-faults-", dir="/tmp")
    started = time.monotonic()
    try:
        run = run_module("props_facts", {"emulator": emulator, "accel": "kvm", "timeout": timeout, "cache": "ignore",
                                         "cache_dir": str(tmp_path / "cache")}, env={"TMPDIR": private_tmp})
        elapsed = time.monotonic() - started
        left_behind = probe_dirs(private_tmp)
    finally:
        shutil.rmtree(private_tmp, ignore_errors=True)
    assert run.failed, run.output
    msg = run.result["msg"]
    assert "Traceback" not in run.output and "exception" not in run.result, run.output
    assert emulator in msg and ("on host %s" % HOST) in msg, msg
    assert re.search(said, msg), msg
    assert elapsed < timeout + MARGIN, elapsed
    assert processes_with(profile) == [], "stand-in emulator left running"
    assert left_behind == [], "probe temp dir left behind"
    assert not (tmp_path / "cache").exists() or os.listdir(str(tmp_path / "cache")) == []


PEAK_SCRIPT = r"""
import json, resource, sys
sys.path[:0] = [%(collections)r]
from ansible_collections.armvirt.cpu.plugins.module_utils._host import collect

# VmHWM is this process's own peak: ru_maxrss would carry over the RSS of the process that forked us (the whole
# pytest run) through exec, as Linux keeps the high-water mark across execve.
def peak_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


before_kib = peak_kib()
try:
    collect.probe_host(sys.argv[1], "kvm", 20.0)
    outcome = "no error"
except collect.CollectError as exc:
    outcome = str(exc)
self_kib = peak_kib()
children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"outcome": outcome, "before_kib": before_kib, "self_kib": self_kib, "children_kib": children_kib}))
"""

MEMORY_CASES = {
    # name: (fault switches, what the outcome says)
    "70 MiB string (query-version)": ({"oversized_reply": ["query-version"], "oversized_mib": 70},
                                      "query-version exceeds 8388608 bytes"),
    # under the old 64 MiB bound this reply was decoded: 1.6 GB peak (docs/reliability.md)
    "60 MiB [[],[],...] (props-info)": ({"lists_reply": ["query-arm-cpu-props-info"], "oversized_mib": 60},
                                        "query-arm-cpu-props-info exceeds 1048576 bytes"),
}


@pytest.mark.parametrize("case", sorted(MEMORY_CASES))
def test_oversized_reply_memory_stays_bounded(tmp_path, case):
    """A reply over its cap: the probing process (the module's logic, run as the module would run it) grows by
    less than 100 MB while refusing it; the stand-in that builds the reply is another process and not counted."""
    switches, said = MEMORY_CASES[case]
    profile = private_profile(tmp_path)
    emulator = write_wrapper(str(tmp_path / "qemu-system-aarch64"), profile, switches)
    script = PEAK_SCRIPT % {"collections": str(ROOT / ".build" / "collections")}
    proc = subprocess.run([sys.executable, "-c", script, emulator], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert said in report["outcome"] and "the connection was closed without decoding it" in report["outcome"], report
    growth_kib = report["self_kib"] - report["before_kib"]
    assert growth_kib < 100 * 1024, report
    print("\n%s: probe process peak RSS %.0f MiB, %.1f MiB over its start (stand-in %.0f MiB)"
          % (case, report["self_kib"] / 1024.0, growth_kib / 1024.0, report["children_kib"] / 1024.0))
    assert processes_with(profile) == []


# ------------------------------------------------------------------------------------------------ many failures

ROUNDS = [("crash", {"crash_at_start": True}, 2.0, 80), ("hang", {"hang_at_start": True}, 0.3, 10),
          ("no reply", {"no_reply": ["query-version"]}, 0.5, 10)]


def test_a_hundred_failed_probes_leave_nothing_behind(tmp_path, monkeypatch):
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))  # probe.py's mkdtemp goes here
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    profile = private_profile(tmp_path)
    fds = open_fds()
    failures = 0
    for name, switches, timeout, rounds in ROUNDS:
        emulator = write_wrapper(str(tmp_path / ("qemu-" + name.replace(" ", "-"))), profile, switches)
        for _unused in range(rounds):
            started = time.monotonic()
            with pytest.raises(collect.CollectError) as err:
                collect.probe_host(emulator, "kvm", timeout)
            # start-up and each command have their own deadline; the probe's own clean-up adds at most ~3 s
            assert time.monotonic() - started < 2 * timeout + 5, name
            assert emulator in str(err.value)
            failures += 1
    assert failures == 100
    assert processes_with(profile) == [], "stand-in emulators left running"
    assert probe_dirs(str(private_tmp)) == [], "probe temp dirs (and their sockets) left behind"
    assert os.listdir(str(private_tmp)) == []
    assert open_fds() <= fds, "file descriptors leaked"


# ------------------------------------------------------------------------------------------------ a running monitor


@pytest.fixture
def monitor(tmp_path):
    """`armsim serve`: a long-running monitor, as a QEMU started by someone else; yields (socket, process, start)."""
    procs = []

    def start(*fault_flags):
        path = str(tmp_path / ("monitor%d.sock" % len(procs)))
        env = dict(os.environ, PYTHONPATH=str(ROOT / "tools"))
        proc = subprocess.Popen([sys.executable, "-m", "armsim", "serve", "--profile", "neoverse-n1", "--socket", path]
                                + list(fault_flags), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == path
        return path, proc

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def still_answers(path, proc):
    assert proc.poll() is None, "the monitor exited"
    with qmp.QMPClient(path, timeout=15) as client:
        assert client.execute("query-version")["qemu"]["major"] >= 0
        assert any(command["name"] == "query-arm-cpu-props-info" for command in client.execute("query-commands"))


def test_facts_module_leaves_a_running_monitor_usable_and_never_quits_it(tmp_path, monitor):
    path, proc = monitor()
    proxy = RecordingProxy(str(tmp_path / "proxy.sock"), path)
    try:
        for _unused in range(2):
            run = run_module("props_facts", {"qmp_socket": proxy.path, "accel": "kvm", "timeout": 10})
            assert not run.failed, run.output
            assert run.result["ansible_facts"]["arm_cpu_props"]["supported"] is True
    finally:
        proxy.close()
    commands = proxy.commands()
    assert commands.count("qmp_capabilities") == 2, commands
    assert "quit" not in commands, commands
    still_answers(path, proc)


def test_module_timing_out_on_a_slow_monitor_leaves_it_usable(monitor):
    """The module gives up (closes its connection mid-command); the monitor serves the next client normally."""
    path, proc = monitor("--fault-delay", "1.0")
    run = run_module("props_facts", {"qmp_socket": path, "accel": "kvm", "timeout": 0.5})
    assert run.failed
    assert "timed out after 0.5 s" in run.result["msg"] and path in run.result["msg"], run.result["msg"]
    assert "Traceback" not in run.output
    still_answers(path, proc)


# ------------------------------------------------------------------------------------------------ hostile replies


def serve_replies(path, dialect_reply):
    """A minimal monitor on a unix socket (in a thread) that answers one client: negotiation, version, commands,
    then ``dialect_reply`` (raw JSON bytes) for query-arm-cpu-props-info."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def run():
        conn, _unused = listener.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b'{"QMP": {"version": {}, "capabilities": ["oob"]}}\r\n')
            for line in lines:
                command = json.loads(line)
                name = command["execute"]
                body = {"qmp_capabilities": b"{}", "query-version": b'{"qemu": {"major": 9, "minor": 2, "micro": 0}}',
                        "query-commands": b'[{"name": "query-arm-cpu-props-info"}]'}.get(name, dialect_reply)
                conn.sendall(b'{"return": ' + body + b', "id": ' + json.dumps(command["id"]).encode() + b"}\r\n")
        listener.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_deeply_nested_extra_member_is_left_out_before_it_reaches_ansible(tmp_path):
    """A 400-deep extra member once went into the fact and broke Ansible's controller (RecursionError in the result
    callback); now the reader leaves that member out and says so in a warning, and the rest of the reply is read."""
    path = str(tmp_path / "deep.sock")
    depth = 400
    serve_replies(path, b'[{"name": "pmu", "type": "bool", "supported-values": ["on"], "x-note": '
                  + b"[" * depth + b"]" * depth + b"}]")
    run = run_module("props_facts", {"qmp_socket": path, "accel": "kvm", "timeout": 10})
    assert not run.failed, run.output
    fact = run.result["ansible_facts"]["arm_cpu_props"]
    assert fact["properties"]["pmu"] == {"type": "bool", "supported_values": ["on"]}
    # Ansible shows a module's warnings as [WARNING] lines, not in the printed result
    assert "nests deeper than %d levels; left out" % dialects.MAX_EXTRA_DEPTH in run.output, run.output
    assert "Traceback" not in run.output and "recursion" not in run.output.lower(), run.output
