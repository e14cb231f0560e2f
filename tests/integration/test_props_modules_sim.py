"""props_facts and props_cache against the simulated hosts: each profile through the spawn path and a running monitor."""

import json
import os
import pathlib
import subprocess
import sys

import jsonschema
import pytest

from armsim import available_profiles, load_profile, write_wrapper
from armsim.profiles import host_tree, numbers_in

ROOT = pathlib.Path(__file__).resolve().parents[2]
FACT_SCHEMA = json.loads((ROOT / "docs" / "schemas" / "arm_cpu_props.schema.json").read_text())
PROFILES = sorted(available_profiles())


def test_profiles_cover_every_dialect():
    dialects = {load_profile(name).dialect for name in PROFILES}
    assert {"query-arm-cpu-props-info", "query-cpu-props-info", "query-cpu-model-expansion", "sysreg"} <= dialects


@pytest.mark.parametrize("name", PROFILES)
def test_props_facts_reports_each_profile(ansible_module, tmp_path, name):
    profile = load_profile(name).data
    emulator = write_wrapper(str(tmp_path / "qemu-system-aarch64"), name)
    accel = "kvm" if profile.get("kvm") else "tcg"
    args = {"emulator": emulator, "accel": accel, "cache_dir": str(tmp_path / "c")}
    tree = host_tree(profile)
    if tree:
        args.update(sysfs_path=tree[0], procfs_path=tree[1])
    run = ansible_module("props_facts", args)
    assert not run.failed, run.output
    fact = run.result["ansible_facts"]["arm_cpu_props"]
    jsonschema.validate(fact, FACT_SCHEMA)
    assert fact["supported"] is True
    assert fact["dialect"] == profile["dialect"]
    assert fact["accel"] == accel
    if tree:   # the host's identity comes from the profile's recorded tree
        assert fact["host_cpu"]["midr"] == ["0x00000000%s" % midr[2:] for midr in profile["cpu"]["midr"]
                                            if midr != "0x00000000"]   # TCG on x86-64: no Arm CPU to record
    if profile["dialect"] in ("query-cpu-model-expansion", "sysreg"):
        assert set(fact["properties"]) == {prop["name"] for prop in profile["expansion"]["props"]}
    else:
        assert len(fact["properties"]) >= 30
        # dialect 2 sends a range as min/max members, which come back as "lo-hi" after the other values
        assert {name: sorted(prop["supported_values"]) for name, prop in fact["properties"].items()} == {
            prop["name"]: sorted(prop["supported-values"]) for prop in profile["properties"]}


@pytest.mark.parametrize("name", sorted(n for n in PROFILES if load_profile(n).dialect == "sysreg"))
def test_sysreg_facts_never_offer_what_the_simulated_kernel_refuses(ansible_module, tmp_path, name):
    """The collection reads each SYSREG_ property by its own field table (sysreg.py); whatever it offers, the host's
    kernel (the profile's kvm_allows, from the simulator's own rule table) must take, and the host's value is always
    offered. Where the two tables differ the collection may only be stricter (e.g. PMUVer's reserved 2 and 3)."""
    from ansible_collections.armvirt.cpu.plugins.module_utils import sysreg
    profile = load_profile(name).data
    emulator = write_wrapper(str(tmp_path / "qemu-system-aarch64"), name)
    run = ansible_module("props_facts", {"emulator": emulator, "accel": "kvm", "cache_dir": str(tmp_path / "c")})
    fact = run.result["ansible_facts"]["arm_cpu_props"]
    checked = 0
    for spec in profile["expansion"]["props"]:
        if "kvm_allows" not in spec:
            continue
        prop = fact["properties"][spec["name"]]
        offered = numbers_in(prop["supported_values"])
        takes = numbers_in(spec["kvm_allows"]) | ({0} if spec.get("gated_by") else set())   # 0: with the flag off
        assert spec["default"] in offered and offered <= takes, (spec, prop)
        parsed = sysreg.parse_name(spec["name"])
        assert sysreg.lookup(spec["name"]).name == parsed[1], spec["name"]   # Arm's spelling, as in sysreg.FIELDS
        checked += 1
    assert checked >= 30
    # sve128=off is offered only together with sve=off where the host has SVE (QEMU under KVM refuses it alone)
    if profile["name"] == "neoverse-v2-sysreg":
        assert fact["properties"]["sve128"]["conditional_values"]["off"]["with"] == {"sve": "off"}
    if profile["name"] == "neoverse-v2-nosve-sysreg":
        assert fact["properties"]["sve"]["supported_values"] == ["off"]
        assert all(fact["properties"]["sve%d" % (128 * vq)]["supported_values"] == ["off"] for vq in range(1, 17))


def test_cache_round_trip_on_a_patched_profile(ansible_module, tmp_path):
    emulator = write_wrapper(str(tmp_path / "qemu-system-aarch64"), "neoverse-v1")
    args = {"emulator": emulator, "accel": "kvm", "cache_dir": str(tmp_path / "cache")}
    first = ansible_module("props_cache", args)
    assert first.result["changed"] is True, first.output
    assert ansible_module("props_cache", args).result["changed"] is False
    cached = ansible_module("props_facts", args)
    assert cached.result["ansible_facts"]["arm_cpu_props"]["source"] == "cache"
    assert cached.result["ansible_facts"]["arm_cpu_props"]["properties"] == \
        first.result["ansible_facts"]["arm_cpu_props"]["properties"]

    write_wrapper(emulator, "neoverse-v1")  # an emulator update: same path, new ctime
    stale = ansible_module("props_facts", args)
    assert stale.result["ansible_facts"]["arm_cpu_props"]["source"] == "probe"
    assert "emulator changed" in stale.result["cache"]["status"]


def test_qemu_without_any_dialect_is_unsupported_not_failed(ansible_module, tmp_path):
    """A QEMU that answers but offers no dialect: supported false with the reason, and the task does not fail."""
    profile = load_profile("qemu-7.2-released").data
    profile["commands"] = ["qmp_capabilities", "query-version", "query-commands", "quit"]
    profile_path = tmp_path / "no-dialect.json"
    profile_path.write_text(json.dumps(profile))
    emulator = write_wrapper(str(tmp_path / "qemu-system-aarch64"), str(profile_path))
    run = ansible_module("props_facts", {"emulator": emulator, "accel": "tcg", "cache": "ignore",
                                         "cache_dir": str(tmp_path / "c")})
    assert not run.failed, run.output
    fact = run.result["ansible_facts"]["arm_cpu_props"]
    jsonschema.validate(fact, FACT_SCHEMA)
    assert fact["supported"] is False
    assert fact["dialect"] is None
    assert fact["properties"] == {}
    assert "query-cpu-model-expansion" in fact["reason"]


@pytest.fixture
def running_monitor(tmp_path):
    """A long-running simulated monitor, as a QEMU started by someone else would be."""
    socket_path = str(tmp_path / "monitor.sock")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tools"))
    proc = subprocess.Popen([sys.executable, "-m", "armsim", "serve", "--profile", "neoverse-n1", "--socket",
                             socket_path], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout.readline().strip() == socket_path
        yield socket_path, proc
    finally:
        proc.terminate()
        proc.wait(10)


def test_qmp_socket_asks_a_running_monitor_and_leaves_it_running(ansible_module, running_monitor):
    socket_path, proc = running_monitor
    for attempt in range(2):
        run = ansible_module("props_facts", {"qmp_socket": socket_path, "accel": "kvm"})
        assert not run.failed, run.output
        fact = run.result["ansible_facts"]["arm_cpu_props"]
        assert fact["emulator"] is None
        assert fact["dialect"] == "query-arm-cpu-props-info"
        assert "cache" not in run.result
    assert proc.poll() is None, "the module must not quit a monitor it did not start"


def test_busy_monitor_times_out_with_a_message_that_says_so(ansible_module, running_monitor):
    """QEMU serves one QMP client at a time: while another client holds the monitor, ours never gets a greeting."""
    from ansible_collections.armvirt.cpu.plugins.module_utils.qmp import QMPClient
    socket_path, proc = running_monitor
    with QMPClient(socket_path, timeout=5):
        run = ansible_module("props_facts", {"qmp_socket": socket_path, "accel": "kvm", "timeout": 1})
    assert run.failed
    assert socket_path in run.result["msg"]
    assert "busy" in run.result["msg"] or "one client" in run.result["msg"], run.result["msg"]
    assert "Traceback" not in run.output


def test_host_identity_from_a_recorded_tree_and_a_changed_command_line_re_probes(ansible_module, tmp_path):
    """props_cache reads the host's identity below sysfs_path/procfs_path; an arm64.nosve added to the kernel command
    line (which changes what KVM offers, but not uname, the emulator or MIDR) makes the next run re-probe."""
    import shutil
    tree = tmp_path / "host"
    shutil.copytree(str(ROOT / "tools" / "armsim" / "hosts" / "neoverse-v2"), str(tree))
    emulator = write_wrapper(str(tmp_path / "qemu-system-aarch64"), "neoverse-v2")
    args = {"emulator": emulator, "accel": "kvm", "cache_dir": str(tmp_path / "cache"),
            "sysfs_path": str(tree / "sys"), "procfs_path": str(tree / "proc")}
    first = ansible_module("props_cache", args)
    assert not first.failed, first.output
    fact = first.result["ansible_facts"]["arm_cpu_props"]
    jsonschema.validate(fact, FACT_SCHEMA)
    assert fact["host_cpu"]["names"] == ["Neoverse-V2"] and fact["host_cpu"]["midr"] == ["0x00000000410fd4f0"]
    assert fact["host_cpu"]["firmware"]["vendor"] == "NVIDIA" and "sve2" in fact["host_cpu"]["hwcaps"]
    assert ansible_module("props_facts", args).result["ansible_facts"]["arm_cpu_props"]["source"] == "cache"
    with open(str(tree / "proc" / "cmdline"), "a") as handle:
        handle.write("arm64.nosve\n")
    again = ansible_module("props_facts", args)
    assert again.result["ansible_facts"]["arm_cpu_props"]["source"] == "probe"
    assert again.result["cache"]["status"] == "kernel command line changed"
    assert again.result["ansible_facts"]["arm_cpu_props"]["host_cpu"]["kernel_cmdline_overrides"] == ["arm64.nosve"]
