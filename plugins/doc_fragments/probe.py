# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by the modules that probe QEMU for Arm CPU properties."""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  emulator:
    description:
      - Path of the QEMU emulator binary to probe.
      - The probe starts it the way libvirt does (C(-S -no-user-config -nodefaults -nographic -machine none,accel=ACCEL
        -qmp unix:...)) in a private temporary directory, asks it over QMP, sends C(quit) and always reaps it.
    type: path
    default: /usr/bin/qemu-system-aarch64
  accel:
    description:
      - Accelerator the properties are probed for. Under C(kvm) the CPU model C(host) is asked about, under C(tcg) the
        model C(max) (C(host) needs KVM).
    type: str
    choices: [kvm, tcg]
    default: kvm
  timeout:
    description:
      - Deadline in seconds for each QMP command (and for the emulator to open its monitor), not per read.
    type: float
    default: 10.0
  cache_dir:
    description:
      - Directory of the C(<cpuPropertyInfo>) cache files, one per emulator path and accelerator.
      - The cache is this collection's own file, not libvirt's (whose C(<cpuPropertyInfo>) format is not public yet);
        C(docs/cache.md) in the collection describes it.
    type: path
    default: /var/cache/armvirt-cpu
"""
