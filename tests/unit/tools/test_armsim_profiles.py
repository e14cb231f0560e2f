"""Host profiles are well-formed and justified by their ID registers; the released-QEMU profile replays the real
QEMU 7.2 transcripts; the dialect-2 fixture is what the simulator sends."""

import json
import pathlib
import re

import pytest

from armsim import available_profiles, load_profile
from armsim.profiles import FIELDS, field_value, numbers_in, problems

ROOT = pathlib.Path(__file__).resolve().parents[3]
TRANSCRIPTS = ROOT / "tests" / "fixtures" / "qemu-7.2-tcg-transcripts"
DIALECT2 = ROOT / "tests" / "fixtures" / "dialect2" / "query-cpu-props-info.json"
REQUIRED = {"neoverse-n1", "neoverse-n1-oldkernel", "neoverse-v1", "neoverse-v2", "qemu-7.2-released"}
BOOL_PROPS = {"aarch64", "pmu", "pauth", "kvm-steal-time", "kvm-no-adjvtime", "sve"}


def test_the_required_profiles_exist():
    assert REQUIRED <= set(available_profiles())


@pytest.mark.parametrize("name", available_profiles())
def test_profile_structure(name):
    data = json.loads((ROOT / "tools" / "armsim" / "profiles" / (name + ".json")).read_text())
    assert problems(data) == []
    assert data["name"] == name and data["notes"]
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


@pytest.mark.parametrize("name", [n for n in available_profiles() if load_profile(n).data["properties"]])
def test_number_values_top_out_at_the_hosts_id_register_field(name):
    """The "why" of every number property: its highest value is the host's field value (or 0 where KVM hides it)."""
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


def _accepted(values):
    """What a value list accepts: ranges expanded to integers, named values as they are."""
    return numbers_in(values) | {v for v in values if not re.match(r"^[0-9]+(-[0-9]+)?$", v)}


def test_old_kernel_narrows_the_new_kernels_values():
    new = {p["name"]: _accepted(p["supported-values"]) for p in load_profile("neoverse-n1").data["properties"]}
    old = {p["name"]: _accepted(p["supported-values"]) for p in load_profile("neoverse-n1-oldkernel").data["properties"]}
    assert set(new) == set(old)
    assert all(old[name] <= new[name] for name in new)
    assert {"feat_RAS", "hw_prop_WRPs", "hw_prop_BRPs", "feat_AES"} <= {name for name in new if old[name] < new[name]}


def test_a_few_values_against_the_arm_field_semantics():
    n1 = {p["name"]: p["supported-values"] for p in load_profile("neoverse-n1").data["properties"]}
    v1 = {p["name"]: p["supported-values"] for p in load_profile("neoverse-v1").data["properties"]}
    assert n1["hw_prop_WRPs"] == ["0-3"] and n1["hw_prop_BRPs"] == ["0-5"]  # 4 watchpoints, 6 breakpoints
    assert n1["feat_ATOMIC"] == ["0", "2"]  # ATOMIC has no encoding 1
    assert n1["feat_RAS"] == ["0.0", "1.0"] and v1["feat_RAS"][-1] == "1.1_base"
    assert n1["hw_prop_APA"] == ["0"] and v1["hw_prop_APA"] == ["3", "off"]
    assert v1["feat_SHA2"] == ["0-2"] and n1["feat_SHA2"] == ["0-1"]  # SHA512 on V1 only
    assert n1["hw_prop_DebugVer"] == ["6-8"]  # Debugv8 (6) is the floor


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
    ("neoverse-v1", "kvm", "host,sve=on,sve128=off,sve256=on,hw_prop_WRPs=3,feat_RAS=1.1_base,hw_prop_PMUVer=off",
     None),
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
