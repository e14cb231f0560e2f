# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

Which QMP dialect a host's QEMU speaks for Arm CPU properties, and its replies turned into ``props.HostProps``.

Dialects, tried in this order among those ``query-commands`` lists (the richest first):

1. ``query-arm-cpu-props-info`` (libvirt's RFC): a list of ``{"name", "type", "supported-values": [str]}``.
2. ``query-cpu-props-info`` (Nutanix's RFC v3, 2026-07-16, under review, not merged). Same elements; the values
   list gives numbers as inclusive ``{"min", "max"}`` ranges and booleans as JSON true/false (read as ``"lo-hi"``,
   hex for a ``SYSREG_`` name, and on/off). Integer members ``min``/``max`` on the element (the shape review asked
   for) are read too. If QEMU says the ``model`` argument is missing, it is asked again with ``{"model": {"name":
   MODEL}}``; a reply may also be an object ``{"model": ..., "props": [...]}``. A ``SYSREG_`` name gets its field
   and rule (``sysreg.rule_of``); an identification field or one KVM sets itself keeps only the host's value.
3. ``query-cpu-model-expansion`` (released QEMU), type ``full`` of ``host`` (kvm) or ``max`` (tcg). It gives each
   property's value in that model, not what the host allows, so each boolean is expanded once more with its value
   flipped: QEMU refusing (an error reply), or not taking the value, means only the model's value is allowed.
   That is N+1 round trips for N booleans. Strings become type ``string`` with their one value.
4. ``sysreg``: the same expansion when it carries ``SYSREG_<REG>_<FIELD>`` u64 properties (Red Hat's configurable
   host model, openEuler): each becomes a ``number`` whose values are what the host kernel's rule for that field
   allows around the host's value (``sysreg.py``), in hex, with the field and its rule kind kept in the fact. The
   dialect is named ``sysreg`` when the expansion had any; booleans are read as in 3.

A listed dialect that answers with an error or with no properties gives way to the next one; when none is left the
result is ``HostProps.unsupported`` with QEMU's words as the reason. Faults (``QMPError`` other than a command error)
propagate. A reply of an unexpected shape never aborts: what can be read is read, each liberty taken is a warning
(``HostProps.warnings``, naming the command and the element), and a reply that cannot be read at all (``DialectError``
inside) makes the reader warn and fall back to the next dialect. Liberties: JSON booleans and integers among
``supported-values`` (read as on/off and decimal), a single string instead of the list, ``min``/``max`` (or
``values``) instead of ``supported-values`` in either props-info dialect, a missing ``type`` inferred from the values,
a member that clashes with the fact's own or nests too deeply dropped, an expansion property of no readable value
left out, a malformed flip reply taken as a refusal, an unreadable ``query-version`` as an unknown version and an
unreadable ``query-commands`` as "try every dialect".

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

from __future__ import annotations

import hashlib
import re
from typing import Any

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._host import props, qmp, rules, sysreg, vocabulary

# the QMP command each dialect asks (sysreg is an expansion that carries SYSREG_ properties)
COMMANDS = {name: names.EXPANSION if name == names.SYSREG else name for name in names.DIALECTS}
# What this reader's own tables make of a reply (the SYSREG_ field rules, the rule model the probe asks about
# values possible only together): part of the cache fingerprint, so a collection that reads replies differently
# re-probes instead of trusting a cache written by the old tables.
TABLES_DIGEST = hashlib.sha256(repr((sorted(sysreg.FIELDS.items()), sorted(sysreg.NOT_WRITABLE),
                                     rules.RULES, sorted(vocabulary.TABLE.items()))).encode("utf-8")).hexdigest()[:16]

# The fact schema's property-name pattern; it also keeps commas (QEMU's -cpu separator) out.
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
# Members Property.to_fact writes itself: an element may not bring them in as extras.
_FACT_KEYS = frozenset(("type", "supported_values", "default"))
# Extra members the fact schema gives a shape (docs/schemas/arm_cpu_props.schema.json): an element's own is kept only
# in that shape.
_FIELD_RE = re.compile(r"^[A-Z][A-Z0-9_]*_EL[0-3]\.[A-Za-z0-9_]+$")
_SHAPED = {
    "field": lambda value: isinstance(value, str) and bool(_FIELD_RE.fullmatch(value)),
    "coupled_field": lambda value: isinstance(value, str) and bool(_FIELD_RE.fullmatch(value)),
    props.CONDITIONAL: lambda value: isinstance(value, dict) and all(
        isinstance(word, str) and isinstance(condition, dict) and set(condition) == {"with", "rule"}
        and isinstance(condition["rule"], str) and isinstance(condition["with"], dict) and condition["with"]
        and all(isinstance(name, str) and _NAME_RE.fullmatch(name) and isinstance(other, str)
                for name, other in condition["with"].items())
        for word, condition in value.items()),
}
# How deeply an element's extra member may nest. Extras go into the fact as they are, and Ansible's controller walks
# results recursively: a monitor's 400-deep list made the controller fail with RecursionError. QEMU's are flat.
MAX_EXTRA_DEPTH = 32


class DialectError(qmp.QMPError):
    """A reply that cannot be read at all: a dialect's contract broken, not a wire fault. Names the command and
    the problem. ``read_host_props`` turns it into a warning and the next dialect."""

    def __init__(self, command: str, problem: str) -> None:
        super(DialectError, self).__init__("%s gave a malformed reply: %s" % (command, problem))
        self.command = command
        self.problem = problem


class _Reading(object):
    """One read of a host: the client, the model and the warnings collected on the way."""

    def __init__(self, client: qmp.QMPClient, model: str) -> None:
        self.client = client
        self.model = model
        self.warnings: list[str] = []
        self.sysreg = False

    def warn(self, command: str, text: str) -> None:
        self.warnings.append("%s: %s" % (command, text))


def read_host_props(client: qmp.QMPClient, accel: str) -> props.HostProps:
    """What the QEMU behind ``client`` (anything with ``execute(command, arguments=None)``) offers under ``accel``."""
    model = names.MODEL_FOR_ACCEL.get(accel)
    if model is None:
        raise ValueError("accel must be one of %s, not %r" % (", ".join(sorted(names.MODEL_FOR_ACCEL)), accel))
    reading = _Reading(client, model)
    version, package = _read_version(reading)
    available = _read_commands(reading)
    reasons = []
    for dialect in names.DIALECTS:
        command = COMMANDS[dialect]
        if dialect == names.SYSREG or (available is not None and command not in available):
            continue   # the expansion reader names the sysreg dialect itself
        try:
            properties, cpu_model = _READERS[dialect](reading)
        except qmp.QMPCommandError as err:
            reasons.append("%s refused (%s): %s" % (err.command, err.error_class, err.desc))
            continue
        except DialectError as err:
            reading.warn(err.command, "%s; falling back to the next dialect" % err.problem)
            reasons.append(str(err))
            continue
        if properties:
            name = names.SYSREG if dialect == names.EXPANSION and reading.sysreg else dialect
            return props.HostProps(True, name, properties, version, package, cpu_model, warnings=reading.warnings)
        reasons.append("%s reported no properties" % command)
    if not reasons:
        reasons.append("QEMU %s has none of the commands %s" % (version, ", ".join(sorted(set(COMMANDS.values())))))
    return props.HostProps.unsupported("; ".join(reasons), version, package, reading.warnings)


def _read_version(reading: _Reading) -> tuple[str | None, str | None]:
    """("major.minor.micro", package or None) from query-version; (None, None) with a warning when unreadable."""
    command = "query-version"
    reply = reading.client.execute(command)
    try:
        reply = _expect(command, reply, dict, "the reply")
        numbers = _expect(command, reply.get("qemu"), dict, "member 'qemu'")
        parts = [_expect(command, numbers.get(key), int, "qemu." + key) for key in ("major", "minor", "micro")]
        if min(parts) < 0:
            raise DialectError(command, "negative version number in %r" % (numbers,))
    except DialectError as err:
        reading.warn(command, "%s; the QEMU version is unknown" % err.problem)
        return None, None
    package = reply.get("package")
    if package is not None and not isinstance(package, str):
        reading.warn(command, "member 'package' should be a string, not %s; left out" % _kind(package))
        package = None
    return "%d.%d.%d" % tuple(parts), package


def _read_commands(reading: _Reading) -> set[str] | None:
    """The command names, or None (try every dialect) with a warning when the reply cannot be read."""
    command = "query-commands"
    reply = reading.client.execute(command)
    try:
        _expect(command, reply, list, "the reply")
        names = set()
        for index, element in enumerate(reply):
            element = _expect(command, element, dict, "element %d" % index)
            names.add(_expect(command, element.get("name"), str, "name of element %d" % index))
    except DialectError as err:
        reading.warn(command, "%s; trying every dialect" % err.problem)
        return None
    return names


def _read_arm_props_info(reading: _Reading) -> tuple[dict[str, props.Property], str | None]:
    command = names.ARM_PROPS_INFO
    return _parse_props_info(reading, command, reading.client.execute(command)), None


def _read_cpu_props_info(reading: _Reading) -> tuple[dict[str, props.Property], str | None]:
    """Dialect 2, liberal about its unsettled shape: optional model argument, list or {"model", "props"} reply."""
    command = names.CPU_PROPS_INFO
    cpu_model = None
    try:
        reply = reading.client.execute(command)
    except qmp.QMPCommandError as err:
        if "'model'" not in str(err.desc):
            raise
        reply = reading.client.execute(command, {"model": {"name": reading.model}})
        cpu_model = reading.model
    if isinstance(reply, dict):
        said = reply.get("model")
        if isinstance(said, dict):
            said = said.get("name")
        if said is not None:
            cpu_model = _expect(command, said, str, "member 'model'")
        reply = _expect(command, reply.get("props"), list, "member 'props'")
    return _parse_props_info(reading, command, reply), cpu_model


def _parse_props_info(reading: _Reading, command: str, reply: Any) -> dict[str, props.Property]:
    """Elements of dialects 1 and 2 as Properties, read as liberally as they can be (see the module docstring)."""
    _expect(command, reply, list, "the reply")
    properties = {}
    for index, element in enumerate(reply):
        element = dict(_expect(command, element, dict, "element %d" % index))
        name = _check_name(command, element.pop("name", None), "element %d" % index)
        if name in properties:
            raise DialectError(command, "property %r is listed twice" % name)
        properties[name] = _read_element(reading, command, "element %d (%s)" % (index, name), name, element)
        _name_field(reading, command, properties[name])
    return properties


def _name_field(reading: _Reading, command: str, prop: props.Property) -> None:
    """The ID-register field a props-info name stands for (vocabulary.py), kept in the fact as ``field`` (and
    ``coupled_field``, the minor half of a ``major.frac`` property) as the sysreg dialect keeps its own."""
    entry = vocabulary.TABLE.get(prop.name)
    if entry is None or entry.kind == vocabulary.BOOLEAN:
        return
    said = prop.extra.get("field")
    if said is not None and said != entry.fields[0]:
        reading.warn(command, "%s says it is field %r, but the name stands for %s; the name's field is kept"
                     % (prop.name, said, entry.fields[0]))
    prop.extra["field"] = entry.fields[0]
    if len(entry.fields) > 1:
        prop.extra["coupled_field"] = entry.fields[1]


def _read_element(reading: _Reading, command: str, where: str, name: str,
                  element: dict[str, Any]) -> props.Property:
    type_ = element.pop("type", None)
    raw_values = element.pop("supported-values", None)
    values = None if raw_values is None else _values(reading, command, where, raw_values, name)
    low, high = element.pop("min", None), element.pop("max", None)
    if low is not None or high is not None:
        low = _expect(command, low, int, "min of " + where)
        high = _expect(command, high, int, "max of " + where)
        if low > high:
            raise DialectError(command, "%s has min %d above max %d" % (where, low, high))
        if command == names.ARM_PROPS_INFO:
            reading.warn(command, "%s gives min/max instead of supported-values; read as %d-%d" % (where, low, high))
        values = (values or []) + [props.format_range(low, high)]
    if values is None and "values" in element:
        values = _values(reading, command, where, element.pop("values"), name)
        reading.warn(command, "%s gives 'values' instead of 'supported-values'; read them" % where)
    default = element.pop("default", None)
    if default is not None and not isinstance(default, (bool, int, str)):
        reading.warn(command, "%s has a default of %s; left out" % (where, _kind(default)))
        default = None
    if values is None:
        if isinstance(default, int) and not isinstance(default, bool) and sysreg.parse_name(name):
            reading.warn(command, "%s has no supported-values; read by its field's kernel rule" % where)
            return sysreg.read_property(name, default)
        raise DialectError(command, "%s has no supported-values" % where)
    if type_ is None:
        type_ = _infer_type(raw_values, values)
        reading.warn(command, "%s has no type; read as %s" % (where, type_))
    type_ = _expect(command, type_, str, "type of " + where)
    if default is not None:
        default = _scalar(command, default, "default of " + where)
    for key in sorted(_FACT_KEYS.intersection(element)):
        reading.warn(command, "%s has member %s, which the fact reserves; left out" % (where, key))
        del element[key]
    for key in sorted(set(_SHAPED).intersection(element)):
        if not _SHAPED[key](element[key]):
            reading.warn(command, "%s has member %s of a shape the fact does not give it; left out" % (where, key))
            del element[key]
    for key in sorted(element):
        if _too_deep(element[key], MAX_EXTRA_DEPTH):
            reading.warn(command, "%s: member %r nests deeper than %d levels; left out" % (where, key, MAX_EXTRA_DEPTH))
            del element[key]
    return _sysreg_field(reading, command, where, props.Property(name, type_, values, default, element))


def _sysreg_field(reading: _Reading, command: str, where: str, prop: props.Property) -> props.Property:
    """A props-info property named ``SYSREG_<REG>_<FIELD>`` (Nutanix's v3): its field and the rule the fact gives
    it (``sysreg.rule_of``). QEMU lists every value KVM would take; an identification field (the host's identity)
    or one KVM sets itself is narrowed to the host's value (the element's ``default``), QEMU's list kept as
    ``offered``."""
    parsed = sysreg.parse_name(prop.name)
    if not parsed or prop.type != props.NUMBER_TYPE:
        return prop
    label = "%s.%s" % parsed
    rule = sysreg.rule_of(label)
    prop.extra.setdefault("field", label)
    if rule is None or "rule" in prop.extra:
        return prop
    prop.extra["rule"] = rule
    if rule not in (sysreg.IDENTITY, sysreg.KVM_SET):
        return prop
    try:
        host = props.parse_int(prop.default) if prop.default is not None else None
    except ValueError:
        host = None
    if host is None:
        reading.warn(command, "%s is the host's %s but has no integer default; QEMU's values are kept" % (
            where, "identity" if rule == sysreg.IDENTITY else "value KVM sets"))
        return prop
    prop.extra["offered"] = list(prop.supported_values)
    prop.extra["host_value"] = "0x%x" % host
    return props.Property(prop.name, prop.type, ["0x%x" % host], prop.default, prop.extra)


def _values(reading: _Reading, command: str, where: str, raw: Any, name: str | None = None) -> list[str]:
    """supported-values as strings. Nutanix's v3 (``query-cpu-props-info``) gives numbers as inclusive ``{"min",
    "max"}`` ranges (read as ``"lo-hi"``, in hex for a ``SYSREG_`` name) and booleans as JSON true/false (on/off);
    elsewhere each of those, and integers (decimal), is a liberty taken with a warning. A single string is read as
    a one-element list; anything else is unreadable."""
    if isinstance(raw, str):
        reading.warn(command, "%s gives supported-values as one string; read as a list of it" % where)
        return [raw]
    _expect(command, raw, list, "supported-values of " + where)
    hexadecimal = bool(name and sysreg.parse_name(name))
    values, liberties = [], set()
    for value in raw:
        if isinstance(value, str):
            values.append(value)
        elif isinstance(value, dict):
            values.append(_range(reading, command, where, value, hexadecimal))
            liberties.add("{min, max} ranges")
        elif isinstance(value, (bool, int)):
            values.append(_scalar(command, value, where))
            liberties.add("JSON booleans" if isinstance(value, bool) else "integers")
        else:
            raise DialectError(command, "a supported value of %s should be a string, a {min, max} range or a "
                                        "boolean, not %s" % (where, _kind(value)))
    if command == names.CPU_PROPS_INFO:
        liberties -= V3_FORMS
    if liberties:
        reading.warn(command, "%s lists %s among supported-values; read as strings" % (
            where, " and ".join(sorted(liberties))))
    return values


# What Nutanix's v3 of query-cpu-props-info lists as supported values besides strings (RFC v3 16/19, qemu-devel,
# 2026-07-16): not liberties there.
V3_FORMS = frozenset(("{min, max} ranges", "JSON booleans"))


def _range(reading: _Reading, command: str, where: str, value: dict[str, Any], hexadecimal: bool) -> str:
    """One ``{"min": lo, "max": hi}`` element (inclusive) as ``"lo-hi"`` (``"lo"`` when equal); other members are
    left out with a warning."""
    low = _expect(command, value.get("min"), int, "min of a range of " + where)
    high = _expect(command, value.get("max"), int, "max of a range of " + where)
    if low < 0 or low > high:
        raise DialectError(command, "%s has a range from %d to %d" % (where, low, high))
    others = sorted(str(key) for key in value if key not in ("min", "max"))
    if others:
        reading.warn(command, "%s has a range with member(s) %s; left out" % (where, ", ".join(others)))
    return props.format_range(low, high, hexadecimal)


def _infer_type(raw: Any, values: list[str]) -> str:
    if isinstance(raw, list) and raw and all(isinstance(value, bool) for value in raw):
        return props.BOOL_TYPE
    if values and all(props.bool_word(value) for value in values):
        return props.BOOL_TYPE
    ranges, names = props.split_number_values(values)
    return props.NUMBER_TYPE if ranges and not names else props.STRING_TYPE


def _read_expansion(reading: _Reading) -> tuple[dict[str, props.Property], str | None]:
    """Dialects 3 and 4: the model's values, for each boolean whether QEMU accepts the other value too, SYSREG_
    fields by their kernel rule."""
    current = expand(reading.client, reading.model)
    properties = {}
    for name in sorted(current):
        value = current[name]
        if not (isinstance(name, str) and _NAME_RE.fullmatch(name)):
            reading.warn(names.EXPANSION, "model %r: property name %r is not made of letters, digits, '.', '_' and "
                                          "'-'; left out" % (reading.model, name))
            continue
        if isinstance(value, bool):
            properties[name] = _read_boolean(reading, name, value, current)
        elif isinstance(value, int) and sysreg.parse_name(name) and value >= 0:
            reading.sysreg = True
            properties[name] = sysreg.read_property(name, value)
        elif isinstance(value, (int, str)):
            text = str(value)
            type_ = props.STRING_TYPE if isinstance(value, str) else props.NUMBER_TYPE
            properties[name] = props.Property(name, type_, [text], text)
        else:
            reading.warn(names.EXPANSION, "model %r: property %r has a value of %s; left out" % (
                reading.model, name, _kind(value)))
    return properties, reading.model


def _read_boolean(reading: _Reading, name: str, value: bool, current: dict[str, Any]) -> props.Property:
    allowed = {value}
    if _accepts(reading, name, {name: not value}):
        allowed.add(not value)
    conditional = {} if (not value) in allowed else _conditional(reading, name, not value, current)
    if conditional:
        allowed.add(not value)
    values = [word for flag, word in ((True, props.ON), (False, props.OFF)) if flag in allowed]
    extra = {props.CONDITIONAL: conditional} if conditional else None
    return props.Property(name, props.BOOL_TYPE, values, _scalar(names.EXPANSION, value, name), extra)


def _accepts(reading: _Reading, name: str, settings: dict[str, bool]) -> bool:
    """Whether QEMU expands the model with ``settings`` and gives ``name`` the value asked for; a reply that cannot
    be read counts as a refusal, with a warning."""
    try:
        expanded = expand(reading.client, reading.model, settings)
    except qmp.QMPCommandError:
        return False
    except DialectError as err:
        reading.warn(names.EXPANSION, "expanding with %s: %s; taken as a refusal" % (
            ",".join("%s=%s" % (key, "on" if flag else "off") for key, flag in sorted(settings.items())),
            err.problem))
        return False
    return expanded.get(name) is settings[name]


def _conditional(reading: _Reading, name: str, value: bool, current: dict[str, Any]) -> dict[str, Any]:
    """``{word: {"with": {other: word}, "rule": id}}`` when QEMU refuses ``name=value`` alone but accepts it together
    with a setting the rule model names (``sveN=off`` with ``sve=off``); empty otherwise."""
    word = props.ON if value else props.OFF
    for (other, other_word), rule_id in sorted(rules.companions(name, word, current).items()):
        if other in current and _accepts(reading, name, {name: value, other: other_word == props.ON}):
            return {word: {"with": {other: other_word}, "rule": rule_id}}
    return {}


def expand(client: qmp.QMPClient, model: str, settings: qmp.JSONObject | None = None) -> dict[str, Any]:
    """One full expansion of ``model`` with ``settings`` set; its props as a dict. Raises ``DialectError`` for a
    reply of the wrong shape, ``QMPCommandError`` when QEMU refuses."""
    info: dict[str, Any] = {"name": model}
    if settings:
        info["props"] = settings
    reply = _expect(names.EXPANSION, client.execute(names.EXPANSION, {"type": "full", "model": info}), dict,
                    "the reply")
    expanded = _expect(names.EXPANSION, reply.get("model"), dict, "member 'model'")
    return _expect(names.EXPANSION, expanded.get("props", {}), dict, "member 'model.props'")


_READERS = {names.ARM_PROPS_INFO: _read_arm_props_info, names.CPU_PROPS_INFO: _read_cpu_props_info,
            names.EXPANSION: _read_expansion}


def _kind(value: object) -> str:
    return "missing or null" if value is None else type(value).__name__


def _expect(command: str, value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DialectError(command, "%s should be %s, not %s" % (what, _KIND_WORDS[kind], _kind(value)))
    return value


_KIND_WORDS = {dict: "an object", list: "a list", str: "a string", int: "an integer"}


def _check_name(command: str, name: Any, where: str) -> str:
    _expect(command, name, str, "the name of " + where)
    if not _NAME_RE.fullmatch(name):  # not match(): "$" also matches before a final newline
        raise DialectError(command, "%s: name %r is not made of letters, digits, '.', '_' and '-'" % (where, name))
    return name


def _too_deep(value: Any, limit: int) -> bool:
    """Whether lists/objects in ``value`` nest more than ``limit`` levels (iterative: no recursion to exhaust)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth >= limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def _scalar(command: str, value: Any, what: str) -> str:
    """A JSON scalar as the fact's string: booleans "on"/"off", integers in decimal, strings as given."""
    if isinstance(value, bool):
        return props.ON if value else props.OFF
    if isinstance(value, (int, str)):
        return str(value)
    raise DialectError(command, "%s should be a boolean, integer or string, not %s" % (what, _kind(value)))
