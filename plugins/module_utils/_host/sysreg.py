# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

``SYSREG_<REG>_<FIELD>`` properties: which values the host kernel lets a VMM give an ID-register field.

Red Hat's configurable host model (QEMU, in review in 2026; shipped downstream by openEuler) exposes one uint64
property per ID-register field that the host kernel reports writable, e.g. ``SYSREG_ID_AA64ISAR0_EL1_AES``, whose
value in an expansion of ``host`` is the host's. What a guest may be given instead is the kernel's rule for that
field: KVM's ``arm64_check_features`` (``arch/arm64/kvm/sys_regs.c``) accepts a value when the field's
``arm64_ftr_safe_value`` (``arch/arm64/kernel/cpufeature.c``) of the value and the host's is the value itself:

- ``lower-safe``: any value up to the host's (``FTR_LOWER_SAFE``);
- ``exact``: the host's value or the field's safe value (``FTR_EXACT``);
- ``higher-safe``: the host's value or above (``FTR_HIGHER_SAFE``);
- ``higher-or-zero-safe``: 0, or the host's value or above (``FTR_HIGHER_OR_ZERO_SAFE``);

and signed fields (``S_ARM64_FTR_BITS``) compare as signed 4-bit numbers, where 0xf (-1) means "not implemented",
below every implemented value. KVM's own special cases: ``ID_AA64DFR0_EL1.DebugVer`` may be lowered but not below
6 (Armv8 debug), ``PMUVer`` may be lowered to another PMUv3 version or to 0, never to IMPDEF (0xf), and WRPs and
BRPs (counts minus one) never to 0, which Arm reserves.

:data:`FIELDS` is the table this collection supports, with register and field names as in Arm's published register
data (Registers.json), each field with its rule and its source (the ``cpufeature.c`` table that gives the rule, the
``sys_regs.c`` writable mask that lets a VMM change it). A ``SYSREG_`` property outside it is kept as exactly its
host value, never guessed; so are the fields outside KVM's writable masks (:data:`NOT_WRITABLE`, and ASIDBits and
VMIDBits), which QEMU should not offer at all, and the fields KVM sets itself whatever a VMM writes
(:data:`KVM_SETS`). The identification registers' fields (MIDR_EL1, REVIDR_EL1, AIDR_EL1; Red Hat's v10 and
Nutanix's v3 offer them) are the host's identity (:data:`IDENTITY`): offered at the host's value only, although
KVM lets a VMM write any value there since Linux 6.15 (``set_imp_id_reg`` with
``KVM_CAP_ARM_WRITABLE_IMP_ID_REGS``): a guest picks its errata workarounds by them, so another value is a pool's
decision (target-implementation hypercalls), not a lower value to offer.
"""

from __future__ import annotations

import collections
import re
from typing import Any, Iterable, Optional, Tuple

from ansible_collections.armvirt.cpu.plugins.module_utils._host import props

LOWER_SAFE, EXACT, HIGHER_SAFE, HIGHER_OR_ZERO_SAFE = "lower-safe", "exact", "higher-safe", "higher-or-zero-safe"
HOST_ONLY = "host-value"   # not in the table: the host's value and nothing else
KVM_SET = "kvm-sets"       # KVM writes the field itself: the host's value and nothing else
IDENTITY = "identity"      # an identification register's field: the host's identity, at its value only
KINDS = (LOWER_SAFE, EXACT, HIGHER_SAFE, HIGHER_OR_ZERO_SAFE)
SOURCE = ("Linux arch/arm64/kernel/cpufeature.c (ARM64_FTR_BITS tables, arm64_ftr_safe_value) and "
          "arch/arm64/kvm/sys_regs.c (sys_reg_descs writable masks, arm64_check_features, set_id_aa64dfr0_el1, "
          "set_imp_id_reg), as of Linux 6.18 (torvalds/linux, December 2026)")
# Where each register's rules come from: the cpufeature.c table of its fields and the sys_regs.c entry whose mask says
# which of them a VMM may write. A field's own ``source`` adds what is particular to it.
REGISTER_SOURCES = {
    "ID_AA64ISAR0_EL1": "cpufeature.c ftr_id_aa64isar0; sys_regs.c ID_WRITABLE(ID_AA64ISAR0_EL1, ~RES0)",
    "ID_AA64ISAR1_EL1": "cpufeature.c ftr_id_aa64isar1; sys_regs.c ID_WRITABLE(ID_AA64ISAR1_EL1, ~(GPI, GPA, API, APA))",
    "ID_AA64ISAR2_EL1": "cpufeature.c ftr_id_aa64isar2; sys_regs.c ID_WRITABLE(ID_AA64ISAR2_EL1, ~(RES0, APA3, GPA3))",
    "ID_AA64ISAR3_EL1": "cpufeature.c ftr_id_aa64isar3; sys_regs.c ID_WRITABLE(ID_AA64ISAR3_EL1, FPRCVT, FAMINMAX)",
    "ID_AA64PFR0_EL1": "cpufeature.c ftr_id_aa64pfr0; sys_regs.c ID_FILTERED(ID_AA64PFR0_EL1, "
                       "~(AMU, MPAM, SVE, RAS, AdvSIMD, FP)), set_id_aa64pfr0_el1",
    "ID_AA64PFR1_EL1": "cpufeature.c ftr_id_aa64pfr1; sys_regs.c ID_FILTERED(ID_AA64PFR1_EL1, ~(... SME, MPAM_frac, "
                       "RAS_frac, MTE ...))",
    "ID_AA64PFR2_EL1": "cpufeature.c ftr_id_aa64pfr2; sys_regs.c ID_WRITABLE(ID_AA64PFR2_EL1, FPMR)",
    "ID_AA64FPFR0_EL1": "cpufeature.c ftr_id_aa64fpfr0 (FTR_EXACT, 1 bit, safe 0); sys_regs.c "
                        "ID_WRITABLE(ID_AA64FPFR0_EL1, ~RES0)",
    "ID_AA64ZFR0_EL1": "cpufeature.c ftr_id_aa64zfr0; sys_regs.c ID_WRITABLE(ID_AA64ZFR0_EL1, ~RES0)",
    "ID_AA64MMFR0_EL1": "cpufeature.c ftr_id_aa64mmfr0; sys_regs.c ID_FILTERED(ID_AA64MMFR0_EL1, ~(RES0, ASIDBITS))",
    "ID_AA64MMFR1_EL1": "cpufeature.c ftr_id_aa64mmfr1; sys_regs.c ID_WRITABLE(ID_AA64MMFR1_EL1, "
                        "~(RES0, HCX, TWED, XNX, VH, VMIDBits))",
    "ID_AA64MMFR2_EL1": "cpufeature.c ftr_id_aa64mmfr2; sys_regs.c ID_FILTERED(ID_AA64MMFR2_EL1, "
                        "~(RES0, EVT, FWB, IDS, NV, CCIDX))",
    "ID_AA64MMFR3_EL1": "cpufeature.c ftr_id_aa64mmfr3; sys_regs.c ID_WRITABLE(ID_AA64MMFR3_EL1, TCRX, S1PIE, S1POE)",
    "ID_AA64MMFR4_EL1": "cpufeature.c ftr_id_aa64mmfr4; sys_regs.c ID_WRITABLE(ID_AA64MMFR4_EL1, NV_frac)",
    "ID_AA64DFR0_EL1": "cpufeature.c ftr_id_aa64dfr0; sys_regs.c ID_FILTERED(ID_AA64DFR0_EL1, DoubleLock, WRPs, "
                       "PMUVer, DebugVer), set_id_aa64dfr0_el1",
    "CTR_EL0": "cpufeature.c ftr_ctr; sys_regs.c ID_FILTERED(CTR_EL0, DIC, IDC, DminLine, L1Ip, IminLine)",
}

# A row of the table before its register is known: name, kind, width, signed, safe, floor, encodings, note
Row = Tuple[str, str, int, bool, int, int, Optional[Tuple[int, ...]], str]
_NAME_RE = re.compile(r"^SYSREG_((?:ID_[A-Z0-9]+|CTR|DCZID|MIDR|REVIDR|AIDR)_EL[0-3])_([A-Za-z0-9_]+)$")


class Field(collections.namedtuple("Field", "register name kind width signed safe floor encodings source")):
    """One ID-register field and the kernel's rule for it. ``safe`` is FTR_EXACT's safe value, ``floor`` the
    lowest value KVM takes for a lowerable field, ``encodings`` the values that exist (None: every value),
    ``source`` where the rule comes from (the register's tables, and what is particular to the field)."""

    __slots__ = ()

    @property
    def label(self) -> str:
        return "%s.%s" % (self.register, self.name)


def _fields(register: str, rows: Iterable[Row]) -> list[Field]:
    return [Field(register, name, kind, width, signed, safe, floor, encodings,
                  REGISTER_SOURCES[register] + ("; " + note if note else ""))
            for name, kind, width, signed, safe, floor, encodings, note in rows]


def _l(name: str, width: int = 4, signed: bool = False, floor: int = 0, encodings: tuple[int, ...] | None = None,
       note: str = "") -> Row:
    return (name, LOWER_SAFE, width, signed, 0, floor, encodings, note)


def _e(name: str, safe: int = 0, width: int = 4, note: str = "") -> Row:
    return (name, EXACT, width, False, safe, 0, None, note)


def _h(name: str, kind: str = HIGHER_SAFE, note: str = "") -> Row:
    return (name, kind, 4, False, 0, 0, None, note)


_TABLE = (
    _fields("ID_AA64ISAR0_EL1", [_l(name) for name in (
        "RNDR", "TLB", "TS", "FHM", "DP", "SM4", "SM3", "SHA3", "RDM", "Atomic", "CRC32", "SHA2", "SHA1", "AES")])
    + _fields("ID_AA64ISAR1_EL1", [_l(name) for name in (
        "I8MM", "DGH", "BF16", "SPECRES", "SB", "FRINTTS", "GPI", "GPA", "LRCPC", "FCMA", "JSCVT", "DPB")]
        + [_e("API"), _e("APA")])
    + _fields("ID_AA64ISAR2_EL1", [_l(name) for name in ("CSSC", "RPRFM", "GPA3", "RPRES", "WFxT")]
              + [_l("BC", note="FTR_LOWER_SAFE since Linux 6.6, commit 479965a2b7ec (was FTR_HIGHER_SAFE)"), _e("APA3"),
                 _l("MOPS"), _l("CLRBHB", note="described since commit 479965a2b7ec, Fix CLRBHB and BC detection"),
                 _l("LUT", note="FEAT_LUT")])
    + _fields("ID_AA64ISAR3_EL1", [_l("FAMINMAX"), _l("FPRCVT")])
    + _fields("ID_AA64PFR0_EL1", [_l(name) for name in (
        "CSV3", "CSV2", "DIT", "AMU", "MPAM", "SEL2", "SVE", "RAS", "EL3", "EL2")]
        + [_e("GIC", note="FTR_EXACT; KVM sets it from the vGIC it creates (vgic-init.c), see KVM_SETS"),
           _l("EL1", floor=1), _l("EL0", floor=1), _l("AdvSIMD", signed=True), _l("FP", signed=True)])
    + _fields("ID_AA64PFR1_EL1", [_l(name) for name in ("SME", "MPAM_frac", "RAS_frac", "MTE", "SSBS", "BT")]
              + [_l("CSV2_frac", note="in ID_AA64PFR1_EL1's writable mask")])
    + _fields("ID_AA64PFR2_EL1", [_l("FPMR")])
    + _fields("ID_AA64FPFR0_EL1", [_e(name, width=1) for name in (
        "F8CVT", "F8FMA", "F8DP4", "F8DP2", "F8E4M3", "F8E5M2")])
    + _fields("ID_AA64ZFR0_EL1", [_l(name) for name in (
        "F64MM", "F32MM", "I8MM", "SM4", "SHA3", "BF16", "BitPerm", "AES", "SVEver")])
    + _fields("ID_AA64MMFR0_EL1", [_l(name) for name in (
        "ECV", "FGT", "ExS", "TGran16", "BigEndEL0", "SNSMem", "BigEnd", "PARange")]
        + [_l("TGran4", signed=True), _l("TGran64", signed=True),
           _e("TGran4_2", safe=1), _e("TGran64_2", safe=1), _e("TGran16_2", safe=1)])
    + _fields("ID_AA64MMFR1_EL1", [_l(name) for name in (
        "TIDCP1", "AFP", "ETS", "TWED", "XNX", "PAN", "LO", "HPDS", "VH", "HAFDBS")]
        + [_h("SpecSEI"), _l("ECBHB"), _l("CMOW")])
    + _fields("ID_AA64MMFR2_EL1", [_l(name) for name in (
        "E0PD", "EVT", "BBM", "TTL", "FWB", "IDS", "AT", "ST", "NV", "CCIDX", "VARange", "IESB", "LSM", "UAO",
        "CnP")])
    + _fields("ID_AA64MMFR3_EL1", [_l("S1POE"), _l("S1PIE"), _l("TCRX")])
    + _fields("ID_AA64MMFR4_EL1", [_l("NV_frac", note="only meaningful with a nested-virtualisation vCPU")])
    + _fields("ID_AA64DFR0_EL1", [_l(name) for name in ("PMSVer", "CTX_CMPs")]
              + [_l("WRPs", floor=1, note="a count minus one; Arm reserves 0"),
                 _l("BRPs", floor=1, note="a count minus one; Arm reserves 0")]
              + [_l("DoubleLock", signed=True),
                 _l("DebugVer", floor=6, note="set_id_aa64dfr0_el1 refuses below 6 (Armv8 debug)"),
                 _l("PMUVer", encodings=(0, 1, 4, 5, 6, 7, 8, 9),
                    note="kvm_arm64_ftr_safe_value: a PMUv3 version or 0, never IMPDEF (0xf)")])
    + _fields("CTR_EL0", [_l("DIC", width=1), _l("IDC", width=1), _l("DminLine"), _l("IminLine"),
                          _h("CWG", HIGHER_OR_ZERO_SAFE), _h("ERG", HIGHER_OR_ZERO_SAFE),
                          _e("L1Ip", safe=2, width=2, note="safe value VIPT (2)")])
)
FIELDS = {(field.register, field.name.upper()): field for field in _TABLE}
# Fields of the table outside KVM's writable masks (``ID_WRITABLE``/``ID_FILTERED`` in sys_reg_descs): the kernel's
# rule would allow lowering them, but KVM keeps the host's value (or what the vCPU's feature flags give). QEMU offers
# only writable fields; should one of these reach the fact, it is its host value and nothing else.
NOT_WRITABLE = frozenset((
    "ID_AA64ISAR1_EL1.APA", "ID_AA64ISAR1_EL1.API", "ID_AA64ISAR1_EL1.GPA",
    "ID_AA64ISAR1_EL1.GPI", "ID_AA64ISAR2_EL1.APA3", "ID_AA64ISAR2_EL1.GPA3",
    "ID_AA64PFR0_EL1.AMU", "ID_AA64PFR0_EL1.MPAM", "ID_AA64PFR0_EL1.SVE", "ID_AA64PFR0_EL1.RAS",
    "ID_AA64PFR0_EL1.AdvSIMD", "ID_AA64PFR0_EL1.FP", "ID_AA64PFR1_EL1.MTE", "ID_AA64PFR1_EL1.SME",
    "ID_AA64PFR1_EL1.RAS_frac", "ID_AA64PFR1_EL1.MPAM_frac", "ID_AA64MMFR1_EL1.VH", "ID_AA64MMFR1_EL1.TWED",
    "ID_AA64MMFR1_EL1.XNX", "ID_AA64MMFR2_EL1.EVT", "ID_AA64MMFR2_EL1.FWB", "ID_AA64MMFR2_EL1.IDS",
    "ID_AA64MMFR2_EL1.NV", "ID_AA64MMFR2_EL1.CCIDX", "ID_AA64DFR0_EL1.BRPs", "ID_AA64DFR0_EL1.CTX_CMPs",
    "ID_AA64DFR0_EL1.PMSVer", "CTR_EL0.CWG", "CTR_EL0.ERG"))
# Fields KVM writes itself, whatever a VMM wrote: offered only at the host's value, with why.
KVM_SETS = {
    "ID_AA64PFR0_EL1.GIC": "KVM sets it from the vGIC the VMM creates (arch/arm64/kvm/vgic/vgic-init.c "
                           "kvm_vgic_create, since April 2026), whatever userspace writes",
}
# The identification registers (sys_regs.c IMPLEMENTATION_ID entries) and the widths of MIDR_EL1's fields
# (Arm's register data). REVIDR_EL1 and AIDR_EL1 are IMPLEMENTATION DEFINED: any field name, 64 bits at most.
IDENTITY_REGISTERS = ("MIDR_EL1", "REVIDR_EL1", "AIDR_EL1")
MIDR_FIELDS = {"IMPLEMENTER": 8, "VARIANT": 4, "ARCHITECTURE": 4, "PARTNUM": 12, "REVISION": 4}
IDENTITY_SOURCE = ("Linux arch/arm64/kvm/sys_regs.c IMPLEMENTATION_ID(MIDR_EL1, GENMASK(31, 0)), REVIDR_EL1 and "
                   "AIDR_EL1 (GENMASK(63, 0)), set_imp_id_reg: any value inside the mask once the VMM enables "
                   "KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (Linux 6.15)")


def parse_name(name: str) -> tuple[str, str] | None:
    """``(register, field)`` of a ``SYSREG_<REG>_<FIELD>`` property name, or None for any other name."""
    match = _NAME_RE.fullmatch(name)   # not match(): "$" also matches before a final newline
    return (match.group(1), match.group(2)) if match else None


def lookup(name: str) -> Field | None:
    """The table's Field for a property name, or None (not a SYSREG_ name, or a field the table lacks)."""
    parsed = parse_name(name)
    return FIELDS.get((parsed[0], parsed[1].upper())) if parsed else None


def is_identity(register: str) -> bool:
    """Whether ``register`` is an identification register (MIDR_EL1, REVIDR_EL1, AIDR_EL1)."""
    return register in IDENTITY_REGISTERS


def rule_of(label: str) -> str | None:
    """The rule the fact gives field ``label`` ("REG.FIELD") when only its name is known (a props-info host): the
    identity of an identification register, the host's value for a field KVM sets or keeps, else the table's kind;
    None for a field the table lacks."""
    register, _dot, name = label.partition(".")
    if is_identity(register):
        return IDENTITY
    if label in KVM_SETS:
        return KVM_SET
    field = FIELDS.get((register, name.upper()))
    if field is None:
        return None
    return HOST_ONLY if label in NOT_WRITABLE else field.kind


def _signed(value: int, width: int) -> int:
    return value - (1 << width) if value >= 1 << (width - 1) else value


def allowed(field: Field, host_value: int) -> list[int]:
    """The raw field values KVM accepts for a guest on a host whose field is ``host_value``, ascending."""
    top = (1 << field.width) - 1
    if field.kind == EXACT:
        values = {host_value, field.safe}
    elif field.kind == HIGHER_SAFE:
        values = set(range(host_value, top + 1))
    elif field.kind == HIGHER_OR_ZERO_SAFE:
        values = {0} | set(range(host_value, top + 1)) if host_value else {0}
    elif field.signed:   # -1 (0xf, "not implemented") is below every implemented value, not below a reserved one
        host = _signed(host_value, field.width)
        values = {value for value in range(top + 1) if field.floor <= _signed(value, field.width) <= host
                  or -1 == _signed(value, field.width) <= host} | {host_value}
    else:
        values = set(range(field.floor, host_value + 1)) | {host_value}
    if field.encodings is not None:
        values = {value for value in values if value in field.encodings or value == host_value}
    return sorted(values)


def as_ranges(values: Iterable[int]) -> list[str]:
    """Ascending integers as the fact's grammar in hex: ``[0, 1, 2, 15]`` is ``["0x0-0x2", "0xf"]``."""
    ranges: list[list[int]] = []
    for value in values:
        if ranges and value == ranges[-1][1] + 1:
            ranges[-1][1] = value
        else:
            ranges.append([value, value])
    return [props.format_range(low, high, hexadecimal=True) for low, high in ranges]


def read_property(name: str, host_value: int) -> props.Property:
    """A SYSREG_ property from the host's value: its values by the field's kernel rule, the rule kept in the
    fact's extra members (``field``, ``rule``, ``signed``, ``host_value``). An identification field, a field KVM
    sets itself and one the table lacks or KVM keeps give the host's value only."""
    field = lookup(name)
    parsed = parse_name(name)
    label = field.label if field is not None else ("%s.%s" % parsed if parsed else None)
    host = "0x%x" % host_value
    if parsed and is_identity(parsed[0]):
        return props.Property(name, props.NUMBER_TYPE, [host], host,
                              {"field": label, "rule": IDENTITY, "host_value": host})
    if label in KVM_SETS:
        return props.Property(name, props.NUMBER_TYPE, [host], host,
                              {"field": label, "rule": KVM_SET, "host_value": host})
    if field is None or field.label in NOT_WRITABLE or not 0 <= host_value < (1 << field.width):
        extra: dict[str, Any] = {"rule": HOST_ONLY, "host_value": host}
        if parsed:
            extra["field"] = label
        return props.Property(name, props.NUMBER_TYPE, [host], host, extra)
    return props.Property(name, props.NUMBER_TYPE, as_ranges(allowed(field, host_value)),
                          host, {"field": field.label, "rule": field.kind, "signed": field.signed,
                                 "host_value": host})


_RULE_WORDS = {
    LOWER_SAFE: "lower-safe: a guest may have any value up to the host's %s",
    EXACT: "exact: a guest may have only the host's %s or the field's safe value",
    HIGHER_SAFE: "higher-safe: a guest may have the host's %s or any higher value",
    HIGHER_OR_ZERO_SAFE: "higher-or-zero-safe: a guest may have 0, the host's %s or any higher value",
    HOST_ONLY: "not a field this collection knows the kernel's rule for (or one KVM does not let a VMM write), so "
               "only the host's %s",
    KVM_SET: "a field KVM sets itself whatever a VMM writes (the GIC version follows the vGIC), so only the host's %s",
    IDENTITY: "part of the host's identity (an identification register: a guest picks its errata workarounds by "
              "it), offered only at the host's %s",
}


def rule_text(extra: object) -> str:
    """A sentence on the kernel's rule for a SYSREG_ property, from the members ``read_property`` keeps; empty for
    any other property."""
    if not isinstance(extra, dict) or extra.get("rule") not in _RULE_WORDS or "host_value" not in extra:
        return ""
    signed = " (signed: 0xf is 'not implemented', below every other value)" if extra.get("signed") else ""
    return " %s is %s%s." % (extra.get("field") or "the field", _RULE_WORDS[extra["rule"]] % extra["host_value"],
                             signed)
