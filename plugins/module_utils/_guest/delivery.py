# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

How a validated guest CPU request reaches libvirt and QEMU: one implementation for new and existing guests.

Why this exists: the role renders new guests from a template on the controller (``plugin_utils.domains``) and
``armvirt.cpu.domain_cpu`` rewrites the ``<cpu>`` of guests libvirt already has, on the hypervisor. Both must agree on
which features go into ``<cpu>`` for each delivery, how a boolean value becomes a policy (``off`` is ``disable``),
what ``<qemu:commandline>`` carries and the ``-cpu`` argument, or a guest written by one would be "changed" by the
other. So that planning lives here, once; validation itself stays in ``validate.py``.

Deliveries:

- ``feature-value``: every feature into ``<cpu>`` as ``<feature policy name value/>`` (libvirt's RFC). With
  ``libvirt_check`` it is refused where this libvirt would misread it (:class:`LibvirtView`).
- ``qemu-commandline``: ``<cpu>`` keeps only names libvirt's CPU map knows, without values, and
  ``<qemu:commandline>`` gets ``-cpu`` with the full validated value, since QEMU takes the last ``-cpu`` as a whole.
  Taken whole, it would drop what libvirt puts on its own ``-cpu`` for the domain (``pmu=off`` from
  ``<features><pmu state='off'/>``, ``kvm-no-adjvtime`` from the ``armvtimer`` timer, ``sve=on`` for vector
  lengths...), so the override is the request merged with those flags (:func:`libvirt_cpu_flags`,
  :func:`merge_cpu_arg`, :func:`commandline_override`), the request winning where both set a property.

Standard library only (ElementTree): it runs on hypervisors.
"""

from __future__ import annotations

import copy
import io
import re
from xml.etree import ElementTree
from xml.sax.saxutils import escape
from collections.abc import Mapping, Sequence

from ansible_collections.armvirt.cpu.plugins.module_utils._host import props as propmodel
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate, xml_splice

FEATURE_VALUE, QEMU_COMMANDLINE = "feature-value", "qemu-commandline"
DELIVERIES = (FEATURE_VALUE, QEMU_COMMANDLINE)
CUSTOM = "custom"
MODES = tuple(validate.CPU_MODELS) + (CUSTOM,)
QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
# Our mark in <metadata>: which -cpu pair in <qemu:commandline> armvirt.cpu wrote, so that the next run replaces
# exactly that pair and leaves a -cpu someone else wrote to a decision of the user (libvirt keeps namespaced metadata).
MARK_NS = "https://armvirt.invalid/xmlns/domain-cpu/1.0"
MARK_PREFIX = "armvirtcpu"
CPU_OPTIONS = ("-cpu", "--cpu")
KEPT_CPU_CHILDREN_DROPPED = ("model", "vendor", "feature")   # what a request sets; topology, numa, cache... stay
MEASURED = ("measured on libvirt 9.0: <feature policy='require' name='sve128' value='off'/> started QEMU with "
            "sve128=on, the opposite of the request")

_SVE_LENGTH_RE = re.compile(r"sve[0-9]+")


class DeliveryError(Exception):
    """The domain cannot take the request as it stands (a foreign ``-cpu`` override, unreadable XML)."""


def _natural(name):
    return [int(part) if part.isdigit() else part for part in re.split(r"([0-9]+)", name)]


class LibvirtView(object):
    """The ``libvirt_cpu`` fact as the guest side needs it, and the refusals ``libvirt_check`` makes.

    ``notes`` collects sentences for the result (check skipped, daemon not restarted); ``missing`` is the error
    record when the check is on but there is no fact to check against.
    """

    def __init__(self, fact, check, host, delivery):
        self.check, self.host, self.delivery = check, host, delivery
        self.fact = fact if isinstance(fact, Mapping) else None
        known = self.fact.get("cpu_map_features") if self.fact else None
        self.known = frozenset(known) if isinstance(known, Sequence) and not isinstance(known, str) else None
        self.value_ok = bool(self.fact and self.fact.get("feature_value_supported"))
        self.version = (self.fact or {}).get("version") or "of unknown version"
        self.missing = None
        self.notes = []
        self.status = None
        if not check:
            self.status = "skipped (libvirt_check: false)"
            self.notes.append("libvirt_check is false: the XML was not checked against this host's libvirt; an "
                              "unpatched libvirt drops feature values silently (%s) and refuses names outside "
                              "its CPU map at start." % MEASURED)
        elif self.fact is None:
            self.missing = validate.FeatureError(
                host, None, None, [], "libvirt-facts-missing", "%s: libvirt_check needs the host's libvirt_cpu fact "
                "(run armvirt.cpu.libvirt_facts first, as the role does, or pass libvirt), or set libvirt_check: "
                "false to write without the check." % host)
        else:
            self.status = "performed (libvirt %s)" % self.version
        if self.fact and self.fact.get("version_mismatch"):
            self.notes.append("%s: libvirt's daemon runs %s but %s is installed; it was not restarted after an "
                              "upgrade, so it may not accept what its files describe." % (
                                  host, self.fact.get("daemon_version"), self.fact.get("version")))

    def refusals(self, features):
        """FeatureErrors for what this libvirt would misread (feature-value delivery with the check on)."""
        if not self.check or self.fact is None or self.delivery != FEATURE_VALUE:
            return []
        errors, known = [], self.known or frozenset()
        shown = ", ".join(sorted(known, key=_natural)) or "none"
        for feature in features:
            name, value = feature["name"], feature.get("value")
            if value is not None and not self.value_ok:
                errors.append(validate.FeatureError(
                    self.host, name, value, [], "libvirt-drops-value",
                    "%s: %s=%s needs <feature value=...> (libvirt's RFC), which libvirt %s here lacks: it would "
                    "accept the XML, drop value and keep %s as a boolean (%s). Use delivery qemu-commandline, a "
                    "libvirt with the RFC, or libvirt_check: false." % (self.host, name, value, self.version, name,
                                                                        MEASURED)))
            if name not in known:
                errors.append(validate.FeatureError(
                    self.host, name, value, sorted(known, key=_natural), "libvirt-unknown-feature",
                    "%s: libvirt %s here does not know the CPU feature %s (its Arm CPU map lists: %s) and would "
                    "refuse the guest at start with \"unknown CPU feature: %s\". Use delivery qemu-commandline, a "
                    "libvirt whose CPU map has it, or libvirt_check: false." % (self.host, self.version, name, shown,
                                                                                name)))
        return errors

    def commandline_cpu_features(self, features):
        """What <cpu> keeps under qemu-commandline: names libvirt's CPU map knows, without values.

        A boolean value becomes the policy that means it (off: disable), other values stay on -cpu only: writing a
        valued feature valueless would silently turn it into ``name=on``. Without the map nothing is kept, since
        libvirt refuses unknown names at start; the -cpu override carries every feature anyway.
        """
        kept = []
        for feature in features:
            if self.known is None or feature["name"] not in self.known:
                continue
            if "value" not in feature:
                kept.append(feature)
                continue
            word = propmodel.bool_word(feature["value"])
            if word == propmodel.ON:
                kept.append({"name": feature["name"], "policy": feature["policy"]})
            elif word == propmodel.OFF:
                kept.append({"name": feature["name"], "policy": "disable"})
        return kept


class Plan(object):
    """One request decided for one delivery: ``errors`` (FeatureErrors; nothing else is set then), else the ``-cpu``
    value ``arg``, the ``cpu_features`` for ``<cpu>``, the ``commandline`` arguments and the mode/model."""

    __slots__ = ("errors", "arg", "cpu_features", "commandline", "mode", "model", "delivery")

    def __init__(self, errors, arg=None, cpu_features=(), commandline=(), mode=None, model=None, delivery=None):
        self.errors, self.arg, self.cpu_features, self.commandline = errors, arg, list(cpu_features), list(commandline)
        self.mode, self.model, self.delivery = mode, model, delivery


def cpu_arg(features, mode, model=None, host="request"):
    """The ``-cpu`` value for already validated ``features``: ``validate.qemu_cpu_arg`` for host-passthrough and
    maximum; for ``custom`` the libvirt model name stands where ``max`` would (QEMU's model of the same name).
    Raises ``validate.FeatureRequestError``."""
    if mode != CUSTOM:
        return validate.qemu_cpu_arg(features, mode, host=host)
    if not validate.is_token(model):
        raise validate.FeatureRequestError([validate.FeatureError(
            host, None, None, [], "unknown-mode", "%s: CPU mode custom needs a model, a plain token such as "
            "cortex-a57 (letters, digits, '.', '_', '-'), not %r." % (host, model))])
    return model + validate.qemu_cpu_arg(features, "maximum", host=host)[len("max"):]


def plan(features, props, mode, host, libvirt_view, model=None, own=None):
    """Validate ``features`` against ``props`` (``validate.check_features``), apply ``libvirt_view``'s refusals, and
    decide the ``-cpu`` value and what ``<cpu>`` carries for ``libvirt_view.delivery``. ``props`` None checks only
    shape, policies and tokens (values then go through as written).

    ``own`` is the host's own ``arm_cpu_props``, used when ``props`` is a fleet or class baseline: a baseline speaks
    canonical fields, and the host's QEMU its own dialect, so the request that passed the baseline is translated into
    the host's names (and checked against its own fact once more) before the ``-cpu`` and ``<cpu>`` are decided."""
    if props is None:
        normalised, errors = validate.check_shape(features, host)
    else:
        normalised, errors = validate.check_features(features, props, host)
    judge = own if own is not None and validate.is_baseline(props) else props
    if not errors and judge is not props:
        normalised, errors = validate.check_features(normalised, own, host)
    if props is not None and mode == CUSTOM:
        # the model first (on the host's own fact: a baseline lists no models); what it says of the features only
        # once they pass on their own
        errors = [error for error in validate.check_model(model, normalised, judge, host)
                  if not errors or error.rule == "model-not-offered"] + errors
    if errors:
        return Plan(errors)
    refusals = libvirt_view.refusals(normalised)
    if refusals:
        return Plan(refusals)
    try:
        # normalised is already checked against the host and in its spelling; this adds the mode
        arg = cpu_arg(normalised, mode, model, host)
    except validate.FeatureRequestError as exc:
        return Plan(exc.errors)
    if libvirt_view.delivery == QEMU_COMMANDLINE:
        return Plan([], arg, libvirt_view.commandline_cpu_features(normalised), ["-cpu", arg], mode, model,
                    QEMU_COMMANDLINE)
    return Plan([], arg, normalised, [], mode, model, FEATURE_VALUE)


# --- existing domains: libvirt's XML edited in place ------------------------------------------------------------

def parse(xml_text):
    """The domain's root element; registers the document's namespace prefixes so that serialising keeps them
    (ElementTree would write ns0: and libvirt would store a different document). Raises DeliveryError."""
    try:
        for event in ElementTree.iterparse(io.StringIO(xml_text), events=("start-ns",)):
            prefix, uri = event[1]
            if prefix and not prefix.startswith("ns"):
                ElementTree.register_namespace(prefix, uri)
        root = ElementTree.fromstring(xml_text)
    except ElementTree.ParseError as exc:
        raise DeliveryError("the domain XML cannot be parsed: %s" % exc)
    if root.tag != "domain":
        raise DeliveryError("the XML is a <%s>, not a libvirt <domain>" % root.tag)
    return root


def serialise(element):
    ElementTree.register_namespace("qemu", QEMU_NS)
    ElementTree.register_namespace(MARK_PREFIX, MARK_NS)
    return ElementTree.tostring(element, encoding="unicode")


def _q(ns, tag):
    return "{%s}%s" % (ns, tag)


def cpu_arg_pairs(root):
    """``[(index, value)]`` of each ``-cpu VALUE`` pair in the domain's ``<qemu:commandline>``, in order."""
    commandline = root.find(_q(QEMU_NS, "commandline"))
    if commandline is None:
        return []
    args = [arg.get("value") for arg in commandline.findall(_q(QEMU_NS, "arg"))]
    pairs, index = [], 0
    while index < len(args) - 1:   # as QEMU reads its arguments: a value is never an option too (-cpu -cpu max)
        if args[index] in CPU_OPTIONS:
            pairs.append((index, args[index + 1]))
            index += 2
        else:
            index += 1
    return pairs


def marked_arg(root):
    """The ``-cpu`` value armvirt.cpu recorded in the domain's metadata as its own, or None."""
    mark = root.find("metadata/" + _q(MARK_NS, "cpu"))
    return mark.get("qemu-cpu-arg") if mark is not None else None


def edit_domain(xml_text, request, unmarked="fail", name="domain"):
    """The domain XML with ``<cpu>`` set to ``request`` (a :class:`Plan`) and everything else kept.

    In ``<cpu>``: mode (and model for custom) and features are replaced; other children (topology, numa, cache,
    maxphysaddr) stay, and so do ``check``/``migratable``/``match`` when the mode does not change (libvirt derives
    them from the mode otherwise). In ``<qemu:commandline>``: the ``-cpu`` pair armvirt.cpu wrote (recorded in
    ``<metadata>``) goes, the new one is appended for qemu-commandline (the request merged with what libvirt puts
    on its own ``-cpu`` for the edited domain, :func:`commandline_override`; the mark records both), other arguments
    stay. A ``-cpu`` pair not written by armvirt.cpu overrides whatever is set here, so ``unmarked='fail'`` refuses
    (DeliveryError) and ``'replace'`` removes it.

    Only those elements are written (:class:`xml_splice.Splice`): every other byte of ``xml_text`` stays, so
    comments, processing instructions and namespace prefixes in ``<metadata>`` are kept as libvirt keeps them.
    """
    root = parse(xml_text)
    try:
        splice = xml_splice.Splice(xml_text)
    except xml_splice.SpliceError as exc:
        raise DeliveryError("the domain XML cannot be parsed: %s" % exc)
    new = cpu_element(request.mode, request.cpu_features, request.model)
    cpu = root.find("cpu")
    if cpu is None:
        root.append(new)
        splice.append(splice.root, [_element_text(new)])
    else:
        _replace_cpu(cpu, new, request)
        splice.replace(_node(splice.root, root, cpu), _element_text(cpu))
    _set_commandline(root, splice, request, unmarked, name)
    try:
        return splice.text()
    except xml_splice.SpliceError as exc:
        raise DeliveryError("%s: the domain XML cannot be edited: %s" % (name, exc))


def _node(node, parent, element):
    """The :class:`xml_splice.Node` of ``element``, a child of ``parent`` whose node is ``node`` (ElementTree keeps
    only elements, so the n-th child element is the n-th child node)."""
    return node.children[list(parent).index(element)]


def _element_text(element):
    """``element`` alone as XML text, children indented; ElementTree declares on it whatever namespace it uses."""
    element = copy.deepcopy(element)
    _indent(element)
    element.tail = None
    return serialise(element)


def _replace_cpu(cpu, new, request):
    """``cpu`` (the domain's) made ``new`` (:func:`cpu_element`), keeping what the request does not set."""
    old_mode, old_attrs = cpu.get("mode", CUSTOM), dict(cpu.attrib)
    old_model = cpu.find("model")
    kept = [child for child in cpu if child.tag not in KEPT_CPU_CHILDREN_DROPPED]
    text, tail = cpu.text, cpu.tail
    cpu.clear()
    cpu.text, cpu.tail = text, tail
    cpu.attrib.update(new.attrib)
    if old_mode == request.mode:
        for attribute in ("match", "check", "migratable"):
            if attribute in old_attrs:
                cpu.set(attribute, old_attrs[attribute])
    model = new.find("model")
    if model is not None:
        if old_model is not None and (old_model.text or "").strip() == request.model:
            model.attrib.update(old_model.attrib)
        cpu.append(model)
    cpu.extend(kept)
    cpu.extend(new.findall("feature"))


def cpu_element(mode, features, model=None):
    """The ``<cpu>`` this collection writes for a planned request (:attr:`Plan.cpu_features`): ``mode``, for custom
    ``match='exact'`` and ``<model fallback='forbid'>``, then ``<feature policy name [value]>`` per feature in order.
    The one writer of ``<cpu>``:
    :func:`edit_domain` puts it into a domain libvirt has, the role's template writes it as :func:`libvirt_text`
    (``plugin_utils.domains``' ``cpu_element`` filter)."""
    cpu = ElementTree.Element("cpu", mode=mode)
    if mode == CUSTOM:
        # exactly the named model, never a fallback to another one libvirt thinks is close (libvirt's own form of a
        # named model: <cpu mode='custom' match='exact'><model fallback='forbid'>)
        cpu.set("match", "exact")
        ElementTree.SubElement(cpu, "model", fallback="forbid").text = model
    for feature in features:
        element = ElementTree.SubElement(cpu, "feature", policy=feature["policy"], name=feature["name"])
        if "value" in feature:
            element.set("value", feature["value"])
    return cpu


def libvirt_text(element, indent="  ", level=0):
    """``element`` written as libvirt writes its XML: single-quoted attributes, an empty element closed with ``/>``,
    each child on a line of its own ``indent`` deeper; no newline after the last line."""
    pad = indent * level
    attributes = "".join(" %s='%s'" % (name, escape(value, {"'": "&apos;", '"': "&quot;"}))
                         for name, value in element.attrib.items())
    children = list(element)
    if children:
        inner = "\n".join(libvirt_text(child, indent, level + 1) for child in children)
        return "%s<%s%s>\n%s\n%s</%s>" % (pad, element.tag, attributes, inner, pad, element.tag)
    if element.text:
        return "%s<%s%s>%s</%s>" % (pad, element.tag, attributes, escape(element.text), element.tag)
    return "%s<%s%s/>" % (pad, element.tag, attributes)


def _set_commandline(root, splice, request, unmarked, name):
    """The ``-cpu`` pair in ``<qemu:commandline>`` and armvirt.cpu's mark in ``<metadata>`` for ``request``
    (:func:`edit_domain`), recorded in ``splice``; ``root`` has the edited ``<cpu>``."""
    commandline = root.find(_q(QEMU_NS, "commandline"))
    ours = marked_arg(root)
    dropped = []
    for index, value in cpu_arg_pairs(root):
        if value != ours and unmarked != "replace":
            raise DeliveryError(
                "%s: <qemu:commandline> has -cpu %s, which armvirt.cpu did not write; QEMU takes the last -cpu "
                "as a whole, so it would override the requested CPU. Remove it, or set unmarked_cpu_arg: "
                "replace to let this module replace it." % (name, value))
        dropped += [index, index + 1]
    override = commandline_override(root, request.arg, name) if request.commandline else None
    values = request.commandline[:-1] + [override] if request.commandline else []
    if commandline is not None:
        node = _node(splice.root, root, commandline)
        if not values and len(dropped) == len(commandline):
            splice.remove(node)
        else:
            # cpu_arg_pairs counts <qemu:arg> elements only; <qemu:env> may stand among them
            args = [child for child, element in zip(node.children, commandline) if element.tag == _q(QEMU_NS, "arg")]
            for index in dropped:
                splice.remove(args[index])
            prefix = node.qname.partition(b":")[0].decode("utf-8") + ":" if b":" in node.qname else ""
            splice.append(node, [_element_text(ElementTree.Element(prefix + "arg", value=value)) for value in values])
    elif values:
        new = ElementTree.Element(_q(QEMU_NS, "commandline"))
        for value in values:
            ElementTree.SubElement(new, _q(QEMU_NS, "arg"), value=value)
        splice.append(splice.root, [_element_text(new)])
    _set_mark(root, splice, request, override)


def _set_mark(root, splice, request, override):
    """armvirt.cpu's mark in ``<metadata>``: the old one goes, a new one records a qemu-commandline override; a
    ``<metadata>`` that held only the old mark goes with it."""
    mark = None
    if request.commandline:
        mark = ElementTree.Element(_q(MARK_NS, "cpu"), {
            "delivery": request.delivery, "qemu-cpu-arg": override, "request-cpu-arg": request.arg})
    metadata = root.find("metadata")
    if metadata is None:
        if mark is not None:   # the mark declares its namespace itself, as when it is added to a <metadata>
            splice.append(splice.root, ["<metadata>\n  %s\n</metadata>" % _element_text(mark)])
        return
    node = _node(splice.root, root, metadata)
    old = metadata.find(_q(MARK_NS, "cpu"))
    if old is not None:
        old_node = _node(node, metadata, old)
        if mark is None and splice.only_child(node, old_node):
            splice.remove(node)
            return
        splice.remove(old_node)
    if mark is not None:
        splice.append(node, [_element_text(mark)])


def signature(xml_text):
    """What decides the guest's CPU in a domain XML, comparable across libvirt's normalisation.

    ``(mode, model, features, cpu_args)``: features as a sorted set of ``(name, policy, value)``, with the ``sve``
    that libvirt adds by itself for a vector length feature, whatever its policy (measured on 9.0: require, optional,
    disable and forbid alike), added where missing; the ``-cpu``
    values of ``<qemu:commandline>`` in order. Attributes libvirt derives (``check``, ``migratable``, ``match``)
    and ``<cpu>`` children this collection never sets (topology, numa) are left out. Check mode predicts
    ``changed`` by comparing this before and after the edit, since only a real define shows libvirt's own form.
    """
    root = parse(xml_text)
    cpu = root.find("cpu")
    if cpu is None:
        return (None, None, (), tuple(pair[1] for pair in cpu_arg_pairs(root)))
    model = cpu.find("model")
    features = {}
    for feature in cpu.findall("feature"):
        features[feature.get("name")] = (feature.get("policy", validate.DEFAULT_POLICY), feature.get("value"))
    if "sve" not in features and any(_SVE_LENGTH_RE.fullmatch(name or "") for name in features):
        features["sve"] = ("require", None)
    return (cpu.get("mode", CUSTOM), (model.text or "").strip() if model is not None else None,
            tuple(sorted((name, policy, value or "") for name, (policy, value) in features.items())),
            tuple(pair[1] for pair in cpu_arg_pairs(root)))


def _indent(element, level=0):
    """``ElementTree.indent(element, "  ")``, which Python 3.8 (a managed-node Python) lacks."""
    children = list(element)
    if not children:
        return
    inner = "\n" + "  " * (level + 1)
    if not (element.text or "").strip():
        element.text = inner
    for child in children:
        _indent(child, level + 1)
        if not (child.tail or "").strip():
            child.tail = inner
    if not (children[-1].tail or "").strip():
        children[-1].tail = "\n" + "  " * level


def cpu_xml(xml_text):
    """The ``<cpu>`` and ``<qemu:commandline>`` of a domain XML as text (what this collection sets), for results
    and diffs; ``""`` for parts the domain lacks."""
    root = parse(xml_text)
    parts = []
    for element in (root.find("cpu"), root.find(_q(QEMU_NS, "commandline"))):
        if element is not None:
            _indent(element)
            element.tail = None
            parts.append(serialise(element))
    return "\n".join(parts) + ("\n" if parts else "")


def last_cpu_arg(argv):
    """The ``-cpu`` value QEMU uses from a command line (a list): the last one, since QEMU takes it as a whole."""
    found = None
    for index, arg in enumerate(argv[:-1]):
        if arg in CPU_OPTIONS:
            found = argv[index + 1]
    return found


# --- libvirt's own -cpu, and the override that keeps it --------------------------------------------------------
#
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


def _root(domain):
    return domain if ElementTree.iselement(domain) else parse(domain)


def _state(element):
    return (element.get("state") or "").strip() if element is not None else ""


def libvirt_cpu_model(domain):
    """The model libvirt starts a ``-cpu`` with for ``domain`` (XML text or its root element): ``host`` for
    host-passthrough, ``max`` for maximum, the ``<model>`` for custom; None without ``<cpu>`` or model (libvirt then
    fills in the machine's default, cortex-a15 for TCG virt, which only its capabilities know)."""
    cpu = _root(domain).find("cpu")
    if cpu is None:
        return None
    mode = cpu.get("mode", CUSTOM)
    if mode in validate.CPU_MODELS:
        return validate.CPU_MODELS[mode]
    model = cpu.find("model")
    return ((model.text or "").strip() or None) if model is not None else None


def libvirt_cpu_flags(domain):
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
        if "sve" not in names and any(_SVE_LENGTH_RE.fullmatch(name or "") for name in names):
            flags.append(("sve", "on"))
    for timer in root.findall("clock/timer"):
        name = timer.get("name")
        if name == "armvtimer" and timer.get("tickpolicy") in _ARMVTIMER:
            flags.append(("kvm-no-adjvtime", _ARMVTIMER[timer.get("tickpolicy")]))
        elif name == "kvmclock" and timer.get("present") in ("yes", "no"):   # yes is refused for aarch64
            flags.append(("kvmclock", "on" if timer.get("present") == "yes" else "off"))
        elif name == "tsc" and (timer.get("frequency") or "0").isdigit() and int(timer.get("frequency") or 0) > 0:
            flags.append(("tsc-frequency", str(int(timer.get("frequency")))))
    kvm = root.find("features/kvm")
    if kvm is not None:
        for child, state, flag in _KVM:
            if _state(kvm.find(child)) == state:
                flags.append(flag)
    pmu = _state(root.find("features/pmu"))
    if pmu in ("on", "off"):
        flags.append(("pmu", pmu))
    return flags


def libvirt_cpu_arg(domain):
    """libvirt's own ``-cpu`` value for ``domain`` (model and :func:`libvirt_cpu_flags`); None when the model is
    libvirt's default (no ``<cpu>``), which only its capabilities know."""
    model = libvirt_cpu_model(domain)
    return None if model is None else join_cpu_arg(model, libvirt_cpu_flags(domain))


def split_cpu_arg(arg):
    """``(model, [(name, value)])`` of a ``-cpu`` value; a bare property (``pmu``) has value None."""
    parts = (arg or "").split(",")
    props = []
    for part in parts[1:]:
        if part:
            name, equals, value = part.partition("=")
            props.append((name, value if equals else None))
    return parts[0], props


def join_cpu_arg(model, props):
    return ",".join([model] + [name if value is None else "%s=%s" % (name, value) for name, value in props])


def merge_cpu_arg(request_arg, flags):
    """The override: the request's ``-cpu`` as it is (model and properties, in its order), then each of libvirt's
    ``flags`` (``[(name, value)]``, :func:`libvirt_cpu_flags`) whose property the request does not set, in
    libvirt's order. The request wins where both set a property; the result is the same for the same inputs."""
    model, requested = split_cpu_arg(request_arg)
    names = {name for name, _value in requested}
    kept = []
    for name, value in flags:
        if name not in names:
            names.add(name)
            kept.append((name, value))
    return join_cpu_arg(model, requested + kept)


def hyperv_refusal(domain, name="domain"):
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


def commandline_override(domain, request_arg, name="domain"):
    """The ``-cpu`` value ``<qemu:commandline>`` carries for ``request_arg`` in ``domain`` (XML text or root, with
    the ``<cpu>`` the request gives it): :func:`merge_cpu_arg` of the request and :func:`libvirt_cpu_flags`. The
    role (new guests) and ``domain_cpu`` (existing ones) both write this.

    Each flag is copied from the domain's XML onto QEMU's command line, so each name and value must be a plain
    token (``validate.is_token``): ``<timer name='tsc' frequency='1,sve=on'/>`` would add an option of its own.
    DeliveryError naming ``name`` (the domain) otherwise, and for a domain with ``<features><hyperv>``."""
    refusal = hyperv_refusal(domain, name)
    if refusal:
        raise DeliveryError(refusal)
    flags = libvirt_cpu_flags(domain)
    bad = ["%s=%s" % flag for flag in flags if not (validate.is_token(flag[0]) and validate.is_token(flag[1]))]
    if bad:
        raise DeliveryError(
            "%s: the domain's XML gives %s for libvirt's own -cpu, which the -cpu override would copy; each name "
            "and value must be a plain token (letters, digits, '.', '_', '-'), or it adds options of its own to "
            "QEMU's -cpu. Correct the domain's <features>/<clock>/<cpu>." % (name, ", ".join(repr(b) for b in bad)))
    return merge_cpu_arg(request_arg, flags)


def lost_flags(flags, override_arg, requested_arg=None):
    """Which of libvirt's ``flags`` (``[(name, value)]``) the ``-cpu`` value ``override_arg`` loses: it lacks the
    property, or sets it to another value while ``requested_arg`` (the request the override was written for, if
    known) does not set it. ``["name=value"]`` with libvirt's values, in libvirt's order."""
    given = dict(split_cpu_arg(override_arg)[1])
    asked = {name for name, _value in split_cpu_arg(requested_arg)[1]} if requested_arg else set()
    lost = []
    for name, value in flags:
        if name in asked:
            continue
        if name not in given or (given[name] if given[name] is not None else "on") != value:
            lost.append("%s=%s" % (name, value))
    return lost


def marked_request_arg(root):
    """The request's own ``-cpu`` value armvirt.cpu recorded for the override it wrote (before the merge), or
    None. A mark written before the merge existed records only ``qemu-cpu-arg``, which was the request then."""
    mark = root.find("metadata/" + _q(MARK_NS, "cpu"))
    if mark is None:
        return None
    return mark.get("request-cpu-arg") or mark.get("qemu-cpu-arg")


def override_lost_flags(domain):
    """For a domain whose ``<qemu:commandline>`` has a ``-cpu`` override: the flags libvirt would put on its own
    ``-cpu`` (:func:`libvirt_cpu_flags` of the domain) that the last override loses (:func:`lost_flags`), the
    properties of the request armvirt.cpu recorded for that override excepted. None without an override."""
    root = _root(domain)
    pairs = cpu_arg_pairs(root)
    if not pairs:
        return None
    override = pairs[-1][1]
    requested = marked_request_arg(root) if marked_arg(root) == override else None
    return lost_flags(libvirt_cpu_flags(root), override, requested)


def running_lost_flags(argv, domain):
    """The same for a QEMU command line ``argv`` (a list) started from ``domain`` (its live XML): libvirt's own
    ``-cpu`` is the first on the command line, the ``<qemu:commandline>`` pairs come after it, QEMU took the last.
    None when the command line has no ``-cpu`` besides the overrides (nothing of libvirt's to lose)."""
    root = _root(domain)
    values = [argv[index + 1] for index in range(len(argv) - 1) if argv[index] in CPU_OPTIONS]
    pairs = cpu_arg_pairs(root)
    if not pairs or len(values) <= len(pairs):
        return None
    override = values[-1]
    requested = marked_request_arg(root) if marked_arg(root) == override else None
    return lost_flags(split_cpu_arg(values[0])[1], override, requested)


def effective_cpu_arg(xml_text, request):
    """The ``-cpu`` value a domain edited for ``request`` (:func:`edit_domain`) gives QEMU as far as this collection
    decides it: the override in ``<qemu:commandline>`` for qemu-commandline, the request's value otherwise."""
    if request.delivery == QEMU_COMMANDLINE:
        pairs = cpu_arg_pairs(parse(xml_text))
        if pairs:
            return pairs[-1][1]
    return request.arg
