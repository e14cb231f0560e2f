# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a validated guest CPU request reaches libvirt and QEMU: one implementation for new and existing guests.

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

Standard library only (ElementTree): it runs on hypervisors.
"""

from __future__ import annotations

import io
import re
from xml.etree import ElementTree
from collections.abc import Mapping, Sequence

from ansible_collections.armvirt.cpu.plugins.module_utils import props as propmodel
from ansible_collections.armvirt.cpu.plugins.module_utils import validate

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


def plan(features, props, mode, host, libvirt_view, model=None):
    """Validate ``features`` against ``props`` (``validate.check_features``), apply ``libvirt_view``'s refusals, and
    decide the ``-cpu`` value and what ``<cpu>`` carries for ``libvirt_view.delivery``. ``props`` None checks only
    shape, policies and tokens (values then go through as written)."""
    if props is None:
        try:
            validate.qemu_cpu_arg(features, "maximum", host=host)
        except validate.FeatureRequestError as exc:
            return Plan(exc.errors)
        normalised = [dict(feature, policy=feature.get("policy", validate.DEFAULT_POLICY)) for feature in features]
    else:
        normalised, errors = validate.check_features(features, props, host)
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
    return [(index, args[index + 1]) for index in range(len(args) - 1) if args[index] in CPU_OPTIONS]


def marked_arg(root):
    """The ``-cpu`` value armvirt.cpu recorded in the domain's metadata as its own, or None."""
    mark = root.find("metadata/" + _q(MARK_NS, "cpu"))
    return mark.get("qemu-cpu-arg") if mark is not None else None


def edit_domain(xml_text, request, unmarked="fail", name="domain"):
    """The domain XML with ``<cpu>`` set to ``request`` (a :class:`Plan`) and everything else kept.

    In ``<cpu>``: mode (and model for custom) and features are replaced; other children (topology, numa, cache,
    maxphysaddr) stay, and so do ``check``/``migratable``/``match`` when the mode does not change (libvirt derives
    them from the mode otherwise). In ``<qemu:commandline>``: the ``-cpu`` pair armvirt.cpu wrote (recorded in
    ``<metadata>``) goes, the new one is appended for qemu-commandline, other arguments stay. A ``-cpu`` pair not
    written by armvirt.cpu overrides whatever is set here, so ``unmarked='fail'`` refuses (DeliveryError) and
    ``'replace'`` removes it.
    """
    root = parse(xml_text)
    cpu = root.find("cpu")
    if cpu is None:
        cpu = ElementTree.SubElement(root, "cpu")
    old_mode, old_attrs = cpu.get("mode", CUSTOM), dict(cpu.attrib)
    old_model = cpu.find("model")
    kept = [child for child in cpu if child.tag not in KEPT_CPU_CHILDREN_DROPPED]
    text, tail = cpu.text, cpu.tail
    cpu.clear()
    cpu.text, cpu.tail = text, tail
    cpu.set("mode", request.mode)
    if old_mode == request.mode:
        for attribute in ("match", "check", "migratable"):
            if attribute in old_attrs:
                cpu.set(attribute, old_attrs[attribute])
    if request.mode == CUSTOM:
        model = ElementTree.SubElement(cpu, "model")
        if old_model is not None and (old_model.text or "").strip() == request.model:
            model.attrib.update(old_model.attrib)
        model.text = request.model
    cpu.extend(kept)
    for feature in request.cpu_features:
        element = ElementTree.SubElement(cpu, "feature", policy=feature["policy"], name=feature["name"])
        if "value" in feature:
            element.set("value", feature["value"])
    _set_commandline(root, request, unmarked, name)
    return serialise(root)


def _set_commandline(root, request, unmarked, name):
    commandline = root.find(_q(QEMU_NS, "commandline"))
    ours = marked_arg(root)
    if commandline is not None:
        args = commandline.findall(_q(QEMU_NS, "arg"))
        drop = []
        for index, value in cpu_arg_pairs(root):
            if value != ours and unmarked != "replace":
                raise DeliveryError(
                    "%s: <qemu:commandline> has -cpu %s, which armvirt.cpu did not write; QEMU takes the last -cpu "
                    "as a whole, so it would override the requested CPU. Remove it, or set unmarked_cpu_arg: "
                    "replace to let this module replace it." % (name, value))
            drop += [args[index], args[index + 1]]
        for arg in drop:
            commandline.remove(arg)
    if request.commandline:
        if commandline is None:
            commandline = ElementTree.SubElement(root, _q(QEMU_NS, "commandline"))
        for value in request.commandline:
            ElementTree.SubElement(commandline, _q(QEMU_NS, "arg"), value=value)
    elif commandline is not None and len(commandline) == 0:
        root.remove(commandline)
    metadata = root.find("metadata")
    mark = metadata.find(_q(MARK_NS, "cpu")) if metadata is not None else None
    if mark is not None:
        metadata.remove(mark)
    if request.commandline:
        if metadata is None:
            metadata = ElementTree.SubElement(root, "metadata")
        mark = {"delivery": request.delivery, "qemu-cpu-arg": request.arg}
        ElementTree.SubElement(metadata, _q(MARK_NS, "cpu"), mark)
    elif metadata is not None and len(metadata) == 0 and not (metadata.text or "").strip():
        root.remove(metadata)


def signature(xml_text):
    """What decides the guest's CPU in a domain XML, comparable across libvirt's normalisation.

    ``(mode, model, features, cpu_args)``: features as a sorted set of ``(name, policy, value)``, with the ``sve``
    that libvirt adds by itself when a vector length is required (measured on 9.0) added where missing; the ``-cpu``
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
    if "sve" not in features and any(_SVE_LENGTH_RE.fullmatch(name or "") and found[0] in validate.ON_POLICIES
                                     for name, found in features.items()):
        features["sve"] = ("require", None)
    return (cpu.get("mode", CUSTOM), (model.text or "").strip() if model is not None else None,
            tuple(sorted((name, policy, value or "") for name, (policy, value) in features.items())),
            tuple(pair[1] for pair in cpu_arg_pairs(root)))


def cpu_xml(xml_text):
    """The ``<cpu>`` and ``<qemu:commandline>`` of a domain XML as text (what this collection sets), for results
    and diffs; ``""`` for parts the domain lacks."""
    root = parse(xml_text)
    parts = []
    for element in (root.find("cpu"), root.find(_q(QEMU_NS, "commandline"))):
        if element is not None:
            ElementTree.indent(element, "  ")
            element.tail = None
            parts.append(serialise(element))
    return "\n".join(parts) + ("\n" if parts else "")


def without_cpu(xml_text):
    """The domain XML minus ``<cpu>``, ``<qemu:commandline>`` and armvirt.cpu's mark: what must not change."""
    root = parse(xml_text)
    for path in ("cpu", _q(QEMU_NS, "commandline")):
        element = root.find(path)
        if element is not None:
            root.remove(element)
    metadata = root.find("metadata")
    if metadata is not None:
        mark = metadata.find(_q(MARK_NS, "cpu"))
        if mark is not None:
            metadata.remove(mark)
        if len(metadata) == 0:
            root.remove(metadata)
    return serialise(root)


def last_cpu_arg(argv):
    """The ``-cpu`` value QEMU uses from a command line (a list): the last one, since QEMU takes it as a whole."""
    found = None
    for index, arg in enumerate(argv[:-1]):
        if arg in CPU_OPTIONS:
            found = argv[index + 1]
    return found
