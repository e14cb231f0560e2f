# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

Fleet logic: what many hosts' ``arm_cpu_props`` facts have in common, and where a guest CPU request can run.

Input everywhere is ``{host: arm_cpu_props fact}``. Real fleets have thousands of hosts but few distinct kinds of
host, so every function starts with :func:`_group`, which sorts hosts into kinds of identical facts with C-level work
per host; the property model (``props.py``), the translation to canonical fields (``vocabulary.py``) and the request
rules (``validate.py``) then run once per kind, never once per host and property. Hosts of different QMP dialects
are compared by canonical field (``SYSREG_<REG>_<FIELD>``), so they share what they can all give; a request is
judged on each host in its own names. Semantics, keys and measured speed: ``docs/fleet-logic.md``.

Standard library only, no Ansible imports: the filters are thin wrappers around this module.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from itertools import chain
from operator import itemgetter

from ansible_collections.armvirt.cpu.plugins.module_utils._host import props, rules, sysreg
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import policy, validate
from ansible_collections.armvirt.cpu.plugins.module_utils._host import vocabulary

META_KEYS = ("dialect", "accel", "emulator", "qemu_version", "qemu_package", "cpu_model", "source")
CLASS_PREFIX = "cpu-"
RECOMMENDED_MODE = validate.DEFAULT_MODE
# The mode a pool of one accelerator is recommended: QEMU's model host needs KVM, so a TCG pool gets maximum (max).
MODE_FOR_ACCEL = {"kvm": "host-passthrough", "tcg": "maximum"}
RECOMMENDED_POLICY = "require"
NO_FACT = "no arm_cpu_props fact (not gathered, or the host was unreachable)"
# What a compatibility class (a migration pool) promises, in one line for reports and policy files; the full table
# is in docs/fleet-logic.md.
CLASS_GUARANTEE = ("A class guarantees the guest CPU's properties and, where the facts carry host_cpu, its MIDR and "
                   "the kernel's overrides; it does not cover the GIC version, the machine type, PMU counters or the "
                   "timer frequency (docs/fleet-logic.md).")
# SYSREG_ field rules (sysreg.py) under which a lower value is the better one for a guest
HIGHER_SAFE_RULES = (sysreg.HIGHER_SAFE, sysreg.HIGHER_OR_ZERO_SAFE)

_VALUES = itemgetter("supported_values")
# A canonical field that some host names only together with another (vocabulary.canonical_fact): its other half
COUPLED = "coupled_with"
# vCPU switches a canonical fact gives only as their fields, while the rule model (rules.py) reasons on them by name
SWITCHES = ("sve", "pmu", "pauth")


class _Kind(object):
    """Hosts whose facts are equal (same meta data, same property dicts, same guest-visible identity): parsed,
    checked, translated to canonical fields and classified once. ``props`` is the canonical fact's HostProps,
    ``unknown`` its fields the host cannot give (canonical name to reason), ``names`` each host property name to
    the canonical names it gives."""

    __slots__ = ("fact", "meta", "identity", "hosts", "props", "class_id", "unknown", "names")

    def __init__(self, fact, meta, identity, host):
        self.fact = fact
        self.meta = meta
        self.identity = identity
        self.hosts = [host]
        self.props = None
        self.class_id = None
        self.unknown = {}
        self.names = {}


def guest_visible_identity(fact):
    """What of the host's identity (``host_cpu``) a host-passthrough guest sees or depends on: the MIDR set (the
    guest reads MIDR_EL1) and the kernel command line's overrides (they change what KVM offers). None for a fact
    without ``host_cpu`` (gathered before it existed, or built by hand)."""
    host_cpu = fact.get("host_cpu")
    if not isinstance(host_cpu, Mapping):
        return None
    return (tuple(host_cpu.get("midr") or ()), tuple(host_cpu.get("kernel_cmdline_overrides") or ()))


def _group(facts_by_host):
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
            kind = _Kind(fact, meta, identity, host)
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


def _canonical_kind(kind):
    """The kind's fact in canonical fields (``vocabulary.canonical_fact``, once per kind): its properties, the
    fields it cannot give, and which canonical names each of its own property names gives."""
    canonical = vocabulary.canonical_fact(kind.fact)
    kind.props = props.HostProps.from_fact(canonical)
    kind.unknown = dict(canonical.get("unknown_fields") or {})
    for name, prop in kind.props.properties.items():
        for own in prop.extra.get("host_names") or (name,):
            kind.names.setdefault(own, []).append(name)


def _kind_of(value):
    """What a wrong input is, in YAML terms: Ansible hands filters its own container and string subclasses."""
    for kind, name in ((str, "a string"), (Mapping, "a mapping"), (Sequence, "a list")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


def _malformed(fact, host, exc=None):
    """The reason a fact is unusable, in validate's words when it has some."""
    errors = validate.check_features([], fact, host)[1]
    if errors:
        return errors[0].message.split(": ", 1)[-1].rstrip(".")
    return "the arm_cpu_props fact is malformed (%s: %s)" % (type(exc).__name__, exc)


def class_id(host_props, identity=None):
    """A compatibility class id that only depends on what a host-passthrough guest would see.

    Built from the canonical property set (names, types, canonical values), so listing order, case and range
    splitting do not matter and the same kind of host gets the same id in every run and every fleet; and from the
    guest-visible identity (:func:`guest_visible_identity`: MIDR set, kernel overrides) where the fact has one, so a
    Neoverse-N1 and a Cortex-A72 that report the same booleans are two classes.
    """
    canonical = [[name, prop.type, list(_canonical(prop.type, prop.supported_values))]
                 for name, prop in sorted(host_props.properties.items())]
    if identity is not None:
        canonical.append(["host_cpu", [list(part) for part in identity]])
    digest = hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode("utf-8")).hexdigest()
    return CLASS_PREFIX + digest[:10]


@functools.lru_cache(maxsize=4096)
def _canonical(type_, values):
    """Canonical values by (type, values): kinds of host share most value lists, so each is worked out once."""
    return props.Property("", type_, values).canonical_values()


def _common(values):
    """The one value all members share, else None (e.g. the dialect of a mixed fleet)."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def _excluded_records(excluded):
    return [{"host": host, "reason": reason} for host, reason, _fact in excluded]


def is_identity(prop):
    """Whether a canonical property is a field of the host's identity (MIDR_EL1, REVIDR_EL1, AIDR_EL1: ``rule``
    identity, sysreg.py). The class covers it (its id digests every property, and MIDR where the fact has
    host_cpu); a baseline keeps it only where every member has the same value, and never counts it as missing or
    empty: hosts of a pool may differ in identity, which is no value to lower."""
    return prop.extra.get("rule") == sysreg.IDENTITY


def _intersect(kinds):
    """(common properties, missing {name: hosts lacking it}, empty [names]) over the kinds, first kind's order."""
    if not kinds:
        return {}, {}, []
    identity = set(name for kind in kinds for name, prop in kind.props.properties.items() if is_identity(prop))
    missing = {}
    for name in sorted(set().union(*(kind.props.properties for kind in kinds)) - identity):
        lacking = [host for kind in kinds if name not in kind.props.properties for host in kind.hosts]
        if lacking:
            missing[name] = sorted(lacking)
    common, empty = {}, []
    for name in sorted(identity):
        props_of = [kind.props.properties.get(name) for kind in kinds]
        first = props_of[0]
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


def _switches(common):
    """The vCPU switches (``SWITCHES``) whose fields the baseline has but which canonical facts give only as those
    fields (``sve`` is ID_AA64PFR0_EL1.SVE), as booleans: on where a field can show the feature, off where every
    field can be 0. Every dialect has these switches; the rule model (rules.py) reasons on them by name, so
    validation on the baseline sees SVE off where ID_AA64PFR0_EL1.SVE can only be 0."""
    out = {}
    for switch in SWITCHES:
        fields = [props.split_number_values(common[name].supported_values)[0]
                  for name in vocabulary.canonical_name(switch) if name in common]
        if switch in common or not fields:
            continue
        words = ([props.ON] if any(high for ranges in fields for _low, high in ranges) else []) + (
            [props.OFF] if all(any(low == 0 for low, _high in ranges) for ranges in fields) else [])
        if words:
            out[switch] = props.Property(switch, props.BOOL_TYPE, tuple(words))
    return out


def _common_extra(extra, others, values):
    """The extra members every kind agrees on (a SYSREG_ field's ``host_value`` differs from host to host, its
    ``rule`` does not), with ``conditional_values`` over every kind: a value the fleet keeps is conditional when it is
    conditional on any member (``rules.py`` holds the request to the condition); ``coupled_with`` when any kind
    has it."""
    conditional = {}
    for prop_extra in [extra] + [other.extra for other in others]:
        for value, condition in (prop_extra.get(props.CONDITIONAL) or {}).items():
            if value in values:
                conditional.setdefault(value, condition)
    merged = {key: member for key, member in extra.items()
              if key != props.CONDITIONAL and all(other.extra.get(key, _ABSENT) == member for other in others)}
    # a member that names this field only together with another (feat_RAS) makes it one half of a value fleet-wide
    coupled = next((prop_extra[COUPLED] for prop_extra in [extra] + [other.extra for other in others]
                    if prop_extra.get(COUPLED)), None)
    if coupled:
        merged[COUPLED] = coupled
    if conditional:
        merged[props.CONDITIONAL] = dict(sorted(conditional.items()))
    return merged


_ABSENT = object()


@functools.lru_cache(maxsize=65536)
def _common_values(type_, values, default, other_values, other_default):
    """Property.intersect on plain values: kinds of host repeat the same pairs, so each pair is worked out once."""
    common = props.Property("", type_, values, default).intersect(
        props.Property("", type_, other_values, other_default))
    return common.supported_values, common.default


def baseline(facts_by_host, label="fleet"):
    """The fleet as one fact: the canonical fields (and the properties with no field) every supported host offers,
    with the values all of them accept.

    Same shape as ``arm_cpu_props`` (so validate.check_features takes it unchanged) plus label, members, excluded,
    missing, unknown, empty and classes; see ``docs/schemas/fleet_baseline.schema.json``. Values keep the order and
    spelling of the member that sorts first by name, so the result does not depend on the order of the input. A
    field some member cannot give (``vocabulary.canonical_fact``'s ``unknown_fields``) is in ``missing`` for it and
    in ``unknown`` with the reason.
    """
    kinds, excluded = _group(facts_by_host)
    common, missing, empty = _intersect(kinds)
    common.update(_switches(common))
    unknown = {}
    for kind in kinds:
        for name, reason in kind.unknown.items():
            if name not in common:
                unknown.setdefault(name, {}).update((host, reason) for host in kind.hosts)
    host_class = {host: kind.class_id for kind in kinds for host in kind.hosts}
    members = sorted(host_class)
    result = {key: _common(kind.meta[index] for kind in kinds) for index, key in enumerate(META_KEYS)}
    result.update({
        "supported": bool(members),
        "reason": None if members else "no supported host among %d (see excluded)" % len(excluded),
        "properties": {name: prop.to_fact() for name, prop in sorted(common.items())},
        "label": str(label),
        "members": members,
        "excluded": _excluded_records(excluded),
        "missing": missing,
        "unknown": {name: dict(sorted(reasons.items())) for name, reasons in sorted(unknown.items())},
        "empty": empty,
        "classes": {host: host_class[host] for host in members},
    })
    return result


def classes(facts_by_host):
    """Compatibility classes: hosts that accept exactly the same requests, so a guest can move freely among them.

    Returns ``{"classes": {id: summary}, "hosts": {host: id}, "excluded": [{host, reason}]}``.
    """
    kinds, excluded = _group(facts_by_host)
    by_id = {}
    for kind in kinds:
        by_id.setdefault(kind.class_id, []).append(kind)
    summaries, host_class = {}, {}
    for cid, group in sorted(by_id.items()):
        hosts = sorted(host for kind in group for host in kind.hosts)
        dialect = _common(kind.fact.get("dialect") for kind in group)
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
    return {"classes": summaries, "hosts": dict(sorted(host_class.items())), "excluded": _excluded_records(excluded)}


def _read_request(request):
    """(mode, features) of a policy (``policy``; a bare feature list is taken as features). The features are
    validate's to judge, host by host, as records. Raises ValueError for anything else."""
    if isinstance(request, Sequence) and not isinstance(request, (str, bytes)):
        return policy.DEFAULT_MODE, request
    parsed = policy.read(request, "policy", tuple(validate.CPU_MODELS), features=False)
    return parsed.mode or policy.DEFAULT_MODE, parsed.features


def _for_host(record, first, host):
    """A record computed for the first host of a kind, re-addressed to another host of the same kind."""
    message = record["message"]
    if message.startswith(first + ": "):
        message = host + message[len(first):]
    return dict(record, host=host, allowed=list(record["allowed"]), message=message)


def placement(request, facts_by_host):
    """Which hosts can run a guest with this CPU request, and for each that cannot, every reason (validate records).

    The request is checked once per kind of host; hosts without a usable fact get validate's record for what they
    have (host-unsupported, bad-props), so a request with no features fits an unsupported host, as validate says.
    """
    mode, features = _read_request(request)
    kinds, excluded = _group(facts_by_host)
    hosts = {}
    for kind in kinds:
        first = kind.hosts[0]
        records = [error.as_dict() for error in validate.check_features(features, kind.fact, first)[1]]
        for host in kind.hosts:
            errors = [_for_host(record, first, host) for record in records]
            hosts[host] = {"ok": not errors, "class": kind.class_id, "errors": errors}
    for host, reason, fact in excluded:
        if fact is None:
            errors = [validate.FeatureError(host, None, None, [], "bad-props", "%s: %s." % (host, NO_FACT))]
        else:
            errors = validate.check_features(features, fact, host)[1]
        hosts[host] = {"ok": not errors, "class": None, "errors": [error.as_dict() for error in errors]}
    hosts = dict(sorted(hosts.items()))
    ok = [host for host, entry in hosts.items() if entry["ok"]]
    failed = [host for host, entry in hosts.items() if not entry["ok"]]
    failing = {}
    for entry in hosts.values():
        for rule in sorted({record["rule"] for record in entry["errors"]}):
            failing[rule] = failing.get(rule, 0) + 1
    summary = {"hosts": len(hosts), "ok": len(ok), "failed": len(failed), "rules": dict(sorted(failing.items()))}
    return {"mode": mode, "ok": ok, "failed": failed, "hosts": hosts, "summary": summary}


def requestable(prop, value):
    """``value`` as validation renders it on ``prop`` (``Property.match``: the host's spelling, case-insensitive
    for named values), None when a request for it would be refused (no token, no match, a leading zero)."""
    if not validate.is_token(value):
        return None
    try:
        rendered = prop.match(value)
    except ValueError:
        return None
    return rendered if validate.is_token(rendered) else None


def richest_value(prop):
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
    rich = [value for value in values if value.lower() != props.OFF]
    return (rich or values or [None])[-1]


def _is_fact(value):
    return isinstance(value, Mapping) and "supported" in value and isinstance(value.get("properties"), Mapping)


def recommend(pool, members=None):
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
    fact = pool if _is_fact(pool) else baseline(pool)
    label = str(fact.get("label") or "pool")
    errors = validate.check_features([], fact, label)[1]
    if errors:
        raise ValueError(errors[0].message)
    if not fact.get("supported"):
        raise ValueError("%s: nothing to recommend: %s" % (label, fact.get("reason") or "no supported host"))
    if members is None:
        members = {label: fact} if _is_fact(pool) else pool
    kinds = _group(members)[0]
    if not kinds:
        raise ValueError("%s: no supported member to validate the recommendation on" % label)
    # a baseline is in canonical fields already (and keeps what only the fleet knows, such as coupled_with)
    host_props = props.HostProps.from_fact(fact if validate.is_baseline(fact) else vocabulary.canonical_fact(fact))
    features = []
    for name, prop in sorted(host_props.properties.items()):
        if rules.is_vm_switch(name) or name in rules.ALGORITHM_SELECTORS or name in SWITCHES:
            continue   # a switch is said by its fields (ID_AA64PFR0_EL1.SVE for sve)
        if is_identity(prop):
            continue   # the host's identity: the class guarantees it, a guest policy does not rewrite it
        value = richest_value(prop)
        if value is not None:
            features.append({"name": name, "policy": RECOMMENDED_POLICY, "value": value})
    # half of a coupled value without the other (the pool shares no value of it) cannot be asked of a host that
    # names the two as one property
    pinned = set(feature["name"] for feature in features)
    features = _unpin_hidden([feature for feature in features
                              if host_props.properties[feature["name"]].extra.get(COUPLED, feature["name"]) in pinned])
    mode = MODE_FOR_ACCEL.get(fact.get("accel"), RECOMMENDED_MODE)
    return {"mode": mode, "features": _settle(features, host_props, kinds, label)}


def _unpin_hidden(features):
    """``features`` without what a vCPU switch hides where the switch's own fields are pinned to 0 (SVE absent):
    the fields its gate rules name and, for SVE, the vector lengths. The guest sees them as 0 or off anyway, and
    dialects spell "hidden" differently (``hw_prop_SVEver=0`` is SVE version 1 on the seed's QEMU)."""
    values = dict((feature["name"], feature["value"]) for feature in features)
    hidden = set()
    for switch in SWITCHES:
        own = [name for name in vocabulary.canonical_name(switch) if name in values]
        if not own or any(_as_int(values[name]) != 0 for name in own):
            continue
        hidden.update(_family(switch))
        if switch == "sve":
            hidden.update(rules.sve_lengths(values).values())
        hidden.difference_update(own)
    return [feature for feature in features if feature["name"] not in hidden]


def _family(switch):
    """The canonical fields of a vCPU switch's family: its own (``sve`` is ID_AA64PFR0_EL1.SVE) and those its gate
    rules name (rules.py names them in every dialect)."""
    family = set(vocabulary.canonical_name(switch))
    for rule in rules.RULES:
        if rule.kind == "gate" and rule.params["switch"] == switch:
            family.update(name for field in rule.params["fields"] for name in vocabulary.canonical_name(field))
    return family


def _as_int(value):
    try:
        return props.parse_int(value)
    except ValueError:
        return None


def _member_errors(features, kind, host_props):
    """``[(canonical names, rule id or None, message)]``: what keeps ``features`` (canonical names) from the
    kind's first host, translated into its names (``vocabulary.to_host``) and validated on its own fact. A feature
    the host cannot be asked in its names is found by translating it alone (with the other half of a coupled
    value)."""
    host = kind.hosts[0]
    own, problems = vocabulary.to_host(features, kind.fact, host)
    if problems:
        found = []
        for group in _coupled_groups(features, host_props):
            problems = vocabulary.to_host(group, kind.fact, host)[1]
            if problems:
                found.append((tuple(feature["name"] for feature in group), None, problems[0]))
        return found or [((), None, problems[0])]
    return [(tuple(kind.names.get(error.feature) or (error.feature,)), error.rule, error.message)
            for error in validate.check_features(own, kind.fact, host)[1]]


def _coupled_groups(features, host_props):
    """The features, each with the other half of its coupled value (``coupled_with``) where the request has it."""
    by_name = {feature["name"]: feature for feature in features}
    groups, seen = [], set()
    for feature in features:
        if feature["name"] in seen:
            continue
        prop = host_props.properties.get(feature["name"])
        partner = prop.extra.get(COUPLED) if prop is not None else None
        group = [feature] + ([by_name[partner]] if partner in by_name and partner not in seen else [])
        seen.update(item["name"] for item in group)
        groups.append(group)
    return groups


def _settle(features, host_props, kinds, label):
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


def _family_switch(rule):
    """The vCPU switch whose family a gate or algorithm-pairs rule belongs to."""
    if "switch" in rule.params:
        return rule.params["switch"]
    fields = {name for pair in rule.params["pairs"] for name in pair}
    return next(other.params["switch"] for other in rules.RULES
                if other.kind == "gate" and fields <= set(other.params["fields"]))


def _family_off(by_name, host_props, switch, names):
    """Pin every canonical field of ``switch``'s family (the switch's own fields and those its gate rules name) to
    0 where the pool offers 0, else unpin it. When the switch's own fields cannot be 0, or the family is off
    already and a member still refuses (a field whose 0 does not hide the feature in that host's names, such as
    hw_prop_SVEver), unpin ``names`` only."""
    own = [field for field in vocabulary.canonical_name(switch) if field in host_props.properties]
    off = {}
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
