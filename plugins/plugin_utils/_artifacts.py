# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The artifacts directory that other systems read: fleet.json, classes.json, baseline.json, policies/*.yml,
snapshots, the rollout's plan and host records; its lock, and readers that tell a damaged file from a missing one.

The artifacts are written only when their content changes (:func:`write_if_changed`), from a view of the fleet
(``_fleet_view``) that holds nothing that changes from run to run when the fleet does not, so a second run reports
no change. Controller side only (the ``armvirt.cpu.fleet_state``, ``armvirt.cpu.fleet_report`` and
``armvirt.cpu.rollout_record`` actions, the ``armvirt.cpu.classes`` inventory source). Private to the collection.

Several runs may use one artifacts directory at once (gathers of slices of the fleet, a report, a rollout, other
controllers on shared storage). Writers hold the directory's lock (:func:`artifacts_lock`, the file
``.armvirt-cpu.lock``) while they write, and give up after a timeout with a message naming the holder; every file
is replaced atomically (``module_utils._common.atomic``), so a reader sees the old or the new file, never a part.
Snapshots are numbered: ``snapshots/000042-20261129T161400Z.json`` is the 42nd, taken under the lock, and they are
ordered by that number, never by the time in the name, which is only for people (clocks of controllers need not agree).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterable, Iterator, Mapping, cast

import yaml

from ansible_collections.armvirt.cpu.plugins.module_utils._common import atomic
from ansible_collections.armvirt.cpu.plugins.module_utils._common import paths as _paths
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import classes as fleet_classes
from ansible_collections.armvirt.cpu.plugins.plugin_utils._fleet_view import (
    CLASS_ID_RE, FLEET_POOL, INVALID_NAME, host_name_problem, utcnow)

if TYPE_CHECKING:
    import datetime

FLEET_FILE, CLASSES_FILE, BASELINE_FILE, GATHERED_FILE = "fleet.json", "classes.json", "baseline.json", "gathered.json"
# each class's baseline ({class id: baseline}): what a rollout with armvirt_cpu_scope class renders against, frozen
# next to baseline.json (it is no part of fleet.json, whose readers never need it)
CLASS_BASELINES_FILE = "class-baselines.json"
POLICY_DIR, SNAPSHOT_DIR, ROLLOUT_DIR = "policies", "snapshots", "rollout"
CORRUPT = "corrupt"   # a rollout record that cannot be read
NOT_RUN = {"status": "not-run", "reason": "no result: the rollout stopped before this host's batch "
           "(max_fail_percentage exceeded, or every host of a batch failed)"}
SNAPSHOT_STAMP = "%Y%m%dT%H%M%SZ"
# snapshots/<sequence>-<UTC time>.json; the names of earlier versions, <UTC time>.json and <UTC time>-<n>.json, are
# still read and come before every numbered one
SNAPSHOT_RE = re.compile(r"\A(?P<seq>[0-9]+)-(?P<stamp>[0-9]{8}T[0-9]{6}Z)\.json\Z")
LEGACY_SNAPSHOT_RE = re.compile(r"\A(?P<stamp>[0-9]{8}T[0-9]{6}Z)(?:-(?P<index>[0-9]+))?\.json\Z")
SNAPSHOT_ATTEMPTS = 100   # numbers tried when a snapshot name is taken (only without a working lock, e.g. NFS nolock)

LOCK_FILE = ".armvirt-cpu.lock"
LOCK_TIMEOUT = 120.0   # seconds a writer waits for the artifacts directory's lock before it fails
OWN_FILES = {"": (FLEET_FILE, CLASSES_FILE, BASELINE_FILE, GATHERED_FILE, CLASS_BASELINES_FILE),
             ROLLOUT_DIR: ("plan.json",)}
OWN_DIRS = (POLICY_DIR, SNAPSHOT_DIR, "report")   # every file in them is the collection's


# libyaml's dumper where PyYAML has it: the same text, ten times sooner (a fleet has a policy per class)
YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class ArtifactsLocked(Exception):
    """Another run held the artifacts directory's lock for the whole timeout; the message names it."""


class CorruptArtifact(Exception):
    """An artifact that is there but cannot be used: unreadable, not JSON, or not the shape the collection writes.

    Never raised for a missing file (that is FileNotFoundError): a damaged file must not read as an absent one, or
    a report says "run gather first" and a comparison silently takes another snapshot. The message names the file
    and what is wrong with it."""

    def __init__(self, path: str, problem: str, state: str = "corrupt") -> None:
        self.path, self.problem = path, problem
        super(CorruptArtifact, self).__init__("%s is %s: %s" % (path, state, problem))


def read_classes(path: str) -> tuple[dict[str, str | None], dict[str, Any]]:
    """``({host: class id or None}, {class id: summary})`` of a ``classes.json`` as fleet_state writes it: each
    classified host with its class, each host the classification left out (``excluded``) with None. Raises
    FileNotFoundError when the file is missing and :class:`CorruptArtifact` when it is not that file, a host name that
    cannot be one (:func:`host_name_problem`) or a class id that cannot name a group included: the names in it are
    data, and a file that holds such a name was not written by fleet_state."""
    document = load_artifact(path, CLASSES_SHAPE)
    hosts: dict[str, str | None] = {}
    for cid in document["classes"]:
        if not CLASS_ID_RE.match(cid):
            raise CorruptArtifact(path, "class id %r cannot name an inventory group (letters, digits, - and _, at "
                                  "most 128)" % (cid,))
    for host, cid in document["hosts"].items():
        problem = host_name_problem(host)
        if problem:
            raise CorruptArtifact(path, problem)
        if not isinstance(cid, str) or cid not in document["classes"]:
            raise CorruptArtifact(path, "host %r is in class %r, which is not one of its classes" % (host, cid))
        hosts[host] = cid
    excluded = document.get("excluded") or []
    if not isinstance(excluded, list) or not all(isinstance(record, dict) for record in excluded):
        raise CorruptArtifact(path, "excluded is not a list of records ({host, reason})")
    for record in excluded:
        problem = host_name_problem(record.get("host"))
        if problem:
            raise CorruptArtifact(path, problem)
        hosts.setdefault(record["host"], None)
    return hosts, document["classes"]


def policy_document(name: str, policy: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    """A recommendation as a policy file the guest_cpu role takes unchanged (with a description saying whose)."""
    if name == FLEET_POOL:
        who = "every member of the fleet baseline (%s)" % ", ".join(state["baseline"]["members"])
    else:
        who = "compatibility class %s (%s)" % (name, ", ".join(state["classes"]["classes"][name]["hosts"]))
    return {"description": "armvirt.cpu.fleet_recommend: the richest guest CPU accepted by %s. %s"
                           % (who, fleet_classes.CLASS_GUARANTEE),
            "mode": policy["mode"], "features": policy["features"]}


def dump_json(data: object) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


@contextlib.contextmanager
def artifacts_lock(directory: str, what: str, timeout: float | None = LOCK_TIMEOUT,
                   create: bool = True) -> Iterator[None]:
    """Hold the lock of the artifacts ``directory`` (created when missing, unless ``create`` is false: then a missing
    directory is not locked, there is nothing in it to read).

    ``what`` (gather, rollout, report) is recorded with the pid, host name and start time in the lock file; after
    ``timeout`` seconds (None: no limit) the wait ends with :class:`ArtifactsLocked` naming that holder. Under the
    lock, temporary files that a killed writer left in the directory are removed. A world-writable directory is
    refused (``atomic.check_dir``: an OSError) before anything is written in it.
    """
    if not create and not os.path.isdir(directory):
        yield
        return
    atomic.make_dirs(directory)
    atomic.check_dir(directory)
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(atomic.locked(os.path.join(directory, LOCK_FILE), timeout, what))
    except atomic.LockTimeout as exc:
        raise ArtifactsLocked("artifacts directory %s is locked by %s; waited %.1f s"
                              % (directory, atomic.describe_holder(exc.holder), exc.waited))
    with stack:
        for folder, names in OWN_FILES.items():
            _remove_stale_temps(os.path.join(directory, folder), names.__contains__)
        for folder in OWN_DIRS:
            _remove_stale_temps(os.path.join(directory, folder), lambda name: True)
        yield


def _remove_stale_temps(folder: str, owns: Callable[[str], bool]) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        atomic.remove_stale_temps(folder, owns)


class Writes(object):
    """The files one run writes, or in check mode (``check``) would write and does not: ``changed`` lists them,
    and with ``diff`` (Ansible's --diff) ``diffs`` holds each one's before and after, as Ansible shows them.
    ``notes`` are the damaged files the run found and left as they were (a corrupt latest snapshot), for people."""

    def __init__(self, check: bool = False, diff: bool = False) -> None:
        self.check, self.diff = check, diff
        self.changed: list[str]
        self.diffs: list[dict[str, str]]
        self.notes: list[str]
        self.changed, self.diffs, self.notes = [], [], []

    def record(self, path: str, before: str, after: str) -> None:
        self.changed.append(path)
        if self.diff:
            self.diffs.append({"before_header": path, "after_header": path, "before": before, "after": after})

    def lock(self, directory: str, what: str, timeout: float | None, create: bool = True) -> ContextManager[None]:
        """The directory's lock (:func:`artifacts_lock`); none in check mode, which writes nothing (not even the
        lock file) and reads files that are only ever replaced whole."""
        return contextlib.nullcontext() if self.check else artifacts_lock(directory, what, timeout, create)


def write_if_changed(path: str, text: str, writes: Writes | None = None, bookkeeping: bool = False) -> bool:
    """Write ``text`` atomically (``atomic.replace``: fsynced, 0644) unless the file already holds it; True when it
    changed (or, in check mode, would). ``writes`` (:class:`Writes`) records it, unless it is ``bookkeeping``
    (gathered.json, the rollout's plan: written but never a change, and not written in check mode)."""
    writes = writes or Writes()
    data = text.encode("utf-8")
    before = atomic.read_existing(path)[0]
    if before == data:
        return False
    if not bookkeeping:
        writes.record(path, before.decode("utf-8", "replace") if before is not None else "", text)
    if not writes.check:
        atomic.make_dirs(os.path.dirname(os.path.abspath(path)))
        atomic.replace(path, data)
    return True


def remove_if_present(path: str, writes: Writes) -> bool:
    """Remove ``path`` (``writes`` records it; in check mode it stays); True when there was one."""
    try:
        with open(path, "rb") as handle:
            before = handle.read()
    except FileNotFoundError:
        return False
    writes.record(path, before.decode("utf-8", "replace"), "")
    if not writes.check:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return True


SNAPSHOT_FORMAT = 2


def snapshot_document(state: Mapping[str, Any]) -> dict[str, Any]:
    """What a snapshot keeps: per host its status, reason and usable fact (no times except stale facts' own).

    Each distinct fact is kept once under ``facts`` and hosts name it (``fact``: its id, the start of the sha256 of
    its canonical JSON): a fleet of 10,000 hosts has a few kinds of host, not 10,000 facts.
    """
    facts: dict[str, Any]
    hosts: dict[str, dict[str, Any]]
    facts, hosts = {}, {}
    for host, entry in state["hosts"].items():
        fact = state["facts"][host]
        fact_id = None
        if fact is not None:
            fact_id = "sha256:" + hashlib.sha256(json.dumps(fact, sort_keys=True).encode("utf-8")).hexdigest()[:16]
            facts.setdefault(fact_id, fact)
        hosts[host] = {"status": entry["status"], "reason": entry["reason"], "fact": fact_id}
    return {"format": SNAPSHOT_FORMAT, "facts": facts, "hosts": hosts}


def read_snapshot(path: str) -> dict[str, Any]:
    """A snapshot with each host's fact in place (``hosts[host]["fact"]``), whatever format wrote it. Raises
    FileNotFoundError when it is gone, :class:`CorruptArtifact` when it is not a snapshot (any more)."""
    snapshot = load_artifact(path, SNAPSHOT_SHAPE)
    if not all(isinstance(entry, dict) for entry in snapshot["hosts"].values()):
        raise CorruptArtifact(path, "a host's entry under hosts is not a JSON object")
    if snapshot.get("format") == SNAPSHOT_FORMAT:
        facts = snapshot.pop("facts", None)
        if not isinstance(facts, dict):
            raise CorruptArtifact(path, "format %d without the facts its hosts name" % SNAPSHOT_FORMAT)
        for entry in snapshot["hosts"].values():
            entry["fact"] = facts.get(entry.get("fact"))
    return snapshot


def snapshot_order(name: str) -> tuple[Any, ...] | None:
    """Sort key of a snapshot file name, None when it is not one.

    Numbered snapshots by their number; before them the names of earlier versions by their time and suffix (``T``,
    ``T-1``, ``T-2``, ... ``T-10``), which is how those versions wrote them. The time in a numbered name plays no part.
    """
    match = SNAPSHOT_RE.match(name)
    if match:
        return (1, int(match.group("seq")), name)
    match = LEGACY_SNAPSHOT_RE.match(name)
    if match:
        return (0, match.group("stamp"), int(match.group("index") or 0), name)
    return None


def snapshots(directory: str) -> list[str]:
    """The snapshot files of an artifacts directory, oldest first (other files in ``snapshots/`` are left out)."""
    folder = os.path.join(directory, SNAPSHOT_DIR)
    try:
        names = [name for name in os.listdir(folder) if snapshot_order(name) is not None]
    except OSError:
        return []
    return [os.path.join(folder, name)   # snapshot_order is never None for these names
            for name in sorted(names, key=cast("Callable[[str], tuple[Any, ...]]", snapshot_order))]


def next_sequence(paths: Iterable[str]) -> int:
    """One more than the highest number of the numbered snapshots among ``paths`` (1 when there is none)."""
    numbers = [snapshot_order(os.path.basename(path)) for path in paths]
    return max([key[1] for key in numbers if key and key[0] == 1] or [0]) + 1


# what each artifact must hold for its readers, ((key, type), ...): less is a corrupt file, not a missing one
FLEET_SHAPE = (("hosts", dict), ("classes", dict), ("baseline", dict), ("recommendations", dict))
SNAPSHOT_SHAPE = (("hosts", dict),)
PLAN_SHAPE = (("targets", list),)
CLASSES_SHAPE = (("classes", dict), ("hosts", dict))
RECORD_SHAPE = (("status", str),)


def load_json(path: str) -> dict[str, Any]:
    """The JSON object in the artifact ``path``. Raises FileNotFoundError when the file is missing (what that means
    is the caller's to say) and :class:`CorruptArtifact` for anything else: unreadable, not UTF-8, not JSON (with
    the line and column), or not an object."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CorruptArtifact(path, "cannot be read: %s" % (exc.strerror or exc), state="unreadable")
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CorruptArtifact(path, "not UTF-8 text (%s)" % exc)
    except ValueError as exc:
        raise CorruptArtifact(path, "not valid JSON: %s" % exc)
    if not isinstance(document, dict):
        raise CorruptArtifact(path, "a JSON %s where armvirt.cpu writes an object" % type(document).__name__)
    return document


def load_artifact(path: str, shape: Iterable[tuple[str, type]]) -> dict[str, Any]:
    """:func:`load_json`, and the keys ``shape`` names present with their types (else :class:`CorruptArtifact`)."""
    document = load_json(path)
    wrong = ["%s (%s)" % (key, kind.__name__) for key, kind in shape if not isinstance(document.get(key), kind)]
    if wrong:
        raise CorruptArtifact(path, "not what armvirt.cpu writes there: %s missing or of another type"
                              % ", ".join(wrong))
    return document


def read_gathered(directory: str) -> tuple[dict[str, str], str | None]:
    """``({host: gathered_at}, note)`` from gathered.json, which remembers each gathered host after the fact cache
    dropped it. ``({}, None)`` when there is none; when it is corrupt ``({}, note)``, the note naming the file, for
    the run's summary: without it a host whose facts are gone cannot be told from one never gathered. (gather
    replaces the file; it is its bookkeeping.)"""
    try:
        document = load_json(os.path.join(directory, GATHERED_FILE))
    except FileNotFoundError:
        return {}, None
    except CorruptArtifact as exc:
        return {}, "%s; hosts without facts cannot be told from hosts never gathered" % exc
    return {str(host): when for host, when in document.items() if isinstance(when, str) and when}, None


def take_snapshot(directory: str, state: Mapping[str, Any], now: datetime.datetime,
                  writes: Writes | None = None) -> tuple[str, bool]:
    """Keep this gather's facts when they differ from the latest snapshot; returns (path, changed). Call it holding
    the directory's lock (:func:`artifacts_lock`; :func:`write_artifacts` does). In check mode (``writes``) the
    path is the one it would take.

    A snapshot is a distinct state of the fleet, not a run: the report compares the latest two to say what changed
    (a kernel or QEMU update that narrowed a host's values), and a fleet that did not change adds none. The new one
    is numbered one more than the highest number present, whatever the times in the names and this clock say.
    """
    writes = writes or Writes()
    document = json.loads(json.dumps(snapshot_document(state)))
    existing = snapshots(directory)
    latest = None
    if existing:
        try:
            latest = load_json(existing[-1])
        except FileNotFoundError:
            pass
        except CorruptArtifact as exc:   # kept for inspection; the new snapshot comes after it
            writes.notes.append("the latest snapshot %s; it is kept as it is and a new snapshot follows it" % exc)
    if latest is not None and {key: latest.get(key) for key in document} == document:
        return existing[-1], False
    folder = os.path.join(directory, SNAPSHOT_DIR)
    text = dump_json(dict(document, taken_at=now.strftime("%Y-%m-%dT%H:%M:%SZ")))
    first = next_sequence(existing)
    for sequence in range(first, first + SNAPSHOT_ATTEMPTS):
        path = _paths.join(folder, "%06d-%s" % (sequence, now.strftime(SNAPSHOT_STAMP)), ".json", root=directory)
        if writes.check:
            writes.record(path, "", text)
            return path, True
        atomic.make_dirs(folder)
        try:
            atomic.create(path, text.encode("utf-8"))   # never replaces: a writer without our lock cannot lose one
        except FileExistsError:
            continue
        writes.record(path, "", text)
        return path, True
    raise FileExistsError("snapshots %06d to %06d in %s all exist" % (first, first + SNAPSHOT_ATTEMPTS - 1, folder))


def write_artifacts(directory: str, state: Mapping[str, Any], snapshot: bool = False,
                    now: datetime.datetime | None = None, lock_timeout: float | None = LOCK_TIMEOUT,
                    what: str = "fleet_state", writes: Writes | None = None) -> tuple[dict[str, Any], bool]:
    """Write fleet.json, classes.json, baseline.json, policies/*.yml (and a snapshot); returns (paths, changed).

    Holds the directory's lock (:func:`artifacts_lock`, as ``what``, waiting at most ``lock_timeout`` seconds) for
    the whole set, so the files of one run never mix with another's. ``gathered.json`` (each host's gathered_at)
    changes with every gather, so it is written but never counts as a change: it is bookkeeping, like the fact cache.
    With ``writes`` in check mode nothing is written; it lists what would change.
    """
    writes = writes or Writes()
    with writes.lock(directory, what, lock_timeout):
        return _write_artifacts(directory, state, snapshot, now or utcnow(), writes)


def _write_artifacts(directory: str, state: Mapping[str, Any], snapshot: bool, now: datetime.datetime,
                     writes: Writes) -> tuple[dict[str, Any], bool]:
    paths: dict[str, Any]
    paths, changed = {}, False
    policies: dict[str, str] = {}
    for name, policy in sorted(state["recommendations"].items()):
        path = _paths.join(os.path.join(directory, POLICY_DIR), name, ".yml", root=directory)
        document = policy_document(name, policy, state)
        text = "---\n" + yaml.dump(document, Dumper=YAML_DUMPER, sort_keys=False, width=120)
        changed |= write_if_changed(path, text, writes)
        policies[name] = path
    for name in sorted(state.get("failed_pools") or {}):   # an earlier run's policy no longer holds for the pool
        changed |= remove_if_present(_paths.join(os.path.join(directory, POLICY_DIR), name, ".yml"), writes)
    paths["policies"] = policies
    if snapshot:
        paths["snapshot"], new = take_snapshot(directory, state, now, writes)
        changed |= new
    summary = {key: value for key, value in state.items() if key not in ("facts", "class_baselines")}
    summary["hosts"] = {host: {key: value for key, value in entry.items() if key != "gathered_at"}
                        for host, entry in state["hosts"].items()}
    for name, data in ((FLEET_FILE, summary), (CLASSES_FILE, state["classes"]), (BASELINE_FILE, state["baseline"]),
                       (CLASS_BASELINES_FILE, state["class_baselines"])):
        path = os.path.join(directory, name)
        changed |= write_if_changed(path, dump_json(data), writes)
        paths[name.split(".", maxsplit=1)[0]] = path
    paths["gathered"] = os.path.join(directory, GATHERED_FILE)
    gathered = {host: entry["gathered_at"] for host, entry in state["hosts"].items()}
    write_if_changed(paths["gathered"], dump_json(gathered), writes, bookkeeping=True)
    return paths, changed


def start_rollout(directory: str, plan: Mapping[str, Any], lock_timeout: float | None = LOCK_TIMEOUT,
                  what: str = "rollout", writes: Writes | None = None) -> str:
    """Write ``rollout/plan.json`` and forget the records of the hosts this rollout targets, under the lock.

    Each host writes ``rollout/hosts/<host>.json`` as soon as it succeeds or fails, so the record survives a rollout
    that Ansible stops early (max_fail_percentage, or a batch in which every host failed: then later plays do not
    run). Removing the targets' old records first is what lets :func:`read_rollout` tell "not run" from an old
    result. Bookkeeping of the run, so it never counts as a change (and check mode does none of it); returns the
    plan's path.

    The slices of one sliced rollout share an ``id`` (AWX gives them one workflow job id): a slice whose id is the
    plan's joins it (its targets are added, the other slices' records stay), and it must render against the same
    baseline, scope and policy file as the slices before it, else :class:`RolloutMismatch`.
    """
    writes = writes or Writes()
    folder = os.path.join(directory, ROLLOUT_DIR)
    path = os.path.join(folder, "plan.json")
    with writes.lock(directory, what, lock_timeout):
        plan = _join_slices(joined_plan(directory, plan), plan)
        if writes.check:
            return path
        atomic.make_dirs(os.path.join(folder, "hosts"))
        # every record's path checked before the first is removed: a refusal leaves the last rollout's records whole
        records = [rollout_record(directory, host) for host in plan["slice_targets"] if not host_name_problem(host)]
        for record in records:   # (a refused name never has a record)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(record)
        write_if_changed(path, dump_json({key: value for key, value in plan.items() if key != "slice_targets"}),
                         writes, bookkeeping=True)
    return path


class RolloutMismatch(Exception):
    """A slice of a rollout does not render as the slices before it did (another baseline, scope or policy)."""


SLICE_INVARIANTS = ("baseline", "scope", "policy_file", "policies", "members")


def refuse_unfrozen_slice(directory: str, plan: Mapping[str, Any]) -> None:
    """Before a rollout that computes its own baseline writes any artifact: refuse it when it would join an earlier
    slice (the plan has its id). A slice sees only its own hosts, so its baseline, classes and policies would replace
    those the slices before it render against; the slices of one rollout take a frozen baseline instead."""
    previous = joined_plan(directory, plan)
    if previous is not None and previous.get("id") == plan["id"]:
        raise RolloutMismatch(
            "rollout %s already has slices, and this one computes a baseline of its own from the hosts it sees; the "
            "slices of one rollout must share a frozen baseline (armvirt_cpu_baseline_file: baseline.json of "
            "armvirt.cpu.classify). Nothing was written." % plan["id"])


def joined_plan(directory: str, plan: Mapping[str, Any]) -> dict[str, Any] | None:
    """The rollout/plan.json that ``plan`` may join as a slice: None when ``plan`` has no id (a rollout of its own
    replaces the old plan, whatever it holds) or there is no plan. A slice never joins a corrupt plan, whose
    targets and invariants are unknown: :class:`CorruptArtifact`."""
    if not plan.get("id"):
        return None
    try:
        return load_artifact(os.path.join(directory, ROLLOUT_DIR, "plan.json"), PLAN_SHAPE)
    except FileNotFoundError:
        return None


def _join_slices(previous: object, plan: Mapping[str, Any]) -> dict[str, Any]:
    """``plan`` as it is written: joined with ``previous`` when both are slices of one rollout (same non-empty id)."""
    plan = dict(plan, targets=sorted(set(plan["targets"])), slice_targets=list(plan["targets"]))
    if not plan.get("id") or not isinstance(previous, dict) or previous.get("id") != plan["id"]:
        return dict(plan, slices=1)
    differing = [key for key in SLICE_INVARIANTS if previous.get(key) != plan.get(key)]
    if differing:
        raise RolloutMismatch(
            "this slice of rollout %s differs from the slices before it in %s (%s, before: %s); every slice of one "
            "rollout must use the same frozen baseline (armvirt_cpu_baseline_file), scope and policy"
            % (plan["id"], ", ".join(differing), "; ".join("%s=%s" % (k, json.dumps(plan.get(k))) for k in differing),
               "; ".join("%s=%s" % (k, json.dumps(previous.get(k))) for k in differing)))
    return dict(plan, targets=sorted(set(previous.get("targets") or []) | set(plan["targets"])),
                slices=int(previous.get("slices") or 1) + 1)


def read_rollout(directory: str) -> dict[str, Any] | None:
    """The last rollout: its plan with ``hosts`` mapping each target to its record (or not-run, or corrupt), None if
    none. A corrupt plan raises :class:`CorruptArtifact`."""
    folder = os.path.join(directory, ROLLOUT_DIR)
    try:
        plan = load_artifact(os.path.join(folder, "plan.json"), PLAN_SHAPE)
    except FileNotFoundError:
        return None
    plan["hosts"] = {host: _host_record(directory, host) for host in sorted(map(str, plan["targets"]))}
    return plan


def rollout_record(directory: str, host: str) -> str:
    """The path of ``host``'s rollout record, ``rollout/hosts/<host>.json``, checked to stay in that folder (the
    rollout playbook writes it there). Raises ``_paths.PathError``; callers refuse names with
    :func:`host_name_problem` first, so what remains is a symlink in the record's place that leads out."""
    return _paths.join(os.path.join(directory, ROLLOUT_DIR, "hosts"), host, ".json", root=directory)


def _host_record(directory: str, host: str) -> dict[str, Any]:
    """A target's record as read_rollout gives it: the record, not-run, why the host cannot have one, or that it is
    corrupt (status corrupt: not taken for a host never reached)."""
    problem = host_name_problem(host)
    if problem:
        return {"status": INVALID_NAME, "reason": problem}
    try:
        return load_artifact(rollout_record(directory, host), RECORD_SHAPE)
    except FileNotFoundError:
        return dict(NOT_RUN)
    except _paths.PathError as exc:
        return {"status": "failed", "reason": "its rollout record cannot be read: %s" % exc}
    except CorruptArtifact as exc:
        return {"status": CORRUPT, "reason": "%s; this host's outcome is unknown: roll it out again" % exc}
