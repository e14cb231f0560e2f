"""What an edit of a domain's CPU must leave alone, compared independently of the code under test."""

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._guest import domain_xml


def _drop(element):
    """Remove ``element`` but not the text after it (lxml's remove takes the tail along)."""
    parent, previous = element.getparent(), element.getprevious()
    if element.tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def kept_part(xml_text):
    """The document minus <cpu>, the -cpu pairs of <qemu:commandline> and armvirt.cpu's mark (and what is left
    empty of the last two), as canonical XML
    (C14N 2.0, comments and processing instructions kept, blank text dropped), by lxml: an XML library apart from
    the code under test, which keeps each element's prefixes and namespace declarations where the document has
    them."""
    etree = pytest.importorskip("lxml.etree")
    root = etree.fromstring(xml_text.encode("utf-8"), etree.XMLParser(remove_blank_text=True))
    for element in root.findall("cpu") + root.findall("metadata/{%s}cpu" % domain_xml.MARK_NS):
        _drop(element)
    for metadata in root.findall("metadata"):
        if len(metadata) == 0 and not (metadata.text or "").strip():
            _drop(metadata)   # a <metadata> made for the mark alone (libvirt drops an empty one anyway)
    for commandline in root.findall("{%s}commandline" % domain_xml.QEMU_NS):
        args = list(commandline)
        for index in range(len(args) - 1):
            if args[index].get("value") in domain_xml.CPU_OPTIONS and args[index].getparent() is not None:
                _drop(args[index])
                _drop(args[index + 1])
        if len(commandline) == 0:
            _drop(commandline)
    return etree.tostring(root.getroottree(), method="c14n2", with_comments=True, strip_text=True)
