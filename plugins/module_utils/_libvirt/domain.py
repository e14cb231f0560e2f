# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

Talking to libvirt about defined domains: libvirt-python where it imports, else ``virsh``.

Why two ways: hypervisors often have ``virsh`` (Debian ``libvirt-clients``) but not the binding for the Python that
Ansible runs modules with (Debian's ``python3-libvirt`` serves only ``/usr/bin/python3``), and the binding from PyPI
needs a compiler. Both give libvirt's own documents (``XMLDesc(VIR_DOMAIN_XML_INACTIVE)`` is ``virsh dumpxml
--inactive``), so callers compare what libvirt stored, never their own serialisation. Without either,
:func:`connect` raises :class:`LibvirtError` saying what to install.

Domains are listed and addressed by UUID: a name is data (libvirt allows spaces, commas, quotes, leading blanks), a
line-based ``virsh list --name`` would mangle it, and virsh takes an argument that looks like a domain id or UUID as
one (a domain named ``1`` would be confused with the running domain whose id is 1). :meth:`find` resolves a name
given by the user to the UUID of the domain with exactly that name.

Also reads the command line of a running domain's QEMU from ``/proc``: the ``-cpu`` QEMU actually took (the last
one) is only visible there when a ``<qemu:commandline>`` override is in play; libvirt's live XML shows ``<cpu>``.

Standard library only; virsh is run by the module's runner (``AnsibleModule.run_command``, see ``commands``).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from typing import Any, Callable, List, Tuple

from ansible_collections.armvirt.cpu.plugins.module_utils._common import commands

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
DomainList = List[Tuple[str, str]]   # [(name, uuid)]
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class LibvirtError(Exception):
    """A libvirt call failed, or there is no way to talk to libvirt; the message names the URI and the domain."""


class DomainNotFound(LibvirtError):
    """The named domain is not defined at the URI."""


def is_uuid(text: object) -> bool:
    """Whether ``text`` is a UUID as libvirt writes it (8-4-4-4-12 hexadecimal digits)."""
    return isinstance(text, str) and _UUID_RE.fullmatch(text) is not None


def find_by_name(domains: DomainList, name: str, uri: str) -> str:
    """The UUID of the domain of ``domains`` (``[(name, uuid)]``) named exactly ``name``; DomainNotFound."""
    for found, uuid in domains:
        if found == name:
            return uuid
    raise DomainNotFound("domain %s is not defined at %s" % (name, uri))


def connect(run: commands.Runner, uri: str, backend: str = "auto",
            timeout: float = 60.0) -> BindingConnection | VirshConnection:
    """A connection to ``uri``: :class:`BindingConnection` when libvirt-python imports (and ``backend`` allows it),
    else :class:`VirshConnection`, whose virsh commands ``run`` runs (``AnsibleModule.run_command``). Raises
    LibvirtError."""
    if backend in ("auto", "libvirt-python") and libvirt_binding is not None:
        return BindingConnection(uri)
    if backend == "libvirt-python":
        raise LibvirtError("libvirt-python is not importable by %s; install it (Debian python3-libvirt for "
                           "/usr/bin/python3) or use backend virsh" % sys.executable)
    virsh = shutil.which("virsh")
    if virsh is None:
        raise LibvirtError("cannot talk to libvirt at %s: neither libvirt-python (import libvirt) nor virsh is "
                           "available to %s; install python3-libvirt or libvirt-clients on the host"
                           % (uri, sys.executable))
    return VirshConnection(run, uri, virsh, timeout)


def is_active(state: str) -> bool:
    return state not in INACTIVE_STATES


class BindingConnection(object):
    """libvirt-python. Errors become LibvirtError; libvirt's default handler (printing to stderr) is silenced."""

    backend = "libvirt-python"

    def __init__(self, uri: str) -> None:
        self.uri = uri
        libvirt_binding.registerErrorHandler(lambda *args: None, None)
        try:
            self.conn = libvirt_binding.open(uri)
        except libvirt_binding.libvirtError as exc:
            raise LibvirtError("cannot connect to libvirt at %s: %s" % (uri, exc.get_error_message()))

    def _lookup(self, lookup: Callable[[str], Any], key: str) -> Any:
        try:
            return lookup(key)
        except libvirt_binding.libvirtError as exc:
            if exc.get_error_code() == VIR_ERR_NO_DOMAIN:
                raise DomainNotFound("domain %s is not defined at %s" % (key, self.uri))
            raise LibvirtError("%s: cannot look up domain %s: %s" % (self.uri, key, exc.get_error_message()))

    def _domain(self, uuid: str) -> Any:
        return self._lookup(self.conn.lookupByUUIDString, uuid)

    def _call(self, what: str, function: Callable[..., Any], *args: Any) -> Any:
        try:
            return function(*args)
        except libvirt_binding.libvirtError as exc:
            raise LibvirtError("%s: %s failed: %s" % (self.uri, what, exc.get_error_message()))

    def domains(self) -> DomainList:
        """``[(name, uuid)]`` of every defined domain, sorted."""
        return sorted((dom.name(), dom.UUIDString())
                      for dom in self._call("listing domains", self.conn.listAllDomains, 0))

    def find(self, name: str) -> str:
        """The UUID of the domain named exactly ``name`` (libvirt's lookup by name guesses nothing)."""
        return self._call("domuuid %s" % name, self._lookup(self.conn.lookupByName, name).UUIDString)

    def inactive_xml(self, uuid: str) -> str:
        dom = self._domain(uuid)
        return self._call("dumpxml --inactive %s" % uuid, dom.XMLDesc, VIR_DOMAIN_XML_INACTIVE)

    def live_xml(self, uuid: str) -> str:
        dom = self._domain(uuid)
        return self._call("dumpxml %s" % uuid, dom.XMLDesc, 0)

    def state(self, uuid: str) -> str:
        dom = self._domain(uuid)
        return STATES.get(self._call("domstate %s" % uuid, dom.state)[0], "unknown")

    def define(self, xml: str) -> None:
        self._call("define", self.conn.defineXML, xml)

    def to_native(self, xml: str) -> str:
        return self._call("domxml-to-native qemu-argv", self.conn.domainXMLToNative, "qemu-argv", xml, 0)

    def capabilities(self) -> str:
        return self._call("capabilities", self.conn.getCapabilities)

    def close(self) -> None:
        self.conn.close()


class VirshConnection(object):
    """``virsh -c URI ...`` with LC_ALL=C and a deadline per call, run by ``run`` (``AnsibleModule.run_command``);
    errors become LibvirtError with virsh's words."""

    backend = "virsh"

    def __init__(self, run: commands.Runner, uri: str, virsh: str, timeout: float) -> None:
        self.run, self.uri, self.virsh, self.timeout = run, uri, virsh, timeout
        self._run(["uri"], "connect")

    def _run(self, args: list[str], what: str, name: str | None = None) -> str:
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

    def _uuid(self, uuid: str) -> str:
        """virsh takes an argument as an id, then a UUID, then a name: only a UUID is passed, checked first."""
        if not is_uuid(uuid):
            raise LibvirtError("%s: %r is not a domain UUID" % (self.uri, uuid))
        return uuid

    def domains(self) -> DomainList:
        """``[(name, uuid)]`` of every defined domain, sorted: ``list --uuid`` (one UUID a line, whatever the names
        hold), then each name as ``domname`` prints it (the name and one newline). A domain undefined in between
        is left out."""
        found: DomainList = []
        for line in self._run(["list", "--all", "--uuid"], "list").splitlines():
            if not line.strip():
                continue
            uuid = self._uuid(line.strip())
            try:
                name = self._run(["domname", "--", uuid], "domname %s" % uuid, uuid)
            except DomainNotFound:
                continue
            found.append((name[:-1] if name.endswith("\n") else name, uuid))
        return sorted(found)

    def find(self, name: str) -> str:
        """The UUID of the domain named exactly ``name``, from :meth:`domains` (``virsh domuuid NAME`` would take a
        name that looks like an id or a UUID as one)."""
        return find_by_name(self.domains(), name, self.uri)

    def inactive_xml(self, uuid: str) -> str:
        return self._run(["dumpxml", "--inactive", "--", self._uuid(uuid)], "dumpxml --inactive %s" % uuid, uuid)

    def live_xml(self, uuid: str) -> str:
        return self._run(["dumpxml", "--", self._uuid(uuid)], "dumpxml %s" % uuid, uuid)

    def state(self, uuid: str) -> str:
        return self._run(["domstate", "--", self._uuid(uuid)], "domstate %s" % uuid, uuid).strip()

    def _with_file(self, xml: str, args: list[str], what: str) -> str:
        """virsh reads XML from a file only; a private temporary one, removed on every path."""
        fd, path = tempfile.mkstemp(prefix="armvirt-cpu-", suffix=".xml")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(xml)
            return self._run(args + [path], what)
        finally:
            os.unlink(path)

    def define(self, xml: str) -> None:
        self._with_file(xml, ["define"], "define")

    def to_native(self, xml: str) -> str:
        return self._with_file(xml, ["domxml-to-native", "qemu-argv"], "domxml-to-native qemu-argv")

    def capabilities(self) -> str:
        """The host's capabilities document (``virsh capabilities``): the emulators libvirt itself uses."""
        return self._run(["capabilities"], "capabilities")

    def close(self) -> None:
        pass


def pid_dir(uri: str) -> str | None:
    """Where libvirt's QEMU driver keeps running domains' pid files for a local ``uri``, or None (remote URIs)."""
    if uri.startswith("qemu:///system"):
        return "/run/libvirt/qemu"
    if uri.startswith("qemu:///session"):
        runtime = os.environ.get("XDG_RUNTIME_DIR") or os.path.expanduser("~/.cache")
        return os.path.join(runtime, "libvirt", "qemu", "run")
    return None


def _read_argv(path: str) -> list[str]:
    """The command line (a list, empty strings dropped) of the process whose pid is in ``path``; OSError,
    ValueError."""
    with open(path, encoding="ascii") as handle:
        pid = int(handle.read().strip())
    with open("/proc/%d/cmdline" % pid, "rb") as handle:
        return [arg for arg in handle.read().decode("utf-8", "replace").split("\0") if arg != ""]


def running_argv(uri: str, uuid: str) -> tuple[list[str] | None, str | None]:
    """``(argv, error)`` of the running QEMU of the domain with UUID ``uuid``, read from ``/proc/PID/cmdline``.

    The pid files of libvirt's state directory are read and the command line that carries ``-uuid UUID`` is the
    domain's: the name never becomes a path (libvirt 9.0 names a pid file after the name with ``&quot;`` for a
    quote), and a stale pid file reused by another process is not believed.
    """
    directory = pid_dir(uri)
    if directory is None:
        return None, "the QEMU command line is read from /proc, which needs a local URI (not %s)" % uri
    try:
        entries = sorted(entry for entry in os.listdir(directory) if entry.endswith(".pid"))
    except OSError as exc:
        return None, "cannot list libvirt's pid files in %s: %s" % (directory, exc)
    for entry in entries:
        try:
            argv = _read_argv(os.path.join(directory, entry))
        except (OSError, ValueError):
            continue   # gone, not ours to read, or not a pid
        if any(argv[index] == "-uuid" and argv[index + 1].lower() == uuid.lower() for index in range(len(argv) - 1)):
            return argv, None
    return None, "no QEMU process of domain %s among the pid files in %s" % (uuid, directory)
