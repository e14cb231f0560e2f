"""Host names that cannot be file names are refused host by host: the view gives them their own status without
reading their facts, a rollout neither removes nor reads a file for them, and the other hosts go on."""

import datetime
import json
import pathlib

from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, _fleet_view

ROOT = pathlib.Path(__file__).resolve().parents[4]
FACTS = json.loads((ROOT / "tests" / "fixtures" / "fleet" / "small-fleet.json").read_text())
NOW = datetime.datetime(2026, 11, 29, 16, 14, tzinfo=datetime.timezone.utc)
RECORD = {"status": "ok", "error": "", "gathered_at": "2026-11-29T16:00:00Z"}
HOSTILE = ["../../fleet", "../../baseline", "rack1/../../escape", ".."]
UNUSUAL = ["fe80::1", "hôte é", "a:b"]


def test_a_refused_name_gets_its_own_status_and_its_facts_are_not_read():
    read_hosts = []

    def read(host):
        read_hosts.append(host)
        return FACTS["a1"], RECORD
    view = _fleet_view.view(read, ["a1"] + HOSTILE + UNUSUAL, 0, now=NOW)
    assert read_hosts == ["a1"] + UNUSUAL
    for host in HOSTILE:
        entry = view["hosts"][host]
        assert entry["status"] == _fleet_view.INVALID_NAME and not entry["usable"], entry
        assert entry["reason"].startswith("host %r: its inventory name cannot be a file name (" % host)
        assert "never gathered" not in entry["reason"]
    assert view["baseline"]["members"] == sorted(["a1"] + UNUSUAL)
    assert all(view["hosts"][host]["usable"] for host in UNUSUAL)


def test_a_rollout_targeting_hostile_names_removes_and_reads_nothing_of_theirs(tmp_path):
    for name in ("fleet.json", "baseline.json"):
        (tmp_path / name).write_text('{"kept": true}\n')
    _artifacts.start_rollout(str(tmp_path), {"targets": HOSTILE + UNUSUAL})
    assert json.loads((tmp_path / "baseline.json").read_text()) == {"kept": True}
    assert json.loads((tmp_path / "fleet.json").read_text()) == {"kept": True}
    for host in UNUSUAL:
        path = _artifacts.rollout_record(str(tmp_path), host)
        assert path == str(tmp_path / "rollout" / "hosts" / (host + ".json"))
        pathlib.Path(path).write_text('{"status": "ok"}')
    plan = _artifacts.read_rollout(str(tmp_path))
    assert all(plan["hosts"][host] == {"status": "ok"} for host in UNUSUAL)
    for host in HOSTILE:
        assert plan["hosts"][host] == {"status": _fleet_view.INVALID_NAME,
                                       "reason": _fleet_view.host_name_problem(host)}
    assert sorted(path.name for path in (tmp_path / "rollout" / "hosts").iterdir()) == sorted(
        host + ".json" for host in UNUSUAL)


def test_a_record_replaced_by_a_symlink_out_of_the_folder_is_not_read(tmp_path):
    _artifacts.start_rollout(str(tmp_path), {"targets": ["a1"]})
    (tmp_path / "secret.json").write_text('{"status": "ok", "reason": "planted"}')
    (tmp_path / "rollout" / "hosts" / "a1.json").symlink_to(tmp_path / "secret.json")
    entry = _artifacts.read_rollout(str(tmp_path))["hosts"]["a1"]
    assert entry["status"] == "failed" and "symlink that leads out" in entry["reason"]


def test_a_refused_record_path_leaves_every_record_of_the_last_rollout(tmp_path):
    """Every target's record path is checked before the first record is removed."""
    _artifacts.start_rollout(str(tmp_path), {"targets": ["a1", "b1"]})
    hosts = tmp_path / "rollout" / "hosts"
    (hosts / "a1.json").write_text('{"status": "ok", "reason": ""}\n')
    (tmp_path / "secret.json").write_text("{}\n")
    (hosts / "b1.json").symlink_to(tmp_path / "secret.json")
    before = {path.name: path.read_bytes() for path in hosts.iterdir()}
    plan_before = (tmp_path / "rollout" / "plan.json").read_bytes()
    try:
        _artifacts.start_rollout(str(tmp_path), {"targets": ["a1", "b1"]})
    except _artifacts._paths.PathError as exc:
        assert "b1.json is a symlink that leads out" in str(exc)
    else:
        raise AssertionError("a record path leading out was accepted")
    assert {path.name: path.read_bytes() for path in hosts.iterdir()} == before
    assert (tmp_path / "rollout" / "plan.json").read_bytes() == plan_before


def test_a_symlinked_folder_in_the_artifacts_cannot_lead_records_out(tmp_path):
    artifacts, elsewhere = tmp_path / "artifacts", tmp_path / "elsewhere"
    (artifacts / "rollout").mkdir(parents=True)
    elsewhere.mkdir()
    (artifacts / "rollout" / "hosts").symlink_to(elsewhere, target_is_directory=True)
    try:
        _artifacts.rollout_record(str(artifacts), "web1")
    except _artifacts._paths.PathError as exc:
        assert "leads out of %s through a symlinked folder" % artifacts in str(exc)
    else:
        raise AssertionError("a symlinked rollout/hosts was accepted")
    assert list(elsewhere.iterdir()) == []
