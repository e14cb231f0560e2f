# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

The probe cache: one host's HostProps in an XML file, used while its fingerprint still holds.

A probe spawns QEMU (tens of milliseconds to seconds); a valid cache read costs well under 2 ms. Like libvirt's
QEMU capabilities cache, the file records what the answer depends on (the fingerprint) and is discarded when any
item of it changes. Format, fingerprint items and safety rules: docs/cache.md; schema:
docs/schemas/cpu_property_info.rng. Standard library only: this runs on hypervisors.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from typing import Any, Callable, Iterator
import xml.etree.ElementTree as ET

from ansible_collections.armvirt.cpu.plugins.module_utils._common import atomic
from ansible_collections.armvirt.cpu.plugins.module_utils._host import hostid
from ansible_collections.armvirt.cpu.plugins.module_utils._host.props import HostProps, Property

FORMAT_VERSION = 2  # bump when the file layout, the meaning of a fingerprint item or what a probe records changes
ROOT_TAG = "cpuPropertyInfo"
MAX_BYTES = 16 * 1024 * 1024  # a real cache is a few hundred KiB at most; anything bigger is not ours
FILE_MODE = atomic.FILE_MODE
NONE = "none"  # fingerprint value for an absent item (no module directory, no MIDR in sysfs)
# The fingerprint item "reader_tables": dialects.TABLES_DIGEST + models.RECORDS, what this collection's tables make
# of a reply. Written out so a valid-cache run does not import the reader (dialects.py and the tables it hashes:
# about half of the import and compile time of a props_facts task); tests/unit/plugins/module_utils/_host/test_cache.py
# fails when a table changes and this text is not updated with it.
READER_TABLES = "e6fe01c7803dd18c+models1"

# Why a fingerprint item invalidates, in the words status() reports; keys follow fingerprint()'s order.
_LABELS = {
    "format": "cache format changed",
    "reader_tables": "the collection's field rules changed",
    "emulator": "emulator changed",
    "emulator_ctime": "emulator changed",
    "qemu_moddir": "QEMU modules changed",
    "qemu_moddir_mtime": "QEMU modules changed",
    "accel": "accelerator changed",
    "kvm": "KVM availability changed",
    "kernel_release": "kernel changed",
    "kernel_version": "kernel changed",
    "host_cpu_midr": "host CPU changed",
    "kernel_cmdline_overrides": "kernel command line changed",
    "firmware": "firmware changed",
}

# Characters XML 1.0 carries verbatim in element text. Anything else (control characters, CR, which parsers turn
# into LF, lone surrogates) is stored as a JSON string literal with enc="json", so every str survives unchanged.
# Written as the complement of XML's Char production (every code point checked equal to the negated form
# "[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"): the negated class took about 5 ms to compile at each import.
_TEXT_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")
# Attribute values are normalised by parsers (tab and newline become spaces), so names must not contain them.
_ATTR_UNSAFE = re.compile("[\x00-\x1f\ud800-\udfff\ufffe\uffff]")  # likewise: [^\x20-\ud7ff...]


class CacheError(Exception):
    """The cache cannot be used safely (symlink, world-writable) or the result cannot be stored; names the path."""


def fingerprint(emulator: str, accel: str, sysfs_root: str = "/sys", procfs_root: str = "/proc",
                identity: dict[str, Any] | None = None) -> dict[str, str]:
    """What a probe result depends on, as strings; a cache is valid only while every item is equal.

    Cheap by design (a few stat calls, one small read per CPU, the command line and three DMI files): it is
    computed on every run. The kernel command line's overrides and the firmware change what KVM offers without
    changing uname, the emulator or MIDR (``hostid.py``), so they are items too. ``identity`` is the host's identity
    as ``hostid.read`` returned it for this run (``collect.collect`` reads it once for the fingerprint and the fact);
    without it the items are read here. Either way the items are the same strings.
    """
    uname = os.uname()
    moddir = _module_dir(emulator, uname.machine)
    midrs = hostid.id_registers(sysfs_root, "midr_el1") if identity is None else identity["midr"]
    items = {
        "format": str(FORMAT_VERSION),
        "reader_tables": READER_TABLES,
        "emulator": emulator or NONE,
        "emulator_ctime": _stat_ns(emulator, "st_ctime_ns"),
        "qemu_moddir": moddir or NONE,
        "qemu_moddir_mtime": _stat_ns(moddir, "st_mtime_ns"),
        "accel": str(accel),
        "kvm": "yes" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "no",
        "kernel_release": uname.release,
        "kernel_version": uname.version,
        "host_cpu_midr": ",".join(midrs) or NONE,
    }
    items.update((key, value or NONE)
                 for key, value in hostid.fingerprint_items(sysfs_root, procfs_root, identity).items())
    return items


def _stat_ns(path: str | None, field: str) -> str:
    """ctime catches a replaced or re-permissioned binary even when the package keeps its mtime (libvirt does so)."""
    if not path:
        return NONE
    try:
        return str(getattr(os.stat(path), field))
    except OSError:
        return NONE


def _module_dir(emulator: str | None, machine: str | None = None) -> str | None:
    """The directory this emulator loads modules (accelerators, devices, block drivers) from, found as QEMU does.

    QEMU tries $QEMU_MODULE_DIR, then its configured moddir relocated to the prefix of the real binary
    (<prefix>/bin/..): <libdir>/qemu, where libdir is lib/<multiarch> on Debian, lib64 on Fedora, else lib.
    """
    candidates = [os.environ.get("QEMU_MODULE_DIR")]
    if emulator:
        prefix = os.path.dirname(os.path.dirname(os.path.realpath(emulator)))
        multiarch = (machine or os.uname().machine) + "-linux-gnu"
        candidates += [os.path.join(prefix, "lib", multiarch, "qemu"), os.path.join(prefix, "lib64", "qemu"),
                       os.path.join(prefix, "lib", "qemu")]
    return next((path for path in candidates if path and os.path.isdir(path)), None)


# ---------------------------------------------------------------------------------------------------- format


def dumps(host_props: HostProps, fp: dict[str, str]) -> bytes:
    """The cache file's bytes: deterministic (sorted fingerprint, properties and extras) so equal input gives
    equal bytes and write() can tell "unchanged". Raises ValueError for what XML cannot hold losslessly."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<%s format="%d">' % (ROOT_TAG, FORMAT_VERSION),
             "  <fingerprint>"]
    lines += ["    " + _leaf("item", fp[key], name=key) for key in sorted(fp)]
    lines.append("  </fingerprint>")
    lines.append("  " + _leaf("supported", "yes" if host_props.supported else "no"))
    for tag, value in (("dialect", host_props.dialect), ("reason", host_props.reason),
                       ("qemuVersion", host_props.qemu_version), ("qemuPackage", host_props.qemu_package),
                       ("cpuModel", host_props.cpu_model)):
        if value is not None:
            lines.append("  " + _leaf(tag, value))
    if host_props.cpu_models is not None:   # the named models (models.py), one JSON text like a property's extras
        lines.append("  " + _leaf("cpuModels", json.dumps(host_props.cpu_models, sort_keys=True, ensure_ascii=True,
                                                          separators=(",", ":"), allow_nan=False)))
    lines.append("  <properties>")
    for name in sorted(host_props.properties):
        prop = host_props.properties[name]
        lines.append('    <property name="%s" type="%s">' % (_attr(name), _attr(prop.type)))
        lines += ["      " + _leaf("value", value) for value in prop.supported_values]
        if prop.default is not None:
            lines.append("      " + _leaf("default", prop.default))
        for key in sorted(prop.extra):
            text = json.dumps(prop.extra[key], sort_keys=True, ensure_ascii=True, separators=(",", ":"),
                              allow_nan=False)
            lines.append("      " + _leaf("extra", text, name=key))
        lines.append("    </property>")
    lines += ["  </properties>", "</%s>" % ROOT_TAG, ""]
    return "\n".join(lines).encode("utf-8")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(text: object) -> str:
    if not isinstance(text, str) or _ATTR_UNSAFE.search(text):
        raise ValueError("%r cannot be stored as a name in the cache" % (text,))
    return _escape(text).replace('"', "&quot;")


def _leaf(tag: str, text: object, name: str | None = None) -> str:
    if not isinstance(text, str):
        raise ValueError("<%s> value %r is not a string" % (tag, text))
    head = tag if name is None else '%s name="%s"' % (tag, _attr(name))
    if _TEXT_UNSAFE.search(text):
        head, text = head + ' enc="json"', json.dumps(text)
    return "<%s>%s</%s>" % (head, _escape(text), tag) if text else "<%s/>" % head


def _text(elem: ET.Element) -> str:
    text = elem.text or ""
    encoding = elem.get("enc")
    if encoding is None:
        return text
    if encoding == "json":
        value = json.loads(text)
        if isinstance(value, str):
            return value
    raise ValueError("bad enc=%r text in <%s>" % (encoding, elem.tag))


def _first_children(root: ET.Element) -> dict[str, ET.Element]:
    """{tag: first child with that tag}: what root.find(tag) gives, for every tag in one pass (each find() or
    findall() goes through ElementPath, microseconds a call, and a valid-cache read made about 30 of them)."""
    children: dict[str, ET.Element] = {}
    for elem in root:
        children.setdefault(elem.tag, elem)
    return children


def _children_tagged(elem: ET.Element, tag: str) -> list[ET.Element]:
    """elem.findall(tag) for a plain tag, without ElementPath."""
    return [child for child in elem if child.tag == tag]


def _child(children: dict[str, ET.Element], tag: str) -> ET.Element:
    elem = children.get(tag)
    if elem is None:
        raise ValueError("no <%s>" % tag)
    return elem


def _optional(children: dict[str, ET.Element], tag: str) -> str | None:
    elem = children.get(tag)
    return None if elem is None else _text(elem)


def _named(elem: ET.Element) -> str:
    name = elem.get("name")
    if name is None:
        raise ValueError("<%s> without a name" % elem.tag)
    return name


def _decode(children: dict[str, ET.Element]) -> HostProps:
    """HostProps from the root's children (``_first_children``)."""
    supported = {"yes": True, "no": False}.get(_text(_child(children, "supported")))
    if supported is None:
        raise ValueError("<supported> is neither yes nor no")
    properties = {}
    for elem in _children_tagged(_child(children, "properties"), "property"):
        name, type_ = _named(elem), elem.get("type")
        if type_ is None:
            raise ValueError("property %s has no type" % name)
        # one pass instead of find/findall per tag (see _first_children); same elements, same order of processing
        # (values are decoded as they come: nothing else in this loop raises, so the first error is the same)
        values, default, extras = [], None, []
        for child in elem:
            tag = child.tag
            if tag == "value":
                # the plain text of an element without attributes (every value but a few), else _text's checks
                values.append((child.text or "") if not child.attrib else _text(child))
            elif tag == "default":
                if default is None:
                    default = child
            elif tag == "extra":
                extras.append(child)
        properties[name] = Property(name, type_, values, None if default is None else _text(default),
                                    {_named(extra): json.loads(_text(extra)) for extra in extras})
    host_props = HostProps(supported, _optional(children, "dialect"), properties, _optional(children, "qemuVersion"),
                           _optional(children, "qemuPackage"), _optional(children, "cpuModel"),
                           _optional(children, "reason"))
    models = _optional(children, "cpuModels")
    if models is not None:
        host_props.cpu_models = json.loads(models)
        if not isinstance(host_props.cpu_models, dict):
            raise ValueError("<cpuModels> is not a JSON object")
    return host_props


def fingerprint_changes(cached: dict[str, str], fp: dict[str, str]) -> list[str]:
    """Why a stored fingerprint ``cached`` no longer holds for ``fp``, as labels in fingerprint order ([] when equal).

    Shared by every file kept against the fingerprint (this cache, the cpu_check results of ``confirm.py``).
    """
    if cached == fp:   # a valid cache: every item equal, nothing to explain
        return []
    changes = []
    for key in list(fp) + sorted(set(cached) - set(fp)):
        label = _LABELS.get(key, "fingerprint item %s changed" % key)
        if cached.get(key) != fp.get(key) and label not in changes:
            changes.append(label)
    return changes


def loads(data: bytes, fp: dict[str, str]) -> tuple[HostProps | None, str]:
    """(HostProps, "valid") when ``data`` is a cache of this format for fingerprint ``fp``, else (None, why).

    Never raises for bad content. DOCTYPE/ENTITY are refused before parsing because expat expands internal
    entities (billion laughs); the text is parsed as a str so an encoding declaration cannot hide one.
    """
    if len(data) > MAX_BYTES:
        return None, "too large (over %d bytes)" % MAX_BYTES
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "corrupt: not UTF-8"
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        return None, "DOCTYPE refused"
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        return None, "corrupt: %s" % exc
    if root.tag != ROOT_TAG:
        return None, "foreign root element <%s>" % root.tag
    if root.get("format") != str(FORMAT_VERSION):
        return None, "format version %s, expected %d" % (root.get("format"), FORMAT_VERSION)
    try:
        children = _first_children(root)
        cached = {_named(item): _text(item) for item in _children_tagged(_child(children, "fingerprint"), "item")}
        changes = fingerprint_changes(cached, fp)
        if changes:
            return None, ", ".join(changes)
        return _decode(children), "valid"
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        return None, "corrupt: %s" % (exc,)


# ---------------------------------------------------------------------------------------------------- files


# the reasons of :func:`loads` that mean the file itself is damaged, not merely stale, of an older format or missing
DAMAGED = ("corrupt: ", "too large", "DOCTYPE refused", "foreign root element")


def is_damaged(why: str) -> bool:
    """True when ``why`` (a reason of :func:`status`) says the file is damaged: a rewrite is then a repair to report."""
    return why.startswith(DAMAGED)


def status(path: str, fp: dict[str, str]) -> tuple[HostProps | None, str]:
    """(HostProps, "valid") or (None, why the module must re-probe: "missing", "kernel changed", "corrupt: ...").

    Raises CacheError only for a cache nobody should trust (symlink, world-writable file or directory).
    No lock: writers replace the file atomically, so a reader sees the old or the new file, whole.
    """
    data, why = read_bytes(path)
    if data is None:
        return None, why
    return loads(data, fp)


def read_bytes(path: str) -> tuple[bytes | None, str]:
    """(the file's bytes, "read") or (None, why not: "missing", "unreadable: ...", "not a regular file").

    At most MAX_BYTES + 1 bytes are read, so a caller can tell a file that is too large. Raises CacheError for a file
    nobody should trust (symlink, world-writable file or directory), like :func:`status`, which reads through it.
    """
    try:
        _check_dir(path)
        fd, st = _open(path)
    except FileNotFoundError:
        return None, "missing"
    except OSError as exc:
        return None, "unreadable: %s" % (exc.strerror or exc)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None, "not a regular file"
    try:
        # read(MAX_BYTES + 1) would allocate 16 MiB per call (a third of a valid-cache read); ask for what fstat
        # saw plus one byte, and only read on (still bounded) when the file grew since. Straight from the
        # descriptor: a buffered file object around it cost more than the read itself.
        want = min(st.st_size, MAX_BYTES) + 1
        data = atomic.read_fd(fd, want)
        if len(data) == want and want <= MAX_BYTES:
            data += atomic.read_fd(fd, MAX_BYTES + 1 - want)
    except OSError as exc:
        return None, "unreadable: %s" % (exc.strerror or exc)
    finally:
        os.close(fd)
    return data, "read"


def read(path: str, fp: dict[str, str]) -> HostProps | None:
    """The cached HostProps, or None when the cache is missing or invalid (the caller re-probes)."""
    return status(path, fp)[0]


def write(path: str, host_props: HostProps, fp: dict[str, str]) -> bool:
    """Store ``host_props`` for ``fp`` atomically, mode 0644; True when the file's bytes changed.

    Writers serialise on PATH.lock, so two runs never interleave; the file is replaced with rename, so readers and
    a writer killed at any point leave the old or the new file whole. Raises CacheError naming the path.
    """
    try:
        data = dumps(host_props, fp)
    except (ValueError, TypeError) as exc:
        raise CacheError("cannot store the properties in %s: %s" % (path, exc))
    return update(path, lambda current: data)


def update(path: str, make: Callable[[bytes | None], bytes | None]) -> bool:
    """Replace the file at ``path`` with ``make(current)`` atomically, mode 0644; True when its bytes changed.

    ``current`` is the file's bytes (None when it is missing or not a proper 0644 regular file); ``make`` returns the
    new bytes, or None to leave the file alone. It runs under the writers' lock (PATH.lock), so a read-modify-write
    by two runs at once keeps both changes. The same safety rules as :func:`write`; raises CacheError naming the path.
    """
    try:
        atomic.make_dirs(os.path.dirname(os.path.abspath(path)))
        _check_dir(path)
        with _locked(path):
            current = _current(path)
            data = make(current)
            if data is None or data == current:
                return False
            atomic.replace(path, data)
            return True
    except OSError as exc:
        raise CacheError("cannot write cache %s: %s" % (path, exc))


def remove(path: str) -> bool:
    """Delete the cache; True when there was one. PATH.lock stays: unlinking a lock file that another writer has
    open would let two writers each hold "the" lock, on different inodes."""
    if not os.path.lexists(path):
        return False
    try:
        with _locked(path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                return False
            atomic.fsync_dir(os.path.dirname(os.path.abspath(path)))
            return True
    except OSError as exc:
        raise CacheError("cannot remove cache %s: %s" % (path, exc))


def _check_dir(path: str) -> None:
    """Refuse the cache's directory by ``atomic.check_dir``'s rule (world-writable), naming the cache."""
    try:
        atomic.check_dir(os.path.dirname(os.path.abspath(path)))
    except atomic.UnsafeDirectoryError as exc:
        raise CacheError("cache %s: %s" % (path, exc))


def _open(path: str) -> tuple[int, os.stat_result]:
    """Open for reading without following a symlink (O_NOFOLLOW: no window between check and open) and refuse a
    world-writable file. Returns (fd, stat); raises CacheError, FileNotFoundError or OSError."""
    try:
        fd, st = atomic.open_nofollow(path)
    except atomic.SymlinkError:
        raise CacheError("cache %s is a symlink; refusing to follow it" % path)
    if st.st_mode & stat.S_IWOTH:
        os.close(fd)
        raise CacheError("cache %s is world-writable; refusing to trust it" % path)
    return fd, st


def _current(path: str) -> bytes | None:
    """The existing file's bytes when it is a proper 0644 regular file, else None (so it gets rewritten)."""
    try:
        fd, st = _open(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != FILE_MODE:
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read(MAX_BYTES + 1)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """Serialise writers of one cache on PATH.lock, and clear what a killed writer left behind."""
    try:
        with atomic.locked(path + ".lock"):
            directory, base = os.path.split(os.path.abspath(path))
            atomic.remove_stale_temps(directory, base.__eq__)
            yield
    except atomic.SymlinkError:
        raise CacheError("lock file %s.lock is a symlink; refusing to follow it" % path)
