"""What an edit of a domain's CPU must leave alone, compared independently of the code under test."""

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils import delivery


def kept_part(xml_text):
    """The document minus <cpu>, the -cpu pairs of <qemu:commandline> and armvirt.cpu's mark, as canonical XML
    (C14N 2.0, comments and processing instructions kept, blank text dropped), by lxml: an XML library apart from
    the code under test, which keeps each element's prefixes and namespace declarations where the document has
    them."""
    etree = pytest.importorskip("lxml.etree")
    root = etree.fromstring(xml_text.encode("utf-8"), etree.XMLParser(remove_blank_text=True))
    for element in root.findall("cpu") + root.findall("metadata/{%s}cpu" % delivery.MARK_NS):
        element.getparent().remove(element)
    for commandline in root.findall("{%s}commandline" % delivery.QEMU_NS):
        args = list(commandline)
        for index in range(len(args) - 1):
            if args[index].get("value") in delivery.CPU_OPTIONS and args[index].getparent() is not None:
                commandline.remove(args[index])
                commandline.remove(args[index + 1])
        if len(commandline) == 0:
            root.remove(commandline)
    return etree.tostring(root.getroottree(), method="c14n2", with_comments=True, strip_text=True)
