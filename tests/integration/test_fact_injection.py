"""The playbooks read facts as ansible_facts[...], so they work the same with INJECT_FACTS_AS_VARS off (the default
from ansible-core 2.24) and warn about nothing with it at its default (2.20 and later deprecate reading a fact as a
top-level variable, and say so in a [DEPRECATION WARNING]).

The case that broke: a host gathered once and unreachable at the next gather keeps its facts until they age out,
which needs the gathered_at of its cached armvirt_cpu_gather record. With injection off that record is only in
ansible_facts; read as a top-level variable it was undefined, the new record lost its gathered_at, and the host
was reported stale instead of unreachable."""

import json
import os
import re
import socket
import subprocess
import sys

import pytest
import yaml

from armsim import write_wrapper
from libvirtd import needs_libvirt_schema
from test_demo import record

DEPRECATION = "[DEPRECATION WARNING]"
# "default": INJECT_FACTS_AS_VARS unset, its default (on until ansible-core 2.24, deprecated from 2.20);
# "off": ANSIBLE_INJECT_FACT_VARS=False
INJECTION = {"default": {}, "off": {"ANSIBLE_INJECT_FACT_VARS": "False"}}


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmallFleet(object):
    """Two simulated hypervisors, n1 (Neoverse N1) and v1 (Neoverse V1), with a jsonfile fact cache."""

    def __init__(self, root, injection):
        self.root, self.injection = root, injection
        self.artifacts, self.facts = root / "artifacts", root / "facts"
        self.inventory = root / "inventory.yml"
        self.hosts = {}
        for name, profile in (("n1", "neoverse-n1"), ("v1", "neoverse-v1")):
            home = root / "hosts" / name
            home.mkdir(parents=True)
            write_wrapper(str(home / "qemu-system-aarch64"), profile)
            self.hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                "armvirt_cpu_emulator": str(home / "qemu-system-aarch64"), "armvirt_cpu_accel": "kvm",
                                "armvirt_cpu_cache_dir": str(home / "cache"),
                                "armvirt_cpu_output_dir": str(home / "out")}
        self.write_inventory()
        (root / "ansible.cfg").write_text(
            "[defaults]\nhost_key_checking = False\nretry_files_enabled = False\nforks = 4\n"
            "fact_caching = ansible.builtin.jsonfile\nfact_caching_connection = %s\n" % self.facts)

    def write_inventory(self):
        self.inventory.write_text(yaml.safe_dump({"all": {"children": {"hypervisors": {
            "hosts": self.hosts, "vars": {"armvirt_cpu_guests": [{"name": "web1", "memory": 1024, "vcpus": 2}]}}}}}))

    def power_off(self, name):
        """The host is still in the inventory, but ssh to it is refused (as to a powered-off hypervisor)."""
        self.hosts[name] = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": closed_port(),
                            "ansible_ssh_args": "-o ControlMaster=no -o ConnectTimeout=2 -o BatchMode=yes",
                            "ansible_timeout": 2}
        self.write_inventory()

    def run(self, playbook):
        command = ["ansible-playbook", "armvirt.cpu.%s" % playbook, "-i", str(self.inventory),
                   "-e", "armvirt_cpu_artifacts_dir=%s" % self.artifacts]
        env = dict(os.environ, ANSIBLE_CONFIG=str(self.root / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_DEPRECATION_WARNINGS="True")
        env.pop("ANSIBLE_INJECT_FACT_VARS", None)
        env.update(self.injection)
        proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(self.root), timeout=300,
                              check=False)
        output = proc.stdout + proc.stderr
        assert DEPRECATION not in output, output[-4000:]
        return proc.returncode, output

    def fleet_hosts(self):
        return json.loads((self.artifacts / "fleet.json").read_text())["hosts"]

    def cached_record(self, host):
        """The host's armvirt_cpu_gather in the jsonfile fact cache, without the origin tags ansible-core 2.19 and
        later keep on each value (a __payload__ string of {value, tags, __ansible_type} wrappers)."""
        (path,) = [path for path in self.facts.iterdir() if path.name.endswith("_" + host)]
        data = json.loads(path.read_text())
        return untag(json.loads(data["__payload__"]) if "__payload__" in data else data)["armvirt_cpu_gather"]


def untag(value):
    if isinstance(value, dict):
        if "__ansible_type" in value and "value" in value:
            return untag(value["value"])
        return {key: untag(item) for key, item in value.items()}
    if isinstance(value, list):
        return [untag(item) for item in value]
    return value


@needs_libvirt_schema
@pytest.mark.parametrize("injection", sorted(INJECTION))
def test_a_gathered_host_that_went_away_is_unreachable_not_stale(tmp_path, injection):
    fleet = SmallFleet(tmp_path, INJECTION[injection])
    code, output = fleet.run("gather")
    assert code == 0, output
    first = fleet.fleet_hosts()
    assert first["n1"]["status"] == first["v1"]["status"] == "ok", first
    gathered_at = fleet.cached_record("v1")["gathered_at"]
    assert re.match(r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$", gathered_at), gathered_at

    fleet.power_off("v1")
    code, output = fleet.run("gather")
    assert code == 2, output   # v1 fails as unreachable, n1 goes on
    assert "v1: unreachable: " in output and "Connection refused" in output
    v1 = fleet.fleet_hosts()["v1"]
    assert v1["status"] == "unreachable", v1
    assert v1["usable"] is True and "its facts gathered at %s still count" % gathered_at in v1["reason"]
    assert fleet.cached_record("v1") == {"status": "unreachable", "gathered_at": gathered_at,
                                         "error": fleet.cached_record("v1")["error"]}
    assert "Connection refused" in fleet.cached_record("v1")["error"]

    # the rollout and the report read the same facts: n1 is rolled out against the baseline v1 is still part of
    code, output = fleet.run("rollout")
    assert code == 2, output
    plan = json.loads((fleet.artifacts / "rollout" / "plan.json").read_text())
    assert plan["members"] == ["n1", "v1"]
    n1 = json.loads((fleet.artifacts / "rollout" / "hosts" / "n1.json").read_text())
    assert n1["status"] == "ok" and n1["delivery"] == "qemu-commandline" and "web1" in n1["guests"], n1
    assert sorted(path.name for path in (tmp_path / "hosts" / "n1" / "out").glob("*.xml")) == ["web1.xml"]
    v1_record = json.loads((fleet.artifacts / "rollout" / "hosts" / "v1.json").read_text())
    assert v1_record["status"] == "failed" and "unreachable" in v1_record["reason"]
    code, output = fleet.run("report")
    assert code == 0, output
    assert "| v1 | gather | unreachable |" in (fleet.artifacts / "report" / "report.md").read_text()


@needs_libvirt_schema
def test_the_demo_runs_with_injection_off_and_warns_about_nothing(demo_runs):
    """The demo with INJECT_FACTS_AS_VARS off, then again at the default, where the second run reads the cached
    records of the first (the reads ansible-core 2.20 and later warn about): same outcome, nothing changed, and no
    deprecation warning in either run (the demo's ansible.cfg shows them). ``demo_runs`` (tests/conftest.py) runs
    them."""
    first, after = demo_runs.first_output, demo_runs.first
    assert DEPRECATION not in first, first[-4000:]
    for text in ("altra-01       accepted (start)", "grace-sr-01    REFUSED", "offline-01"):
        assert text in first, text
    assert record(after, "altra-01")["status"] == "ok" and record(after, "grace-sr-01")["status"] == "failed"
    fleet = json.loads((after / "artifacts" / "fleet.json").read_text())["hosts"]
    assert fleet["offline-01"]["status"] == "unreachable" and fleet["altra-01"]["status"] == "ok"

    second = demo_runs.second_output
    assert DEPRECATION not in second, second[-4000:]
    assert "changed=1" not in second and "changed: [" not in second, second[-4000:]
    assert json.loads((demo_runs.workdir / "artifacts" / "fleet.json").read_text())["hosts"] == fleet
    assert demo_runs.leftovers_second == []
