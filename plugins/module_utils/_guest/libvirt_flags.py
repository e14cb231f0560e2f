# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

libvirt's own ``-cpu`` for a domain, and the ``<qemu:commandline>`` override that keeps it.

Why: under delivery ``qemu-commandline`` the ``-cpu`` in ``<qemu:commandline>`` carries the full request, and QEMU
takes the last ``-cpu`` as a whole. Taken whole, it would drop what libvirt puts on its own ``-cpu`` for the domain
(``pmu=off`` from ``<features><pmu state='off'/>``, ``kvm-no-adjvtime`` from the ``armvtimer`` timer, ``sve=on`` for
vector lengths...), so the override is the request merged with those flags (:func:`libvirt_cpu_flags`,
:func:`merge_cpu_arg`, :func:`commandline_override`), the request winning where both set a property. The role (new
guests, ``plugin_utils.domains``) and ``domain_cpu`` (existing ones, ``domain_edit``) both write it; ``domain_cpu_info``
reports what an override loses (:func:`override_lost_flags`, :func:`running_lost_flags`).

Standard library only (ElementTree): it runs on hypervisors.
"""

from __future__ import annotations

from xml.etree import ElementTree
from typing import TYPE_CHECKING, Iterable, Sequence, cast

from ansible_collections.armvirt.cpu.plugins.module_utils._common.names import CPU_MODELS, CUSTOM, QEMU_COMMANDLINE
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import domain_xml, validate

if TYPE_CHECKING:   # the plan's type only: the flags never plan
    from ansible_collections.armvirt.cpu.plugins.module_utils._guest import delivery

# libvirt builds its -cpu for an aarch64 domain (qemuBuildCpuCommandLine) as: the model, then the <cpu> features,
# then the timers, the Hyper-V and KVM feature flags and the PMU. Each entry below was measured on Debian's libvirt
# 9.0 with `virsh domxml-to-native qemu-argv` (tests/integration/test_domain_cpu.py checks them against it), except
# the armvtimer timer, which libvirt accepts only for KVM domains (libvirt's own test data,
# tests/qemuxml2argvdata/clock-timer-armvtimer: tickpolicy discard gives host,kvm-no-adjvtime=on).
# libvirt emits the x86 names (kvm=off, kvmclock=off, tsc-frequency) for aarch64 domains too, and QEMU then refuses
# to start the guest ("can't apply global max-arm-cpu.kvm=off: Property ... not found"); an override that dropped
# them would hide that from the domain's owner, so they are kept like the others. <features><hyperv> is refused
# instead (commandline_override): its hv-* flags are what libvirt versions disagree on (9.0 puts hv-passthrough=on
# and each child that is on, 11.3 only hv-passthrough=on), and none has a meaning for QEMU's Arm CPU.
# <kvm> children in libvirt's order: (child, the state that emits, the flag)
_KVM = (("hidden", "on", ("kvm", "off")), ("hint-dedicated", "on", ("kvm-hint-dedicated", "on")),
        ("poll-control", "on", ("kvm-poll-control", "on")), ("pv-ipi", "off", ("kvm-pv-ipi", "off")))
_ARMVTIMER = {"delay": "off", "discard": "on"}   # tickpolicy -> kvm-no-adjvtime
_FEATURE_VALUE = dict([(policy, "on") for policy in validate.ON_POLICIES] +
                      [(policy, "off") for policy in validate.OFF_POLICIES])


def _root(domain: str | ElementTree.Element) -> ElementTree.Element:
    return domain if ElementTree.iselement(domain) else domain_xml.parse(cast(str, domain))


def _state(element: ElementTree.Element | None) -> str:
    return (element.get("state") or "").strip() if element is not None else ""


def libvirt_cpu_model(domain: str | ElementTree.Element) -> str | None:
    """The model libvirt starts a ``-cpu`` with for ``domain`` (XML text or its root element): ``host`` for
    host-passthrough, ``max`` for maximum, the ``<model>`` for custom; None without ``<cpu>`` or model (libvirt then
    fills in the machine's default, cortex-a15 for TCG virt, which only its capabilities know)."""
    cpu = _root(domain).find("cpu")
    if cpu is None:
        return None
    mode = cpu.get("mode", CUSTOM)
    if mode in CPU_MODELS:
        return CPU_MODELS[mode]
    model = cpu.find("model")
    return ((model.text or "").strip() or None) if model is not None else None


def libvirt_cpu_flags(domain: str | ElementTree.Element) -> list[tuple[str, str]]:
    """The properties libvirt (9.0 to 11.3) itself puts after the model on its ``-cpu`` for ``domain`` (XML text or
    root element), as ``[(name, value)]`` in libvirt's order, ``<features><hyperv>`` aside (:func:`hyperv_refusal`):

    - ``<cpu>`` features in document order: force/require ``name=on``, disable/forbid ``name=off``, optional none;
      ``sve=on`` after them when an ``sveN`` feature is there (any policy) and ``sve`` is not (libvirt adds the
      feature itself);
    - ``<clock>`` timers in document order: ``armvtimer`` tickpolicy delay/discard as ``kvm-no-adjvtime=off/on``,
      ``kvmclock`` present yes/no as ``kvmclock=on/off``, ``tsc`` frequency as ``tsc-frequency``;
    - ``<features><kvm>``: hidden on as ``kvm=off``, hint-dedicated and poll-control on, pv-ipi off;
    - ``<features><pmu state/>`` as ``pmu=on/off``.

    It reads ``<qemu:commandline>`` never: this is what libvirt writes before an override.
    """
    root = _root(domain)
    flags = []
    cpu = root.find("cpu")
    if cpu is not None and (cpu.get("mode", CUSTOM) != CUSTOM or cpu.find("model") is not None):
        names = []
        for feature in cpu.findall("feature"):
            name = feature.get("name")
            value = _FEATURE_VALUE.get(feature.get("policy", validate.DEFAULT_POLICY))
            names.append(name)
            if name and value:
                flags.append((name, value))
        if domain_xml.libvirt_adds_sve(names):
            flags.append(("sve", "on"))
    for timer in root.findall("clock/timer"):
        name = timer.get("name")
        if name == "armvtimer" and timer.get("tickpolicy") in _ARMVTIMER:
            flags.append(("kvm-no-adjvtime", _ARMVTIMER[cast(str, timer.get("tickpolicy"))]))
        elif name == "kvmclock" and timer.get("present") in ("yes", "no"):   # yes is refused for aarch64
            flags.append(("kvmclock", "on" if timer.get("present") == "yes" else "off"))
        elif name == "tsc" and (timer.get("frequency") or "0").isdigit() and int(timer.get("frequency") or 0) > 0:
            flags.append(("tsc-frequency", str(int(cast(str, timer.get("frequency"))))))
    kvm = root.find("features/kvm")
    if kvm is not None:
        for child, state, flag in _KVM:
            if _state(kvm.find(child)) == state:
                flags.append(flag)
    pmu = _state(root.find("features/pmu"))
    if pmu in ("on", "off"):
        flags.append(("pmu", pmu))
    return flags


def libvirt_cpu_arg(domain: str | ElementTree.Element) -> str | None:
    """libvirt's own ``-cpu`` value for ``domain`` (model and :func:`libvirt_cpu_flags`); None when the model is
    libvirt's default (no ``<cpu>``), which only its capabilities know."""
    model = libvirt_cpu_model(domain)
    return None if model is None else validate.join_cpu_arg(model, libvirt_cpu_flags(domain))


def merge_cpu_arg(request_arg: str, flags: Iterable[tuple[str, str]]) -> str:
    """The override: the request's ``-cpu`` as it is (model and properties, in its order), then each of libvirt's
    ``flags`` (``[(name, value)]``, :func:`libvirt_cpu_flags`) whose property the request does not set, in
    libvirt's order. The request wins where both set a property; the result is the same for the same inputs."""
    model, requested = validate.split_cpu_arg(request_arg)
    names = {name for name, _value in requested}
    kept: list[tuple[str, str | None]] = []
    for name, value in flags:
        if name not in names:
            names.add(name)
            kept.append((name, value))
    return validate.join_cpu_arg(model, requested + kept)


def hyperv_refusal(domain: str | ElementTree.Element, name: str = "domain") -> str | None:
    """Why an override cannot be written for ``domain`` (XML text or root) when it has ``<features><hyperv>``, or
    None. Hyper-V enlightenments are x86 properties: libvirt still puts them on an aarch64 guest's ``-cpu`` as
    ``hv-*``, and QEMU's Arm CPU has none of them, so the guest cannot start with or without an override. Which
    ``hv-*`` libvirt writes also depends on its version, so an override could not even keep them faithfully."""
    hyperv = _root(domain).find("features/hyperv")
    if hyperv is None:
        return None
    return ("%s: the domain has <features><hyperv>, Hyper-V enlightenments, which QEMU's Arm CPU does not have: "
            "libvirt puts them on the guest's -cpu as hv-* properties and QEMU refuses to start it (\"can't apply "
            "global max-arm-cpu.hv-passthrough=on: Property 'max-arm-cpu.hv-passthrough' not found\", or the same "
            "for another hv-* property). Remove <hyperv> from "
            "the domain's <features>; nothing is written for it until then." % name)


def commandline_override(domain: str | ElementTree.Element, request_arg: str, name: str = "domain") -> str:
    """The ``-cpu`` value ``<qemu:commandline>`` carries for ``request_arg`` in ``domain`` (XML text or root, with
    the ``<cpu>`` the request gives it): :func:`merge_cpu_arg` of the request and :func:`libvirt_cpu_flags`. The
    role (new guests) and ``domain_cpu`` (existing ones) both write this.

    Each flag is copied from the domain's XML onto QEMU's command line, so each name and value must be a plain
    token (``validate.is_token``): ``<timer name='tsc' frequency='1,sve=on'/>`` would add an option of its own.
    ``domain_xml.DeliveryError`` naming ``name`` (the domain) otherwise, and for a domain with
    ``<features><hyperv>``."""
    refusal = hyperv_refusal(domain, name)
    if refusal:
        raise domain_xml.DeliveryError(refusal)
    flags = libvirt_cpu_flags(domain)
    bad = ["%s=%s" % flag for flag in flags if not (validate.is_token(flag[0]) and validate.is_token(flag[1]))]
    if bad:
        raise domain_xml.DeliveryError(
            "%s: the domain's XML gives %s for libvirt's own -cpu, which the -cpu override would copy; each name "
            "and value must be a plain token (letters, digits, '.', '_', '-'), or it adds options of its own to "
            "QEMU's -cpu. Correct the domain's <features>/<clock>/<cpu>." % (name, ", ".join(repr(b) for b in bad)))
    return merge_cpu_arg(request_arg, flags)


def lost_flags(flags: Iterable[tuple[str, str | None]], override_arg: str | None,
               requested_arg: str | None = None) -> list[str]:
    """Which of libvirt's ``flags`` (``[(name, value)]``) the ``-cpu`` value ``override_arg`` loses: it lacks the
    property, or sets it to another value while ``requested_arg`` (the request the override was written for, if
    known) does not set it. ``["name=value"]`` with libvirt's values, in libvirt's order."""
    given = dict(validate.split_cpu_arg(override_arg)[1])
    asked = {name for name, _value in validate.split_cpu_arg(requested_arg)[1]} if requested_arg else set()
    lost = []
    for name, value in flags:
        if name in asked:
            continue
        if name not in given or (given[name] if given[name] is not None else "on") != value:
            lost.append("%s=%s" % (name, value))
    return lost


def override_lost_flags(domain: str | ElementTree.Element) -> list[str] | None:
    """For a domain whose ``<qemu:commandline>`` has a ``-cpu`` override: the flags libvirt would put on its own
    ``-cpu`` (:func:`libvirt_cpu_flags` of the domain) that the last override loses (:func:`lost_flags`), the
    properties of the request armvirt.cpu recorded for that override excepted. None without an override."""
    root = _root(domain)
    pairs = domain_xml.cpu_arg_pairs(root)
    if not pairs:
        return None
    override = pairs[-1][1]
    requested = domain_xml.marked_request_arg(root) if domain_xml.marked_arg(root) == override else None
    return lost_flags(libvirt_cpu_flags(root), override, requested)


def running_lost_flags(argv: Sequence[str], domain: str | ElementTree.Element) -> list[str] | None:
    """The same for a QEMU command line ``argv`` (a list) started from ``domain`` (its live XML): libvirt's own
    ``-cpu`` is the first on the command line, the ``<qemu:commandline>`` pairs come after it, QEMU took the last.
    None when the command line has no ``-cpu`` besides the overrides (nothing of libvirt's to lose)."""
    root = _root(domain)
    values = [argv[index + 1] for index in range(len(argv) - 1) if argv[index] in domain_xml.CPU_OPTIONS]
    pairs = domain_xml.cpu_arg_pairs(root)
    if not pairs or len(values) <= len(pairs):
        return None
    override = values[-1]
    requested = domain_xml.marked_request_arg(root) if domain_xml.marked_arg(root) == override else None
    return lost_flags(validate.split_cpu_arg(values[0])[1], override, requested)


def effective_cpu_arg(xml_text: str, request: delivery.Plan) -> str | None:
    """The ``-cpu`` value a domain edited for ``request`` (``domain_edit.edit_domain``) gives QEMU as far as this
    collection decides it: the override in ``<qemu:commandline>`` for qemu-commandline, the request's value
    otherwise."""
    if request.delivery == QEMU_COMMANDLINE:
        pairs = domain_xml.cpu_arg_pairs(domain_xml.parse(xml_text))
        if pairs:
            return pairs[-1][1]
    return request.arg


def last_cpu_arg(argv: Sequence[str]) -> str | None:
    """The ``-cpu`` value QEMU uses from a command line (a list): the last one, since QEMU takes it as a whole."""
    found = None
    for index, arg in enumerate(argv[:-1]):
        if arg in domain_xml.CPU_OPTIONS:
            found = argv[index + 1]
    return found
