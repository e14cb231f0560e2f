"""A simulated fleet for the hostile-input tests (tests/integration/test_hostile_*.py): each host a stand-in emulator
of its own (armsim), local connections, a jsonfile fact cache, and every file the playbooks write kept deep under one
directory, so that a name such as ``../../../pwned`` still lands where a listing of that directory sees it."""

import json
import os
import subprocess
import sys

import yaml

from armsim import write_wrapper


def tree(top):
    """Every path under ``top`` (files, directories and links), relative to it."""
    found = set()
    for folder, dirs, files in os.walk(str(top)):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(folder, name), str(top)))
    return found


class Fleet(object):
    """Hosts ``profiles`` ({inventory name: armsim profile name or file}) in group ``hypervisors`` of an inventory
    deep in ``top`` (``site/deep/er/fleet``); ``guests`` are every host's ``armvirt_cpu_guests`` unless
    ``host_vars`` (by name) says otherwise. Host ``name`` lives in ``self.homes[name]`` (relative to
    ``site/deep/er``): its emulator, cache and output directory."""

    def __init__(self, top, profiles, guests, host_vars=None, env=None, forks=8):
        self.top = top
        self.root = top / "site" / "deep" / "er" / "fleet"
        self.artifacts = self.root / "artifacts"
        self.facts = self.root / "facts"
        (self.artifacts / "rollout" / "hosts" / "rack1").mkdir(parents=True)   # so rack1/../.. would resolve
        self.env = dict(env or {})
        hosts, self.homes = {}, {}
        for index, (name, profile) in enumerate(profiles.items()):
            home = self.root / "hosts" / ("h%d" % index)
            home.mkdir(parents=True)
            write_wrapper(str(home / "qemu-system-aarch64"), profile)
            hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                           "armvirt_cpu_emulator": str(home / "qemu-system-aarch64"), "armvirt_cpu_accel": "kvm",
                           "armvirt_cpu_cache_dir": str(home / "cache"), "armvirt_cpu_output_dir": str(home / "out")}
            hosts[name].update((host_vars or {}).get(name, {}))
            self.homes[name] = "fleet/hosts/h%d" % index
        self.inventory = self.root / "inventory.yml"
        self.inventory.write_text(yaml.safe_dump({"all": {"children": {"hypervisors": {
            "hosts": hosts, "vars": {"armvirt_cpu_guests": guests}}}}}, allow_unicode=True), encoding="utf-8")
        (self.root / "ansible.cfg").write_text(
            "[defaults]\nhost_key_checking = False\nretry_files_enabled = False\nforks = %d\n"
            "fact_caching = ansible.builtin.jsonfile\nfact_caching_connection = %s\n" % (forks, self.facts))

    def home(self, host):
        """Host ``host``'s own directory."""
        return self.top / "site" / "deep" / "er" / self.homes[host]

    def run(self, playbook, *args, inventory=None):
        """``ansible-playbook armvirt.cpu.PLAYBOOK`` in the fleet's directory: (exit status, stdout + stderr)."""
        command = ["ansible-playbook", "armvirt.cpu.%s" % playbook, "-i", str(inventory or self.inventory),
                   "-e", "armvirt_cpu_artifacts_dir=%s" % self.artifacts] + list(args)
        env = dict(os.environ, ANSIBLE_CONFIG=str(self.root / "ansible.cfg"), ANSIBLE_NOCOLOR="1", **self.env)
        proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(self.root), timeout=300,
                              check=False)
        return proc.returncode, proc.stdout + proc.stderr

    def json(self, *parts):
        return json.loads(self.artifacts.joinpath(*parts).read_text(encoding="utf-8"))
