# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Talking to libvirt about defined domains: libvirt-python where it imports, else ``virsh``.

Why two ways: hypervisors often have ``virsh`` (Debian ``libvirt-clients``) but not the binding for the Python that
Ansible runs modules with (Debian's ``python3-libvirt`` serves only ``/usr/bin/python3``), and the binding from PyPI
needs a compiler. Both give libvirt's own documents (``XMLDesc(VIR_DOMAIN_XML_INACTIVE)`` is ``virsh dumpxml
--inactive``), so callers compare what libvirt stored, never their own serialisation. Without either,
:func:`connect` raises :class:`LibvirtError` saying what to install.

Also reads the command line of a running domain's QEMU from ``/proc``: the ``-cpu`` QEMU actually took (the last
one) is only visible there when a ``<qemu:commandline>`` override is in play; libvirt's live XML shows ``<cpu>``.

Standard library only; virsh is run by the module's runner (``AnsibleModule.run_command``, see ``commands``).
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible_collections.armvirt.cpu.plugins.module_utils import _paths, commands

try:
    import libvirt as libvirt_binding
except ImportError:   # the virsh fallback is used then
    libvirt_binding = None

# virsh's words for the domain states, which the binding reports as numbers (virDomainState)
STATES = {0: "no state", 1: "running", 2: "idle", 3: "paused", 4: "in shutdown", 5: "shut off", 6: "crashed",
          7: "pmsuspended"}
INACTIVE_STATES = ("shut off", "crashed")
VIR_ERR_NO_DOMAIN = 42
VIR_DOMAIN_XML_INACTIVE = 2


class LibvirtError(Exception):
    """A libvirt call failed, or there is no way to talk to libvirt; the message names the URI and the domain."""


class DomainNotFound(LibvirtError):
    """The named domain is not defined at the URI."""


def connect(run, uri, backend="auto", timeout=60.0):
    """A connection to ``uri``: :class:`BindingConnection` when libvirt-python imports (and ``backend`` allows it),
    else :class:`VirshConnection`, whose virsh commands ``run`` runs (``AnsibleModule.run_command``). Raises
    LibvirtError."""
    if backend in ("auto", "libvirt-python") and libvirt_binding is not None:
        return BindingConnection(uri)
    if backend == "libvirt-python":
        raise LibvirtError("libvirt-python is not importable by %s; install it (Debian python3-libvirt for "
                           "/usr/bin/python3) or use backend virsh" % os.sys.executable)
    virsh = shutil.which("virsh")
    if virsh is None:
        raise LibvirtError("cannot talk to libvirt at %s: neither libvirt-python (import libvirt) nor virsh is "
                           "available to %s; install python3-libvirt or libvirt-clients on the host"
                           % (uri, os.sys.executable))
    return VirshConnection(run, uri, virsh, timeout)


def is_active(state):
    return state not in INACTIVE_STATES


class BindingConnection(object):
    """libvirt-python. Errors become LibvirtError; libvirt's default handler (printing to stderr) is silenced."""

    backend = "libvirt-python"

    def __init__(self, uri):
        self.uri = uri
        libvirt_binding.registerErrorHandler(lambda *args: None, None)
        try:
            self.conn = libvirt_binding.open(uri)
        except libvirt_binding.libvirtError as exc:
            raise LibvirtError("cannot connect to libvirt at %s: %s" % (uri, exc.get_error_message()))

    def _domain(self, name):
        try:
            return self.conn.lookupByName(name)
        except libvirt_binding.libvirtError as exc:
            if exc.get_error_code() == VIR_ERR_NO_DOMAIN:
                raise DomainNotFound("domain %s is not defined at %s" % (name, self.uri))
            raise LibvirtError("%s: cannot look up domain %s: %s" % (self.uri, name, exc.get_error_message()))

    def _call(self, what, function, *args):
        try:
            return function(*args)
        except libvirt_binding.libvirtError as exc:
            raise LibvirtError("%s: %s failed: %s" % (self.uri, what, exc.get_error_message()))

    def names(self):
        return sorted(dom.name() for dom in self._call("listing domains", self.conn.listAllDomains, 0))

    def inactive_xml(self, name):
        dom = self._domain(name)
        return self._call("dumpxml --inactive %s" % name, dom.XMLDesc, VIR_DOMAIN_XML_INACTIVE)

    def live_xml(self, name):
        dom = self._domain(name)
        return self._call("dumpxml %s" % name, dom.XMLDesc, 0)

    def state(self, name):
        dom = self._domain(name)
        return STATES.get(self._call("domstate %s" % name, dom.state)[0], "unknown")

    def define(self, xml):
        self._call("define", self.conn.defineXML, xml)

    def to_native(self, xml):
        return self._call("domxml-to-native qemu-argv", self.conn.domainXMLToNative, "qemu-argv", xml, 0)

    def close(self):
        self.conn.close()


class VirshConnection(object):
    """``virsh -c URI ...`` with LC_ALL=C and a deadline per call, run by ``run`` (``AnsibleModule.run_command``);
    errors become LibvirtError with virsh's words."""

    backend = "virsh"

    def __init__(self, run, uri, virsh, timeout):
        self.run, self.uri, self.virsh, self.timeout = run, uri, virsh, timeout
        self._run(["uri"], "connect")

    def _run(self, args, what, name=None):
        argv = [self.virsh, "-q", "-c", self.uri] + args
        try:
            returncode, stdout, stderr = commands.run(self.run, argv, self.timeout)
        except commands.CommandTimeout:
            raise LibvirtError("%s: virsh %s got no answer within %ss" % (self.uri, what, self.timeout))
        except OSError as exc:
            raise LibvirtError("%s: cannot run %s: %s" % (self.uri, self.virsh, exc))
        if returncode != 0:
            text = " ".join(stderr.replace("error: ", "").split()) or "exit status %d" % returncode
            if name is not None and ("failed to get domain" in text or "Domain not found" in text):
                raise DomainNotFound("domain %s is not defined at %s" % (name, self.uri))
            raise LibvirtError("%s: virsh %s failed: %s" % (self.uri, what, text))
        return stdout

    def names(self):
        return sorted(line.strip() for line in self._run(["list", "--all", "--name"], "list").splitlines()
                      if line.strip())

    def inactive_xml(self, name):
        return self._run(["dumpxml", "--inactive", "--", name], "dumpxml --inactive %s" % name, name)

    def live_xml(self, name):
        return self._run(["dumpxml", "--", name], "dumpxml %s" % name, name)

    def state(self, name):
        return self._run(["domstate", "--", name], "domstate %s" % name, name).strip()

    def _with_file(self, xml, args, what):
        """virsh reads XML from a file only; a private temporary one, removed on every path."""
        fd, path = tempfile.mkstemp(prefix="armvirt-cpu-", suffix=".xml")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(xml)
            return self._run(args + [path], what)
        finally:
            os.unlink(path)

    def define(self, xml):
        self._with_file(xml, ["define"], "define")

    def to_native(self, xml):
        return self._with_file(xml, ["domxml-to-native", "qemu-argv"], "domxml-to-native qemu-argv")

    def close(self):
        pass


def pid_file(uri, name):
    """Where libvirt's QEMU driver keeps a running domain's pid for a local ``uri``, or None (remote URIs).

    The domain name becomes a file name: ``_paths.PathError`` for one that cannot be (``../x`` would read elsewhere)."""
    if uri.startswith("qemu:///system"):
        return _paths.join("/run/libvirt/qemu", name, ".pid")
    if uri.startswith("qemu:///session"):
        runtime = os.environ.get("XDG_RUNTIME_DIR") or os.path.expanduser("~/.cache")
        return _paths.join(os.path.join(runtime, "libvirt", "qemu", "run"), name, ".pid")
    return None


def running_argv(uri, name):
    """``(argv, error)`` of the running QEMU of domain ``name``, read from ``/proc/PID/cmdline``.

    The pid comes from libvirt's pid file; the command line must name the guest (``-name guest=NAME``), so a stale
    pid file reused by another process is not believed.
    """
    try:
        path = pid_file(uri, name)
    except _paths.PathError as exc:
        return None, "cannot read the QEMU command line of %s: %s" % (name, exc)
    if path is None:
        return None, "the QEMU command line is read from /proc, which needs a local URI (not %s)" % uri
    try:
        with open(path, encoding="ascii") as handle:
            pid = int(handle.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv = handle.read().decode("utf-8", "replace").split("\0")
    except (OSError, ValueError) as exc:
        return None, "cannot read the QEMU command line of %s (pid file %s): %s" % (name, path, exc)
    if not any(arg.split(",")[0] == "guest=" + name for arg in argv):
        return None, "pid file %s does not belong to a QEMU of domain %s" % (path, name)
    return [arg for arg in argv if arg != ""], None
