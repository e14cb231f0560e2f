"""What KVM lets a VMM give a guest for each ID register field the profiles cite: the simulator's own rule table.

It stands in for the host kernel, so it is written from the kernel source, not from the collection's
``plugins/module_utils/_host/sysreg.py`` (the simulator must be able to disagree with the collection):

- Linux ``arch/arm64/kernel/cpufeature.c``: each field's ``ARM64_FTR_BITS`` entry (``FTR_LOWER_SAFE``,
  ``FTR_EXACT`` with its safe value, ``FTR_HIGHER_SAFE``, ``FTR_HIGHER_OR_ZERO_SAFE``; ``S_ARM64_FTR_BITS`` for a
  signed field) and ``arm64_ftr_safe_value``;
- Linux ``arch/arm64/kvm/sys_regs.c``: the writable mask of each ID register in ``sys_reg_descs``
  (``ID_WRITABLE``/``ID_FILTERED``: what ``KVM_ARM_GET_REG_WRITABLE_MASKS`` reports), ``arm64_check_features``
  (a written field is accepted when its safe value against the host's is the written value itself; a field outside
  the writable mask must keep the host's value), ``kvm_arm64_ftr_safe_value`` (PMUVer and DebugVer compare
  lower-safe for KVM), ``set_id_aa64dfr0_el1`` (DebugVer below 6 is refused), ``set_id_aa64pfr0_el1`` (EL0 and EL1
  stay AArch64), and the ``sanitise_*`` helpers that hide fields from every guest (AMU, MPAM, MTE without the MTE
  capability, SPE, NV without the EL2 vCPU flag) or follow a vCPU flag (SVE and ID_AA64ZFR0_EL1 with the SVE flag,
  PMUVer with the PMUv3 flag, the pointer-authentication fields with the address/generic authentication flags).

Two kernel models, named by a profile's ``kvm_id_regs``:

- ``writable`` (the default): Linux 6.14 and later, the writable masks as in upstream ``sys_regs.c`` with the
  December 2024 fix that stopped ASIDBits being writable (sent to the stable kernels). Not writable: ASIDBits
  (MMFR0); VMIDBits, VH, XNX, TWED, HCX (MMFR1); NV, CCIDX, EVT, FWB, IDS (MMFR2); AMU, MPAM, SVE, RAS, AdvSIMD, FP
  (PFR0); MTE, RAS_frac, MPAM_frac, SME (PFR1); API, APA, GPI, GPA (ISAR1); APA3, GPA3 (ISAR2); BRPs, CTX_CMPs,
  PMSVer (DFR0: "just prevent changes to BRPs and CTX_CMPs altogether"); CWG, ERG (CTR_EL0); DCZID_EL0 is no ID
  register KVM writes.
- ``invariant``: Linux 5.10 to 6.6: every ID register is invariant for the VMM except ID_AA64PFR0_EL1.CSV2 and CSV3,
  which ``set_id_aa64pfr0_el1`` lets it lower.

``allowed(field, host, model)`` is exactly what that kernel code accepts, reserved encodings included (KVM does not
know which encodings exist); a props-info profile (a QEMU listing values) leaves out ``RESERVED`` encodings and a
signed field's negative encodings other than 0xf ("not implemented").
"""

from __future__ import annotations

import collections

LOWER, EXACT, HIGHER, HIGHER_OR_ZERO = "lower-safe", "exact", "higher-safe", "higher-or-zero-safe"
MODELS = ("writable", "invariant")


class Rule(collections.namedtuple("Rule", "kind signed safe floor writable hidden gate kvm_sets identity")):
    """``kind``: the cpufeature.c safe-value type as KVM compares it; ``signed``: S_ARM64_FTR_BITS; ``safe``:
    FTR_EXACT's safe value; ``floor``: the lowest value KVM takes (DebugVer 6, EL0/EL1 1); ``writable``: in KVM's
    writable mask (model ``writable``); ``hidden``: KVM shows 0 to every guest; ``gate``: the QEMU switch (vCPU
    flag) whose off state makes the field 0; ``kvm_sets``: KVM writes the field itself whatever the VMM wrote, so
    the guest has the host's value; ``identity``: a field of an identification register (IMPLEMENTATION_ID in
    sys_regs.c): ``set_imp_id_reg`` takes any value inside the register's mask once the VMM has enabled
    KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (Linux 6.15)."""

    __slots__ = ()


def _r(kind=LOWER, signed=False, safe=0, floor=0, writable=True, hidden=False, gate=None, kvm_sets=False,
       identity=False):
    return Rule(kind, signed, safe, floor, writable, hidden, gate, kvm_sets, identity)


_FIXED = dict(writable=False)
RULES = {}
for _name in ("RNDR", "TLB", "TS", "FHM", "DP", "SM4", "SM3", "SHA3", "RDM", "Atomic", "CRC32", "SHA2", "SHA1",
              "AES"):
    RULES["ID_AA64ISAR0_EL1." + _name] = _r()
RULES["ID_AA64ISAR0_EL1.TME"] = _r(writable=False, hidden=True)      # not in ftr_id_aa64isar0: sanitised to 0
for _name in ("LS64", "XS", "I8MM", "DGH", "BF16", "SPECRES", "SB", "FRINTTS", "LRCPC", "FCMA", "JSCVT", "DPB"):
    RULES["ID_AA64ISAR1_EL1." + _name] = _r()
RULES.update({
    "ID_AA64ISAR1_EL1.GPI": _r(gate="pauth", **_FIXED), "ID_AA64ISAR1_EL1.GPA": _r(gate="pauth", **_FIXED),
    "ID_AA64ISAR1_EL1.API": _r(EXACT, gate="pauth", **_FIXED),
    "ID_AA64ISAR1_EL1.APA": _r(EXACT, gate="pauth", **_FIXED),
    "ID_AA64ISAR2_EL1.WFxT": _r(), "ID_AA64ISAR2_EL1.RPRES": _r(), "ID_AA64ISAR2_EL1.MOPS": _r(),
    "ID_AA64ISAR2_EL1.APA3": _r(EXACT, gate="pauth", **_FIXED), "ID_AA64ISAR2_EL1.GPA3": _r(gate="pauth", **_FIXED),
    "ID_AA64PFR0_EL1.CSV3": _r(), "ID_AA64PFR0_EL1.CSV2": _r(), "ID_AA64PFR0_EL1.DIT": _r(),
    "ID_AA64PFR0_EL1.SEL2": _r(), "ID_AA64PFR0_EL1.EL3": _r(), "ID_AA64PFR0_EL1.EL2": _r(),
    "ID_AA64PFR0_EL1.EL1": _r(floor=1), "ID_AA64PFR0_EL1.EL0": _r(floor=1),
    "ID_AA64PFR0_EL1.AMU": _r(writable=False, hidden=True), "ID_AA64PFR0_EL1.MPAM": _r(writable=False, hidden=True),
    "ID_AA64PFR0_EL1.SVE": _r(gate="sve", **_FIXED), "ID_AA64PFR0_EL1.RAS": _r(**_FIXED),
    "ID_AA64PFR0_EL1.AdvSIMD": _r(signed=True, **_FIXED), "ID_AA64PFR0_EL1.FP": _r(signed=True, **_FIXED),
    "ID_AA64PFR1_EL1.BT": _r(), "ID_AA64PFR1_EL1.SSBS": _r(), "ID_AA64PFR1_EL1.CSV2_frac": _r(),
    "ID_AA64PFR1_EL1.MTE": _r(writable=False, hidden=True), "ID_AA64PFR1_EL1.RAS_frac": _r(**_FIXED),
    "ID_AA64PFR1_EL1.MPAM_frac": _r(writable=False, hidden=True),
    "ID_AA64PFR1_EL1.SME": _r(writable=False, hidden=True),
    "ID_AA64MMFR0_EL1.PARange": _r(), "ID_AA64MMFR0_EL1.ASIDBits": _r(**_FIXED), "ID_AA64MMFR0_EL1.BigEnd": _r(),
    "ID_AA64MMFR0_EL1.SNSMem": _r(), "ID_AA64MMFR0_EL1.BigEndEL0": _r(), "ID_AA64MMFR0_EL1.TGran16": _r(),
    "ID_AA64MMFR0_EL1.TGran64": _r(signed=True), "ID_AA64MMFR0_EL1.TGran4": _r(signed=True),
    "ID_AA64MMFR0_EL1.ExS": _r(), "ID_AA64MMFR0_EL1.FGT": _r(), "ID_AA64MMFR0_EL1.ECV": _r(),
    "ID_AA64MMFR1_EL1.HAFDBS": _r(), "ID_AA64MMFR1_EL1.VMIDBits": _r(**_FIXED), "ID_AA64MMFR1_EL1.VH": _r(**_FIXED),
    "ID_AA64MMFR1_EL1.HPDS": _r(), "ID_AA64MMFR1_EL1.LO": _r(), "ID_AA64MMFR1_EL1.PAN": _r(),
    "ID_AA64MMFR1_EL1.SpecSEI": _r(HIGHER), "ID_AA64MMFR1_EL1.XNX": _r(**_FIXED), "ID_AA64MMFR1_EL1.TWED": _r(**_FIXED),
    "ID_AA64MMFR1_EL1.ETS": _r(), "ID_AA64MMFR1_EL1.HCX": _r(**_FIXED), "ID_AA64MMFR1_EL1.AFP": _r(),
    "ID_AA64MMFR1_EL1.TIDCP1": _r(),
    "ID_AA64MMFR2_EL1.NV": _r(writable=False, hidden=True), "ID_AA64MMFR2_EL1.CCIDX": _r(**_FIXED),
    "ID_AA64MMFR2_EL1.EVT": _r(**_FIXED), "ID_AA64MMFR2_EL1.FWB": _r(**_FIXED), "ID_AA64MMFR2_EL1.IDS": _r(**_FIXED),
    "ID_AA64DFR0_EL1.DebugVer": _r(floor=6), "ID_AA64DFR0_EL1.PMUVer": _r(gate="pmu"),
    "ID_AA64DFR0_EL1.WRPs": _r(), "ID_AA64DFR0_EL1.DoubleLock": _r(signed=True),
    "ID_AA64DFR0_EL1.BRPs": _r(**_FIXED), "ID_AA64DFR0_EL1.CTX_CMPs": _r(**_FIXED),
    "ID_AA64DFR0_EL1.PMSVer": _r(writable=False, hidden=True),
    "CTR_EL0.DIC": _r(), "CTR_EL0.IDC": _r(), "CTR_EL0.DminLine": _r(), "CTR_EL0.IminLine": _r(),
    "CTR_EL0.L1Ip": _r(EXACT, safe=2),                                  # FTR_EXACT, safe value VIPT
    "CTR_EL0.CWG": _r(HIGHER_OR_ZERO, **_FIXED), "CTR_EL0.ERG": _r(HIGHER_OR_ZERO, **_FIXED),
    "DCZID_EL0.BS": _r(**_FIXED),
})
for _name in ("CnP", "UAO", "LSM", "IESB", "VARange", "ST", "AT", "TTL", "BBM", "E0PD"):
    RULES["ID_AA64MMFR2_EL1." + _name] = _r()
# The fields KVM's writable masks gained by 2026 (sys_regs.c: ID_AA64ISAR2_EL1 ~(RES0|APA3|GPA3), ID_AA64ISAR3_EL1
# FPRCVT|FAMINMAX, ID_AA64MMFR1_EL1 ~(RES0|HCX|TWED|XNX|VH|VMIDBits), ID_AA64MMFR3_EL1 TCRX|S1PIE|S1POE,
# ID_AA64MMFR4_EL1 NV_frac, ID_AA64PFR2_EL1 FPMR, ID_AA64FPFR0_EL1 ~RES0), each with its cpufeature.c rule:
# FTR_LOWER_SAFE, except the FP8 fields of ftr_id_aa64fpfr0 (FTR_EXACT, one bit, safe value 0).
for _ref in ("ID_AA64ISAR2_EL1.CLRBHB", "ID_AA64ISAR2_EL1.LUT", "ID_AA64ISAR2_EL1.BC", "ID_AA64ISAR3_EL1.FAMINMAX",
             "ID_AA64ISAR3_EL1.FPRCVT", "ID_AA64MMFR1_EL1.ECBHB", "ID_AA64MMFR1_EL1.CMOW", "ID_AA64MMFR3_EL1.TCRX",
             "ID_AA64MMFR3_EL1.S1PIE", "ID_AA64MMFR3_EL1.S1POE", "ID_AA64MMFR4_EL1.NV_frac",
             "ID_AA64PFR2_EL1.FPMR"):
    RULES[_ref] = _r()
for _name in ("F8CVT", "F8FMA", "F8DP4", "F8DP2", "F8E4M3", "F8E5M2"):
    RULES["ID_AA64FPFR0_EL1." + _name] = _r(EXACT)
# FTR_EXACT in ftr_id_aa64pfr0, and since April 2026 KVM sets it from the vGIC it creates (vgic-init.c), whatever
# the VMM wrote: the guest sees the host's value.
RULES["ID_AA64PFR0_EL1.GIC"] = _r(EXACT, kvm_sets=True)
for _name in ("Implementer", "Variant", "Architecture", "PartNum", "Revision"):
    RULES["MIDR_EL1." + _name] = _r(identity=True)
for _name in ("SVEver", "AES", "BitPerm", "BF16", "SHA3", "SM4", "I8MM", "F32MM", "F64MM"):
    RULES["ID_AA64ZFR0_EL1." + _name] = _r(gate="sve")
# Lowerable by KVM before 6.7 (set_id_aa64pfr0_el1 since Linux 5.10): the only fields of the "invariant" model.
INVARIANT_WRITABLE = ("ID_AA64PFR0_EL1.CSV2", "ID_AA64PFR0_EL1.CSV3")
# Encodings that exist in no Arm ARM: KVM takes them (it compares numbers), a QEMU listing values leaves them out.
RESERVED = {"ID_AA64ISAR0_EL1.Atomic": (1,), "ID_AA64DFR0_EL1.PMUVer": (2, 3)}


def writable(ref, model="writable"):
    """Whether KVM lets a VMM change field ``ref`` ("REG.Field") under kernel ``model``."""
    rule = RULES[ref]
    return ref in INVARIANT_WRITABLE if model == "invariant" else rule.writable


def _signed(value, width=4):
    return value - (1 << width) if value >= 1 << (width - 1) else value


def allowed(ref, host, model="writable", width=4):
    """The raw values KVM accepts for field ``ref`` on a host whose (sanitised) value is ``host``, ascending.

    A field KVM hides accepts only 0; one outside the writable mask only the host's value; a writable one what
    arm64_check_features accepts: the value v such that the field's safe value of (v, host) is v."""
    rule = RULES[ref]
    top = (1 << width) - 1
    if rule.hidden:
        return [0]
    if rule.kvm_sets or not writable(ref, model):
        return [host]
    if rule.identity:   # set_imp_id_reg: any value inside the mask
        return list(range(top + 1))
    if rule.kind == EXACT:
        return sorted({host, rule.safe})
    if rule.kind == HIGHER:
        return list(range(host, top + 1))
    if rule.kind == HIGHER_OR_ZERO:
        return sorted({0} | set(range(host, top + 1))) if host else [0]
    if rule.signed:   # min() of signed values: every value that reads as a signed number up to the host's
        return [v for v in range(top + 1) if _signed(v, width) <= _signed(host, width)]
    return [v for v in range(host + 1) if v >= rule.floor or v == host]


def listed(ref, host, model="writable", width=4):
    """``allowed`` without the reserved encodings: what a QEMU that lists values offers."""
    rule = RULES[ref]
    return [v for v in allowed(ref, host, model, width) if v == host or not (
        v in RESERVED.get(ref, ()) or (rule.signed and _signed(v, width) < -1))]


def as_ranges(values, hexadecimal=True):
    """Ascending integers as range strings: ``[0, 1, 2, 15]`` is ``["0x0-0x2", "0xf"]`` (or decimal)."""
    spans = []
    for value in values:
        if spans and value == spans[-1][1] + 1:
            spans[-1][1] = value
        else:
            spans.append([value, value])
    form = "0x%x" if hexadecimal else "%d"
    return [form % low if low == high else (form + "-" + form) % (low, high) for low, high in spans]


def describe(ref, host, model="writable"):
    """One sentence: the field's rule and why a guest may have these values (a profile's ``why``)."""
    rule = RULES[ref]
    if rule.hidden:
        return "%s: KVM hides it from every guest (sys_regs.c sanitises it to 0), so only 0" % ref
    if rule.kvm_sets:
        return "%s=%d; KVM sets it itself from the vGIC whatever the VMM writes, so the host's value" % (ref, host)
    if rule.identity:
        return ("%s=%d; an identification register's field: KVM takes any value inside the register's mask once "
                "the VMM enables KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (set_imp_id_reg)" % (ref, host))
    if not writable(ref, model):
        where = ("before Linux 6.7 KVM lets a VMM write no ID register field but CSV2/CSV3"
                 if model == "invariant" else "not in KVM's writable mask for %s (sys_regs.c)" % ref.split(".")[0])
        gate = "; 0 when the vCPU is created without the %s flag" % rule.gate if rule.gate else ""
        return "%s=%d; %s, so only the host's value%s" % (ref, host, where, gate)
    signed = " signed (S_ARM64_FTR_BITS: 0xf reads as -1, 'not implemented')" if rule.signed else ""
    words = {LOWER: "FTR_LOWER_SAFE: any value up to the host's", EXACT: "FTR_EXACT: the host's or the safe value %d"
             % rule.safe, HIGHER: "FTR_HIGHER_SAFE: the host's or any higher value",
             HIGHER_OR_ZERO: "FTR_HIGHER_OR_ZERO_SAFE: 0, the host's or any higher value"}[rule.kind]
    floor = "; KVM refuses below %d" % rule.floor if rule.floor else ""
    gate = "; 0 when the vCPU is created without the %s flag" % rule.gate if rule.gate else ""
    return "%s=%d; writable by the VMM,%s %s%s%s" % (ref, host, signed, words, floor, gate)
