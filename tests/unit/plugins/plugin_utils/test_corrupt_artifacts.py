# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A damaged artifact is named as damaged, never taken for a missing one: fleet.json, snapshots, the rollout's plan
and host records, gathered.json; a rollout's policy file is refused (file, line, column) before anything is written;
and a host whose facts the fact cache lost is told from one never gathered."""

import datetime
import json
import os
import pathlib

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.armvirt.cpu.plugins.action import fleet_state as action
from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, _fleet_view, fleet_report

ROOT = pathlib.Path(__file__).resolve().parents[4]
FACTS = json.loads((ROOT / "tests" / "fixtures" / "fleet" / "small-fleet.json").read_text())
NOW = datetime.datetime(2026, 11, 29, 16, 14, tzinfo=datetime.timezone.utc)
GATHERED = "2026-11-29T16:00:00Z"
# what a typo, a full disk outside the collection or a stray editor leaves; each with what the message must say
DAMAGE = [("", "not valid JSON: Expecting value: line 1 column 1"),
          ('{"hosts": {', "not valid JSON: Expecting property name enclosed in double quotes: line 1 column 12"),
          ("[]", "a JSON list where armvirt.cpu writes an object"),
          (b"\xff\xfe{}", "not UTF-8 text")]


def hostvars(hosts):
    return {host: {"ansible_facts": {"arm_cpu_props": FACTS[host]},
                   "armvirt_cpu_gather": {"status": "ok", "error": "", "gathered_at": GATHERED}} for host in hosts}


def gathered(directory, hosts=("a1", "a2", "b1")):
    """A gathered fleet: fleet.json, a snapshot and the rest, as gather writes them."""
    state = _fleet_view.view(hostvars(hosts), list(hosts), 0, now=NOW)
    _artifacts.write_artifacts(str(directory), state, snapshot=True, now=NOW)
    return state


def damage(path, text):
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))


@pytest.mark.parametrize("text, problem", DAMAGE)
def test_a_damaged_file_is_corrupt_and_a_missing_one_is_missing(tmp_path, text, problem):
    path = tmp_path / "fleet.json"
    with pytest.raises(FileNotFoundError):
        _artifacts.load_json(str(path))
    damage(path, text)
    with pytest.raises(_artifacts.CorruptArtifact) as caught:
        _artifacts.load_json(str(path))
    assert str(caught.value).startswith("%s is corrupt: " % path) and problem in str(caught.value)


def test_a_file_that_cannot_be_read_is_unreadable_not_missing(tmp_path):
    (tmp_path / "fleet.json").mkdir()     # what open() meets where a file should be
    with pytest.raises(_artifacts.CorruptArtifact, match=r"fleet\.json is unreadable: cannot be read: Is a dir"):
        _artifacts.load_json(str(tmp_path / "fleet.json"))


NO_SHAPE = ('{"hosts": {}}', "classes (dict), baseline (dict), recommendations (dict) missing")


@pytest.mark.parametrize("text, problem", DAMAGE + [NO_SHAPE])
def test_the_report_names_a_corrupt_fleet_json_and_does_not_say_run_gather_first(tmp_path, text, problem):
    gathered(tmp_path)
    damage(tmp_path / "fleet.json", text)
    with pytest.raises(fleet_report.ReportError) as caught:
        fleet_report.build(str(tmp_path))
    message = str(caught.value)
    assert "%s is corrupt" % (tmp_path / "fleet.json") in message and problem in message
    assert "no fleet artifacts" not in message


def test_the_report_says_run_gather_first_only_when_fleet_json_is_missing(tmp_path):
    gathered(tmp_path)
    (tmp_path / "fleet.json").unlink()
    with pytest.raises(fleet_report.ReportError, match="no fleet artifacts in .*: run armvirt.cpu.gather first"):
        fleet_report.build(str(tmp_path))


def test_a_corrupt_latest_snapshot_fails_the_report_and_gather_keeps_it_and_adds_one_after_it(tmp_path):
    gathered(tmp_path)
    (latest,) = _artifacts.snapshots(str(tmp_path))
    damage(pathlib.Path(latest), '{"format": 2, "hosts": ')
    with pytest.raises(fleet_report.ReportError, match=r"%s is corrupt: not valid JSON" % latest):
        fleet_report.build(str(tmp_path))
    # the same fleet gathered again: the corrupt snapshot is not taken for "different" silently, nor replaced
    writes = _artifacts.Writes()
    paths, changed = _artifacts.write_artifacts(str(tmp_path), gathered_state(), snapshot=True, now=NOW,
                                                writes=writes)
    assert changed and paths["snapshot"] != latest and pathlib.Path(latest).read_text() == '{"format": 2, "hosts": '
    assert _artifacts.snapshots(str(tmp_path)) == [latest, paths["snapshot"]]
    assert writes.notes == ["the latest snapshot %s is corrupt: not valid JSON: Expecting value: line 1 column 24 "
                            "(char 23); it is kept as it is and a new snapshot follows it" % latest]
    # the report now shows the new snapshot, and says that it compares nothing with the corrupt one before it
    model = fleet_report.build(str(tmp_path))
    assert model["changes"]["corrupt"].startswith("%s is corrupt: not valid JSON" % latest)
    assert model["changes"]["hosts"] == [] and model["changes"]["breaks"] == []
    for name in ("html", "markdown"):
        template = ROOT / "playbooks" / "templates" / fleet_report.TEMPLATES[name]
        page = fleet_report.render(model, str(template), name == "html")
        shown = latest if name == "html" else fleet_report.markdown_text(latest)   # Markdown escapes "_"
        assert "Nothing compared: the previous snapshot %s is corrupt" % shown in page


def gathered_state():
    return _fleet_view.view(hostvars(("a1", "a2", "b1")), ["a1", "a2", "b1"], 0, now=NOW)


def test_a_snapshot_of_the_wrong_shape_is_corrupt(tmp_path):
    gathered(tmp_path)
    (latest,) = _artifacts.snapshots(str(tmp_path))
    document = json.loads(pathlib.Path(latest).read_text())
    del document["facts"]
    pathlib.Path(latest).write_text(json.dumps(document))
    with pytest.raises(_artifacts.CorruptArtifact, match="format 2 without the facts its hosts name"):
        _artifacts.read_snapshot(latest)
    pathlib.Path(latest).write_text(json.dumps({"hosts": {"a1": "ok"}}))
    with pytest.raises(_artifacts.CorruptArtifact, match="a host's entry under hosts is not a JSON object"):
        _artifacts.read_snapshot(latest)


def rollout(directory, targets=("a1", "a2", "b1"), rollout_id=""):
    plan = {"targets": list(targets), "id": rollout_id, "scope": "fleet", "policy_file": "/p/fleet.yml",
            "members": ["a1", "a2", "b1"], "baseline": {"file": None, "digest": "sha256:aa"}}
    _artifacts.start_rollout(str(directory), plan)
    for host in targets:
        (directory / "rollout" / "hosts" / ("%s.json" % host)).write_text(json.dumps({"status": "ok"}))
    return plan


def test_a_corrupt_host_record_is_shown_as_corrupt_not_as_not_run(tmp_path):
    gathered(tmp_path)
    rollout(tmp_path)
    damage(tmp_path / "rollout" / "hosts" / "a2.json", '{"status": "ok", ')
    (tmp_path / "rollout" / "hosts" / "b1.json").write_text('{"reason": "no status"}')
    model = fleet_report.build(str(tmp_path))
    hosts = model["rollout"]["hosts"]
    assert hosts["a1"] == {"status": "ok"}
    assert hosts["a2"]["status"] == hosts["b1"]["status"] == _artifacts.CORRUPT
    record_path = tmp_path / "rollout" / "hosts" / "a2.json"
    assert hosts["a2"]["reason"].startswith("%s is corrupt: not valid JSON" % record_path)
    assert "status (str) missing" in hosts["b1"]["reason"]
    assert {(row["host"], row["status"]) for row in model["attention"] if row["stage"] == "rollout"} == {
        ("a2", "corrupt"), ("b1", "corrupt")}


def test_a_corrupt_plan_fails_the_report_and_a_slice_will_not_join_it(tmp_path):
    gathered(tmp_path)
    plan = rollout(tmp_path, rollout_id="wf-7")
    damage(tmp_path / "rollout" / "plan.json", '{"targets": "a1"}')
    with pytest.raises(fleet_report.ReportError, match=r"plan\.json is corrupt: .*targets \(list\) missing"):
        fleet_report.build(str(tmp_path))
    before = {path: path.read_bytes() for path in (tmp_path / "rollout").rglob("*") if path.is_file()}
    for refuse in (_artifacts.refuse_unfrozen_slice, _artifacts.start_rollout):
        with pytest.raises(_artifacts.CorruptArtifact, match=r"plan\.json is corrupt"):
            refuse(str(tmp_path), dict(plan, targets=["b1"]))
    assert {path: path.read_bytes() for path in (tmp_path / "rollout").rglob("*") if path.is_file()} == before
    # a rollout of its own (no id) does not join the old plan, whatever it holds: it replaces it
    _artifacts.start_rollout(str(tmp_path), dict(plan, id="", targets=["b1"]))
    assert _artifacts.read_rollout(str(tmp_path))["targets"] == ["b1"]


def test_a_host_gathered_before_whose_facts_the_cache_lost_is_not_never_gathered(tmp_path):
    gathered(tmp_path)
    times, note = _artifacts.read_gathered(str(tmp_path))
    assert times == {"a1": GATHERED, "a2": GATHERED, "b1": GATHERED} and note is None
    # the fact cache dropped a2 (expired, or its file removed): no fact, no record
    facts = hostvars(("a1", "b1"))
    state = _fleet_view.view(facts, ["a1", "a2", "b1", "new"], 0, now=NOW, gathered=times)
    lost = ("gathered at %s, but the fact cache no longer holds its facts (expired or removed): run "
            "armvirt.cpu.gather for it" % GATHERED)
    assert state["hosts"]["a2"]["status"] == _fleet_view.NO_FACTS and state["hosts"]["a2"]["reason"] == lost
    assert "never gathered" in state["hosts"]["new"]["reason"]
    assert "a2 left out (no-facts): %s" % lost in _fleet_view.summary_lines(state)
    # gathered.json keeps a2's time, so the next run still knows; fleet.json has the reason
    _artifacts.write_artifacts(str(tmp_path), state, now=NOW)
    assert _artifacts.read_gathered(str(tmp_path))[0] == {"a1": GATHERED, "a2": GATHERED, "b1": GATHERED}
    assert json.loads((tmp_path / "fleet.json").read_text())["hosts"]["a2"]["reason"] == lost


def test_an_unreachable_host_whose_cached_facts_are_gone_says_when_it_was_gathered():
    record = {"status": "unreachable", "error": "ssh: connect refused", "gathered_at": ""}
    fact, entry = _fleet_view.host_view(None, record, 0, NOW, gathered_before=GATHERED)
    assert fact is None and entry["status"] == _fleet_view.UNREACHABLE and entry["gathered_at"] == GATHERED
    assert entry["reason"] == ("unreachable (ssh: connect refused); gathered at %s, but the fact cache no longer "
                               "holds its facts (expired or removed): run armvirt.cpu.gather for it" % GATHERED)
    never = _fleet_view.host_view(None, record, 0, NOW)[1]
    assert never["reason"] == "unreachable, never gathered: ssh: connect refused" and never["gathered_at"] is None


def test_a_corrupt_gathered_json_is_named_in_the_summary(tmp_path):
    damage(tmp_path / "gathered.json", "{")
    times, note = _artifacts.read_gathered(str(tmp_path))
    assert times == {}
    assert note.startswith("%s is corrupt: not valid JSON" % (tmp_path / "gathered.json"))
    assert note.endswith("hosts without facts cannot be told from hosts never gathered")


def policy_file(tmp_path, text):
    path = tmp_path / "policy.yml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text, problem", [
    ("---\nmode: host-passthrough\nfeatures:\n  - {name: sve128, policy: require\n  - name: x\n",
     'not valid YAML/JSON: while parsing a flow mapping in "{path}", line 4, column 5'),
    ("---\nmode: host-passthrough\nfeatures:\n\t- name: sve128\n",
     'not valid YAML/JSON: while scanning for the next token found character \'\\t\''),
    ("---\nmode: host-passthrough\nfeature: []\n", "{path}: at (document root): unknown key(s) feature"),
    ("---\nmode: custom\nfeatures: []\n", "{path}: at mode: mode custom needs model"),
    ("---\nmode: nearest\nfeatures: []\n", "{path}: at mode: 'nearest' is not one of custom, host-passthrough"),
    ("---\nfeatures: [{name: sve128, policy: demand}]\n", "demand"),
])
def test_a_rollout_policy_the_role_would_refuse_is_refused_naming_the_file_and_place(tmp_path, text, problem):
    path = policy_file(tmp_path, text)
    with pytest.raises(AnsibleActionFail) as caught:
        action.check_policy(path)
    message = str(caught.value)
    assert message.startswith("fleet_state: the rollout's policy file is not usable; nothing was written")
    assert problem.format(path=path) in message


def test_a_missing_policy_file_is_refused_and_a_good_one_passes(tmp_path):
    with pytest.raises(AnsibleActionFail, match="cannot read the policy file: No such file"):
        action.check_policy(str(tmp_path / "absent.yml"))
    state = gathered(tmp_path)
    assert state["recommendations"]
    action.check_policy(os.path.join(str(tmp_path), "policies", "fleet.yml"))   # what gather writes passes


def test_every_artifact_cut_short_at_any_byte_is_corrupt_never_missing_or_empty(tmp_path):
    """fleet.json, the snapshot, the plan and a host record, each cut short (as a copy that stopped or a disk that
    filled up outside the collection leaves them) at 400 offsets spread over it (every one of the small files) and at
    each of the last 8 bytes: every cut
    before the closing brace is named as corrupt, with the file; only the cut of the final newline still reads."""
    gathered(tmp_path)
    rollout(tmp_path)
    (snapshot,) = _artifacts.snapshots(str(tmp_path))
    artifacts = [(tmp_path / "fleet.json", _artifacts.FLEET_SHAPE), (pathlib.Path(snapshot), _artifacts.SNAPSHOT_SHAPE),
                 (tmp_path / "rollout" / "plan.json", _artifacts.PLAN_SHAPE),
                 (tmp_path / "rollout" / "hosts" / "a1.json", _artifacts.RECORD_SHAPE)]
    cases = 0
    for path, shape in artifacts:
        whole = path.read_bytes()
        expected = _artifacts.load_artifact(str(path), shape)
        step = max(1, len(whole) // 400)
        for length in sorted(set(range(0, len(whole), step)) | set(range(len(whole) - 8, len(whole)))):
            path.write_bytes(whole[:length])
            cases += 1
            if whole[length:] == b"\n":
                assert _artifacts.load_artifact(str(path), shape) == expected
                continue
            with pytest.raises(_artifacts.CorruptArtifact) as caught:
                _artifacts.load_artifact(str(path), shape)
            assert caught.value.path == str(path) and str(caught.value).startswith("%s is corrupt: " % path)
        path.write_bytes(whole)
    assert cases > 1000
    print("%d cut artifacts, each named as corrupt" % cases)
