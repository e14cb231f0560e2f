# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

libvirt's domain XML as the guest side reads and writes it: parsed keeping the document's namespace prefixes, the
``-cpu`` pairs of ``<qemu:commandline>``, armvirt.cpu's mark in ``<metadata>`` (which pair it wrote), what decides
the guest's CPU (:func:`signature`) and elements written as libvirt writes them.

Why apart: ``domain_cpu`` and ``domain_cpu_info`` read existing domains, ``libvirt_flags`` reads what libvirt derives
from one and ``domain_edit`` edits one in place; they all read the same elements the same way.

Standard library only (ElementTree): it runs on hypervisors.
"""

from __future__ import annotations

import io
import re
from xml.etree import ElementTree
from xml.sax.saxutils import escape
from typing import Collection

from ansible_collections.armvirt.cpu.plugins.module_utils._common.names import CUSTOM
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
# Our mark in <metadata>: which -cpu pair in <qemu:commandline> armvirt.cpu wrote, so that the next run replaces
# exactly that pair and leaves a -cpu someone else wrote to a decision of the user (libvirt keeps namespaced metadata).
MARK_NS = "https://armvirt.invalid/xmlns/domain-cpu/1.0"
MARK_PREFIX = "armvirtcpu"
CPU_OPTIONS = ("-cpu", "--cpu")
# ElementTree's names of <qemu:commandline>, its <qemu:arg> and the mark
COMMANDLINE_TAG, ARG_TAG, MARK_TAG = "{%s}commandline" % QEMU_NS, "{%s}arg" % QEMU_NS, "{%s}cpu" % MARK_NS

_SVE_LENGTH_RE = re.compile(r"sve[0-9]+")


class DeliveryError(Exception):
    """The domain cannot take the request as it stands (a foreign ``-cpu`` override, unreadable XML)."""


def parse(xml_text: str) -> ElementTree.Element:
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


def serialise(element: ElementTree.Element) -> str:
    ElementTree.register_namespace("qemu", QEMU_NS)
    ElementTree.register_namespace(MARK_PREFIX, MARK_NS)
    return ElementTree.tostring(element, encoding="unicode")


def cpu_arg_pairs(root: ElementTree.Element) -> list[tuple[int, str | None]]:
    """``[(index, value)]`` of each ``-cpu VALUE`` pair in the domain's ``<qemu:commandline>``, in order."""
    commandline = root.find(COMMANDLINE_TAG)
    if commandline is None:
        return []
    args = [arg.get("value") for arg in commandline.findall(ARG_TAG)]
    pairs, index = [], 0
    while index < len(args) - 1:   # as QEMU reads its arguments: a value is never an option too (-cpu -cpu max)
        if args[index] in CPU_OPTIONS:
            pairs.append((index, args[index + 1]))
            index += 2
        else:
            index += 1
    return pairs


def marked_arg(root: ElementTree.Element) -> str | None:
    """The ``-cpu`` value armvirt.cpu recorded in the domain's metadata as its own, or None."""
    mark = root.find("metadata/" + MARK_TAG)
    return mark.get("qemu-cpu-arg") if mark is not None else None


def marked_request_arg(root: ElementTree.Element) -> str | None:
    """The request's own ``-cpu`` value armvirt.cpu recorded for the override it wrote (before the merge), or
    None. A mark written before the merge existed records only ``qemu-cpu-arg``, which was the request then."""
    mark = root.find("metadata/" + MARK_TAG)
    if mark is None:
        return None
    return mark.get("request-cpu-arg") or mark.get("qemu-cpu-arg")


def libvirt_adds_sve(names: Collection[str | None]) -> bool:
    """Whether libvirt adds the ``sve`` feature itself to ``<cpu>`` features ``names``: for any vector length
    feature (``sveN``, whatever its policy) when ``sve`` is not there."""
    return "sve" not in names and any(_SVE_LENGTH_RE.fullmatch(name or "") for name in names)


def signature(xml_text: str) -> tuple[str | None, str | None, tuple[tuple[str | None, str, str], ...],
                                      tuple[str | None, ...]]:
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
    if libvirt_adds_sve(features):
        features["sve"] = ("require", None)
    return (cpu.get("mode", CUSTOM), (model.text or "").strip() if model is not None else None,
            tuple(sorted((name, policy, value or "") for name, (policy, value) in features.items())),
            tuple(pair[1] for pair in cpu_arg_pairs(root)))


def indent_element(element: ElementTree.Element, level: int = 0) -> None:
    """``ElementTree.indent(element, "  ")``, which Python 3.8 (a managed-node Python) lacks."""
    children = list(element)
    if not children:
        return
    inner = "\n" + "  " * (level + 1)
    if not (element.text or "").strip():
        element.text = inner
    for child in children:
        indent_element(child, level + 1)
        if not (child.tail or "").strip():
            child.tail = inner
    if not (children[-1].tail or "").strip():
        children[-1].tail = "\n" + "  " * level


def cpu_xml(xml_text: str) -> str:
    """The ``<cpu>`` and ``<qemu:commandline>`` of a domain XML as text (what this collection sets), for results
    and diffs; ``""`` for parts the domain lacks."""
    root = parse(xml_text)
    parts = []
    for element in (root.find("cpu"), root.find(COMMANDLINE_TAG)):
        if element is not None:
            indent_element(element)
            element.tail = None
            parts.append(serialise(element))
    return "\n".join(parts) + ("\n" if parts else "")


def libvirt_text(element: ElementTree.Element, indent: str = "  ", level: int = 0) -> str:
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
