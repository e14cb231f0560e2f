# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

The fleet baseline: many hosts' facts as one fact, what every member offers with the values all of them accept,
intersected once per kind of host (``grouping.group``), by canonical field across dialects.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence, cast

from ansible_collections.armvirt.cpu.plugins.module_utils._host import props, vocabulary
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import grouping


def _intersect(kinds: Sequence[grouping.Kind]) -> tuple[dict[str, props.Property], dict[str, list[str]], list[str]]:
    """(common properties, missing {name: hosts lacking it}, empty [names]) over the kinds, first kind's order."""
    if not kinds:
        return {}, {}, []
    identity = set(name for kind in kinds for name, prop in kind.props.properties.items() if grouping.is_identity(prop))
    missing: dict[str, list[str]] = {}
    for name in sorted(set().union(*(kind.props.properties for kind in kinds)) - identity):
        lacking = [host for kind in kinds if name not in kind.props.properties for host in kind.hosts]
        if lacking:
            missing[name] = sorted(lacking)
    common: dict[str, props.Property]
    empty: list[str]
    common, empty = {}, []
    for name in sorted(identity):
        props_of = [kind.props.properties.get(name) for kind in kinds]
        first = cast(props.Property, props_of[0])   # None only where all() below stops at it
        if all(prop is not None and (prop.supported_values, prop.default) == (first.supported_values, first.default)
               for prop in props_of):
            common[name] = first
    for name, prop in kinds[0].props.properties.items():
        if name in missing or name in identity:
            continue
        values, default = prop.supported_values, prop.default
        for kind in kinds[1:]:
            other = kind.props.properties[name]
            if other.type != prop.type:
                values = ()
            elif (other.supported_values, other.default) != (values, default):
                values, default = _common_values(prop.type, values, default, other.supported_values, other.default)
            if not values:
                break
        if values:
            extra = _common_extra(prop.extra, [kind.props.properties[name] for kind in kinds[1:]], values)
            common[name] = props.Property(name, prop.type, values, default, extra)
        else:
            empty.append(name)
    return common, missing, sorted(empty)


def _switches(common: dict[str, props.Property]) -> dict[str, props.Property]:
    """The vCPU switches (``grouping.SWITCHES``) whose fields the baseline has but which canonical facts give only
    as those fields (``sve`` is ID_AA64PFR0_EL1.SVE), as booleans: on where a field can show the feature, off where
    every field can be 0. Every dialect has these switches; the rule model (rules.py) reasons on them by name, so
    validation on the baseline sees SVE off where ID_AA64PFR0_EL1.SVE can only be 0."""
    out: dict[str, props.Property] = {}
    for switch in grouping.SWITCHES:
        fields = [props.split_number_values(common[name].supported_values)[0]
                  for name in vocabulary.canonical_name(switch) if name in common]
        if switch in common or not fields:
            continue
        words = ([props.ON] if any(high for ranges in fields for _low, high in ranges) else []) + (
            [props.OFF] if all(any(low == 0 for low, _high in ranges) for ranges in fields) else [])
        if words:
            out[switch] = props.Property(switch, props.BOOL_TYPE, tuple(words))
    return out


def _common_extra(extra: props.Fact, others: Sequence[props.Property], values: Sequence[str]) -> props.Fact:
    """The extra members every kind agrees on (a SYSREG_ field's ``host_value`` differs from host to host, its
    ``rule`` does not), with ``conditional_values`` over every kind: a value the fleet keeps is conditional when it is
    conditional on any member (``rules.py`` holds the request to the condition); ``coupled_with`` when any kind
    has it."""
    conditional: dict[str, Any] = {}
    for prop_extra in [extra] + [other.extra for other in others]:
        for value, condition in (prop_extra.get(props.CONDITIONAL) or {}).items():
            if value in values:
                conditional.setdefault(value, condition)
    merged = {key: member for key, member in extra.items()
              if key != props.CONDITIONAL and all(other.extra.get(key, _ABSENT) == member for other in others)}
    # a member that names this field only together with another (feat_RAS) makes it one half of a value fleet-wide
    coupled = next((prop_extra[grouping.COUPLED] for prop_extra in [extra] + [other.extra for other in others]
                    if prop_extra.get(grouping.COUPLED)), None)
    if coupled:
        merged[grouping.COUPLED] = coupled
    if conditional:
        merged[props.CONDITIONAL] = dict(sorted(conditional.items()))
    return merged


_ABSENT = object()


@functools.lru_cache(maxsize=65536)
def _common_values(type_: str, values: tuple[str, ...], default: str | None, other_values: tuple[str, ...],
                   other_default: str | None) -> tuple[tuple[str, ...], str | None]:
    """Property.intersect on plain values: kinds of host repeat the same pairs, so each pair is worked out once."""
    common = cast(props.Property, props.Property("", type_, values, default).intersect(   # same type: never None
        props.Property("", type_, other_values, other_default)))
    return common.supported_values, common.default


def baseline(facts_by_host: object, label: object = "fleet") -> props.Fact:
    """The fleet as one fact: the canonical fields (and the properties with no field) every supported host offers,
    with the values all of them accept.

    Same shape as ``arm_cpu_props`` (so validate.check_features takes it unchanged) plus label, members, excluded,
    missing, unknown, empty and classes; see ``docs/schemas/fleet_baseline.schema.json``. Values keep the order and
    spelling of the member that sorts first by name, so the result does not depend on the order of the input. A
    field some member cannot give (``vocabulary.canonical_fact``'s ``unknown_fields``) is in ``missing`` for it and
    in ``unknown`` with the reason.
    """
    kinds, excluded = grouping.group(facts_by_host)
    common, missing, empty = _intersect(kinds)
    common.update(_switches(common))
    unknown: dict[str, dict[str, str]] = {}
    for kind in kinds:
        for name, reason in kind.unknown.items():
            if name not in common:
                unknown.setdefault(name, {}).update((host, reason) for host in kind.hosts)
    host_class = {host: kind.class_id for kind in kinds for host in kind.hosts}
    members = sorted(host_class)
    result = {key: grouping.common_value(kind.meta[index] for kind in kinds)
              for index, key in enumerate(grouping.META_KEYS)}
    result.update({
        "supported": bool(members),
        "reason": None if members else "no supported host among %d (see excluded)" % len(excluded),
        "properties": {name: prop.to_fact() for name, prop in sorted(common.items())},
        "label": str(label),
        "members": members,
        "excluded": grouping.excluded_records(excluded),
        "missing": missing,
        "unknown": {name: dict(sorted(reasons.items())) for name, reasons in sorted(unknown.items())},
        "empty": empty,
        "classes": {host: host_class[host] for host in members},
    })
    return result
