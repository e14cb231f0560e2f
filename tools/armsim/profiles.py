"""Host profiles: what one simulated hypervisor's QEMU answers, kept as JSON data in ``profiles/``.

A profile is data so that fleet, performance and reliability work can add hosts without code. Loading validates it
(``problems``), so a broken profile fails at start rather than as a strange reply. The format is in
docs/simulator.md.
"""

from __future__ import annotations

import copy
import json
import os
import re

from armsim import kvmrules
from armsim.server import QMPFailure

PROFILE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles")
HOSTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hosts")
# The dialects as the collection names them (module_utils/_common/names.py, in its order; a unit test holds the two
# equal): the simulator imports nothing of the collection. "sysreg": no props-info command; the expansion of host
# carries SYSREG_<REG>_<FIELD> integers (Red Hat's series).
ARM_PROPS_INFO, CPU_PROPS_INFO = "query-arm-cpu-props-info", "query-cpu-props-info"
SYSREG, EXPANSION = "sysreg", "query-cpu-model-expansion"
DIALECTS = (ARM_PROPS_INFO, CPU_PROPS_INFO, SYSREG, EXPANSION)
EXPANSION_ONLY = (EXPANSION, SYSREG)
BASE_COMMANDS = ("qmp_capabilities", "query-version", "query-commands", "query-kvm", "query-target", "quit",
                 "query-cpu-model-expansion", "query-cpu-definitions")
IMPLEMENTED = BASE_COMMANDS + (ARM_PROPS_INFO, CPU_PROPS_INFO)
TYPES = ("number", "string", "bool")
# The host CPU model under TCG on a host that has KVM (QEMU's arm_cpu_realizefn).
HOST_WITHOUT_KVM = "qemu-system-aarch64: The 'host' CPU type can only be used with KVM or HVF"
# QEMU's kvm_arch_init_vcpu for a model KVM cannot run (target/arm/kvm64.c), then kvm_init_vcpu's report.
KVM_MODEL_REFUSAL = ("qemu-system-aarch64: KVM is not supported for this guest CPU type\n"
                     "qemu-system-aarch64: kvm_init_vcpu: kvm_arch_init_vcpu failed (0): Invalid argument")
# KVM refusing an ID register value at vCPU init: the second line is QEMU's kvm_init_vcpu report; the first, naming the
# property, is this simulator's wording (a profile may set its own "vcpu_init_refusal" with {name} {value} {supported}).
VCPU_INIT_REFUSAL = ("qemu-system-aarch64: {name}={value}: KVM refused the ID register value (KVM_SET_ONE_REG: "
                     "Invalid argument)\n"
                     "qemu-system-aarch64: kvm_init_vcpu: kvm_arch_init_vcpu failed (0): Invalid argument")
# Released QEMU's qmp_query_cpu_model_expansion under KVM for a model other than host and max
# (target/arm/arm-qmp-cmds.c).
KVM_EXPANSION_REFUSAL = "We cannot guarantee the CPU type '%s' works with KVM on this host"
# A named model (Nutanix's series) started without its SVE vector lengths; this simulator's wording.
NAMED_SVE_REFUSAL = ("qemu-system-aarch64: CPU model {model} starts from a zeroed ID-register view: give its SVE "
                     "vector lengths (sveN=on)")
NAMED_PMU_REFUSAL = "CPU model %s keeps the PMU off"
NO_KVM_STDERR = ("Could not access KVM kernel module: No such file or directory\n"
                 "qemu-system-aarch64: -machine none,accel=kvm: failed to initialize kvm: No such file or directory")

_RANGE = re.compile(r"^([0-9]+)-([0-9]+)$")
_HEX_RANGE = re.compile(r"^0x([0-9a-f]+)(?:-0x([0-9a-f]+))?$")
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_SYSREG = re.compile(r"^SYSREG_((?:ID_[A-Z0-9]+|CTR|DCZID)_EL[01])_([A-Za-z0-9_]+)$")
_SVE_LENGTH = re.compile(r"^sve([0-9]+)$")
# Two ID register fields read as one "major.frac" string property: the minor field, and the labels QEMU's series
# gives the pairs (RAS field 2 is RASv1p1 without RAS_frac, "1.1_base").
COMBINED = {"ID_AA64PFR0_EL1.RAS": "ID_AA64PFR1_EL1.RAS_frac", "ID_AA64PFR0_EL1.CSV2": "ID_AA64PFR1_EL1.CSV2_frac",
            "ID_AA64PFR0_EL1.MPAM": "ID_AA64PFR1_EL1.MPAM_frac", "ID_AA64MMFR2_EL1.NV": None}
_RAS_LABELS = {(0, 0): "0.0", (1, 0): "1.0", (1, 1): "1.1", (2, 0): "1.1_base", (3, 0): "2.0"}

# ID register fields the profiles cite ("REG.FIELD"): (lowest bit, width). From the Arm ARM's register descriptions.
FIELDS = {
    "ID_AA64ISAR0_EL1": dict(AES=4, SHA1=8, SHA2=12, CRC32=16, Atomic=20, TME=24, RDM=28, SHA3=32, SM3=36, SM4=40,
                             DP=44, FHM=48, TS=52, TLB=56, RNDR=60),
    "ID_AA64ISAR1_EL1": dict(DPB=0, APA=4, API=8, JSCVT=12, FCMA=16, LRCPC=20, GPA=24, GPI=28, FRINTTS=32, SB=36,
                             SPECRES=40, BF16=44, DGH=48, I8MM=52, XS=56, LS64=60),
    "ID_AA64ISAR2_EL1": dict(WFxT=0, RPRES=4, GPA3=8, APA3=12, MOPS=16, BC=20, PAC_frac=24, CLRBHB=28, LUT=56),
    "ID_AA64ISAR3_EL1": dict(FAMINMAX=4, FPRCVT=28),
    "ID_AA64PFR0_EL1": dict(EL0=0, EL1=4, EL2=8, EL3=12, FP=16, AdvSIMD=20, GIC=24, RAS=28, SVE=32, SEL2=36,
                            MPAM=40, AMU=44, DIT=48, RME=52, CSV2=56, CSV3=60),
    "ID_AA64PFR1_EL1": dict(BT=0, SSBS=4, MTE=8, RAS_frac=12, MPAM_frac=16, SME=24, CSV2_frac=32),
    "ID_AA64PFR2_EL1": dict(FPMR=32),
    "ID_AA64FPFR0_EL1": dict(F8E5M2=(0, 1), F8E4M3=(1, 1), F8DP2=(28, 1), F8DP4=(29, 1), F8FMA=(30, 1),
                             F8CVT=(31, 1)),
    "ID_AA64MMFR0_EL1": dict(PARange=0, ASIDBits=4, BigEnd=8, SNSMem=12, BigEndEL0=16, TGran16=20, TGran64=24,
                             TGran4=28, TGran16_2=32, TGran64_2=36, TGran4_2=40, ExS=44, FGT=56, ECV=60),
    "ID_AA64MMFR1_EL1": dict(HAFDBS=0, VMIDBits=4, VH=8, HPDS=12, LO=16, PAN=20, SpecSEI=24, XNX=28, TWED=32, ETS=36,
                             HCX=40, AFP=44, TIDCP1=52, CMOW=56, ECBHB=60),
    "ID_AA64MMFR2_EL1": dict(CnP=0, UAO=4, LSM=8, IESB=12, VARange=16, CCIDX=20, NV=24, ST=28, AT=32, IDS=36,
                             FWB=40, TTL=48, BBM=52, EVT=56, E0PD=60),
    "ID_AA64MMFR3_EL1": dict(TCRX=0, S1PIE=8, S1POE=16),
    "ID_AA64MMFR4_EL1": dict(NV_frac=24),
    "ID_AA64DFR0_EL1": dict(DebugVer=0, TraceVer=4, PMUVer=8, BRPs=12, WRPs=20, CTX_CMPs=28, PMSVer=32,
                            DoubleLock=36),
    "ID_AA64ZFR0_EL1": dict(SVEver=0, AES=4, BitPerm=16, BF16=20, SHA3=32, SM4=40, I8MM=44, F32MM=52, F64MM=56),
    "CTR_EL0": dict(IminLine=0, L1Ip=(14, 2), DminLine=16, ERG=20, CWG=24, IDC=(28, 1), DIC=(29, 1)),
    "DCZID_EL0": dict(BS=0),
    "MIDR_EL1": dict(Revision=0, PartNum=(4, 12), Architecture=16, Variant=20, Implementer=(24, 8)),
}


def field_ref(register, field):
    """The canonical "REG.Field" of FIELDS for a register and a field name in any case, or None."""
    for name in FIELDS.get(register, {}):
        if name.lower() == field.lower():
            return "%s.%s" % (register, name)
    return None


def field_value(registers, ref):
    """The value of field ``ref`` ("REG.FIELD") in a profile's ``id_registers`` (hex strings)."""
    reg, field = ref.split(".")
    lsb, width = field_bits(ref)
    return (int(registers[reg], 16) >> lsb) & ((1 << width) - 1)


def field_bits(ref):
    reg, field = ref.split(".")
    return (FIELDS[reg][field], 4) if isinstance(FIELDS[reg][field], int) else FIELDS[reg][field]


def numbers_in(values):
    """Integers a number property's values cover ("0-3", "4", or hex "0x0-0x3"); named values like "off" are
    skipped."""
    out = set()
    for value in values:
        match = _RANGE.match(value)
        hexa = _HEX_RANGE.match(value)
        if match:
            out.update(range(int(match.group(1)), int(match.group(2)) + 1))
        elif value.isdigit():
            out.add(int(value))
        elif hexa:
            low = int(hexa.group(1), 16)
            out.update(range(low, int(hexa.group(2) or hexa.group(1), 16) + 1))
    return out


def combined_values(ref, registers, model):
    """The "major.frac" labels a combined string property offers: each pair KVM accepts for the two fields."""
    minor = COMBINED[ref]
    hidden = kvmrules.RULES[ref].hidden
    if hidden:
        return ["0.0"]
    majors = kvmrules.listed(ref, field_value(registers, ref), model)
    fracs = kvmrules.listed(minor, field_value(registers, minor), model) if minor else [0]
    if ref.endswith(".RAS"):
        labels = [_RAS_LABELS.get((major, frac)) for major in majors for frac in fracs]
        return [label for label in labels if label]
    host_major = field_value(registers, ref)
    # a fraction refines the major value it belongs to: CSV2_frac only with CSV2=1
    return ["%d.%d" % (major, frac) for major in majors for frac in fracs if frac == 0 or major == 1 == host_major]


def available():
    """Names of the bundled profiles (files in profiles/; the derived ones are ``DERIVED``)."""
    return sorted(name[:-5] for name in os.listdir(PROFILE_DIR) if name.endswith(".json"))


def resolve(name_or_path):
    """Path of a profile given as a file path or a bundled profile name; a derived profile ``SOURCE@DIALECT``
    resolves to ``PATH@DIALECT``, PATH being its source's."""
    path = _profile_file(name_or_path)
    if path:
        return path
    source, at, dialect = name_or_path.rpartition("@")
    if at and _profile_file(source) and dialect in DERIVED_DIALECTS:
        return _profile_file(source) + "@" + dialect
    raise ValueError("no armsim profile %r (a file path, or one of: %s; or SOURCE@DIALECT, DIALECT one of %s)"
                     % (name_or_path, ", ".join(available()), ", ".join(DERIVED_DIALECTS)))


def _profile_file(name_or_path):
    """The absolute path of a profile file given by path or bundled name, or None."""
    if os.path.isfile(name_or_path):
        return os.path.abspath(name_or_path)
    path = os.path.join(PROFILE_DIR, name_or_path + ".json")
    return path if os.path.isfile(path) else None


def profile_name(ref):
    """The profile name a ``resolve`` result stands for: ``.../neoverse-v2.json@sysreg`` is ``neoverse-v2@sysreg``."""
    source, at, dialect = ref.rpartition("@") if not os.path.isfile(ref) else (ref, "", "")
    base = os.path.basename(source)
    return (base[:-5] if base.endswith(".json") else base) + at + dialect


def load(name_or_path):
    path = resolve(name_or_path)
    source, _at, dialect = path.rpartition("@") if not os.path.isfile(path) else (path, "", "")
    with open(source) as handle:
        data = json.load(handle)
    issues = problems(data)
    if not issues and dialect:
        data = derive(data, dialect)
        issues = problems(data)
    if issues:
        raise ValueError("armsim profile %s is invalid: %s" % (path, "; ".join(issues)))
    return Profile(data, path)


# One CPU behind several dialects: a profile's ID registers served in another dialect's names. The key is the suffix
# of a derived profile's name (neoverse-v2@sysreg), the value the dialect it speaks.
DERIVED_DIALECTS = {"sysreg": SYSREG, "released": EXPANSION, "sysreg10": SYSREG}
DERIVED = tuple("%s@%s" % (source, suffix) for source in ("neoverse-n1", "neoverse-v1", "neoverse-v2")
                for suffix in ("sysreg", "released"))
# The QEMU that speaks each derived dialect: Red Hat's host model series, and a released QEMU (Debian 13's).
DERIVED_QEMU = {
    "sysreg": {"version": "10.1.2", "package": "qemu-kvm-10.1.2 (Red Hat configurable host model, SYSREG_ v9 series)"},
    "released": {"version": "10.0.2", "package": "Debian 1:10.0.2 (released QEMU: booleans only)"},
    # v10 of the series: the full expansion of host tests SYSREG_ values on a scratch vCPU, static only field widths
    "sysreg10": {"version": "11.0.50",
                 "package": "qemu-kvm-11.0.50 (Red Hat configurable host model, SYSREG_ v10 series)"},
}
# The full expansion of a v10 QEMU refusing a SYSREG_ value KVM refuses on its scratch vCPU; this simulator's wording.
EXPANSION_VALUE_REFUSAL = "{name}={value}: KVM refused the ID register value on a scratch vCPU (KVM_SET_ONE_REG)"
# A field QEMU's SYSREG_ table keeps although KVM does not let a VMM write it: it follows the SVE vCPU flag.
SYSREG_KEPT = ("ID_AA64PFR0_EL1.SVE",)


def derive(data, suffix):
    """Profile ``data`` (a props-info profile, or a ``sysreg`` one for ``released``) as a host whose QEMU speaks
    another dialect: the same ID registers, kernel and host tree, other names.

    - ``sysreg``: no props-info command; the expansion of host keeps the boolean props and gains one
      ``SYSREG_<REG>_<Field>`` integer per field the profile's properties cite (their ``field``, with the minor
      field of a combined one) that the kernel lets a VMM write (``kvmrules``), plus ``SYSREG_KEPT``: default the
      host's value, ``kvm_allows`` the kernel's rule. Names come from the field, never from another table.
    - ``released``: booleans only, as a released QEMU on this KVM host: the expansion's boolean props.
    Raises ValueError when the source cannot be spoken so (no ID registers, no KVM, already that dialect, a kernel
    without writable masks for ``sysreg``).
    """
    if suffix not in DERIVED_DIALECTS:
        raise ValueError("no derived dialect %r (one of %s)" % (suffix, ", ".join(DERIVED_DIALECTS)))
    dialect = DERIVED_DIALECTS[suffix]
    if not data.get("kvm") or not data.get("id_registers"):
        raise ValueError("profile %s has no KVM host with ID registers to derive %s from" % (data["name"], suffix))
    if data["dialect"] == dialect or (dialect == SYSREG and data["dialect"] in EXPANSION_ONLY):
        raise ValueError("profile %s speaks %s: no %s profile derives from it"
                         % (data["name"], data["dialect"], suffix))
    model = data.get("kvm_id_regs", "writable")
    derived = copy.deepcopy(data)
    booleans = [prop for prop in derived["expansion"]["props"] if isinstance(prop["default"], bool)]
    derived.update(name="%s@%s" % (data["name"], suffix), dialect=dialect, properties=[],
                   qemu=dict(DERIVED_QEMU[suffix]), description="%s, %s" % (data["description"], (
                       "QEMU with SYSREG_ properties" if dialect == "sysreg" else "released QEMU (booleans only)")))
    derived.pop("commands", None)
    derived.pop("unchecked_properties", None)
    derived.pop("named_models", None)   # Nutanix's series brings them; no derived QEMU has it
    derived["expansion_validates"] = suffix == "sysreg10"
    derived["expansion"]["props"] = booleans
    note = ("Derived from profile %s (armsim.profiles.derive): the same ID registers, kernel and host tree, "
            "spoken by %s." % (data["name"], derived["qemu"]["package"]))
    if dialect == "sysreg":
        refs = sysreg_fields(data, model)
        if model == "invariant" or refs == list(SYSREG_KEPT):
            raise ValueError("profile %s: its kernel (%s ID registers: no KVM_ARM_GET_REG_WRITABLE_MASKS before "
                             "Linux 6.7) lets a VMM write no field it cites, so no QEMU offers SYSREG_ properties "
                             "there" % (data["name"], model))
        derived["expansion"]["props"] += [sysreg_prop(data["id_registers"], ref, model) for ref in refs]
    derived["notes"] = list(data["notes"]) + [note]
    return derived


def sysreg_fields(data, model):
    """The fields a SYSREG_ QEMU offers on the host of ``data``, in FIELDS order: those its properties cite (and
    the minor field of a combined one) that ``model``'s kernel lets a VMM write, plus ``SYSREG_KEPT``."""
    cited = set(SYSREG_KEPT)
    for prop in data["properties"]:
        ref = prop.get("field")
        if ref in kvmrules.RULES:
            cited.update(ref for ref in (ref, COMBINED.get(ref)) if ref and kvmrules.writable(ref, model))
    return ["%s.%s" % (reg, field) for reg, fields in FIELDS.items() for field in fields
            if "%s.%s" % (reg, field) in cited and reg in data["id_registers"]]


def sysreg_prop(registers, ref, model):
    """The SYSREG_ integer expansion prop of field ``ref``: named from the field, valued by the kernel's rule."""
    host = field_value(registers, ref)
    rule = kvmrules.RULES[ref]
    prop = {"name": "SYSREG_" + ref.replace(".", "_"), "default": host, "flippable": True, "field": ref,
            "kvm_allows": kvmrules.as_ranges(kvmrules.allowed(ref, host, model, field_bits(ref)[1]))}
    if rule.gate:
        prop["gated_by"] = rule.gate
    prop["why"] = kvmrules.describe(ref, host, model) + (
        " (QEMU's table offers it; the value follows the SVE vCPU flag)" if ref in SYSREG_KEPT else "")
    return prop


def host_tree(data):
    """``(sysfs, procfs)`` of the recorded host tree a profile names (``host_tree``), or None."""
    name = data.get("host_tree")
    return (os.path.join(HOSTS_DIR, name, "sys"), os.path.join(HOSTS_DIR, name, "proc")) if name else None


def override_fields(data, values, note):
    """A copy of profile ``data`` whose ID register fields take ``values`` (``{"REG.Field": value}``), as a kernel
    command-line override (``arm64.nobti``, ``id_aa64pfr1.bt=0``, ...) changes the host kernel's sanitised
    registers: ``id_registers`` and every number property and SYSREG_ prop of those fields follow, by the kernel's
    rule; ``note`` is added to the notes. Combined (string) properties are not recomputed."""
    data = copy.deepcopy(data)
    model = data.get("kvm_id_regs", "writable")
    registers = data["id_registers"]
    for ref, value in values.items():
        register = ref.split(".")[0]
        lsb, width = field_bits(ref)
        if not 0 <= value < (1 << width):
            raise ValueError("%s is %d bits wide, %r does not fit" % (ref, width, value))
        text = registers[register]
        number = (int(text, 16) & ~(((1 << width) - 1) << lsb)) | (value << lsb)
        registers[register] = "0x%0*x" % (len(text) - 2, number)
    for prop in data["expansion"]["props"]:
        ref = prop.get("field")
        if ref in values and "kvm_allows" in prop:
            prop["default"] = values[ref]
            prop["kvm_allows"] = kvmrules.as_ranges(kvmrules.allowed(ref, values[ref], model, field_bits(ref)[1]))
            prop["why"] = kvmrules.describe(ref, values[ref], model)
    for prop in data["properties"]:
        ref = prop.get("field")
        if ref in values and prop["type"] == "number":
            rule = kvmrules.RULES[ref]
            listed = kvmrules.listed(ref, values[ref], model, field_bits(ref)[1])
            off = bool(rule.gate) and values[ref] != 0 and not rule.hidden
            prop["supported-values"] = kvmrules.as_ranges(listed, hexadecimal=False) + (["off"] if off else [])
            prop["why"] = kvmrules.describe(ref, values[ref], model)
    data["notes"] = list(data["notes"]) + [note]
    return data


def problems(data):
    """Everything wrong with a profile's structure, as a list of messages (empty when it is fine)."""
    issues = []
    for key in ("name", "description", "notes", "cpu", "kernel_release", "qemu", "kvm", "dialect", "properties",
                "expansion"):
        if key not in data:
            issues.append("missing %r" % key)
    if issues:
        return issues
    if not re.match(r"^\d+\.\d+\.\d+$", str(data["qemu"].get("version"))) or "package" not in data["qemu"]:
        issues.append("qemu needs version X.Y.Z and package")
    if not all(re.match(r"^0x[0-9a-f]{8}$", midr) for midr in data["cpu"].get("midr", [None])):
        issues.append("cpu.midr must be a list of 0x%08x values")
    if data["dialect"] not in DIALECTS:
        issues.append("dialect must be one of %s" % (DIALECTS,))
    if not isinstance(data["kvm"], bool):
        issues.append("kvm must be true or false")
    model = data.get("kvm_id_regs", "writable")
    if model not in kvmrules.MODELS:
        issues.append("kvm_id_regs must be one of %s" % (kvmrules.MODELS,))
        model = "writable"
    tree = host_tree(data)
    if tree and not all(os.path.isdir(path) for path in tree):
        issues.append("host_tree %r is not a directory of %s with sys/ and proc/" % (data["host_tree"], HOSTS_DIR))
    props = data["properties"]
    if data["dialect"] not in EXPANSION_ONLY and len(props) < 30:
        issues.append("a patched profile needs 30+ properties, has %d" % len(props))
    if data["dialect"] in EXPANSION_ONLY and props:
        issues.append("an expansion-only profile has no props-info properties")
    seen = set()
    for prop in props:
        issues.extend(_property_problems(prop, data.get("id_registers", {}), model))
        if prop.get("name") in seen:
            issues.append("%s listed twice" % prop.get("name"))
        seen.add(prop.get("name"))
    unchecked = data.get("unchecked_properties", [])
    if not (isinstance(unchecked, list) and all(isinstance(prop, dict) for prop in unchecked)):
        issues.append("unchecked_properties must be a list of objects")
    issues.extend(_expansion_problems(data, model))
    named = data.get("named_models", [])
    if not (isinstance(named, list) and all(isinstance(n, str) and _NAME.match(n) for n in named)):
        issues.append("named_models must be a list of model names")
    elif named and (not data["kvm"] or data["dialect"] in EXPANSION_ONLY):
        issues.append("named_models belong to a KVM host whose QEMU has Nutanix's series (a props-info dialect)")
    if not set(data.get("commands") or ()) <= set(IMPLEMENTED):
        issues.append("commands may only name %s" % (IMPLEMENTED,))
    return issues


def _expansion_problems(data, model):
    expansion = data["expansion"]
    issues = []
    names = [p.get("name") for p in expansion.get("props", [])]
    sysregs = 0
    for prop in expansion.get("props", []):
        if not isinstance(prop.get("flippable"), bool) or "default" not in prop:
            issues.append("expansion prop %s needs default and flippable" % prop.get("name"))
        if prop.get("requires") and prop["requires"] not in names:
            issues.append("expansion prop %s requires unknown %s" % (prop["name"], prop["requires"]))
        if isinstance(prop.get("default"), int) and not isinstance(prop["default"], bool):
            sysregs += 1
            issues.extend(_sysreg_problems(prop, data.get("id_registers", {}), model))
    if data["dialect"] == "sysreg" and not sysregs:
        issues.append("a sysreg profile's expansion needs SYSREG_<REG>_<FIELD> integer props")
    if data["dialect"] != "sysreg" and sysregs:
        issues.append("only a sysreg profile's expansion has integer props")
    lengths = [p for p in expansion.get("props", []) if _SVE_LENGTH.match(p.get("name", ""))]
    if expansion.get("sve_lengths") not in (None, "kvm"):
        issues.append("expansion sve_lengths may only be \"kvm\"")
    elif expansion.get("sve_lengths") == "kvm":
        sve = next((p for p in expansion["props"] if p.get("name") == "sve"), None)
        for prop in lengths:
            if prop.get("requires") != "sve" or prop.get("flippable") is not True or "refusal" in prop:
                issues.append("%s: under sve_lengths kvm a length requires sve and is flippable (QEMU's "
                              "arm_cpu_sve_finalize judges it, not a refusal text)" % prop.get("name"))
        if sve is None or (not sve.get("default") and any(p.get("default") for p in lengths)):
            issues.append("sve_lengths kvm: the host's lengths (defaults on) need sve, on")
        if sve and sve.get("default") and not any(p.get("default") for p in lengths):
            issues.append("sve_lengths kvm: sve on needs at least one length the host supports (default on)")
    return issues


def _sysreg_problems(prop, registers, model):
    """A SYSREG_ integer expansion prop: its default is the host's field, kvm_allows what the kernel's rule gives."""
    name = prop.get("name", "")
    where = "expansion prop %s: " % name
    match = _SYSREG.match(name)
    ref = match and field_ref(match.group(1), match.group(2))
    if not ref or ref not in kvmrules.RULES or ref.split(".")[1] != match.group(2):
        return [where + "not SYSREG_<REG>_<Field> of a field in FIELDS and kvmrules.RULES (Arm's spelling)"]
    if prop.get("field") != ref:
        return [where + "field must be %s" % ref]
    host = field_value(registers, ref)
    rule = kvmrules.RULES[ref]
    issues = []
    if prop["default"] != host:
        issues.append(where + "default %r but the host's %s is %d" % (prop["default"], ref, host))
    if not kvmrules.writable(ref, model) and not rule.gate:
        issues.append(where + "KVM does not let a VMM write %s (not in its writable mask), so QEMU does not offer "
                              "it" % ref)
    expected = kvmrules.as_ranges(kvmrules.allowed(ref, host, model, field_bits(ref)[1]))
    if prop.get("kvm_allows") != expected:
        issues.append(where + "kvm_allows %r, but the kernel's rule for %s at host value %d gives %r"
                      % (prop.get("kvm_allows"), ref, host, expected))
    if prop.get("gated_by") != rule.gate:
        issues.append(where + "gated_by must be %r (the vCPU flag that hides %s)" % (rule.gate, ref))
    if not prop.get("why"):
        issues.append(where + "needs a why naming the rule")
    return issues


def _property_problems(prop, registers, model):
    name, kind, values = prop.get("name", ""), prop.get("type"), prop.get("supported-values")
    where = "property %s: " % name
    if not _NAME.match(name):
        return [where + "bad name"]
    if kind not in TYPES or not isinstance(values, list) or not values:
        return [where + "needs a type in %s and a non-empty supported-values list" % (TYPES,)]
    issues = []
    for value in values:
        if not isinstance(value, str) or not value or "," in value:
            issues.append(where + "value %r is not a comma-free string" % (value,))
            continue
        match = _RANGE.match(value)
        if kind == "number" and not (value.isdigit() or value == "off" or match):
            issues.append(where + "number value %r is not N, lo-hi or off" % value)
        if match and int(match.group(1)) >= int(match.group(2)):
            issues.append(where + "range %r needs lo < hi" % value)
        if kind == "bool" and value not in ("on", "off"):
            issues.append(where + "bool value %r is not on/off" % value)
    if len(set(values)) != len(values):
        issues.append(where + "repeated values")
    field = prop.get("field")
    if field and not issues:
        issues.extend(_field_problems(prop, registers, model))
    return issues


def _field_problems(prop, registers, model):
    """A props-info property's values against the kernel's rule for its ID register field and the host's value."""
    name, kind, values, ref = prop["name"], prop["type"], prop["supported-values"], prop["field"]
    where = "property %s: " % name
    if ref not in kvmrules.RULES:
        return [where + "no kernel rule for %s in kvmrules.RULES" % ref]
    rule = kvmrules.RULES[ref]
    if bool(prop.get("kvm_hides")) != rule.hidden:
        return [where + "kvm_hides must be %s for %s" % (str(rule.hidden).lower(), ref)]
    if kind == "string":
        expected = combined_values(ref, registers, model) if ref in COMBINED else None
        if expected is not None and values != expected:
            return [where + "values %r, but the kernel's rules for %s give %r" % (values, ref, expected)]
        return []
    host = field_value(registers, ref)
    expected = set(kvmrules.listed(ref, host, model, field_bits(ref)[1]))
    issues = []
    if numbers_in(values) != expected:
        why = ("KVM does not let a VMM write it, so only the host's value" if not rule.hidden and not
               kvmrules.writable(ref, model) else "the kernel's rule")
        issues.append(where + "values %s, but for %s=%d %s gives %s" % (
            ",".join(values), ref, host, why, ",".join(kvmrules.as_ranges(sorted(expected), hexadecimal=False))))
    wants_off = bool(rule.gate) and host != 0 and not rule.hidden
    if ("off" in values) != wants_off:
        issues.append(where + ("'off' belongs to a field the %s vCPU flag gates on a host that has it" % rule.gate
                               if rule.gate else "'off' belongs only to a field a vCPU flag gates"))
    return issues


class Profile:
    """A loaded profile and the replies it implies."""

    def __init__(self, data, path=None):
        self.data, self.path = data, path
        self.name = data["name"]
        self.kvm = data["kvm"]
        self.dialect = data["dialect"]
        default = BASE_COMMANDS + ((self.dialect,) if self.dialect not in EXPANSION_ONLY else ())
        self.commands = tuple(data.get("commands") or default)
        self.expansion_props = {p["name"]: p for p in data["expansion"]["props"]}
        self.sve_lengths = data["expansion"].get("sve_lengths")
        self.named_models = tuple(data.get("named_models", ()))
        self.expansion_validates = bool(data.get("expansion_validates"))

    def cpu_definitions(self):
        """query-cpu-definitions: host (where KVM is), max, the TCG models and the named models, by name."""
        names = (["host"] if self.kvm else []) + ["max"] + list(self.data.get("extra_models", {})) + list(
            self.named_models)
        return [{"name": name, "typename": name + "-arm-cpu", "static": False, "deprecated": False}
                for name in sorted(names)]

    def version_info(self):
        major, minor, micro = (int(part) for part in self.data["qemu"]["version"].split("."))
        return {"qemu": {"micro": micro, "minor": minor, "major": major}, "package": self.data["qemu"]["package"]}

    @property
    def no_kvm_stderr(self):
        return self.data.get("no_kvm_stderr", NO_KVM_STDERR)

    def props_info(self, command):
        """The reply of query-arm-cpu-props-info (dialect 1) or query-cpu-props-info (dialect 2, a guess).

        Dialect 2 gives a number property's single "lo-hi" range as integer members min/max and keeps its other
        values (singletons, "off") in supported-values.
        """
        out = []
        for prop in self.data["properties"]:
            item = {"name": prop["name"], "supported-values": list(prop["supported-values"]), "type": prop["type"]}
            ranges = [v for v in item["supported-values"] if _RANGE.match(v)]
            if command == "query-cpu-props-info" and prop["type"] == "number" and len(ranges) == 1:
                low, high = _RANGE.match(ranges[0]).groups()
                item["supported-values"].remove(ranges[0])
                item["min"], item["max"] = int(low), int(high)
            out.append(item)
        # hostile-input tests: elements sent as they are, after the checked ones (names and values no QEMU gives)
        return out + [dict(prop) for prop in self.data.get("unchecked_properties", [])]

    def expand(self, model, accel, requested, kind="full"):
        """query-cpu-model-expansion (type full; static too where ``expansion_validates``), with QEMU's Arm rules and
        refusal texts; a v10 QEMU's full expansion also judges SYSREG_ values as KVM would at vCPU init."""
        if model == "host" and accel != "kvm":
            raise QMPFailure("The CPU type 'host' requires KVM")
        if accel == "kvm" and model not in ("host", "max") + self.named_models:
            raise QMPFailure(KVM_EXPANSION_REFUSAL % model)
        specs = self.specs_for(model)
        if specs is None:
            raise QMPFailure("The CPU type '%s' is not a recognized ARM CPU type" % model)
        requested = dict(requested)
        for name, value in requested.items():
            if name not in specs:
                continue
            if _is_integer(specs[name]["default"]):   # a uint64 property (QEMU's qobject input visitor)
                if not _is_integer(value):
                    raise QMPFailure("Parameter '%s' expects uint64" % name)
                requested[name] = value % (1 << 64)
            elif not isinstance(value, type(specs[name]["default"])):
                raise QMPFailure("Invalid parameter type for '%s', expected: boolean" % name)
        for name in requested:
            if name not in specs:
                raise QMPFailure("Parameter '%s' is unexpected" % name)
        if model in self.named_models:
            return self.named_finalize(model, requested)
        final = finalize(specs, requested, self.sve_lengths)
        if self.expansion_validates and kind == "full":
            for name, value in sorted(requested.items()):
                if _is_integer(specs[name]["default"]) and value not in numbers_in(kvm_allows(specs[name], final)):
                    raise QMPFailure(EXPANSION_VALUE_REFUSAL.format(name=name, value=hex(value)))
        return final

    def named_finalize(self, model, requested):
        """A named model's properties (Nutanix's series, from this host's own): the host's rules, PMU off (refused
        on), and from a zeroed view no vector length on unless the request gives lengths."""
        if requested.get("pmu") is True:
            raise QMPFailure(NAMED_PMU_REFUSAL % model)
        final = finalize(self.expansion_props, dict((k, v) for k, v in requested.items() if k != "pmu"),
                         self.sve_lengths)
        final["pmu"] = False
        if not any(_SVE_LENGTH.match(name) and value is True for name, value in requested.items()):
            final.update((name, False) for name in final if _SVE_LENGTH.match(name))
        return final

    def specs_for(self, model):
        """The boolean properties of ``model`` (its expansion props), or None for a model this QEMU lacks."""
        extra = self.data.get("extra_models", {})
        if model in ("host", "max") + self.named_models:
            return self.expansion_props
        if model in extra:
            return {name: {"name": name, "default": value, "flippable": True} for name, value in extra[model].items()}
        return None

    def start_refusal(self, cpu, accel):
        """What QEMU writes to stderr before it exits 1 when ``-machine virt -cpu CPU`` cannot start on this host,
        or None when the vCPU is created (the monitor then answers).

        In QEMU's order: the model, then each property as QEMU applies it (an unknown name, a bad boolean or
        integer), then the CPU's realize (the boolean rules of the expansion, the same code as ``expand``), then
        KVM's vCPU init, which refuses an ID register value outside what this host's kernel accepts: a valued
        props-info property outside its ``supported-values``, or a SYSREG_ integer outside its ``kvm_allows`` (only
        0 when the switch in ``gated_by`` ends up off). Judged from the profile's data alone, not from the
        collection's validation.
        """
        model, _comma, rest = cpu.partition(",")
        specs = self.specs_for(model)
        if model == "host" and accel != "kvm":
            return (HOST_WITHOUT_KVM if self.kvm else "qemu-system-aarch64: unable to find CPU model 'host'")
        if specs is None:
            return "qemu-system-aarch64: unable to find CPU model '%s'" % model
        named = model in self.named_models
        if accel == "kvm" and model not in ("host", "max") and not named:
            return KVM_MODEL_REFUSAL
        typename = model + "-arm-cpu"
        valued = {p["name"]: p for p in self.data["properties"]} if model in ("host", "max") or named else {}
        requested, fields = {}, []
        for pair in rest.split(",") if rest else []:
            name, equals, value = pair.partition("=")
            if not equals:
                return "qemu-system-aarch64: Expected key=value format, found %s" % name
            if name in specs and _is_integer(specs[name]["default"]):
                number = _parse_uint64(value)
                if number is None:
                    return ("qemu-system-aarch64: can't apply global %s.%s=%s: Parameter '%s' expects uint64"
                            % (typename, name, value, name))
                requested[name] = number
                fields.append((name, value))
            elif name in specs:
                word = {"on": True, "yes": True, "true": True, "off": False, "no": False, "false": False}.get(value)
                if word is None:
                    return ("qemu-system-aarch64: can't apply global %s.%s=%s: Parameter '%s' expects 'on' or 'off'"
                            % (typename, name, value, name))
                requested[name] = word
            elif name in valued:
                fields.append((name, value))
            else:
                return ("qemu-system-aarch64: can't apply global %s.%s=%s: Property '%s.%s' not found"
                        % (typename, name, value, typename, name))
        try:
            final = self.named_finalize(model, requested) if named else finalize(specs, requested, self.sve_lengths)
        except QMPFailure as failure:
            return "qemu-system-aarch64: %s" % failure.desc
        if named and final.get("sve") is True and not any(
                _SVE_LENGTH.match(name) and value is True for name, value in final.items()):
            return NAMED_SVE_REFUSAL.format(model=model)
        template = self.data.get("vcpu_init_refusal", VCPU_INIT_REFUSAL)
        for name, value in fields:
            if name in specs:
                allowed = kvm_allows(specs[name], final)
                if requested[name] not in numbers_in(allowed):
                    return template.format(name=name, value=value, supported=", ".join(allowed))
            elif not accepts(valued[name], value):
                return template.format(name=name, value=value, supported=", ".join(valued[name]["supported-values"]))
        return None


def _is_integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_uint64(text):
    """A -cpu integer as QEMU reads it (qemu_strtou64, base 0: 0x hex, 0 octal, decimal), or None."""
    try:
        number = int(text, 0) if not re.match(r"^0[0-7]+$", text) else int(text, 8)
    except ValueError:
        return None
    return number if 0 <= number < (1 << 64) else None


def kvm_allows(spec, final):
    """The values KVM takes at vCPU init for a SYSREG_ prop: its ``kvm_allows``, or only 0 when the vCPU flag in
    ``gated_by`` is off (KVM hides the field from a vCPU without the feature)."""
    gate = spec.get("gated_by")
    return ["0x0"] if gate and final.get(gate) is False else list(spec["kvm_allows"])


def accepts(prop, value):
    """Whether a props-info property takes ``value`` on this host: a number within its values' ranges (decimal or
    0x hex) or a listed named value such as "off"; a string or boolean as listed (case-insensitive)."""
    values = prop["supported-values"]
    if value.lower() in (listed.lower() for listed in values):
        return True
    if prop["type"] == "number":
        try:
            number = int(value, 16) if value.lower().startswith("0x") else int(value, 10)
        except ValueError:
            return False
        return number in numbers_in(values)
    return False


def finalize(specs, requested, sve_lengths=None):
    """The properties after QEMU's finalize, or QMPFailure with QEMU's text: a non-flippable property moved from
    its default gives its ``refusal``; a property that ``requires`` one that is off follows it to off, unless it was
    asked for on (``requires_refusal``); with ``sve_lengths`` "kvm" the vector lengths follow QEMU's
    arm_cpu_sve_finalize under KVM. Integer (SYSREG_) properties take any value here: KVM judges them at vCPU
    init."""
    values = {name: spec["default"] for name, spec in specs.items()}
    values.update((name, value) for name, value in requested.items() if name in specs)
    for name, value in requested.items():
        spec = specs[name]
        if value != spec["default"] and not spec["flippable"]:
            raise QMPFailure(spec.get("refusal") or "'%s' feature not supported by KVM on this host" % name)
    for name, spec in specs.items():
        parent = spec.get("requires")
        if parent and values[parent] is False and values[name] is not False:
            if requested.get(name) is True:
                raise QMPFailure(spec.get("requires_refusal") or "cannot enable %s" % name)
            values[name] = False
    if sve_lengths == "kvm":
        values.update(_sve_kvm(specs, requested, values.get("sve") is True))
    return values


ARM_MAX_VQ = 16


def _sve_kvm(specs, requested, sve_on):
    """QEMU's arm_cpu_sve_finalize (target/arm/cpu64.c) under KVM, without sve-max-vq: the host's lengths are the
    sveN props on by default. An enabled length implies every smaller host length; disabling lengths so that none is
    left with sve=on is "cannot disable sveN"; a length the host lacks is "cannot enable sveN"."""
    lengths = {}
    for name, spec in specs.items():
        match = _SVE_LENGTH.match(name)
        if match and spec.get("requires") == "sve":
            lengths[int(match.group(1)) // 128] = name
    supported = {vq for vq, name in lengths.items() if specs[name]["default"] is True}
    init = {vq for vq, name in lengths.items() if name in requested}
    vq_map = {vq for vq in init if requested[lengths[vq]] is True}
    if vq_map:
        mask = set(range(1, max(vq_map) + 1))
        vq_map |= (supported - init) & mask
    else:
        if not sve_on:
            return {name: False for name in lengths.values()}
        disabled = init & supported
        vq = min(disabled) if disabled else ARM_MAX_VQ + 1
        mask = set(range(1, (vq - 1 if vq <= ARM_MAX_VQ else ARM_MAX_VQ) + 1))
        vq_map = (supported - init) & mask
        if not vq_map:
            raise QMPFailure("cannot disable sve%d" % (vq * 128))
        mask = set(range(1, max(vq_map) + 1))
    vq_map &= mask
    differ = vq_map ^ (supported & mask)
    if differ:
        vq = max(differ)
        raise QMPFailure("cannot %s sve%d" % ("enable" if vq in vq_map else "disable", vq * 128))
    return {name: sve_on and vq in vq_map for vq, name in lengths.items()}
