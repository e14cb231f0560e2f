# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic file replacement, shared by the property cache and the guest domain files.

A reader sees the old file or the complete new one, never a part: the data goes to a hidden temporary file in the
same directory (same filesystem, so ``os.replace`` is atomic), is fsynced, renamed over the target, and the
directory is fsynced so the rename survives a crash. Writers that may run concurrently hold ``locked`` while
writing; temporary files are only created under the lock, so one seen while holding it is a dead writer's leftover
and ``remove_stale_temps`` deletes it. Standard library only: this runs on the hypervisors.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import tempfile

FILE_MODE = 0o644
DIR_MODE = 0o755
_TEMP_RE = re.compile(r"\A\.(?P<base>.+)\.[a-z0-9_]{8}\.tmp\Z")  # .NAME.XXXXXXXX.tmp: mkstemp's 8 characters


class SymlinkError(OSError):
    """A lock file that is a symlink: following it would let another user pick the file we open."""


@contextlib.contextmanager
def locked(lock_path):
    """Hold an exclusive flock on ``lock_path`` (created 0644 when missing; never followed through a symlink).

    The lock file stays after use: unlinking one that another writer has open would let two writers each hold
    "the" lock, on different inodes. The kernel releases the lock when a writer dies.
    """
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SymlinkError(exc.errno, "lock file is a symlink; refusing to follow it", lock_path)
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def remove_stale_temps(directory, owns):
    """Delete leftover temporary files whose target name ``owns(name)`` accepts; call it while holding the lock."""
    for entry in os.listdir(directory):
        match = _TEMP_RE.match(entry)
        if match and owns(match.group("base")):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, entry))


def replace(path, data, mode=FILE_MODE, sync_dir=True):
    """Write ``data`` to ``path`` atomically with ``mode`` (umask does not decide who can read it).

    ``sync_dir=False`` lets a caller writing many files in one directory fsync it once, with ``fsync_dir``.
    """
    directory, base = os.path.split(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix="." + base + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if sync_dir:
        fsync_dir(directory)


def fsync_dir(directory):
    """Make renames in ``directory`` durable: without it a crash can bring back the old name."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(directory, mode=DIR_MODE):
    """Create missing directories with ``mode`` whatever the umask, so unprivileged readers can reach the files."""
    if os.path.isdir(directory):
        return
    make_dirs(os.path.dirname(directory), mode)
    try:
        os.mkdir(directory)
    except FileExistsError:
        return
    os.chmod(directory, mode)
