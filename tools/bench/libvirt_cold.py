"""Row module_cold's baseline: libvirtd's cold ``virsh domcapabilities``, measured in the same run.

A private libvirtd is started for the row and stopped after it, the way tests/libvirtd.py starts the tests' daemon
(by hand, as root, in a mount namespace of its own), but private all through, so that it can run beside another
libvirtd (another checkout's test run) and leaves nothing behind: in its namespace (``unshare --mount --net``) tmpfs
covers /run/libvirt, /var/cache/libvirt and /var/lib/libvirt, and a copy of /etc/libvirt with ``qemu.conf`` saying
``user = "root"`` and ``libvirtd.conf`` putting its sockets in the row's temporary directory is bound over
/etc/libvirt. virsh reaches it through ``qemu:///system?socket=...``. Its pid file is in that directory too; nothing
in /etc, /run or /var changes. No virtlogd: a capabilities probe starts no guest.

Where a private one cannot be had (not root, libvirt not installed, no mount namespace, no ``libvirt-qemu`` user,
which libvirt's QEMU driver looks up before it reads qemu.conf), a libvirtd already answering at qemu:///system is
used as it is (and the cache file it writes for the row's path removed); where neither can be had,
:class:`Unavailable` says why and the row falls back to a quoted figure, saying so. The private daemon comes first:
a system daemon may be another test run's, which may stop under the row.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

from bench.common import run_timed

SYSTEM_URI = "qemu:///system"
ETC = "/etc/libvirt"
PRIVATE_TMPFS = ("/run/libvirt", "/var/cache/libvirt", "/var/lib/libvirt")
SYSTEM_CAPS_CACHE = "/var/cache/libvirt/qemu/capabilities"


class Unavailable(Exception):
    """No libvirtd can be had for the baseline; the message says why."""


def _answers(uri):
    if shutil.which("virsh") is None:
        return False
    try:
        return subprocess.run(["virsh", "-c", uri, "uri"], capture_output=True, timeout=30,
                              stdin=subprocess.DEVNULL, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def version():
    proc = subprocess.run(["virsh", "--version"], capture_output=True, text=True, timeout=30, check=False)
    return proc.stdout.strip() or "?"


class Libvirt(object):
    """``with Libvirt() as libvirt:`` a private daemon, else the system one when it answers; ``libvirt.how`` says
    which, ``libvirt.cold_domcapabilities(emulator)`` times one cold probe."""

    def __init__(self, start_timeout=60.0):
        self.start_timeout = start_timeout
        self.uri = SYSTEM_URI
        self.how = "the running libvirtd at %s" % SYSTEM_URI
        self.proc = self.workdir = None
        self.started_in = None   # seconds from spawn to the first answer, for a private daemon

    def __enter__(self):
        try:
            self._check()
            self._start()
        except Unavailable as exc:
            self.stop()
            if not _answers(SYSTEM_URI):
                raise
            self.uri = SYSTEM_URI
            self.how = "the running libvirtd at %s (no private one: %s)" % (SYSTEM_URI, exc)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    @staticmethod
    def _check():
        missing = [name for name in ("libvirtd", "virsh", "unshare", "mount")
                   if shutil.which(name) is None and not os.path.exists("/usr/sbin/" + name)]
        if missing:
            raise Unavailable("not installed: %s" % ", ".join(missing))
        if os.geteuid() != 0:
            raise Unavailable("a private libvirtd for qemu:///system needs root")
        try:
            pwd.getpwnam("libvirt-qemu")
        except KeyError:
            raise Unavailable("no user libvirt-qemu (libvirt's QEMU driver refuses to start without it; "
                              "tests/libvirtd.py creates it for the tests' daemon)")
        missing = [path for path in PRIVATE_TMPFS if not os.path.isdir(path)]
        if missing:
            raise Unavailable("no %s to cover in a namespace" % ", ".join(missing))
        if subprocess.run(["unshare", "--mount", "--net", "--propagation", "private", "true"],
                          capture_output=True, timeout=30, check=False).returncode != 0:
            raise Unavailable("no mount and network namespace can be made here (unshare --mount --net)")

    def _start(self):
        self.workdir = tempfile.mkdtemp(prefix="armvirt-bench-libvirtd-")
        os.chmod(self.workdir, 0o755)
        etc = os.path.join(self.workdir, "etc")
        if os.path.isdir(ETC):
            shutil.copytree(ETC, etc, symlinks=True)
        else:
            os.makedirs(etc)
        sockets = os.path.join(self.workdir, "run")
        os.makedirs(sockets)
        with open(os.path.join(etc, "qemu.conf"), "w", encoding="utf-8") as handle:
            handle.write('# written by tools/bench/libvirt_cold.py\nuser = "root"\ngroup = "root"\n')
        with open(os.path.join(etc, "libvirtd.conf"), "w", encoding="utf-8") as handle:
            handle.write('# written by tools/bench/libvirt_cold.py\nunix_sock_dir = "%s"\n' % sockets)
        libvirtd = shutil.which("libvirtd") or "/usr/sbin/libvirtd"
        mounts = " && ".join("mount -t tmpfs tmpfs %s" % path for path in PRIVATE_TMPFS)
        script = mounts + ' && mount --bind "$1" %s && exec "$2" -f "$1/libvirtd.conf" -p "$3"' % ETC
        log = open(os.path.join(self.workdir, "libvirtd.log"), "wb")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--net", "--propagation", "private", "--", "sh", "-c", script, "sh", etc, libvirtd,
             os.path.join(self.workdir, "libvirtd.pid")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.uri = "%s?socket=%s" % (SYSTEM_URI, os.path.join(sockets, "libvirt-sock"))
        deadline = time.monotonic() + self.start_timeout
        while not _answers(self.uri):
            if self.proc.poll() is not None:
                raise Unavailable("the private libvirtd exited with %s: %s" % (self.proc.returncode, self._log_tail()))
            if time.monotonic() > deadline:
                raise Unavailable("the private libvirtd did not answer within %g s: %s"
                                  % (self.start_timeout, self._log_tail()))
            time.sleep(0.05)
        self.started_in = time.perf_counter() - started
        self.how = "a private libvirtd started for this row (answered after %.1f s)" % self.started_in

    def _log_tail(self):
        try:
            with open(os.path.join(self.workdir, "libvirtd.log"), encoding="utf-8", errors="replace") as handle:
                return " | ".join(line.strip() for line in handle.read().splitlines()[-5:]) or "(empty log)"
        except OSError:
            return "(no log)"

    def stop(self):
        """Stop the private daemon by its pid (TERM, then KILL after 10 s) and remove its directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def cold_domcapabilities(self, emulator):
        """Seconds of one cold ``virsh domcapabilities``: a fresh path (symlink) to the same emulator has no entry in
        libvirtd's capabilities cache, so libvirtd probes it. The system daemon's cache file for that path (named by
        the path's SHA-256) is removed afterwards; a private daemon's cache is a tmpfs that goes with it."""
        work = tempfile.mkdtemp(prefix="armvirt-bench-virsh-")
        os.chmod(work, 0o755)
        link = os.path.join(work, "qemu-system-aarch64")
        os.symlink(emulator, link)
        try:
            elapsed, _unused = run_timed(["virsh", "-c", self.uri, "domcapabilities", "--emulatorbin", link,
                                          "--arch", "aarch64", "--virttype", "qemu"])
            return elapsed
        finally:
            if self.proc is None:
                stale = os.path.join(SYSTEM_CAPS_CACHE, hashlib.sha256(link.encode()).hexdigest() + ".xml")
                if os.path.exists(stale):
                    try:
                        os.unlink(stale)
                    except OSError:
                        pass
            shutil.rmtree(work, ignore_errors=True)
