# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

Edit an XML document by replacing the bytes of single elements and keeping every other byte as it was.

Why: serialising a whole parsed document again (ElementTree) drops comments and processing instructions, moves every
namespace declaration onto the root and renames a default namespace to ``ns0:``. libvirt keeps all of those inside a
domain's ``<metadata>``, so an edit of ``<cpu>`` must not touch them. :class:`Splice` finds where each element
starts and ends (expat's byte index of each start and end tag) and writes only the elements given to it.

Standard library only (expat): it runs on hypervisors.
"""

from __future__ import annotations

import re
from xml.parsers import expat
from typing import Any, Iterable, cast

# expat has checked the document, so these only find the end of a tag that is known to start at an index
_START_TAG = re.compile(br"""<([^\s/>]+)(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(/?)>""")
_END_TAG = re.compile(br"</[^\s>]+\s*>")
_SPACE = b" \t\r\n"


class SpliceError(Exception):
    """The text is not well-formed XML."""


class Node(object):
    """One element's place in the document's bytes: ``start`` (its ``<``), ``open_end`` (after its start tag),
    ``close_start`` (its end tag's ``<``; ``open_end`` for an empty element), ``end``; its element children in
    order, its raw qualified name and the namespace declarations of its start tag (``{prefix or None: uri}``)."""

    __slots__ = ("qname", "start", "open_end", "close_start", "end", "empty", "children", "namespaces")

    def __init__(self, qname: bytes, start: int, open_end: int, empty: bool, namespaces: dict[str | None, str]) -> None:
        self.qname, self.start, self.open_end, self.empty = qname, start, open_end, empty
        self.close_start = self.end = open_end
        self.children: list[Node]
        self.children, self.namespaces = [], namespaces


def _parse(data: bytes) -> Node:
    parser = expat.ParserCreate(encoding="utf-8", namespace_separator=" ")
    stack: list[Node]
    declared: dict[str | None, str]
    roots: list[Node]
    stack, declared, roots = [], {}, []

    def start_ns(prefix: str | None, uri: str) -> None:
        declared[prefix] = uri

    def start(_name: str, _attributes: Any) -> None:
        index = parser.CurrentByteIndex
        match = _START_TAG.match(data, index)
        if match is None:   # an element that an entity's replacement text made: not bytes of this document
            raise SpliceError("an element at byte %d is not written in the document itself (an entity?)" % index)
        node = Node(match.group(1), index, match.end(), match.group(2) == b"/", dict(declared))
        declared.clear()
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(_name: str) -> None:
        node = stack.pop()
        if not node.empty:
            node.close_start = parser.CurrentByteIndex
            node.end = cast("re.Match[bytes]", _END_TAG.match(data, node.close_start)).end()

    parser.StartNamespaceDeclHandler = start_ns
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise SpliceError(str(exc))
    return roots[0]


class Splice(object):
    """The edits of one document: ``root`` is its element tree (:class:`Node`); :meth:`replace`, :meth:`remove` and
    :meth:`append` record edits of elements, :meth:`text` gives the document with them and every other byte kept.
    Texts given are well-formed elements; a new line of them is indented as the elements around it."""

    def __init__(self, text: str) -> None:
        self.data = text.encode("utf-8")
        self.root = _parse(self.data)
        self.edits: list[tuple[int, int, int, bytes]] = []

    def _indent(self, node: Node) -> bytes | None:
        """The white space before ``node`` on its line; None when something else comes before it there."""
        line = self.data.rfind(b"\n", 0, node.start) + 1
        pad = self.data[line:node.start]
        return None if pad.strip(_SPACE) else pad

    def _lines(self, text: str, pad: bytes | None) -> bytes:
        return text.encode("utf-8").replace(b"\n", b"\n" + (pad or b""))

    def _edit(self, start: int, end: int, data: bytes) -> None:
        self.edits.append((start, end, len(self.edits), data))

    def replace(self, node: Node, text: str) -> None:
        """``node`` becomes ``text``."""
        self._edit(node.start, node.end, self._lines(text, self._indent(node)))

    def remove(self, node: Node) -> None:
        """``node`` goes, with the white space before it where that only indents it (it follows a tag)."""
        start = node.start
        while start > 0 and self.data[start - 1] in _SPACE:
            start -= 1
        self._edit(start if start == 0 or self.data[start - 1:start] == b">" else node.start, node.end, b"")

    def append(self, node: Node, texts: Iterable[str]) -> None:
        """``texts`` become ``node``'s last element children: each on a line of its own, indented as the first
        child (or one step deeper than ``node``), or on the same line where the children already share one."""
        pad = self._indent(node) or b""
        inner = self._indent(node.children[0]) if node.children else pad + b"  "
        lead = b"" if inner is None else b"\n" + inner
        data = b"".join(lead + self._lines(text, inner) for text in texts)
        if node.empty:
            self._edit(node.open_end - 2, node.open_end, b">" + data + b"\n" + pad + b"</" + node.qname + b">")
        else:
            at = node.children[-1].end if node.children else node.open_end
            self._edit(at, at, data)

    def only_child(self, node: Node, child: Node) -> bool:
        """Whether ``child`` is all ``node`` holds besides white space (no other element, text, comment or PI)."""
        rest = self.data[node.open_end:child.start] + self.data[child.end:node.close_start]
        return not rest.strip(_SPACE)

    def binds(self, node: Node, prefix: str | None, uri: str) -> bool:
        """Whether ``node``'s own start tag binds ``prefix`` (None: the default namespace) to ``uri``."""
        return node.namespaces.get(prefix) == uri

    def text(self) -> str:
        out, at = [], 0
        for start, end, _order, data in sorted(self.edits):
            if start < at:
                raise SpliceError("overlapping edits at byte %d" % start)
            out += [self.data[at:start], data]
            at = end
        out.append(self.data[at:])
        return b"".join(out).decode("utf-8")
