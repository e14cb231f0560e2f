"""The playbooks document themselves as the plugins do: every variable a playbook takes is named in its header
comment and in a guide, and nothing it publishes to AWX (set_stats) can be mistaken for a variable."""

import collections
import json
import re

import pytest
import yaml

from eco_helpers import ROOT, describe, run, tool

pytestmark = pytest.mark.ecosystem

PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))
ROLE_FILES = sorted((ROOT / "roles").rglob("*.yml"))
GUIDES = "\n".join(path.read_text() for path in sorted((ROOT / "docs").glob("*.md")))
NAME = r"armvirt_cpu_[a-z0-9_]+"


def header(text):
    """The comment block a playbook starts with (after the document marker)."""
    lines = text.splitlines()[1:] if text.startswith("---") else text.splitlines()
    comments = []
    for line in lines:
        if not line.startswith("#"):
            break
        comments.append(line)
    return "\n".join(comments)


def inputs(text):
    """Variables the playbook reads with a fallback (default, is defined) and never sets itself."""
    read = set(re.findall(r"\b(%s)\s*(?:\|\s*default\b|is (?:not )?defined)" % NAME, text))
    set_here = set(re.findall(r"^\s*(%s):" % NAME, text, re.M)) | set(re.findall(r"register:\s*(%s)" % NAME, text))
    return read - set_here


# the tasks that publish to AWX, and the option holding what they publish
PUBLISHERS = {"ansible.builtin.set_stats": "data", "set_stats": "data", "armvirt.cpu.rollout_record": "stats"}


def published(node):
    """How often each name is a key of the data a task publishes (set_stats, or rollout_record's stats), anywhere in a
    parsed playbook."""
    names = collections.Counter()
    if isinstance(node, list):
        for item in node:
            names += published(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            names += collections.Counter(list(value[PUBLISHERS[key]])) if key in PUBLISHERS else published(value)
    return names


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda path: path.stem)
def test_every_variable_a_playbook_takes_is_documented(playbook):
    text = playbook.read_text()
    taken = inputs(text)
    assert taken, "%s: found no variables; the pattern no longer matches the playbook" % playbook.name
    assert sorted(name for name in taken if not re.search(r"\b%s\b" % name, header(text))) == [], \
        "%s: variables missing from its header comment" % playbook.name
    assert sorted(name for name in taken if "`%s`" % name not in GUIDES) == [], \
        "%s: variables no guide in docs/ describes" % playbook.name


def test_published_stats_are_no_variable_of_a_playbook_or_the_role():
    """AWX passes set_stats data to the next job of a workflow as extra variables, which beat every other kind:
    a name that a playbook or the role also reads or sets would be overridden there."""
    stats = sum((published(yaml.safe_load(path.read_text())) for path in PLAYBOOKS), collections.Counter())
    assert {"armvirt_cpu_classes", "armvirt_cpu_rollout_status"} <= set(stats)
    sources = [path.read_text() for path in PLAYBOOKS + ROLE_FILES]
    for name, keys in sorted(stats.items()):
        uses = sum(len(re.findall(r"\b%s\b" % name, text)) for text in sources)
        assert uses == keys, "%s is published by set_stats and used %d more time(s) as a variable" % (name, uses - keys)


# ---------------------------------------------------------------------------------------------------- counts and
# option lists the guides state, held to the code

README = (ROOT / "README.md").read_text()
WORDS = dict((word, number) for number, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen".split()))
# a guide lists a module's options as a table whose first header cell is "`armvirt.cpu.<module>` option"
OPTION_TABLE = re.compile(r"^\| `armvirt\.cpu\.(\w+)` option \|.*\n\|[-| ]+\|\n((?:\|.*\n)+)", re.M)


def number(word):
    return int(word) if word.isdigit() else WORDS[word.lower()]


def test_the_guides_state_as_many_playbooks_as_ship():
    claims = re.findall(r"\b(\w+) playbooks ship\b", GUIDES + README, re.I)
    assert claims, "no guide says how many playbooks ship"
    assert [number(claim) for claim in claims] == [len(PLAYBOOKS)] * len(claims), claims
    fleet_guide = (ROOT / "docs" / "fleet-guide.md").read_text()
    for playbook in PLAYBOOKS:   # and the table under that sentence names each
        assert re.search(r"^\| `%s` \|" % playbook.stem, fleet_guide, re.M), playbook.stem


def test_the_guides_state_the_demos_host_count():
    import demo   # tools/demo.py (tools is on sys.path, tests/conftest.py)
    claims = re.findall(r"`scripts/demo`.{0,120}?\b(\w+) simulated hosts", GUIDES, re.S)
    assert len(claims) >= 2, claims
    assert [number(claim) for claim in claims] == [len(demo.FLEET)] * len(claims), claims
    assert all(name != demo.UNREACHABLE for name, _profile, _accel in demo.FLEET)   # "and an unreachable one"


def module_options(module):
    proc = run([tool("ansible-doc"), "--json", "armvirt.cpu." + module])
    assert proc.returncode == 0, describe(proc)
    return set(json.loads(proc.stdout)["armvirt.cpu." + module]["doc"]["options"])


def test_every_option_table_in_the_guides_lists_the_modules_options():
    tables = OPTION_TABLE.findall(GUIDES)
    assert "cpu_check" in [module for module, _rows in tables]
    for module, rows in tables:
        listed = [re.match(r"\| `(\w+)` \|", row).group(1) for row in rows.splitlines()]
        assert len(listed) == len(set(listed)), (module, listed)
        assert set(listed) == module_options(module), module
