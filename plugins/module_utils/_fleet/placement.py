# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

Placement: which hosts of a fleet can run a guest with a given CPU request, and every reason for those that cannot,
judged once per kind of host (``grouping.group``) in validate's records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import policy, validate
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import grouping


def _read_request(request: Any) -> tuple[str, Any]:
    """(mode, features) of a policy (``policy``; a bare feature list is taken as features). The features are
    validate's to judge, host by host, as records. Raises ValueError for anything else."""
    if isinstance(request, Sequence) and not isinstance(request, (str, bytes)):
        return names.DEFAULT_MODE, request
    parsed = policy.read(request, "policy", tuple(names.CPU_MODELS), features=False)
    return parsed.mode or names.DEFAULT_MODE, parsed.features


def _for_host(record: dict[str, Any], first: str, host: str) -> dict[str, Any]:
    """A record computed for the first host of a kind, re-addressed to another host of the same kind."""
    message = record["message"]
    if message.startswith(first + ": "):
        message = host + message[len(first):]
    return dict(record, host=host, allowed=list(record["allowed"]), message=message)


def placement(request: Any, facts_by_host: object) -> dict[str, Any]:
    """Which hosts can run a guest with this CPU request, and for each that cannot, every reason (validate records).

    The request is checked once per kind of host; hosts without a usable fact get validate's record for what they
    have (host-unsupported, bad-props), so a request with no features fits an unsupported host, as validate says.
    """
    mode, features = _read_request(request)
    kinds, excluded = grouping.group(facts_by_host)
    hosts: dict[str, dict[str, Any]] = {}
    errors: list[Any]   # result records for the kinds, FeatureErrors for the excluded hosts
    for kind in kinds:
        first = kind.hosts[0]
        records = [error.as_dict() for error in validate.check_features(features, kind.fact, first)[1]]
        for host in kind.hosts:
            errors = [_for_host(record, first, host) for record in records]
            hosts[host] = {"ok": not errors, "class": kind.class_id, "errors": errors}
    for host, reason, fact in excluded:
        if fact is None:
            errors = [validate.FeatureError(host, None, None, [], "bad-props", "%s: %s." % (host, grouping.NO_FACT))]
        else:
            errors = validate.check_features(features, fact, host)[1]
        hosts[host] = {"ok": not errors, "class": None, "errors": [error.as_dict() for error in errors]}
    hosts = dict(sorted(hosts.items()))
    ok = [host for host, entry in hosts.items() if entry["ok"]]
    failed = [host for host, entry in hosts.items() if not entry["ok"]]
    failing: dict[str, int] = {}
    for entry in hosts.values():
        for rule in sorted({record["rule"] for record in entry["errors"]}):
            failing[rule] = failing.get(rule, 0) + 1
    summary = {"hosts": len(hosts), "ok": len(ok), "failed": len(failed), "rules": dict(sorted(failing.items()))}
    return {"mode": mode, "ok": ok, "failed": failed, "hosts": hosts, "summary": summary}
