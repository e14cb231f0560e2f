"""props_facts against the simulated hosts, where pytest does better than an integration target: the profiles cover
every dialect, the SYSREG_ values the collection offers checked against the simulated kernel's own rule table, and a
monitor held by another client at the same time. Each profile's fact, the cache, a monitor someone else runs and the
host identity of a recorded tree are the integration targets props_facts and props_cache (tests/integration/targets).
"""

import os
import pathlib
import subprocess
import sys

import pytest

from armsim import available_profiles, load_profile, write_wrapper
from armsim.profiles import numbers_in

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROFILES = sorted(available_profiles())


def test_profiles_cover_every_dialect():
    dialects = {load_profile(name).dialect for name in PROFILES}
    assert {"query-arm-cpu-props-info", "query-cpu-props-info", "query-cpu-model-expansion", "sysreg"} <= dialects


@pytest.mark.parametrize("name", sorted(n for n in PROFILES if load_profile(n).dialect == "sysreg"))
def test_sysreg_facts_never_offer_what_the_simulated_kernel_refuses(ansible_module, tmp_path, name):
    """The collection reads each SYSREG_ property by its own field table (sysreg.py); whatever it offers, the host's
    kernel (the profile's kvm_allows, from the simulator's own rule table) must take, and the host's value is always
    offered. Where the two tables differ the collection may only be stricter (e.g. PMUVer's reserved 2 and 3)."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import sysreg
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


def test_busy_monitor_times_out_with_a_message_that_says_so(ansible_module, running_monitor):
    """QEMU serves one QMP client at a time: while another client holds the monitor, ours never gets a greeting."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host.qmp import QMPClient
    socket_path, proc = running_monitor
    with QMPClient(socket_path, timeout=5):
        run = ansible_module("props_facts", {"qmp_socket": socket_path, "accel": "kvm", "timeout": 1})
    assert run.failed
    assert socket_path in run.result["msg"]
    assert "busy" in run.result["msg"] or "one client" in run.result["msg"], run.result["msg"]
    assert "Traceback" not in run.output
