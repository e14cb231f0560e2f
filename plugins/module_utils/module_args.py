# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the modules, kept beside the doc fragment that documents them (doc_fragments/probe.py)."""

from __future__ import annotations


def probe_argument_spec():
    """Options of every module that probes QEMU: a fresh dict per call, since modules extend it."""
    return dict(
        emulator=dict(type="path", default="/usr/bin/qemu-system-aarch64"),
        accel=dict(type="str", choices=["kvm", "tcg"], default="kvm"),
        timeout=dict(type="float", default=10.0),
        cache_dir=dict(type="path", default="/var/cache/armvirt-cpu"),
    )
