# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

Which emulators the collection starts: only trusted ones, whoever named them.

Why: the modules that ask the host's QEMU (a probe, an expansion, a paused start) run the emulator as the user Ansible
runs them as, usually root, unconfined. libvirt runs a guest's emulator as its own QEMU user, confined; a domain's
``<emulator>`` is data that anyone allowed to define a domain chooses. Running it as it is would make every such
person root. So an emulator is started only when both hold:

- it is the configured one (the module's ``emulator`` option, chosen by whoever runs the playbook) or one that the
  host's libvirt lists in its capabilities for aarch64 guests of the domain's type (``virsh capabilities``:
  ``<guest><arch name='aarch64'>``, the ``<emulator>`` of its ``<domain type=...>`` or else of the arch);
- its file cannot be swapped by anyone else: every entry on the way to it (each directory, each symbolic link
  followed, the file itself) is owned by root or by the user running the check, the file is a regular file, neither
  it nor the directory holding it is writable by group or others, and every other directory looked in is either not
  writable by group or others or sticky (``/tmp``: nobody may rename what another owns there).

Nothing else is ever run instead: a refusal names the emulator and the reason. Standard library only: this runs on
hypervisors.
"""

from __future__ import annotations

import os
import stat
from typing import Iterable
from xml.etree import ElementTree

ARCH = "aarch64"
MAX_LINKS = 40      # as the kernel's limit on symbolic links followed in one lookup


class UntrustedEmulator(Exception):
    """The emulator is not run. ``emulator`` is the path as given, ``reason`` why it is refused."""

    def __init__(self, emulator: object, reason: str) -> None:
        super(UntrustedEmulator, self).__init__("the emulator %s is not trusted, so it was not run: %s"
                                                % (emulator, reason))
        self.emulator, self.reason = emulator, reason


class CapabilitiesError(Exception):
    """libvirt's capabilities document cannot be read."""


def listed(caps_xml: str | bytes, domain_type: str, arch: str = ARCH) -> list[str]:
    """The emulators libvirt's capabilities (``virsh capabilities``) give for ``arch`` guests of ``domain_type``
    (kvm, qemu): each ``<domain type=...>``'s own ``<emulator>``, else its arch's. Raises CapabilitiesError."""
    try:
        root = ElementTree.fromstring(caps_xml)
    except (ElementTree.ParseError, TypeError) as exc:
        raise CapabilitiesError("libvirt's capabilities cannot be read: %s" % exc)
    found: list[str] = []
    for guest_arch in root.findall("guest/arch"):
        if guest_arch.get("name") != arch:
            continue
        for domain in guest_arch.findall("domain"):
            if domain.get("type") != domain_type:
                continue
            path = (domain.findtext("emulator") or guest_arch.findtext("emulator") or "").strip()
            if path and path not in found:
                found.append(path)
    return found


def path_problem(emulator: object) -> str | None:
    """Why ``emulator`` cannot be an emulator's path in a domain's ``<emulator>`` or on a command line, as a phrase
    to follow the path (``is not an absolute path``), or None: it must be a string, an absolute path, without control
    characters (NUL, newline, ...) or white space at either end (libvirt would keep it, and a file of that name is
    not the one meant). Checked before such a path is written or run; the XML writer escapes what markup it holds."""
    if not isinstance(emulator, str) or not emulator:
        return "is not a path"
    if any(ord(char) < 0x20 or ord(char) == 0x7f for char in emulator):
        return "contains a control character (NUL, newline, ...)"
    if emulator != emulator.strip():
        return "has white space at its start or end"
    if not os.path.isabs(emulator):
        return "is not an absolute path"
    return None


def _trusted_owner(uid: int) -> bool:
    return uid in (0, os.geteuid())


def _group_or_other_writable(st: os.stat_result) -> bool:
    return bool(st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _lstat(emulator: str, path: str) -> os.stat_result:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        raise UntrustedEmulator(emulator, "%s does not exist" % path)
    except OSError as exc:
        raise UntrustedEmulator(emulator, "cannot inspect %s: %s" % (path, exc.strerror or exc))


def _owner_problem(path: str, st: os.stat_result, what: str) -> str | None:
    if _trusted_owner(st.st_uid):
        return None
    return "%s %s is owned by uid %d, not by root or the user running the check (uid %d)" % (
        what, path, st.st_uid, os.geteuid())


def resolve(emulator: str) -> str:
    """The real path of ``emulator``, walked one entry at a time as the kernel would; raises UntrustedEmulator when
    an entry on the way is owned by someone else, or a directory looked in is writable by group or others without
    being sticky, or a link loops."""
    problem = path_problem(emulator)
    if problem:
        raise UntrustedEmulator(emulator, "%r %s" % (emulator, problem))
    pending = [part for part in reversed(emulator.split("/")) if part]
    current, links = "/", 0
    while pending:
        name = pending.pop()
        if name == ".":
            continue
        if name == "..":
            current = os.path.dirname(current)   # current is a real directory, so its parent is too
            continue
        where = _lstat(emulator, current)
        problem = _owner_problem(current, where, "the directory")
        if problem:
            raise UntrustedEmulator(emulator, problem)
        entry = os.path.join(current, name)
        st = _lstat(emulator, entry)
        kind = "symbolic link" if stat.S_ISLNK(st.st_mode) else "directory" if stat.S_ISDIR(st.st_mode) else "file"
        problem = _owner_problem(entry, st, "the " + kind)
        if problem:
            raise UntrustedEmulator(emulator, problem)
        final = not pending and kind != "symbolic link"   # its directory is checked strictly by require()
        if not final and _group_or_other_writable(where) and not where.st_mode & stat.S_ISVTX:
            raise UntrustedEmulator(emulator, "the directory %s is writable by group or others (mode %04o) and not "
                                    "sticky" % (current, stat.S_IMODE(where.st_mode)))
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_LINKS:
                raise UntrustedEmulator(emulator, "more than %d symbolic links on the way" % MAX_LINKS)
            try:
                target = os.readlink(entry)
            except OSError as exc:
                raise UntrustedEmulator(emulator, "cannot read the symbolic link %s: %s" % (entry, exc))
            if target.startswith("/"):
                current = "/"
            pending.extend(part for part in reversed(target.split("/")) if part)
        else:
            current = entry
    return current


def require(emulator: str, trusted: Iterable[str | None]) -> str:
    """Refuse (UntrustedEmulator) unless ``emulator`` is one of ``trusted`` (the configured emulator and those
    :func:`listed` gives), as written or once symlinks are resolved, and its file is safe (see the module's
    docstring). Returns its real path."""
    candidates: list[str] = []
    for path in trusted:
        if path and path not in candidates:
            candidates.append(path)
    wanted = os.path.normpath(emulator) if isinstance(emulator, str) and emulator else None
    if wanted is None or not any(wanted == os.path.normpath(path) for path in candidates):
        real = os.path.realpath(emulator) if wanted is not None else None
        if real is None or not any(real == os.path.realpath(path) for path in candidates):
            raise UntrustedEmulator(emulator, "it is neither the configured emulator nor one that libvirt's "
                                    "capabilities list for %s guests of this type (trusted here: %s)"
                                    % (ARCH, ", ".join(candidates) or "none"))
    real = resolve(emulator)
    st = _lstat(emulator, real)
    shown = real if real == os.path.normpath(emulator) else "%s (where %s leads)" % (real, emulator)
    if not stat.S_ISREG(st.st_mode):
        raise UntrustedEmulator(emulator, "%s is not a regular file" % shown)
    if _group_or_other_writable(st):
        raise UntrustedEmulator(emulator, "%s is writable by group or others (mode %04o)"
                                % (shown, stat.S_IMODE(st.st_mode)))
    directory = os.path.dirname(real)
    where = _lstat(emulator, directory)
    if _group_or_other_writable(where):
        raise UntrustedEmulator(emulator, "the directory %s, which holds it, is writable by group or others "
                                "(mode %04o)" % (directory, stat.S_IMODE(where.st_mode)))
    return real
