# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

Validation of a guest CPU request against what a host (or a fleet baseline) accepts.

One place decides whether ``[{name, policy, value}, ...]`` may go into libvirt XML and onto QEMU's ``-cpu``: the
filters, the role, the fleet placement and the report all call :func:`check_features`, so they can never disagree.
How a value is interpreted (ranges, hex, case, booleans) is the property model's business (``props.py``); this
module adds libvirt's policy rules, the checks that keep XML and the ``-cpu`` comma syntax intact, and error records
that say everything at once instead of failing on the first problem.

Standard library only: it runs on controllers and hypervisors alike.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Iterable, cast

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._host import models, props, rules
from ansible_collections.armvirt.cpu.plugins.module_utils._host import sysreg
from ansible_collections.armvirt.cpu.plugins.module_utils._host import vocabulary

if TYPE_CHECKING:
    from typing import TypeGuard

POLICIES = ("force", "require", "optional", "disable", "forbid")
DEFAULT_POLICY = "require"
VALUE_POLICIES = ("require", "force")   # libvirt's RFC: a valued feature is either provided or the guest fails
ON_POLICIES = ("force", "require")      # without a value these mean name=on
OFF_POLICIES = ("disable", "forbid")    # and these name=off
FEATURE_KEYS = ("name", "policy", "value")
_SVE_LENGTH_RE = re.compile(r"^sve[0-9]+$")

# every rule id a FeatureError carries: validation's own, the translation's and the rule model's
ALL_RULE_IDS = names.VALIDATION_RULE_IDS + vocabulary.RULE_IDS + rules.RULE_IDS


class FeatureError(collections.namedtuple("FeatureError", "host feature value allowed rule message")):
    """One problem with a request: where, which feature and value, what the host allows, a stable rule id and a
    sentence for humans. Callers branch on ``rule`` and show ``message``; ``as_dict`` feeds reports and filters."""

    __slots__ = ()

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "feature": self.feature, "value": self.value, "allowed": list(self.allowed),
                "rule": self.rule, "message": self.message}

    def __str__(self) -> str:
        return self.message


class FeatureRequestError(ValueError):
    """Raised by :func:`qemu_cpu_arg` for an invalid request; carries every record, the message lists them all."""

    def __init__(self, errors: Iterable[FeatureError]) -> None:
        self.errors = list(errors)
        super(FeatureRequestError, self).__init__("\n".join(error.message for error in self.errors))


def is_token(text: object) -> TypeGuard[str]:
    """Whether ``text`` is a string libvirt accepts as a feature name (and we accept as a value): ``props.is_token``."""
    return props.is_token(text)


def check_features(features: Any, props_fact: Any,
                   host: str | None = None) -> tuple[list[dict[str, str]], list[FeatureError]]:
    """Check a request against an ``arm_cpu_props`` fact or a fleet baseline of the same shape.

    Returns ``(normalised, errors)``. ``normalised`` holds the features that passed, with the policy filled in and
    values in the host's spelling (numbers in decimal, or in hex where the host lists them so); apply it only when
    ``errors`` is empty. The rule model (``rules.py``) judges the request once every feature passes on its own. ``errors`` lists
    every :class:`FeatureError` of the request, so one run shows everything to fix.
    """
    host = _label(props_fact, host)
    host_props, errors = read_fact(props_fact, host)
    if host_props is not None and not host_props.supported and _has_items(features):
        reason = host_props.reason or "no reason given"
        errors.append(FeatureError(host, None, None, [], "host-unsupported", "%s: arm_cpu_props reports supported: "
                                   "false (%s), so no CPU property can be requested." % (host, reason)))
        host_props = None
    renamed: dict[str, str] = {}
    if host_props is not None:
        # names of another dialect (or canonical SYSREG_ fields) in this host's own names (vocabulary.py): what is
        # validated, confirmed and rendered from here on; a name the host speaks is itself
        # a property a fleet baseline left out is explained as such (_explain_absent), not sought under other names
        dropped = set(props_fact.get("missing") or ()) | set(props_fact.get("empty") or ())
        features, problems, renamed = vocabulary.translate(features, props_fact, host, keep=dropped)
        errors.extend(_explain_absent(FeatureError(host, problem.feature, problem.value, [], problem.rule,
                                                   problem.message), props_fact) for problem in problems)
    normalised, feature_errors = _check_list(features, host, host_props, check_host=True)
    if host_props is not None and normalised and not feature_errors and not errors:
        # the rules judge the request as a whole, so only once every feature passes on its own: judged without the
        # features that failed, the rest would break rules the request as written does not
        feature_errors.extend(_broken_rules(normalised, host_props, props_fact.get("accel"), host))
    return normalised, errors + [_as_requested(_explain_absent(error, props_fact), renamed)
                                 for error in feature_errors]


def check_model(model: str | None, features: list[dict[str, str]], props_fact: Any,
                host: str | None = None) -> list[FeatureError]:
    """The records of a mode custom request for ``model`` on the host of ``props_fact`` (its ``cpu_models``,
    ``models.py``): the model must be one its QEMU offers under its accelerator; a boolean feature must be a
    property of the model (valued ones are the host's, checked by :func:`check_features`); a model whose expansion
    has SVE on and no vector length (Nutanix's named models) needs the lengths given. ``features`` are the
    normalised features. A fact without ``cpu_models`` (a fleet baseline, an older probe) gives no record: the
    host's QEMU confirms the request (``cpu_check``)."""
    host = _label(props_fact, host)
    cpu_models = props_fact.get("cpu_models") if isinstance(props_fact, dict) else None
    if not isinstance(cpu_models, dict):
        return []
    offered = models.offered(cpu_models)
    entry: Any = cpu_models.get(model) if isinstance(model, str) else None
    if model not in offered:
        why = entry.get("reason") if isinstance(entry, dict) else None
        return [FeatureError(host, None, None, offered, "model-not-offered", "%s: CPU model %s is not offered by "
                             "this host's QEMU under %s%s; it offers %s." % (
                                 host, model, props_fact.get("accel") or "its accelerator",
                                 " (QEMU: %s)" % why if why else " (QEMU does not list it)",
                                 ", ".join(offered) or "no named model"))]
    own = entry.get("props") or {}
    host_props = props_fact.get("properties") or {}
    errors = []
    for feature in features:
        name = feature["name"]
        known = host_props.get(name) if isinstance(host_props, dict) else None
        if name not in own and (not isinstance(known, dict) or known.get("type") == props.BOOL_TYPE):
            errors.append(FeatureError(host, name, feature.get("value"), sorted(own), "model-lacks-property",
                                       "%s: CPU model %s has no property %s (its properties: %s)." % (
                                           host, model, name, ", ".join(sorted(own)) or "none")))
    settings = cpu_settings(features)
    if models.needs_sve_lengths(entry) and not any(
            (_SVE_LENGTH_RE.match(name) and props.bool_word(value) == props.ON)
            or (name == "sve" and props.bool_word(value) == props.OFF) for name, value in settings):
        lengths = sorted((name for name in own if _SVE_LENGTH_RE.match(name)), key=lambda n: int(n[3:]))
        errors.append(FeatureError(host, None, None, lengths, "model-needs-sve-lengths", "%s: CPU model %s starts "
                                   "with SVE on and no vector length, so QEMU needs the lengths given: add the "
                                   "ones the guest uses (sve128=on ...), or sve=off." % (host, model)))
    return errors


def _as_requested(error: FeatureError, renamed: dict[str, str]) -> FeatureError:
    """A record about a property the request named in another dialect says what the request called it."""
    if not isinstance(error.feature, str) or error.feature not in renamed:
        return error
    return error._replace(message="%s (The request asks for it as %s.)" % (error.message, renamed[error.feature]))


def _broken_rules(normalised: list[dict[str, str]], host_props: props.HostProps, accel: str | None,
                  host: str) -> list[FeatureError]:
    """The rule model's verdict on the request as a whole (``rules.py``), as records like the others."""
    given = {feature["name"]: feature.get("value") for feature in normalised}
    records = []
    for broken in rules.check(dict(cpu_settings(normalised)), host_props, accel):
        prop = host_props.properties.get(broken.feature)
        allowed = list(prop.supported_values) if prop is not None else []
        records.append(FeatureError(host, broken.feature, given.get(broken.feature), allowed, broken.rule,
                                    "%s: %s" % (host, broken.message)))
    return records


def _explain_absent(error: FeatureError, props_fact: Any) -> FeatureError:
    """A fleet baseline leaves a property out when some members lack it or share no value: say which."""
    if error.rule != "unknown-property" or not isinstance(props_fact, dict) or not isinstance(error.feature, str):
        return error
    # a baseline names fields canonically: a request in another dialect's names is explained by its fields
    names = (error.feature,) + vocabulary.canonical_name(error.feature)
    missing = props_fact.get("missing") or {}
    lacking: list[str] = []
    for name in names:
        lacking.extend(host for host in (missing.get(name) or ()) if host not in lacking)
    if lacking:
        why = " Members %s do not report it." % ", ".join(lacking)
    elif any(name in (props_fact.get("empty") or ()) for name in names):
        why = " The members report it, but no value is supported by all of them."
    else:
        return error
    return error._replace(message=error.message + why)


def qemu_cpu_arg(features: Any, mode: str = names.DEFAULT_MODE, props_fact: Any = None, host: str | None = None) -> str:
    """The value of QEMU's ``-cpu`` option for a request, the way libvirt would build it.

    ``host-passthrough`` is model ``host``, ``maximum`` is ``max``; then ``name=value`` for a valued feature,
    ``name=on`` for force/require and ``name=off`` for disable/forbid without a value; optional is left out, as
    libvirt does. Order is kept. With ``props_fact`` the request is fully checked and rendered in the host's
    spelling; without it only the shape, policies and tokens are checked. Raises :class:`FeatureRequestError`.
    """
    if props_fact is None:
        host = host or "request"
        features_ok, errors = check_shape(features, host)
    else:
        features_ok, errors = check_features(features, props_fact, host)
        host = _label(props_fact, host)
    model = names.CPU_MODELS.get(mode) if isinstance(mode, str) else None
    if model is None:
        errors.insert(0, unknown_mode(host, mode))
    if errors:
        raise FeatureRequestError(errors)
    return join_cpu_arg(cast(str, model), cpu_settings(features_ok))


def unknown_mode(host: str, mode: object) -> FeatureError:
    """The record for a ``mode`` that has no QEMU model of its own (``names.CPU_MODELS``)."""
    return FeatureError(host, None, None, sorted(names.CPU_MODELS), "unknown-mode", "%s: CPU mode %r has no QEMU model "
                        "here; use host-passthrough (host) or maximum (max)." % (host, mode))


def split_cpu_arg(arg: str | None) -> tuple[str, list[tuple[str, str | None]]]:
    """``(model, [(name, value)])`` of a ``-cpu`` value; a bare property (``pmu``) has value None."""
    parts = (arg or "").split(",")
    settings = []
    for part in parts[1:]:
        if part:
            name, equals, value = part.partition("=")
            settings.append((name, value if equals else None))
    return parts[0], settings


def join_cpu_arg(model: str, settings: Iterable[tuple[str, str | None]]) -> str:
    """The ``-cpu`` value of ``model`` and ``[(name, value)]`` (a bare property where value is None): the one
    writer of ``-cpu`` values, for a request (:func:`cpu_settings` of validated features) and for libvirt's own."""
    return ",".join([model] + [name if value is None else "%s=%s" % (name, value) for name, value in settings])


def check_shape(features: Any, host: str = "request") -> tuple[list[dict[str, str]], list[FeatureError]]:
    """What can be checked without a host: that ``features`` is a list of ``{name, policy, value}`` mappings with
    known policies, plain tokens, string values and no name twice. Returns ``(normalised, errors)`` as
    :func:`check_features` does."""
    return _check_list(features, host, None, check_host=False)


def cpu_settings(features: Iterable[Mapping[str, str]]) -> list[tuple[str, str]]:
    """``[(name, value)]`` a normalised request puts on ``-cpu``, in order: its value, ``on`` for force/require and
    ``off`` for disable/forbid without one; optional sets nothing. What QEMU is given, and what the rule model
    judges."""
    settings = []
    for feature in features:
        if "value" in feature:
            settings.append((feature["name"], feature["value"]))
        elif feature["policy"] in ON_POLICIES:
            settings.append((feature["name"], props.ON))
        elif feature["policy"] in OFF_POLICIES:
            settings.append((feature["name"], props.OFF))
    return settings


def _label(props_fact: object, host: str | None) -> str:
    """Who the messages talk about: the caller's name for it, else a baseline's label, else "fleet"/"host"."""
    if host:
        return str(host)
    if isinstance(props_fact, Mapping):
        if isinstance(props_fact.get("label"), str):
            return props_fact["label"]
        if is_baseline(props_fact):
            return "fleet"
    return "host"


def is_baseline(props_fact: object) -> bool:
    """A fleet or class baseline (``_fleet.baseline``: it names its members), not one host's ``arm_cpu_props``."""
    return isinstance(props_fact, Mapping) and "members" in props_fact


def _has_items(features: object) -> bool:
    return isinstance(features, Sequence) and not isinstance(features, str) and len(features) > 0


def read_fact(fact: Any, host: str) -> tuple[props.HostProps | None, list[FeatureError]]:
    """The fact as a HostProps, or (None, [bad-props]) when it is not a fact at all.

    The shape is checked here, not trusted: a wrong variable (hostvars, the properties sub-dict, a module result)
    would otherwise surface as a KeyError traceback or, worse, as "unknown property" for every feature.
    """
    problem = None
    if not isinstance(fact, Mapping):
        problem = "it is %s, not a mapping" % type(fact).__name__
    elif "supported" not in fact or not isinstance(fact.get("properties"), Mapping):
        problem = "it has no 'supported' and 'properties' members; pass ansible_facts['arm_cpu_props'] or a baseline"
    else:
        for name, prop in fact["properties"].items():
            if not (isinstance(prop, Mapping) and isinstance(prop.get("type"), str)
                    and _is_string_list(prop.get("supported_values"))):
                problem = "property %r needs a type and a list of string supported_values" % (name,)
                break
            if not isinstance(prop.get("default", ""), (str, type(None))):
                problem = "property %r has a default that is not a string" % (name,)
                break
            if not isinstance(prop.get(props.CONDITIONAL, {}), Mapping):
                problem = "property %r has conditional_values that are not a mapping" % (name,)
                break
    if problem:
        return None, [FeatureError(host, None, None, [], "bad-props",
                                   "%s: the props given are not an arm_cpu_props fact: %s." % (host, problem))]
    return props.HostProps.from_fact(fact), []


def _is_string_list(values: object) -> bool:
    """A list (or other sequence, not a string) of strings. Concrete types are tried before the Sequence ABC, whose
    check is slow, since the fleet logic checks every property of every kind of host."""
    if isinstance(values, str) or not isinstance(values, (list, tuple, Sequence)):
        return False
    return all(isinstance(value, str) for value in values)


def _check_list(features: Any, host: str, host_props: props.HostProps | None,
                check_host: bool) -> tuple[list[dict[str, str]], list[FeatureError]]:
    if not isinstance(features, Sequence) or isinstance(features, (str, bytes)):
        return [], [FeatureError(host, None, None, [], "bad-feature", "%s: the features must be a list of "
                                 "{name, policy, value} mappings, not %s." % (host, type(features).__name__))]
    errors: list[FeatureError]
    seen: dict[str, int]
    normalised, errors, seen = [], [], {}
    for index, item in enumerate(features, 1):
        feature = _check_feature(index, item, host, host_props if check_host else None, seen, errors)
        if feature is not None:
            normalised.append(feature)
    return normalised, errors


def _check_feature(index: int, item: object, host: str, host_props: props.HostProps | None, seen: dict[str, int],
                   errors: list[FeatureError]) -> dict[str, str] | None:
    """Check one feature, appending its errors; returns the normalised feature or None."""
    start = len(errors)
    if not isinstance(item, Mapping):
        errors.append(FeatureError(host, None, None, [], "bad-feature", "%s: feature #%d is %r, not a mapping with "
                                   "name, policy and value." % (host, index, item)))
        return None
    name, policy, value = item.get("name"), item.get("policy", DEFAULT_POLICY), item.get("value")
    has_value = "value" in item
    shown = name if isinstance(name, str) else "feature #%d" % index
    prop = host_props.properties.get(name) if host_props is not None and isinstance(name, str) else None
    allowed = list(prop.supported_values) if prop is not None else []

    def fail(rule: str, text: str) -> None:
        errors.append(FeatureError(host, name, value, allowed, rule, "%s: %s" % (host, text)))

    unknown = sorted(str(key) for key in item if key not in FEATURE_KEYS)
    if unknown:
        fail("bad-feature", "%s has unknown key(s) %s; a feature takes only name, policy and value."
             % (shown, ", ".join(unknown)))
    if "name" not in item:
        fail("bad-feature", "feature #%d has no name." % index)
    elif not isinstance(name, str):
        fail("bad-token", "feature #%d has name %r, which is not a string; quote it." % (index, name))
    elif not is_token(name):
        fail("bad-token", "feature name %r is not a plain token (letters, digits, '.', '_', '-' only)." % name)
    if policy not in POLICIES:
        fail("unknown-policy", "%s has policy %r; use one of %s." % (shown, policy, ", ".join(POLICIES)))
    if has_value:
        if not isinstance(value, str):
            fail("value-not-string", _not_string_text(shown, value))
        elif not is_token(value):
            fail("bad-token", "%s has value %r, which is not a plain token (letters, digits, '.', '_', '-' only)."
                 % (shown, value))
        if policy in POLICIES and policy not in VALUE_POLICIES:
            fail("value-with-policy", "%s has value %r with policy %s; a value needs policy require or force."
                 % (shown, value, policy))
    if is_token(name):
        if name in seen:
            fail("duplicate", "%s is requested more than once (features #%d and #%d)." % (name, seen[name], index))
        else:
            seen[name] = index
        if host_props is not None:
            rendered = _check_against_host(name, prop, policy, value if has_value else None, host_props, fail)
            if has_value and rendered is not None:
                value = rendered
    if len(errors) > start:
        return None
    feature = {"name": name, "policy": policy}
    if has_value:
        feature["value"] = value
    return feature


def _check_against_host(name: str, prop: props.Property | None, policy: str, value: str | None,
                        host_props: props.HostProps, fail: Callable[[str, str], None]) -> str | None:
    """Host-side rules; returns the host's spelling of a valid value (None without one or when it fails)."""
    if prop is None:
        near = [known for known in host_props.properties if known.lower() == name.lower()]
        hint = " Did you mean %s? Property names are case-sensitive." % near[0] if near else ""
        fail("unknown-property", "%s is not among the %d properties reported.%s"
             % (name, len(host_props.properties), hint))
        return None
    shown_allowed = ", ".join(prop.supported_values) or "none"
    if value is not None:
        if not is_token(value):
            return None
        try:
            rendered = prop.match(value)
        except ValueError as exc:
            fail("leading-zero", "%s=%s is refused: %s; supported values: %s." % (name, value, exc, shown_allowed))
            return None
        if rendered is None:
            fail("value-not-supported", "%s=%s is not supported; supported values (%s): %s.%s"
                 % (name, value, prop.type, shown_allowed, sysreg.rule_text(prop.extra)))
        elif not is_token(rendered):
            # the host's spelling is what gets rendered, and a case-insensitive match can reach a value that is no
            # token: "k" matches a listed KELVIN SIGN (U+212A), whose lower() is "k"
            fail("bad-token", "%s=%s matches the host's value %r, which is not a plain token (letters, digits, '.', "
                 "'_', '-' only), so it cannot go into the XML or the -cpu option." % (name, value, rendered))
            return None
        return rendered
    if policy in ON_POLICIES and not prop.allows_on():
        fail("on-not-supported", "policy %s without a value asks for %s=on, which is not supported; supported "
             "values: %s (give one as value)." % (policy, name, shown_allowed))
    if policy in OFF_POLICIES and not prop.allows_off():
        fail("off-not-supported", "policy %s asks for %s=off, which is not supported; supported values: %s."
             % (policy, name, shown_allowed))
    if policy == "forbid" and prop.allows_on():
        fail("forbid-offered", "policy forbid for %s means the guest must not run on a host that offers it, and this "
             "host offers it (supported values: %s); libvirt does not check this on aarch64 and would start the guest "
             "with %s=off. Use disable to turn it off." % (name, shown_allowed, name))
    return None


def _not_string_text(shown: str, value: object) -> str:
    """Explain the YAML trap behind a non-string value and show the quoted form to write instead."""
    if isinstance(value, bool):
        quoted, why = ("on" if value else "off"), "YAML reads unquoted on/off/yes/no/true/false as a boolean"
    elif isinstance(value, int):
        quoted, why = str(value), "YAML reads an unquoted number as an integer (and 010 as octal 8)"
    elif isinstance(value, float):
        quoted, why = repr(value), "YAML reads an unquoted 1.10 as the float 1.1"
    elif value is None:
        return ("%s has an empty value; quote the value you mean, or leave value out for an on/off feature."
                % shown)
    else:
        return "%s has value %r, which is not a string; values are strings such as value: \"1.0\"." % (shown, value)
    return ("%s has value %r, which is not a string (%s); quote it as written, e.g. value: \"%s\"."
            % (shown, value, why, quoted))
