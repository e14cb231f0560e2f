# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

The grouping of hosts into kinds of identical facts, which every fleet question starts from.

Input everywhere in ``_fleet`` is ``{host: arm_cpu_props fact}``. Real fleets have thousands of hosts but few
distinct kinds of host, so baseline, classes, placement and recommendation all start with :func:`group`, which sorts
hosts into kinds with C-level work per host; the property model (``props.py``), the translation to canonical fields
(``vocabulary.py``), the request rules (``validate.py``) and the class id then run once per kind, never once per
host and property. Hosts of different QMP dialects are compared by canonical field (``SYSREG_<REG>_<FIELD>``), so
they share what they can all give; a request is judged on each host in its own names. Semantics, keys and measured
speed: ``docs/fleet-logic.md``.

Standard library only, no Ansible imports: the filters are thin wrappers around this package.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any, Iterable

from ansible_collections.armvirt.cpu.plugins.module_utils._host import props, sysreg, vocabulary
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate

META_KEYS = ("dialect", "accel", "emulator", "qemu_version", "qemu_package", "cpu_model", "source")
CLASS_PREFIX = "cpu-"
NO_FACT = "no arm_cpu_props fact (not gathered, or the host was unreachable)"

_VALUES = itemgetter("supported_values")
# A canonical field that some host names only together with another (vocabulary.canonical_fact): its other half
COUPLED = "coupled_with"
# vCPU switches a canonical fact gives only as their fields, while the rule model (rules.py) reasons on them by name
SWITCHES = ("sve", "pmu", "pauth")


class Kind(object):
    """Hosts whose facts are equal (same meta data, same property dicts, same guest-visible identity): parsed,
    checked, translated to canonical fields and classified once. ``props`` is the canonical fact's HostProps,
    ``unknown`` its fields the host cannot give (canonical name to reason), ``names`` each host property name to
    the canonical names it gives."""

    __slots__ = ("fact", "meta", "identity", "hosts", "props", "class_id", "unknown", "names")

    def __init__(self, fact: Any, meta: tuple[Any, ...], identity: tuple[tuple[Any, ...], tuple[Any, ...]] | None,
                 host: str) -> None:
        self.fact = fact
        self.meta = meta
        self.identity = identity
        self.hosts = [host]
        # group() sets props and class_id before any caller sees the kind
        self.props: props.HostProps = None   # type: ignore[assignment]
        self.class_id: str = None   # type: ignore[assignment]
        self.unknown: dict[str, str] = {}
        self.names: dict[str, list[str]] = {}


def guest_visible_identity(fact: Mapping[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    """What of the host's identity (``host_cpu``) a host-passthrough guest sees or depends on: the MIDR set (the
    guest reads MIDR_EL1) and the kernel command line's overrides (they change what KVM offers). None for a fact
    without ``host_cpu`` (gathered before it existed, or built by hand)."""
    host_cpu = fact.get("host_cpu")
    if not isinstance(host_cpu, Mapping):
        return None
    return (tuple(host_cpu.get("midr") or ()), tuple(host_cpu.get("kernel_cmdline_overrides") or ()))


def group(facts_by_host: object) -> tuple[list[Kind], list[tuple[str, str, Any]]]:
    """``(kinds, excluded)``: supported hosts as kinds sorted by their first host, the rest as (host, reason, fact).

    Per host only C-level passes run: the hash of (meta values, property names, all values in a row) finds the
    candidate kinds in a dict and ``==`` on the meta tuple and the property dicts confirms one (types, defaults,
    extra keys too), so a hash collision or hosts that differ elsewhere just become separate kinds. Hashing (rather
    than keying by the tuple) matters: a tuple key would be compared element by element on every hit, a second
    full comparison per host. Shape problems show up as exceptions on this fast path or when the first host of a
    kind is checked by validate (whose shape rules the baseline must satisfy anyway).
    """
    if not isinstance(facts_by_host, Mapping):
        raise TypeError("expected a mapping of host name to arm_cpu_props fact, got %s" % _kind_of(facts_by_host))
    buckets: dict[int, list[Kind]]
    kinds: list[Kind]
    excluded: list[tuple[str, str, Any]]
    buckets, kinds, excluded = {}, [], []
    for host, fact in facts_by_host.items():
        host = str(host)
        if not isinstance(fact, Mapping) or not fact:
            excluded.append((host, NO_FACT, None))
            continue
        if not fact.get("supported"):
            excluded.append((host, "arm_cpu_props reports supported: false (%s)"
                             % (fact.get("reason") or "no reason given"), fact))
            continue
        try:
            properties, meta = fact["properties"], tuple(map(fact.get, META_KEYS))
            identity = guest_visible_identity(fact)
            key = hash((meta, identity, tuple(properties),
                        tuple(chain.from_iterable(map(_VALUES, properties.values())))))
        except (KeyError, TypeError, AttributeError) as exc:
            excluded.append((host, _malformed(fact, host, exc), fact))
            continue
        candidates = buckets.setdefault(key, [])
        for kind in candidates:
            if kind.meta == meta and kind.identity == identity and kind.fact["properties"] == properties:
                kind.hosts.append(host)
                break
        else:
            kind = Kind(fact, meta, identity, host)
            candidates.append(kind)
            kinds.append(kind)
    good = []
    for kind in kinds:
        errors = validate.read_fact(kind.fact, kind.hosts[0])[1]
        if errors:
            excluded.extend((host, _malformed(kind.fact, host), kind.fact) for host in kind.hosts)
            continue
        _canonical_kind(kind)
        kind.class_id = class_id(kind.props, kind.identity)
        kind.hosts.sort()
        good.append(kind)
    good.sort(key=lambda kind: kind.hosts[0])
    excluded.sort(key=itemgetter(0))
    return good, excluded


def _canonical_kind(kind: Kind) -> None:
    """The kind's fact in canonical fields (``vocabulary.canonical_fact``, once per kind): its properties, the
    fields it cannot give, and which canonical names each of its own property names gives."""
    canonical = vocabulary.canonical_fact(kind.fact)
    kind.props = props.HostProps.from_fact(canonical)
    kind.unknown = dict(canonical.get("unknown_fields") or {})
    for name, prop in kind.props.properties.items():
        for own in prop.extra.get("host_names") or (name,):
            kind.names.setdefault(own, []).append(name)


def _kind_of(value: object) -> str:
    """What a wrong input is, in YAML terms: Ansible hands filters its own container and string subclasses."""
    for kind, name in ((str, "a string"), (Mapping, "a mapping"), (Sequence, "a list")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


def _malformed(fact: Any, host: str, exc: Exception | None = None) -> str:
    """The reason a fact is unusable, in validate's words when it has some."""
    errors = validate.check_features([], fact, host)[1]
    if errors:
        return errors[0].message.split(": ", 1)[-1].rstrip(".")
    return "the arm_cpu_props fact is malformed (%s: %s)" % (type(exc).__name__, exc)


def class_id(host_props: props.HostProps, identity: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None) -> str:
    """A compatibility class id that only depends on what a host-passthrough guest would see.

    Built from the canonical property set (names, types, canonical values), so listing order, case and range
    splitting do not matter and the same kind of host gets the same id in every run and every fleet; and from the
    guest-visible identity (:func:`guest_visible_identity`: MIDR set, kernel overrides) where the fact has one, so a
    Neoverse-N1 and a Cortex-A72 that report the same booleans are two classes.
    """
    canonical: list[list[Any]] = [[name, prop.type, list(_canonical(prop.type, prop.supported_values))]
                                  for name, prop in sorted(host_props.properties.items())]
    if identity is not None:
        canonical.append(["host_cpu", [list(part) for part in identity]])
    digest = hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode("utf-8")).hexdigest()
    return CLASS_PREFIX + digest[:10]


@functools.lru_cache(maxsize=4096)
def _canonical(type_: str, values: tuple[str, ...]) -> tuple[str, ...]:
    """Canonical values by (type, values): kinds of host share most value lists, so each is worked out once."""
    return props.Property("", type_, values).canonical_values()


def common_value(values: Iterable[Any]) -> Any:
    """The one value all members share, else None (e.g. the dialect of a mixed fleet)."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def excluded_records(excluded: Iterable[tuple[str, str, Any]]) -> list[dict[str, str]]:
    """The left-out hosts as the results list them: ``[{host, reason}]``."""
    return [{"host": host, "reason": reason} for host, reason, _fact in excluded]


def is_identity(prop: props.Property) -> bool:
    """Whether a canonical property is a field of the host's identity (MIDR_EL1, REVIDR_EL1, AIDR_EL1: ``rule``
    identity, sysreg.py). The class covers it (its id digests every property, and MIDR where the fact has
    host_cpu); a baseline keeps it only where every member has the same value, and never counts it as missing or
    empty: hosts of a pool may differ in identity, which is no value to lower."""
    return prop.extra.get("rule") == sysreg.IDENTITY
