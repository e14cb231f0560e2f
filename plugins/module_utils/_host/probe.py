# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

Spawn an emulator the way libvirt probes it, hand out its QMP monitor, and always clean up.

A probe runs on every hypervisor of a fleet, so it must never leave a QEMU, a socket or a temp dir behind, whatever
goes wrong: the emulator is missing, exits at once (no KVM), hangs, or the caller's commands time out.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import ContextManager, Iterator

from ansible_collections.armvirt.cpu.plugins.module_utils._host.qmp import QMPClient, QMPConnectError, QMPError

QUIT_TIMEOUT = 1.0  # for the best-effort quit; a stuck QEMU is killed anyway
EXIT_GRACE = 2.0    # how long QEMU may take to exit after quit before SIGKILL
FAILED_START_WAIT = 0.5  # how long a QEMU whose monitor failed at start-up may take to exit with its reason
POLL_INTERVAL = 0.01
STDERR_TAIL = 4096


class ProbeError(Exception):
    """The emulator could not be started or its monitor not reached; the message quotes its stderr."""


class EmulatorExited(ProbeError):
    """The emulator exited before its monitor answered. ``returncode`` is its exit status (negative: a signal) and
    ``stderr`` the end of what it wrote, QEMU's own words (for a refused ``-cpu``: why it refused)."""

    def __init__(self, message: str, returncode: int | None, stderr: str) -> None:
        super(EmulatorExited, self).__init__(message)
        self.returncode, self.stderr = returncode, stderr


class SpawnedQMPClient(QMPClient):
    """A negotiated QMPClient that also knows its QEMU, so callers can quote stderr in their own errors."""

    timeout_hint = "the emulator started for this probe did not answer in time"  # nobody else holds its monitor

    pid: int | None = None          # QEMU's pid (also its process group: it runs in a session of its own)
    workdir: str | None = None      # the private temp dir, removed on exit from spawned_qemu()
    stderr_path: str | None = None  # QEMU's stderr, a file in workdir

    def stderr_tail(self, limit: int = STDERR_TAIL) -> str:
        return stderr_tail(self.stderr_path, limit)


def stderr_tail(path: str | None, limit: int = STDERR_TAIL) -> str:
    """The last ``limit`` bytes of a file as text: QEMU's reason for failing is in its last lines."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - limit, 0))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def qemu_argv(emulator: str, accel: str, sock: str, machine: str = "none", cpu: str | None = None) -> list[str]:
    """libvirt's probe command line: no config, no devices, no machine, CPUs stopped, monitor on a unix socket.

    ``machine="virt"`` with ``cpu`` (a ``-cpu`` value) is the paused start of :func:`paused_cpu` instead.
    """
    argv = [emulator, "-S", "-no-user-config", "-nodefaults", "-nographic", "-machine", machine + ",accel=" + accel]
    if cpu is not None:
        argv += ["-cpu", cpu]
    return argv + ["-qmp", "unix:" + sock + ",server=on,wait=off"]


@contextlib.contextmanager
def spawned_qemu(emulator: str, accel: str, timeout: float = 10.0, machine: str = "none",
                 cpu: str | None = None) -> Iterator[SpawnedQMPClient]:
    """Start ``emulator`` with ``accel``, yield a negotiated SpawnedQMPClient, then quit, kill, reap and clean up.

    ``timeout`` bounds the start-up (spawn to negotiated monitor) and is the client's default command timeout.
    An emulator that exits before its monitor answers raises :class:`EmulatorExited` (a ProbeError).
    """
    path = shutil.which(emulator)
    if path is None:
        raise ProbeError("emulator %s does not exist or is not executable" % emulator)
    deadline = time.monotonic() + timeout
    workdir = tempfile.mkdtemp(prefix="armvirt-probe-")
    proc: subprocess.Popen[bytes] | None = None
    client: SpawnedQMPClient | None = None
    try:
        sock = os.path.join(workdir, "qmp.sock")
        errpath = os.path.join(workdir, "stderr")
        with open(errpath, "wb") as err:  # a file, not a pipe: nobody drains a pipe and a full one blocks QEMU
            try:
                # Not run_command (ansible-core 2.21's pylint plugin asks for it): QEMU serves its monitor while the
                # module talks to it and is stopped by quit or SIGKILL, and run_command runs a command to its end.
                # Inline, as ansible-lint's production profile allows no ignore-file entry for it.
                proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
                    qemu_argv(path, accel, sock, machine, cpu), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=err, cwd=workdir, start_new_session=True)
            except OSError as exc:
                raise ProbeError("cannot run emulator %s: %s" % (emulator, exc))
        client = _await_monitor(proc, sock, deadline, timeout, emulator, errpath)
        client.pid, client.workdir, client.stderr_path = proc.pid, workdir, errpath
        yield client
    finally:
        try:
            _stop(proc, client)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def paused_cpu(emulator: str, accel: str, cpu: str, timeout: float = 10.0) -> ContextManager[SpawnedQMPClient]:
    """A paused start of a guest CPU: ``EMULATOR -S -no-user-config -nodefaults -nographic -machine virt,accel=ACCEL
    -cpu CPU -qmp unix:...`` in a private temp dir, as a context manager yielding the negotiated client.

    QEMU creates and realizes the vCPU before its monitor answers (under KVM that includes the vCPU init, where KVM
    refuses ID register values), runs nothing (``-S``), has no devices and no disk. A monitor that answers means QEMU
    accepted ``cpu``; QEMU exiting first raises :class:`EmulatorExited` with its stderr. Reaped and cleaned up on
    every path, like :func:`spawned_qemu`.
    """
    return spawned_qemu(emulator, accel, timeout, machine="virt", cpu=cpu)


def _await_monitor(proc: subprocess.Popen[bytes], sock: str, deadline: float, timeout: float, emulator: str,
                   errpath: str) -> SpawnedQMPClient:
    """Poll until the monitor accepts and negotiates; QEMU creates its socket a few ms after exec."""
    last = "its QMP socket was never created"
    while True:
        if proc.poll() is not None:
            raise _exited(proc, emulator, errpath)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProbeError("emulator %s: no QMP monitor within %g s (%s); stderr: %s"
                             % (emulator, timeout, last, stderr_tail(errpath) or "(empty)"))
        if os.path.exists(sock):
            client = SpawnedQMPClient(sock, timeout=remaining)
            try:
                client.connect()
            except QMPConnectError as exc:  # socket bound but not yet listening, or QEMU just exited
                last = str(exc)
            except QMPError as exc:
                # QEMU creates the socket before it checks e.g. the accelerator, then exits: say so if it did
                try:
                    proc.wait(timeout=min(FAILED_START_WAIT, max(deadline - time.monotonic(), POLL_INTERVAL)))
                except subprocess.TimeoutExpired:
                    raise ProbeError("emulator %s: QMP start-up failed: %s; stderr: %s"
                                     % (emulator, exc, stderr_tail(errpath) or "(empty)"))
                raise _exited(proc, emulator, errpath)
            else:
                client.timeout = timeout
                return client
        time.sleep(min(POLL_INTERVAL, max(remaining, 0)))


def _exited(proc: subprocess.Popen[bytes], emulator: str, errpath: str) -> EmulatorExited:
    text = stderr_tail(errpath)
    return EmulatorExited("emulator %s exited with status %s before its monitor answered: %s"
                          % (emulator, proc.returncode, text or "(no stderr output)"), proc.returncode, text)


def _stop(proc: subprocess.Popen[bytes] | None, client: SpawnedQMPClient | None) -> None:
    """Ask QEMU to quit, give it a moment, then SIGKILL its process group; always reap."""
    quit_sent = False
    if client is not None:
        try:
            client.execute("quit", timeout=QUIT_TIMEOUT)
            quit_sent = True
        except QMPError:
            pass
        client.close()
    if proc is None:
        return
    try:
        proc.wait(timeout=EXIT_GRACE if quit_sent else 0.05)
    except subprocess.TimeoutExpired:
        pass
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # not reaped yet, so the pid (= pgid) cannot have been reused
        except OSError:
            pass
        proc.wait()
