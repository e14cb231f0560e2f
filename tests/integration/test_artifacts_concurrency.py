"""Runs that share one artifacts directory at once: writers in separate processes and real ansible-playbook runs
(two gathers of slices of a simulated fleet and a report, repeated) lose no snapshot and no host's entry, readers
never see a partly written file, a snapshot stamped in the future does not stop a gather, and a held lock ends a run
after its timeout with a message naming the holder."""

import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from armsim import write_wrapper

from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYTHONPATH = os.pathsep.join([str(ROOT / ".build" / "collections"), os.environ.get("PYTHONPATH", "")])

# Each writer process writes its own host set (a slice), with a unique reason on one host, so that every write
# differs from the latest snapshot and must leave exactly one snapshot of its own; its clock jumps by up to two years
# either way, so names that follow the clock would be out of order.
WRITER = textwrap.dedent("""
    import datetime, json, random, sys, time
    from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, _fleet_view
    directory, writer, iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    hosts = json.loads(sys.argv[4])
    facts = json.load(open(sys.argv[5]))
    rng = random.Random(writer)
    now = datetime.datetime(2026, 11, 29, tzinfo=datetime.timezone.utc)
    for iteration in range(iterations):
        hostvars = {host: {"ansible_facts": {"arm_cpu_props": facts[host]},
                           "armvirt_cpu_gather": {"status": "ok", "gathered_at": "2026-11-29T00:00:00Z"}}
                    for host in hosts}
        hostvars[hosts[0]]["armvirt_cpu_gather"].update(status="unreachable", error="w%d i%d" % (writer, iteration))
        state = _fleet_view.view(hostvars, hosts, 0, now=now)
        clock = now + datetime.timedelta(days=rng.randint(-730, 730))
        paths, changed = _artifacts.write_artifacts(directory, state, snapshot=True, now=clock, lock_timeout=60,
                                                     what="writer %d" % writer)
        print(json.dumps({"iteration": iteration, "snapshot": paths["snapshot"], "changed": changed}), flush=True)
        time.sleep(rng.random() / 200)
""")

# Reads every artifact over and over while the writers run; a file that does not parse is a torn read.
READER = textwrap.dedent("""
    import glob, json, os, sys, yaml
    directory, stop, slices = sys.argv[1], sys.argv[2], [set(hosts) for hosts in json.loads(sys.argv[3])]
    reads = 0
    while not os.path.exists(stop):
        paths = [os.path.join(directory, name) for name in ("fleet.json", "classes.json", "baseline.json",
                                                           "gathered.json")]
        paths += sorted(glob.glob(os.path.join(directory, "snapshots", "*.json")))
        for path in paths + sorted(glob.glob(os.path.join(directory, "policies", "*.yml"))):
            try:
                with open(path) as handle:
                    text = handle.read()
            except FileNotFoundError:
                continue
            try:
                data = yaml.safe_load(text) if path.endswith(".yml") else json.loads(text)
            except ValueError as exc:
                sys.exit("torn read of %s: %s: %r" % (path, exc, text[:200]))
            if not isinstance(data, dict):
                sys.exit("not a complete file: %s: %r" % (path, text[:200]))
            if path.endswith("fleet.json") and set(data["hosts"]) not in slices:
                sys.exit("fleet.json mixes writers: %s" % sorted(data["hosts"]))
            reads += 1
    print(reads)
""")

SLICES = [["a1", "a2"], ["b1", "t1"], ["a1", "b1", "u1"]]
ITERATIONS = 25


def test_writers_at_once_lose_no_snapshot_and_a_reader_never_sees_a_torn_file(tmp_path):
    directory, stop = tmp_path / "artifacts", tmp_path / "stop"
    (tmp_path / "writer.py").write_text(WRITER)
    (tmp_path / "reader.py").write_text(READER)
    env = dict(os.environ, PYTHONPATH=PYTHONPATH)
    facts = str(ROOT / "tests" / "fixtures" / "fleet" / "small-fleet.json")
    reader = subprocess.Popen([sys.executable, str(tmp_path / "reader.py"), str(directory), str(stop),
                               json.dumps(SLICES)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start = time.monotonic()
    writers = [subprocess.Popen([sys.executable, str(tmp_path / "writer.py"), str(directory), str(number),
                                 str(ITERATIONS), json.dumps(hosts), facts], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for number, hosts in enumerate(SLICES)]
    results = [writer.communicate(timeout=120) for writer in writers]
    elapsed = time.monotonic() - start
    stop.write_text("")
    reads, reader_errors = reader.communicate(timeout=60)
    assert reader.returncode == 0, reader_errors
    assert int(reads) > 50, "the reader hardly ran"
    for writer, (_out, errors) in zip(writers, results):
        assert writer.returncode == 0, errors

    taken = {}
    for number, (out, _errors) in enumerate(results):
        records = [json.loads(line) for line in out.splitlines()]
        assert [record["iteration"] for record in records] == list(range(ITERATIONS))
        assert all(record["changed"] for record in records)
        for record in records:
            snapshot = _artifacts.read_snapshot(record["snapshot"])
            assert sorted(snapshot["hosts"]) == sorted(SLICES[number])
            assert "w%d i%d" % (number, record["iteration"]) in snapshot["hosts"][SLICES[number][0]]["reason"]
            taken[record["snapshot"]] = (number, record["iteration"])
        numbers = [int(os.path.basename(record["snapshot"]).split("-")[0]) for record in records]
        assert numbers == sorted(numbers), "a writer's snapshots are out of order: %s" % numbers
    paths = _artifacts.snapshots(str(directory))
    assert len(taken) == len(SLICES) * ITERATIONS               # no two writes share a snapshot ...
    assert sorted(paths) == sorted(taken)                       # ... and every one is there, nothing else
    assert [int(os.path.basename(path).split("-")[0]) for path in paths] == list(range(1, len(paths) + 1))
    fleet = json.loads((directory / "fleet.json").read_text())
    assert sorted(fleet["hosts"]) in [sorted(hosts) for hosts in SLICES]
    assert set(json.loads((directory / "baseline.json").read_text())["members"]) <= set(fleet["hosts"])
    assert [name for name in os.listdir(str(directory / "snapshots")) if name.endswith(".tmp")] == []
    print("%d writes by %d processes in %.1f s; the reader parsed %s files"
          % (len(paths), len(SLICES), elapsed, reads.strip()))


# --- the playbooks ------------------------------------------------------------------------------------------------

PROFILES = {"n1-a": "neoverse-n1", "v1": "neoverse-v1", "n1-b": "neoverse-n1", "v2": "neoverse-v2"}
GROUPS = {"slice_a": ["n1-a", "v1"], "slice_b": ["n1-b", "v2"]}


class Fleet(object):
    """Four simulated hosts in two slices (inventory groups), a jsonfile fact cache and one artifacts directory."""

    def __init__(self, root):
        self.root, self.artifacts = root, root / "artifacts"
        hosts = {}
        for name, profile in PROFILES.items():
            home = root / "hosts" / name
            home.mkdir(parents=True)
            write_wrapper(str(home / "qemu-system-aarch64"), profile)
            hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                           "armvirt_cpu_emulator": str(home / "qemu-system-aarch64"), "armvirt_cpu_accel": "kvm",
                           "armvirt_cpu_cache_dir": str(home / "cache")}
        children = {group: {"hosts": {host: hosts[host] for host in members}} for group, members in GROUPS.items()}
        self.inventory = root / "inventory.yml"
        self.inventory.write_text(yaml.safe_dump({"all": {"children": {"hypervisors": {"children": children}}}}))
        (root / "ansible.cfg").write_text(
            "[defaults]\nretry_files_enabled = False\nforks = 4\n"
            "fact_caching = ansible.builtin.jsonfile\nfact_caching_connection = %s\n" % (root / "facts"))

    def start(self, playbook, *args):
        command = ["ansible-playbook", "armvirt.cpu.%s" % playbook, "-i", str(self.inventory),
                   "-e", "armvirt_cpu_artifacts_dir=%s" % self.artifacts] + list(args)
        env = dict(os.environ, ANSIBLE_CONFIG=str(self.root / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_SHOW_CUSTOM_STATS="1")
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                cwd=str(self.root), start_new_session=True)

    def finish(self, proc, timeout=120):
        """(exit code, output); a run still going after ``timeout`` seconds is killed and fails the test."""
        try:
            output = proc.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            output = proc.communicate()[0]
            pytest.fail("%s still running after %d s:\n%s" % (" ".join(proc.args[:2]), timeout, output[-3000:]))
        return proc.returncode, output


def custom_stats(output):
    match = re.search(r"^\s*RUN: (\{.*\})\s*$", output, re.M)
    assert match, output[-3000:]
    return json.loads(match.group(1))


@pytest.fixture
def fleet(tmp_path):
    return Fleet(tmp_path)


def test_two_slice_gathers_and_a_report_at_once_lose_nothing_repeated(fleet):
    # a snapshot stamped by a controller whose clock is ahead: the gather used to spin on it for ever
    (fleet.artifacts / "snapshots").mkdir(parents=True)
    (fleet.artifacts / "snapshots" / "20270101T000000Z.json").write_text(json.dumps(
        {"taken_at": "2027-01-01T00:00:00Z", "hosts": {}}))
    start = time.monotonic()
    code, output = fleet.finish(fleet.start("gather", "-e", "armvirt_cpu_hosts=slice_a"), timeout=90)
    assert code == 0, output[-3000:]
    first = custom_stats(output)["armvirt_cpu_artifacts"]["snapshot"]
    assert os.path.basename(first).startswith("000001-")
    assert _artifacts.snapshots(str(fleet.artifacts))[-1] == first
    timings = ["first gather after a future snapshot: %.1f s" % (time.monotonic() - start)]

    for round_ in range(2):
        start = time.monotonic()
        runs = {"a": fleet.start("gather", "-e", "armvirt_cpu_hosts=slice_a"),
                "b": fleet.start("gather", "-e", "armvirt_cpu_hosts=slice_b"),
                "report": fleet.start("report")}
        outcomes = {name: fleet.finish(proc) for name, proc in runs.items()}
        timings.append("round %d (two gathers and a report at once): %.1f s" % (round_ + 1, time.monotonic() - start))
        for name, (code, output) in outcomes.items():
            assert code == 0, "%s:\n%s" % (name, output[-3000:])
        for name in ("a", "b"):
            stats = custom_stats(outcomes[name][1])
            snapshot = _artifacts.read_snapshot(stats["armvirt_cpu_artifacts"]["snapshot"])
            # each gather's own snapshot (new, or the latest when it was already the latest) holds its whole slice
            assert sorted(snapshot["hosts"]) == GROUPS["slice_" + name]
            assert all(entry["status"] == "ok" and entry["fact"]["supported"] for entry in snapshot["hosts"].values())
            assert sorted(stats["armvirt_cpu_host_status"]) == GROUPS["slice_" + name]
        markdown = (fleet.artifacts / "report" / "report.md").read_text()
        assert "n1-a" in markdown or "n1-b" in markdown
        assert (fleet.artifacts / "report" / "index.html").read_text().rstrip().endswith("</html>")

    paths = _artifacts.snapshots(str(fleet.artifacts))
    assert os.path.basename(paths[0]) == "20270101T000000Z.json"
    numbers = [int(os.path.basename(path).split("-")[0]) for path in paths[1:]]
    assert numbers == list(range(1, len(numbers) + 1))
    # the slices alternate in the directory, so every gather after the first either found its own slice latest
    # or added one: at least one snapshot per round, at most one per gather
    assert 3 <= len(numbers) <= 5
    for path in paths:
        json.loads(pathlib.Path(path).read_text())
    fleet_json = json.loads((fleet.artifacts / "fleet.json").read_text())
    assert sorted(fleet_json["hosts"]) in (GROUPS["slice_a"], GROUPS["slice_b"])
    assert all(entry["usable"] for entry in fleet_json["hosts"].values())
    print("; ".join(timings))


def test_a_held_lock_ends_report_and_rollout_after_their_timeout_naming_the_holder(fleet):
    # gathered first: a rollout checks that some host's facts count before it waits for the lock
    code, output = fleet.finish(fleet.start("gather"), timeout=90)
    assert code == 0, output[-3000:]
    start = time.monotonic()
    with _artifacts.artifacts_lock(str(fleet.artifacts), "test holder"):
        runs = {name: fleet.start(name, "-e", "armvirt_cpu_lock_timeout=2") for name in ("report", "rollout")}
        outcomes = {name: fleet.finish(proc, timeout=90) for name, proc in runs.items()}
    elapsed = time.monotonic() - start
    expected = "artifacts directory %s is locked by pid %d on host %s (test holder, since " % (
        fleet.artifacts, os.getpid(), socket.gethostname())
    for name, (code, output) in outcomes.items():
        assert code != 0, output[-3000:]
        assert expected in output, "%s:\n%s" % (name, output[-3000:])
        assert "; waited 2.0 s (option lock_timeout; the playbooks' armvirt_cpu_lock_timeout)" in output
    assert not (fleet.artifacts / "rollout").exists() and not (fleet.artifacts / "report").exists()
    print("report and rollout against a held lock, at once: %.1f s" % elapsed)
