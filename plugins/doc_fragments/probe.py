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
      - It runs as the user the module runs as (usually root), so it must be an absolute path to a regular file that
        nobody else can change -- after symbolic links, owned by root or that user, neither it nor its directory
        writable by group or others, every entry on the way owned by root or that user; otherwise the task fails
        with the reason and nothing is run (C(docs/host-guide.md)).
    type: path
    default: /usr/bin/qemu-system-aarch64
  accel:
    description:
      - Accelerator QEMU is asked for. The property probe asks about the CPU model C(host) under C(kvm) and C(max)
        under C(tcg) (C(host) needs KVM); M(armvirt.cpu.cpu_check) asks about the request's own model.
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
      - Directory of the C(<cpuPropertyInfo>) cache files, one per emulator path and accelerator, and of the
        M(armvirt.cpu.cpu_check) results beside them (C(<hash>-<accel>.checks.json)).
      - The cache is this collection's own file, not libvirt's (whose C(<cpuPropertyInfo>) format is not public yet);
        C(docs/cache.md) in the collection describes it.
    type: path
    default: /var/cache/armvirt-cpu
"""

    HOST_PATHS = r"""
options:
  sysfs_path:
    description:
      - Where sysfs is mounted. The host's identity (C(host_cpu) in the fact; MIDR_EL1 and REVIDR_EL1 of each CPU, the
        DMI firmware identity) is read below it, and so is the cache fingerprint's MIDR and firmware.
      - Point it and O(procfs_path) at a recorded host tree to read another host's identity, as node_exporter's
        C(--path.sysfs) does.
    type: path
    default: /sys
  procfs_path:
    description:
      - Where procfs is mounted. C(cpuinfo) (the hwcaps), C(cmdline) (the kernel options that change what KVM offers,
        also part of the cache fingerprint) and C(sys/abi/sve_default_vector_length) are read below it.
    type: path
    default: /proc
"""
