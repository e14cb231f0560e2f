"""Host profiles are well-formed and justified by their ID registers and the host kernel's rules; the released-QEMU
profile replays the real QEMU 7.2 transcripts; the dialect-2 fixture is what the simulator sends.

The expectations written out here are checked by hand against the kernel source (Linux cpufeature.c ARM64_FTR_BITS,
KVM sys_regs.c), not computed with tools/armsim/kvmrules.py, so a wrong rule in that table fails a test."""

import copy
import json
import pathlib
import re

import pytest

from armsim import available_profiles, load_profile
from armsim.profiles import EXPANSION_ONLY, FIELDS, HOSTS_DIR, field_value, numbers_in, problems

ROOT = pathlib.Path(__file__).resolve().parents[3]
TRANSCRIPTS = ROOT / "tests" / "fixtures" / "qemu-7.2-tcg-transcripts"
DIALECT2 = ROOT / "tests" / "fixtures" / "dialect2" / "query-cpu-props-info.json"
REQUIRED = {"neoverse-n1", "neoverse-n1-oldkernel", "neoverse-v1", "neoverse-v2", "qemu-7.2-released",
            "neoverse-n1-sysreg", "neoverse-v2-sysreg", "neoverse-v2-nosve-sysreg", "ampereone-sysreg"}
SYSREG = sorted(name for name in available_profiles() if load_profile(name).dialect == "sysreg")
PROPS_INFO = sorted(name for name in available_profiles() if load_profile(name).dialect not in EXPANSION_ONLY)
BOOL_PROPS = {"aarch64", "pmu", "pauth", "kvm-steal-time", "kvm-no-adjvtime", "sve"}


def test_the_required_profiles_exist():
    assert REQUIRED <= set(available_profiles())


@pytest.mark.parametrize("name", available_profiles())
def test_profile_structure(name):
    data = json.loads((ROOT / "tools" / "armsim" / "profiles" / (name + ".json")).read_text())
    assert problems(data) == []
    assert data["name"] == name and data["notes"]
    if data.get("host_tree"):
        assert (pathlib.Path(HOSTS_DIR) / data["host_tree"] / "proc" / "cpuinfo").is_file()
    if data["dialect"] == "sysreg":
        names = [prop["name"] for prop in data["expansion"]["props"]]
        assert BOOL_PROPS <= set(names) and {"sve%d" % (128 * vq) for vq in range(1, 17)} <= set(names)
        assert len([name for name in names if name.startswith("SYSREG_")]) >= 30
        for prop in data["expansion"]["props"]:
            if prop["name"].startswith("SYSREG_"):
                default = prop["default"]   # a JSON integer, not a boolean (bool is an int in Python)
                assert isinstance(default, int) and not isinstance(default, bool), prop
                assert prop["kvm_allows"] and prop["why"], prop
            else:
                assert isinstance(prop["default"], bool), prop
        return
    if data["dialect"] == "query-cpu-model-expansion":
        return
    assert len(data["properties"]) >= 30
    for prop in data["properties"]:
        name = prop["name"]
        assert re.match(r"^(feat_[A-Za-z0-9]+|hw_prop_[A-Za-z0-9_]+)$", name) or name in BOOL_PROPS \
            or re.match(r"^sve[0-9]+$", name), name
        for value in prop["supported-values"]:
            low, _dash, high = value.partition("-")
            if high:
                assert int(low) < int(high), (name, value)


@pytest.mark.parametrize("name", PROPS_INFO)
def test_number_values_top_out_at_the_hosts_id_register_field(name):
    """Every number property's highest value is the host's field value (or 0 where KVM hides it)."""
    data = load_profile(name).data
    checked = 0
    for prop in data["properties"]:
        if prop["type"] != "number" or "field" not in prop:
            continue
        reg, field = prop["field"].split(".")
        assert field in FIELDS[reg]
        host = field_value(data["id_registers"], prop["field"])
        assert max(numbers_in(prop["supported-values"])) == (0 if prop.get("kvm_hides") else host), prop
        checked += 1
    assert checked >= 30


def _values(name):
    return {p["name"]: p["supported-values"] for p in load_profile(name).data["properties"]}


def _accepted(values):
    """What a value list accepts: ranges expanded to integers, named values as they are."""
    return numbers_in(values) | {v for v in values if not re.match(r"^[0-9]+(-[0-9]+)?$", v)}


def test_old_kernel_narrows_the_new_kernels_values():
    new = {name: _accepted(values) for name, values in _values("neoverse-n1").items()}
    old = {name: _accepted(values) for name, values in _values("neoverse-n1-oldkernel").items()}
    assert set(new) == set(old)
    assert all(old[name] <= new[name] for name in new)
    assert {"hw_prop_WRPs", "feat_AES", "hw_prop_PARange", "hw_prop_DminLine"} <= {
        name for name in new if old[name] < new[name]}
    # what KVM never lets a VMM write is the same under both kernels
    assert {name for name in new if old[name] == new[name]} >= {"feat_RAS", "hw_prop_BRPs", "hw_prop_ASIDBits"}


@pytest.mark.parametrize("name", ["neoverse-n1", "neoverse-v1", "neoverse-v2", "neoverse-n1-oldkernel"])
def test_fields_kvm_does_not_let_a_vmm_write_offer_only_the_host_value(name):
    """sys_regs.c leaves ASIDBits (ID_AA64MMFR0_EL1), VMIDBits (ID_AA64MMFR1_EL1), BRPs and CTX_CMPs
    (ID_AA64DFR0_EL1), RAS (ID_AA64PFR0_EL1) and RAS_frac (ID_AA64PFR1_EL1) out of the writable masks."""
    values = _values(name)
    assert values["hw_prop_ASIDBits"] == ["2"] and values["hw_prop_VMIDBits"] == ["2"]   # 16-bit ASIDs, VMIDs
    assert values["hw_prop_BRPs"] == ["5"] and values["hw_prop_CTX_CMPs"] == ["1"]      # 6 breakpoints, 2 linked
    assert values["feat_RAS"] == (["1.0"] if name.startswith("neoverse-n1") else ["1.1_base"])


def test_parange_is_lower_safe_where_kvm_lets_a_vmm_write_it():
    """ID_AA64MMFR0_EL1.PARange is FTR_LOWER_SAFE and in the writable mask: 0 (32 bits) up to the host's 5 (48)."""
    for name in ("neoverse-n1", "neoverse-v1", "neoverse-v2"):
        assert _values(name)["hw_prop_PARange"] == ["0-5"], name
    assert _values("neoverse-n1-oldkernel")["hw_prop_PARange"] == ["5"]   # Linux 5.15: invariant


def test_a_few_values_against_the_arm_field_semantics():
    n1, v1, v2 = _values("neoverse-n1"), _values("neoverse-v1"), _values("neoverse-v2")
    assert n1["hw_prop_WRPs"] == ["0-3"]                     # 4 watchpoints, WRPs in ID_AA64DFR0_EL1's mask
    assert n1["feat_ATOMIC"] == ["0", "2"]                   # Atomic has no encoding 1 (KVM would take it)
    assert n1["hw_prop_APA"] == ["0"] and v1["hw_prop_APA"] == ["3", "off"]   # not writable; the pauth flag gates
    assert v1["feat_SHA2"] == ["0-2"] and n1["feat_SHA2"] == ["0-1"]          # SHA512 on V1 only
    assert n1["hw_prop_DebugVer"] == ["6-8"]                 # Debugv8 (6) is the floor KVM keeps
    assert n1["hw_prop_PMUVer"] == ["0-1", "4", "off"]       # PMUVer 2 and 3 are reserved
    assert n1["hw_prop_DminLine"] == ["0-4"]                 # CTR_EL0.DminLine is FTR_LOWER_SAFE and writable
    assert n1["hw_prop_BS"] == ["4"]                         # DCZID_EL0 is no register KVM writes
    assert n1["feat_CSV2"] == ["0.0", "1.0"] and v2["feat_CSV2"] == ["0.0", "1.0", "2.0"]
    assert v2["feat_SEL2"] == ["0-1"] and v2["feat_MPAM"] == ["0.0"]          # MPAM hidden, SEL2 not
    assert v2["feat_RNG"] == ["0"]                           # Grace has no FEAT_RNG (its tree has no rng hwcap)


def _sysreg(name):
    return {p["name"][len("SYSREG_"):]: p for p in load_profile(name).data["expansion"]["props"]
            if p["name"].startswith("SYSREG_")}


def test_sysreg_values_by_rule_kind_checked_by_hand():
    n1, v2, a1 = _sysreg("neoverse-n1-sysreg"), _sysreg("neoverse-v2-sysreg"), _sysreg("ampereone-sysreg")
    # FTR_LOWER_SAFE, writable: a host value of 2 offers 0 to 2
    assert (v2["ID_AA64ISAR0_EL1_AES"]["default"], v2["ID_AA64ISAR0_EL1_AES"]["kvm_allows"]) == (2, ["0x0-0x2"])
    assert (n1["ID_AA64DFR0_EL1_WRPs"]["default"], n1["ID_AA64DFR0_EL1_WRPs"]["kvm_allows"]) == (3, ["0x0-0x3"])
    assert n1["ID_AA64MMFR0_EL1_PARange"]["kvm_allows"] == ["0x0-0x5"]
    # FTR_LOWER_SAFE with KVM's floor: DebugVer never below 6 (set_id_aa64dfr0_el1)
    assert v2["ID_AA64DFR0_EL1_DebugVer"]["kvm_allows"] == ["0x6-0x9"]
    # EL0/EL1 stay AArch64 (set_id_aa64pfr0_el1): only 1
    assert a1["ID_AA64PFR0_EL1_EL0"]["kvm_allows"] == ["0x1"]
    # FTR_EXACT: the host's value or the safe value (CTR_EL0.L1Ip: PIPT 3 or VIPT 2)
    assert (n1["CTR_EL0_L1Ip"]["default"], n1["CTR_EL0_L1Ip"]["kvm_allows"]) == (3, ["0x2-0x3"])
    # a field KVM does not let a VMM write: only its value (SVE follows the vCPU flag instead)
    assert (v2["ID_AA64PFR0_EL1_SVE"]["kvm_allows"], v2["ID_AA64PFR0_EL1_SVE"]["gated_by"]) == (["0x1"], "sve")
    # signed (S_ARM64_FTR_BITS): 0xf is -1, "not implemented"; lower-safe compares signed, so every value that reads
    # as negative is below an implemented 0, and a host without the feature takes only those
    assert n1["ID_AA64DFR0_EL1_DoubleLock"]["kvm_allows"] == ["0x0", "0x8-0xf"]
    assert (v2["ID_AA64DFR0_EL1_DoubleLock"]["default"], v2["ID_AA64DFR0_EL1_DoubleLock"]["kvm_allows"]) == (
        0xf, ["0x8-0xf"])
    assert n1["ID_AA64MMFR0_EL1_TGran4"]["kvm_allows"] == ["0x0", "0x8-0xf"]
    # FTR_HIGHER_SAFE: the host's value or any higher one
    assert n1["ID_AA64MMFR1_EL1_SpecSEI"]["kvm_allows"] == ["0x0-0xf"]
    # PMUVer follows the PMU flag; 2 and 3 are reserved but KVM compares numbers
    assert (a1["ID_AA64DFR0_EL1_PMUVer"]["kvm_allows"], a1["ID_AA64DFR0_EL1_PMUVer"]["gated_by"]) == (
        ["0x0-0x6"], "pmu")


@pytest.mark.parametrize("name", SYSREG)
def test_sysreg_profiles_offer_nothing_kvm_keeps_from_a_vmm(name):
    fields = _sysreg(name)
    for field in ("ID_AA64MMFR0_EL1_ASIDBits", "ID_AA64MMFR1_EL1_VMIDBits", "ID_AA64DFR0_EL1_BRPs",
                  "ID_AA64DFR0_EL1_CTX_CMPs", "ID_AA64PFR0_EL1_RAS", "ID_AA64ISAR1_EL1_APA", "ID_AA64ISAR1_EL1_GPA",
                  "CTR_EL0_CWG", "ID_AA64MMFR1_EL1_VH"):
        assert field not in fields, field
    registers = load_profile(name).data["id_registers"]
    for prop in fields.values():
        assert prop["default"] == field_value(registers, prop["field"]), prop


def test_sysreg_hosts_and_their_sve():
    expansions = {name: {p["name"]: p for p in load_profile(name).data["expansion"]["props"]} for name in SYSREG}
    v2, nosve = expansions["neoverse-v2-sysreg"], expansions["neoverse-v2-nosve-sysreg"]
    assert v2["sve"]["default"] is True and [n for n in v2 if n.startswith("sve") and v2[n]["default"]] == [
        "sve", "sve128"]                                          # Grace: 128-bit vectors only
    assert nosve["sve"] == {"name": "sve", "default": False, "flippable": False}   # arm64.nosve: sve only off
    assert not [n for n in nosve if n.startswith("sve") and nosve[n]["default"]]   # and no length
    assert nosve["SYSREG_ID_AA64PFR0_EL1_SVE"]["default"] == 0
    assert all(nosve[n]["default"] == 0 for n in nosve if n.startswith("SYSREG_ID_AA64ZFR0_EL1_"))
    ampere = expansions["ampereone-sysreg"]
    assert load_profile("ampereone-sysreg").data["cpu"]["midr"] == ["0xc00fac30"]
    assert ampere["sve"]["default"] is False and ampere["pauth"] == {"name": "pauth", "default": True,
                                                                     "flippable": True}
    registers = load_profile("ampereone-sysreg").data["id_registers"]
    assert (field_value(registers, "ID_AA64ISAR1_EL1.APA"), field_value(registers, "ID_AA64ISAR1_EL1.GPA")) == (3, 1)
    assert field_value(registers, "ID_AA64ISAR1_EL1.API") == field_value(registers, "ID_AA64ISAR1_EL1.GPI") == 0
    trees = {name: load_profile(name).data["host_tree"] for name in SYSREG}
    assert trees == {"ampereone-sysreg": "ampereone", "neoverse-n1-sysreg": "neoverse-n1",
                     "neoverse-v2-nosve-sysreg": "neoverse-v2-nosve", "neoverse-v2-sysreg": "neoverse-v2"}


def test_ampereone_registers_agree_with_its_recorded_hwcaps():
    """Each hwcap of tools/armsim/hosts/ampereone/proc/cpuinfo, and each one it lacks, against the ID register
    field Linux derives it from (arch/arm64/kernel/cpufeature.c arm64_elf_hwcaps)."""
    cpuinfo = (pathlib.Path(HOSTS_DIR) / "ampereone" / "proc" / "cpuinfo").read_text()
    hwcaps = set(re.search(r"^Features\s*:\s*(.*)$", cpuinfo, re.M).group(1).split())
    registers = load_profile("ampereone-sysreg").data["id_registers"]
    for hwcap, ref, minimum in (("rng", "ID_AA64ISAR0_EL1.RNDR", 1), ("flagm2", "ID_AA64ISAR0_EL1.TS", 2),
                                ("sha512", "ID_AA64ISAR0_EL1.SHA2", 2), ("pmull", "ID_AA64ISAR0_EL1.AES", 2),
                                ("ilrcpc", "ID_AA64ISAR1_EL1.LRCPC", 2), ("dcpodp", "ID_AA64ISAR1_EL1.DPB", 2),
                                ("bti", "ID_AA64PFR1_EL1.BT", 1), ("ssbs", "ID_AA64PFR1_EL1.SSBS", 2),
                                ("ecv", "ID_AA64MMFR0_EL1.ECV", 1), ("uscat", "ID_AA64MMFR2_EL1.AT", 1),
                                ("paca", "ID_AA64ISAR1_EL1.APA", 1), ("pacg", "ID_AA64ISAR1_EL1.GPA", 1),
                                ("sve", "ID_AA64PFR0_EL1.SVE", 1), ("dgh", "ID_AA64ISAR1_EL1.DGH", 1),
                                ("afp", "ID_AA64MMFR1_EL1.AFP", 1), ("bf16", "ID_AA64ISAR1_EL1.BF16", 1),
                                ("ebf16", "ID_AA64ISAR1_EL1.BF16", 2), ("wfxt", "ID_AA64ISAR2_EL1.WFxT", 2)):
        assert (hwcap in hwcaps) == (field_value(registers, ref) >= minimum), hwcap


@pytest.mark.parametrize("mutate, message", [
    (lambda d: _prop(d, "hw_prop_ASIDBits").update({"supported-values": ["0", "2"]}),
     "hw_prop_ASIDBits: values 0,2, but for ID_AA64MMFR0_EL1.ASIDBits=2 KVM does not let a VMM write it"),
    (lambda d: _prop(d, "hw_prop_VMIDBits").update({"supported-values": ["0-2"]}),
     "hw_prop_VMIDBits: values 0-2, but for ID_AA64MMFR1_EL1.VMIDBits=2 KVM does not let a VMM write it"),
    (lambda d: _prop(d, "hw_prop_PARange").update({"supported-values": ["5"]}),
     "hw_prop_PARange: values 5, but for ID_AA64MMFR0_EL1.PARange=5 the kernel's rule gives 0-5"),
    (lambda d: _prop(d, "feat_RAS").update({"supported-values": ["0.0", "1.0"]}), "property feat_RAS: values"),
    (lambda d: _exp(d, "sve128").update({"flippable": False, "refusal": "cannot disable sve128"}),
     "sve128: under sve_lengths kvm a length requires sve and is flippable"),
])
def test_problems_keep_the_corrections_from_regressing(mutate, message):
    data = copy.deepcopy(load_profile("neoverse-v1").data)
    mutate(data)
    assert any(message in issue for issue in problems(data)), problems(data)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["expansion"]["props"].append({"name": "SYSREG_ID_AA64MMFR0_EL1_ASIDBits", "default": 2,
                                               "flippable": True, "field": "ID_AA64MMFR0_EL1.ASIDBits",
                                               "kvm_allows": ["0x2"], "why": "x"}),
     "KVM does not let a VMM write ID_AA64MMFR0_EL1.ASIDBits"),
    (lambda d: _exp(d, "SYSREG_ID_AA64ISAR0_EL1_AES").update({"kvm_allows": ["0x2"]}),
     "the kernel's rule for ID_AA64ISAR0_EL1.AES at host value 2 gives ['0x0-0x2']"),
    (lambda d: _exp(d, "SYSREG_ID_AA64ISAR0_EL1_AES").update({"default": 1}), "default 1 but the host's"),
    (lambda d: _exp(d, "SYSREG_ID_AA64DFR0_EL1_PMUVer").pop("gated_by"), "gated_by must be 'pmu'"),
    (lambda d: _exp(d, "SYSREG_ID_AA64ISAR0_EL1_AES").update({"name": "SYSREG_ID_AA64ISAR0_EL1_Aes"}),
     "Arm's spelling"),
])
def test_problems_check_sysreg_props_against_the_kernel_rule(mutate, message):
    data = copy.deepcopy(load_profile("neoverse-v2-sysreg").data)
    mutate(data)
    assert any(message in issue for issue in problems(data)), problems(data)


def _prop(data, name):
    return next(prop for prop in data["properties"] if prop["name"] == name)


def _exp(data, name):
    return next(prop for prop in data["expansion"]["props"] if prop["name"] == name)


def test_dialect2_fixture_is_what_the_simulator_sends(raw):
    send, recv = json.loads(DIALECT2.read_text())
    client = raw("neoverse-v2")
    client.send(send["raw"])
    assert client.line() == recv["raw"].encode() + b"\n"


# --------------------------------------------------------------------------- the released-QEMU profile vs QEMU


def _normalise(line):
    message = json.loads(line)
    if "timestamp" in message:
        message["timestamp"] = "T"
    return message


def _replay(client, steps):
    """Send each step's "send" lines, compare the replies with the recorded "recv" lines."""
    for name, log in steps:
        sent = [entry["raw"] for entry in log if entry["dir"] == "send"]
        expected = [entry["raw"] for entry in log if entry["dir"] == "recv"]
        for raw in sent:
            client.send(raw)
        if not expected:
            assert client.silent(0.15), name
        for line in expected:
            got = client.line()
            if '"name": "device_add"' in line:  # query-commands: same shape, our (shorter) command list
                assert set(map(json.dumps, json.loads(got)["return"][0])) == {'"name"'}, name
            elif '"timestamp"' in line:
                assert _normalise(got) == _normalise(line), name
            else:
                assert got == line.encode() + b"\n", name


def test_released_profile_replays_the_qemu_7_2_transcripts(raw):
    """Every transcript whose command the simulator implements gets byte-identical replies (events: same but time)."""
    skip = {"query-cpu-definitions", "query-machines", "query-gic-capabilities", "query-cpus-fast", "query-qmp-schema"}
    steps = []
    for path in sorted(TRANSCRIPTS.glob("[0-9][0-9]_*.json")):
        log = json.loads(path.read_text())
        if not any(word in path.name for word in skip) and path.name != "00_greeting.json":
            steps.append((path.name, log))
    client = raw("qemu-7.2-released", negotiate=False)
    greeting = json.loads((TRANSCRIPTS / "00_greeting.json").read_text())[0]["raw"]
    assert client.line() == greeting.encode() + b"\n"
    _replay(client, steps)


def test_released_profile_replays_the_edge_cases(raw):
    client = raw("qemu-7.2-released", negotiate=False)
    client.msg()
    cases = json.loads((TRANSCRIPTS / "edge_cases.json").read_text())
    _replay(client, [(case["step"], case["log"]) for case in cases])


def test_released_profile_expansion_matches_transcript_10_exactly(qmp_released):
    recorded = json.loads(json.loads((TRANSCRIPTS / "10_query-cpu-model-expansion_full_max.json").read_text())[1]["raw"])
    assert qmp_released == recorded["return"]


@pytest.fixture
def qmp_released(raw):
    client = raw("qemu-7.2-released")
    client.send('{"execute": "query-cpu-model-expansion", "arguments": {"type": "full", "model": {"name": "max"}}}')
    return client.msg()["return"]


# --- a paused start with -cpu: what the simulated host's QEMU and KVM refuse ------------------------------------

@pytest.mark.parametrize("profile, accel, cpu, stderr", [
    ("neoverse-v1", "kvm", "host,sve=on,sve256=on,hw_prop_WRPs=3,feat_RAS=1.1_base,hw_prop_PMUVer=off", None),
    # QEMU under KVM: an enabled length needs every smaller host length, and sve128 alone cannot go
    ("neoverse-v1", "kvm", "host,sve=on,sve128=off,sve256=on", "qemu-system-aarch64: cannot disable sve128"),
    ("neoverse-v1", "kvm", "host,sve128=off", "qemu-system-aarch64: cannot disable sve128"),
    ("neoverse-v1", "kvm", "host,sve=off,sve128=off", None),
    ("neoverse-v1", "kvm", "host,sve256=off", None),
    ("neoverse-v1", "kvm", "host,sve384=on", "qemu-system-aarch64: cannot enable sve384"),
    ("neoverse-v1", "kvm", "host,hw_prop_ASIDBits=0",               # not in KVM's writable mask
     "qemu-system-aarch64: hw_prop_ASIDBits=0: KVM refused the ID register value (KVM_SET_ONE_REG: Invalid argument)\n"
     "qemu-system-aarch64: kvm_init_vcpu: kvm_arch_init_vcpu failed (0): Invalid argument"),
    ("neoverse-v1", "kvm", "host,hw_prop_PARange=2", None),         # FTR_LOWER_SAFE and writable
    ("neoverse-v2-sysreg", "kvm", "host,sve128=off", "qemu-system-aarch64: cannot disable sve128"),
    ("neoverse-v2-sysreg", "kvm", "host,sve=off,sve128=off", None),
    ("neoverse-v2-sysreg", "kvm", "host,SYSREG_ID_AA64ISAR0_EL1_AES=0x1,SYSREG_ID_AA64MMFR0_EL1_PARange=0x2", None),
    ("neoverse-v2-sysreg", "kvm", "host,SYSREG_ID_AA64ISAR0_EL1_AES=0x3",
     "qemu-system-aarch64: SYSREG_ID_AA64ISAR0_EL1_AES=0x3: KVM refused the ID register value (KVM_SET_ONE_REG: "
     "Invalid argument)\nqemu-system-aarch64: kvm_init_vcpu: kvm_arch_init_vcpu failed (0): Invalid argument"),
    ("neoverse-v2-sysreg", "kvm", "host,SYSREG_ID_AA64DFR0_EL1_DoubleLock=0x0",      # not implemented on Grace
     "qemu-system-aarch64: SYSREG_ID_AA64DFR0_EL1_DoubleLock=0x0: KVM refused the ID register value "
     "(KVM_SET_ONE_REG: Invalid argument)\nqemu-system-aarch64: kvm_init_vcpu: kvm_arch_init_vcpu failed (0): "
     "Invalid argument"),
    ("neoverse-v2-sysreg", "kvm", "host,SYSREG_ID_AA64DFR0_EL1_DebugVer=5",          # below Armv8 debug
     "qemu-system-aarch64: SYSREG_ID_AA64DFR0_EL1_DebugVer=5: KVM refused the ID register value (KVM_SET_ONE_REG: "
     "Invalid argument)\nqemu-system-aarch64: kvm_init_vcpu: kvm_arch_init_vcpu failed (0): Invalid argument"),
    ("neoverse-v2-sysreg", "kvm", "host,sve=off,SYSREG_ID_AA64PFR0_EL1_SVE=0x0", None),
    ("neoverse-v2-sysreg", "kvm", "host,sve=off,SYSREG_ID_AA64ZFR0_EL1_SVEver=0x1",  # RAZ without the SVE flag
     "qemu-system-aarch64: SYSREG_ID_AA64ZFR0_EL1_SVEver=0x1: KVM refused the ID register value (KVM_SET_ONE_REG: "
     "Invalid argument)\nqemu-system-aarch64: kvm_init_vcpu: kvm_arch_init_vcpu failed (0): Invalid argument"),
    ("neoverse-v2-sysreg", "kvm", "host,SYSREG_ID_AA64ISAR0_EL1_AES=two",
     "qemu-system-aarch64: can't apply global host-arm-cpu.SYSREG_ID_AA64ISAR0_EL1_AES=two: Parameter "
     "'SYSREG_ID_AA64ISAR0_EL1_AES' expects uint64"),
    ("neoverse-v2-sysreg", "kvm", "host,SYSREG_ID_AA64MMFR0_EL1_ASIDBits=0x2",       # QEMU does not offer it
     "qemu-system-aarch64: can't apply global host-arm-cpu.SYSREG_ID_AA64MMFR0_EL1_ASIDBits=0x2: Property "
     "'host-arm-cpu.SYSREG_ID_AA64MMFR0_EL1_ASIDBits' not found"),
    ("neoverse-v2-nosve-sysreg", "kvm", "host,sve=on", "qemu-system-aarch64: 'sve' feature not supported by KVM on "
     "this host"),
    ("neoverse-v2-nosve-sysreg", "kvm", "host,sve128=off,SYSREG_ID_AA64PFR0_EL1_SVE=0x0", None),
    ("ampereone-sysreg", "kvm", "host,SYSREG_ID_AA64ISAR1_EL1_LRCPC=0x1,pauth=off", None),
    ("neoverse-v1", "kvm", "max,pmu=off", None),
    ("neoverse-v1", "kvm", "host,hw_prop_WRPs=0x2", None),          # QEMU takes 0x hex for an integer
    ("neoverse-v1", "kvm", "host,sve=off,sve256=on", "qemu-system-aarch64: cannot enable sve256"),
    ("neoverse-v1", "kvm", "host,aarch64=off",
     "qemu-system-aarch64: 'aarch64' feature cannot be disabled unless KVM is enabled and 32-bit EL1 is supported"),
    ("neoverse-v1", "kvm", "host,pmu=maybe",
     "qemu-system-aarch64: can't apply global host-arm-cpu.pmu=maybe: Parameter 'pmu' expects 'on' or 'off'"),
    ("neoverse-v1", "kvm", "host,sve",
     "qemu-system-aarch64: Expected key=value format, found sve"),
    ("neoverse-v1", "kvm", "cortex-a57", "qemu-system-aarch64: unable to find CPU model 'cortex-a57'"),
    ("neoverse-v1", "tcg", "host", "qemu-system-aarch64: The 'host' CPU type can only be used with KVM or HVF"),
    ("neoverse-v1", "kvm", "host,feat_RAS=2.0",                     # listed nowhere on this host
     "qemu-system-aarch64: feat_RAS=2.0: KVM refused the ID register value (KVM_SET_ONE_REG: Invalid argument)\n"
     "qemu-system-aarch64: kvm_init_vcpu: kvm_arch_init_vcpu failed (0): Invalid argument"),
    ("neoverse-n1", "kvm", "host,hw_prop_WRPs=2", None),
    ("neoverse-n1-oldkernel", "kvm", "host,hw_prop_WRPs=2",         # Linux 5.15: the host's exact value only
     "qemu-system-aarch64: hw_prop_WRPs=2: KVM refused the ID register value (KVM_SET_ONE_REG: Invalid argument)\n"
     "qemu-system-aarch64: kvm_init_vcpu: kvm_arch_init_vcpu failed (0): Invalid argument"),
    ("neoverse-n1-oldkernel", "kvm", "host,hw_prop_WRPs=3", None),
    ("qemu-7.2-released", "tcg", "host", "qemu-system-aarch64: unable to find CPU model 'host'"),   # measured, 7.2
    ("qemu-7.2-released", "tcg", "max,pauth=off,pauth-impdef=on",
     "qemu-system-aarch64: cannot enable pauth-impdef without pauth"),
    ("qemu-7.2-released", "tcg", "max,feat_RAS=1.0",                # measured with Debian's QEMU 7.2
     "qemu-system-aarch64: can't apply global max-arm-cpu.feat_RAS=1.0: Property 'max-arm-cpu.feat_RAS' not found"),
    ("qemu-7.2-released", "tcg", "cortex-a57,pmu=off", None),
])
def test_start_refusal_judges_the_cpu_from_the_profile(profile, accel, cpu, stderr):
    assert load_profile(profile).start_refusal(cpu, accel) == stderr


def test_a_profile_may_word_the_vcpu_init_refusal_itself():
    profile = load_profile("neoverse-n1-oldkernel")
    profile.data["vcpu_init_refusal"] = "qemu-system-aarch64: KVM: {name} takes {supported}, not {value}"
    assert profile.start_refusal("host,hw_prop_WRPs=1", "kvm") == "qemu-system-aarch64: KVM: hw_prop_WRPs takes 3, not 1"


def test_a_kernel_override_changes_the_fields_and_what_kvm_takes():
    """arm64.nobti makes the host kernel's ID_AA64PFR1_EL1.BT 0: the profile that follows still passes problems(),
    and a guest asking the old value is refused at vCPU init."""
    from armsim.profiles import Profile, override_fields
    base = load_profile("neoverse-v2-sysreg")
    data = override_fields(base.data, {"ID_AA64PFR1_EL1.BT": 0}, "Rebooted with arm64.nobti.")
    assert problems(data) == [] and data["notes"][-1] == "Rebooted with arm64.nobti."
    assert field_value(data["id_registers"], "ID_AA64PFR1_EL1.BT") == 0
    assert field_value(data["id_registers"], "ID_AA64PFR1_EL1.SSBS") == 2                    # the rest is kept
    assert base.start_refusal("host,SYSREG_ID_AA64PFR1_EL1_BT=0x1", "kvm") is None
    assert "SYSREG_ID_AA64PFR1_EL1_BT=0x1: KVM refused" in Profile(data).start_refusal(
        "host,SYSREG_ID_AA64PFR1_EL1_BT=0x1", "kvm")
    props_info = override_fields(load_profile("neoverse-n1").data, {"ID_AA64DFR0_EL1.WRPs": 1}, "x")
    assert problems(props_info) == [] and _prop(props_info, "hw_prop_WRPs")["supported-values"] == ["0-1"]
