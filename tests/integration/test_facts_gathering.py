"""props_facts as a facts module of gather_facts (FACTS_MODULES), and the gather playbook, on simulated hosts."""

import json
import os
import subprocess
import sys

import yaml

from armsim import write_wrapper


def inventory_for(tmp_path, profiles):
    hosts = {}
    for name, profile in profiles.items():
        (tmp_path / name).mkdir()
        emulator = write_wrapper(str(tmp_path / name / "qemu-system-aarch64"), profile)
        hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                       "armvirt_cpu_emulator": emulator, "armvirt_cpu_accel": "kvm",
                       "armvirt_cpu_cache_dir": str(tmp_path / name / "cache")}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"hypervisors": {"hosts": hosts}}}}))
    return path


def playbook(tmp_path, *args, env=None):
    proc = subprocess.run(["ansible-playbook"] + list(args), capture_output=True, text=True, check=False,
                          env=dict(os.environ, ANSIBLE_NOCOLOR="1", **(env or {})), cwd=str(tmp_path), timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_gather_facts_runs_props_facts_as_a_facts_module(tmp_path):
    inventory = inventory_for(tmp_path, {"n1": "neoverse-n1", "v2": "neoverse-v2"})
    out = tmp_path / "facts"
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{
        "name": "Gather with the facts module",
        "hosts": "hypervisors",
        "gather_facts": True,
        "module_defaults": {"armvirt.cpu.props_facts": {
            "emulator": "{{ armvirt_cpu_emulator }}", "accel": "kvm", "cache_dir": "{{ armvirt_cpu_cache_dir }}"}},
        "tasks": [{"name": "Keep the fact", "ansible.builtin.copy": {
            "content": "{{ ansible_facts['arm_cpu_props'] | to_json }}",
            "dest": str(out) + "-{{ inventory_hostname }}.json", "mode": "0644"}, "delegate_to": "localhost"}],
    }]))
    code, output = playbook(tmp_path, "-i", str(inventory), "play.yml",
                            env={"ANSIBLE_FACTS_MODULES": "armvirt.cpu.props_facts"})
    assert code == 0, output
    n1 = json.loads((tmp_path / "facts-n1.json").read_text())
    v2 = json.loads((tmp_path / "facts-v2.json").read_text())
    assert n1["dialect"] == "query-arm-cpu-props-info"
    assert v2["dialect"] == "query-cpu-props-info"
    assert "feat_RAS" in n1["properties"]


def test_gather_playbook_fills_caches_then_reuses_them(tmp_path):
    inventory = inventory_for(tmp_path, {"n1": "neoverse-n1", "old": "neoverse-n1-oldkernel"})
    code, output = playbook(tmp_path, "-i", str(inventory), "armvirt.cpu.gather")
    assert code == 0, output
    assert "changed=1" in output
    code, output = playbook(tmp_path, "-i", str(inventory), "armvirt.cpu.gather")
    assert code == 0, output
    assert "changed=1" not in output
    assert output.count("from cache") == 2
