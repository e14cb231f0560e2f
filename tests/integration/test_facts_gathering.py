"""The gather playbook on simulated hosts: it fills each host's cache, then reuses it. props_facts as a facts module
of gather_facts is the integration target tests/integration/targets/props_facts."""

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


def test_gather_playbook_fills_caches_then_reuses_them(tmp_path):
    inventory = inventory_for(tmp_path, {"n1": "neoverse-n1", "old": "neoverse-n1-oldkernel"})
    code, output = playbook(tmp_path, "-i", str(inventory), "armvirt.cpu.gather")
    assert code == 0, output
    assert "changed=1" in output
    code, output = playbook(tmp_path, "-i", str(inventory), "armvirt.cpu.gather")
    assert code == 0, output
    assert "changed=1" not in output
    assert output.count("from cache") == 2
