# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

Compatibility classes: hosts that accept exactly the same requests (same canonical properties and guest-visible
identity, ``grouping.class_id``), so a guest can move freely among them.
"""

from __future__ import annotations

from typing import Any
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import grouping

# What a compatibility class (a migration pool) promises, in one line for reports and policy files; the full table
# is in docs/fleet-logic.md.
CLASS_GUARANTEE = ("A class guarantees the guest CPU's properties and, where the facts carry host_cpu, its MIDR and "
                   "the kernel's overrides; it does not cover the GIC version, the machine type, PMU counters or the "
                   "timer frequency (docs/fleet-logic.md).")


def classes(facts_by_host: object) -> dict[str, Any]:
    """Compatibility classes: hosts that accept exactly the same requests, so a guest can move freely among them.

    Returns ``{"classes": {id: summary}, "hosts": {host: id}, "excluded": [{host, reason}]}``.
    """
    kinds, excluded = grouping.group(facts_by_host)
    by_id: dict[str, list[grouping.Kind]] = {}
    for kind in kinds:
        by_id.setdefault(kind.class_id, []).append(kind)
    summaries: dict[str, dict[str, Any]]
    host_class: dict[str, str]
    summaries, host_class = {}, {}
    for cid, group in sorted(by_id.items()):
        hosts = sorted(host for kind in group for host in kind.hosts)
        dialect = grouping.common_value(kind.fact.get("dialect") for kind in group)
        count = len(group[0].props.properties)
        host_cpu = group[0].fact.get("host_cpu") if group[0].identity is not None else None
        names = list(host_cpu.get("names") or ()) if host_cpu else []
        summaries[cid] = {
            "hosts": hosts, "count": len(hosts), "representative": hosts[0], "dialect": dialect,
            "properties_count": count, "cpu_names": names,
            "midr": list(group[0].identity[0]) if group[0].identity is not None else None,
            "kernel_cmdline_overrides": list(group[0].identity[1]) if group[0].identity is not None else None,
            "summary": "%d host%s like %s: %s%d properties from %s" % (
                len(hosts), "" if len(hosts) == 1 else "s", hosts[0], "%s, " % "/".join(names) if names else "",
                count, dialect or "mixed dialects"),
        }
        host_class.update((host, cid) for host in hosts)
    return {"classes": summaries, "hosts": dict(sorted(host_class.items())),
            "excluded": grouping.excluded_records(excluded)}
