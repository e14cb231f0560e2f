# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which QMP dialect a host's QEMU speaks for Arm CPU properties, and its replies turned into ``props.HostProps``.

Dialects, tried in this order among those ``query-commands`` lists:

1. ``query-arm-cpu-props-info`` (libvirt's RFC): a list of ``{"name", "type", "supported-values": [str]}``.
2. ``query-cpu-props-info`` (its successor under review, not merged: a guess). Same elements; numeric bounds may come
   as integer members ``min``/``max`` (normalised to ``"lo-hi"``, or ``"n"`` when equal). If QEMU says the
   ``model`` argument is missing, it is asked again with ``{"model": {"name": MODEL}}``; a reply may also be an
   object ``{"model": ..., "props": [...]}``.
3. ``query-cpu-model-expansion`` (released QEMU), type ``full`` of ``host`` (kvm) or ``max`` (tcg). It gives each
   property's value in that model, not what the host allows, so each boolean is expanded once more with its value
   flipped: QEMU refusing (an error reply), or not taking the value, means only the model's value is allowed.
   That is N+1 round trips for N booleans. Non-boolean values are only known as they are: integers (the
   ``SYSREG_*`` u64 series) become type ``number``, strings type ``string``, one supported value each.

A listed dialect that answers with an error or with no properties gives way to the next one; when none is left the
result is ``HostProps.unsupported`` with QEMU's words as the reason. Faults (``QMPError`` other than a command error)
propagate, and a reply of the wrong shape raises ``DialectError`` naming the command and the problem.

Measured with Debian's QEMU 7.2.22, ``-machine none,accel=tcg``, model ``max`` (21 booleans, all true except
``pauth-impdef``); each flip is one expansion from the defaults, so dependencies show up as refusals:

- ``aarch64`` is on only: "'aarch64' feature cannot be disabled unless KVM is enabled and 32-bit EL1 is supported".
- ``pmu``, ``pauth``, ``sve`` take both. ``pauth-impdef`` reads false but can be set (not together with
  ``pauth=off``: "cannot enable pauth-impdef without pauth").
- ``sve=off`` clears every ``sveN``; enabling any ``sveN`` with ``sve=off`` is refused ("cannot enable sve256").
- ``sve128`` is on only: "cannot disable sve128" while SVE is on; it is off only together with ``sve=off``. A value
  refused alone is tried once more together with the setting the rule model (``rules.companions``) names, and when
  QEMU accepts that it is listed as supported and recorded in ``conditional_values`` (``{"off": {"with": {"sve":
  "off"}, "rule": "sve-no-length"}}``); validation then holds the request to the rule.
  Every other ``sveN`` takes both. Clearing a power of two (256, 512, 1024) clears all longer lengths; clearing one
  below an explicitly enabled longer length is refused; enabling one length alone turns off all but the powers of
  two below it. Such combinations are beyond what single flips record.
- ``host`` is refused without KVM: "The CPU type 'host' requires KVM" (so ``accel=tcg`` must expand ``max``).
- One expansion takes about 0.2-1 ms.
"""

import re

from ansible_collections.armvirt.cpu.plugins.module_utils import props, qmp, rules

DIALECTS = ("query-arm-cpu-props-info", "query-cpu-props-info", "query-cpu-model-expansion")
EXPANSION = DIALECTS[2]
MODEL_FOR_ACCEL = {"kvm": "host", "tcg": "max"}
# The member of a property that names values QEMU accepts only together with another setting (see _conditional).
CONDITIONAL = "conditional_values"

# The fact schema's property-name pattern; it also keeps commas (QEMU's -cpu separator) out.
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
# Members Property.to_fact writes itself: an element may not bring them in as extras.
_FACT_KEYS = frozenset(("type", "supported_values", "default"))
# How deeply an element's extra member may nest. Extras go into the fact as they are, and Ansible's controller walks
# results recursively: a monitor's 400-deep list made the controller fail with RecursionError. QEMU's are flat.
MAX_EXTRA_DEPTH = 32


class DialectError(qmp.QMPError):
    """A reply of the wrong shape: a dialect's contract broken, not a wire fault. Names the command and problem."""

    def __init__(self, command, problem):
        super(DialectError, self).__init__("%s gave a malformed reply: %s" % (command, problem))
        self.command = command
        self.problem = problem


def read_host_props(client, accel):
    """What the QEMU behind ``client`` (anything with ``execute(command, arguments=None)``) offers under ``accel``."""
    model = MODEL_FOR_ACCEL.get(accel)
    if model is None:
        raise ValueError("accel must be one of %s, not %r" % (", ".join(sorted(MODEL_FOR_ACCEL)), accel))
    version, package = _read_version(client)
    available = _read_commands(client)
    reasons = []
    for dialect in DIALECTS:
        if dialect not in available:
            continue
        try:
            properties, cpu_model = _READERS[dialect](client, model)
        except qmp.QMPCommandError as err:
            reasons.append("%s refused (%s): %s" % (err.command, err.error_class, err.desc))
            continue
        if properties:
            return props.HostProps(True, dialect, properties, version, package, cpu_model)
        reasons.append("%s reported no properties" % dialect)
    if not reasons:
        reasons.append("QEMU %s has none of the commands %s" % (version, ", ".join(DIALECTS)))
    return props.HostProps.unsupported("; ".join(reasons), version, package)


def _read_version(client):
    """("major.minor.micro", package or None) from query-version."""
    command = "query-version"
    reply = _expect(command, client.execute(command), dict, "the reply")
    numbers = _expect(command, reply.get("qemu"), dict, "member 'qemu'")
    parts = [_expect(command, numbers.get(key), int, "qemu." + key) for key in ("major", "minor", "micro")]
    if min(parts) < 0:
        raise DialectError(command, "negative version number in %r" % (numbers,))
    package = reply.get("package")
    if package is not None:
        _expect(command, package, str, "member 'package'")
    return "%d.%d.%d" % tuple(parts), package


def _read_commands(client):
    command = "query-commands"
    reply = _expect(command, client.execute(command), list, "the reply")
    names = set()
    for index, element in enumerate(reply):
        element = _expect(command, element, dict, "element %d" % index)
        names.add(_expect(command, element.get("name"), str, "name of element %d" % index))
    return names


def _read_arm_props_info(client, model):
    command = DIALECTS[0]
    return _parse_props_info(command, client.execute(command), bounds=False), None


def _read_cpu_props_info(client, model):
    """Dialect 2, liberal about its unsettled shape: optional model argument, list or {"model", "props"} reply."""
    command = DIALECTS[1]
    cpu_model = None
    try:
        reply = client.execute(command)
    except qmp.QMPCommandError as err:
        if "'model'" not in str(err.desc):
            raise
        reply = client.execute(command, {"model": {"name": model}})
        cpu_model = model
    if isinstance(reply, dict):
        said = reply.get("model")
        if isinstance(said, dict):
            said = said.get("name")
        if said is not None:
            cpu_model = _expect(command, said, str, "member 'model'")
        reply = _expect(command, reply.get("props"), list, "member 'props'")
    return _parse_props_info(command, reply, bounds=True), cpu_model


def _parse_props_info(command, reply, bounds):
    """Elements of dialects 1 and 2 as Properties; unknown types and members are kept, bad shapes raise."""
    _expect(command, reply, list, "the reply")
    properties = {}
    for index, element in enumerate(reply):
        element = dict(_expect(command, element, dict, "element %d" % index))
        name = _check_name(command, element.pop("name", None), "element %d" % index)
        if name in properties:
            raise DialectError(command, "property %r is listed twice" % name)
        where = "property %r" % name
        type_ = _expect(command, element.pop("type", None), str, "type of " + where)
        values = element.pop("supported-values", None)
        if values is not None:
            values = _expect(command, values, list, "supported-values of " + where)
            for value in values:
                _expect(command, value, str, "a supported value of " + where)
        if bounds and ("min" in element or "max" in element):
            low = _expect(command, element.pop("min", None), int, "min of " + where)
            high = _expect(command, element.pop("max", None), int, "max of " + where)
            if low > high:
                raise DialectError(command, "%s has min %d above max %d" % (where, low, high))
            values = (values or []) + [props.format_range(low, high)]
        if values is None:
            raise DialectError(command, "%s has no supported-values" % where)
        default = element.pop("default", None)
        if default is not None:
            default = _scalar(command, default, "default of " + where)
        clashes = _FACT_KEYS.intersection(element)
        if clashes:
            raise DialectError(command, "%s has member %s, which the fact reserves" % (where, sorted(clashes)[0]))
        for key, value in element.items():
            if _too_deep(value, MAX_EXTRA_DEPTH):
                raise DialectError(command, "member %r of %s nests deeper than %d levels"
                                   % (key, where, MAX_EXTRA_DEPTH))
        properties[name] = props.Property(name, type_, values, default, element)
    return properties


def _read_expansion(client, model):
    """Dialect 3: the model's values, and for each boolean whether QEMU accepts the other value too."""
    current = _expand(client, model)
    properties = {}
    for name in sorted(current):
        value = current[name]
        _check_name(EXPANSION, name, "model %r" % model)
        if isinstance(value, bool):
            allowed = {value}
            if _accepts(client, model, name, {name: not value}):
                allowed.add(not value)
            conditional = {} if (not value) in allowed else _conditional(client, model, name, not value, current)
            if conditional:
                allowed.add(not value)
            values = [word for flag, word in ((True, props.ON), (False, props.OFF)) if flag in allowed]
            extra = {CONDITIONAL: conditional} if conditional else None
            properties[name] = props.Property(name, props.BOOL_TYPE, values, _scalar(EXPANSION, value, name), extra)
        else:
            text = _scalar(EXPANSION, value, "property %r" % name)
            type_ = props.STRING_TYPE if isinstance(value, str) else props.NUMBER_TYPE
            properties[name] = props.Property(name, type_, [text], text)
    return properties, model


def _accepts(client, model, name, settings):
    """Whether QEMU expands ``model`` with ``settings`` and gives ``name`` the value asked for."""
    try:
        expanded = _expand(client, model, settings)
    except qmp.QMPCommandError:
        return False
    return expanded.get(name) is settings[name]


def _conditional(client, model, name, value, current):
    """``{word: {"with": {other: word}, "rule": id}}`` when QEMU refuses ``name=value`` alone but accepts it together
    with a setting the rule model names (``sveN=off`` with ``sve=off``); empty otherwise."""
    word = props.ON if value else props.OFF
    for (other, other_word), rule_id in sorted(rules.companions(name, word, current).items()):
        if other in current and _accepts(client, model, name, {name: value, other: other_word == props.ON}):
            return {word: {"with": {other: other_word}, "rule": rule_id}}
    return {}


def _expand(client, model, flip=None):
    """One full expansion of ``model`` (with ``flip`` set); its props as a dict."""
    info = {"name": model}
    if flip:
        info["props"] = flip
    reply = _expect(EXPANSION, client.execute(EXPANSION, {"type": "full", "model": info}), dict, "the reply")
    expanded = _expect(EXPANSION, reply.get("model"), dict, "member 'model'")
    return _expect(EXPANSION, expanded.get("props", {}), dict, "member 'model.props'")


_READERS = {DIALECTS[0]: _read_arm_props_info, DIALECTS[1]: _read_cpu_props_info, DIALECTS[2]: _read_expansion}


def _kind(value):
    return "missing or null" if value is None else type(value).__name__


def _expect(command, value, kind, what):
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DialectError(command, "%s should be %s, not %s" % (what, _KIND_WORDS[kind], _kind(value)))
    return value


_KIND_WORDS = {dict: "an object", list: "a list", str: "a string", int: "an integer"}


def _check_name(command, name, where):
    _expect(command, name, str, "the name of " + where)
    if not _NAME_RE.fullmatch(name):  # not match(): "$" also matches before a final newline
        raise DialectError(command, "%s: name %r is not made of letters, digits, '.', '_' and '-'" % (where, name))
    return name


def _too_deep(value, limit):
    """Whether lists/objects in ``value`` nest more than ``limit`` levels (iterative: no recursion to exhaust)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth >= limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def _scalar(command, value, what):
    """A JSON scalar as the fact's string: booleans "on"/"off", integers in decimal, strings as given."""
    if isinstance(value, bool):
        return props.ON if value else props.OFF
    if isinstance(value, (int, str)):
        return str(value)
    raise DialectError(command, "%s should be a boolean, integer or string, not %s" % (what, _kind(value)))
