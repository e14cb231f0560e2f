"""Turn the Markdown guides in docs/ into the collection's extra docs (docs/docsite/rst/*.rst, extra-docs.yml).

antsibull-docs takes extra docs only as reStructuredText under docs/docsite/rst; the guides stay Markdown (they read
well on the forge) and this converts the subset of Markdown they use: ATX headings, paragraphs, bullet and numbered
lists (nested by indentation), fenced code blocks, pipe tables, inline code, bold, italics, links and images. A link
to another guide (relative, or absolute into the repository's docs/) becomes a :ref: to its label; any other relative
link points at the file in the repository (galaxy.yml's ``repository``, ``/blob/main/``). An image alone on its line
becomes an image directive, an image inside text a link to it; a relative image is taken from ``/raw/main/``. An HTML
comment on a line of its own (the marker of an example that tests/integration/test_doc_examples.py runs) is left out.

    python docs/docsite/md2rst.py            # rewrite docs/docsite/rst/ and docs/docsite/extra-docs.yml
    python docs/docsite/md2rst.py --check    # exit 1 if they differ from what the guides give now

Run by scripts/docs; not part of the collection build (galaxy.yml build_ignore).
"""

import json
import os
import posixpath
import re
import sys
from xml.etree import ElementTree

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.dirname(HERE)
RST_DIR = os.path.join(HERE, "rst")
EXTRA_DOCS = os.path.join(HERE, "extra-docs.yml")
COLLECTION = os.path.dirname(DOCS)
LABEL = "ansible_collections.armvirt.cpu.docsite.%s"

# Sections of the docs site, in order; a guide not named here goes to the first one.
SECTIONS = [
    ("Guides", ["host-guide", "dialects", "guest-guide", "guest-validation", "cache", "ecosystem"]),
    ("Development", ["architecture", "development", "simulator"]),
]
UNDERLINES = {1: "=", 2: "-", 3: "~", 4: "^", 5: '"', 6: "'"}

FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+(.*)$")
TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
INLINE = re.compile(r"(`+)(.+?)\1|(!?)\[([^\]]*)\]\(([^)\s]+)\)|\*\*(.+?)\*\*")
IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)\s]+)\)$")
COMMENT = re.compile(r"^<!--.*-->$")


def repository():
    """galaxy.yml's repository (https://github.com/OWNER/NAME), read without a YAML parser."""
    with open(os.path.join(COLLECTION, "galaxy.yml"), encoding="utf-8") as handle:
        found = re.search(r"^repository:\s*['\"]?([^'\"\s#]+)", handle.read(), re.M)
    if not found:
        raise SystemExit("galaxy.yml has no repository")
    return found.group(1).rstrip("/")


REPOSITORY = repository() + "/blob/main/"
RAW = repository() + "/raw/main/"


def guide_names():
    return sorted(name[:-3] for name in os.listdir(DOCS) if name.endswith(".md"))


def label(name):
    return LABEL % name.replace("-", "_")


def link_target(url, here):
    """(kind, target): ('ref', label) for a guide, ('url', absolute URL) otherwise."""
    guide = re.match(re.escape(REPOSITORY) + r"(docs/[^/#]+[.]md)(#.*)?$", url)
    if guide:  # an absolute link to a guide, as the forge and Galaxy resolve it: the page of the site
        url = guide.group(1)[len("docs/"):] + (guide.group(2) or "")
    if re.match(r"^[a-z][a-z0-9+.-]*:", url):
        return "url", url
    path, anchor = (url.split("#", 1) + [""])[:2]
    if not path:
        return "ref", label(here)
    resolved = posixpath.normpath(posixpath.join("docs", path))
    if posixpath.dirname(resolved) == "docs" and resolved.endswith(".md"):
        return "ref", label(posixpath.basename(resolved)[:-3])
    return "url", REPOSITORY + resolved + ("#" + anchor if anchor else "")


def image_target(url):
    """The URL of an image: absolute as given, a relative one from the repository's raw files."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", url):
        return url
    return RAW + posixpath.normpath(posixpath.join("docs", url))


def escape_text(text):
    """Plain text: escape what reStructuredText would read as markup."""
    text = text.replace("\\", "\\\\")
    text = re.sub(r"([*|`])", r"\\\1", text)
    text = re.sub(r"(\w)_(?=\W|$)", r"\1\\_", text)  # a word ending in _ would be a reference
    return text


def join_markup(out, piece):
    """Append inline markup to out, separated from adjacent word characters by an escaped space."""
    if out and (out[-1][-1:].isalnum() or out[-1][-1:] in ")]}_"):
        out.append("\\ ")
    out.append(piece)


def inline(text, here):
    out = []
    pos = 0
    pending_separator = False
    for match in INLINE.finditer(text):
        plain = text[pos:match.start()]
        if plain:
            if pending_separator and (plain[0].isalnum() or plain[0] in "([{"):
                out.append("\\ ")
            out.append(escape_text(plain))
        code, code_text, bang, link_text, url, bold = match.groups()
        if code:
            join_markup(out, "``%s``" % code_text.strip())
        elif link_text is not None:
            kind, target = ("url", image_target(url)) if bang else link_target(url, here)
            link_text = link_text or url
            words = link_text.replace("`", "").replace("<", "").replace(">", "")
            join_markup(out, ":ref:`%s <%s>`" % (words, target) if kind == "ref" else "`%s <%s>`__" % (words, target))
        else:
            join_markup(out, "**%s**" % escape_text(bold))
        pending_separator = True
        pos = match.end()
    rest = text[pos:]
    if rest:
        if pending_separator and (rest[0].isalnum() or rest[0] in "([{"):
            out.append("\\ ")
        out.append(escape_text(rest))
    return "".join(out)


def code_language(language, body):
    """The language for a code block. A sketch that does not parse in its language (Python with elisions, JSON or XML
    with "..."), which antsibull-docs' lint would reject, is shown as text."""
    source = "\n".join(body)
    checks = {
        "python": lambda: compile(source, "<guide>", "exec"),
        "py": lambda: compile(source, "<guide>", "exec"),
        "json": lambda: json.loads(source),
        "xml": lambda: ElementTree.fromstring(source.encode("utf-8")),
    }
    if language in checks:
        try:
            checks[language]()
        except (SyntaxError, ValueError, ElementTree.ParseError):
            return "text"
    return language or "text"


def split_row(line):
    """The cells of a table row; a | inside a code span or escaped as \\| does not split."""
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells, cell, in_code, index = [], "", False, 0
    while index < len(line):
        char = line[index]
        if char == "\\" and line[index + 1:index + 2] == "|":
            cell += "|"
            index += 2
            continue
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += char
        index += 1
    cells.append(cell.strip())
    return cells


def table(rows, here, indent):
    pad = " " * indent
    out = [pad + ".. list-table::", pad + "   :header-rows: 1", ""]
    for row in rows:
        for index, cell in enumerate(row):
            bullet = "* - " if index == 0 else "  - "
            out.append(pad + "   " + bullet + (inline(cell, here) or "\\"))
    out.append("")
    return out


def convert(markdown, here):
    """The reStructuredText of one guide (without its label)."""
    lines = markdown.splitlines()
    out = []
    i = 0
    paragraph = []
    list_stack = []  # indentation (in the Markdown) of the items' text, innermost last; RST uses the same offsets

    def flush():
        if paragraph:
            out.extend(paragraph)
            paragraph[:] = []

    def blank():
        if out and out[-1] != "":
            out.append("")

    while i < len(lines):
        line = lines[i].rstrip()
        fence = FENCE.match(line)
        if fence:
            flush()
            indent = len(fence.group(1))
            blank()
            pad = " " * indent
            body = []
            i += 1
            while i < len(lines) and not FENCE.match(lines[i].rstrip()):
                code = lines[i].rstrip()
                body.append(code[indent:] if code[:indent].strip() == "" else code.lstrip())
                i += 1
            i += 1
            out.append(pad + ".. code-block:: " + code_language(fence.group(2), body))
            out.append("")
            out.extend((pad + "   " + code) if code else "" for code in body)
            out.append("")
            continue
        if not line.strip():
            flush()
            blank()
            i += 1
            continue
        if COMMENT.match(line):  # an HTML comment on a line of its own (the marker of a tested example) shows nothing
            flush()
            blank()
            i += 1
            continue
        image = IMAGE.match(line.strip())
        if image and not list_stack:
            flush()
            blank()
            out.extend([".. image:: " + image_target(image.group(2))] + (
                ["   :alt: " + image.group(1)] if image.group(1) else []) + [""])
            i += 1
            continue
        heading = HEADING.match(line)
        if heading and (not list_stack or not line[:1].isspace()):  # a heading at the margin ends a list
            list_stack = []
            flush()
            blank()
            title = inline(heading.group(2), here)
            out.extend([title, UNDERLINES[len(heading.group(1))] * len(title), ""])
            i += 1
            continue
        if line.lstrip().startswith("|") and i + 1 < len(lines) and TABLE_RULE.match(lines[i + 1]):
            flush()
            blank()
            indent = len(line) - len(line.lstrip())
            rows = [split_row(line)]
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(split_row(lines[i]))
                i += 1
            out.extend(table(rows, here, indent))
            continue
        item = ITEM.match(line)
        if item:
            flush()
            indent = len(item.group(1))
            marker = item.group(2)
            marker = "#." if marker[0].isdigit() else "-"
            while list_stack and indent < list_stack[-1][0]:
                list_stack.pop()
            if not list_stack or indent > list_stack[-1][0]:
                blank()  # a (nested) list starts: RST needs a blank line before it
                list_stack.append((indent, indent + len(marker) + 1))
            out.append(" " * indent + marker + " " + inline(item.group(3), here))
            i += 1
            continue
        text_indent = len(line) - len(line.lstrip())
        if list_stack and text_indent > 0:
            while list_stack and text_indent < list_stack[-1][1] and len(list_stack) > 1:
                list_stack.pop()
            pad = list_stack[-1][1] if list_stack else 0
            if out and out[-1] == "":
                paragraph.append(" " * pad + inline(line.strip(), here))
            else:
                out.append(" " * pad + inline(line.strip(), here))
            i += 1
            continue
        if list_stack:
            list_stack = []
            blank()
        paragraph.append(inline(line.strip(), here))
        i += 1
    flush()
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def render_guide(name):
    with open(os.path.join(DOCS, name + ".md"), encoding="utf-8") as handle:
        body = convert(handle.read(), name)
    return (".. Generated from docs/%s.md by docs/docsite/md2rst.py (scripts/docs): edit the Markdown guide.\n\n"
            ".. _%s:\n\n%s" % (name, label(name), body))


def render_extra_docs(names):
    lines = ["---", "# Generated by docs/docsite/md2rst.py (scripts/docs) from the guides in docs/.", "sections:"]
    placed = set()
    for index, (title, members) in enumerate(SECTIONS):
        chosen = [name for name in members if name in names]
        if index == 0:
            chosen += [name for name in names if name not in placed and name not in chosen
                       and not any(name in section[1] for section in SECTIONS)]
        placed.update(chosen)
        if not chosen:
            continue
        lines.append("  - title: %s" % title)
        lines.append("    toctree:")
        lines.extend("      - %s" % name for name in chosen)
    return "\n".join(lines) + "\n"


def wanted():
    names = guide_names()
    files = {os.path.join(RST_DIR, name + ".rst"): render_guide(name) for name in names}
    files[EXTRA_DOCS] = render_extra_docs(names)
    return files


def main(argv):
    check = "--check" in argv
    files = wanted()
    stale = [path for path, text in sorted(files.items())
             if not os.path.exists(path) or open(path, encoding="utf-8").read() != text]
    extra = [os.path.join(RST_DIR, name) for name in (os.listdir(RST_DIR) if os.path.isdir(RST_DIR) else [])
             if name.endswith(".rst") and os.path.join(RST_DIR, name) not in files]
    if check:
        for path in stale + extra:
            sys.stderr.write("out of date: %s (run scripts/docs)\n" % os.path.relpath(path, DOCS))
        return 1 if stale or extra else 0
    os.makedirs(RST_DIR, exist_ok=True)
    for path in stale:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(files[path])
    for path in extra:
        os.remove(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
