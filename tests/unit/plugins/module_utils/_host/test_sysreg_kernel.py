"""The SYSREG_ field table (sysreg.py) held to the simulator's own kernel model (tools/armsim/kvmrules.py, written
from Linux cpufeature.c and KVM sys_regs.c, never from the collection's table): for every field both know and every
host value, what the collection offers is what KVM accepts (never more), and at least what a QEMU listing values
would offer (never less, but for the encodings Arm reserves) unless KVM sets the field itself or it is the host's
identity (then only the host's).
The newly writable fields of the 2026 kernel and the cases the field table got wrong are also written out by hand."""

import pathlib

import pytest
from armsim import kvmrules
from armsim import profiles as simprofiles

from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import baseline, classes, recommend
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
from ansible_collections.armvirt.cpu.plugins.module_utils._host import sysreg

ROOT = pathlib.Path(__file__).resolve().parents[5]
BOTH = sorted(ref for ref in kvmrules.RULES
              if sysreg.lookup("SYSREG_" + ref.replace(".", "_")) is not None
              and ref.split(".")[0] in simprofiles.FIELDS and ref.split(".")[1] in simprofiles.FIELDS[ref.split(".")[0]])
IDENTITY = sorted(ref for ref, rule in kvmrules.RULES.items() if rule.identity)


def offered(ref, host):
    prop = sysreg.read_property("SYSREG_" + ref.replace(".", "_"), host)
    return prop, sorted(simprofiles.numbers_in(prop.supported_values))


def test_the_tables_share_the_fields_of_the_2026_kernel():
    assert len(BOTH) > 100
    for ref in ("ID_AA64ISAR2_EL1.MOPS", "ID_AA64ISAR2_EL1.CLRBHB", "ID_AA64ISAR2_EL1.LUT",
                "ID_AA64ISAR3_EL1.FAMINMAX", "ID_AA64MMFR3_EL1.TCRX", "ID_AA64MMFR3_EL1.S1PIE",
                "ID_AA64MMFR3_EL1.S1POE", "ID_AA64MMFR1_EL1.ECBHB", "ID_AA64MMFR1_EL1.CMOW",
                "ID_AA64PFR1_EL1.CSV2_frac", "ID_AA64PFR2_EL1.FPMR", "ID_AA64FPFR0_EL1.F8CVT",
                "ID_AA64PFR0_EL1.GIC"):
        assert ref in BOTH, ref


@pytest.mark.parametrize("ref", BOTH)
def test_offered_values_are_what_the_kernel_accepts(ref):
    width = simprofiles.field_bits(ref)[1]
    rule = kvmrules.RULES[ref]
    for host in range(1 << width):
        if rule.hidden and host:
            continue   # KVM shows such a field as 0 to every guest: no host value but 0 reaches QEMU
        prop, values = offered(ref, host)
        accepted = kvmrules.allowed(ref, host, "writable", width)
        assert set(values) <= set(accepted), (ref, host, prop.supported_values, accepted)
        if rule.kvm_sets or not kvmrules.writable(ref):
            assert values == [host], (ref, host, prop.supported_values)
        else:   # less only by the encodings Arm reserves (the table's floor and encodings: WRPs 0, PMUVer 2-3)
            field = sysreg.lookup("SYSREG_" + ref.replace(".", "_"))
            wanted = [value for value in kvmrules.listed(ref, host, "writable", width) if value == host or (
                value >= field.floor and (field.encodings is None or value in field.encodings))]
            assert set(wanted) <= set(values), (ref, host, values)


@pytest.mark.parametrize("ref", IDENTITY)
def test_identity_fields_are_offered_only_at_the_host_value_though_kvm_takes_any(ref):
    width = simprofiles.field_bits(ref)[1]
    host = (1 << width) - 2
    prop, values = offered(ref, host)
    assert values == [host] and prop.extra["rule"] == sysreg.IDENTITY
    assert len(kvmrules.allowed(ref, host, "writable", width)) == 1 << width   # set_imp_id_reg: anything in the mask
    assert "identity" in sysreg.rule_text(prop.extra)


@pytest.mark.parametrize("name, host, expected, rule", [
    # measured before: MOPS and S1PIE offered only 0x1 (the table lacked them); KVM lets a VMM lower them
    ("SYSREG_ID_AA64ISAR2_EL1_MOPS", 1, ["0x0-0x1"], "lower-safe"),
    ("SYSREG_ID_AA64MMFR3_EL1_S1PIE", 1, ["0x0-0x1"], "lower-safe"),
    ("SYSREG_ID_AA64ISAR2_EL1_CLRBHB", 1, ["0x0-0x1"], "lower-safe"),
    ("SYSREG_ID_AA64ISAR2_EL1_LUT", 1, ["0x0-0x1"], "lower-safe"),
    ("SYSREG_ID_AA64ISAR3_EL1_FAMINMAX", 1, ["0x0-0x1"], "lower-safe"),
    ("SYSREG_ID_AA64MMFR1_EL1_ECBHB", 1, ["0x0-0x1"], "lower-safe"),
    ("SYSREG_ID_AA64MMFR1_EL1_CMOW", 1, ["0x0-0x1"], "lower-safe"),
    ("SYSREG_ID_AA64PFR1_EL1_CSV2_frac", 2, ["0x0-0x2"], "lower-safe"),
    ("SYSREG_ID_AA64PFR2_EL1_FPMR", 1, ["0x0-0x1"], "lower-safe"),
    ("SYSREG_ID_AA64FPFR0_EL1_F8CVT", 1, ["0x0-0x1"], "exact"),    # FTR_EXACT, one bit, safe value 0
    # measured before: GIC offered 0x0-0x1; it is FTR_EXACT and KVM sets it from the vGIC
    ("SYSREG_ID_AA64PFR0_EL1_GIC", 1, ["0x1"], "kvm-sets"),
    ("SYSREG_MIDR_EL1_PartNum", 0xD4F, ["0xd4f"], "identity"),
    ("SYSREG_REVIDR_EL1_IMPDEF", 0x100, ["0x100"], "identity"),
])
def test_newly_writable_and_kvm_owned_fields(name, host, expected, rule):
    prop = sysreg.read_property(name, host)
    assert (list(prop.supported_values), prop.extra["rule"]) == (expected, rule)


def test_every_field_carries_its_rule_and_source():
    for field in sysreg.FIELDS.values():
        assert field.kind in sysreg.KINDS and "cpufeature.c ftr_" in field.source and "sys_regs.c" in field.source
    assert "479965a2b7ec" in sysreg.FIELDS[("ID_AA64ISAR2_EL1", "BC")].source
    assert sysreg.rule_of("ID_AA64PFR0_EL1.GIC") == sysreg.KVM_SET
    assert sysreg.rule_of("MIDR_EL1.PartNum") == sysreg.IDENTITY
    assert sysreg.rule_of("ID_AA64ISAR1_EL1.APA") == sysreg.HOST_ONLY
    assert sysreg.rule_of("ID_AA64ISAR9_EL1.NEW") is None


def _fact(**host_values):
    return {"supported": True, "dialect": "sysreg", "accel": "kvm", "emulator": "/usr/bin/qemu-system-aarch64",
            "qemu_version": "10.2.0", "source": "probe", "reason": None, "cpu_model": "host",
            "properties": {name: sysreg.read_property(name, value).to_fact() for name, value in host_values.items()}}


# two v10 hosts: a Neoverse-V2 and a Neoverse-V1, the same lowerable fields, different identity
V2 = _fact(SYSREG_MIDR_EL1_Implementer=0x41, SYSREG_MIDR_EL1_PartNum=0xD4F, SYSREG_ID_AA64ISAR2_EL1_MOPS=1,
           SYSREG_ID_AA64PFR0_EL1_GIC=1, SYSREG_ID_AA64ISAR0_EL1_AES=2)
V1 = _fact(SYSREG_MIDR_EL1_Implementer=0x41, SYSREG_MIDR_EL1_PartNum=0xD40, SYSREG_ID_AA64ISAR2_EL1_MOPS=0,
           SYSREG_ID_AA64PFR0_EL1_GIC=1, SYSREG_ID_AA64ISAR0_EL1_AES=2)


def test_identity_is_no_value_to_lower_or_pin():
    (error,) = validate.check_features([{"name": "SYSREG_MIDR_EL1_PartNum", "value": "0xd40"}], V2, "v2")[1]
    assert error.allowed == ["0xd4f"] and "identity" in error.message
    assert classes.classes({"v2": V2, "v1": V1})["hosts"]["v2"] != classes.classes({"v2": V2, "v1": V1})["hosts"]["v1"]
    base = baseline.baseline({"v2": V2, "v1": V1})
    assert "SYSREG_MIDR_EL1_PartNum" not in base["properties"]
    assert "SYSREG_MIDR_EL1_PartNum" not in base["empty"] and "SYSREG_MIDR_EL1_PartNum" not in base["missing"]
    assert base["properties"]["SYSREG_MIDR_EL1_Implementer"]["supported_values"] == ["0x41"]   # all agree
    assert base["properties"]["SYSREG_ID_AA64ISAR2_EL1_MOPS"]["supported_values"] == ["0x0"]   # lowered to V1's
    assert base["properties"]["SYSREG_ID_AA64PFR0_EL1_GIC"]["supported_values"] == ["0x1"]
    policy = recommend.recommend({"v2": V2, "v1": V1})
    pinned = {feature["name"]: feature["value"] for feature in policy["features"]}
    assert not [name for name in pinned if name.startswith("SYSREG_MIDR_EL1_")]
    assert (pinned["SYSREG_ID_AA64ISAR2_EL1_MOPS"], pinned["SYSREG_ID_AA64PFR0_EL1_GIC"]) == ("0x0", "0x1")
    for host, fact in (("v2", V2), ("v1", V1)):
        assert validate.check_features(policy["features"], fact, host)[1] == []


def test_a_field_kvm_sets_is_refused_below_the_host_value():
    (error,) = validate.check_features([{"name": "SYSREG_ID_AA64PFR0_EL1_GIC", "value": "0x0"}], V2, "v2")[1]
    assert error.allowed == ["0x1"] and "KVM sets itself" in error.message


def field_table():
    """docs/dialects.md's field table, from sysreg.FIELDS: each register's fields by rule, with the register's
    sources and what is particular to a field."""
    lines = ["| register | fields and their rules | source (Linux) |", "|---|---|---|"]
    registers = []
    for field in sysreg.FIELDS.values():
        if field.register not in registers:
            registers.append(field.register)
    for register in registers:
        fields = [field for field in sysreg.FIELDS.values() if field.register == register]
        words = []
        for field in fields:
            label = "%s.%s" % (register, field.name)
            rule = sysreg.rule_of(label)
            extra = ("signed" if field.signed else "") + (", floor %d" % field.floor if field.floor else "")
            words.append("%s (%s%s)" % (field.name, rule, ", " + extra.lstrip(", ") if extra else ""))
        notes = sorted({field.source[len(sysreg.REGISTER_SOURCES[register]) + 2:] + " (%s)" % field.name
                        for field in fields if field.source != sysreg.REGISTER_SOURCES[register]})
        sources = sysreg.REGISTER_SOURCES[register] + "".join("; " + note for note in notes)
        lines.append("| %s | %s | %s |" % (register, ", ".join(words), sources))
    return "\n".join(lines)


def test_the_dialects_guide_holds_the_field_table():
    text = (ROOT / "docs" / "dialects.md").read_text()
    assert field_table() in text
    assert "%d fields" % len(sysreg.FIELDS) in text
    assert all(label in text for label in sysreg.KVM_SETS)
