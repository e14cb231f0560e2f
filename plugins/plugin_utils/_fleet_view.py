# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet as the playbooks see it: which hosts' facts can be trusted, and the view built on them.

``_fleet`` answers questions about ``{host: fact}``; this module decides what goes into that mapping. A fleet
run never sees every host: some are outside ``--limit``, unreachable, or their probe failed. Their facts may still
be in Ansible's fact cache, and a powered-off hypervisor should keep counting in the baseline (guests must be able
to move back to it) - but not forever, and not after its probe started failing. So each host's fact comes with its
gather record (``_fact_sources`` reads both), and :func:`host_view` applies the rules of docs/fleet-guide.md. Reasons
hold nothing that changes from run to run when the fleet does not (no run times; the fact's ``source``, probe or
cache, is dropped), so the artifacts written from a view change only when the fleet does. Private to the
collection; controller side.
"""

from __future__ import annotations

import datetime
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any, Callable, Iterable

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._common import paths as _paths
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import baseline as fleet_baseline
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import classes as fleet_classes
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import recommend as fleet_recommend
from ansible_collections.armvirt.cpu.plugins.plugin_utils._fact_sources import read_hostvars

VOLATILE_FACT_KEYS = ("source",)   # probe or cache: how this run got the fact, not what the host accepts
FLEET_POOL = "fleet"

# host statuses, worst last (the report sorts by them)
OK, UNREACHABLE, UNSUPPORTED, STALE, NO_FACTS, PROBE_FAILED = (
    "ok", "unreachable", "unsupported", "stale", "no-facts", "probe-failed")
USABLE = (OK, UNREACHABLE)
INVALID_NAME = "invalid-name"   # the inventory name cannot be a file name: the host is refused, its facts unread


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def parse_time(text: object) -> datetime.datetime | None:
    """An ISO 8601 time as an aware UTC datetime, None when it is not one (a naive time is taken as UTC)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def host_name_problem(host: str) -> str | None:
    """Why the inventory name ``host`` cannot name the host's files (its rollout record ``rollout/hosts/<host>.json``),
    as a message for people, or None. Such a host is refused everywhere, and only it."""
    problem = _paths.component_problem(host, ".json")
    if problem is None:
        return None
    return "host %r: its inventory name cannot be a file name (%s); rename it in the inventory" % (host, problem)


CLASS_GROUP_PREFIX = "armvirt_cpu_class_"
CLASS_ID_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,127}\Z")


def class_group(class_id: str | None) -> str:
    """The inventory group of a class, as the playbooks name it: ``armvirt_cpu_class_<id>`` with dashes as
    underscores, ``armvirt_cpu_class_none`` for a host without a class."""
    return CLASS_GROUP_PREFIX + (class_id or "none").replace("-", "_")


def checked_host_view(read: Callable[[str], tuple[Any, Any]], host: str, max_age: float, now: datetime.datetime,
                      gathered_before: str | None = None) -> tuple[Mapping[str, Any] | None, dict[str, Any]]:
    """:func:`host_view` of ``host`` as ``read`` gives it, unless its name is refused (:func:`host_name_problem`):
    then its status is ``invalid-name`` and its facts are not even read (Ansible's jsonfile cache would open a file
    named after it)."""
    problem = host_name_problem(host)
    if problem:
        return None, _entry(INVALID_NAME, problem, None)
    return host_view(*read(host), max_age=max_age, now=now, gathered_before=gathered_before)


def host_view(fact: Mapping[str, Any] | None, record: Mapping[str, Any] | None, max_age: float, now: datetime.datetime,
              gathered_before: str | None = None) -> tuple[Mapping[str, Any] | None, dict[str, Any]]:
    """``(fact or None, {status, reason, gathered_at})`` for one host: whether its cached fact may be used.

    ``fact`` and ``record`` (``armvirt_cpu_gather``) are a reader's plain data (:func:`read_hostvars`,
    ``_fact_sources.CachedFacts``); ``gathered_before`` is the host's time in gathered.json
    (``_artifacts.read_gathered``), which outlives the fact cache: a host without facts that has one lost them from
    the cache, it was not never gathered.

    - the last probe failed: its QEMU is not what the fact describes any more -> ``probe-failed``, not used;
    - no fact: ``unreachable`` when the last attempt could not connect, else ``no-facts``; the reason says when it
      was gathered if the record or gathered.json knows (and keeps that time as ``gathered_at``);
    - ``max_age`` > 0 and no ``gathered_at``, or older than ``max_age`` seconds -> ``stale``, not used;
    - unreachable now but the fact is young enough -> ``unreachable``, still used (a powered-off host keeps its place
      in the baseline until its facts age out);
    - else ``ok``. ``supported: false`` facts are used: the fleet logic lists them as excluded with their reason.
    Reasons never contain the time of this run, so they stay the same while nothing changes.
    """
    record = record or {}
    status, error = record.get("status"), " ".join(str(record.get("error") or "").split())
    gathered_at = record.get("gathered_at") or None
    if status == "failed":
        return None, _entry(PROBE_FAILED, "probe failed: %s" % (error or "no message"), gathered_at)
    if fact is None:
        known = gathered_at or gathered_before
        lost = ("gathered at %s, but the fact cache no longer holds its facts (expired or removed): run "
                "armvirt.cpu.gather for it" % known)
        if status == "unreachable":
            if known:
                return None, _entry(UNREACHABLE, "unreachable (%s); %s" % (error or "no message", lost), known)
            return None, _entry(UNREACHABLE, "unreachable, never gathered: %s" % (error or "no message"), None)
        if known:
            return None, _entry(NO_FACTS, lost, known)
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
    if any(key in fact for key in VOLATILE_FACT_KEYS):
        fact = {key: value for key, value in fact.items() if key not in VOLATILE_FACT_KEYS}
    if status == "unreachable":
        return fact, _entry(UNREACHABLE, "unreachable (%s); its facts gathered at %s still count until they are "
                            "older than armvirt_cpu_max_fact_age" % (error or "no message", gathered_at), gathered_at)
    return fact, _entry(OK, None, gathered_at)


def _entry(status: str, reason: str | None, gathered_at: str | None) -> dict[str, Any]:
    return {"status": status, "reason": reason, "gathered_at": gathered_at}


def view(read: Callable[[str], tuple[Any, Any]] | Mapping[str, Any], hosts: Iterable[object], max_age: float = 0,
         now: datetime.datetime | None = None, label: str = FLEET_POOL,
         gathered: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Everything the playbooks and the report need about ``hosts``; ``read`` gives each host's ``(fact, record)``
    (:func:`read_hostvars`, ``_fact_sources.CachedFacts``; a mapping is taken as hostvars); ``gathered`` maps hosts
    to the time gathered.json keeps for them (``_artifacts.read_gathered``).

    Returns ``{label, max_fact_age, facts, hosts, baseline, classes, recommendations, failed_pools}``: ``facts``
    maps every host to its usable fact or None; ``hosts`` to ``{status, reason, gathered_at, class, usable}``;
    ``recommendations`` maps the pool ``fleet`` and each class id to the policy ``recommend.recommend`` gives it (absent
    when the pool has no supported host, or its recommendation failed: then ``failed_pools`` maps it to the reason,
    and its class in ``classes`` has that reason as ``failed``).
    """
    read = read_hostvars(read) if isinstance(read, Mapping) else read
    now = now or utcnow()
    facts: dict[str, Mapping[str, Any] | None]
    entries: dict[str, dict[str, Any]]
    facts, entries = {}, {}
    for host in hosts:
        host = str(host)
        facts[host], entries[host] = checked_host_view(read, host, max_age, now,
                                                       gathered_before=(gathered or {}).get(host))
    return summarise(facts, entries, label, max_age)


def summarise(facts: Mapping[str, Mapping[str, Any] | None], entries: dict[str, dict[str, Any]],
              label: str = FLEET_POOL, max_age: float = 0) -> dict[str, Any]:
    """Baseline, classes and recommendations of ``facts``; entries get their class or why they have none, and their
    ``pool``: ``fleet`` for a member of the fleet pool, their class for a host left out of it for its accelerator
    (:func:`accelerator_pool`, the reason in ``reason``), None for a host without a class."""
    classes = fleet_classes.classes(facts)
    left_out = {host: reason for host, reason in accelerator_pool(facts).items() if host in classes["hosts"]}
    baseline = fleet_baseline.baseline({host: fact for host, fact in facts.items() if host not in left_out}
                                       if left_out else facts, label)
    if left_out:
        baseline["excluded"] = sorted(baseline["excluded"] + [
            {"host": host, "reason": "%s; it keeps its own class %s" % (reason, classes["hosts"][host])}
            for host, reason in left_out.items()], key=lambda record: record["host"])
    for record in classes["excluded"]:
        entry = entries[record["host"]]
        if facts[record["host"]] is not None:  # given a fact, left out by the fleet logic: unsupported, malformed
            entry.update(status=UNSUPPORTED, reason=record["reason"])
    members = set(baseline["members"])
    for host, entry in entries.items():
        entry["class"] = classes["hosts"].get(host)
        entry["usable"] = entry["class"] is not None
        entry["pool"] = FLEET_POOL if host in members else entry["class"]
        entry["group"] = class_group(entry["class"])   # the playbooks and the inventory source name it once, here
        if host in left_out:   # after the reason it has (an unreachable host's facts still count)
            entry["reason"] = "; ".join(filter(None, (entry["reason"], "left out of the fleet pool: %s; it keeps its "
                                                      "own class %s and that class's policy"
                                                      % (left_out[host], entry["class"]))))
    class_baselines = {cid: fleet_baseline.baseline({host: facts[host] for host in info["hosts"]}, cid)
                       for cid, info in classes["classes"].items()}
    pools = [(FLEET_POOL, baseline)] if baseline["supported"] else []
    recommendations, failed = recommend_pools(pools + sorted(class_baselines.items()))
    for cid, reason in failed.items():
        if cid in classes["classes"]:
            classes["classes"][cid]["failed"] = reason
    return {"label": label, "max_fact_age": max_age, "facts": facts, "hosts": dict(sorted(entries.items())),
            "baseline": baseline, "classes": classes, "recommendations": recommendations, "failed_pools": failed,
            "class_baselines": class_baselines}


# the guest CPU modes an accelerator's QEMU refuses, with QEMU's reason
MODE_REFUSED = {(names.HOST_PASSTHROUGH, names.TCG): "QEMU's CPU model host needs KVM"}
MODE_RULE = "mode-accelerator"


def mode_problem(mode: str, accel: Any) -> str | None:
    """Why a QEMU running ``accel`` refuses a guest CPU of ``mode``, or None: what a fact-based validation cannot
    see (each property may fit), and the host's QEMU refuses at rollout."""
    reason = MODE_REFUSED.get((mode, accel))
    return None if reason is None else "mode %s cannot run under %s (%s)" % (mode, accel, reason)


def accelerator_pool(facts: Mapping[str, Mapping[str, Any] | None]) -> dict[str, str]:
    """``{host: reason}`` of the supported hosts that the fleet pool leaves out for their accelerator.

    A recommendation has one mode, the one of its pool's accelerator (``names.MODE_FOR_ACCEL``: host-passthrough
    for KVM, whose CPU model host a TCG QEMU refuses; maximum for TCG), and a guest cannot move between a KVM and a
    TCG host anyway. So in a fleet of mixed accelerators the fleet pool is the hosts of the accelerator most of
    them run (KVM on a tie: the richer mode), and each other host keeps its own class, whose policy has its mode.
    """
    accels = Counter(fact.get("accel") for fact in facts.values()
                     if isinstance(fact, Mapping) and fact.get("supported"))
    known = [accel for accel in names.MODE_FOR_ACCEL if accels.get(accel)]
    if len(accels) < 2 or not known:
        return {}
    chosen = max(known, key=lambda accel: (accels[accel], -known.index(accel)))
    mode = names.MODE_FOR_ACCEL[chosen]
    left_out: dict[str, str] = {}
    for host, fact in facts.items():
        if isinstance(fact, Mapping) and fact.get("supported") and fact.get("accel") != chosen:
            accel = fact.get("accel") or "an unknown accelerator"
            left_out[host] = "it runs %s, and the fleet pool is the %s hosts (%d of %d), whose %s" % (
                accel, chosen, accels[chosen], sum(accels.values()), mode_problem(mode, accel)
                or "mode %s gives a guest another CPU under %s than under %s" % (mode, accel, chosen))
    return left_out


def recommend_pools(pools: Iterable[tuple[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """``(recommendations, failed)`` of ``[(pool, baseline or facts)]``: a pool whose recommendation fails (its
    facts pass no consistent policy) is that pool's failure, with the reason; every other pool still gets its own."""
    recommendations: dict[str, dict[str, Any]]
    failed: dict[str, str]
    recommendations, failed = {}, {}
    for name, pool in pools:
        try:
            recommendations[name] = fleet_recommend.recommend(pool)
        except ValueError as exc:
            failed[name] = str(exc)
    return recommendations, failed


def summary_lines(state: Mapping[str, Any], directory: str | None = None) -> list[str]:
    """One line per class and per host left out (and where the artifacts are): what a playbook shows."""
    lines = ["%s: %s" % (cid, info["summary"]) for cid, info in state["classes"]["classes"].items()]
    lines += ["%s: no policy, the recommendation failed: %s" % (pool, reason)
              for pool, reason in sorted((state.get("failed_pools") or {}).items())]
    lines += ["%s left out (%s): %s" % (host, entry["status"], entry["reason"])
              for host, entry in state["hosts"].items() if not entry["usable"]]
    lines += ["%s: %s" % (host, entry["reason"]) for host, entry in state["hosts"].items()
              if entry["usable"] and entry.get("pool") not in (None, FLEET_POOL)]
    if directory:
        lines.append("artifacts: %s" % directory)
    return lines
