"""A libvirtd for the tests, started by hand (no systemd here or in CI) and stopped with everything it started.

Why by hand: CI runs as root on a fresh machine with Debian's libvirt installed (scripts/setup.sh) but nothing
running, and without systemd. What Debian's unit files would do is done here:

- libvirt's QEMU driver refuses to start without the user ``libvirt-qemu`` (it looks it up before reading
  qemu.conf), so a system user and group of that name are created when missing, and removed again;
- QEMU must run as root in a container-like machine (no dynamic ownership to chown to), so ``qemu.conf`` says
  ``user = "root"``. That file is written into a private copy of ``/etc/libvirt`` that is bind-mounted over the real
  one in a mount namespace of libvirtd's own (``unshare --mount``), so nothing in ``/etc`` changes and the domains
  the tests define are stored in the private copy. Where a namespace cannot be made, ``/etc/libvirt/qemu.conf`` is
  written and restored afterwards;
- ``virtlogd`` (QEMU's log handler) and ``libvirtd`` run in the foreground as our children, so their pids are
  known and they are stopped by pid; ``/var/log/libvirt`` is created when missing.

A daemon that already answers at the URI is used as it is and left running.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from xml.sax.saxutils import escape

import pytest

URI = "qemu:///system"
QEMU_USER = "libvirt-qemu"
ETC = "/etc/libvirt"
VIRTLOGD_SOCKET = "/run/libvirt/virtlogd-sock"
SCHEMAS = "/usr/share/libvirt/schemas"
# tests that validate guest XML against libvirt's own RelaxNG schemas: skipped only where Debian's libvirt0 is not
# installed and CI is not set (in CI the set-up installs it, and a missing schema fails the test)
needs_libvirt_schema = pytest.mark.skipif(not os.path.isfile(os.path.join(SCHEMAS, "domain.rng"))
                                          and not os.environ.get("CI"),
                                          reason="libvirt's schemas (Debian libvirt0) are not installed")
LOG_DIR = "/var/log/libvirt"
PACKAGES = "libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-arm"


def minimal_domain(name, emulator="/usr/bin/qemu-system-aarch64", uuid=None):
    """The XML of the smallest aarch64 TCG domain libvirt defines (no disks): ``name`` and ``emulator`` escaped,
    ``<uuid>`` only when one is given."""
    return ("<domain type='qemu'>\n  <name>%s</name>\n%s  <memory unit='MiB'>128</memory>\n  <vcpu>1</vcpu>\n"
            "  <os><type arch='aarch64' machine='virt'>hvm</type></os>\n  <cpu mode='maximum'/>\n"
            "  <devices><emulator>%s</emulator></devices>\n</domain>\n"
            % (escape(name), "  <uuid>%s</uuid>\n" % uuid if uuid else "", escape(str(emulator))))


class Unavailable(Exception):
    """libvirtd cannot be run here (not installed, not root); the message says why."""


def virsh(*args, timeout=60, check=True, uri=URI):
    """Run ``virsh -c URI ARGS`` (C locale); returns the CompletedProcess, raising AssertionError on failure when
    ``check``, with virsh's message."""
    proc = subprocess.run(["virsh", "-q", "-c", uri] + list(args), capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, LC_ALL="C", LANG="C"), stdin=subprocess.DEVNULL, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("virsh %s failed: %s" % (" ".join(args), proc.stderr.strip()))
    return proc


def answers(uri=URI):
    if shutil.which("virsh") is None:
        return False
    try:
        return virsh("uri", timeout=10, check=False, uri=uri).returncode == 0
    except subprocess.TimeoutExpired:
        return False


class Libvirtd(object):
    """``start()`` then ``stop()``; ``stop()`` undoes exactly what ``start()`` did, in reverse order."""

    def __init__(self, uri=URI):
        self.uri = uri
        self.processes = []          # (name, Popen) in start order
        self.undo = []               # callables, run in reverse order by stop()
        self.workdir = None
        self.started = False

    def start(self, timeout=30.0):
        if answers(self.uri):
            return self
        missing = [name for name in ("libvirtd", "virtlogd", "virsh", "qemu-system-aarch64")
                   if shutil.which(name) is None and not os.path.exists("/usr/sbin/" + name)]
        if missing:
            raise Unavailable("not installed: %s (Debian packages %s; scripts/setup.sh installs them)"
                              % (", ".join(missing), PACKAGES))
        if os.geteuid() != 0:
            raise Unavailable("starting libvirtd for qemu:///system needs root")
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout):
        self.started = True
        self.workdir = tempfile.mkdtemp(prefix="armvirt-libvirtd-")
        self.undo.append(lambda: shutil.rmtree(self.workdir, ignore_errors=True))
        self._ensure_qemu_user()
        if not os.path.isdir(LOG_DIR):
            os.makedirs(LOG_DIR)
            self.undo.append(lambda: shutil.rmtree(LOG_DIR, ignore_errors=True))
        etc = os.path.join(self.workdir, "etc")
        if os.path.isdir(ETC):
            shutil.copytree(ETC, etc, symlinks=True)
        else:
            os.makedirs(etc)
        with open(os.path.join(etc, "qemu.conf"), "w", encoding="utf-8") as handle:
            handle.write('# written by tests/libvirtd.py\nuser = "root"\ngroup = "root"\n')
        if not self._answers_on(VIRTLOGD_SOCKET):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(VIRTLOGD_SOCKET)   # left by a virtlogd that was killed: a new one would not bind it
            self._spawn("virtlogd", [self._which("virtlogd")])
        libvirtd = self._which("libvirtd")
        if shutil.which("unshare") and self._namespace_works():
            self._spawn("libvirtd", ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                                     'mount --bind "$1" /etc/libvirt && exec "$2"', "sh", etc, libvirtd])
        else:
            self._replace_etc_qemu_conf(os.path.join(etc, "qemu.conf"))
            self._spawn("libvirtd", [libvirtd])
        deadline = time.monotonic() + timeout
        while not answers(self.uri):
            for name, proc in self.processes:
                if proc.poll() is not None:
                    raise RuntimeError("%s exited with %s: %s" % (name, proc.returncode, self._log_tail(name)))
            if time.monotonic() > deadline:
                raise RuntimeError("libvirtd did not answer at %s within %ss: %s"
                                   % (self.uri, timeout, self._log_tail("libvirtd")))
            time.sleep(0.1)

    @staticmethod
    def _answers_on(path):
        """Whether a daemon accepts connections on the unix socket ``path`` (a file alone may be a dead one's)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            try:
                client.connect(path)
            except OSError:
                return False
        return True

    @staticmethod
    def _which(name):
        return shutil.which(name) or "/usr/sbin/" + name

    @staticmethod
    def _namespace_works():
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                              capture_output=True, timeout=10, check=False).returncode == 0

    def _ensure_qemu_user(self):
        try:
            grp.getgrnam(QEMU_USER)
        except KeyError:
            subprocess.run(["groupadd", "--system", QEMU_USER], check=True, capture_output=True)
            self.undo.append(lambda: subprocess.run(["groupdel", QEMU_USER], capture_output=True, check=False))
        try:
            pwd.getpwnam(QEMU_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell",
                            "/usr/sbin/nologin", "-g", QEMU_USER, QEMU_USER], check=True, capture_output=True)
            self.undo.append(lambda: subprocess.run(["userdel", QEMU_USER], capture_output=True, check=False))

    def _replace_etc_qemu_conf(self, source):
        """The fallback without a mount namespace: our qemu.conf in /etc/libvirt, the original put back by stop()."""
        target = os.path.join(ETC, "qemu.conf")
        os.makedirs(ETC, exist_ok=True)
        backup = os.path.join(self.workdir, "qemu.conf.orig")
        had = os.path.exists(target)
        if had:
            shutil.copy2(target, backup)
        shutil.copy2(source, target)
        self.undo.append(lambda: shutil.copy2(backup, target) if had else os.unlink(target))

    def _spawn(self, name, argv):
        log = open(os.path.join(self.workdir, name + ".log"), "wb")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self.processes.append((name, proc))

    def _log_tail(self, name):
        try:
            with open(os.path.join(self.workdir, name + ".log"), encoding="utf-8", errors="replace") as handle:
                return " | ".join(line.strip() for line in handle.read().splitlines()[-5:])
        except OSError:
            return "(no log)"

    def stop(self):
        """Stop our daemons by pid (TERM, then KILL after 10 s) in reverse start order, then undo the set-up."""
        for entry in reversed(self.processes):
            proc = entry[1]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        self.processes = []
        while self.undo:
            self.undo.pop()()


class Shared(object):
    """One Libvirtd for the processes of a test run (pytest-xdist workers). Each counts itself in, in the file
    ``users``, before it starts the daemon or finds it running, and out when done; the one that started it stops it
    once the count is back to zero. Starting, counting and stopping hold a lock (``users``.lock), so no process
    finds a daemon that is being stopped. Without ``users``, start and stop are the daemon's own."""

    WAIT_FOR_OTHERS = 900.0   # seconds the starter waits for the other workers before it stops the daemon anyway

    def __init__(self, server, users=None):
        self.server = server
        self.users = users

    @contextlib.contextmanager
    def _locked(self):
        if self.users is None:
            yield
            return
        with open(self.users + ".lock", "a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)   # released when the file is closed
            yield

    def _add(self, delta):
        """Add ``delta`` to the count of users (lock held); returns the new count."""
        if self.users is None:
            return 0
        count = delta
        if os.path.exists(self.users):
            with open(self.users, encoding="utf-8") as handle:
                count += int(handle.read() or 0)
        with open(self.users, "w", encoding="utf-8") as handle:
            handle.write(str(count))
        return count

    def start(self, timeout=30.0):
        with self._locked():
            self._add(1)
            try:
                return self.server.start(timeout)
            except BaseException:
                self._add(-1)
                raise

    def stop(self):
        with self._locked():
            self._add(-1)
        deadline = time.monotonic() + self.WAIT_FOR_OTHERS
        while True:
            with self._locked():
                if not self.server.started or self._add(0) <= 0 or time.monotonic() > deadline:
                    self.server.stop()
                    return
            time.sleep(0.5)
