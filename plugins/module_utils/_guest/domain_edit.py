# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

A domain libvirt already has, edited in place for a planned request (``delivery.Plan``): ``armvirt.cpu.domain_cpu``
writes it and ``domain_cpu_info`` compares a domain with it.

Why apart from ``domain_xml``: the edit writes the ``-cpu`` override ``libvirt_flags`` computes from the domain, and
``libvirt_flags`` reads the domain through ``domain_xml``; the edit sits above both. Only the edited elements are
written (``xml_splice``), so every other byte of the domain stays as libvirt keeps it.

Standard library only (ElementTree, expat): it runs on hypervisors.
"""

from __future__ import annotations

import copy
from xml.etree import ElementTree
from typing import Dict, cast

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import delivery, domain_xml, libvirt_flags, xml_splice

KEPT_CPU_CHILDREN_DROPPED = ("model", "vendor", "feature")   # what a request sets; topology, numa, cache... stay


def edit_domain(xml_text: str, request: delivery.Plan, unmarked: str = "fail", name: str = "domain") -> str:
    """The domain XML with ``<cpu>`` set to ``request`` (a ``delivery.Plan``) and everything else kept.

    In ``<cpu>``: mode (and model for custom) and features are replaced; other children (topology, numa, cache,
    maxphysaddr) stay, and so do ``check``/``migratable``/``match`` when the mode does not change (libvirt derives
    them from the mode otherwise). In ``<qemu:commandline>``: the ``-cpu`` pair armvirt.cpu wrote (recorded in
    ``<metadata>``) goes, the new one is appended for qemu-commandline (the request merged with what libvirt puts
    on its own ``-cpu`` for the edited domain, ``libvirt_flags.commandline_override``; the mark records both),
    other arguments stay. A ``-cpu`` pair not written by armvirt.cpu overrides whatever is set here, so
    ``unmarked='fail'`` refuses (``domain_xml.DeliveryError``) and ``'replace'`` removes it.

    Only those elements are written (:class:`xml_splice.Splice`): every other byte of ``xml_text`` stays, so
    comments, processing instructions and namespace prefixes in ``<metadata>`` are kept as libvirt keeps them.
    """
    root = domain_xml.parse(xml_text)
    try:
        splice = xml_splice.Splice(xml_text)
    except xml_splice.SpliceError as exc:
        raise domain_xml.DeliveryError("the domain XML cannot be parsed: %s" % exc)
    new = delivery.cpu_element(cast(str, request.mode), request.cpu_features, request.model)
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
        raise domain_xml.DeliveryError("%s: the domain XML cannot be edited: %s" % (name, exc))


def _node(node: xml_splice.Node, parent: ElementTree.Element, element: ElementTree.Element) -> xml_splice.Node:
    """The :class:`xml_splice.Node` of ``element``, a child of ``parent`` whose node is ``node`` (ElementTree keeps
    only elements, so the n-th child element is the n-th child node)."""
    return node.children[list(parent).index(element)]


def _element_text(element: ElementTree.Element) -> str:
    """``element`` alone as XML text, children indented; ElementTree declares on it whatever namespace it uses."""
    element = copy.deepcopy(element)
    domain_xml.indent_element(element)
    element.tail = None
    return domain_xml.serialise(element)


def _replace_cpu(cpu: ElementTree.Element, new: ElementTree.Element, request: delivery.Plan) -> None:
    """``cpu`` (the domain's) made ``new`` (``delivery.cpu_element``), keeping what the request does not set."""
    old_mode, old_attrs = cpu.get("mode", names.CUSTOM), dict(cpu.attrib)
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


def _set_commandline(root: ElementTree.Element, splice: xml_splice.Splice, request: delivery.Plan, unmarked: str,
                     name: str) -> None:
    """The ``-cpu`` pair in ``<qemu:commandline>`` and armvirt.cpu's mark in ``<metadata>`` for ``request``
    (:func:`edit_domain`), recorded in ``splice``; ``root`` has the edited ``<cpu>``."""
    commandline = root.find(domain_xml.COMMANDLINE_TAG)
    ours = domain_xml.marked_arg(root)
    dropped = []
    for index, value in domain_xml.cpu_arg_pairs(root):
        if value != ours and unmarked != "replace":
            raise domain_xml.DeliveryError(
                "%s: <qemu:commandline> has -cpu %s, which armvirt.cpu did not write; QEMU takes the last -cpu "
                "as a whole, so it would override the requested CPU. Remove it, or set unmarked_cpu_arg: "
                "replace to let this module replace it." % (name, value))
        dropped += [index, index + 1]
    override = libvirt_flags.commandline_override(root, cast(str, request.arg), name) if request.commandline else None
    values = request.commandline[:-1] + [cast(str, override)] if request.commandline else []
    if commandline is not None:
        node = _node(splice.root, root, commandline)
        if not values and len(dropped) == len(commandline):
            splice.remove(node)
        else:
            # cpu_arg_pairs counts <qemu:arg> elements only; <qemu:env> may stand among them
            args = [child for child, element in zip(node.children, commandline) if element.tag == domain_xml.ARG_TAG]
            for index in dropped:
                splice.remove(args[index])
            prefix = node.qname.partition(b":")[0].decode("utf-8") + ":" if b":" in node.qname else ""
            splice.append(node, [_element_text(ElementTree.Element(prefix + "arg", value=value)) for value in values])
    elif values:
        new = ElementTree.Element(domain_xml.COMMANDLINE_TAG)
        for value in values:
            ElementTree.SubElement(new, domain_xml.ARG_TAG, value=value)
        splice.append(splice.root, [_element_text(new)])
    _set_mark(root, splice, request, override)


def _set_mark(root: ElementTree.Element, splice: xml_splice.Splice, request: delivery.Plan,
              override: str | None) -> None:
    """armvirt.cpu's mark in ``<metadata>``: the old one goes, a new one records a qemu-commandline override; a
    ``<metadata>`` that held only the old mark goes with it."""
    mark = None
    if request.commandline:
        mark = ElementTree.Element(domain_xml.MARK_TAG, cast(Dict[str, str], {
            "delivery": request.delivery, "qemu-cpu-arg": override, "request-cpu-arg": request.arg}))
    metadata = root.find("metadata")
    if metadata is None:
        if mark is not None:   # the mark declares its namespace itself, as when it is added to a <metadata>
            splice.append(splice.root, ["<metadata>\n  %s\n</metadata>" % _element_text(mark)])
        return
    node = _node(splice.root, root, metadata)
    old = metadata.find(domain_xml.MARK_TAG)
    if old is not None:
        old_node = _node(node, metadata, old)
        if mark is None and splice.only_child(node, old_node):
            splice.remove(node)
            return
        splice.remove(old_node)
    if mark is not None:
        splice.append(node, [_element_text(mark)])
