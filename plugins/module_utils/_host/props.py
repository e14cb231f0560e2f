# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

The property model: one host's Arm CPU properties and the values each accepts.

Every consumer (facts module, cache, validation, fleet baseline, report) reads and writes these objects, so a
rule such as "named values match case-insensitively" is decided here and nowhere else. Values are kept as QEMU
reported them, as strings; this module interprets them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Dict, Iterable, Sequence

if TYPE_CHECKING:   # TypeGuard is typing's from Python 3.10; managed nodes run 3.8
    from typing import TypeGuard

Fact = Dict[str, Any]   # a fact or a part of one, as JSON: what hostvars carry between hosts and the controller

BOOL_TYPE = "bool"
NUMBER_TYPE = "number"
STRING_TYPE = "string"
ON, OFF = "on", "off"
# The member of a property that names values QEMU accepts only together with another setting (dialects.py writes
# it, rules.py explains it, the fleet baseline merges it).
CONDITIONAL = "conditional_values"

# libvirt's feature name pattern; validation holds names and values to it, so nothing that breaks XML attributes
# (' " < &) or QEMU's "model,key=value" syntax (, =) or a command line (space, newline, NUL) can get through.
_TOKEN_RE = re.compile(r"[A-Za-z0-9._-]+")
_TRUE_WORDS = frozenset(("on", "true", "yes"))
_FALSE_WORDS = frozenset(("off", "false", "no"))
_RANGE_RE = re.compile(r"^\s*([0-9]+|0[xX][0-9a-fA-F]+)\s*-\s*([0-9]+|0[xX][0-9a-fA-F]+)\s*$")
_DECIMAL_RE = re.compile(r"^(0|[1-9][0-9]*)$")
_HEX_RE = re.compile(r"^0[xX][0-9a-fA-F]+$")


def is_token(text: object) -> TypeGuard[str]:
    """Whether ``text`` is a string libvirt accepts as a feature name (and the collection accepts as a value)."""
    return isinstance(text, str) and _TOKEN_RE.fullmatch(text) is not None


def parse_int(text: str) -> int:
    """Read an integer the way a request may spell it: decimal without a leading zero, or 0x hex.

    QEMU reads a leading 0 as octal, so "010" is refused rather than guessed at.
    Raises ValueError with the reason.
    """
    text = text.strip()
    if _DECIMAL_RE.match(text):
        return int(text)
    if _HEX_RE.match(text):
        return int(text, 16)
    if re.match(r"^0[0-9]+$", text):
        raise ValueError("%r has a leading zero, which QEMU reads as octal; write it in decimal or 0x hex" % text)
    raise ValueError("%r is not an integer" % text)


def bool_word(text: str) -> str | None:
    """Map a spelling of a boolean to "on"/"off", or None when it is not one."""
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return ON
    if word in _FALSE_WORDS:
        return OFF
    return None


def split_number_values(values: Iterable[str]) -> tuple[list[tuple[int, int]], list[str]]:
    """Split a number property's supported values into integer ranges and named values.

    "0-3" is (0, 3), "5" is (5, 5); anything else ("off") is a named value. Returns (ranges, names).
    """
    ranges: list[tuple[int, int]] = []
    names: list[str] = []
    for value in values:
        match = _RANGE_RE.match(value)
        if match:
            low, high = (_int_bound(part) for part in match.groups())
            if low <= high:
                ranges.append((low, high))
                continue
        try:
            number = parse_int(value)
        except ValueError:
            names.append(value)
        else:
            ranges.append((number, number))
    return ranges, names


def _int_bound(text: str) -> int:
    """A range bound as QEMU wrote it: 0x hex or decimal. int(text, 0) would refuse "010" (Python's octal rule)
    and crash the whole split, so a padded decimal bound is read as decimal: QEMU formats bounds, users do not."""
    return int(text, 16) if text[:2].lower() == "0x" else int(text, 10)


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Integer ``(low, high)`` ranges sorted, with overlapping and adjacent ones joined: ``[[low, high], ...]``."""
    merged: list[list[int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return merged


def format_range(low: int, high: int, hexadecimal: bool = False) -> str:
    if hexadecimal:
        return "0x%x" % low if low == high else "0x%x-0x%x" % (low, high)
    return str(low) if low == high else "%d-%d" % (low, high)


class Property(object):
    """One CPU property: its type (kept as QEMU named it) and the values the host accepts."""

    __slots__ = ("name", "type", "supported_values", "default", "extra")

    def __init__(self, name: str, type: str, supported_values: Iterable[str], default: str | None = None,
                 extra: Fact | None = None) -> None:
        self.name = name
        self.type = type
        self.supported_values = tuple(supported_values)
        self.default = default
        self.extra = dict(extra or {})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Property) and self.to_fact() == other.to_fact() and self.name == other.name

    def __repr__(self) -> str:
        return "Property(%r, %r, %r)" % (self.name, self.type, self.supported_values)

    def to_fact(self) -> Fact:
        fact = dict(self.extra)
        fact["type"] = self.type
        fact["supported_values"] = list(self.supported_values)
        if self.default is not None:
            fact["default"] = self.default
        return fact

    @classmethod
    def from_fact(cls, name: str, fact: Fact) -> Property:
        extra = {key: value for key, value in fact.items() if key not in ("type", "supported_values", "default")}
        return cls(name, fact["type"], fact["supported_values"], fact.get("default"), extra)

    def match(self, value: str) -> str | None:
        """The host's spelling of ``value`` (:meth:`spelling`) when the host accepts it, else None.

        number: an integer inside a listed range, or a named value (e.g. "off"); bool: on/off and their spellings;
        string: case-insensitive (QEMU matches named values so); any other type: exact match of a listed string.
        Raises ValueError for a number written with a leading zero, since that is a mistake, not a miss.
        """
        spelled = self.spelling(value)
        if self.type == NUMBER_TYPE:
            ranges, names = split_number_values(self.supported_values)
            try:
                number = parse_int(spelled)
            except ValueError:
                return spelled if spelled in names else None
            return spelled if any(low <= number <= high for low, high in ranges) else None
        if self.type == BOOL_TYPE:
            return spelled if spelled in (bool_word(v) for v in self.supported_values) else None
        return spelled if spelled in self.supported_values else None

    def spelling(self, value: str) -> str:
        """``value`` as this host writes it, whether or not the host accepts it: the one rendering of a value, which
        validation writes into XML and onto ``-cpu`` and cpu_check asks QEMU about. A number in this property's
        notation (:meth:`render_number`: hex for the ``SYSREG_`` fields, which the host lists in hex, else decimal),
        a boolean word as on/off, a listed name or string in the host's case; anything else as given. Raises
        ValueError for a number written with a leading zero (QEMU would read it as octal)."""
        if self.type == NUMBER_TYPE:
            try:
                return self.render_number(parse_int(value))
            except ValueError:
                if re.match(r"^\s*0[0-9]+\s*$", value):
                    raise
            return _match_name(value, split_number_values(self.supported_values)[1]) or value
        if self.type == BOOL_TYPE:
            return bool_word(value) or value
        if self.type == STRING_TYPE:
            return _match_name(value, self.supported_values) or value
        return value

    def render_number(self, number: int) -> str:
        """``number`` as this host writes its numbers: hex where it lists them in hex (SYSREG_ fields), else decimal."""
        return "0x%x" % number if _hex_listed(self.supported_values) else str(number)

    def allows_on(self) -> bool:
        return self._allows_bool(ON)

    def allows_off(self) -> bool:
        return self._allows_bool(OFF)

    def _allows_bool(self, word: str) -> bool:
        """Whether the libvirt boolean meaning (on for require/force, off for disable/forbid) is accepted."""
        if self.type == NUMBER_TYPE:
            return _match_name(word, split_number_values(self.supported_values)[1]) is not None
        return any(bool_word(value) == word for value in self.supported_values)

    def intersect(self, other: Property) -> Property | None:
        """The values both this and ``other`` accept, in this property's order; None if the types differ."""
        if self.type != other.type:
            return None
        if self.type == NUMBER_TYPE:
            mine, my_names = split_number_values(self.supported_values)
            theirs, their_names = split_number_values(other.supported_values)
            values: list[str] = []
            for low, high in mine:
                for their_low, their_high in theirs:
                    common_low, common_high = max(low, their_low), min(high, their_high)
                    if common_low <= common_high:
                        values.append(format_range(common_low, common_high, _hex_listed(self.supported_values)))
            folded = {name.lower() for name in their_names}
            values.extend(name for name in my_names if name.lower() in folded)
        elif self.type in (STRING_TYPE, BOOL_TYPE):
            folded = {_fold(self.type, value) for value in other.supported_values}
            values = [value for value in self.supported_values if _fold(self.type, value) in folded]
        else:
            listed = set(other.supported_values)
            values = [value for value in self.supported_values if value in listed]
        default = self.default if self.default == other.default else None
        return Property(self.name, self.type, values, default, self.extra)

    def canonical_values(self) -> tuple[str, ...]:
        """The accepted values in a form that does not depend on how a host listed them, as a tuple.

        Two properties of the same type with equal canonical values accept exactly the same requests, so the fleet
        can tell "the same kind of host" apart from "listed differently": number ranges are merged and sorted
        ("0-1", "2-3" is "0-3"), named values and strings are case-folded, bool spellings become on/off, duplicates
        go, everything is sorted.
        """
        if self.type == NUMBER_TYPE:
            ranges, names = split_number_values(self.supported_values)
            return tuple(format_range(low, high) for low, high in merge_ranges(ranges)) + tuple(
                sorted({n.lower() for n in names}))
        if self.type in (STRING_TYPE, BOOL_TYPE):
            return tuple(sorted({_fold(self.type, value) for value in self.supported_values}))
        return tuple(sorted(set(self.supported_values)))


def _hex_listed(values: Sequence[str]) -> bool:
    """Whether a number property's numbers are all written in hex (the SYSREG_ fields): then a match is rendered in
    hex too, as the host and QEMU's documentation write them (``SYSREG_ID_AA64ISAR0_EL1_AES=0x1``)."""
    numbers = [value for value in values if value[:1].isdigit()]
    return bool(numbers) and all(_RANGE_OR_HEX_RE.match(value) for value in numbers)


_RANGE_OR_HEX_RE = re.compile(r"^\s*0[xX][0-9a-fA-F]+(\s*-\s*0[xX][0-9a-fA-F]+)?\s*$")


def _fold(type_: str, value: str) -> str:
    if type_ == BOOL_TYPE:
        return bool_word(value) or value
    return value.lower()


def _match_name(value: str, names: Iterable[str]) -> str | None:
    """The listed spelling of ``value`` among ``names``, case-insensitively; None when there is none.

    A list can hold several spellings of one value ("k" and the KELVIN SIGN, whose lower() is "k"): they are one
    value (canonical_values keeps one), and the spelling given is the same whatever order the host listed them in:
    the one written as requested, else the least in code-point order (ASCII before any look-alike).
    """
    value = value.strip()
    folded = value.lower()
    spellings = [name for name in names if name.lower() == folded]
    if value in spellings:
        return value
    return min(spellings, default=None)


class HostProps(object):
    """What one QEMU on one host offers: the dialect it spoke and its properties by name."""

    __slots__ = ("supported", "dialect", "qemu_version", "qemu_package", "cpu_model", "reason", "properties",
                 "warnings", "cpu_models")
    # warnings say how a reply was read, not what the host offers
    _COMPARED = ("supported", "dialect", "qemu_version", "qemu_package", "cpu_model", "reason", "properties",
                 "cpu_models")

    def __init__(self, supported: bool, dialect: str | None, properties: dict[str, Property] | None = None,
                 qemu_version: str | None = None, qemu_package: str | None = None, cpu_model: str | None = None,
                 reason: str | None = None, warnings: Iterable[str] = ()) -> None:
        self.supported = supported
        self.dialect = dialect
        self.properties = dict(properties or {})
        self.qemu_version = qemu_version
        self.qemu_package = qemu_package
        self.cpu_model = cpu_model
        self.reason = reason
        self.warnings = list(warnings)
        self.cpu_models: dict[str, Fact] | None = None   # the named models (models.read_models), None where they were not read

    @classmethod
    def unsupported(cls, reason: str, qemu_version: str | None = None, qemu_package: str | None = None,
                    warnings: Iterable[str] = ()) -> HostProps:
        return cls(False, None, {}, qemu_version, qemu_package, None, reason, warnings)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HostProps) and all(
            getattr(self, slot) == getattr(other, slot) for slot in self._COMPARED)

    def __repr__(self) -> str:
        return "HostProps(supported=%r, dialect=%r, %d properties)" % (
            self.supported, self.dialect, len(self.properties))

    def to_fact(self, accel: str | None, emulator: str | None, source: str) -> Fact:
        fact: Fact = {
            "supported": self.supported,
            "dialect": self.dialect,
            "accel": accel,
            "emulator": emulator,
            "qemu_version": self.qemu_version,
            "qemu_package": self.qemu_package,
            "cpu_model": self.cpu_model,
            "source": source,
            "reason": self.reason,
            "properties": {name: prop.to_fact() for name, prop in sorted(self.properties.items())},
        }
        if self.cpu_models is not None:
            fact["cpu_models"] = self.cpu_models
        return fact

    @classmethod
    def from_fact(cls, fact: Fact) -> HostProps:
        properties = {name: Property.from_fact(name, value) for name, value in (fact.get("properties") or {}).items()}
        host_props = cls(bool(fact.get("supported")), fact.get("dialect"), properties, fact.get("qemu_version"),
                         fact.get("qemu_package"), fact.get("cpu_model"), fact.get("reason"))
        host_props.cpu_models = fact.get("cpu_models")
        return host_props
