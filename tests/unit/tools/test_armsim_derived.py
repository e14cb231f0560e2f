"""One CPU behind several dialects: a profile's ID registers served as v2 names, SYSREG_ names and booleans only.

The derived profiles (``SOURCE@sysreg``, ``SOURCE@released``) are built by ``armsim.profiles.derive`` from the
source's register data; these tests hold them to the hand-written sysreg profiles of the same silicon and to values
read off the Arm ARM and the kernel by hand, not to the code that derives them.
"""

import pytest
from qemu.qmp import ExecuteError
from qemu.qmp.legacy import QEMUMonitorProtocol

from armsim import cli, load_profile
from armsim.profiles import BASE_COMMANDS, DERIVED, derive, field_value, numbers_in, problems, resolve


@pytest.mark.parametrize("name", DERIVED)
def test_derived_profiles_load_and_keep_the_sources_cpu(name):
    source, _at, suffix = name.partition("@")
    base, profile = load_profile(source).data, load_profile(name)
    assert problems(profile.data) == [] and profile.name == name
    assert profile.dialect == {"sysreg": "sysreg", "released": "query-cpu-model-expansion"}[suffix]
    for key in ("id_registers", "cpu", "host_tree", "kernel_release", "kvm"):
        assert profile.data[key] == base[key], key
    assert profile.data["properties"] == [] and profile.commands == BASE_COMMANDS
    assert profile.data["notes"][-1].startswith("Derived from profile %s " % source)


def _sysreg(profile):
    return {p["name"]: p for p in profile.data["expansion"]["props"] if p["name"].startswith("SYSREG_")}


@pytest.mark.parametrize("source, handwritten", [("neoverse-v2", "neoverse-v2-sysreg"),
                                                 ("neoverse-n1", "neoverse-n1-sysreg")])
def test_derived_sysreg_props_equal_the_handwritten_profile_of_the_same_registers(source, handwritten):
    """neoverse-v2-sysreg was written by hand from the same ID registers: every field both offer is the same prop
    (name, host value, what KVM takes, vCPU flag). The derived profile offers the writable fields its source cites."""
    derived, written = _sysreg(load_profile(source + "@sysreg")), _sysreg(load_profile(handwritten))
    assert load_profile(source).data["id_registers"] == load_profile(handwritten).data["id_registers"]
    shared = set(derived) & set(written)
    assert len(shared) >= 40
    for name in shared:
        assert derived[name] == written[name], name
    # beyond the hand-written table: fields the source's QEMU cites and KVM lets a VMM write
    assert set(derived) - set(written) <= {"SYSREG_ID_AA64PFR0_EL1_SEL2", "SYSREG_ID_AA64PFR1_EL1_CSV2_frac"}


def test_derived_sysreg_names_and_values_checked_by_hand():
    """Grace (ID_AA64DFR0_EL1 0x000011f210305619: WRPs 3; ID_AA64MMFR0_EL1 0x...1125: PARange 5, ASIDBits 2)."""
    props = _sysreg(load_profile("neoverse-v2@sysreg"))
    wrps = props["SYSREG_ID_AA64DFR0_EL1_WRPs"]
    assert (wrps["default"], wrps["kvm_allows"], wrps["field"]) == (3, ["0x0-0x3"], "ID_AA64DFR0_EL1.WRPs")
    assert props["SYSREG_ID_AA64MMFR0_EL1_PARange"]["kvm_allows"] == ["0x0-0x5"]
    assert props["SYSREG_ID_AA64ISAR0_EL1_AES"]["default"] == 2
    assert props["SYSREG_ID_AA64DFR0_EL1_PMUVer"]["gated_by"] == "pmu"
    assert props["SYSREG_ID_AA64PFR0_EL1_SVE"]["kvm_allows"] == ["0x1"]                   # follows the sve flag
    for kept_from_the_vmm in ("ID_AA64MMFR0_EL1_ASIDBits", "ID_AA64DFR0_EL1_BRPs", "ID_AA64PFR0_EL1_RAS",
                              "ID_AA64ISAR1_EL1_APA", "ID_AA64MMFR1_EL1_VMIDBits"):
        assert "SYSREG_" + kept_from_the_vmm not in props


@pytest.mark.parametrize("source", ["neoverse-n1", "neoverse-v1", "neoverse-v2"])
def test_one_field_has_the_same_values_in_both_valued_dialects(source):
    """For every field both name, the v2 host lists what KVM takes on the SYSREG_ host, less reserved encodings
    (Atomic 1, PMUVer 2-3) and a signed field's negative values: the same CPU, two spellings."""
    v2, sysreg = load_profile(source), _sysreg(load_profile(source + "@sysreg"))
    by_field = {p["field"]: p for p in sysreg.values()}
    compared = 0
    for prop in v2.data["properties"]:
        other = by_field.get(prop.get("field"))
        if other is None or prop["type"] != "number":
            continue
        listed, allowed = numbers_in(prop["supported-values"]), numbers_in(other["kvm_allows"])
        assert other["default"] == field_value(v2.data["id_registers"], prop["field"]) == max(listed) or \
            prop["field"].endswith("DoubleLock"), prop["name"]
        assert listed <= allowed and allowed - listed <= {1, 2, 3} | set(range(8, 15)), prop["name"]
        compared += 1
    assert compared >= 30


def test_released_on_kvm_serves_booleans_only(serve):
    """neoverse-v2@released: a released QEMU on Grace. The expansion of host has the booleans of the v2 host (the
    same defaults: sve on, 128-bit only), no props-info command and no SYSREG_ integer."""
    source = load_profile("neoverse-v2")
    client = QEMUMonitorProtocol(serve("neoverse-v2@released", "kvm").address)
    client.connect()
    try:
        props = client.cmd("query-cpu-model-expansion", type="full", model={"name": "host"})["model"]["props"]
        assert props == {p["name"]: p["default"] for p in source.data["expansion"]["props"]}
        assert all(isinstance(value, bool) for value in props.values()) and props["sve128"] and not props["sve256"]
        for command in ("query-cpu-props-info", "query-arm-cpu-props-info"):
            with pytest.raises(ExecuteError) as err:
                client.cmd(command)
            assert err.value.error_class == "CommandNotFound"
    finally:
        client.close()


NOT_FOUND = ("qemu-system-aarch64: can't apply global host-arm-cpu.{0}: Property 'host-arm-cpu.{1}' not found")
REFUSED = ("qemu-system-aarch64: {0}: KVM refused the ID register value (KVM_SET_ONE_REG: Invalid argument)\n"
           "qemu-system-aarch64: kvm_init_vcpu: kvm_arch_init_vcpu failed (0): Invalid argument")


@pytest.mark.parametrize("profile, cpu, stderr", [
    ("neoverse-v2", "host,hw_prop_WRPs=2", None),
    ("neoverse-v2@sysreg", "host,SYSREG_ID_AA64DFR0_EL1_WRPs=0x2", None),
    ("neoverse-v2@sysreg", "host,SYSREG_ID_AA64DFR0_EL1_WRPs=0x4", REFUSED.format("SYSREG_ID_AA64DFR0_EL1_WRPs=0x4")),
    ("neoverse-v2@sysreg", "host,hw_prop_WRPs=2", NOT_FOUND.format("hw_prop_WRPs=2", "hw_prop_WRPs")),
    ("neoverse-v2@sysreg", "host,pmu=off,SYSREG_ID_AA64DFR0_EL1_PMUVer=0x1",
     REFUSED.format("SYSREG_ID_AA64DFR0_EL1_PMUVer=0x1")),
    ("neoverse-v2@released", "host,pmu=off,sve=off,sve128=off,pauth=off", None),
    ("neoverse-v2@released", "host,SYSREG_ID_AA64DFR0_EL1_WRPs=0x2",
     NOT_FOUND.format("SYSREG_ID_AA64DFR0_EL1_WRPs=0x2", "SYSREG_ID_AA64DFR0_EL1_WRPs")),
    ("neoverse-v2@released", "host,hw_prop_WRPs=2", NOT_FOUND.format("hw_prop_WRPs=2", "hw_prop_WRPs")),
    ("neoverse-v2@released", "host,sve128=off", "qemu-system-aarch64: cannot disable sve128"),
    ("neoverse-n1@released", "host,sve=on", "qemu-system-aarch64: 'sve' feature not supported by KVM on this host"),
])
def test_each_dialect_judges_a_cpu_in_its_own_names(profile, cpu, stderr):
    assert load_profile(profile).start_refusal(cpu, "kvm") == stderr


@pytest.mark.parametrize("spec, message", [
    ("qemu-7.2-released@sysreg", "no KVM host with ID registers"),
    ("neoverse-n1-oldkernel@sysreg", "lets a VMM write no field it cites"),
    ("neoverse-v2-sysreg@sysreg", "speaks sysreg"),
    ("neoverse-v2@released@sysreg", "no armsim profile"),                   # derived from a file, not a chain
])
def test_a_source_that_cannot_be_spoken_so_is_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        load_profile(spec)


def test_derive_and_resolve_refuse_unknown_dialects():
    with pytest.raises(ValueError, match="no derived dialect 'v3'"):
        derive(load_profile("neoverse-v2").data, "v3")
    with pytest.raises(ValueError, match="no armsim profile 'neoverse-v2@v3'"):
        resolve("neoverse-v2@v3")
    with pytest.raises(ValueError, match="no armsim profile 'nosuch@sysreg'"):
        resolve("nosuch@sysreg")


def test_booleans_give_no_register_data_to_derive_sysreg_from():
    with pytest.raises(ValueError, match="speaks query-cpu-model-expansion: no sysreg profile"):
        derive(load_profile("neoverse-v2@released").data, "sysreg")


def test_a_sysreg_profile_also_derives_its_released_twin():
    profile = load_profile("neoverse-v2-sysreg@released")
    assert not _sysreg(profile) and profile.dialect == "query-cpu-model-expansion"


def test_list_and_wrapper_name_the_derived_profiles(tmp_path, capsys):
    assert cli.cmd_list([]) == 0
    listed = capsys.readouterr().out
    for name in DERIVED:
        assert name in listed
    script = (tmp_path / "qemu").__str__()
    cli.write_wrapper(script, load_profile("neoverse-v2@sysreg"))
    text = open(script).read()
    assert "stand-in emulator for neoverse-v2@sysreg " in text and "neoverse-v2.json@sysreg" in text
