# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

One CPU vocabulary for every QMP dialect: a host property name and value <-> ID-register fields and integers.

A guest sees ID-register fields, whatever a host's QEMU calls them, so the fleet reasons on fields and each host is
spoken to in its own names. The canonical name of a field is ``SYSREG_<REG>_<FIELD>`` (REG and FIELD as in Arm's
published register data, as ``sysreg.py`` spells them) and its value an integer. :data:`TABLE` maps every other
dialect's names onto fields, as data with a source per entry, like the rule model:

- ``SYSREG_`` names map to themselves;
- the seed's ``feat_<X>`` / ``hw_prop_<Field>`` names (Nutanix's series, dialects ``query-arm-cpu-props-info`` and
  ``query-cpu-props-info``) map to their field; ``off`` is a field a vCPU flag gates (the guest sees 0), ``feat_AES``
  has named values, and ``feat_RAS``, ``feat_CSV2``, ``feat_MPAM`` and ``feat_NV`` carry two fields in one
  ``major.frac`` label;
- released QEMU's booleans map where they correspond: ``sve`` to PFR0.SVE, ``pmu`` to DFR0.PMUVer and the pointer
  authentication switches to the algorithm fields. ``off`` is exactly 0; ``on`` is the host's own value, known only
  where the host tells it (a ``SYSREG_`` property of the same field) or where the architecture has one value (SVE 1).

A name no entry knows (``sveNNN``, ``kvm-*``, ``aarch64``, anything new) keeps its own name and is compared by name,
never guessed. Standard library only: it runs on controllers and hypervisors alike.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any, Collection, Iterable, Sequence

from ansible_collections.armvirt.cpu.plugins.module_utils._host import props, sysreg

PREFIX = "SYSREG_"
# Sources, cited by each entry (Entry.source: keys of this table); docs/dialects.md lists them
SOURCES = {
    "nutanix": "Nutanix 'named CPU models for ARM64 on KVM' (qemu-devel, Shaju Abraham): RFC v1 2026-05-13 "
               "<20260513163356.3033159-1-shaju.abraham@nutanix.com>, target/arm/arm-cpu-props.inc.h (feat_<X> for "
               "a field that is an Arm FEAT_X, hw_prop_<Field> otherwise; -cpu host,feat_AES=aes); RFC v2 2026-06-05 "
               "(query-arm-cpu-props-info); and the thread 'property and value naming summary between named CPU "
               "models vs customizable host model' (qemu-devel, 2026-06-10), which sets these names beside "
               "SYSREG_<REG>_<FIELD>",
    "nutanix-frac": "the same series, target/arm/arm-cpu-frac.inc.h: a major.frac label for two fields together "
                    "(feat_RAS 0.0, 1.0, 1.1, 1.1_base for RAS 2, 2.0; CSV2 0.0 1.0 1.1 1.2 2.0 3.0; MPAM 0.0 0.1 "
                    "1.0 1.1; NV 0.0 1.0 2.0 2.0_only 2.1)",
    "arm": "Arm ARM, the ID register field descriptions (Arm's published register data, Registers.json): the "
           "field's position and its encodings (e.g. ISAR0.AES 1 AES, 2 AES+PMULL; PFR0.RAS 1 RAS, 2 RASv1p1 "
           "without RAS_frac, 3 RASv2; PFR0.SVE 1 SVE)",
    "linux-nv": "Linux arch/arm64/tools/sysreg: ID_AA64MMFR4_EL1.NV_frac 0b0000 NV_NV2, 0b0001 NV2_ONLY",
    "qemu": "QEMU docs/system/arm/cpu-features.rst and target/arm/cpu64.c (sve, pmu, pauth, pauth-impdef, "
            "pauth-qarma3, pauth-qarma5: off turns the feature off, which the guest's ID fields show as 0)",
    "redhat": "Red Hat's configurable host model (qemu-devel, Eric Auger, Cornelia Huck, Sebastian Ott; v4 2026-05, "
              "docs/system/arm/cpu-features.rst 'ID register properties'): SYSREG_<REG>_<FIELD> is the field itself, "
              "REG and FIELD as in Arm's register data",
}

NUMBER, NAMED, COMBINED, BOOLEAN = "number", "named", "combined", "boolean"
PROPS_INFO = ("query-arm-cpu-props-info", "query-cpu-props-info")
EXPANSION = ("query-cpu-model-expansion", "sysreg")


class Entry(collections.namedtuple("Entry", "name dialects fields kind values gated source")):
    """One host property name: the dialects that speak it, the field labels ("REG.FIELD") it carries, how its
    values read (``kind``: number, named, combined, boolean), ``values`` (named: {name: int}; combined:
    {label: (major, minor)}; boolean: the value ``on`` gives when the architecture has one, else None), whether
    ``off`` stands for a field a vCPU flag gates (the guest sees 0), and where it comes from."""

    __slots__ = ()


def canonical(label: str) -> str:
    """``SYSREG_<REG>_<FIELD>`` of a field label ``REG.FIELD``."""
    return PREFIX + label.replace(".", "_", 1)


def _label(name: str) -> str | None:
    parsed = sysreg.parse_name(name)
    return "%s.%s" % parsed if parsed else None


def _labels(name: str, entry: Entry | None) -> tuple[str, ...]:
    """The field labels host property ``name`` carries: its entry's, else its SYSREG_ field's; none for a name with
    no field (``sve128``)."""
    if entry is not None:
        return entry.fields
    label = _label(name)
    return (label,) if label else ()


def _feat(name: str, label: str | None, gated: bool = False, kind: str = NUMBER, values: Any = None,
          fields: tuple[str, ...] | None = None, source: tuple[str, ...] = ("nutanix", "arm")) -> Entry:
    return Entry(name, PROPS_INFO, fields or (label,), kind, values, gated, source)


_ISAR0, _ISAR1, _ISAR2 = "ID_AA64ISAR0_EL1.", "ID_AA64ISAR1_EL1.", "ID_AA64ISAR2_EL1."
_PFR0, _PFR1, _ZFR0 = "ID_AA64PFR0_EL1.", "ID_AA64PFR1_EL1.", "ID_AA64ZFR0_EL1."
_MMFR0, _MMFR1, _MMFR2, _MMFR4 = "ID_AA64MMFR0_EL1.", "ID_AA64MMFR1_EL1.", "ID_AA64MMFR2_EL1.", "ID_AA64MMFR4_EL1."
_DFR0 = "ID_AA64DFR0_EL1."
_PAUTH_FIELDS = (_ISAR1 + "APA", _ISAR1 + "API", _ISAR1 + "GPA", _ISAR1 + "GPI", _ISAR2 + "APA3", _ISAR2 + "GPA3")

# feat_<X>: an Arm FEAT_X whose field is not spelled like X where noted (FlagM is ISAR0.TS, DotProd ISAR0.DP, LOR
# MMFR1.LO, TTCNP MMFR2.CnP, RNG ISAR0.RNDR, SPE DFR0.PMSVer, AMUv1 PFR0.AMU, BTI PFR1.BT, ATOMIC ISAR0.Atomic).
_FEATS = (
    [_feat("feat_" + name, _ISAR0 + field) for name, field in (
        ("SHA1", "SHA1"), ("SHA2", "SHA2"), ("CRC32", "CRC32"), ("ATOMIC", "Atomic"), ("TME", "TME"),
        ("RDM", "RDM"), ("SHA3", "SHA3"), ("SM3", "SM3"), ("SM4", "SM4"), ("DotProd", "DP"), ("FHM", "FHM"),
        ("FlagM", "TS"), ("RNG", "RNDR"))]
    + [_feat("feat_AES", _ISAR0 + "AES", kind=NAMED, values={"aes": 1, "pmull": 2})]
    + [_feat("feat_" + name, _ISAR1 + name) for name in (
        "DPB", "JSCVT", "FCMA", "LRCPC", "FRINTTS", "SB", "SPECRES", "BF16", "DGH", "I8MM")]
    + [_feat("feat_" + name, _PFR0 + field) for name, field in (
        ("CSV3", "CSV3"), ("DIT", "DIT"), ("AMUv1", "AMU"), ("SEL2", "SEL2"))]
    + [_feat("feat_SVE", _PFR0 + "SVE", gated=True)]
    + [_feat("feat_" + name, _PFR1 + field) for name, field in (("BTI", "BT"), ("SSBS", "SSBS"), ("MTE", "MTE"))]
    + [_feat("feat_LOR", _MMFR1 + "LO"), _feat("feat_PAN", _MMFR1 + "PAN"),
       _feat("feat_IESB", _MMFR2 + "IESB"), _feat("feat_TTCNP", _MMFR2 + "CnP"), _feat("feat_SPE", _DFR0 + "PMSVer")]
)
# major.frac labels: the major field, then the minor one. RAS field 2 is FEAT_RASv1p1 without RAS_frac ("1.1_base"),
# 3 is FEAT_RASv2 ("2.0"); NV 2 with NV_frac 1 is FEAT_NV2 without FEAT_NV ("2.0_only", Linux's NV2_ONLY). A label
# whose encoding no source gives ("2.1" of feat_NV) has no entry: it is not translated.
_FRAC = ("nutanix", "nutanix-frac", "arm")
_COMBINED = [
    _feat("feat_RAS", None, kind=COMBINED, fields=(_PFR0 + "RAS", _PFR1 + "RAS_frac"), source=_FRAC,
          values={"0.0": (0, 0), "1.0": (1, 0), "1.1": (1, 1), "1.1_base": (2, 0), "2.0": (3, 0)}),
    _feat("feat_CSV2", None, kind=COMBINED, fields=(_PFR0 + "CSV2", _PFR1 + "CSV2_frac"), source=_FRAC,
          values={"0.0": (0, 0), "1.0": (1, 0), "1.1": (1, 1), "1.2": (1, 2), "2.0": (2, 0), "3.0": (3, 0)}),
    _feat("feat_MPAM", None, kind=COMBINED, fields=(_PFR0 + "MPAM", _PFR1 + "MPAM_frac"), source=_FRAC,
          values={"0.0": (0, 0), "0.1": (0, 1), "1.0": (1, 0), "1.1": (1, 1)}),
    _feat("feat_NV", None, kind=COMBINED, fields=(_MMFR2 + "NV", _MMFR4 + "NV_frac"), source=_FRAC + ("linux-nv",),
          values={"0.0": (0, 0), "1.0": (1, 0), "2.0": (2, 0), "2.0_only": (2, 1)}),
]
# hw_prop_<Field>: fields that are no FEAT_X of their own, named by Arm's field name.
_HW_PROPS = (
    [_feat("hw_prop_" + label.split(".")[1], label, gated=True) for label in _PAUTH_FIELDS]
    + [_feat("hw_prop_" + field, _MMFR0 + field) for field in ("PARange", "ASIDBits")]
    + [_feat("hw_prop_" + field, _MMFR1 + field) for field in ("HAFDBS", "VMIDBits")]
    + [_feat("hw_prop_" + field, _DFR0 + field) for field in ("DebugVer", "BRPs", "WRPs", "CTX_CMPs")]
    + [_feat("hw_prop_PMUVer", _DFR0 + "PMUVer", gated=True), _feat("hw_prop_SVEver", _ZFR0 + "SVEver", gated=True)]
    + [_feat("hw_prop_" + field, "CTR_EL0." + field) for field in ("DIC", "IDC", "DminLine", "IminLine")]
    + [_feat("hw_prop_BS", "DCZID_EL0.BS")]
)
# Released QEMU's booleans: off is 0 for every field they gate; on is the architecture's one value (SVE is 1:
# FEAT_SVE; SVE2 shows in ZFR0.SVEver) or the host's own, known only where the host tells it.
_BOOLEANS = [
    Entry("sve", EXPANSION, (_PFR0 + "SVE",), BOOLEAN, 1, True, ("qemu", "arm")),
    Entry("pmu", EXPANSION, (_DFR0 + "PMUVer",), BOOLEAN, None, True, ("qemu", "arm")),
    Entry("pauth", EXPANSION, _PAUTH_FIELDS, BOOLEAN, None, True, ("qemu", "arm")),
] + [
    Entry(name, EXPANSION, fields, BOOLEAN, None, True, ("qemu", "arm"))
    for name, fields in (("pauth-impdef", (_ISAR1 + "API", _ISAR1 + "GPI")),
                         ("pauth-qarma3", (_ISAR2 + "APA3", _ISAR2 + "GPA3")),
                         ("pauth-qarma5", (_ISAR1 + "APA", _ISAR1 + "GPA")))
]
TABLE = {entry.name: entry for entry in _FEATS + _COMBINED + _HW_PROPS + _BOOLEANS}
# The booleans that choose a pointer-authentication algorithm name fields but never stand for one exactly: with
# pauth on, which algorithm a host gives is the host's business. Only pauth itself is translated (pauth=off: all 0).
_SELECTORS = ("pauth-impdef", "pauth-qarma3", "pauth-qarma5")


def canonical_name(name: str) -> tuple[str, ...]:
    """The canonical names (tuple) a host property name stands for: ``("SYSREG_ID_AA64DFR0_EL1_WRPs",)`` for
    ``hw_prop_WRPs``, two names for a combined ``feat_RAS``, ``(name,)`` for SYSREG_ names and for names with no
    field (``sve128``, ``kvm-steal-time``, ``aarch64``), which keep their own names."""
    entry = TABLE.get(name)
    if entry is None:
        return (name,)
    return tuple(canonical(label) for label in entry.fields)


# ---- values -------------------------------------------------------------------------------------------------------

def decode(name: str, value: object) -> tuple[int, ...] | None:
    """The integers (one per field of ``canonical_name(name)``) that ``value`` of host property ``name`` stands
    for, or None when it stands for no exact value (an unknown label, a boolean's on). SYSREG_ names take integers."""
    text = str(value).strip()
    entry = TABLE.get(name)
    if entry is None:
        if sysreg.parse_name(name) is None:
            return None
        number = _int(text)
        return None if number is None else (number,)
    if entry.kind == BOOLEAN:
        word = props.bool_word(text)
        if word == props.OFF:
            return (0,) * len(entry.fields)
        if word == props.ON and entry.values is not None:
            return (entry.values,)
        return None
    if entry.kind == COMBINED:
        pair = {label.lower(): pair for label, pair in entry.values.items()}.get(text.lower())
        return tuple(pair) if pair else None
    if entry.gated and props.bool_word(text) == props.OFF:
        return (0,)
    if entry.kind == NAMED:
        named = {key.lower(): number for key, number in entry.values.items()}.get(text.lower())
        if named is not None:
            return (named,)
    number = _int(text)
    return None if number is None else (number,)


def _int(text: str) -> int | None:
    try:
        return props.parse_int(text)
    except ValueError:
        return None


def spellings(name: str, numbers: tuple[int, ...]) -> list[str]:
    """How host property ``name`` may write the field values ``numbers`` (a tuple, one per field), best first."""
    entry = TABLE.get(name)
    if entry is None:
        return [str(numbers[0])] if len(numbers) == 1 else []
    if entry.kind == BOOLEAN:
        if all(number == 0 for number in numbers):
            return [props.OFF]
        return [props.ON] if entry.values is not None and numbers == (entry.values,) else []
    if entry.kind == COMBINED:
        return [label for label, pair in sorted(entry.values.items()) if tuple(pair) == tuple(numbers)]
    number = numbers[0]
    out = [str(number)]
    if entry.kind == NAMED:
        out += [key for key, value in sorted(entry.values.items()) if value == number]
    if entry.gated and number == 0:
        out.append(props.OFF)
    return out


def _prop_values(name: str, prop: props.Property) -> tuple[list[tuple[int, int]], set[tuple[int, ...]]]:
    """What a host property offers in field values: ``(ranges, tuples)``, integer ranges ``(low, high)`` of a
    one-field property and the field tuples its other values stand for (named values, off, labels, on/off). A value
    that stands for no exact field value is left out."""
    ranges: list[tuple[int, int]] = []
    names = list(prop.supported_values)
    if prop.type == props.NUMBER_TYPE and len(canonical_name(name)) == 1:
        ranges, names = props.split_number_values(prop.supported_values)
    decoded = (decode(name, value) for value in names)
    return ranges, {numbers for numbers in decoded if numbers is not None}


def _hex_ranges(ranges: Iterable[tuple[int, int]]) -> list[str]:
    """Integer ranges merged and written as the sysreg dialect writes them: ``["0x0-0x2", "0x4"]``."""
    return [props.format_range(low, high, hexadecimal=True) for low, high in props.merge_ranges(ranges)]


# ---- a host's fact in canonical names ----------------------------------------------------------------------------

def _host_routes(properties: dict[str, props.Property]) -> dict[str, str]:
    """``{field label: host property name}``: which of a host's properties gives each field. A writable SYSREG_
    property or a props-info name (the field itself) first, then a boolean (its off is exact), then a SYSREG_
    property that is the host's value only."""
    routes: dict[str, tuple[int, str]] = {}
    for name in sorted(properties):
        entry = TABLE.get(name)
        if entry is not None and entry.name in _SELECTORS:
            continue
        for label in _labels(name, entry):
            rank = _rank(name, entry, properties[name])
            if label not in routes or rank < routes[label][0]:
                routes[label] = (rank, name)
    return {label: name for label, (_rank_, name) in routes.items()}


def _rank(name: str, entry: Entry | None, prop: props.Property) -> int:
    if entry is None:
        extra = prop.extra if isinstance(prop, props.Property) else {}
        return 2 if extra.get("rule") == sysreg.HOST_ONLY and len(prop.supported_values) == 1 else 0
    return 1 if entry.kind == BOOLEAN else 0


def canonical_fact(fact: props.Fact) -> props.Fact:
    """A host's ``arm_cpu_props`` fact in canonical names, for the fleet logic and the report: the same meta members
    (dialect, accel, ...), ``properties`` keyed by canonical name. A field property is ``{"type": "number",
    "supported_values": [hex ranges], "default": "0x.." when known, "field": "REG.FIELD", "rule": .. when known,
    "host_names": [the host's own property name(s)]}`` plus, for half of a coupled pair, ``"coupled_with"`` (the
    other half) and ``"coupled_values"`` (the ``[major, minor]`` pairs the host offers, in hex). Properties with no
    field keep name and content. Fields the host cannot give exactly (a booleans-only host's PMUVer with pmu on,
    ...) are left out of ``properties`` and listed in ``unknown_fields: {canonical name: reason}``."""
    out = {key: value for key, value in fact.items() if key != "properties"}
    properties = {name: props.Property.from_fact(name, prop)
                  for name, prop in (fact.get("properties") or {}).items()}
    canon: props.Fact = {}
    unknown: dict[str, str] = {}
    routes = _host_routes(properties)
    for name in sorted(properties):
        prop = properties[name]
        entry = TABLE.get(name)
        labels = _labels(name, entry)
        if not labels:
            canon[name] = prop.to_fact()
            continue
        if entry is not None and entry.name in _SELECTORS:
            continue
        mine = [label for label in labels if routes.get(label) == name]
        if not mine:
            continue
        for label, content in _field_props(name, entry, prop, labels, properties, mine, unknown).items():
            content["host_names"] = [name] + sorted(
                other for other in properties if other != name and label in _labels(other, TABLE.get(other)))
            canon[canonical(label)] = content
    out["properties"] = dict(sorted(canon.items()))
    out["unknown_fields"] = dict(sorted(unknown.items()))
    return out


def _field_props(name: str, entry: Entry | None, prop: props.Property, labels: Sequence[str],
                 properties: dict[str, props.Property], mine: list[str],
                 unknown: dict[str, str]) -> dict[str, props.Fact]:
    """``{label: canonical property}`` of the fields in ``mine`` that one host property gives (several for a
    combined one or pauth)."""
    if entry is not None and entry.kind == BOOLEAN:
        return _boolean_props(name, entry, prop, properties, mine, unknown)
    ranges, known = _prop_values(name, prop)
    default = decode(name, prop.default) if prop.default is not None else None
    out: dict[str, props.Fact] = {}
    for index, label in enumerate(labels):
        numbers = list(ranges) + [(pair[index], pair[index]) for pair in known if len(pair) == len(labels)]
        content: props.Fact = {"type": props.NUMBER_TYPE, "supported_values": _hex_ranges(numbers),
                               "field": label, "host_names": [name]}
        if default is not None and len(default) == len(labels):
            content["default"] = "0x%x" % default[index]
        content.update(_rule(label, prop))
        if len(labels) > 1:
            other = labels[1 - index]
            content["coupled_with"] = canonical(other)
            content["coupled_values"] = [["0x%x" % pair[0], "0x%x" % pair[1]] for pair in sorted(known)
                                         if len(pair) == 2]
        if label in mine:
            out[label] = content
    return out


def _rule(label: str, prop: props.Property) -> props.Fact:
    """The field's kernel rule: as the host's property says it (SYSREG_), else from sysreg.FIELDS."""
    if "rule" in prop.extra:
        return {key: prop.extra[key] for key in ("rule", "signed", "host_value") if key in prop.extra}
    rule = sysreg.rule_of(label)
    return {"rule": rule} if rule else {}


def _boolean_props(name: str, entry: Entry, prop: props.Property, properties: dict[str, props.Property],
                   mine: list[str], unknown: dict[str, str]) -> dict[str, props.Fact]:
    """A boolean's fields: off is 0 for each; on is the architecture's one value or the host's own as a SYSREG_
    property of the same field tells it; a field whose on value is unknown goes to ``unknown``."""
    allowed = {props.bool_word(value) for value in prop.supported_values}
    out: dict[str, props.Fact] = {}
    for label in mine:
        told = properties.get(canonical(label))
        on_value = entry.values
        if on_value is None and told is not None and told.default is not None:
            told_numbers = decode(told.name, told.default)
            on_value = told_numbers[0] if told_numbers else None
        numbers: set[int] = set()
        if props.OFF in allowed:
            numbers.add(0)
        if props.ON in allowed:
            if on_value is None:
                unknown[canonical(label)] = (
                    "%s=on gives the guest the host's own %s, which this host does not report (it speaks released "
                    "QEMU's booleans for it)" % (name, label))
                continue
            numbers.add(on_value)
        content: props.Fact = {"type": props.NUMBER_TYPE, "supported_values": sysreg.as_ranges(sorted(numbers)),
                               "field": label, "host_names": [name]}
        word = props.bool_word(prop.default) if prop.default is not None else None
        if word == props.OFF:
            content["default"] = "0x0"
        elif word == props.ON and on_value is not None:
            content["default"] = "0x%x" % on_value
        out[label] = content
    return out


# ---- a request in a host's names ----------------------------------------------------------------------------------

# What a translation can find wrong, as validation's rule ids (docs/guest-validation.md)
# (a field the host has no property for is validation's own unknown-property, said in the host's terms)
RULE_IDS = ("untranslatable", "coupled-half", "coupled-conflict")
UNKNOWN = "unknown-property"
Problem = collections.namedtuple("Problem", "feature value rule message")


def speaks(fact: object) -> str:
    """How a host names its fields, in words for messages."""
    names = list((fact.get("properties") or {}) if isinstance(fact, dict) else ())
    if any(name.startswith(PREFIX) for name in names):
        return "SYSREG_"
    if any(TABLE.get(name) is not None and TABLE[name].dialects == PROPS_INFO for name in names):
        return "feat_/hw_prop_"
    return "released QEMU's booleans"


def translate(features: Any, fact: Any, host: str,
              keep: Collection[str] = ()) -> tuple[Any, list[Problem], dict[str, str]]:
    """:func:`to_host` with problems as :class:`Problem` records and ``{host name: requested name}`` of what was
    renamed, for validation to keep its records and say what the request called each property. Names in ``keep``
    stay as they are."""
    if not isinstance(features, (list, tuple)) or not isinstance(fact, Mapping) \
            or not isinstance(fact.get("properties"), Mapping):
        return features, [], {}
    names = [item.get("name") for item in features if isinstance(item, Mapping)]
    if all(name in fact["properties"] and not _label(name) for name in names if isinstance(name, str)):
        return features, [], {}   # the host's own names (the common case, and the fleet's per-kind checks): as is
    try:
        properties = {name: props.Property.from_fact(name, prop) for name, prop in fact["properties"].items()}
    except (AttributeError, KeyError, TypeError):
        return features, [], {}
    routes = _host_routes(properties)
    out: list[Any] = []
    problems: list[Problem] = []
    groups: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
    seen: set[str] = set()
    for item in features:
        name = item.get("name") if isinstance(item, Mapping) else None
        if isinstance(name, str) and name in seen and name not in properties:
            problems.append(Problem(name, item.get("value"), "duplicate", "%s: %s is requested more than once."
                                    % (host, name)))
            continue
        if isinstance(name, str):
            seen.add(name)
        if not _well_formed(item) or not isinstance(name, str) or not _knows(name) or name in keep \
                or name in properties and _keeps(name, item, properties, routes):
            out.append(item)
            continue
        parts = _field_values(item, name, routes, fact, host)
        if isinstance(parts, Problem):
            problems.append(parts)
            continue
        for target, label, number in parts:
            if target not in groups:
                groups[target] = {"at": len(out), "values": {}, "names": [], "item": item}
                out.append(None)
            group = groups[target]
            if label in group["values"] and group["values"][label] != number or _rest(group["item"]) != _rest(item):
                problems.append(Problem(name, item.get("value"), "coupled-conflict", _said(
                    host, fact, "%s and %s ask for different values of one property" % (
                        name, " and ".join(group["names"])), "both are %s there." % target)))
            group["values"][label] = number
            if name not in group["names"]:
                group["names"].append(name)
    renamed: dict[str, str] = {}
    kept = {item.get("name") for item in out if isinstance(item, Mapping) and isinstance(item.get("name"), str)}
    for target, group in groups.items():
        feature = _group_feature(target, group, properties, fact, host)
        if target in kept and not isinstance(feature, Problem):
            feature = Problem(group["names"][0], None, "coupled-conflict", _said(
                host, fact, "%s and %s ask for one property twice" % (" and ".join(group["names"]), target),
                "%s is %s there." % (" and ".join(group["names"]), target)))
        if isinstance(feature, Problem):
            problems.append(feature)
        else:
            out[group["at"]] = feature
            renamed[target] = " and ".join(group["names"])
    return [item for item in out if item is not None], problems, renamed


def _well_formed(item: object) -> bool:
    """Only a feature whose name and value are plain tokens is translated; anything else goes through as it is, for
    validation to name its fault in the words of the request. The rest of the feature (its policy, any other key)
    goes with it into the host's names, for validation to judge there."""
    return isinstance(item, Mapping) and props.is_token(item.get("name")) \
        and props.is_token(item.get("value", "x"))


def _knows(name: str) -> bool:
    return name in TABLE or sysreg.parse_name(name) is not None


def _keeps(name: str, item: Mapping[str, Any], properties: dict[str, props.Property], routes: dict[str, str]) -> bool:
    """A name the host speaks stays itself, unless its field goes through another of the host's properties (a
    SYSREG_ field the host gives only as its value, where a boolean can turn it off) and this one refuses the value."""
    label = _label(name)
    if label is None or routes.get(label, name) == name or not isinstance(item.get("value"), str):
        return True
    return _accepts(properties[name], item["value"])


def _field_values(item: Mapping[str, Any], name: str, routes: dict[str, str], fact: Mapping[str, Any],
                  host: str) -> list[tuple[str, str, int | None]] | Problem:
    """``[(host property, field label, integer or None)]`` of one requested feature (None: no value, a policy
    alone), or a Problem."""
    entry = TABLE.get(name)
    labels = _labels(name, entry)
    value = item.get("value")
    fields = " with ".join(canonical(label) for label in labels)
    if entry is not None and entry.name in _SELECTORS:
        return Problem(name, value, "untranslatable", _said(
            host, fact, "%s cannot be said in its names" % name, "%s selects a pointer-authentication algorithm, "
            "which no field value stands for exactly; ask for the fields' values, or for pauth." % name))
    if any(routes.get(label) is None for label in labels):
        return Problem(name, value, UNKNOWN, _said(
            host, fact, "%s is not among the %d properties reported" % (name, len(fact["properties"])),
            "%s is %s there, and it offers %s." % (name, fields, _offers(labels, routes))))
    numbers: Sequence[int | None] = (None,) * len(labels)
    if "value" in item:
        decoded = decode(name, value)
        if decoded is None:
            return Problem(name, value, "untranslatable", _said(
                host, fact, "%s=%s cannot be said in its names" % (name, value),
                "%s=%s stands for no exact value of %s." % (name, value, fields)))
        numbers = decoded
    return [(routes[label], label, number) for label, number in zip(labels, numbers)]


def _said(host: str, fact: object, lead: str, explanation: str) -> str:
    """A problem in the host's terms: what is wrong in the request's words, then the host's names for it."""
    return "%s: %s. %s speaks %s: %s" % (host, lead, host, speaks(fact), explanation)


def _rest(item: Mapping[str, Any]) -> dict[str, Any]:
    """A feature without its name and value: what a translation carries over as it is."""
    return {key: value for key, value in item.items() if key not in ("name", "value")}


def _group_feature(target: str, group: dict[str, Any], properties: dict[str, props.Property],
                   fact: Mapping[str, Any], host: str) -> dict[str, Any] | Problem:
    """One host property's setting from the field values the request gives it (the first feature's policy and
    other keys kept), or a Problem. Without values the feature goes to the host's property as it is (validation
    then judges its on/off there)."""
    entry = TABLE.get(target)
    labels = _labels(target, entry)
    values = group["values"]
    asked = " and ".join(group["names"])
    feature = dict(_rest(group["item"]), name=target)
    if all(number is None for number in values.values()):
        return feature
    if any(number is None for number in values.values()):
        return Problem(group["names"][0], None, "coupled-conflict", _said(
            host, fact, "%s ask for one property with and without a value" % asked,
            "%s are all %s there; give each a value, or none." % (asked, target)))
    if entry is not None and entry.kind == BOOLEAN:
        if all(values.get(label, 0) == 0 for label in labels):
            return dict(feature, value=props.OFF)
        if entry.values is not None and tuple(values.get(label) for label in labels) == (entry.values,):
            return dict(feature, value=props.ON)
        return Problem(group["names"][0], None, "untranslatable", _said(
            host, fact, "%s cannot be given exactly" % asked,
            "%s is %s there, whose on gives the guest the host's own value, which the host does not report; only 0 "
            "(%s=off) is exact." % (asked, target, target)))
    missing = [canonical(label) for label in labels if label not in values]
    if missing:
        return Problem(group["names"][0], None, "coupled-half", _said(
            host, fact, "%s is half of a coupled value" % asked,
            "%s is %s there, one value of %s together; the request names %s but not %s." % (
                asked, target, " with ".join(canonical(label) for label in labels), asked, ", ".join(missing))))
    numbers = tuple(values[label] for label in labels)
    prop = properties[target]
    options = spellings(target, numbers)
    if entry is None and prop.type == props.NUMBER_TYPE:
        options = [prop.render_number(numbers[0])]
    if not options:
        return Problem(group["names"][0], None, "untranslatable", _said(
            host, fact, "%s cannot be said in its names" % asked,
            "%s=%s has no spelling in %s (offered: %s)." % (
                asked, "+".join("0x%x" % n for n in numbers), target, ", ".join(prop.supported_values) or "none")))
    chosen = next((option for option in options if _accepts(prop, option)), options[0])
    return dict(feature, value=prop.spelling(chosen) if entry is None or entry.kind != COMBINED else chosen)


def _accepts(prop: props.Property, value: str) -> bool:
    try:
        return prop.match(value) is not None
    except ValueError:
        return False


def _offers(labels: Sequence[str], routes: dict[str, str]) -> str:
    offered = [routes[label] for label in labels if routes.get(label)]
    if offered:
        return "only " + ", ".join(dict.fromkeys(offered))
    return "neither" if len(labels) > 1 else "no property for it"


def to_host(features: Any, fact: Any, host: str) -> tuple[Any, list[str]]:
    """Translate a request (a list of ``{"name", "value"?, "policy"?}``, names canonical or of any dialect) into
    the host's own names and value spelling. Returns ``(features_in_host_names, problems)``, problems being
    sentences in the host's terms. A name the host speaks is kept; a request naming half of a coupled value where
    the host has only the combined property is refused with the reason."""
    out, problems, _renamed = translate(features, fact, host)
    return out, [problem.message for problem in problems]
