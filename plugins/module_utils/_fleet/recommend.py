# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

The recommendation: the richest guest CPU policy every member of a pool accepts, taken from the pool's baseline in
canonical fields and settled against each kind of member in its own names (see docs/fleet-logic.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from typing import Any, Iterable, Sequence

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._host import props, rules, sysreg, vocabulary
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import baseline, grouping

RECOMMENDED_POLICY = "require"
# SYSREG_ field rules (sysreg.py) under which a lower value is the better one for a guest
HIGHER_SAFE_RULES = (sysreg.HIGHER_SAFE, sysreg.HIGHER_OR_ZERO_SAFE)


def requestable(prop: props.Property, value: object) -> str | None:
    """``value`` as validation renders it on ``prop`` (``Property.match``: the host's spelling, case-insensitive
    for named values), None when a request for it would be refused (no token, no match, a leading zero)."""
    if not validate.is_token(value):
        return None
    try:
        rendered = prop.match(value)
    except ValueError:
        return None
    return rendered if validate.is_token(rendered) else None


def richest_value(prop: props.Property) -> str | None:
    """The value of ``prop`` that gives a guest the most: bool on; number the top of the highest range (for a
    higher-safe SYSREG_ field the lowest non-zero value); string or other type the last value listed (QEMU lists
    ascending), skipping "off" while anything else is offered. Named values are taken as validation renders them
    (:func:`requestable`), so spellings of one value are one value whatever their order, and a value no request
    can carry is none.
    None when there is no value a request could carry."""
    values = [value for value in prop.supported_values if validate.is_token(value)]
    if prop.type == props.BOOL_TYPE:
        return props.ON if prop.allows_on() else props.OFF if prop.allows_off() else None
    if prop.type == props.NUMBER_TYPE:
        ranges, values = props.split_number_values(values)
        if ranges and prop.extra.get("rule") in HIGHER_SAFE_RULES:
            # a higher-safe ID field tells the guest something worse the higher it is: the least is the richest
            return prop.render_number(min(low for low, _high in ranges if low or len(ranges) == 1))
        if ranges and prop.extra.get("signed"):
            # a signed ID field's 0xf is "not implemented", below every other value
            return prop.render_number(max((high for _low, high in ranges), key=lambda value: (value + 8) % 16))
        if ranges:
            return prop.render_number(max(high for _low, high in ranges))
    # each named value once, spelt as a request for it in lower case is rendered (case-insensitive types only)
    folds = prop.type in (props.STRING_TYPE, props.NUMBER_TYPE)
    values = [value for value in (requestable(prop, name.lower() if folds else name) for name in values) if value]
    rich: list[str | None] = [value for value in values if value.lower() != props.OFF]
    return (rich or values or [None])[-1]


def _is_fact(value: object) -> bool:
    return isinstance(value, Mapping) and "supported" in value and isinstance(value.get("properties"), Mapping)


def recommend(pool: Any, members: Any = None) -> dict[str, Any]:
    """The richest guest CPU policy every member of the pool accepts: ``{mode, features}`` for armvirt.cpu.guest_cpu.

    ``pool`` is a baseline (or a single fact) or ``{host: fact}``, whose baseline is taken first. ``members``
    (``{host: fact}``) are the hosts the policy must validate on: by default the pool's facts when it is given as
    ``{host: fact}``, else the baseline or fact itself. The mode is host-passthrough, or maximum for a pool whose
    hosts all run TCG (model host needs KVM). Every canonical field and every property with no field that has a
    usable value is pinned with policy require, in canonical names (``SYSREG_<REG>_<FIELD>``, hex values), sorted
    by name, so the guest refuses to start on a host that could not take it back; VM behaviour switches
    (``rules.VM_SWITCHES``) and pointer-authentication algorithm selectors (``rules.ALGORITHM_SELECTORS``, a choice
    rather than a feature) are never pinned. The richest values are then settled against every kind of member
    (:func:`_settle`): translated into its names (``vocabulary.to_host``), they pass the full validation, rules
    included, on its own fact (see docs/fleet-logic.md).
    """
    fact: Any = pool if _is_fact(pool) else baseline.baseline(pool)
    label = str(fact.get("label") or "pool")
    errors = validate.check_features([], fact, label)[1]
    if errors:
        raise ValueError(errors[0].message)
    if not fact.get("supported"):
        raise ValueError("%s: nothing to recommend: %s" % (label, fact.get("reason") or "no supported host"))
    if members is None:
        members = {label: fact} if _is_fact(pool) else pool
    kinds = grouping.group(members)[0]
    if not kinds:
        raise ValueError("%s: no supported member to validate the recommendation on" % label)
    # a baseline is in canonical fields already (and keeps what only the fleet knows, such as coupled_with)
    host_props = props.HostProps.from_fact(fact if validate.is_baseline(fact) else vocabulary.canonical_fact(fact))
    features = []
    for name, prop in sorted(host_props.properties.items()):
        if rules.is_vm_switch(name) or name in rules.ALGORITHM_SELECTORS or name in grouping.SWITCHES:
            continue   # a switch is said by its fields (ID_AA64PFR0_EL1.SVE for sve)
        if grouping.is_identity(prop):
            continue   # the host's identity: the class guarantees it, a guest policy does not rewrite it
        value = richest_value(prop)
        if value is not None:
            features.append({"name": name, "policy": RECOMMENDED_POLICY, "value": value})
    # half of a coupled value without the other (the pool shares no value of it) cannot be asked of a host that
    # names the two as one property
    pinned = set(feature["name"] for feature in features)
    features = _unpin_hidden([feature for feature in features if host_props.properties[feature["name"]].extra.get(
        grouping.COUPLED, feature["name"]) in pinned])
    mode = names.MODE_FOR_ACCEL.get(fact.get("accel"), names.DEFAULT_MODE)
    return {"mode": mode, "features": _settle(features, host_props, kinds, label)}


def _unpin_hidden(features: list[dict[str, str]]) -> list[dict[str, str]]:
    """``features`` without what a vCPU switch hides where the switch's own fields are pinned to 0 (SVE absent):
    the fields its gate rules name and, for SVE, the vector lengths. The guest sees them as 0 or off anyway, and
    dialects spell "hidden" differently (``hw_prop_SVEver=0`` is SVE version 1 on the seed's QEMU)."""
    values = dict((feature["name"], feature["value"]) for feature in features)
    hidden: set[str] = set()
    for switch in grouping.SWITCHES:
        own = [name for name in vocabulary.canonical_name(switch) if name in values]
        if not own or any(_as_int(values[name]) != 0 for name in own):
            continue
        hidden.update(_family(switch))
        if switch == "sve":
            hidden.update(rules.sve_lengths(values).values())
        hidden.difference_update(own)
    return [feature for feature in features if feature["name"] not in hidden]


def _family(switch: str) -> set[str]:
    """The canonical fields of a vCPU switch's family: its own (``sve`` is ID_AA64PFR0_EL1.SVE) and those its gate
    rules name (rules.py names them in every dialect)."""
    family = set(vocabulary.canonical_name(switch))
    for rule in rules.RULES:
        if rule.kind == "gate" and rule.params["switch"] == switch:
            family.update(name for field in rule.params["fields"] for name in vocabulary.canonical_name(field))
    return family


def _as_int(value: str) -> int | None:
    try:
        return props.parse_int(value)
    except ValueError:
        return None


def _member_errors(features: list[dict[str, str]], kind: grouping.Kind,
                   host_props: props.HostProps) -> list[tuple[tuple[str, ...], str | None, str]]:
    """``[(canonical names, rule id or None, message)]``: what keeps ``features`` (canonical names) from the
    kind's first host, translated into its names (``vocabulary.to_host``) and validated on its own fact. A feature
    the host cannot be asked in its names is found by translating it alone (with the other half of a coupled
    value)."""
    host = kind.hosts[0]
    own, problems = vocabulary.to_host(features, kind.fact, host)
    if problems:
        found: list[tuple[tuple[str, ...], str | None, str]] = []
        for group in _coupled_groups(features, host_props):
            problems = vocabulary.to_host(group, kind.fact, host)[1]
            if problems:
                found.append((tuple(feature["name"] for feature in group), None, problems[0]))
        return found or [((), None, problems[0])]
    return [(tuple(kind.names.get(error.feature) or (error.feature,)), error.rule, error.message)
            for error in validate.check_features(own, kind.fact, host)[1]]


def _coupled_groups(features: list[dict[str, str]], host_props: props.HostProps) -> list[list[dict[str, str]]]:
    """The features, each with the other half of its coupled value (``coupled_with``) where the request has it."""
    by_name = {feature["name"]: feature for feature in features}
    groups: list[list[dict[str, str]]]
    seen: set[str]
    groups, seen = [], set()
    for feature in features:
        if feature["name"] in seen:
            continue
        prop = host_props.properties.get(feature["name"])
        partner = prop.extra.get(grouping.COUPLED) if prop is not None else None
        group = [feature] + ([by_name[partner]] if partner in by_name and partner not in seen else [])
        seen.update(item["name"] for item in group)
        groups.append(group)
    return groups


def _settle(features: list[dict[str, str]], host_props: props.HostProps, kinds: Sequence[grouping.Kind],
            label: str) -> list[dict[str, str]]:
    """Richest values made consistent on every kind of member: a broken rule of a switch family (pauth, PMU, SVE
    fields) turns the family's fields to 0, as a pool whose members disagree on it can only offer the guest none
    of it; a broken vector-length rule (a length that needs sve=on where SVE must stay off, no length left) unpins
    every length; anything else a member refuses (a broken rule, a value it cannot be asked in its names) leaves
    the canonical properties it names unpinned (at the host's default). Each round unpins or zeroes something, so it ends within as many rounds as
    there are features. Raises ValueError if the result still fails on a member."""
    by_name = {feature["name"]: feature for feature in features}
    lengths = set(rules.sve_lengths(host_props.properties).values())
    for _round in range(len(by_name) + 1):
        before = dict((name, feature.get("value")) for name, feature in by_name.items())
        for kind in kinds:
            for names, rule_id, _message in _member_errors(list(by_name.values()), kind, host_props):
                rule = rules.BY_ID.get(rule_id)
                if rule is not None and rule.kind in ("gate", "algorithm-pairs"):
                    _family_off(by_name, host_props, _family_switch(rule), names)
                elif rule is not None and rule.kind == "vector-lengths":
                    for name in lengths:
                        by_name.pop(name, None)
                else:
                    for name in names:
                        by_name.pop(name, None)
        if dict((name, feature.get("value")) for name, feature in by_name.items()) == before:
            break
    settled = sorted(by_name.values(), key=itemgetter("name"))
    for kind in kinds:
        errors = _member_errors(settled, kind, host_props)
        if errors:
            raise ValueError("%s: no consistent recommendation: %s" % (label, errors[0][2]))
    return settled


def _family_switch(rule: rules.Rule) -> str:
    """The vCPU switch whose family a gate or algorithm-pairs rule belongs to."""
    if "switch" in rule.params:
        return rule.params["switch"]
    fields = {name for pair in rule.params["pairs"] for name in pair}
    return next(other.params["switch"] for other in rules.RULES
                if other.kind == "gate" and fields <= set(other.params["fields"]))


def _family_off(by_name: dict[str, dict[str, str]], host_props: props.HostProps, switch: str,
                names: Iterable[str]) -> None:
    """Pin every canonical field of ``switch``'s family (the switch's own fields and those its gate rules name) to
    0 where the pool offers 0, else unpin it. When the switch's own fields cannot be 0, or the family is off
    already and a member still refuses (a field whose 0 does not hide the feature in that host's names, such as
    hw_prop_SVEver), unpin ``names`` only."""
    own = [field for field in vocabulary.canonical_name(switch) if field in host_props.properties]
    off: dict[str, dict[str, str] | None] = {}
    for field in sorted(_family(switch) & set(host_props.properties)):
        zero = requestable(host_props.properties[field], "0")
        off[field] = None if zero is None else {"name": field, "policy": RECOMMENDED_POLICY, "value": zero}
    if not any(off.get(field) for field in own) or all(by_name.get(field) == item for field, item in off.items()):
        for name in names:
            by_name.pop(name, None)
        return
    for field, item in off.items():
        if item is None:
            by_name.pop(field, None)
        else:
            by_name[field] = item
