# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the warning for a damaged property cache: a repair names the host, the file and the fault."""

import socket

from ansible_collections.armvirt.cpu.plugins.module_utils._host import cache, collect
from ansible_collections.armvirt.cpu.plugins.module_utils._host.props import HostProps


def test_a_damaged_cache_is_a_warning_naming_host_file_and_fault(tmp_path):
    emulator = tmp_path / "qemu-system-aarch64"
    emulator.write_bytes(b"\x7fELF stand-in")
    path = collect.cache_path(str(tmp_path / "cache"), str(emulator), "kvm")
    fp = cache.fingerprint(str(emulator), "kvm", sysfs_root=str(tmp_path / "sys"))
    cache.write(path, HostProps.unsupported("none", "7.2.0", ""), fp)
    info = {"path": path, "fingerprint": fp, "status": cache.status(path, fp)[1]}
    assert collect.damaged_cache_warning(info, "was rewritten") is None   # a valid cache
    info["status"] = cache.status(path, dict(fp, kernel_release="6.99"))[1]
    assert collect.damaged_cache_warning(info, "was rewritten") is None   # a stale one
    with open(path, "wb") as handle:
        handle.write(b"<cpuPropertyInfo format='2'><property name=")
    info["status"] = cache.status(path, fp)[1]
    warning = collect.damaged_cache_warning(info, "was rewritten")
    assert warning.startswith("host %s: the property cache %s was damaged (corrupt: " % (socket.gethostname(), path))
    assert warning.endswith("); QEMU was probed again and the cache was rewritten")
    assert collect.damaged_cache_warning(None, "was rewritten") is None   # a running monitor: no cache
