# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

The rule model: how QEMU and KVM judge a guest CPU as a whole, not one property at a time.

``validate`` checks each requested value against what the host lists; the relations between properties live here,
as data (:data:`RULES`), each with an id, the QEMU, Arm or kernel source it comes from and the accelerators it holds
for. Validation, ``qemu_cpu_arg``, the probe (values possible only together), the fleet baseline, the recommendation
and the report all read this table, so a relation is written down once.

A rule sees the *state* a request asks for: ``{name: value}`` of every property the request sets (``on``/``off`` for
booleans, the host's spelling for valued properties), with everything else at the host's default. Rule kinds:

- ``vector-lengths``: QEMU's SVE vector-length finalisation (``arm_cpu_sve_finalize``), whose TCG and KVM variants
  differ in which smaller lengths an enabled length implies.
- ``requires``: a property at a value needs another at a value.
- ``at-most-one``: of several switches, at most one may be on (pointer-authentication algorithm selectors).
- ``gate``: fields that a vCPU switch gates (the SVE, PMU and pointer-authentication ID fields under their switches):
  a field that shows the feature needs the switch on, a field that hides it needs the switch off.
- ``algorithm-pairs``: pointer authentication describes one algorithm in two fields (address and generic
  authentication); at most one algorithm, both of its fields present or both absent.

Standard library only: it runs on controllers and hypervisors alike.
"""

from __future__ import annotations

import collections
import re
from typing import Iterable

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._host import props, sysreg

# A rule of both accelerators, in the order RULES has always listed them (their repr is in dialects.TABLES_DIGEST).
BOTH_ACCELS = (names.TCG, names.KVM)

_QEMU_DOC = "QEMU docs/system/arm/cpu-features.rst"
_QEMU_SVE = _QEMU_DOC + " (SVE CPU Property Dependencies and Constraints); target/arm/cpu64.c arm_cpu_sve_finalize"
_QEMU_PAUTH = _QEMU_DOC + " (pauth, pauth-impdef, pauth-qarma3); target/arm/cpu64.c arm_cpu_pauth_finalize"
_ARM_ID = "Arm ARM, ID register field descriptions (Arm's published Registers.json)"


# The pointer-authentication fields as the valued dialects name them and as SYSREG_ properties: (address, generic)
# pairs of one algorithm each (QARMA5, IMPDEF, QARMA3).
_PAUTH_PAIRS = tuple(
    pair for prefix, isar1, isar2 in (("hw_prop_", "", ""), ("SYSREG_", "ID_AA64ISAR1_EL1_", "ID_AA64ISAR2_EL1_"))
    for pair in ((prefix + isar1 + "APA", prefix + isar1 + "GPA"), (prefix + isar1 + "API", prefix + isar1 + "GPI"),
                 (prefix + isar2 + "APA3", prefix + isar2 + "GPA3")))
_PAUTH_FIELDS = tuple(name for pair in _PAUTH_PAIRS for name in pair)
_ZFR0_FIELDS = tuple(sorted("SYSREG_%s_%s" % (field.register, field.name) for field in sysreg.FIELDS.values()
                            if field.register == "ID_AA64ZFR0_EL1"))


# QEMU's switches that choose a pointer-authentication algorithm rather than add a feature: a recommendation leaves
# them at QEMU's default (the architected algorithm), since "more" means nothing for a choice.
ALGORITHM_SELECTORS = ("pauth-impdef", "pauth-qarma3", "pauth-qarma5")


class Rule(collections.namedtuple("Rule", "id kind accels source summary params")):
    """One relation between properties: a stable ``id`` to branch on, the engine ``kind`` that evaluates
    ``params``, the accelerators it holds for, where it comes from and what it says."""

    __slots__ = ()


RULES = (
    Rule("sve-length-needs-sve", "vector-lengths", BOTH_ACCELS, _QEMU_SVE,
         "A vector length can only be enabled with sve=on (QEMU: 'SVE must be enabled to enable vector lengths').",
         {}),
    Rule("sve-no-length", "vector-lengths", BOTH_ACCELS, _QEMU_SVE,
         "With sve=on at least one vector length stays enabled: disabling the smallest length (or a power-of-two "
         "under TCG, a host-supported one under KVM, that every enabled length sits above) leaves none.",
         {}),
    Rule("sve-length-pow2", "vector-lengths", (names.TCG,), _QEMU_SVE + "; tests/qtest/arm-cpu-features.c",
         "Under TCG an enabled length needs every power-of-two length below it (sve512=on implies sve128, sve256); "
         "disabling one of those while a longer length is enabled is refused.",
         {}),
    Rule("sve-length-host", "vector-lengths", (names.KVM,), _QEMU_SVE,
         "Under KVM an enabled length needs every smaller length the host supports, and only the host's lengths "
         "can be enabled.",
         {}),
    Rule("pauth-impdef-needs-pauth", "requires", (names.TCG,), _QEMU_PAUTH,
         "pauth-impdef=on selects the IMPDEF algorithm of pointer authentication, so it needs pauth=on.",
         {"if": ("pauth-impdef", "on"), "then": ("pauth", "on"), "qemu": "cannot enable pauth-impdef without pauth"}),
    Rule("pauth-qarma3-needs-pauth", "requires", (names.TCG,), _QEMU_PAUTH,
         "pauth-qarma3=on selects the QARMA3 algorithm of pointer authentication (QEMU 8.2 and newer), so it needs "
         "pauth=on.",
         {"if": ("pauth-qarma3", "on"), "then": ("pauth", "on"),
          "qemu": "cannot enable pauth-impdef or pauth-qarma3 without pauth"}),
    Rule("pauth-qarma5-needs-pauth", "requires", (names.TCG,), _QEMU_PAUTH,
         "pauth-qarma5=on selects the QARMA5 algorithm explicitly (QEMU 10.0 and newer), so it needs pauth=on.",
         {"if": ("pauth-qarma5", "on"), "then": ("pauth", "on"),
          "qemu": "cannot enable pauth-impdef, pauth-qarma3 or pauth-qarma5 without pauth"}),
    Rule("pauth-one-algorithm", "at-most-one", (names.TCG,), _QEMU_PAUTH,
         "pauth-impdef, pauth-qarma3 and pauth-qarma5 select different algorithms; at most one can be on.",
         {"names": ALGORITHM_SELECTORS, "value": "on",
          "qemu": "cannot enable pauth-impdef, pauth-qarma3 and pauth-qarma5 at the same time"}),
    Rule("sve-fields-need-sve", "gate", BOTH_ACCELS, _ARM_ID + " ID_AA64PFR0_EL1.SVE, ID_AA64ZFR0_EL1; KVM's SVE vCPU "
         "feature flag gates them",
         "The SVE ID fields describe the SVE the vCPU has: a field showing SVE needs sve=on, a field hiding it "
         "(off) needs sve=off.",
         {"switch": "sve", "fields": {"feat_SVE": ("0", "off"), "hw_prop_SVEver": ("off",),
                                      "SYSREG_ID_AA64PFR0_EL1_SVE": ("0",)}, "absent_needs_off": True}),
    Rule("sve-zfr0-needs-sve", "gate", BOTH_ACCELS, _ARM_ID + " ID_AA64ZFR0_EL1 (its fields read as zero without SVE); "
         "KVM's SVE vCPU feature flag gates it",
         "The ID_AA64ZFR0_EL1 fields describe SVE's optional parts: a non-zero one needs sve=on (0 is a valid "
         "value with SVE, e.g. SVEver 0 is SVE without SVE2).",
         {"switch": "sve", "fields": {name: ("0",) for name in _ZFR0_FIELDS}, "absent_needs_off": False}),
    Rule("pmu-fields-need-pmu", "gate", BOTH_ACCELS, _ARM_ID + " ID_AA64DFR0_EL1.PMUVer; KVM's PMUv3 vCPU feature flag "
         "gates it",
         "PMUVer describes the PMU the vCPU has: a PMU version needs pmu=on, PMUVer off or 0 needs pmu=off.",
         {"switch": "pmu", "fields": {"hw_prop_PMUVer": ("0", "off"), "SYSREG_ID_AA64DFR0_EL1_PMUVer": ("0",)},
          "absent_needs_off": True}),
    Rule("pauth-fields-need-pauth", "gate", BOTH_ACCELS, _ARM_ID + " ID_AA64ISAR1_EL1.APA/API/GPA/GPI, "
         "ID_AA64ISAR2_EL1.APA3/GPA3; KVM's address and generic authentication vCPU flags gate them",
         "The pointer-authentication ID fields describe the algorithm the vCPU has: a present algorithm needs "
         "pauth=on; pauth=off needs every algorithm field off or 0.",
         {"switch": "pauth", "fields": {name: ("0", "off") for name in _PAUTH_FIELDS}, "switch_needs_one": True}),
    Rule("pauth-algorithm-pairs", "algorithm-pairs", BOTH_ACCELS, _ARM_ID + " (FEAT_PACQARMA5: APA and GPA; "
         "FEAT_PACIMP: API and GPI; FEAT_PACQARMA3: APA3 and GPA3)",
         "Pointer authentication uses one algorithm, shown in an address field and a generic field: both present "
         "or both absent, and at most one algorithm.",
         {"pairs": _PAUTH_PAIRS, "absent": ("0", "off")}),
)
RULE_IDS = tuple(rule.id for rule in RULES)
BY_ID = {rule.id: rule for rule in RULES}

# Properties that switch VM behaviour rather than describe the CPU a guest sees: never pinned by a recommendation,
# never a reason for two hosts to differ for a guest. kvm-* are QEMU's KVM-only vCPU knobs (docs/system/arm/
# cpu-features.rst "KVM VCPU Features"): kvm-no-adjvtime (virtual counter while stopped), kvm-steal-time (stolen
# time reporting).
VM_SWITCHES = {
    "kvm-no-adjvtime": "whether the virtual counter counts while the VM is stopped (libvirt <timer name='armvtimer'>)",
    "kvm-steal-time": "whether the guest is told its stolen time (paravirtual interface, not a CPU feature)",
}
_VM_SWITCH_RE = re.compile(r"^kvm-")

_SVE_LENGTH_RE = re.compile(r"^sve([0-9]+)$")
SVE_UNIT = 128          # bits per vector quadword (vq)
ARM_MAX_VQ = 16         # QEMU's ARM_MAX_VQ: sve2048
_POW2 = frozenset((1, 2, 4, 8, 16))


def is_vm_switch(name: str) -> bool:
    """Whether ``name`` is a VM behaviour switch (never part of a CPU contract)."""
    return name in VM_SWITCHES or bool(_VM_SWITCH_RE.match(name))


Broken = collections.namedtuple("Broken", "rule feature value message")
"""One broken rule: the rule id, the property to change, the value the request's state gives it (None: left at the
host's default) and a sentence saying what to change."""


class _View(object):
    """The state a rule sees: explicit values first, then the host's default (None where neither is known)."""

    def __init__(self, explicit: dict[str, str], host_props: props.HostProps) -> None:
        self.explicit = explicit
        self.props = host_props.properties

    def value(self, name: str) -> str | None:
        if name in self.explicit:
            return self.explicit[name]
        prop = self.props.get(name)
        if prop is None:
            return None
        if prop.default is not None:
            return _fold(prop, prop.default)
        if prop.type == props.BOOL_TYPE and len(prop.supported_values) == 1:
            return props.bool_word(prop.supported_values[0])
        return None   # a default the fact does not tell: no rule judges it

    def present(self, name: str, absent: Iterable[str]) -> bool | None:
        """True/False whether the field shows its feature, None when unknown or not reported. Numbers compare as
        numbers (``0x0`` is ``0``)."""
        value = self.value(name)
        if value is None:
            return None
        if value.lower() in absent:
            return False
        try:
            return props.parse_int(value) not in {int(word) for word in absent if word.isdigit()}
        except ValueError:
            return True


def _fold(prop: props.Property, value: str) -> str:
    if prop.type == props.BOOL_TYPE:
        return props.bool_word(value) or value
    return value


def applies(rule: Rule, accel: str | None) -> bool:
    """Whether ``rule`` holds under ``accel`` (an unknown accelerator, as in a mixed baseline, gets every rule)."""
    return accel not in names.ACCELS or accel in rule.accels


def check(settings: dict[str, str], host_props: props.HostProps, accel: str | None) -> list[Broken]:
    """Every broken rule of a request on a host (``props.HostProps``) under ``accel``. ``settings`` is ``{name:
    value}`` of what the request puts on ``-cpu`` in the host's spelling (``validate.cpu_settings``)."""
    view = _View(settings, host_props)
    broken, vector_lengths_done = [], False
    for rule in RULES:
        if not applies(rule, accel):
            continue
        if rule.kind == "vector-lengths":
            # one finalisation names whichever of the vector-length rules breaks
            if vector_lengths_done:
                continue
            vector_lengths_done = True
        broken.extend(_ENGINES[rule.kind](rule, view, accel))
    return broken


# ---- vector lengths ----------------------------------------------------------------------------------------------

def sve_lengths(properties: Iterable[str]) -> dict[int, str]:
    """``{vq: property name}`` of the SVE length properties among ``properties`` (names of a host's properties)."""
    lengths = {}
    for name in properties:
        match = _SVE_LENGTH_RE.match(name)
        if match and int(match.group(1)) % SVE_UNIT == 0 and 0 < int(match.group(1)) // SVE_UNIT <= ARM_MAX_VQ:
            lengths[int(match.group(1)) // SVE_UNIT] = name
    return lengths


def _sve_check(rule: Rule, view: _View, accel: str | None) -> list[Broken]:
    """QEMU's arm_cpu_sve_finalize on the request: which length QEMU would refuse, and why.

    ``supported`` is the set of lengths the CPU can have: every reported length under TCG (model max has all
    sixteen), under KVM those the host lists ``on`` for. Evaluated once for the four vector-length rules; the
    outcome names the rule that breaks. Under an unknown accelerator both variants are tried.
    """
    lengths = sve_lengths(view.props)
    if not lengths:
        return []
    variants = (accel,) if accel in names.ACCELS else BOTH_ACCELS
    for variant in variants:
        outcome = _sve_finalize(view, lengths, variant)
        if outcome is not None:
            return [outcome]
    return []


def _sve_finalize(view: _View, lengths: dict[int, str], accel: str | None) -> Broken | None:
    switch = view.value("sve")
    sve_on = switch != props.OFF
    if accel == names.KVM:
        supported = {vq for vq, name in lengths.items() if view.props[name].allows_on()}
    else:
        supported = set(lengths)
    explicit = {vq: view.explicit[name] for vq, name in lengths.items() if name in view.explicit}
    init = set(explicit)
    vq_map = {vq for vq, value in explicit.items() if value == props.ON}
    implied = supported if accel == names.KVM else _POW2
    if vq_map:
        max_vq = max(vq_map)
        vq_map |= {vq for vq in implied if vq not in init and vq <= max_vq}
    else:
        if not sve_on:
            return None
        below = init & (supported if accel == names.KVM else _POW2)
        first = min(below) if below else ARM_MAX_VQ + 1
        max_vq = first - 1 if first <= ARM_MAX_VQ else ARM_MAX_VQ
        vq_map = {vq for vq in supported if vq not in init and vq <= max_vq}
        if not vq_map:
            name = _length_name(lengths, first)
            return Broken("sve-no-length", name, view.explicit.get(name), (
                "%s=off leaves no SVE vector length enabled (QEMU: cannot disable %s); keep a length on, or set "
                "sve=off to turn SVE off." % (name, name)))
        max_vq = max(vq_map)
    vq_map = {vq for vq in vq_map if vq <= max_vq}
    diff = vq_map ^ {vq for vq in supported if vq <= max_vq}
    top = _length_name(lengths, max_vq)
    if diff:
        vq = max(diff)
        name = _length_name(lengths, vq)
        if vq in vq_map:
            return Broken("sve-length-host", name, view.explicit.get(name), (
                "%s=on is not a vector length this host supports (QEMU: cannot enable %s)." % (name, name)))
        if accel == names.KVM:
            return Broken("sve-length-host", name, view.explicit.get(name), (
                "%s=off is refused while %s=on: under KVM every length the host supports below the longest enabled "
                "one stays on (QEMU: cannot disable %s); enable %s or disable %s." % (name, top, name, name, top)))
        missing = (_POW2 & set(range(1, max_vq + 1))) - vq_map
        if missing:
            name = _length_name(lengths, max(missing))
            return Broken("sve-length-pow2", name, view.explicit.get(name), (
                "%s=off is refused while %s=on: under TCG an enabled length needs every power-of-two length below "
                "it (QEMU: cannot disable %s); enable %s or disable %s." % (name, top, name, name, top)))
    if not sve_on:
        return Broken("sve-length-needs-sve", top, view.explicit.get(top), (
            "%s=on needs sve=on (QEMU: cannot enable %s); set sve=on, or leave the vector lengths out." % (top, top)))
    return None


def _length_name(lengths: dict[int, str], vq: int) -> str:
    return lengths.get(vq, "sve%d" % (vq * SVE_UNIT))


# ---- requires, gate, algorithm pairs -----------------------------------------------------------------------------

def _requires(rule: Rule, view: _View, accel: str | None) -> list[Broken]:
    (name, value), (needed, needed_value) = rule.params["if"], rule.params["then"]
    if name not in view.explicit and needed not in view.explicit:
        return []   # QEMU's own defaults agree with each other
    if view.value(name) != value or name not in view.props or needed not in view.props:
        return []
    have = view.value(needed)
    if have is None or have == needed_value:
        return []
    return [Broken(rule.id, needed, view.explicit.get(needed), "%s=%s needs %s=%s (QEMU: %s); set %s=%s or drop "
                   "%s=%s." % (name, value, needed, needed_value, rule.params["qemu"], needed, needed_value, name,
                               value))]


def _at_most_one(rule: Rule, view: _View, accel: str | None) -> list[Broken]:
    names = [name for name in rule.params["names"] if name in view.props]
    chosen = [name for name in names if view.value(name) == rule.params["value"]]
    if len(chosen) < 2 or not any(name in view.explicit for name in chosen):
        return []
    last = chosen[-1]
    return [Broken(rule.id, last, view.explicit.get(last), "%s are all %s, but at most one can be (QEMU: %s); keep "
                   "one." % (", ".join(chosen), rule.params["value"], rule.params["qemu"]))]


def _gate(rule: Rule, view: _View, accel: str | None) -> list[Broken]:
    switch = rule.params["switch"]
    state = view.value(switch)
    broken = []
    shown = []
    for field, absent in sorted(rule.params["fields"].items()):
        if field not in view.explicit:
            if view.present(field, absent):
                shown.append(field)
            continue
        present = view.present(field, absent)
        value = view.explicit[field]
        if present and state == props.OFF:
            broken.append(Broken(rule.id, field, value, "%s=%s needs %s=on (%s=off hides the feature it describes); "
                                 "set %s=on or give %s 0 or off." % (field, value, switch, switch, switch, field)))
        elif not present and state == props.ON and switch in view.explicit and rule.params.get("absent_needs_off"):
            broken.append(Broken(rule.id, field, value, "%s=%s says the vCPU has no such feature, but %s=on gives "
                                 "it one; set %s=off or leave %s out." % (field, value, switch, switch, field)))
        elif present:
            shown.append(field)
    if rule.params.get("switch_needs_one") and state == props.ON and switch in view.explicit:
        fields = sorted(rule.params["fields"])
        known = [field for field in fields if field in view.props]
        if known and not shown and all(view.present(field, rule.params["fields"][field]) is False for field in known):
            broken.append(Broken(rule.id, switch, props.ON, "%s=on needs an algorithm, but %s are all off or 0; "
                                 "give one algorithm's fields their host values or set %s=off."
                                 % (switch, ", ".join(known), switch)))
    return broken


def _pairs(rule: Rule, view: _View, accel: str | None) -> list[Broken]:
    absent = rule.params["absent"]
    broken, present_pairs = [], []
    for address, generic in rule.params["pairs"]:
        states = [(name, view.present(name, absent)) for name in (address, generic) if name in view.props]
        if len(states) < 2:
            continue
        (a_name, a_on), (g_name, g_on) = states
        if a_on is None or g_on is None:
            continue
        if a_on != g_on and (a_name in view.explicit or g_name in view.explicit):
            odd = g_name if a_on else a_name
            broken.append(Broken(rule.id, odd, view.explicit.get(odd), (
                "%s=%s and %s=%s describe different pointer-authentication algorithms: %s and %s are one "
                "algorithm's two fields, both present or both absent." % (
                    a_name, view.value(a_name), g_name, view.value(g_name), a_name, g_name))))
            continue
        if a_on:
            present_pairs.append((address, generic, a_name in view.explicit or g_name in view.explicit))
    if len(present_pairs) > 1 and any(explicit for *_names, explicit in present_pairs):
        names = ["%s/%s" % (address, generic) for address, generic, _explicit in present_pairs]
        broken.append(Broken(rule.id, present_pairs[-1][0], view.explicit.get(present_pairs[-1][0]), (
            "more than one pointer-authentication algorithm is present (%s); keep one and give the others 0."
            % ", ".join(names))))
    return broken


_ENGINES = {"vector-lengths": _sve_check, "requires": _requires, "at-most-one": _at_most_one, "gate": _gate,
            "algorithm-pairs": _pairs}


# ---- values possible only together --------------------------------------------------------------------------------

def companions(name: str, value: str, properties: Iterable[str]) -> dict[tuple[str, str], str]:
    """Settings of other properties under which ``name=value`` may be possible although it is refused alone, as
    ``{(other, other_value): rule id}``, for the probe to try (``properties``: the names a host reports). The probe
    flips booleans only, and the one boolean relation that makes a refused value possible is a vector length with
    its switch off: that is how ``sve128=off`` is possible with ``sve=off``."""
    if value == props.OFF and name in sve_lengths(properties).values() and "sve" in properties:
        return {("sve", props.OFF): "sve-no-length"}
    return {}
