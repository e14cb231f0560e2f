# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Both report pages with hostile host names, QEMU values, domain names and reasons: the Markdown page is judged on
the HTML a CommonMark renderer (markdown-it-py, with GFM tables) makes of it, the HTML page as it is.

What must hold: no element or attribute comes from data, every hostile text shows as text, no control character,
escape sequence or bidi control is left, and each table row keeps its columns. Hostile strings come from a seeded
generator (the seed is printed; ARMVIRT_REPORT_SEED replays one) and from fixed cases.
"""

import datetime
import json
import os
import pathlib
import random
import re

import lxml.html
import pytest
from markdown_it import MarkdownIt

from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, _fleet_view, fleet_report

ROOT = pathlib.Path(__file__).resolve().parents[4]
TEMPLATES = ROOT / "playbooks" / "templates"
FACTS = json.loads((ROOT / "tests" / "fixtures" / "fleet" / "small-fleet.json").read_text())
NOW = datetime.datetime(2026, 11, 29, 16, 14, tzinfo=datetime.timezone.utc)
SEED = int(os.environ.get("ARMVIRT_REPORT_SEED") or random.SystemRandom().randrange(2 ** 32))
FLEETS = 25

FIXED = ["    <b>four blanks</b> first", "trailing blanks  ",
         "<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "a&b &amp; &lt;x&gt; &#60;", "`", "``x`",
         " `a` ", "x | y || z", "\\|", "back\\slash\\", "*em* _em_ **b** ~~s~~", "[l](javascript:alert(1))",
         "![i](x)", "<http://evil.invalid>", "\x1b[31mred\x1b[0m", "\x1b]8;;http://evil.invalid\x07link\x1b]8;;\x07",
         "bidi\u202egnp.exe\u202c", "\u2066iso\u2069", "c1\x85\x9b2Jnel", "nul\x00del\x7f", "line\nbreak\r\n- item",
         "# heading", "> quote", "<!-- c -->", "<a href='x' onclick='y'>a</a>", "\u212a look-alike", "'\"quotes\"'"]
FRAGMENTS = FIXED + ["<", ">", "&", "|", "`", "``", "\\", "*", "_", "[", "]", "(", ")", "!", "#", "~", "\x1b",
                     "\x1b[2J", "\x9b", "\u202e", "\u200f", "\x07", "\t", "\n", " ", "  ", "onerror=", "<svg onload=x>",
                     "<iframe>", "<style>", "é", "🟥", "hv", "01", "-", ".", "="]
# control characters, DEL, C1 and bidi controls: none may reach a page
UNPRINTABLE_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# what the Markdown template itself makes (markdown-it with tables); anything else came from data
MARKDOWN_TAGS = {"html", "body", "div", "h1", "h2", "p", "ul", "li", "strong", "code", "table", "thead", "tbody",
                 "tr", "th", "td"}
MARKDOWN = MarkdownIt("commonmark").enable("table")


def hostile(rng, count, fragments=tuple(FRAGMENTS)):
    """``count`` distinct hostile strings (host names must differ) of one to five fragments each."""
    strings = set()
    while len(strings) < count:
        strings.add("".join(rng.choices(fragments, k=rng.randint(1, 5))))
    return sorted(strings)


def shown(text):
    """What a page should show of ``text``: its printable characters, white space collapsed."""
    return " ".join(fleet_report.printable(text).split())


def host_name(text):
    """``text`` as a host name that can be a file name: gather refuses the others (``invalid-name``, test_paths and
    test_hostile_host_names) and the report shows that reason instead of theirs."""
    text = text.replace("/", "").replace("\x00", "")
    return text + "x" if text in ("", ".", "..") else text


def fleet_dir(tmp_path, rng, strings):
    """An artifacts directory of a fleet whose host names, values, reasons and guests are hostile; returns
    (directory, apply summary path, the hostile texts the pages must show)."""
    hosts = {"a1": FACTS["a1"], "b1": FACTS["b1"]}
    names = [host_name(name) for name in strings[-3:]]
    values = strings[-6:-3]
    del strings[-6:]
    for index, name in enumerate(names):
        fact = json.loads(json.dumps(FACTS["a2"]))
        fact["properties"]["evil"] = {"type": "string", "supported_values": values + ["k"]}
        fact["properties"][name if index == 0 else "p%d" % index] = {"type": "string", "supported_values": ["x"]}
        hosts[name] = fact
    reason = strings.pop()
    record = {"status": "ok", "error": "", "gathered_at": "2026-11-29T16:00:00Z"}
    hostvars = {host: {"ansible_facts": {"arm_cpu_props": fact}, "armvirt_cpu_gather": dict(record)}
                for host, fact in hosts.items()}
    failing = host_name(strings.pop())
    hostvars[failing] = {"armvirt_cpu_gather": dict(record, status="failed", error=reason)}
    directory = str(tmp_path)
    _artifacts.write_artifacts(directory, _fleet_view.view(hostvars, sorted(hostvars), 0, now=NOW), True, NOW)
    for name in names:   # a second snapshot: the hostile values are narrowed, which the changes section lists
        hostvars[name]["ansible_facts"]["arm_cpu_props"]["properties"]["evil"]["supported_values"] = ["k"]
    _artifacts.write_artifacts(directory, _fleet_view.view(hostvars, sorted(hostvars), 0, now=NOW), True,
                               NOW + datetime.timedelta(hours=1))
    domain, message, delivery, policy_file = strings[-4:]
    del strings[-4:]
    policy_file = policy_file.replace("\x00", "")   # a path with NUL cannot be opened: the path checks' concern
    _artifacts.start_rollout(directory, {"targets": ["a1", "b1"], "scope": "fleet", "policy_file": policy_file,
                                         "id": "", "members": [], "baseline": {}})
    with open(os.path.join(directory, "rollout", "hosts", "a1.json"), "w") as handle:
        json.dump({"status": "failed", "reason": message, "delivery": delivery, "guests": {domain: {}}}, handle)
    apply_path = str(tmp_path / "apply.json")
    with open(apply_path, "w") as handle:
        json.dump({"hosts": {names[1]: {"status": "failed", "domains": [
            {"name": domain, "failed": True, "msg": message}]}},
            "failed": ["%s: %s" % (domain, message)], "drift": [domain], "changed": [], "restart_required": []},
            handle)
    # a host whose name cannot be a file name is refused (invalid-name) without its facts or record being read: the
    # report then shows why instead, and the values only a refused host carries are not in it
    valid = [name for name in names if _fleet_view.host_name_problem(name) is None]
    shown_reason = _fleet_view.host_name_problem(failing) or reason
    return directory, apply_path, names + (values if valid else []) + [shown_reason, failing, domain, message,
                                                                       delivery]


def cells(line):
    """A Markdown table row split as GFM splits it: at every | that no backslash escapes (code spans included)."""
    parts, current, escaped = [], "", False
    for char in line.strip().strip("|") if not line.strip().endswith("\\|") else line.strip()[1:]:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            current, escaped = current + char, True
        elif char == "|":
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def check_markdown(text, expected):
    assert not UNPRINTABLE_RE.search(text), repr(UNPRINTABLE_RE.search(text).group())
    widths = None
    for line in text.splitlines():   # each row of a table has its header's columns
        if not line.startswith("|"):
            widths = None
            continue
        count = len(cells(line))
        widths = widths or count
        assert count == widths, line
    document = lxml.html.fromstring("<div>%s</div>" % MARKDOWN.render(text))
    for element in document.iter():
        assert element.tag in MARKDOWN_TAGS, (element.tag, lxml.html.tostring(element))
        assert not element.attrib, (element.tag, element.attrib)
    check_text(document, expected)
    return document


def check_html(page, expected):
    document = lxml.html.document_fromstring(page)
    for element in document.iter():
        assert element.tag not in ("script", "img", "iframe", "svg", "a", "style") or element.tag == "style" \
            and element.getparent().tag == "head", element.tag
        assert not [name for name in element.attrib if name.lower().startswith("on")], element.attrib
    check_text(document, expected)


def check_text(document, expected):
    content = " ".join(document.text_content().split())
    assert not UNPRINTABLE_RE.search(content)
    for text in expected:
        if shown(text):
            assert shown(text) in content, (text, shown(text))


def render(directory, apply_path):
    model = fleet_report.build(directory, apply_path)
    return {key: fleet_report.render(model, str(TEMPLATES / name), key == "html")
            for key, name in fleet_report.TEMPLATES.items()}


def test_fixed_hostile_strings(tmp_path):
    """Every fixed case in every role in turn (a fleet takes 12 strings)."""
    strings = list(reversed(FIXED + FIXED[:12 - len(FIXED) % 12]))
    while strings:
        directory, apply_path, expected = fleet_dir(tmp_path / str(len(strings)), random.Random(0), strings)
        pages = render(directory, apply_path)
        check_markdown(pages["markdown"], expected)
        check_html(pages["html"], expected)


def test_generated_hostile_strings(tmp_path):
    print("hostile report strings: seed %d (ARMVIRT_REPORT_SEED=%d replays it), %d fleets" % (SEED, SEED, FLEETS))
    rng = random.Random(SEED)
    for index in range(FLEETS):
        strings = hostile(rng, 12)
        directory, apply_path, expected = fleet_dir(tmp_path / str(index), rng, strings)
        pages = render(directory, apply_path)
        check_markdown(pages["markdown"], expected)
        check_html(pages["html"], expected)


@pytest.mark.parametrize("value", ["<img src=x onerror=alert(1)>", "a`b", "``", "` x `", "x|y", " ", "a\x1b[1mb"])
def test_a_code_span_shows_its_value_exactly(value):
    """A code span's fence is longer than any backtick run in it, padded where CommonMark strips a space."""
    html = MARKDOWN.render("- %s\n" % fleet_report.markdown_code(value))
    item = lxml.html.fromstring(html).find(".//li")
    assert item.text_content() == fleet_report.printable(value).strip() or item.text_content() \
        == fleet_report.printable(value), html
    assert [element.tag for element in item.iter()] in (["li"], ["li", "code"])


def test_printable_removes_escape_sequences_whole():
    assert fleet_report.printable("\x1b[31mred\x1b[0m \x1b]0;title\x07x \x9b2Jy \u202eab\tc\nd\x00") \
        == "red x y ab c d"
