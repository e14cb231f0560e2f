"""armvirt.cpu.gather, rollout and report over an inventory that mixes host names which cannot be file names
(``../../fleet``, ``../../../pwned``, ``rack1/../../escape``, ``..``) with unusual legitimate ones (``fe80::1``,
``hôte é``, ``a:b``), as a dynamic inventory or a CMDB can hand them in: real ansible-playbook runs over simulated
hosts. The hostile hosts fail with the reason, and nothing is written for them anywhere; the others are gathered,
rolled out and reported as usual."""

import json
import os

import pytest

from hostile_fleet import Fleet, tree
from libvirtd import needs_libvirt_schema

HOSTILE = ["../../fleet", "../../../pwned", "rack1/../../escape", ".."]
LEGITIMATE = ["fe80::1", "hôte é", "a:b"]
GUESTS = [{"name": "web1", "memory": 1024, "vcpus": 2}]


def reason(host):
    return ("host %r: its inventory name cannot be a file name (%s); rename it in the inventory"
            % (host, "it is '..'" if host == ".." else "it contains '/'"))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    fleet = Fleet(tmp_path_factory.mktemp("hostile"), dict.fromkeys(LEGITIMATE + HOSTILE, "neoverse-n1"), GUESTS)
    fleet.before = tree(fleet.top)
    fleet.outputs = {"gather": fleet.run("gather")}
    fleet.gathered = {name: fleet.artifacts.joinpath(name).read_bytes() for name in ("fleet.json", "baseline.json")}
    # every hostile host fails in the one batch: the rollout must go on with the others
    fleet.outputs["rollout"] = fleet.run("rollout", "-e", "armvirt_cpu_max_fail_percentage=100")
    fleet.outputs["report"] = fleet.run("report")
    fleet.after = tree(fleet.top)
    return fleet


@needs_libvirt_schema
def test_nothing_is_written_outside_the_artifacts_and_the_legitimate_hosts_own_folders(fleet):
    allowed = ["site/deep/er/fleet/artifacts/", "site/deep/er/fleet/facts/"]
    allowed += ["site/deep/er/%s/" % fleet.homes[host] for host in LEGITIMATE]
    stray = sorted(path for path in fleet.after - fleet.before
                   if not any((path + "/").startswith(prefix) for prefix in allowed))
    assert stray == [], (stray, fleet.outputs)
    for host in HOSTILE:   # not probed, nothing cached or rendered for them
        assert tree(fleet.home(host)) == {"qemu-system-aarch64"}
    facts = sorted(os.listdir(str(fleet.root / "facts")))
    assert [name for name in facts if not any(name.endswith(host) for host in LEGITIMATE)] == [], facts


@needs_libvirt_schema
def test_gather_refuses_each_hostile_host_with_the_reason_and_classifies_the_others(fleet):
    code, output = fleet.outputs["gather"]
    assert code == 2, output
    state = fleet.json("fleet.json")
    for host in HOSTILE:
        assert reason(host) in output
        entry = state["hosts"][host]
        assert entry["status"] == "invalid-name" and entry["reason"] == reason(host) and not entry["usable"]
    assert all(state["hosts"][host]["status"] == "ok" and state["hosts"][host]["usable"] for host in LEGITIMATE)
    assert fleet.json("baseline.json")["members"] == sorted(LEGITIMATE)


@needs_libvirt_schema
def test_rollout_fails_the_hostile_hosts_and_writes_records_only_for_the_others(fleet):
    code, output = fleet.outputs["rollout"]
    assert code == 2, output
    for host in HOSTILE:
        assert reason(host) in output
    for name, data in fleet.gathered.items():   # the same bytes: not overwritten by a host's record
        assert fleet.artifacts.joinpath(name).read_bytes() == data, name
        assert "hosts" in json.loads(data.decode("utf-8")) or "members" in json.loads(data.decode("utf-8"))
    hosts = fleet.artifacts / "rollout" / "hosts"
    assert sorted(os.listdir(str(hosts))) == sorted(["rack1"] + [host + ".json" for host in LEGITIMATE])
    assert os.listdir(str(hosts / "rack1")) == []
    for host in LEGITIMATE:
        record = json.loads(hosts.joinpath(host + ".json").read_text(encoding="utf-8"))
        assert record["status"] == "ok", record
        out = fleet.home(host) / "out"
        assert sorted(path.name for path in out.glob("*.xml")) == ["web1.xml"]


@needs_libvirt_schema
def test_the_report_lists_the_hostile_hosts_with_their_reason_and_names_no_file_after_them(fleet):
    code, output = fleet.outputs["report"]
    assert code == 0, output
    markdown = (fleet.artifacts / "report" / "report.md").read_text(encoding="utf-8")
    for host in HOSTILE:
        assert "| %s | gather | invalid-name |" % host in markdown
        assert "| %s | rollout | invalid-name |" % host in markdown
    for host in LEGITIMATE:
        assert host in markdown
    assert sorted(os.listdir(str(fleet.artifacts / "report"))) == ["index.html", "report.md"]
