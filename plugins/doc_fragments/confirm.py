# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of the modules that have the host's QEMU confirm a guest CPU request before they write (domain_cpu)."""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  confirm:
    description:
      - Before anything is written, have the host's own QEMU confirm the request, as M(armvirt.cpu.cpu_check) does
        (the same code) -- C(query-cpu-model-expansion) of the request under TCG when every property is a boolean, else
        a paused start of its C(-cpu) (C(-S), machine C(virt), no devices, no disk, reaped at once), which under KVM
        is where KVM refuses ID register values. A request QEMU refuses fails the task with QEMU's own words and
        nothing is written.
      - The emulator is the one the domain names (C(<devices><emulator>)) and the accelerator follows the domain's
        type (C(kvm) for V(kvm), C(tcg) for V(qemu)); a domain of another type is not confirmed (RV(confirmation)
        says so).
      - That emulator runs as the user the module runs as (usually root), not confined as libvirt runs a guest, and
        a domain's C(<emulator>) is written by whoever may define domains. So it is run only when it is trusted --
        it is O(emulator) or libvirt's capabilities (C(virsh capabilities)) list it for aarch64 guests of the
        domain's type, and its file, after symbolic links, is a regular file owned by root or by the user running
        the module, neither it nor its directory writable by group or others, every entry on the way owned by root
        or that user. Otherwise the task fails naming the host, the domain, the emulator and the reason, nothing is
        run and nothing is written; no other emulator is ever used instead (C(docs/existing-guests.md)).
      - Check mode confirms too (it starts no guest and changes nothing) but does not write the results file.
      - An accepted request is kept per host in O(cache_dir), so each distinct request costs one short-lived QEMU
        until the emulator, kernel, host CPU or KVM access changes.
    type: bool
    default: true
  timeout:
    description:
      - Deadline in seconds for the confirmation's QEMU to answer (its monitor, and each QMP command).
    type: float
    default: 10.0
  emulator:
    description:
      - The configured emulator, the one trusted besides those libvirt's capabilities list (see O(confirm)); for
        example the one M(armvirt.cpu.props_facts) probes. It is never run in place of the domain's own emulator.
    type: path
    default: /usr/bin/qemu-system-aarch64
  cache_dir:
    description:
      - Directory of the confirmation results, C(<hash>-<accel>.checks.json) beside the property cache of
        M(armvirt.cpu.props_cache) (the same fingerprint decides whether they still hold).
    type: path
    default: /var/cache/armvirt-cpu
"""
