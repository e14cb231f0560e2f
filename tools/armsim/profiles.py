"""Host profiles: what one simulated hypervisor's QEMU answers, kept as JSON data in ``profiles/``.

A profile is data so that fleet, performance and reliability work can add hosts without code. Loading validates it
(``problems``), so a broken profile fails at start rather than as a strange reply. The format is in
docs/simulator.md.
"""

from __future__ import annotations

import json
import os
import re

from armsim.server import QMPFailure

PROFILE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles")
DIALECTS = ("query-arm-cpu-props-info", "query-cpu-props-info", "query-cpu-model-expansion")
BASE_COMMANDS = ("qmp_capabilities", "query-version", "query-commands", "query-kvm", "query-target", "quit",
                 "query-cpu-model-expansion")
IMPLEMENTED = BASE_COMMANDS + DIALECTS[:2]
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
NO_KVM_STDERR = ("Could not access KVM kernel module: No such file or directory\n"
                 "qemu-system-aarch64: -machine none,accel=kvm: failed to initialize kvm: No such file or directory")

_RANGE = re.compile(r"^([0-9]+)-([0-9]+)$")
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")

# ID register fields the profiles cite ("REG.FIELD"): (lowest bit, width). From the Arm ARM's register descriptions.
FIELDS = {
    "ID_AA64ISAR0_EL1": dict(AES=4, SHA1=8, SHA2=12, CRC32=16, ATOMIC=20, TME=24, RDM=28, SHA3=32, SM3=36, SM4=40,
                             DP=44, FHM=48, TS=52, TLB=56, RNDR=60),
    "ID_AA64ISAR1_EL1": dict(DPB=0, APA=4, API=8, JSCVT=12, FCMA=16, LRCPC=20, GPA=24, GPI=28, FRINTTS=32, SB=36,
                             SPECRES=40, BF16=44, DGH=48, I8MM=52, XS=56, LS64=60),
    "ID_AA64ISAR2_EL1": dict(WFxT=0, RPRES=4, GPA3=8, APA3=12, MOPS=16, BC=20, PAC_frac=24),
    "ID_AA64PFR0_EL1": dict(EL0=0, EL1=4, EL2=8, EL3=12, FP=16, AdvSIMD=20, GIC=24, RAS=28, SVE=32, SEL2=36,
                            MPAM=40, AMU=44, DIT=48, RME=52, CSV2=56, CSV3=60),
    "ID_AA64PFR1_EL1": dict(BT=0, SSBS=4, MTE=8, RAS_frac=12, MPAM_frac=16, SME=24, CSV2_frac=32),
    "ID_AA64MMFR0_EL1": dict(PARange=0, ASIDBits=4, BigEnd=8, SNSMem=12, TGran16=20, TGran64=24, TGran4=28),
    "ID_AA64MMFR1_EL1": dict(HAFDBS=0, VMIDBits=4, VH=8, HPDS=12, LO=16, PAN=20, SpecSEI=24, XNX=28),
    "ID_AA64MMFR2_EL1": dict(CnP=0, UAO=4, LSM=8, IESB=12, VARange=16, CCIDX=20, NV=24, ST=28, AT=32, IDS=36,
                             FWB=40, TTL=48, BBM=52, EVT=56, E0PD=60),
    "ID_AA64DFR0_EL1": dict(DebugVer=0, TraceVer=4, PMUVer=8, BRPs=12, WRPs=20, CTX_CMPs=28, PMSVer=32),
    "ID_AA64ZFR0_EL1": dict(SVEver=0, AES=4, BitPerm=16, BF16=20, SHA3=32, SM4=40, I8MM=44, F32MM=52, F64MM=56),
    "CTR_EL0": dict(IminLine=0, DminLine=16, ERG=20, CWG=24, IDC=(28, 1), DIC=(29, 1)),
    "DCZID_EL0": dict(BS=0),
}


def field_value(registers, ref):
    """The value of field ``ref`` ("REG.FIELD") in a profile's ``id_registers`` (hex strings)."""
    reg, field = ref.split(".")
    lsb, width = (FIELDS[reg][field], 4) if isinstance(FIELDS[reg][field], int) else FIELDS[reg][field]
    return (int(registers[reg], 16) >> lsb) & ((1 << width) - 1)


def numbers_in(values):
    """Integers a number property's values cover ("0-3", "4"); named values like "off" are skipped."""
    out = set()
    for value in values:
        match = _RANGE.match(value)
        if match:
            out.update(range(int(match.group(1)), int(match.group(2)) + 1))
        elif value.isdigit():
            out.add(int(value))
    return out


def available():
    """Names of the bundled profiles."""
    return sorted(name[:-5] for name in os.listdir(PROFILE_DIR) if name.endswith(".json"))


def resolve(name_or_path):
    """Path of a profile given as a file path or a bundled profile name."""
    if os.path.isfile(name_or_path):
        return os.path.abspath(name_or_path)
    path = os.path.join(PROFILE_DIR, name_or_path + ".json")
    if os.path.isfile(path):
        return path
    raise ValueError("no armsim profile %r (a file path, or one of: %s)" % (name_or_path, ", ".join(available())))


def load(name_or_path):
    path = resolve(name_or_path)
    with open(path) as handle:
        data = json.load(handle)
    issues = problems(data)
    if issues:
        raise ValueError("armsim profile %s is invalid: %s" % (path, "; ".join(issues)))
    return Profile(data, path)


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
    props = data["properties"]
    if data["dialect"] != "query-cpu-model-expansion" and len(props) < 30:
        issues.append("a patched profile needs 30+ properties, has %d" % len(props))
    if data["dialect"] == "query-cpu-model-expansion" and props:
        issues.append("an expansion-only profile has no props-info properties")
    seen = set()
    for prop in props:
        issues.extend(_property_problems(prop, data.get("id_registers", {})))
        if prop.get("name") in seen:
            issues.append("%s listed twice" % prop.get("name"))
        seen.add(prop.get("name"))
    names = [p.get("name") for p in data["expansion"].get("props", [])]
    for prop in data["expansion"].get("props", []):
        if not isinstance(prop.get("flippable"), bool) or "default" not in prop:
            issues.append("expansion prop %s needs default and flippable" % prop.get("name"))
        if prop.get("requires") and prop["requires"] not in names:
            issues.append("expansion prop %s requires unknown %s" % (prop["name"], prop["requires"]))
    if not set(data.get("commands") or ()) <= set(IMPLEMENTED):
        issues.append("commands may only name %s" % (IMPLEMENTED,))
    return issues


def _property_problems(prop, registers):
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
    if field and kind == "number" and not issues:
        host = field_value(registers, field)
        top = max(numbers_in(values) or {0})
        if prop.get("kvm_hides"):
            if numbers_in(values) != {0}:
                issues.append(where + "KVM hides %s, so only 0 is accepted" % field)
        elif top != host:
            issues.append(where + "highest value %d but the host's %s is %d" % (top, field, host))
    return issues


class Profile:
    """A loaded profile and the replies it implies."""

    def __init__(self, data, path=None):
        self.data, self.path = data, path
        self.name = data["name"]
        self.kvm = data["kvm"]
        self.dialect = data["dialect"]
        default = BASE_COMMANDS + ((self.dialect,) if self.dialect != "query-cpu-model-expansion" else ())
        self.commands = tuple(data.get("commands") or default)
        self.expansion_props = {p["name"]: p for p in data["expansion"]["props"]}

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
        return out

    def expand(self, model, accel, requested):
        """query-cpu-model-expansion type=full, with QEMU's Arm rules and refusal texts."""
        if model == "host" and accel != "kvm":
            raise QMPFailure("The CPU type 'host' requires KVM")
        if accel == "kvm" and model not in ("host", "max"):
            raise QMPFailure("We cannot guarantee the CPU type '%s' works with KVM on this host" % model)
        specs = self.specs_for(model)
        if specs is None:
            raise QMPFailure("The CPU type '%s' is not a recognized ARM CPU type" % model)
        for name, value in requested.items():
            if name in specs and not isinstance(value, type(specs[name]["default"])):
                raise QMPFailure("Invalid parameter type for '%s', expected: boolean" % name)
        for name in requested:
            if name not in specs:
                raise QMPFailure("Parameter '%s' is unexpected" % name)
        return finalize(specs, requested)

    def specs_for(self, model):
        """The boolean properties of ``model`` (its expansion props), or None for a model this QEMU lacks."""
        extra = self.data.get("extra_models", {})
        if model in ("host", "max"):
            return self.expansion_props
        if model in extra:
            return {name: {"name": name, "default": value, "flippable": True} for name, value in extra[model].items()}
        return None

    def start_refusal(self, cpu, accel):
        """What QEMU writes to stderr before it exits 1 when ``-machine virt -cpu CPU`` cannot start on this host,
        or None when the vCPU is created (the monitor then answers).

        In QEMU's order: the model, then each property as QEMU applies it (an unknown name or a bad boolean), then
        the CPU's realize (the boolean rules of the expansion, the same code as ``expand``), then KVM's vCPU init,
        which refuses a valued property (an ID register field) whose value is outside this host's
        ``supported-values``. Judged from the profile's data alone, not from the collection's validation.
        """
        model, _comma, rest = cpu.partition(",")
        specs = self.specs_for(model)
        if model == "host" and accel != "kvm":
            return (HOST_WITHOUT_KVM if self.kvm else "qemu-system-aarch64: unable to find CPU model 'host'")
        if specs is None:
            return "qemu-system-aarch64: unable to find CPU model '%s'" % model
        if accel == "kvm" and model not in ("host", "max"):
            return KVM_MODEL_REFUSAL
        typename = model + "-arm-cpu"
        valued = {p["name"]: p for p in self.data["properties"]} if model in ("host", "max") else {}
        requested, fields = {}, []
        for pair in rest.split(",") if rest else []:
            name, equals, value = pair.partition("=")
            if not equals:
                return "qemu-system-aarch64: Expected key=value format, found %s" % name
            if name in specs:
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
            finalize(specs, requested)
        except QMPFailure as failure:
            return "qemu-system-aarch64: %s" % failure.desc
        for name, value in fields:
            prop = valued[name]
            if not accepts(prop, value):
                template = self.data.get("vcpu_init_refusal", VCPU_INIT_REFUSAL)
                return template.format(name=name, value=value, supported=", ".join(prop["supported-values"]))
        return None


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


def finalize(specs, requested):
    """The boolean properties after QEMU's finalize, or QMPFailure with QEMU's text: a non-flippable property moved
    from its default gives its ``refusal``; a property that ``requires`` one that is off follows it to off, unless
    it was asked for on (``requires_refusal``)."""
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
    return values
