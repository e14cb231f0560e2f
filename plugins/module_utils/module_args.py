# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the modules, kept beside the doc fragments that document them (doc_fragments/probe.py,
doc_fragments/confirm.py)."""

from __future__ import annotations

CACHE_MODES = ["use", "refresh", "ignore"]


def probe_argument_spec():
    """Options of every module that probes QEMU: a fresh dict per call, since modules extend it."""
    return dict(
        emulator=dict(type="path", default="/usr/bin/qemu-system-aarch64"),
        accel=dict(type="str", choices=["kvm", "tcg"], default="kvm"),
        timeout=dict(type="float", default=10.0),
        cache_dir=dict(type="path", default="/var/cache/armvirt-cpu"),
    )


def host_paths_argument_spec():
    """Where a module reads the host's identity (``hostid.py``): sysfs and procfs, or a recorded host tree."""
    return dict(sysfs_path=dict(type="path", default="/sys"), procfs_path=dict(type="path", default="/proc"))


def cpu_check_argument_spec():
    """Options of armvirt.cpu.cpu_check: the probe's, where the host's identity is read (for the fingerprint), the
    request (mode and features, or a -cpu value), how the results file is used and the host's name for messages."""
    spec = probe_argument_spec()
    spec.update(host_paths_argument_spec())
    spec.update(
        mode=dict(type="str", choices=["host-passthrough", "maximum"]),   # None: cpu_arg's model, else host-passthrough
        features=dict(type="list", elements="dict"),
        cpu_arg=dict(type="str"),
        cache=dict(type="str", choices=CACHE_MODES, default="use"),
        host=dict(type="str"),
    )
    return spec


def confirm_argument_spec():
    """Options of a module that has the host's QEMU confirm a request before it writes (domain_cpu): whether to, and
    the probe's deadline and cache directory (the emulator and accelerator come from what is being written)."""
    probe = probe_argument_spec()
    return dict(confirm=dict(type="bool", default=True), timeout=probe["timeout"], cache_dir=probe["cache_dir"])
