# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet as the playbooks see it: which hosts' facts can be trusted, and the artifacts other systems read.

``fleet.py`` answers questions about ``{host: fact}``; this module decides what goes into that mapping. A fleet
run never sees every host: some are outside ``--limit``, unreachable, or their probe failed. Their facts may still
be in Ansible's fact cache, and a powered-off hypervisor should keep counting in the baseline (guests must be able
to move back to it) - but not forever, and not after its probe started failing. So each host's fact comes with the
record ``armvirt_cpu_gather`` that ``playbooks/gather.yml`` caches next to it (``status``, ``error``,
``gathered_at`` of the last successful probe), and :func:`host_view` applies the rules of docs/fleet-guide.md.

The artifacts are written only when their content changes, and hold nothing that changes from run to run when the
fleet does not (no run times; the fact's ``source``, probe or cache, is dropped), so a second run reports no change.
Controller side only (used by the ``armvirt.cpu.fleet_state`` and ``armvirt.cpu.fleet_report`` actions).
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from collections.abc import Mapping

import yaml

from ansible_collections.armvirt.cpu.plugins.module_utils import fleet

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECORD = "armvirt_cpu_gather"
FACT = "arm_cpu_props"
VOLATILE_FACT_KEYS = ("source",)   # probe or cache: how this run got the fact, not what the host accepts
FLEET_POOL = "fleet"

# host statuses, worst last (the report sorts by them)
OK, UNREACHABLE, UNSUPPORTED, STALE, NO_FACTS, PROBE_FAILED = (
    "ok", "unreachable", "unsupported", "stale", "no-facts", "probe-failed")
USABLE = (OK, UNREACHABLE)

FLEET_FILE, CLASSES_FILE, BASELINE_FILE, GATHERED_FILE = "fleet.json", "classes.json", "baseline.json", "gathered.json"
POLICY_DIR, SNAPSHOT_DIR, ROLLOUT_DIR = "policies", "snapshots", "rollout"
NOT_RUN = {"status": "not-run", "reason": "no result: the rollout stopped before this host's batch "
           "(max_fail_percentage exceeded, or every host of a batch failed)"}
SNAPSHOT_STAMP = "%Y%m%dT%H%M%SZ"


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def parse_time(text):
    """An ISO 8601 time as an aware UTC datetime, None when it is not one (a naive time is taken as UTC)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def _lookup(host_vars, name):
    """``ansible_facts[name]`` (cached facts arrive there), else the host variable ``name`` (set_fact)."""
    if not isinstance(host_vars, Mapping):
        return None
    facts = host_vars.get("ansible_facts")
    value = facts.get(name) if isinstance(facts, Mapping) else None
    if value is None and name in host_vars:
        value = host_vars.get(name)
    return value if isinstance(value, Mapping) else None


def clean_fact(fact):
    """The fact without what differs between a probe and a cache hit, as plain data (Ansible hands in proxies)."""
    if not isinstance(fact, Mapping):
        return None
    plain = json.loads(json.dumps(fact, default=str))
    for key in VOLATILE_FACT_KEYS:
        plain.pop(key, None)
    return plain


def host_view(host_vars, max_age, now):
    """``(fact or None, {status, reason, gathered_at})`` for one host: whether its cached fact may be used.

    - the last probe failed: its QEMU is not what the fact describes any more -> ``probe-failed``, not used;
    - no fact: ``unreachable`` when the last attempt could not connect, else ``no-facts``;
    - ``max_age`` > 0 and no ``gathered_at``, or older than ``max_age`` seconds -> ``stale``, not used;
    - unreachable now but the fact is young enough -> ``unreachable``, still used (a powered-off host keeps its place
      in the baseline until its facts age out);
    - else ``ok``. ``supported: false`` facts are used: the fleet logic lists them as excluded with their reason.
    Reasons never contain the time of this run, so they stay the same while nothing changes.
    """
    fact, record = _lookup(host_vars, FACT), _lookup(host_vars, RECORD) or {}
    status, error = record.get("status"), " ".join(str(record.get("error") or "").split())
    gathered_at = record.get("gathered_at") or None
    if status == "failed":
        return None, _entry(PROBE_FAILED, "probe failed: %s" % (error or "no message"), gathered_at)
    if fact is None:
        if status == "unreachable":
            return None, _entry(UNREACHABLE, "unreachable, never gathered: %s" % (error or "no message"), None)
        return None, _entry(NO_FACTS, "no arm_cpu_props fact: never gathered by armvirt.cpu.gather "
                            "(or the fact cache lost it)", None)
    if max_age and max_age > 0:
        moment = parse_time(gathered_at)
        if moment is None:
            return None, _entry(STALE, "its arm_cpu_props fact has no gathered_at record (not gathered by "
                                "armvirt.cpu.gather), so its age is unknown", None)
        if (now - moment).total_seconds() > max_age:
            return None, _entry(STALE, "facts gathered at %s, more than armvirt_cpu_max_fact_age (%d s) ago"
                                % (gathered_at, max_age), gathered_at)
    fact = clean_fact(fact)
    if status == "unreachable":
        return fact, _entry(UNREACHABLE, "unreachable (%s); its facts gathered at %s still count until they are "
                            "older than armvirt_cpu_max_fact_age" % (error or "no message", gathered_at), gathered_at)
    return fact, _entry(OK, None, gathered_at)


def _entry(status, reason, gathered_at):
    return {"status": status, "reason": reason, "gathered_at": gathered_at}


def view(hostvars, hosts, max_age=0, now=None, label=FLEET_POOL):
    """Everything the playbooks and the report need about ``hosts``, from hostvars (current run or fact cache).

    Returns ``{label, max_fact_age, facts, hosts, baseline, classes, recommendations}``: ``facts`` maps every host
    to its usable fact or None; ``hosts`` to ``{status, reason, gathered_at, class, usable}``; ``recommendations``
    maps the pool ``fleet`` and each class id to the policy ``fleet.recommend`` gives it (absent when the pool has
    no supported host).
    """
    now = now or utcnow()
    facts, entries = {}, {}
    for host in hosts:
        host = str(host)
        facts[host], entries[host] = host_view(hostvars.get(host) if host in hostvars else None, max_age, now)
    return summarise(facts, entries, label, max_age)


def summarise(facts, entries, label=FLEET_POOL, max_age=0):
    """Baseline, classes and recommendations of ``facts``; entries get their class or why they have none."""
    baseline = fleet.baseline(facts, label)
    classes = fleet.classes(facts)
    for record in classes["excluded"]:
        entry = entries[record["host"]]
        if facts[record["host"]] is not None:  # given a fact, left out by the fleet logic: unsupported, malformed
            entry.update(status=UNSUPPORTED, reason=record["reason"])
    for host, entry in entries.items():
        entry["class"] = classes["hosts"].get(host)
        entry["usable"] = entry["class"] is not None
    recommendations = {}
    if baseline["supported"]:
        recommendations[FLEET_POOL] = fleet.recommend(baseline)
    for cid, info in classes["classes"].items():
        recommendations[cid] = fleet.recommend({host: facts[host] for host in info["hosts"]})
    return {"label": label, "max_fact_age": max_age, "facts": facts, "hosts": dict(sorted(entries.items())),
            "baseline": baseline, "classes": classes, "recommendations": recommendations}


def summary_lines(state, directory=None):
    """One line per class and per host left out (and where the artifacts are): what a playbook shows."""
    lines = ["%s: %s" % (cid, info["summary"]) for cid, info in state["classes"]["classes"].items()]
    lines += ["%s left out (%s): %s" % (host, entry["status"], entry["reason"])
              for host, entry in state["hosts"].items() if not entry["usable"]]
    if directory:
        lines.append("artifacts: %s" % directory)
    return lines


def policy_document(name, policy, state):
    """A recommendation as a policy file the guest_cpu role takes unchanged (with a description saying whose)."""
    if name == FLEET_POOL:
        who = "every member of the fleet baseline (%s)" % ", ".join(state["baseline"]["members"])
    else:
        who = "compatibility class %s (%s)" % (name, ", ".join(state["classes"]["classes"][name]["hosts"]))
    return {"description": "armvirt.cpu.fleet_recommend: the richest guest CPU accepted by %s. %s"
                           % (who, fleet.CLASS_GUARANTEE),
            "mode": policy["mode"], "features": policy["features"]}


def dump_json(data):
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def write_if_changed(path, text):
    """Write ``text`` atomically unless the file already holds it; True when it changed."""
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return False
    except OSError:
        pass
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(path))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    return True


def snapshot_hosts(state):
    """What a snapshot keeps per host: status, reason and the usable fact (no times except stale facts' own)."""
    return {host: {"status": entry["status"], "reason": entry["reason"], "fact": state["facts"][host]}
            for host, entry in state["hosts"].items()}


def snapshots(directory):
    """The snapshot files of an artifacts directory, oldest first."""
    folder = os.path.join(directory, SNAPSHOT_DIR)
    try:
        names = sorted(name for name in os.listdir(folder) if name.endswith(".json"))
    except OSError:
        return []
    return [os.path.join(folder, name) for name in names]


def read_json(path, default=None):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return default


def take_snapshot(directory, state, now):
    """Keep this gather's facts when they differ from the latest snapshot; returns (path, changed).

    A snapshot is a distinct state of the fleet, not a run: the report compares the latest two to say what changed
    (a kernel or QEMU update that narrowed a host's values), and a fleet that did not change adds none.
    """
    hosts = snapshot_hosts(state)
    existing = snapshots(directory)
    if existing and (read_json(existing[-1]) or {}).get("hosts") == json.loads(json.dumps(hosts)):
        return existing[-1], False
    stamp = now.strftime(SNAPSHOT_STAMP)
    path, index = os.path.join(directory, SNAPSHOT_DIR, stamp + ".json"), 1
    while os.path.exists(path) or (existing and path <= existing[-1]):
        path, index = os.path.join(directory, SNAPSHOT_DIR, "%s-%d.json" % (stamp, index)), index + 1
    write_if_changed(path, dump_json({"taken_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "hosts": hosts}))
    return path, True


def write_artifacts(directory, state, snapshot=False, now=None):
    """Write fleet.json, classes.json, baseline.json, policies/*.yml (and a snapshot); returns (paths, changed).

    ``gathered.json`` (each host's gathered_at) changes with every gather, so it is written but never counts as a
    change: it is bookkeeping, like the fact cache.
    """
    now = now or utcnow()
    paths, changed = {}, False
    policies = {}
    for name, policy in sorted(state["recommendations"].items()):
        path = os.path.join(directory, POLICY_DIR, name + ".yml")
        text = "---\n" + yaml.safe_dump(policy_document(name, policy, state), sort_keys=False, width=120)
        changed |= write_if_changed(path, text)
        policies[name] = path
    paths["policies"] = policies
    if snapshot:
        paths["snapshot"], new = take_snapshot(directory, state, now)
        changed |= new
    summary = {key: value for key, value in state.items() if key != "facts"}
    summary["hosts"] = {host: {key: value for key, value in entry.items() if key != "gathered_at"}
                        for host, entry in state["hosts"].items()}
    for name, data in ((FLEET_FILE, summary), (CLASSES_FILE, state["classes"]), (BASELINE_FILE, state["baseline"])):
        path = os.path.join(directory, name)
        changed |= write_if_changed(path, dump_json(data))
        paths[name.split(".", maxsplit=1)[0]] = path
    paths["gathered"] = os.path.join(directory, GATHERED_FILE)
    write_if_changed(paths["gathered"], dump_json({host: entry["gathered_at"]
                                                   for host, entry in state["hosts"].items()}))
    return paths, changed


def start_rollout(directory, plan):
    """Write ``rollout/plan.json`` and forget the records of the hosts this rollout targets.

    Each host writes ``rollout/hosts/<host>.json`` as soon as it succeeds or fails, so the record survives a rollout
    that Ansible stops early (max_fail_percentage, or a batch in which every host failed: then later plays do not
    run). Removing the targets' old records first is what lets :func:`read_rollout` tell "not run" from an old
    result. Bookkeeping of the run, so it never counts as a change; returns the plan's path.
    """
    folder = os.path.join(directory, ROLLOUT_DIR)
    os.makedirs(os.path.join(folder, "hosts"), exist_ok=True)
    for host in plan["targets"]:
        try:
            os.unlink(os.path.join(folder, "hosts", "%s.json" % host))
        except FileNotFoundError:
            pass
    path = os.path.join(folder, "plan.json")
    write_if_changed(path, dump_json(plan))
    return path


def read_rollout(directory):
    """The last rollout: its plan with ``hosts`` mapping each target to its record (or not-run), None if none."""
    folder = os.path.join(directory, ROLLOUT_DIR)
    plan = read_json(os.path.join(folder, "plan.json"))
    if not plan:
        return None
    plan["hosts"] = {host: read_json(os.path.join(folder, "hosts", "%s.json" % host)) or dict(NOT_RUN)
                     for host in sorted(plan["targets"])}
    return plan
