# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one check for a name that becomes a file name: an inventory host, a guest, a class id, a cache key.

Names come from inventories, CMDBs, libvirt and QEMU; they are data. A name is one path component or it is refused:
``../../fleet`` would otherwise replace ``fleet.json``. Everything else a filesystem takes is kept as it is (spaces,
``:``, IPv6 addresses, Unicode, leading dashes), so a legitimate host is never renamed behind its operator's back.

Private to the collection. Standard library only: the property cache uses it on the hypervisors.
"""

from __future__ import annotations

import os

MAX_COMPONENT_BYTES = 255   # NAME_MAX of Linux filesystems (ext4, xfs, btrfs, tmpfs, NFS)


class PathError(ValueError):
    """A name that cannot be one component of a path in a directory; the message says why."""

    def __init__(self, name: object, directory: str, problem: str) -> None:
        self.name, self.directory, self.problem = name, directory, problem
        super(PathError, self).__init__("%r cannot name a file in %s: %s" % (name, directory, problem))


def component_problem(name: object, suffix: str = "") -> str | None:
    """Why ``name`` cannot be one path component (``name + suffix``, the file it names), or None: a phrase such as
    ``it contains '/'``. Only the suffix's length counts; the suffix is the caller's own text."""
    if not isinstance(name, str):
        return "it is a %s, not a string" % type(name).__name__
    if name == "":
        return "it is empty"
    if "/" in name:
        return "it contains '/'"
    if "\0" in name:
        return "it contains a NUL character"
    if name in (".", ".."):
        return "it is '%s'" % name
    try:
        size = len((name + suffix).encode("utf-8"))
    except UnicodeEncodeError:
        return "it is not valid Unicode (it holds a lone surrogate)"
    if size > MAX_COMPONENT_BYTES:
        return "it is %d bytes long in UTF-8%s, more than the %d of a file name" % (
            size, " with %r" % suffix if suffix else "", MAX_COMPONENT_BYTES)
    return None


def join(directory: str, name: str, suffix: str = "", root: str | None = None) -> str:
    """The path of the file ``name + suffix`` in ``directory``, after checking that it stays there.

    ``name`` must pass :func:`component_problem` (the suffix counts towards its length), so the path sits directly
    in ``directory``; its realpath must stay in the directory's own, and that under ``root``'s where one is given
    (the artifacts directory of a file in one of its folders), so that neither a symlink planted in the file's place
    nor a symlinked folder between ``root`` and the file can lead a write, read or removal out. Raises
    :class:`PathError`.
    """
    problem = component_problem(name, suffix)
    if problem:
        raise PathError(name, directory, problem)
    base = os.path.normpath(os.path.abspath(directory))
    path = os.path.join(base, name + suffix)
    real_base, real = os.path.realpath(base), os.path.realpath(path)
    if os.path.commonpath([real_base, real]) != real_base or real == real_base:
        raise PathError(name, directory, "%s is a symlink that leads out of the directory" % path)
    if root is not None:
        real_top = os.path.realpath(root)
        if os.path.commonpath([real_top, real_base]) != real_top:
            raise PathError(name, directory, "%s leads out of %s through a symlinked folder" % (path, root))
    return path
