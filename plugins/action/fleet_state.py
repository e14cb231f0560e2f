# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action armvirt.cpu.fleet_state: the fleet view of gather and rollout, computed once on the controller.

Why an action: the input is hostvars of the whole fleet (this run's facts and the fact cache's), which only the
controller has, and the output is files on the controller; a module would need every host's facts shipped to one
host. Facts are read by ``plugin_utils._fact_sources``, the rules are ``plugin_utils._fleet_view`` (which hosts' facts
count) and ``module_utils._fleet`` (baseline, classes, recommendations), the files ``plugin_utils._artifacts``;
options are documented in ``plugins/modules/fleet_state.py``.
"""

from __future__ import annotations

import hashlib
import json
import os

from ansible import constants as C
from ansible.errors import AnsibleActionFail

from ansible_collections.armvirt.cpu.plugins.plugin_utils._action import ValidatedAction
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import policy
from ansible_collections.armvirt.cpu.plugins.module_utils._common.paths import PathError
from ansible_collections.armvirt.cpu.plugins.module_utils._argspec import (
    fleet_state_argument_spec, guest_domains_argument_spec)
from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, _fact_sources, _fleet_view, policy_files
from ansible_collections.armvirt.cpu.plugins.plugin_utils._artifacts_options import (
    LOCK_HINT, artifacts_dir, lock_timeout)

ARGUMENT_SPEC = fleet_state_argument_spec(_artifacts.LOCK_TIMEOUT, _fact_sources.FACTS_FROM)


def digest(data):
    """``sha256:<hex>`` of bytes: how a rollout names the baseline it used."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _read_json(path, what):
    """``(value, bytes)`` of a JSON artifact a rollout reads (``what`` names it in the failure)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise AnsibleActionFail("fleet_state: cannot read %s: %s" % (what, exc))
    try:
        return json.loads(data.decode("utf-8")), data
    except ValueError as exc:
        raise AnsibleActionFail("fleet_state: %s cannot be read as JSON: %s" % (what, exc))


def read_baseline(path):
    """``(baseline, digest)`` of a frozen baseline file (``baseline.json`` as fleet_state writes it)."""
    baseline, data = _read_json(path, "the baseline file %s" % path)
    if not isinstance(baseline, dict) or not isinstance(baseline.get("members"), list) \
            or not all(isinstance(member, str) for member in baseline["members"]) \
            or not isinstance(baseline.get("properties"), (dict, list)) \
            or not isinstance(baseline.get("classes") or {}, dict):
        raise AnsibleActionFail("fleet_state: %s is not a fleet baseline (baseline.json of armvirt.cpu.classify or "
                                "armvirt.cpu.gather): it needs members (host names) and properties, and classes, "
                                "where given, maps hosts to classes" % path)
    return baseline, digest(data)


def check_policy(path):
    """Refuse a rollout whose policy file the guest_cpu role would refuse, before anything is written: the read and
    the check are guest_domains' own (``plugin_utils.policy_files.load`` with the modes it renders)."""
    try:
        policy_files.load(path, modes=guest_domains_argument_spec().argument_spec["mode"]["choices"])
    except policy.PolicyError as exc:
        raise AnsibleActionFail("fleet_state: the rollout's policy file is not usable; nothing was written (the last "
                                "rollout's record is as it was):\n%s" % exc, result={"policy_errors": exc.messages})


def read_class_baselines(path):
    """``(class baselines, digest)`` of the ``class-baselines.json`` next to a frozen baseline file (classify writes
    them together), ``({}, None)`` when there is none (an artifacts directory of an earlier version): then only the
    fleet pool can be rolled out."""
    if not os.path.exists(path):
        return {}, None
    baselines, data = _read_json(path, "the class baselines %s" % path)
    if not isinstance(baselines, dict) or not all(
            isinstance(baseline, dict) and isinstance(baseline.get("members"), list)
            for baseline in baselines.values()):
        raise AnsibleActionFail("fleet_state: %s is not what armvirt.cpu.classify writes there (class id to the "
                                "class's baseline, with its members)" % path)
    return baselines, digest(data)


def frozen_view(read, hosts, max_age, baseline, path, gathered=None, class_baselines=None):
    """The hosts' statuses against a frozen ``baseline``: nothing is computed from facts but each host's own status
    (the rules of plugin_utils._fleet_view.host_view); a host is usable when its facts count and it is a member of
    the baseline or of a frozen class baseline. A host that the baseline leaves out for its accelerator keeps its
    class as its pool, as in an unfrozen view."""
    now = _fleet_view.utcnow()
    members = set(baseline["members"])
    class_of = {host: cid for cid, info in (class_baselines or {}).items() for host in info["members"]}
    excluded = {record.get("host"): record.get("reason") for record in baseline.get("excluded") or ()
                if isinstance(record, dict)}
    entries = {}
    for host in hosts:
        host = str(host)
        fact, entry = _fleet_view.checked_host_view(read, host, max_age, now,
                                                    gathered_before=(gathered or {}).get(host))
        entry["class"] = (baseline.get("classes") or {}).get(host) or class_of.get(host)
        entry["pool"] = _fleet_view.FLEET_POOL if host in members else (
            class_of.get(host) if host in excluded else None)
        entry["usable"] = fact is not None and entry["pool"] is not None
        entry["group"] = _fleet_view.class_group(entry["class"])
        if fact is not None and host not in members:
            if entry["pool"] is not None:
                entry["reason"] = "left out of the fleet pool of the frozen baseline %s: %s" % (path, excluded[host])
            else:
                entry["reason"] = ("not a member of the frozen baseline %s (members: %s); classify the fleet again "
                                   "to take it in" % (path, ", ".join(baseline["members"]) or "none"))
        entries[host] = entry
    return {"hosts": dict(sorted(entries.items())), "baseline": baseline, "classes": {"classes": {}, "hosts": {}},
            "recommendations": {}, "class_baselines": class_baselines or {}}


def rollout_pools(state, directory, failed_pools, frozen):
    """Each pool a rollout may give a host (``fleet`` and every class) to ``{baseline, policy_file, failed}``: the
    baseline it renders against, its recommended policy file in the artifacts, and why it has none (its
    recommendation failed; for a frozen baseline, the file is missing)."""
    baselines = dict(state["class_baselines"], **{_fleet_view.FLEET_POOL: state["baseline"]})
    pools = {}
    for name, baseline in sorted(baselines.items()):
        path = os.path.join(directory, _artifacts.POLICY_DIR, name + ".yml")
        failed = failed_pools.get(name)
        if failed is None and frozen and not os.path.isfile(path):
            failed = ("the artifacts directory has no policy for it (%s): its recommendation failed, or classify has "
                      "not written it" % path)
        pools[name] = {"baseline": baseline, "policy_file": None if failed else path, "failed": failed}
    return pools


def plan_policies(pools, rollout):
    """The class policies a rollout gives hosts, ``{class id: path}`` (the plan records them, and its slices must
    agree on them): none when the rollout names one policy for every host."""
    if rollout.get("policy_file"):
        return {}
    return {name: pool["policy_file"] for name, pool in pools.items()
            if name != _fleet_view.FLEET_POOL and pool["policy_file"]}


def used_policies(state, rollout, plan, pools):
    """The recommended policy files the rollout's targets get by its scope, to check before anything is written:
    the fleet's (whose absence fails the rollout, as before) and those of the targets' classes that have one (a
    class without a policy fails only its hosts, with the reason)."""
    if rollout.get("policy_file"):
        return []
    key = "class" if rollout.get("scope") == "class" else "pool"
    used = {(state["hosts"].get(host) or {}).get(key) for host in rollout["targets"]}
    paths = [plan["policy_file"]] if plan.get("policy_file") else []
    return paths + sorted({pools[name]["policy_file"] for name in used
                           if name in pools and name != _fleet_view.FLEET_POOL and pools[name]["policy_file"]})


def writes_lines(writes):
    """What check mode would have written, for people (a normal run's changes are in ``changed_files``)."""
    if not writes.check:
        return []
    return ["check mode: would write %s" % (", ".join(writes.changed) or "nothing")]


class ActionModule(ValidatedAction, argument_spec=ARGUMENT_SPEC):

    def run_validated(self, args, task_vars, result):
        try:
            read = _fact_sources.FactSources(task_vars.get("hostvars") or {}, args["facts_from"],
                                             task_vars.get("ansible_play_hosts_all") or (), C.CACHE_PLUGIN)
        except ValueError as exc:
            raise AnsibleActionFail("fleet_state: %s" % exc)
        directory = artifacts_dir(args["artifacts_dir"])
        rollout = args["rollout"]
        if rollout is not None and not isinstance(rollout.get("targets"), list):
            raise AnsibleActionFail("fleet_state: rollout needs targets, the list of this run's hosts")
        gathered, gathered_note = _artifacts.read_gathered(directory)
        frozen = args["baseline_file"]
        if frozen:
            if args["write"] or args["snapshot"]:
                raise AnsibleActionFail("fleet_state: baseline_file uses a frozen baseline; it writes no artifacts "
                                        "(set write and snapshot to false)")
            baseline, baseline_digest = read_baseline(frozen)
            class_baselines, class_digest = read_class_baselines(
                os.path.join(os.path.dirname(frozen), _artifacts.CLASS_BASELINES_FILE))
            state = frozen_view(read, args["hosts"], args["max_fact_age"], baseline, frozen, gathered, class_baselines)
        else:
            try:
                state = _fleet_view.view(read, args["hosts"], args["max_fact_age"], label=args["label"],
                                         gathered=gathered)
            except (TypeError, ValueError) as exc:
                raise AnsibleActionFail("fleet_state: %s" % exc)
            # the bytes write_artifacts gives baseline.json, so an unfrozen run names its baseline as a frozen one would
            baseline_digest = digest(_artifacts.dump_json(state["baseline"]).encode("utf-8"))
            class_digest = digest(_artifacts.dump_json(state["class_baselines"]).encode("utf-8"))
        timeout = lock_timeout(args["lock_timeout"])
        # recorded in the lock file, so that a run waiting for the lock can say whom it waits for
        what = "rollout" if rollout is not None else "gather" if args["snapshot"] else "fleet_state"
        paths, changed = {}, False
        writes = _artifacts.Writes(check=self._task.check_mode, diff=self._task.diff)
        if gathered_note:
            writes.notes.append(gathered_note)
        try:
            # A rollout checks all it needs before its first write, so that a failed start keeps the last rollout's
            # record (rollout/plan.json, rollout/hosts/*.json) and, with write, the artifacts as they were.
            if rollout is not None:
                self._check_rollout(directory, state, rollout, args["write"])
            if args["write"]:
                paths, changed = _artifacts.write_artifacts(directory, state, snapshot=args["snapshot"],
                                                            lock_timeout=timeout, what=what, writes=writes)
            if not args["write"]:   # where gather or classify wrote them
                fleet_policy = os.path.join(directory, _artifacts.POLICY_DIR, _fleet_view.FLEET_POOL + ".yml")
                paths["policies"] = {_fleet_view.FLEET_POOL: fleet_policy}
            if rollout is not None:
                pools = rollout_pools(state, directory, state.get("failed_pools") or {}, bool(frozen))
                result["pools"] = pools
                plan = dict(rollout, members=state["baseline"]["members"],
                            baseline={"file": frozen or None, "digest": baseline_digest,
                                      "class_baselines": class_digest},
                            policies=plan_policies(pools, rollout))
                if not rollout.get("policy_file") and rollout.get("scope") != "class":
                    plan["policy_file"] = os.path.join(directory, _artifacts.POLICY_DIR,
                                                       _fleet_view.FLEET_POOL + ".yml")
                for path in used_policies(state, rollout, plan, pools):   # the pools' own, just written
                    if not (writes.check and path in writes.changed):
                        check_policy(path)
                paths["rollout_plan"] = _artifacts.start_rollout(directory, plan, lock_timeout=timeout, what=what,
                                                                 writes=writes)
                # where the playbook writes each target's record; a refused name has none (its status says why)
                result["rollout_records"] = {host: _artifacts.rollout_record(directory, host)
                                             for host in plan["targets"] if not _fleet_view.host_name_problem(host)}
        except _artifacts.RolloutMismatch as exc:
            raise AnsibleActionFail("fleet_state: %s" % exc)
        except _artifacts.CorruptArtifact as exc:
            raise AnsibleActionFail("fleet_state: %s. Nothing was written; restore the file, or remove it to start a "
                                    "new rollout" % exc)
        except _artifacts.ArtifactsLocked as exc:
            raise AnsibleActionFail("fleet_state: %s%s" % (exc, LOCK_HINT))
        except (OSError, PathError) as exc:
            raise AnsibleActionFail("fleet_state: cannot write the artifacts in %s: %s" % (directory, exc))
        result.update(changed=changed, artifacts=paths, artifacts_dir=directory,
                      summary=_fleet_view.summary_lines(state, directory if args["write"] else None)
                      + [read.describe()] + writes_lines(writes) + writes.notes,
                      changed_files=writes.changed, facts_source=dict(read.counts, cache_plugin=C.CACHE_PLUGIN),
                      baseline_digest=baseline_digest, baseline_file=frozen or None,
                      hosts=state["hosts"], members=state["baseline"]["members"], baseline=state["baseline"],
                      classes=state["classes"], recommendations=state["recommendations"],
                      class_baselines=state["class_baselines"],
                      failed_pools=state.get("failed_pools") or {})
        if writes.notes:
            result["warnings"] = list(writes.notes)
        if writes.diff:
            result["diff"] = writes.diffs
        return result

    def _check_rollout(self, directory, state, rollout, write):
        """What a rollout needs, checked before it writes: hosts whose facts count, the policy file it names (found
        as guest_domains finds it), and a plan it may join (:func:`_artifacts.refuse_unfrozen_slice`)."""
        if not state["baseline"]["members"]:
            raise AnsibleActionFail("fleet_state: no host's facts can be used: %s. Run armvirt.cpu.gather first (in "
                                    "the same run, or with fact caching). Nothing was written."
                                    % "; ".join(_fleet_view.summary_lines(state)))
        if rollout.get("policy_file"):
            try:
                path = policy_files.find(self, "files", rollout["policy_file"], "rollout's policy file")
            except AnsibleActionFail as exc:
                raise AnsibleActionFail("fleet_state: %s; nothing was written" % exc.message)
            check_policy(path)
        if write:
            _artifacts.refuse_unfrozen_slice(directory, rollout)
