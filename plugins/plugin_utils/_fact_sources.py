# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where each host's facts come from on the controller: hostvars (this run's facts and the fact cache's, read raw)
or the fact cache itself through Ansible's cache plugin API, as plain data.

Each host's fact ``arm_cpu_props`` comes with the record ``armvirt_cpu_gather`` that ``playbooks/gather.yml`` caches
next to it (``status``, ``error``, ``gathered_at`` of the last successful probe). A reader here gives
``(fact, record)`` per host and judges neither; which facts count is ``_fleet_view``'s to say. Private to the
collection; controller side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Callable, Iterable, cast

RECORD = "armvirt_cpu_gather"
FACT = "arm_cpu_props"


def host_vars_facts(host_vars: object, names: Iterable[str] = (FACT, RECORD),
                    this_run_first: bool = False) -> dict[str, Mapping[str, Any] | None]:
    """``{name: value}`` of one host's hostvars: ``ansible_facts[name]`` (cached facts arrive there), else the host
    variable ``name`` (set_fact without cacheable); None where a name is missing or not a mapping.

    The one reading of facts from hostvars (the fleet_facts filter uses it too). ``ansible_facts`` is read once per
    host, not once per name: on hostvars each read templates the whole facts dictionary again. ``this_run_first``
    takes the host variable before the fact: a set_fact of this run without cacheable (gather's record in check
    mode) outranks what the cache holds. Only for raw variables (``hostvars.raw_get``): through templated hostvars
    a top-level fact is an injected one, which ansible-core 2.20 and later warn about when it is read.
    """
    found = dict.fromkeys(names)
    if not isinstance(host_vars, Mapping):
        return found
    facts = host_vars.get("ansible_facts")
    facts = facts if isinstance(facts, Mapping) else {}
    for name in names:
        value = host_vars.get(name) if this_run_first else None
        if not isinstance(value, Mapping):
            value = facts.get(name)
        if value is None and not this_run_first and name in host_vars:
            value = host_vars.get(name)
        found[name] = value if isinstance(value, Mapping) else None
    return found


def read_hostvars(hostvars: Any) -> Callable[[str], tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]]:
    """A reader ``host -> (fact, record)`` over Ansible's ``hostvars`` (this run's facts and the fact cache's).

    Through ``hostvars.raw_get`` where Ansible's HostVars has it: the variables without the templating pass that
    ``hostvars[host]`` makes over every value, which facts never need (they are data, never templates) and which
    costs several times what computing the host's variables does.
    """
    raw_get = getattr(hostvars, "raw_get", None)

    def read(host: str) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
        if host not in hostvars:
            return None, None
        found = host_vars_facts(raw_get(host) if raw_get else hostvars[host], this_run_first=True)
        return plain(found[FACT]), plain(found[RECORD])
    return read


class CachedFacts(object):
    """A reader ``host -> (fact, record)`` of the fact cache itself, through Ansible's cache plugin API.

    What hostvars would give a host that this run does not target (its facts come only from the cache), without
    the cost of hostvars: Ansible computes every variable of a host, for every host, to hand out its facts. Used
    only where that is the same answer (see :class:`FactSources`): never for a run's own hosts, whose facts may be
    this run's and not cached (set_fact without cacheable), and never with the memory cache, which another
    process cannot read.
    """

    def __init__(self, plugin_name: str, connection: str | None = None) -> None:
        from ansible.plugins.loader import cache_loader   # controller only, and only when the cache is read
        options = {"_uri": connection} if connection else {}
        self.plugin_name = plugin_name
        self._plugin = cache_loader.get(plugin_name, **options)
        if self._plugin is None:
            raise ValueError("fact cache plugin %s not found" % plugin_name)

    def __call__(self, host: str) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
        try:
            entry = self._plugin.get(host)
        except KeyError:
            return None, None
        # JSON the plugin decoded: plain data already (where a value is tagged, it is a str subclass, and stays one)
        entry = entry if isinstance(entry, Mapping) else {}
        fact, record = entry.get(FACT), entry.get(RECORD)
        return fact if isinstance(fact, Mapping) else None, record if isinstance(record, Mapping) else None


MEMORY_CACHES = ("memory", "ansible.builtin.memory")
FACTS_FROM = ("auto", "hostvars", "cache")


class FactSources(object):
    """Where each host's facts are read (``facts_from``): ``hostvars``; ``cache``, the configured fact cache
    directly; ``auto``, the cache for hosts outside this play (their facts can only come from it) and hostvars for
    the play's own. The cache is read only when it is persistent (not ``memory``); ``counts`` says how many hosts
    each source served, which the playbooks show."""

    def __init__(self, hostvars: Any, facts_from: str = "auto", play_hosts: Iterable[object] = (),
                 cache_plugin: str | None = None) -> None:
        if facts_from not in FACTS_FROM:
            raise ValueError("facts_from must be one of %s, not %s" % (", ".join(FACTS_FROM), facts_from))
        self.plugin_name = cache_plugin
        persistent = bool(cache_plugin) and cache_plugin not in MEMORY_CACHES
        if facts_from == "cache" and not persistent:
            raise ValueError("facts_from=cache reads the fact cache directly, but fact caching is %s; configure a "
                             "persistent cache (fact_caching = jsonfile, redis, ...) or use facts_from=auto"
                             % (cache_plugin or "off"))
        self._hostvars = read_hostvars(hostvars)
        self._cache = CachedFacts(cast(str, cache_plugin)) if persistent and facts_from != "hostvars" else None
        self._own = set(map(str, play_hosts)) if facts_from == "auto" else set()
        self.counts = {"hostvars": 0, "cache": 0}

    def __call__(self, host: str) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
        source = "cache" if self._cache is not None and host not in self._own else "hostvars"
        self.counts[source] += 1
        return cast(CachedFacts, self._cache)(host) if source == "cache" else self._hostvars(host)

    def describe(self) -> str:
        """One line for people: how many hosts' facts came from where."""
        parts = []
        if self.counts["cache"]:
            parts.append("%d read from the %s fact cache directly" % (self.counts["cache"], self.plugin_name))
        if self.counts["hostvars"]:
            parts.append("%d from hostvars" % self.counts["hostvars"])
        return "facts: " + (", ".join(parts) or "no host")


def plain(value: object) -> Any:
    """``value`` as plain JSON data (dict, list, str, int, float, bool, None): hostvars hand in lazy containers and
    tagged values. Data that is plain already is returned as it is, after a walk that costs less than a copy.

    Exact types, not isinstance: Ansible's lazy containers and tagged strings are subclasses of dict, list and str.
    """
    if _plain_types(value):
        return value
    return json.loads(json.dumps(value, default=str))


_PLAIN_SCALARS = frozenset((str, int, float, bool, type(None)))
_STRING = frozenset((str,))


def _plain_types(data: object) -> bool:
    stack: list[Any] = [data]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            if not {type(key) for key in item} <= _STRING:
                return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind not in _PLAIN_SCALARS:
            return False
    return True
