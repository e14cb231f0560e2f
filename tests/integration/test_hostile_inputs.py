"""Hostile input end to end: generated host names, guest names, libvirt domain names, QMP values and policy files
through armvirt.cpu.gather, classify, rollout, apply and report, with real ansible-playbook runs over simulated hosts
(armsim) and a real libvirtd.

What must hold: nothing is written outside the directories the run was given; neither report page holds markup or a
control character that came from data (the Markdown page judged on the HTML markdown-it makes of it); no untrusted
program runs (a domain's <emulator> of its definer's choosing, ``$(...)``, backticks and ``;`` in names); each hostile
input is refused with a reason that names it; the unusual legitimate hosts and guests are gathered, rolled out and
reported; and the one host whose QEMU reports hostile values loses its own pool's policy only.

Host names come from a seeded generator: the seed is printed, ARMVIRT_HOSTILE_SEED repeats another. Ansible's own
inventory refuses ``[`` without ``]`` in a host name (its range patterns), so the generator leaves brackets out.
"""

import collections
import hashlib
import json
import os
import random
import re
import sys
import time
import uuid

import lxml.html
import pytest
import yaml
from markdown_it import MarkdownIt

import libvirtd
from conftest import ROOT
from hostile_fleet import Fleet, tree

from ansible_collections.armvirt.cpu.plugins.module_utils._common import paths
from ansible_collections.armvirt.cpu.plugins.module_utils._guest.domain_files import guest_name_problem

SEED = int(os.environ.get("ARMVIRT_HOSTILE_SEED") or 20261207)
# names that run something if any shell ever evaluates them: the file appears in the fleet's directory (the cwd)
SHELL = ["$(touch pwned-dollar)", "`touch pwned-tick`", "; touch pwned-semi"]
MARKUP = ["<img src=x onerror=alert(1)>", "<script>", "&amp;", "&", "`id`", "|", "*em*", "_u_", "<!--", "-->",
          "javascript:alert(1)", "\"", "'", "# ", "> ", "<svg onload=x>", "<iframe>"] + SHELL
CONTROL = ["\x1b]0;title\x07", "\x1b(B", "\x07", "\x9b2J", "\u202e", "\t", "\n", "\x7f", "\x85", "\u2066"]
PLAIN = ["hv", "é", "01", "\u212a", "-", ".", " ", "ü"]
HOSTILE_COUNT, PATH_COUNT = 8, 3   # generated host names; of them, names with a path in them
LEGITIMATE = ["fe80::1", "hôte é", "a:b", "-dash.example"]
ODD_VALUES, ODD_NAMES, BAD_GUESTS = "odd-values.example", "odd-names.example", "guests.example"
BASE = "neoverse-n1"
# what the simulated QEMU of ODD_VALUES reports for one property, and a property name of ODD_NAMES
HOSTILE_VALUES = ["<script>alert(1)</script>", "a&b", "`id`", "\x1b[31mred\x1b[0m", "a|b", "k", "\u212a", "a,b=c"]
HOSTILE_PROPERTY = "x<img src=x onerror=alert(1)>\x1b[2J"
GUESTS = [{"name": name, "memory": 1024, "vcpus": 2} for name in ("web1", "db-2.internal_a", "-x_y", "0")]
HOSTILE_GUESTS = ["../x", "a/b", "<img src=x>", "new\nline", "esc\x1b[31m", "..", ".hidden", "a b", "a,b=c"]
# libvirt takes it (a newline it refuses); domains are addressed by UUID
# unique per run: a run killed before its clean-up leaves its domains defined in the machine's libvirtd
DOMAIN_NAME = "  lead 'q' \"dq\" & <lt> é, comma $(touch pwned-domain) %s" % uuid.uuid4().hex[:6]
PROPS = json.loads((ROOT / "tests" / "fixtures" / "facts" / "qemu-7.2-released.json").read_text())  # real TCG max
POLICIES = {   # policy files given to rollout (the first three are refused before anything is written) and report
    "yaml-error.yml": "mode: maximum\nfeatures:\n  - {name: sve\n",
    "bad-feature.yml": yaml.safe_dump({"description": "<script>alert(1)</script> & <b>bold</b>",
                                       "mode": "maximum", "features": [{"name": "sve,pmu=on"}]}),
    "bad-value.yml": yaml.safe_dump({"mode": "maximum", "features": [{"name": "sve", "value": "on=off|<b>"}]}),
    "<i>pol&icy 'q'.yml": yaml.safe_dump({"description": "<img src=x onerror=alert(1)> `id` \x1b[2J | & done",
                                          "mode": "maximum", "features": [{"name": "sve"}, {"name": "sve256"}]}),
}
REFUSED_POLICIES = ["yaml-error.yml", "bad-feature.yml", "bad-value.yml"]
# control characters no page may hold: C0 but tab and newline, DEL, C1 (ESC is C0)
CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# the tags each page's template makes itself; anything else came from data
HTML_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "div", "b", "span", "main",
             "section", "table", "thead", "tbody", "tr", "th", "td", "br", "p", "ul", "li", "details", "summary",
             "code"}
HTML_ATTRIBUTES = {"lang", "charset", "class", "id", "title", "rowspan", "colspan", "data-host", "data-prop",
                   "data-request"}
MARKDOWN_TAGS = {"h1", "h2", "p", "ul", "li", "strong", "code", "table", "thead", "tbody", "tr", "th", "td", "hr"}
MARKDOWN = MarkdownIt("commonmark").enable("table")


def generated_names(seed):
    """HOSTILE_COUNT distinct host names: PATH_COUNT with a path in them ('/' or '..'), one longer than a file name
    may be, the rest markup, control characters and shell syntax that a file name may hold."""
    rng = random.Random(seed)
    names = []
    while len(names) < PATH_COUNT:
        tail = "".join(rng.choices(MARKUP + PLAIN, k=rng.randint(1, 3)))
        name = rng.choice(["../" * rng.randint(1, 3) + tail, tail + "/" + rng.choice(PLAIN), ".."])
        if name not in names:
            names.append(name)
    # 251-252 bytes, over 255 with ".json"; not longer: ansible-core's jsonfile fact cache names a host's file "s1_" +
    # the name, so 253 bytes or more fail the whole run in Ansible ("File name too long") before any task can refuse it
    names.append("é" * 125 + "x" * rng.randint(1, 2))
    while len(names) < HOSTILE_COUNT:   # the first ones carry each piece of shell syntax
        start = SHELL[len(names) - PATH_COUNT - 1] if len(names) - PATH_COUNT - 1 < len(SHELL) else ""
        name = start + "".join(rng.choices(MARKUP + CONTROL + PLAIN, k=rng.randint(1, 4)))
        if paths.component_problem(name, ".json") is None and name.strip() and name not in names:
            names.append(name)
    return names


HOSTILE = generated_names(SEED)
REFUSED_HOSTS = [name for name in HOSTILE if paths.component_problem(name, ".json")]
ODD_HOSTS = [name for name in HOSTILE if name not in REFUSED_HOSTS]   # hostile text, but a name a file may have
PROBED = LEGITIMATE + ODD_HOSTS + [ODD_VALUES, ODD_NAMES, BAD_GUESTS]


def odd_profile(path, unchecked):
    """An armsim profile: the base profile with ``unchecked`` props-info elements sent as they are."""
    data = json.loads((ROOT / "tools" / "armsim" / "profiles" / (BASE + ".json")).read_text())
    data.update(name=path.stem, unchecked_properties=unchecked)
    path.write_text(json.dumps(data))
    return str(path)


def shown(text):
    """What a page shows of ``text``: its printable characters (the report's own rule), white space collapsed."""
    from ansible_collections.armvirt.cpu.plugins.plugin_utils.fleet_report import printable
    return " ".join(printable(text).split())


def digest(folder):
    return {path: hashlib.sha256((folder / path).read_bytes()).hexdigest()
            for path in sorted(tree(folder)) if (folder / path).is_file()}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, libvirt_daemon, qemu_binary):
    """Every playbook once over the hostile fleet; the tests read what each run left."""
    print("hostile inputs: seed %d (ARMVIRT_HOSTILE_SEED=%d repeats it); host names %r" % (SEED, SEED, HOSTILE))
    started = time.monotonic()
    top = tmp_path_factory.mktemp("hostile-inputs")
    profiles = dict.fromkeys(LEGITIMATE + HOSTILE + [BAD_GUESTS], BASE)
    profiles[ODD_VALUES] = odd_profile(top / "odd-values.json", [
        {"name": "x-evil", "type": "string", "supported-values": HOSTILE_VALUES}])
    profiles[ODD_NAMES] = odd_profile(top / "odd-names.json", [
        {"name": HOSTILE_PROPERTY, "type": "string", "supported-values": ["a"]}])
    for folder in ("tmp", "ansible-tmp"):
        (top / folder).mkdir()
    fleet = Fleet(top, profiles, GUESTS, forks=16, host_vars={BAD_GUESTS: {"armvirt_cpu_guests": GUESTS[:1] + [
        {"name": name, "memory": 1024, "vcpus": 2} for name in HOSTILE_GUESTS]}},
        env={"TMPDIR": str(top / "tmp"), "ANSIBLE_LOCAL_TEMP": str(top / "ansible-tmp"),
             "ANSIBLE_REMOTE_TEMP": str(top / "ansible-tmp")})
    policies = fleet.root / "policies-in"
    policies.mkdir()
    for name, text in POLICIES.items():
        (policies / name).write_text(text, encoding="utf-8")
    fleet.policies = {name: str(policies / name) for name in POLICIES}
    # the apply's domains: a hostile but legal name, and one whose <emulator> is a definer's script
    definer = top / "definer"
    definer.mkdir()
    script, fleet.marker = definer / "qemu-system-aarch64", top / "untrusted-emulator-ran"
    script.write_text('#!/bin/sh\ncase "$*" in *armvirt-probe-*) id -u > %s ;; esac\nexec %s "$@"\n'
                      % (fleet.marker, qemu_binary))
    script.chmod(0o755)
    fleet.domains = {}
    for name, emulator in ((DOMAIN_NAME, qemu_binary), ("armvirt-untrusted-%s" % uuid.uuid4().hex[:8], script)):
        fleet.domains[name] = str(uuid.uuid4())
        path = definer / ("%s.xml" % fleet.domains[name])
        path.write_text(libvirtd.minimal_domain(name, emulator, fleet.domains[name]), encoding="utf-8")
        libvirtd.virsh("define", str(path))
    fleet.untrusted = [name for name in fleet.domains if name != DOMAIN_NAME][0]
    apply_inventory = fleet.root / "apply-inventory.yml"
    apply_inventory.write_text(yaml.safe_dump({"hypervisors": {"hosts": {"hv1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    fleet.apply_summary = fleet.root / "apply.json"
    fleet.cwd_before = sorted(os.listdir(os.getcwd()))
    fleet.parent_before = sorted(os.listdir(str(top.parent)))
    fleet.before = tree(top)
    outputs = fleet.outputs = {}
    timings = fleet.timings = {}

    def run(key, playbook, *args, **options):
        begin = time.monotonic()
        outputs[key] = fleet.run(playbook, *args, **options)
        timings[key] = time.monotonic() - begin

    try:
        run("gather", "gather")
        run("classify", "classify")
        fleet.gathered = digest(fleet.artifacts)
        # the hostile hosts fail in the one batch: the rollout must go on with the others
        run("rollout", "rollout", "-e", "armvirt_cpu_max_fail_percentage=100", "-e", "armvirt_cpu_serial=20")
        fleet.rolled = digest(fleet.artifacts / "rollout")
        for name in REFUSED_POLICIES:
            run("rollout " + name, "rollout", "-e", json.dumps({"armvirt_cpu_policy_file": fleet.policies[name]}))
        fleet.after_refused = digest(fleet.artifacts / "rollout")
        fleet.untrusted_before = libvirtd.virsh("dumpxml", "--inactive", fleet.domains[fleet.untrusted]).stdout
        run("apply", "apply", inventory=apply_inventory, *["-e", json.dumps({
            "armvirt_cpu_apply_policy_file": fleet.policies["<i>pol&icy 'q'.yml"],
            "armvirt_cpu_apply_domains": list(fleet.domains), "armvirt_cpu_apply_props": PROPS,
            "armvirt_cpu_apply_summary": str(fleet.apply_summary),
            "armvirt_cpu_cache_dir": str(top / "apply-cache")})])
        fleet.dumped = {name: libvirtd.virsh("dumpxml", "--inactive", domain_uuid).stdout
                        for name, domain_uuid in fleet.domains.items()}
        run("report", "report", "-e", json.dumps({"armvirt_cpu_apply_summary": str(fleet.apply_summary),
                                                  "armvirt_cpu_report_requests": list(fleet.policies.values())}))
    finally:
        for domain_uuid in fleet.domains.values():
            libvirtd.virsh("undefine", domain_uuid, check=False)
    fleet.after = tree(top)
    fleet.cwd_after = sorted(os.listdir(os.getcwd()))
    fleet.parent_after = sorted(os.listdir(str(top.parent)))
    fleet.elapsed = time.monotonic() - started
    print("hostile inputs: %.0f s (%s)" % (fleet.elapsed, ", ".join("%s %.0f s" % item for item in timings.items())))
    return fleet


def refusals(fleet):
    """Every refusal of a hostile input, as (input, reason) pairs, read from where each is reported."""
    found = []
    state = fleet.json("fleet.json")
    for host in REFUSED_HOSTS:
        entry = state["hosts"][host]
        problem = paths.component_problem(host, ".json")
        assert entry["status"] == "invalid-name" and not entry["usable"], entry
        assert entry["reason"] == ("host %r: its inventory name cannot be a file name (%s); rename it in the "
                                   "inventory" % (host, problem)), entry
        assert entry["reason"] in fleet.outputs["gather"][1]
        found.append((host, "host name: " + re.sub(r"\d+ bytes", "N bytes", problem)))
    record = json.loads((fleet.artifacts / "rollout" / "hosts" / (BAD_GUESTS + ".json")).read_text())
    assert record["status"] == "failed"
    messages = [error["message"] for error in record["errors"] if error["rule"] == "bad-guest-name"]
    for guest in HOSTILE_GUESTS:
        (message,) = [text for text in messages if " guest name %r " % guest in text]
        assert message == "%s (fleet baseline): %s." % (BAD_GUESTS, guest_name_problem(guest))
        found.append((guest, "guest name: " + ("starts with a dot" if "starts with a dot" in message
                                               else "not a plain token")))
    gather = fleet.outputs["gather"][1]
    assert ("query-arm-cpu-props-info: element 70: name %r is not made of letters, digits, '.', '_' and '-'; "
            "falling back to the next dialect" % HOSTILE_PROPERTY) in gather
    found.append((HOSTILE_PROPERTY, "QMP property name: not made of letters, digits, '.', '_' and '-'"))
    expected = {"yaml-error.yml": "not valid YAML/JSON: while parsing a flow mapping",
                "bad-feature.yml": "feature name 'sve,pmu=on' is not a plain token",
                "bad-value.yml": "sve has value 'on=off|<b>', which is not a plain token"}
    for name in REFUSED_POLICIES:
        code, output = fleet.outputs["rollout " + name]
        assert code == 2 and "%s: %s" % (fleet.policies[name], expected[name]) in output, output[-3000:]
        assert "nothing was written (the last rollout's record is as it was)" in output
        found.append((name, "policy file: " + ("YAML error" if "YAML" in expected[name] else "not a plain token")))
    summary = json.loads(fleet.apply_summary.read_text())
    (failed,) = summary["failed"]
    assert failed.startswith("hv1/%s: " % fleet.untrusted) and "the emulator %s is not trusted, so it was not run" \
        % (fleet.top / "definer" / "qemu-system-aarch64") in failed, failed
    found.append((fleet.untrusted, "domain emulator: not trusted, not run"))
    return found


def test_each_hostile_input_is_refused_with_a_reason_that_names_it(fleet):
    found = refusals(fleet)
    counts = collections.Counter(reason for _input, reason in found)
    print("hostile inputs refused: %d (%s); %.0f s" % (len(found), dict(sorted(counts.items())), fleet.elapsed))
    assert len(found) == len(REFUSED_HOSTS) + len(HOSTILE_GUESTS) + 1 + len(REFUSED_POLICIES) + 1
    # the policy files refused changed nothing: the last rollout's record has the same bytes
    assert fleet.after_refused == fleet.rolled


def test_nothing_is_written_outside_the_configured_directories(fleet):
    allowed = ["site/deep/er/fleet/artifacts/", "site/deep/er/fleet/facts/", "apply-cache/", "ansible-tmp/",
               "site/deep/er/fleet/apply.json/"]
    allowed += ["site/deep/er/%s/%s/" % (fleet.homes[host], folder) for host in PROBED for folder in ("cache", "out")]
    stray = sorted(path for path in fleet.after - fleet.before
                   if not any((path + "/").startswith(prefix) for prefix in allowed))
    assert stray == [], stray
    assert os.listdir(str(fleet.top / "tmp")) == []   # every probe's private directory was removed
    assert fleet.cwd_after == fleet.cwd_before and fleet.parent_after == fleet.parent_before
    for host in REFUSED_HOSTS:   # not probed, nothing cached or rendered for them
        assert tree(fleet.home(host)) == {"qemu-system-aarch64"}
    assert not list(fleet.home(BAD_GUESTS).glob("out/*.xml"))
    facts = sorted(os.listdir(str(fleet.facts)))
    assert len(facts) == len(PROBED) and all(any(name.endswith(host) for host in PROBED) for name in facts), facts
    # the fleet's own artifacts, and a report of two pages
    assert sorted(os.listdir(str(fleet.artifacts / "report"))) == ["index.html", "report.md"]
    assert sorted(os.listdir(str(fleet.artifacts / "rollout" / "hosts"))) == sorted(
        ["rack1"] + [host + ".json" for host in PROBED])


def test_no_untrusted_program_runs(fleet):
    assert not fleet.marker.exists()
    assert fleet.dumped[fleet.untrusted] == fleet.untrusted_before
    # what "touch pwned-..." in a name would have made, in the directory of whatever shell ran it
    made = {"pwned-dollar", "pwned-tick", "pwned-semi", "pwned-domain"}
    assert not [path for path in tree(fleet.top) if os.path.basename(path) in made]
    assert not made & set(os.listdir(os.getcwd())) and not made & set(os.listdir("/"))


def test_reports_hold_no_markup_and_no_control_characters_from_data(fleet):
    markdown = (fleet.artifacts / "report" / "report.md").read_text(encoding="utf-8")
    page = (fleet.artifacts / "report" / "index.html").read_text(encoding="utf-8")
    for text in (markdown, page):
        assert not CONTROL_RE.search(text), repr(CONTROL_RE.search(text).group())
    rendered = lxml.html.fromstring("<div>%s</div>" % MARKDOWN.render(markdown))
    for element in rendered.iter():
        assert element.tag == "div" and element is rendered or element.tag in MARKDOWN_TAGS, element.tag
        assert not element.attrib, (element.tag, element.attrib)
    document = lxml.html.document_fromstring(page)
    for element in document.iter():
        assert element.tag in HTML_TAGS, element.tag
        assert set(element.attrib) <= HTML_ATTRIBUTES, (element.tag, element.attrib)
    assert [element.tag for element in document.iter("style", "script", "img", "svg", "iframe")] == ["style"]
    texts = {"markdown": " ".join(rendered.text_content().split()), "html": " ".join(document.text_content().split())}
    hostile = HOSTILE + HOSTILE_VALUES + [DOMAIN_NAME, "<i>pol&icy 'q'.yml"]
    for kind, content in texts.items():
        assert not CONTROL_RE.search(content)
        missing = [text for text in hostile if shown(text) not in content]
        assert missing == [], (kind, missing)
        for guest in HOSTILE_GUESTS:   # in the reason the guests' host failed with
            assert shown("guest name %r" % guest) in content, (kind, guest)


def test_legitimate_and_odd_but_valid_names_are_gathered_rolled_out_and_reported(fleet):
    state = fleet.json("fleet.json")
    names = sorted(guest["name"] + ".xml" for guest in GUESTS)
    for host in PROBED:
        assert state["hosts"][host]["status"] == "ok" and state["hosts"][host]["usable"], host
        if host == BAD_GUESTS:
            continue
        record = json.loads((fleet.artifacts / "rollout" / "hosts" / (host + ".json")).read_text())
        assert record["status"] == "ok" and sorted(record["guests"]) == sorted(g["name"] for g in GUESTS), host
        assert sorted(path.name for path in fleet.home(host).glob("out/*.xml")) == names, host
    markdown = (fleet.artifacts / "report" / "report.md").read_text(encoding="utf-8")
    shown_md = " ".join(lxml.html.fromstring("<div>%s</div>" % MARKDOWN.render(markdown)).text_content().split())
    for host in LEGITIMATE:
        assert host in shown_md
    summary = json.loads(fleet.apply_summary.read_text())
    assert summary["changed"] == ["hv1/" + DOMAIN_NAME], summary
    assert "sve256" in fleet.dumped[DOMAIN_NAME]


def test_the_odd_hosts_pool_gets_a_consistent_policy_and_every_other_pool_its_own(fleet):
    state = fleet.json("fleet.json")
    classes = fleet.json("classes.json")
    odd = classes["hosts"][ODD_VALUES]
    assert classes["classes"][odd]["hosts"] == [ODD_VALUES]
    policies = fleet.artifacts / "policies"
    assert state["failed_pools"] == {}
    assert sorted(os.listdir(str(policies))) == sorted(["fleet.yml"] + [cid + ".yml" for cid in classes["classes"]])
    policy = yaml.safe_load((policies / (odd + ".yml")).read_text())
    (evil,) = [feature for feature in policy["features"] if feature["name"] == "x-evil"]
    assert evil["value"] == "k"   # the one plain token among the values; the hostile ones are not recommended
    document = lxml.html.document_fromstring((fleet.artifacts / "report" / "index.html").read_text(encoding="utf-8"))
    (row,) = [row for row in document.iter("tr") if row.get("data-request") == "pool " + odd]
    assert " ".join(row.xpath("string(td[3])").split()) == ODD_VALUES   # it fits the pool's own host
