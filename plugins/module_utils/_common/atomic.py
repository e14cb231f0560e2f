# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

Atomic file replacement, shared by the property cache and the guest domain files.

A reader sees the old file or the complete new one, never a part: the data goes to a hidden temporary file in the
same directory (same filesystem, so ``os.replace`` is atomic), is fsynced, renamed over the target, and the
directory is fsynced so the rename survives a crash. Writers that may run concurrently hold ``locked`` while
writing; temporary files are only created under the lock, so one seen while holding it is a dead writer's leftover
and ``remove_stale_temps`` deletes it. ``locked`` can give up after a timeout (:class:`LockTimeout`) and can record
who holds the lock in the lock file, so a waiter that gives up says whom it waited for. ``create`` is ``replace``
that never overwrites: for names that must stay unique. ``check_dir`` is the one rule for a directory written in
(world-writable: refused) and ``open_nofollow`` the one way to read a file about to be replaced (never through a
symlink: ``os.replace`` replaces a symlink, so reading through it would compare and diff another file). Standard
library only: this runs on the hypervisors.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import re
import socket
import stat
import tempfile
import time
from typing import Any, Callable, Iterator

FILE_MODE = 0o644
DIR_MODE = 0o755
_TEMP_RE = re.compile(r"\A\.(?P<base>.+)\.[a-z0-9_]{8}\.tmp\Z")  # .NAME.XXXXXXXX.tmp: mkstemp's 8 characters


POLL_FIRST, POLL_MAX = 0.01, 0.2   # seconds between attempts of a waiter with a timeout: growing from/to
HOLDER_MAX = 4096                  # bytes of holder information read from a lock file


class SymlinkError(OSError):
    """A lock file that is a symlink: following it would let another user pick the file we open."""


class UnsafeDirectoryError(OSError):
    """A directory anyone may write to: refused for files others will trust (the message names it)."""


class LockTimeout(Exception):
    """``locked`` gave up: another writer held the lock for the whole timeout.

    ``holder`` is what that writer recorded in the lock file (``pid``, ``host``, ``what``, ``since``), or None when
    it recorded nothing; ``waited`` is in seconds. The message names both.
    """

    def __init__(self, path: str, waited: float, holder: dict[str, Any] | None) -> None:
        self.path, self.waited, self.holder = path, waited, holder
        super(LockTimeout, self).__init__("%s is locked by %s; waited %.1f s" % (path, describe_holder(holder), waited))


def describe_holder(holder: dict[str, Any] | None) -> str:
    """``pid N on host H (what, since T)`` from a lock file's holder record; a plain phrase when there is none."""
    if not holder:
        return "another writer (it recorded no holder information)"
    details = [str(holder["what"])] if holder.get("what") else []
    details += ["since %s" % holder["since"]] if holder.get("since") else []
    return "pid %s on host %s%s" % (holder.get("pid", "?"), holder.get("host", "?"),
                                    " (%s)" % ", ".join(details) if details else "")


def read_holder(lock_path: str) -> dict[str, Any] | None:
    """The holder record a writer left in ``lock_path`` (a dict), or None: no file, empty, or not a record."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _parse_holder(os.pread(fd, HOLDER_MAX, 0))
    finally:
        os.close(fd)


def _parse_holder(data: bytes) -> dict[str, Any] | None:
    try:
        holder = json.loads(data.decode("utf-8"))
    except ValueError:   # empty (no holder, or released), or caught mid-write: no information
        return None
    return holder if isinstance(holder, dict) else None


def _acquire(fd: int, lock_path: str, timeout: float | None) -> None:
    """flock ``fd``: blocking without a timeout, else polling until ``timeout`` seconds have passed."""
    if timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    start = time.monotonic()
    deadline, pause = start + max(timeout, 0), POLL_FIRST
    while True:   # bounded: every pass sleeps, and the deadline ends it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LockTimeout(lock_path, time.monotonic() - start, _parse_holder(os.pread(fd, HOLDER_MAX, 0)))
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, POLL_MAX)


@contextlib.contextmanager
def locked(lock_path: str, timeout: float | None = None, what: str | None = None) -> Iterator[None]:
    """Hold an exclusive flock on ``lock_path`` (created 0644 when missing; never followed through a symlink).

    The lock file stays after use: unlinking one that another writer has open would let two writers each hold
    "the" lock, on different inodes. The kernel releases the lock when a writer dies.

    ``timeout`` (seconds): give up after it with :class:`LockTimeout` instead of waiting for ever (0: one attempt).
    ``what``: record the holder in the lock file while holding it, as JSON ``{pid, host, what, since}``, which is
    what a waiter's :class:`LockTimeout` names; the record is emptied on release (a killed holder's record stays,
    but nobody reads it unless the lock is held, and then it is the live holder's).
    """
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SymlinkError(exc.errno, "lock file is a symlink; refusing to follow it", lock_path)
        raise
    try:
        _acquire(fd, lock_path, timeout)
        if what is not None:
            since = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            record = {"pid": os.getpid(), "host": socket.gethostname(), "what": what, "since": since}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record, sort_keys=True).encode("utf-8"), 0)
        try:
            yield
        finally:
            if what is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def remove_stale_temps(directory: str, owns: Callable[[str], bool]) -> None:
    """Delete leftover temporary files whose target name ``owns(name)`` accepts; call it while holding the lock."""
    for entry in os.listdir(directory):
        match = _TEMP_RE.match(entry)
        if match and owns(match.group("base")):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, entry))


def replace(path: str, data: bytes, mode: int = FILE_MODE, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` atomically with ``mode`` (umask does not decide who can read it).

    ``sync_dir=False`` lets a caller writing many files in one directory fsync it once, with ``fsync_dir``.
    """
    _publish(path, data, mode, sync_dir, os.replace)


def create(path: str, data: bytes, mode: int = FILE_MODE, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` as ``replace`` does, but raise FileExistsError when ``path`` exists.

    The complete file is linked to its name (``os.link`` never replaces), so a name that must be unique (a snapshot)
    stays unique even when writers do not share a working lock (NFS mounted without locking).
    """
    _publish(path, data, mode, sync_dir, os.link)


def _publish(path: str, data: bytes, mode: int, sync_dir: bool, publish: Callable[[str, str], None]) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then ``publish(temp, path)`` (``os.replace`` or
    ``os.link``); the temporary name never outlives the call."""
    directory, base = os.path.split(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix="." + base + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        publish(temp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)   # gone already after os.replace; after os.link, the second name of the file
    if sync_dir:
        fsync_dir(directory)


def check_dir(directory: str) -> None:
    """Refuse a world-writable ``directory`` with :class:`UnsafeDirectoryError`: anyone could plant a file or swap
    one in it, and a sticky bit does not stop planting (a name not yet written is anyone's). Raises
    FileNotFoundError for a missing directory."""
    if os.stat(directory).st_mode & stat.S_IWOTH:
        raise UnsafeDirectoryError("directory %s is world-writable; refusing to use it" % directory)


def open_nofollow(path: str) -> tuple[int, os.stat_result]:
    """``(fd, stat)`` of ``path`` opened for reading, never through a symlink (O_NOFOLLOW: no window between a check
    and the open) and never blocking on a FIFO. Raises :class:`SymlinkError` for a symlink at ``path``,
    FileNotFoundError when there is nothing, OSError otherwise; the caller closes ``fd``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(path):
            raise SymlinkError("%s is a symlink; refusing to follow it" % path)
        raise
    return fd, os.fstat(fd)


def read_fd(fd: int, limit: int, chunk: int = 1 << 20) -> bytes:
    """Up to ``limit`` bytes from ``fd``, fewer only at the end of the file, ``chunk`` bytes at a time: ``os.read``
    allocates what it is asked for, so a large bound never costs a large buffer (a buffered ``read(limit)`` would)."""
    chunks = []
    while limit > 0:
        data = os.read(fd, min(limit, chunk))
        if not data:
            break
        chunks.append(data)
        limit -= len(data)
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


def read_existing(path: str) -> tuple[bytes, int] | tuple[None, None]:
    """``(bytes, permission bits)`` of the file at ``path``, ``(None, None)`` when there is none: what a writer
    compares and diffs before it replaces the file. A symlink is refused, not followed (:func:`replace` would replace
    the link, so its target is not the file compared or diffed), and so is anything but a regular file."""
    try:
        fd, st = open_nofollow(path)
    except FileNotFoundError:
        return None, None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(st.st_mode):
            raise OSError("%s is not a regular file; refusing to replace it" % path)
        return handle.read(), stat.S_IMODE(st.st_mode) & 0o777


def fsync_dir(directory: str) -> None:
    """Make renames in ``directory`` durable: without it a crash can bring back the old name."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(directory: str, mode: int = DIR_MODE) -> None:
    """Create missing directories with ``mode`` whatever the umask, so unprivileged readers can reach the files."""
    if os.path.isdir(directory):
        return
    make_dirs(os.path.dirname(directory), mode)
    try:
        os.mkdir(directory)
    except FileExistsError:
        return
    os.chmod(directory, mode)
