# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The artifacts directory: one atomic writer, the directory's lock, and snapshots numbered in order whatever the
clocks say (a snapshot stamped in the future used to make the next gather spin for ever)."""

import datetime
import json
import multiprocessing
import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest
import yaml

from ansible_collections.armvirt.cpu.plugins.module_utils._common import atomic
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import recommend as fleet_recommend
from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, _fleet_view, fleet_report

ROOT = pathlib.Path(__file__).resolve().parents[4]
FACTS = json.loads((ROOT / "tests" / "fixtures" / "fleet" / "small-fleet.json").read_text())
NOW = datetime.datetime(2026, 11, 29, 16, 14, tzinfo=datetime.timezone.utc)
FORK = multiprocessing.get_context("fork")


def state(hosts=("a1", "a2", "b1"), unreachable=None):
    """The fleet view of ``hosts`` from the fixture; ``unreachable`` names a host that is down (with that error)."""
    hostvars = {host: {"ansible_facts": {"arm_cpu_props": FACTS[host]},
                       "armvirt_cpu_gather": {"status": "ok", "error": "", "gathered_at": "2026-11-29T16:00:00Z"}}
                for host in hosts}
    if unreachable:
        host, error = unreachable
        hostvars[host]["armvirt_cpu_gather"].update(status="unreachable", error=error)
    return _fleet_view.view(hostvars, list(hosts), 0, now=NOW)


def names(directory):
    return [os.path.basename(path) for path in _artifacts.snapshots(str(directory))]


def legacy(directory, name, hosts=None):
    folder = directory / "snapshots"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps({"taken_at": name[:16], "hosts": hosts or {}}))


def in_child(target, *args, timeout=20):
    """Run ``target(*args)`` in another process; fail (and kill it) when it does not end within ``timeout``."""
    proc = FORK.Process(target=target, args=args)
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        pytest.fail("%s did not end within %d s" % (target.__name__, timeout))
    assert proc.exitcode == 0


def write_in_child(directory):
    _artifacts.write_artifacts(directory, state(), snapshot=True, now=NOW)


def test_a_snapshot_stamped_in_the_future_no_longer_hangs_and_the_new_one_comes_after_it(tmp_path):
    legacy(tmp_path, "20270101T000000Z.json")
    start = time.monotonic()
    in_child(write_in_child, str(tmp_path))
    assert time.monotonic() - start < 10
    assert names(tmp_path) == ["20270101T000000Z.json", "000001-20261129T161400Z.json"]
    _state, current, previous, _rollout = fleet_report.load(str(tmp_path))
    assert set(current["hosts"]) == {"a1", "a2", "b1"} and previous["taken_at"] == "20270101T000000Z"


def test_snapshots_are_numbered_and_ordered_by_number_not_by_the_clock(tmp_path):
    earlier = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)   # a clock stepped back
    first = _artifacts.write_artifacts(str(tmp_path), state(), snapshot=True, now=NOW)[0]["snapshot"]
    second, changed = _artifacts.write_artifacts(str(tmp_path), state(("a1", "b1")), snapshot=True, now=earlier)
    assert names(tmp_path) == ["000001-20261129T161400Z.json", "000002-20250101T000000Z.json"]
    assert changed and first.endswith("000001-20261129T161400Z.json")
    assert second["snapshot"].endswith("000002-20250101T000000Z.json")
    _state, current, previous, _rollout = fleet_report.load(str(tmp_path))
    assert set(current["hosts"]) == {"a1", "b1"} and set(previous["hosts"]) == {"a1", "a2", "b1"}


def write_twice_in_one_second(directory):
    _artifacts.write_artifacts(directory, state(), snapshot=True, now=NOW)
    _artifacts.write_artifacts(directory, state(("a1", "b1")), snapshot=True, now=NOW)


def test_two_snapshots_in_one_second_get_two_numbers(tmp_path):
    """Earlier versions named the second ``<time>-1.json``, which sorts before ``<time>.json``, and spun for ever."""
    in_child(write_twice_in_one_second, str(tmp_path))
    assert names(tmp_path) == ["000001-20261129T161400Z.json", "000002-20261129T161400Z.json"]


def test_an_unchanged_fleet_adds_no_snapshot(tmp_path):
    paths, changed = _artifacts.write_artifacts(str(tmp_path), state(), snapshot=True, now=NOW)
    again, changed_again = _artifacts.write_artifacts(str(tmp_path), state(), snapshot=True,
                                                      now=NOW + datetime.timedelta(hours=1))
    assert changed and not changed_again and again["snapshot"] == paths["snapshot"]
    assert len(names(tmp_path)) == 1


def test_snapshots_of_earlier_versions_are_read_and_come_first(tmp_path):
    for name in ("20261129T161400Z-10.json", "20261129T161400Z.json", "20261129T161400Z-2.json",
                 "20261129T161400Z-1.json", "20250101T000000Z.json", "000010-20190101T000000Z.json",
                 "000002-20300101T000000Z.json", "notes.json", ".000011-x.json.abcdefgh.tmp"):
        legacy(tmp_path, name)
    assert names(tmp_path) == ["20250101T000000Z.json", "20261129T161400Z.json", "20261129T161400Z-1.json",
                               "20261129T161400Z-2.json", "20261129T161400Z-10.json",
                               "000002-20300101T000000Z.json", "000010-20190101T000000Z.json"]
    assert _artifacts.next_sequence(_artifacts.snapshots(str(tmp_path))) == 11
    path = _artifacts.write_artifacts(str(tmp_path), state(), snapshot=True, now=NOW)[0]["snapshot"]
    assert os.path.basename(path) == "000011-20261129T161400Z.json" == names(tmp_path)[-1]


def test_a_snapshot_number_taken_by_a_writer_without_the_lock_is_skipped(tmp_path, monkeypatch):
    """Without a working lock (NFS mounted nolock) two writers can pick one number: the second never replaces the
    first's file, it takes the next number."""
    legacy(tmp_path, "000001-20261129T161400Z.json")
    monkeypatch.setattr(_artifacts, "next_sequence", lambda paths: 1)
    path = _artifacts.take_snapshot(str(tmp_path), state(), NOW)[0]
    assert os.path.basename(path) == "000002-20261129T161400Z.json"
    assert json.loads((tmp_path / "snapshots" / "000001-20261129T161400Z.json").read_text())["hosts"] == {}


def hold_lock(directory, ready, seconds):
    with _artifacts.artifacts_lock(directory, "gather"):
        ready.set()
        time.sleep(seconds)


@pytest.fixture
def held(tmp_path):
    """Another process holding the artifacts directory's lock as a gather; yields its pid."""
    ready = FORK.Event()
    proc = FORK.Process(target=hold_lock, args=(str(tmp_path), ready, 10))
    proc.start()
    assert ready.wait(10)
    yield proc.pid
    proc.terminate()
    proc.join(10)


def test_a_held_lock_makes_a_writer_wait_then_fail_naming_the_holder(tmp_path, held):
    start = time.monotonic()
    with pytest.raises(_artifacts.ArtifactsLocked) as caught:
        _artifacts.write_artifacts(str(tmp_path), state(), snapshot=True, lock_timeout=0.5)
    waited = time.monotonic() - start
    assert 0.5 <= waited < 2
    message = str(caught.value)
    assert message.startswith("artifacts directory %s is locked by pid %d on host %s (gather, since 20"
                              % (tmp_path, held, socket.gethostname())), message
    assert message.endswith("; waited 0.5 s")
    assert sorted(os.listdir(str(tmp_path))) == [_artifacts.LOCK_FILE]   # nothing was written


def test_a_held_lock_stops_a_rollout_start_too(tmp_path, held):
    with pytest.raises(_artifacts.ArtifactsLocked, match="locked by pid %d" % held):
        _artifacts.start_rollout(str(tmp_path), {"targets": ["a1"]}, lock_timeout=0.2)


def test_a_writer_waits_for_the_holder_and_then_writes(tmp_path):
    ready = FORK.Event()
    proc = FORK.Process(target=hold_lock, args=(str(tmp_path), ready, 0.5))
    proc.start()
    assert ready.wait(10)
    start = time.monotonic()
    paths, changed = _artifacts.write_artifacts(str(tmp_path), state(), snapshot=True, lock_timeout=10)
    assert changed and 0.2 < time.monotonic() - start < 5
    proc.join(10)
    assert os.path.isfile(paths["snapshot"])


def test_write_if_changed_uses_the_atomic_writer_and_skips_unchanged_files(tmp_path, monkeypatch):
    calls, real = [], atomic.replace

    def replace(path, data, *args, **kwargs):
        calls.append(path)
        return real(path, data, *args, **kwargs)
    monkeypatch.setattr(atomic, "replace", replace)
    path = str(tmp_path / "sub" / "fleet.json")
    old_umask = os.umask(0o077)
    try:
        assert _artifacts.write_if_changed(path, "é\n")
    finally:
        os.umask(old_umask)
    inode = os.stat(path).st_ino
    assert not _artifacts.write_if_changed(path, "é\n")
    assert calls == [path] and os.stat(path).st_ino == inode
    assert os.stat(path).st_mode & 0o777 == 0o644 and os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o755
    assert _artifacts.write_if_changed(path, "other\n") and calls == [path, path]
    assert pathlib.Path(path).read_text() == "other\n"


@pytest.mark.parametrize("check", [False, True])
def test_write_if_changed_neither_reads_nor_writes_through_a_symlink(tmp_path, check):
    """A link planted in an artifact's place: refused, its target neither shown in the diff nor changed."""
    secret = tmp_path / "secret"
    secret.write_text("not the collection's\n")
    os.symlink(str(secret), str(tmp_path / "fleet.json"))
    writes = _artifacts.Writes(check=check, diff=True)
    with pytest.raises(atomic.SymlinkError, match="fleet.json is a symlink; refusing to follow it"):
        _artifacts.write_if_changed(str(tmp_path / "fleet.json"), "{}\n", writes)
    assert writes.diffs == [] and writes.changed == []
    assert secret.read_text() == "not the collection's\n" and os.path.islink(str(tmp_path / "fleet.json"))


def test_temporary_files_of_a_killed_writer_are_removed_under_the_lock(tmp_path):
    _artifacts.write_artifacts(str(tmp_path), state(), snapshot=True, now=NOW)
    leftovers = [tmp_path / ".fleet.json.abcd1234.tmp", tmp_path / "snapshots" / ".000002-x.json.abcd1234.tmp",
                 tmp_path / "policies" / ".fleet.yml.abcd1234.tmp"]
    someone_elses = tmp_path / ".notes.txt.abcd1234.tmp"
    for path in leftovers + [someone_elses]:
        path.write_text("{\"half")
    with _artifacts.artifacts_lock(str(tmp_path), "gather"):
        pass
    assert [path for path in leftovers if path.exists()] == [] and someone_elses.exists()


@pytest.mark.parametrize("mode", [0o777, 0o1777])
def test_a_world_writable_artifacts_directory_is_refused_before_anything_is_written(tmp_path, mode):
    """atomic.check_dir's rule, as for the property cache and guest_domains: a sticky bit does not stop planting."""
    os.chmod(tmp_path, mode)
    for write in (lambda: _artifacts.write_artifacts(str(tmp_path), state(), snapshot=True, now=NOW),
                  lambda: _artifacts.start_rollout(str(tmp_path), slice_plan(["a1"]))):
        with pytest.raises(atomic.UnsafeDirectoryError,
                           match="directory %s is world-writable; refusing to use it" % tmp_path):
            write()
    assert os.listdir(tmp_path) == []


def test_a_world_writable_report_directory_is_refused_through_the_action(tmp_path):
    """fleet_report fails naming the directory and writes no report into it (nor anything else)."""
    artifacts, report = tmp_path / "artifacts", tmp_path / "report"
    _artifacts.write_artifacts(str(artifacts), state(), snapshot=True, now=NOW)
    report.mkdir()
    os.chmod(report, 0o1777)
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"armvirt.cpu.fleet_report": {"artifacts_dir": str(artifacts), "output_dir": str(report)},
         "register": "r", "ignore_errors": True},
        {"ansible.builtin.copy": {"content": "{{ r | to_json }}", "dest": str(tmp_path / "r.json")}}]}]))
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                           "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
                          capture_output=True, text=True, timeout=180, check=False)
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["failed"] is True, proc.stdout + proc.stderr
    assert result["msg"] == ("fleet_report: cannot write the report in %s: directory %s is world-writable; refusing "
                             "to use it" % (report, report))
    assert os.listdir(report) == []


def test_the_writers_record_every_file_of_one_run(tmp_path):
    paths, _changed = _artifacts.write_artifacts(str(tmp_path), state(unreachable=("b1", "down")), snapshot=True,
                                                 now=NOW)
    fleet = json.loads((tmp_path / "fleet.json").read_text())
    assert fleet["hosts"]["b1"]["status"] == "unreachable" and "down" in fleet["hosts"]["b1"]["reason"]
    assert yaml.safe_load(pathlib.Path(paths["policies"]["fleet"]).read_text())["mode"] == "host-passthrough"
    assert json.loads(pathlib.Path(paths["snapshot"]).read_text())["hosts"]["b1"]["status"] == "unreachable"


def test_the_actions_document_the_lock_timeout_they_take():
    from ansible_collections.armvirt.cpu.plugins.action import fleet_report as report_action
    from ansible_collections.armvirt.cpu.plugins.action import fleet_state as state_action
    from ansible_collections.armvirt.cpu.plugins.modules import fleet_report as report_doc
    from ansible_collections.armvirt.cpu.plugins.modules import fleet_state as state_doc
    for action, doc in ((state_action, state_doc), (report_action, report_doc)):
        options = yaml.safe_load(doc.DOCUMENTATION)["options"]
        spec = action.ARGUMENT_SPEC.argument_spec
        assert sorted(options) == sorted(spec)
        assert options["lock_timeout"]["default"] == spec["lock_timeout"]["default"] == _artifacts.LOCK_TIMEOUT
        assert options["lock_timeout"]["type"] == spec["lock_timeout"]["type"] == "float"


def slice_plan(targets, rollout_id="wf-42", digest="sha256:aa", scope="fleet"):
    return {"targets": targets, "id": rollout_id, "scope": scope, "policy_file": "/p/fleet.yml",
            "members": ["a1", "a2", "b1"], "baseline": {"file": "/b.json", "digest": digest}}


def record(directory, host, status="ok"):
    path = directory / "rollout" / "hosts" / ("%s.json" % host)
    path.write_text(json.dumps({"status": status}))


def test_slices_of_one_rollout_share_one_plan_and_keep_each_others_records(tmp_path):
    _artifacts.start_rollout(str(tmp_path), slice_plan(["a1"]))
    record(tmp_path, "a1")
    _artifacts.start_rollout(str(tmp_path), slice_plan(["b1", "a2"]))
    record(tmp_path, "b1", "failed")
    plan = _artifacts.read_rollout(str(tmp_path))
    assert plan["targets"] == ["a1", "a2", "b1"] and plan["slices"] == 2
    assert plan["hosts"]["a1"] == {"status": "ok"} and plan["hosts"]["b1"] == {"status": "failed"}
    assert plan["hosts"]["a2"]["status"] == "not-run"


def test_a_slice_with_another_baseline_is_refused_and_the_plan_kept(tmp_path):
    _artifacts.start_rollout(str(tmp_path), slice_plan(["a1"]))
    record(tmp_path, "a1")
    before = (tmp_path / "rollout" / "plan.json").read_bytes()
    with pytest.raises(_artifacts.RolloutMismatch, match="rollout wf-42 differs .* in baseline"):
        _artifacts.start_rollout(str(tmp_path), slice_plan(["a1", "b1"], digest="sha256:bb"))
    assert (tmp_path / "rollout" / "plan.json").read_bytes() == before
    assert _artifacts.read_rollout(str(tmp_path))["hosts"]["a1"] == {"status": "ok"}


@pytest.mark.parametrize("first_id, second_id", [("", ""), ("wf-1", "wf-2"), ("wf-1", "")])
def test_a_rollout_without_the_same_id_starts_afresh(tmp_path, first_id, second_id):
    _artifacts.start_rollout(str(tmp_path), slice_plan(["a1", "a2"], rollout_id=first_id))
    record(tmp_path, "a1")
    _artifacts.start_rollout(str(tmp_path), slice_plan(["b1"], rollout_id=second_id, scope="host"))
    plan = _artifacts.read_rollout(str(tmp_path))
    assert plan["targets"] == ["b1"] and plan["slices"] == 1 and plan["scope"] == "host"


def test_a_snapshot_keeps_each_distinct_fact_once_and_reads_back_with_facts_in_place(tmp_path):
    view = state(("a1", "a2", "b1"))
    view["facts"]["a2"] = view["facts"]["a1"]     # two hosts of one kind
    path, _new = _artifacts.take_snapshot(str(tmp_path), view, NOW)
    stored = json.loads(pathlib.Path(path).read_text())
    assert stored["format"] == 2 and len(stored["facts"]) == 2
    assert stored["hosts"]["a1"]["fact"] == stored["hosts"]["a2"]["fact"] != stored["hosts"]["b1"]["fact"]
    snapshot = _artifacts.read_snapshot(path)
    assert {host: entry["fact"] for host, entry in snapshot["hosts"].items()} == view["facts"]


def test_policies_are_written_as_pyyaml_writes_them(tmp_path):
    view = state()
    paths, _changed = _artifacts.write_artifacts(str(tmp_path), view)
    for name, path in paths["policies"].items():
        document = _artifacts.policy_document(name, view["recommendations"][name], view)
        assert pathlib.Path(path).read_text() == "---\n" + yaml.safe_dump(document, sort_keys=False, width=120)


def tree(directory):
    """Every file under ``directory`` with its bytes: what check mode must leave as it found it."""
    return {str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*"))
            if path.is_file()}


def test_check_mode_writes_nothing_and_lists_what_it_would_write_with_diffs(tmp_path):
    _artifacts.write_artifacts(str(tmp_path), state(("a1", "a2")), snapshot=True, now=NOW)
    before = tree(tmp_path)
    writes = _artifacts.Writes(check=True, diff=True)
    paths, changed = _artifacts.write_artifacts(str(tmp_path), state(), snapshot=True, now=NOW, writes=writes)
    assert changed and tree(tmp_path) == before
    written = [os.path.relpath(path, str(tmp_path)) for path in writes.changed]
    assert "fleet.json" in written and "baseline.json" in written and "gathered.json" not in written
    assert paths["snapshot"] in writes.changed and not os.path.exists(paths["snapshot"])
    fleet_diff = [d for d in writes.diffs if d["after_header"].endswith("fleet.json")][0]
    assert '"b1"' in fleet_diff["after"] and '"b1"' not in fleet_diff["before"]
    # what check mode predicted is what a real run then writes
    real = _artifacts.Writes()
    _artifacts.write_artifacts(str(tmp_path), state(), snapshot=True, now=NOW, writes=real)
    assert sorted(real.changed) == sorted(writes.changed)


def test_check_mode_starts_no_rollout_and_removes_no_record(tmp_path):
    _artifacts.start_rollout(str(tmp_path), slice_plan(["a1"]))
    record(tmp_path, "a1")
    before = tree(tmp_path)
    _artifacts.start_rollout(str(tmp_path), slice_plan(["a1", "b1"], rollout_id="other"),
                             writes=_artifacts.Writes(check=True))
    assert tree(tmp_path) == before


def test_a_second_slice_without_a_frozen_baseline_is_refused_before_it_writes(tmp_path):
    _artifacts.start_rollout(str(tmp_path), slice_plan(["a1"]))
    _artifacts.refuse_unfrozen_slice(str(tmp_path), slice_plan(["b1"], rollout_id="another"))   # a rollout of its own
    with pytest.raises(_artifacts.RolloutMismatch, match="must share a frozen baseline"):
        _artifacts.refuse_unfrozen_slice(str(tmp_path), slice_plan(["b1"]))


KELVIN = "\u212a"


def odd_fleet(monkeypatch):
    """a1, a2, b1 of the fixture, with b1's QEMU listing two spellings of one value (which used to make every
    pool's recommendation, and so the whole run, fail), and t1, whose class's recommendation fails. Facts that pass
    the fact checks and still give no consistent policy are no longer reachable in canonical fields (the fleet's
    rules settle them: tests/unit/plugins/module_utils/_fleet/test_recommend.py), so t1's failure is injected where
    ``recommend.recommend`` raises, and what is tested is how the run carries one pool's failure."""
    facts = {host: json.loads(json.dumps(FACTS[host])) for host in ("a1", "a2", "b1", "t1")}
    facts["b1"]["properties"]["evil"] = {"type": "string", "supported_values": [KELVIN, "k"]}
    recommend = fleet_recommend.recommend

    def failing_for_t1(pool):
        if pool.get("members") == ["t1"]:   # the fleet view recommends for baselines
            raise ValueError("%s: no consistent recommendation: t1: pauth-impdef=on needs pauth=on"
                             % pool.get("label", "pool"))
        return recommend(pool)
    monkeypatch.setattr(fleet_recommend, "recommend", failing_for_t1)
    hostvars = {host: {"ansible_facts": {"arm_cpu_props": fact},
                       "armvirt_cpu_gather": {"status": "ok", "error": "", "gathered_at": "2026-11-29T16:00:00Z"}}
                for host, fact in facts.items()}
    return _fleet_view.view(hostvars, sorted(facts), 0, now=NOW)


def test_a_pool_whose_recommendation_fails_is_that_pools_failure(tmp_path, monkeypatch):
    view = odd_fleet(monkeypatch)
    odd = view["hosts"]["t1"]["class"]
    kelvin = view["hosts"]["b1"]["class"]
    assert view["failed_pools"] == {odd: "%s: no consistent recommendation: t1: pauth-impdef=on needs pauth=on" % odd}
    assert {"name": "evil", "policy": "require", "value": "k"} in view["recommendations"][kelvin]["features"]
    stale = tmp_path / "policies" / (odd + ".yml")          # an earlier run's policy for the pool no longer holds
    stale.parent.mkdir()
    stale.write_text("---\nmode: maximum\nfeatures: []\n")
    paths, changed = _artifacts.write_artifacts(str(tmp_path), view, snapshot=True, now=NOW)
    assert changed and not stale.exists()
    written = sorted(os.listdir(tmp_path / "policies"))
    assert written == sorted(name + ".yml" for name in set(view["classes"]["classes"]) - {odd} | {"fleet"})
    assert sorted(paths["policies"]) == sorted(name[:-4] for name in written)
    classes = json.loads((tmp_path / "classes.json").read_text())
    assert classes["classes"][odd]["failed"] == view["failed_pools"][odd]
    assert all("failed" not in info for cid, info in classes["classes"].items() if cid != odd)
    assert json.loads((tmp_path / "fleet.json").read_text())["failed_pools"] == view["failed_pools"]
    assert "%s: no policy, the recommendation failed: %s" % (odd, view["failed_pools"][odd]) \
        in _fleet_view.summary_lines(view)
    model = fleet_report.build(str(tmp_path))
    for key, template in fleet_report.TEMPLATES.items():
        page = fleet_report.render(model, str(ROOT / "playbooks" / "templates" / template), key == "html")
        assert "the recommendation failed: %s: no consistent recommendation" % odd in page
        assert page.count("the recommendation failed") == 1
    assert [place["name"] for place in model["placements"]] == ["pool fleet"] + sorted(
        "pool " + cid for cid in classes["classes"] if cid != odd)
    again, changed = _artifacts.write_artifacts(str(tmp_path), view, snapshot=True, now=NOW)
    assert not changed and again == paths
