# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The writers' lock with a timeout and a holder record, and ``create``, which never replaces a file."""

import multiprocessing
import os
import socket
import time

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._common import atomic

FORK = multiprocessing.get_context("fork")


def hold(lock_path, what, seconds, ready):
    with atomic.locked(lock_path, what=what):
        ready.set()
        time.sleep(seconds)


@pytest.fixture
def holder(tmp_path):
    """Another process holding tmp_path/lock as "gather" for a few seconds; yields (lock path, its pid)."""
    lock_path, ready = str(tmp_path / "lock"), FORK.Event()
    proc = FORK.Process(target=hold, args=(lock_path, "gather", 5, ready))
    proc.start()
    assert ready.wait(10)
    yield lock_path, proc.pid
    proc.terminate()
    proc.join(10)


def test_a_waiter_gives_up_after_the_timeout_and_names_the_holder(holder):
    lock_path, pid = holder
    start = time.monotonic()
    with pytest.raises(atomic.LockTimeout) as caught:
        with atomic.locked(lock_path, timeout=0.5, what="report"):
            pytest.fail("got a lock another process holds")
    waited = time.monotonic() - start
    assert 0.5 <= waited < 2.0
    assert caught.value.holder["pid"] == pid and caught.value.holder["what"] == "gather"
    assert 0.5 <= caught.value.waited < 2.0
    assert str(caught.value).startswith("%s is locked by pid %d on host %s (gather, since 20" % (
        lock_path, pid, socket.gethostname()))
    assert str(caught.value).endswith("; waited 0.5 s")


def test_timeout_zero_tries_once(holder):
    start = time.monotonic()
    with pytest.raises(atomic.LockTimeout):
        with atomic.locked(holder[0], timeout=0):
            pass
    assert time.monotonic() - start < 0.5


def test_a_waiter_gets_the_lock_when_the_holder_lets_go(tmp_path):
    lock_path, ready = str(tmp_path / "lock"), FORK.Event()
    proc = FORK.Process(target=hold, args=(lock_path, "gather", 0.5, ready))
    proc.start()
    assert ready.wait(10)
    start = time.monotonic()
    with atomic.locked(lock_path, timeout=10, what="report"):
        assert atomic.read_holder(lock_path)["what"] == "report"
        waited = time.monotonic() - start
    proc.join(10)
    assert 0.2 < waited < 3


def test_the_holder_record_is_emptied_on_release_and_the_lock_file_stays(tmp_path):
    lock_path = str(tmp_path / "lock")
    with atomic.locked(lock_path, timeout=1, what="gather"):
        record = atomic.read_holder(lock_path)
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    assert os.path.exists(lock_path) and atomic.read_holder(lock_path) is None
    with atomic.locked(lock_path):      # without ``what`` nothing is recorded, as before
        assert atomic.read_holder(lock_path) is None


def test_a_holder_without_a_record_is_described_plainly():
    assert atomic.describe_holder(None) == "another writer (it recorded no holder information)"
    assert atomic.describe_holder({"pid": 7, "host": "ctl"}) == "pid 7 on host ctl"


def test_create_never_replaces_and_leaves_no_temporary_file(tmp_path):
    path = str(tmp_path / "000001-x.json")
    atomic.create(path, b"first")
    with pytest.raises(FileExistsError):
        atomic.create(path, b"second")
    assert open(path, "rb").read() == b"first"
    assert os.listdir(str(tmp_path)) == ["000001-x.json"]
    assert os.stat(path).st_mode & 0o777 == atomic.FILE_MODE


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o703])
def test_check_dir_refuses_a_world_writable_directory_sticky_or_not(tmp_path, mode):
    os.chmod(tmp_path, mode)
    with pytest.raises(atomic.UnsafeDirectoryError,
                       match="directory %s is world-writable; refusing to use it" % tmp_path):
        atomic.check_dir(str(tmp_path))


@pytest.mark.parametrize("mode", [0o755, 0o775, 0o700, 0o2770])
def test_check_dir_accepts_a_directory_only_its_owner_and_group_write(tmp_path, mode):
    os.chmod(tmp_path, mode)
    atomic.check_dir(str(tmp_path))
    with pytest.raises(FileNotFoundError):
        atomic.check_dir(str(tmp_path / "missing"))


def test_open_nofollow_reads_a_file_and_refuses_a_symlink_or_a_dangling_one(tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"data")
    fd, st = atomic.open_nofollow(str(target))
    with os.fdopen(fd, "rb") as handle:
        assert handle.read() == b"data" and st.st_size == 4
    for name, points_to in (("link", target), ("dangling", tmp_path / "nothing")):
        os.symlink(str(points_to), str(tmp_path / name))
        with pytest.raises(atomic.SymlinkError, match="%s is a symlink; refusing to follow it" % (tmp_path / name)):
            atomic.open_nofollow(str(tmp_path / name))
    with pytest.raises(FileNotFoundError):
        atomic.open_nofollow(str(tmp_path / "missing"))
    assert not (tmp_path / "nothing").exists() and target.read_bytes() == b"data"
