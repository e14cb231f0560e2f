"""SYSREG_<REG>_<FIELD> properties: the kernel's field rules (sysreg.py), hand-checked per rule kind, and what the
rest of the collection makes of them: validation, baseline, recommendation and the -cpu argument."""

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import baseline, recommend
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
from ansible_collections.armvirt.cpu.plugins.module_utils._host import sysreg


def values(name, host_value):
    return list(sysreg.read_property(name, host_value).supported_values)


@pytest.mark.parametrize("name, host_value, expected, rule", [
    # lower-safe: 0 up to the host's value
    ("SYSREG_ID_AA64ISAR0_EL1_AES", 2, ["0x0-0x2"], "lower-safe"),
    ("SYSREG_ID_AA64ISAR0_EL1_AES", 0, ["0x0"], "lower-safe"),
    ("SYSREG_ID_AA64MMFR0_EL1_PARange", 5, ["0x0-0x5"], "lower-safe"),   # lowerable, not exact
    # exact: the host's value or the field's safe value
    ("SYSREG_CTR_EL0_L1Ip", 3, ["0x2-0x3"], "exact"),                    # safe value VIPT (2)
    ("SYSREG_ID_AA64MMFR0_EL1_TGran4_2", 2, ["0x1-0x2"], "exact"),       # safe value 1
    # higher-safe
    ("SYSREG_ID_AA64MMFR1_EL1_SpecSEI", 1, ["0x1-0xf"], "higher-safe"),
    # outside KVM's writable masks: the host's value whatever the kernel's rule would allow
    ("SYSREG_ID_AA64ISAR1_EL1_APA", 3, ["0x3"], "host-value"),           # follows the vCPU's pauth flag
    ("SYSREG_CTR_EL0_CWG", 4, ["0x4"], "host-value"),
    ("SYSREG_ID_AA64DFR0_EL1_BRPs", 5, ["0x5"], "host-value"),
    # signed: 0xf is "not implemented", below every implemented value
    ("SYSREG_ID_AA64MMFR0_EL1_TGran4", 0, ["0x0", "0xf"], "lower-safe"),
    ("SYSREG_ID_AA64MMFR0_EL1_TGran4", 0xF, ["0xf"], "lower-safe"),
    ("SYSREG_ID_AA64DFR0_EL1_DoubleLock", 0, ["0x0", "0xf"], "lower-safe"),
    ("SYSREG_ID_AA64ISAR2_EL1_BC", 1, ["0x0-0x1"], "lower-safe"),       # FTR_LOWER_SAFE since Linux 6.6
    # KVM's special cases and Arm's reserved encodings
    ("SYSREG_ID_AA64DFR0_EL1_DebugVer", 9, ["0x6-0x9"], "lower-safe"),   # never below Armv8 debug (6)
    ("SYSREG_ID_AA64DFR0_EL1_WRPs", 3, ["0x1-0x3"], "lower-safe"),       # watchpoints minus one: 0 is reserved
    ("SYSREG_ID_AA64DFR0_EL1_PMUVer", 6, ["0x0-0x1", "0x4-0x6"], "lower-safe"),   # PMUv3 versions only
    ("SYSREG_ID_AA64PFR0_EL1_EL1", 1, ["0x1"], "lower-safe"),            # AArch64 EL1 cannot go
    # outside the table: exactly the host's value
    ("SYSREG_ID_AA64MMFR0_EL1_ASIDBits", 2, ["0x2"], "host-value"),      # not writable by a VMM
    ("SYSREG_ID_AA64MMFR1_EL1_VMIDBits", 2, ["0x2"], "host-value"),
    ("SYSREG_ID_AA64ISAR9_EL1_NEW", 3, ["0x3"], "host-value"),
])
def test_field_rules(name, host_value, expected, rule):
    prop = sysreg.read_property(name, host_value)
    assert list(prop.supported_values) == expected
    assert (prop.extra["rule"], prop.extra["host_value"], prop.default) == (rule, "0x%x" % host_value,
                                                                            "0x%x" % host_value)


def test_rules_of_fields_kvm_keeps_at_the_host_value():
    """The kernel's rule is still what the table says; KVM's writable mask is what keeps such a field fixed."""
    assert sysreg.allowed(sysreg.FIELDS[("CTR_EL0", "CWG")], 4) == [0] + list(range(4, 16))   # higher-or-zero
    assert sysreg.allowed(sysreg.FIELDS[("CTR_EL0", "ERG")], 0) == [0]
    assert sysreg.allowed(sysreg.FIELDS[("ID_AA64ISAR1_EL1", "APA")], 3) == [0, 3]           # exact, safe 0
    assert sysreg.allowed(sysreg.FIELDS[("ID_AA64PFR0_EL1", "FP")], 1) == [0, 1, 15]         # signed
    assert all(label.count(".") == 1 and sysreg.lookup("SYSREG_" + label.replace(".", "_"))
               for label in sysreg.NOT_WRITABLE)


def test_names_are_arm_register_data_names_and_match_case_insensitively():
    assert sysreg.parse_name("SYSREG_ID_AA64ISAR0_EL1_AES") == ("ID_AA64ISAR0_EL1", "AES")
    assert sysreg.parse_name("SYSREG_CTR_EL0_DminLine") == ("CTR_EL0", "DminLine")
    assert sysreg.parse_name("SYSREG_ID_AA64PFR1_EL1_RAS_frac") == ("ID_AA64PFR1_EL1", "RAS_frac")
    assert sysreg.parse_name("feat_AES") is None and sysreg.parse_name("SYSREG_") is None
    assert sysreg.lookup("SYSREG_ID_AA64MMFR0_EL1_PARANGE").label == "ID_AA64MMFR0_EL1.PARange"
    assert len(sysreg.FIELDS) > 100 and all(field.kind in sysreg.KINDS for field in sysreg.FIELDS.values())


def _fact(**host_values):
    return {"supported": True, "dialect": "sysreg", "accel": "kvm", "emulator": "/usr/bin/qemu-system-aarch64",
            "qemu_version": "10.1.0", "source": "probe", "reason": None, "cpu_model": "host",
            "properties": {name: sysreg.read_property(name, value).to_fact() for name, value in host_values.items()}}


N1 = _fact(SYSREG_ID_AA64ISAR0_EL1_AES=2, SYSREG_ID_AA64MMFR1_EL1_SpecSEI=0, SYSREG_CTR_EL0_DminLine=4,
           SYSREG_ID_AA64MMFR0_EL1_ASIDBits=2)
OLDER = _fact(SYSREG_ID_AA64ISAR0_EL1_AES=1, SYSREG_ID_AA64MMFR1_EL1_SpecSEI=1, SYSREG_CTR_EL0_DminLine=4,
              SYSREG_ID_AA64MMFR0_EL1_ASIDBits=2)


def test_a_value_above_a_lower_safe_host_value_is_refused_with_the_rule():
    (error,) = validate.check_features([{"name": "SYSREG_ID_AA64ISAR0_EL1_AES", "value": "0x3"}], N1, "n1")[1]
    assert error.rule == "value-not-supported" and error.allowed == ["0x0-0x2"]
    assert error.message == ("n1: SYSREG_ID_AA64ISAR0_EL1_AES=0x3 is not supported; supported values (number): "
                             "0x0-0x2. ID_AA64ISAR0_EL1.AES is lower-safe: a guest may have any value up to the "
                             "host's 0x2.")


def test_rendered_in_hex_on_the_host_cpu():
    features = [{"name": "SYSREG_ID_AA64ISAR0_EL1_AES", "value": "1"},
                {"name": "SYSREG_CTR_EL0_DminLine", "value": "0x3"}]
    assert validate.qemu_cpu_arg(features, "host-passthrough", N1) == (
        "host,SYSREG_ID_AA64ISAR0_EL1_AES=0x1,SYSREG_CTR_EL0_DminLine=0x3")


def test_baseline_intersects_lower_safe_to_the_lowest_and_keeps_the_rule():
    base = baseline.baseline({"n1": N1, "older": OLDER})
    aes = base["properties"]["SYSREG_ID_AA64ISAR0_EL1_AES"]
    assert aes["supported_values"] == ["0x0-0x1"] and aes["rule"] == "lower-safe"
    assert "host_value" not in aes and "default" not in aes        # the members' host values differ
    # higher-safe: the members' ranges from their host values up intersect to the higher host value's
    assert base["properties"]["SYSREG_ID_AA64MMFR1_EL1_SpecSEI"]["supported_values"] == ["0x1-0xf"]
    assert base["properties"]["SYSREG_ID_AA64MMFR0_EL1_ASIDBits"]["supported_values"] == ["0x2"]
    policy = recommend.recommend({"n1": N1, "older": OLDER})
    pinned = {feature["name"]: feature["value"] for feature in policy["features"]}
    # the richest lower-safe value is the top of the common range, the richest higher-safe one its bottom (the
    # guest told the least pessimistic thing every member can stand behind)
    assert pinned["SYSREG_ID_AA64ISAR0_EL1_AES"] == "0x1" and pinned["SYSREG_ID_AA64MMFR1_EL1_SpecSEI"] == "0x1"
    for host, fact in (("n1", N1), ("older", OLDER)):
        assert validate.check_features(policy["features"], fact, host)[1] == []


def test_sysreg_fields_join_the_rule_model():
    fact = _fact(SYSREG_ID_AA64PFR0_EL1_SVE=1, SYSREG_ID_AA64ZFR0_EL1_SVEver=1, SYSREG_ID_AA64ISAR1_EL1_APA=3,
                 SYSREG_ID_AA64ISAR1_EL1_GPA=1)
    fact["properties"]["sve"] = {"type": "bool", "supported_values": ["on", "off"]}
    fact["properties"]["SYSREG_ID_AA64ISAR1_EL1_GPA"]["supported_values"] = ["0x0", "0x1"]   # as a guess of QEMU's
    features = [{"name": "sve", "policy": "disable"}, {"name": "SYSREG_ID_AA64PFR0_EL1_SVE", "value": "0x1"},
                {"name": "SYSREG_ID_AA64ZFR0_EL1_SVEver", "value": "0x1"},
                {"name": "SYSREG_ID_AA64ISAR1_EL1_APA", "value": "0x3"},
                {"name": "SYSREG_ID_AA64ISAR1_EL1_GPA", "value": "0x0"}]
    rules = sorted(error.rule for error in validate.check_features(features, fact, "h")[1])
    assert rules == ["pauth-algorithm-pairs", "sve-fields-need-sve", "sve-zfr0-needs-sve"]
    # SVEver 0 is SVE without SVE2: with sve on it is fine
    assert validate.check_features([{"name": "sve", "policy": "require"},
                                    {"name": "SYSREG_ID_AA64ZFR0_EL1_SVEver", "value": "0x0"}], fact, "h")[1] == []
