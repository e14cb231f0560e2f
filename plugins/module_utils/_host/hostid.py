# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

What the host kernel says about the CPU, beside what QEMU says: the host's identity.

A ``host-passthrough`` guest sees the host's whole ID-register set, MIDR_EL1 included, and the kernel's command line
and the firmware change what KVM offers (``arm64.nosve``, ``id_aa64pfr0.sve=0``, ``kvm-arm.mode=``, firmware
mitigations behind CSV2/CSV3 and SSBS) without changing uname, the emulator or MIDR. So the identity is part of the
fact (``arm_cpu_props.host_cpu``), of the compatibility class and of the cache fingerprint.

Read from sysfs and procfs under roots the caller names (``/sys`` and ``/proc`` on a host; a recorded tree in
tests), as node_exporter's ``--path.sysfs``/``--path.procfs`` do. Standard library only; never raises for a missing
or unreadable file: what is not there is left out.
"""

from __future__ import annotations

import os
import platform
import re
from typing import Any

from ansible_collections.armvirt.cpu.plugins.module_utils._common import atomic

# MIDR_EL1 implementer (bits 31:24) and part number (bits 15:4) to core names: Arm's TRMs and the vendors' own.
# Part numbers as Linux names them (arch/arm64/include/asm/cputype.h: ARM_CPU_PART_*, HISI_CPU_PART_HIP09,
# NVIDIA_CPU_PART_OLYMPUS, AMPERE_CPU_PART_AMPERE1*).
CORE_NAMES = {
    0x41: {0xD03: "Cortex-A53", 0xD07: "Cortex-A57", 0xD08: "Cortex-A72", 0xD0B: "Cortex-A76",
           0xD0C: "Neoverse-N1", 0xD40: "Neoverse-V1", 0xD49: "Neoverse-N2", 0xD4F: "Neoverse-V2",
           0xD84: "Neoverse-V3", 0xD8E: "Neoverse-N3"},
    0x46: {0x001: "A64FX"},
    0x48: {0xD01: "Kunpeng-920", 0xD02: "HIP09"},
    0x4E: {0x010: "Olympus"},
    0xC0: {0xAC3: "Ampere-1", 0xAC4: "Ampere-1A"},
}
IMPLEMENTERS = {0x41: "Arm", 0x46: "Fujitsu", 0x48: "HiSilicon", 0x4E: "NVIDIA", 0x51: "Qualcomm", 0x61: "Apple",
                0xC0: "Ampere"}
# Kernel command-line options that change what KVM offers a guest: the arm64 feature switches, the ID-register
# overrides of arch/arm64/kernel/pi/idreg-override.c and KVM's mode.
_OVERRIDE_RE = re.compile(r"^(arm64\.|id_[a-z0-9]+\.|kvm-arm\.)")
_HEX_RE = re.compile(r"^(0[xX])?[0-9a-fA-F]{1,16}$")
FIRMWARE_FILES = (("vendor", "bios_vendor"), ("version", "bios_version"), ("date", "bios_date"))
_CHUNK = 16384


def label(name: str | None = None) -> str:
    """The name messages use for the host: the caller's ``host`` option (``inventory_hostname``, which the
    collection's playbooks and role pass), else the operating system's host name, which is all a module called ad
    hoc can know."""
    return name or platform.node() or "host"


def _read(path: str, limit: int = 65536) -> str | None:
    """The file's text (at most ``limit`` bytes, undecodable bytes replaced), or None when it cannot be read.

    A raw descriptor and ``os.read`` in small chunks: a buffered ``open().read(limit)`` allocates ``limit`` bytes
    up front (4 MiB for /proc/cpuinfo's bound) and builds a file object per file, which made the identity the
    dearest part of a valid-cache run."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (OSError, ValueError):
        return None
    try:
        data = atomic.read_fd(fd, limit, _CHUNK)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace")


def _cpu_dirs(sysfs_root: str) -> list[str]:
    base = os.path.join(sysfs_root, "devices", "system", "cpu")
    try:
        names = os.listdir(base)
    except OSError:
        return []
    return [base + os.sep + name for name in names if name[:3] == "cpu" and name[3:].isdigit()]


def id_registers(sysfs_root: str, register: str) -> list[str]:
    """Sorted distinct values of ``midr_el1`` or ``revidr_el1`` over the CPUs, as 0x-hex (16 digits, as the kernel
    prints them); empty off Arm. big.LITTLE hosts have several MIDRs."""
    return _registers(_cpu_dirs(sysfs_root), register)


def _registers(cpu_dirs: list[str], register: str) -> list[str]:
    """:func:`id_registers` over CPU directories listed once (:func:`read` reads two registers of each)."""
    values = set()
    tail = os.sep + os.path.join("regs", "identification", register)
    for path in cpu_dirs:
        text = _read(path + tail, 64)
        if text is None or not _HEX_RE.match(text.strip()):
            continue   # offline CPU, not an arm64 kernel, or not a register value
        values.add("0x%016x" % int(text.strip(), 16))
    return sorted(values)


def core_name(midr: str) -> str:
    """The core's name from a MIDR_EL1 value (``0x00000000410fd0c1`` is ``Neoverse-N1``); an unknown part is named by
    its implementer and part number."""
    value = int(midr, 16)
    implementer, part = (value >> 24) & 0xFF, (value >> 4) & 0xFFF
    known = CORE_NAMES.get(implementer, {}).get(part)
    if known:
        return known
    return "%s part 0x%03x" % (IMPLEMENTERS.get(implementer, "implementer 0x%02x" % implementer), part)


def hwcaps(procfs_root: str) -> list[str]:
    """The ``Features`` every CPU of /proc/cpuinfo lists (a guest can count on what all have), sorted."""
    text = _read(os.path.join(procfs_root, "cpuinfo"), 1 << 22)
    if not text:
        return []
    common: set[str] | None = None
    for line in text.splitlines():
        if "Features" not in line:   # a cheap test first: a CPU has about 25 lines, one of them its Features
            continue
        key, _sep, value = line.partition(":")
        if key.strip() == "Features":
            words = set(value.split())
            common = words if common is None else common & words
    return sorted(common or ())


def cmdline_overrides(procfs_root: str) -> list[str]:
    """The options of /proc/cmdline that change what KVM offers (``arm64.*``, ``id_aa64*.*``, ``kvm-arm.*``), as
    written, in order."""
    text = _read(os.path.join(procfs_root, "cmdline"))
    return [word for word in (text or "").split() if _OVERRIDE_RE.match(word)]


def sve_vector_lengths(procfs_root: str) -> list[int] | None:
    """The SVE vector lengths in bits the kernel tells: Linux tells only its default length
    (/proc/sys/abi/sve_default_vector_length, in bytes), so a one-element list or None. The lengths KVM offers a
    guest are QEMU's ``sveN`` properties in the fact."""
    text = _read(os.path.join(procfs_root, "sys", "abi", "sve_default_vector_length"), 64)
    try:
        return [int(text.strip()) * 8] if text is not None else None
    except ValueError:
        return None


def firmware(sysfs_root: str) -> dict[str, str] | None:
    """The DMI firmware identity (vendor, version, date) where the firmware gives it, else None."""
    found: dict[str, str] = {}
    for key, name in FIRMWARE_FILES:
        text = _read(os.path.join(sysfs_root, "class", "dmi", "id", name), 4096)
        if text is not None and text.strip():
            found[key] = text.strip()
    return found or None


def read(sysfs_root: str = "/sys", procfs_root: str = "/proc") -> dict[str, Any]:
    """The host's identity: ``arm_cpu_props.host_cpu`` (docs/schemas/arm_cpu_props.schema.json).

    Read once per run: ``collect.collect`` reads it before it checks the cache and hands the same dict to the
    fingerprint (``cache.fingerprint``'s ``identity``) and to the fact (``collect.host_fact``), so the fact describes
    the host the fingerprint was taken of, and no file is read twice."""
    cpu_dirs = _cpu_dirs(sysfs_root)
    midrs = _registers(cpu_dirs, "midr_el1")
    return {
        "midr": midrs,
        "names": sorted({core_name(midr) for midr in midrs}),
        "revidr": _registers(cpu_dirs, "revidr_el1"),
        "hwcaps": hwcaps(procfs_root),
        "sve_vector_lengths": sve_vector_lengths(procfs_root),
        "kernel_cmdline_overrides": cmdline_overrides(procfs_root),
        "firmware": firmware(sysfs_root),
    }


def fingerprint_items(sysfs_root: str = "/sys", procfs_root: str = "/proc",
                      identity: dict[str, Any] | None = None) -> dict[str, str]:
    """What of the identity a probe result depends on beyond MIDR, as strings (empty when absent): the command-line
    overrides and the firmware. From ``identity`` (what :func:`read` returned) when given, else read here."""
    if identity is None:
        overrides, found = cmdline_overrides(procfs_root), firmware(sysfs_root)
    else:
        overrides, found = identity["kernel_cmdline_overrides"], identity["firmware"]
    return {
        "kernel_cmdline_overrides": " ".join(overrides),
        "firmware": "|".join(found.get(key, "") for key, _name in FIRMWARE_FILES) if found else "",
    }
