# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory source armvirt.cpu.classes: the class groups of a classes.json that fleet_state wrote, the names the
playbooks give them, in one pass; a hostile name, a corrupt or a missing file fails the source, naming the file."""

import datetime
import json
import os
import pathlib
import subprocess
import sys

import pytest

from ansible_collections.armvirt.cpu.plugins.inventory import classes as plugin
from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, _fleet_view

ROOT = pathlib.Path(__file__).resolve().parents[4]
FACTS = json.loads((ROOT / "tests" / "fixtures" / "fleet" / "small-fleet.json").read_text())
NOW = datetime.datetime(2026, 11, 29, 16, 14, tzinfo=datetime.timezone.utc)
GATHERED = "2026-11-29T16:00:00Z"
INVENTORY = pathlib.Path(sys.executable).parent / "ansible-inventory"


def classified(directory, hosts):
    """The artifacts of a classify run over ``hosts`` of the small fleet (and one host without facts)."""
    hostvars = {host: {"ansible_facts": {"arm_cpu_props": FACTS[host]},
                       "armvirt_cpu_gather": {"status": "ok", "error": "", "gathered_at": GATHERED}} for host in hosts}
    state = _fleet_view.view(hostvars, list(hosts) + ["nofacts"], 0, now=NOW)
    _artifacts.write_artifacts(str(directory), state, now=NOW)
    return state


def source(tmp_path, name="fleet.armvirt_cpu_classes.yml", **options):
    path = tmp_path / name
    path.write_text(json.dumps(dict({"plugin": "armvirt.cpu.classes", "path": str(tmp_path / "artifacts")},
                                    **options)))
    return str(path)


def inventory(tmp_path, *sources):
    """``(returncode, {"groups": {group: hosts}, "hostvars": ...}, stderr)`` of ansible-inventory --list on
    ``sources``, failing on a source that cannot be parsed (as an inventory update of AWX does)."""
    env = dict(os.environ, ANSIBLE_INVENTORY_UNPARSED_FAILED="1", ANSIBLE_NOCOLOR="1")
    done = subprocess.run([str(INVENTORY), "--list", "--export"] + sum((["-i", path] for path in sources), []),
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=180, check=False)
    if done.returncode:
        return done.returncode, None, done.stderr
    # the source's values are data, never templates: ansible-inventory shows them marked unsafe
    listed = json.loads(done.stdout, object_hook=lambda value: value.get("__ansible_unsafe", value))
    groups = {name: sorted(entry.get("hosts", ())) for name, entry in listed.items() if name != "_meta"}
    return 0, {"groups": groups, "hostvars": listed["_meta"]["hostvars"]}, done.stderr


def parse_error(tmp_path, path):
    """What ansible-inventory says when armvirt.cpu.classes fails on ``path`` (one line: it wraps long ones)."""
    code, _listed, stderr = inventory(tmp_path, path)
    assert code != 0, stderr
    return " ".join(stderr.split())


def test_every_host_is_in_the_group_the_playbooks_name(tmp_path):
    hosts = sorted(FACTS)
    state = classified(tmp_path / "artifacts", hosts)
    code, listed, stderr = inventory(tmp_path, source(tmp_path))
    assert code == 0, stderr
    assert sorted(listed["hostvars"]) == sorted(hosts + ["nofacts"])
    for host in hosts + ["nofacts"]:
        cid = state["hosts"][host]["class"]
        group = "armvirt_cpu_class_" + (cid or "none").replace("-", "_")
        assert group == _fleet_view.class_group(cid)
        assert host in listed["groups"][group], (host, group)
        assert listed["hostvars"][host] == {plugin.HOSTVAR: cid}
    assert set(state["classes"]["classes"]) == {listed["hostvars"][host][plugin.HOSTVAR]
                                                for host in state["classes"]["hosts"]}
    # the hosts the classification left out: an unsupported one and one without facts
    assert listed["groups"]["armvirt_cpu_class_none"] == ["nofacts", "u1"]


def test_verify_file_takes_only_its_own_names(tmp_path):
    module = plugin.InventoryModule()
    for name in ("a.armvirt_cpu_classes.yml", "a.armvirt_cpu_classes.yaml"):
        assert module.verify_file(source(tmp_path, name))
    for name in ("hosts.yml", "armvirt_cpu_classes.json", "a.armvirt_cpu_classes.yml.bak"):
        (tmp_path / name).write_text("plugin: armvirt.cpu.classes\n")
        assert not module.verify_file(str(tmp_path / name))


def test_the_artifacts_directory_or_the_file_itself(tmp_path):
    classified(tmp_path / "artifacts", ["a1", "b1"])
    path = source(tmp_path, path=str(tmp_path / "artifacts" / "classes.json"))
    code, listed, stderr = inventory(tmp_path, path)
    assert code == 0 and sorted(listed["hostvars"]) == ["a1", "b1", "nofacts"], stderr


def test_add_hosts_false_places_only_hosts_of_the_other_sources(tmp_path):
    classified(tmp_path / "artifacts", ["a1", "a2", "b1"])
    slice_inventory = tmp_path / "slice.ini"
    slice_inventory.write_text("[hypervisors]\na1\n")
    code, listed, stderr = inventory(tmp_path, str(slice_inventory), source(tmp_path, add_hosts=False))
    assert code == 0 and sorted(listed["hostvars"]) == ["a1"], stderr
    assert [name for name, hosts in listed["groups"].items() if name.startswith("armvirt_cpu_class_")] == [
        _fleet_view.class_group(listed["hostvars"]["a1"][plugin.HOSTVAR])]


@pytest.mark.parametrize("host, problem", [("../../fleet", "it contains '/'"), ("..", "it is '..'"),
                                           ("", "it is empty"), ("a\0b", "NUL")])
def test_a_hostile_host_name_fails_the_source_naming_the_file(tmp_path, host, problem):
    classified(tmp_path / "artifacts", ["a1"])
    path = tmp_path / "artifacts" / "classes.json"
    document = json.loads(path.read_text())
    document["hosts"][host] = document["hosts"]["a1"]
    path.write_text(json.dumps(document))
    message = parse_error(tmp_path, source(tmp_path))
    assert str(path) in message and "is corrupt" in message and problem in message, message
    # listed as left out, the same
    document["hosts"].pop(host)
    document["excluded"] = [{"host": host, "reason": "unsupported"}]
    path.write_text(json.dumps(document))
    assert problem in parse_error(tmp_path, source(tmp_path))


@pytest.mark.parametrize("text, problem", [
    ("", "not valid JSON"),
    ("[]", "a JSON list where armvirt.cpu writes an object"),
    ('{"classes": {}}', "hosts (dict) missing"),
    ('{"classes": {"cpu-1": {}}, "hosts": {"a1": "cpu-2"}}', "'cpu-2', which is not one of its classes"),
    ('{"classes": {"cpu 1; rm": {}}, "hosts": {}}', "cannot name an inventory group"),
    ('{"classes": {}, "hosts": {}, "excluded": "a1"}', "excluded is not a list"),
])
def test_a_corrupt_file_fails_the_source_naming_the_file(tmp_path, text, problem):
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "classes.json").write_text(text)
    message = parse_error(tmp_path, source(tmp_path))
    assert str(tmp_path / "artifacts" / "classes.json") + " is corrupt" in message and problem in message, message
    assert "fleet.armvirt_cpu_classes.yml" in message, message


def test_a_missing_file_fails_the_source_and_says_what_to_run(tmp_path):
    message = parse_error(tmp_path, source(tmp_path))
    assert "classes.json does not exist" in message and "armvirt.cpu.classify" in message, message


def test_it_is_found_by_its_name_and_documented():
    """The source loads by its FQCN (as AWX names it in an inventory source) and its documentation renders."""
    done = subprocess.run([str(INVENTORY.parent / "ansible-doc"), "-t", "inventory", "armvirt.cpu.classes"],
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0 and "armvirt_cpu_class_none" in done.stdout, done.stderr
