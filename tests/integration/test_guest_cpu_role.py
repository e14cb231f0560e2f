"""The guest_cpu role end to end: the molecule scenario, and fleet scope across serial batches."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
FACTS = ROOT / "tests" / "fixtures" / "facts"

needs_libvirt_schema = pytest.mark.skipif(not os.path.isfile("/usr/share/libvirt/schemas/domain.rng"),
                                          reason="libvirt's schemas (Debian libvirt0) are not installed")


@pytest.mark.molecule
@needs_libvirt_schema
def test_molecule_default_scenario():
    """converge (valid policy), idempotence, verify (invalid policies fail with their messages, write nothing)."""
    molecule = shutil.which("molecule")
    if molecule is None:
        pytest.fail("molecule is not on PATH: run through scripts/test, which puts .venv/bin first")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), NO_COLOR="1",
               ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([molecule, "test", "--scenario-name", "default"], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    for step in ("converge", "idempotence", "verify"):
        assert "%s: Executed: Successful" % step in " ".join(output.split()).replace("➜ ", ""), step


@needs_libvirt_schema
def test_fleet_scope_is_one_baseline_across_serial_batches(tmp_path):
    if not (ROOT / "plugins" / "filter" / "fleet_baseline.py").exists():
        pytest.skip("armvirt.cpu.fleet_baseline is not there yet")
    out = tmp_path / "out"
    inventory = {"hypervisors": {"hosts": {
        name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
               "fact_file": str(FACTS / fact)}
        for name, fact in (("n1-01", "neoverse-n1.json"), ("v1-01", "neoverse-v1.json"))}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    plays = [
        {"hosts": "hypervisors", "gather_facts": False, "tasks": [
            {"ansible.builtin.set_fact": {"arm_cpu_props": "{{ lookup('file', fact_file) | from_json }}",
                                          "cacheable": True}}]},
        {"hosts": "hypervisors", "gather_facts": False, "serial": 1, "tasks": [
            {"ansible.builtin.include_role": {"name": "armvirt.cpu.guest_cpu"}, "vars": {
                "guest_cpu_scope": "fleet", "guest_cpu_delivery": "qemu-commandline",
                "guest_cpu_libvirt_check": False, "guest_cpu_output_dir": str(out) + "/{{ inventory_hostname }}",
                "guest_cpu_features": [{"name": "feat_RAS", "value": "1.0"}, {"name": "hw_prop_WRPs", "value": "3"}],
                "guest_cpu_guests": [{"name": "web1", "memory": 1024, "vcpus": 2}]}},
            {"ansible.builtin.copy": {"content": "{{ {'args': guest_cpu_result.qemu_cpu_args, "
                                                 "'members': guest_cpu_fleet.baseline.members} | to_json }}",
                                      "dest": str(tmp_path) + "/{{ inventory_hostname }}.json"}}]},
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plays))
    proc = subprocess.run(["ansible-playbook", "-i", str(tmp_path / "inventory.yml"), str(tmp_path / "play.yml")],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, ANSIBLE_NOCOLOR="1"), check=False)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr
    n1, v1 = (json.loads((tmp_path / ("%s.json" % host)).read_text()) for host in ("n1-01", "v1-01"))
    assert n1 == v1
    assert n1["args"] == {"web1": "host,feat_RAS=1.0,hw_prop_WRPs=3"}
    assert sorted(n1["members"]) == ["n1-01", "v1-01"]
    assert (out / "n1-01" / "web1.xml").exists() and (out / "v1-01" / "web1.xml").exists()


@needs_libvirt_schema
def test_fleet_scope_refuses_what_only_some_hosts_accept(tmp_path):
    if not (ROOT / "plugins" / "filter" / "fleet_baseline.py").exists():
        pytest.skip("armvirt.cpu.fleet_baseline is not there yet")
    inventory = {"hypervisors": {"hosts": {
        name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
               "fact_file": str(FACTS / fact)}
        for name, fact in (("n1-01", "neoverse-n1.json"), ("v1-01", "neoverse-v1.json"))}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    plays = [{"hosts": "hypervisors", "gather_facts": False, "tasks": [
        {"ansible.builtin.set_fact": {"arm_cpu_props": "{{ lookup('file', fact_file) | from_json }}",
                                      "cacheable": True}},
        {"ansible.builtin.include_role": {"name": "armvirt.cpu.guest_cpu"}, "vars": {
            "guest_cpu_scope": "fleet", "guest_cpu_libvirt_check": False,
            "guest_cpu_output_dir": str(tmp_path / "out"),
            "guest_cpu_features": [{"name": "feat_RAS", "value": "1.1"}],   # V1 has it, N1 has not
            "guest_cpu_guests": [{"name": "web1", "memory": 1024, "vcpus": 2}]}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plays))
    proc = subprocess.run(["ansible-playbook", "-i", str(tmp_path / "inventory.yml"), str(tmp_path / "play.yml")],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, ANSIBLE_NOCOLOR="1"), check=False)
    assert proc.returncode != 0
    assert proc.stdout.count("(fleet baseline): feat_RAS=1.1 is not supported") >= 2, proc.stdout[-4000:]
    assert not (tmp_path / "out").exists()


@needs_libvirt_schema
def test_domain_type_follows_each_hosts_accelerator_in_fleet_scope(tmp_path):
    """A TCG host's guests are type qemu, a KVM host's type kvm, even against one baseline of both (which carries
    no single accelerator): the type comes from each host's own arm_cpu_props."""
    if not (ROOT / "plugins" / "filter" / "fleet_baseline.py").exists():
        pytest.skip("armvirt.cpu.fleet_baseline is not there yet")
    inventory = {"hypervisors": {"hosts": {
        name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
               "fact_file": str(FACTS / fact)}
        for name, fact in (("tcg-01", "qemu-7.2-released.json"), ("n1-01", "neoverse-n1.json"))}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    out = tmp_path / "out"
    plays = [{"hosts": "hypervisors", "gather_facts": False, "tasks": [
        {"ansible.builtin.set_fact": {"arm_cpu_props": "{{ lookup('file', fact_file) | from_json }}",
                                      "cacheable": True}},
        {"ansible.builtin.include_role": {"name": "armvirt.cpu.guest_cpu"}, "vars": {
            "guest_cpu_scope": "fleet", "guest_cpu_libvirt_check": False, "guest_cpu_mode": "maximum",
            "guest_cpu_delivery": "qemu-commandline", "guest_cpu_output_dir": str(out) + "/{{ inventory_hostname }}",
            "guest_cpu_guests": [{"name": "web1", "memory": 1024, "vcpus": 2}]}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plays))
    proc = subprocess.run(["ansible-playbook", "-i", str(tmp_path / "inventory.yml"), str(tmp_path / "play.yml")],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
                          check=False)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr
    assert (out / "tcg-01" / "web1.xml").read_text().startswith("<domain type='qemu' ")
    assert (out / "n1-01" / "web1.xml").read_text().startswith("<domain type='kvm' ")


@needs_libvirt_schema
def test_fleet_scope_leaves_out_hosts_whose_facts_do_not_count_as_gather_does(tmp_path):
    """The role's own fleet baseline follows fleet_state's rules: a host whose last probe failed is left out (its old
    fact would make the baseline richer than its QEMU now is), and a host with no facts at all too."""
    inventory = {"hypervisors": {"hosts": {
        name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
               "fact_file": str(FACTS / "neoverse-v1.json"), "probe": probe}
        for name, probe in (("v1-01", "ok"), ("v1-02", "ok"), ("v1-broken", "failed"))}}}
    inventory["hypervisors"]["hosts"]["never-probed"] = {"ansible_connection": "local",
                                                         "ansible_python_interpreter": sys.executable}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    plays = [{"hosts": "hypervisors:!never-probed", "gather_facts": False, "tasks": [
        {"ansible.builtin.set_fact": {"arm_cpu_props": "{{ lookup('file', fact_file) | from_json }}",
                                      "armvirt_cpu_gather": {"status": "{{ probe }}", "error": "emulator gone"},
                                      "cacheable": True}},
        {"ansible.builtin.include_role": {"name": "armvirt.cpu.guest_cpu"}, "vars": {
            "guest_cpu_scope": "fleet", "guest_cpu_libvirt_check": False, "guest_cpu_delivery": "qemu-commandline",
            "guest_cpu_output_dir": str(tmp_path / "out"),
            "guest_cpu_fleet_hosts": "{{ groups['hypervisors'] }}",
            "guest_cpu_guests": [{"name": "web1", "memory": 1024, "vcpus": 2}]}},
        {"ansible.builtin.copy": {"content": "{{ guest_cpu_fleet_state | to_json }}",
                                  "dest": str(tmp_path / "state.json")}, "run_once": True}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plays))
    proc = subprocess.run(["ansible-playbook", "-i", str(tmp_path / "inventory.yml"), str(tmp_path / "play.yml")],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
                          check=False)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["members"] == ["v1-01", "v1-02"]
    assert state["hosts"]["v1-broken"]["status"] == "probe-failed"
    assert state["hosts"]["never-probed"]["status"] == "no-facts"
    assert any(line.startswith("v1-broken left out (probe-failed)") for line in state["summary"])
