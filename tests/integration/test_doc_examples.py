"""The worked examples of the guides, run for real on simulated hosts (tools/armsim) and compared with what the
guides say they give.

Each runnable example in docs/guest-guide.md, guest-validation.md, fleet-guide.md and host-guide.md follows a
marker on the line before it, ``<!-- doc-example: NAME (what it is and what it needs) -->``, which the docs site
leaves out. The examples are taken from the Markdown as they are: playbooks and tasks run with ansible-playbook
against an inventory of simulated hosts written in a temporary directory (only directories move there), the Python
examples run with the collection's module_utils on facts probed from the simulated hosts. A fragment (an ansible.cfg
excerpt, role variables, a task) runs inside the run it belongs to. A marker without its example, or a guide with
another set of markers than the test knows, fails. The playbook runs of the four guides start at once and share
hosts where they can, so the whole file takes well under two minutes.

The dialect table of guest-validation.md is executed by tests/unit/plugins/module_utils/_host/test_vocabulary.py.
"""

import concurrent.futures
import doctest
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest
import yaml

from armsim import load_profile, write_wrapper
from armsim.profiles import host_tree
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import delivery, domain_xml, validate
from ansible_collections.armvirt.cpu.plugins.module_utils._host import collect

from libvirtd import SCHEMAS, needs_libvirt_schema
from test_fleet_playbooks import outcome

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MARKER = re.compile(r"^<!-- doc-example: ([\w-]+)\b.*-->$")
FENCE = re.compile(r"^```([\w+-]*)\s*$")
# every runnable example of each guide, by marker name: a guide with fewer (or others) fails
EXPECTED = {
    "guest-guide.md": {"ras-policy", "ras-play", "ras-feature-value", "ras-qemu-commandline",
                       "ras-qemu-commandline-libvirt11", "ras-cpu-check", "emulator-vars"},
    "guest-validation.md": {"request", "api", "conditional-values", "error-record", "examples-table", "filters"},
    "fleet-guide.md": {"inventory", "ansible-cfg", "commands", "refused"},
    "host-guide.md": {"facts-modules-cfg", "facts-modules-play", "sve256-check"},
}
# the guides name these hosts; each is a simulated host of this profile
ALTRA, ALTRA_OLD, GRAVITON3, RELEASED = "neoverse-n1", "neoverse-n1-oldkernel", "neoverse-v1", "qemu-7.2-released"
FLEET_PROFILES = {"altra": ALTRA, "graviton3": GRAVITON3}
DEFAULT_EMULATOR = "/usr/bin/qemu-system-aarch64"


def examples(guide):
    """{marker name: text} of a guide: the fenced block (without its fences) or the table right after each marker."""
    lines = (DOCS / guide).read_text(encoding="utf-8").splitlines()
    found = {}
    for index, line in enumerate(lines):
        marker = MARKER.match(line)
        if not marker:
            continue
        name, body = marker.group(1), []
        assert name not in found, "%s: marker %s twice" % (guide, name)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if FENCE.match(following):
            for code in lines[index + 2:]:
                if FENCE.match(code):
                    break
                body.append(code)
            else:
                pytest.fail("%s: the block after marker %s has no closing fence" % (guide, name))
        elif following.startswith("|"):
            for row in lines[index + 1:]:
                if not row.startswith("|"):
                    break
                body.append(row)
        else:
            pytest.fail("%s: marker %s (line %d) is not followed by a fenced block or a table" % (
                guide, name, index + 1))
        found[name] = "\n".join(body) + "\n"
    return found


def squeeze(text):
    return re.sub(r"\s+", "", text)


def says(expected, actual, emulator=None):
    """Whether ``actual`` is what the guide's text ``expected`` says, white space aside, ``...`` standing for any
    text, and the simulated host's emulator standing for the default path the guide shows."""
    if emulator:
        actual = actual.replace(emulator, DEFAULT_EMULATOR)
    pattern = ".*?".join(re.escape(part) for part in squeeze(expected).split("..."))
    return re.fullmatch(pattern, squeeze(actual), re.S) is not None


def in_order(shown, document):
    """Whether every line the guide shows of a document (``...`` lines elide) is in it, in that order."""
    lines = iter(line.strip() for line in document.splitlines())
    return all(any(line == wanted for line in lines) for wanted in (
        line.strip() for line in shown.splitlines() if line.strip() and line.strip() != "..."))


def sim_host(root, name, profile, accel="kvm"):
    """Host variables of a simulated hypervisor reached over a local connection: its own stand-in emulator, cache,
    output directory and recorded host tree."""
    home = root / "hosts" / name
    home.mkdir(parents=True)
    emulator = home / "qemu-system-aarch64"
    write_wrapper(str(emulator), profile)
    variables = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "armvirt_cpu_emulator": str(emulator), "armvirt_cpu_accel": accel,
                 "armvirt_cpu_cache_dir": str(home / "cache"), "armvirt_cpu_output_dir": str(home / "out"),
                 "guest_cpu_output_dir": str(home / "out")}
    tree = host_tree(load_profile(profile).data)
    if tree:
        variables["armvirt_cpu_sysfs_path"], variables["armvirt_cpu_procfs_path"] = tree
    return variables


def write_inventory(path, groups):
    """An inventory of groups of hosts: {group: {host: variables}}."""
    path.write_text(yaml.safe_dump({"all": {"children": {
        group: {"hosts": hosts} for group, hosts in groups.items()}}}))


def ansible(root, argv):
    """Run an ansible command in ``root`` as an operator would there (its ./ansible.cfg, if any); (code, output)."""
    env = {key: value for key, value in os.environ.items() if key != "ANSIBLE_CONFIG"}
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0")
    proc = subprocess.run(argv, cwd=str(root), env=env, capture_output=True, text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout + proc.stderr


RESULT = re.compile(r"^(ok|changed|fatal|skipping): \[([^\]]+)\](?:: FAILED!)?( => \{|$)", re.M)
TASK = re.compile(r"^TASK \[(.*?)\] \*+$", re.M)


def results(output):
    """[(task name, host, status, result)] in the order the default callback printed them (result {} where it
    printed none)."""
    tasks = [(match.start(), match.group(1)) for match in TASK.finditer(output)]
    found = []
    for match in RESULT.finditer(output):
        task = [name for start, name in tasks if start < match.start()][-1]
        result = json.JSONDecoder().raw_decode(output, match.end() - 1)[0] if match.group(3) else {}
        found.append((task, match.group(2), match.group(1), result))
    return found


def result_of(output, task, host, occurrence=0):
    """(status, result) of ``task`` on ``host``; ``occurrence`` counts the task's runs on that host."""
    hits = [(status, result) for name, where, status, result in results(output) if name == task and where == host]
    assert len(hits) > occurrence, "no result %d of task %r on %s in:\n%s" % (occurrence, task, host, output[-4000:])
    return hits[occurrence]


def rescued(tasks):
    """The guide's tasks in a block whose rescue keeps the host in the run: a refusal the guide shows is printed as
    the task's failure, and the plays after it still run."""
    return [{"block": tasks, "rescue": [{"name": "The guide's task failed", "ansible.builtin.debug": {
        "msg": "rescued"}}]}]


def fact_of(root, profile):
    """The arm_cpu_props fact of a simulated host, probed with the collection's own code."""
    home = root / "facts" / profile.replace("@", "-")
    home.mkdir(parents=True)
    emulator = str(home / "qemu-system-aarch64")
    write_wrapper(emulator, profile)
    tree = host_tree(load_profile(profile).data) or ("/sys", "/proc")
    return collect.host_fact(collect.probe_host(emulator, "kvm", 10), "kvm", emulator, "probe", *tree)


# -- the runs, all started at once ----------------------------------------------------------------------------------


def refused_play(shown):
    """A play on the TCG-only legacy-01 that renders, with the role and its confirmation, the guests and the -cpu
    value of the refusal fleet-guide.md shows."""
    arg = re.search(r"-cpu (\S+)", shown).group(1)
    model, settings = arg.split(",", 1)
    assert model == "host" and all(item.endswith("=on") for item in settings.split(",")), arg
    guests = re.search(r"\[guests: ([^\]]+)\]", shown).group(1).split(", ")
    role = {"ansible.builtin.include_role": {"name": "armvirt.cpu.guest_cpu"}, "vars": {
        "guest_cpu_mode": "host-passthrough", "guest_cpu_delivery": "qemu-commandline", "guest_cpu_confirm": True,
        "guest_cpu_features": [{"name": item[:-len("=on")]} for item in settings.split(",")],
        "guest_cpu_guests": [{"name": name, "memory": 2048, "vcpus": 2} for name in guests],
        "guest_cpu_accel": "{{ armvirt_cpu_accel }}", "guest_cpu_emulator": "{{ armvirt_cpu_emulator }}",
        "guest_cpu_cache_dir": "{{ armvirt_cpu_cache_dir }}"}}
    return {"name": "refused", "hosts": "tcg", "gather_facts": False, "tasks": [
        {"armvirt.cpu.props_cache": {"emulator": "{{ armvirt_cpu_emulator }}", "accel": "{{ armvirt_cpu_accel }}",
                                     "cache_dir": "{{ armvirt_cpu_cache_dir }}"}}] + rescued([role])}


def guest_run(root):
    """One ansible-playbook run of guest-guide.md and guest-validation.md's playbook examples, in plays that follow
    each other on two Altras: altra-01 (Linux 6.14) and altra-03 (Linux 5.15); and of the refusal fleet-guide.md
    shows, on a TCG-only host."""
    guide, validation = examples("guest-guide.md"), examples("guest-validation.md")
    (root / "policies").mkdir()
    (root / "policies" / "ras.yml").write_text(guide["ras-policy"])
    hosts = {"altra-01": sim_host(root, "altra-01", ALTRA), "altra-03": sim_host(root, "altra-03", ALTRA_OLD),
             "legacy-01": sim_host(root, "legacy-01", RELEASED, accel="tcg")}
    write_inventory(root / "inventory.yml", {"hypervisors": {"altra-01": hosts["altra-01"]},
                                             "oldkernel": {"altra-03": hosts["altra-03"]},
                                             "tcg": {"legacy-01": hosts["legacy-01"]}})
    (play,) = yaml.safe_load(guide["ras-play"])
    assert play["roles"][0]["vars"]["guest_cpu_delivery"] == "qemu-commandline"
    feature_value = yaml.safe_load(guide["ras-play"].replace(
        "guest_cpu_delivery: qemu-commandline", "guest_cpu_delivery: feature-value"))[0]
    request = yaml.safe_load(validation["request"])["guest_cpu_features"]
    wrong = request[:-1] + [{"name": "hw_prop_WRPs", "value": "4"}]
    probe_defaults = {"group/armvirt.cpu.probe": {"emulator": "{{ armvirt_cpu_emulator }}",
                                                  "cache_dir": "{{ armvirt_cpu_cache_dir }}"}}
    plays = [
        play,
        {"name": "emulator-vars", "hosts": "altra-01", "gather_facts": False,
         "vars": {"guest_cpu_output_dir": str(root / "emulators")},
         "roles": [{"role": "armvirt.cpu.guest_cpu", "vars": dict(
             yaml.safe_load(guide["emulator-vars"]), guest_cpu_policy_file="policies/ras.yml",
             guest_cpu_delivery="qemu-commandline")}]},
        {"name": "filters", "hosts": "altra-01", "gather_facts": False, "vars": {"guest_cpu_features": request},
         "tasks": yaml.safe_load(validation["filters"]) + [{"ansible.builtin.debug": {"var": "guest_cpu_arg"}}]},
        {"name": "filters, a wrong request", "hosts": "altra-01", "gather_facts": False,
         "vars": {"guest_cpu_features": wrong}, "tasks": rescued(yaml.safe_load(validation["filters"]))},
        dict(feature_value, name="feature-value", vars={
            "guest_cpu_libvirt_check": False, "guest_cpu_output_dir": str(root / "feature-value")}),
        {"name": "cpu_check", "hosts": "oldkernel", "gather_facts": False, "module_defaults": probe_defaults,
         "tasks": rescued(yaml.safe_load(guide["ras-cpu-check"]))},
        refused_play(examples("fleet-guide.md")["refused"]),
        # last: the refusal fails altra-01, and a play whose hosts all failed ends the run
        dict(feature_value, name="feature-value, this libvirt", vars={
            "guest_cpu_output_dir": str(root / "refused")}),
    ]
    (root / "play.yml").write_text(yaml.safe_dump(plays, sort_keys=False))
    code, output = ansible(root, ["ansible-playbook", "-i", "inventory.yml", "play.yml"])
    return {"code": code, "output": output, "root": root, "hosts": hosts}


def host_run(root):
    """host-guide.md's ansible.cfg and gathering play, then its cpu_check task, on a Graviton3."""
    guide = examples("host-guide.md")
    (root / "ansible.cfg").write_text(guide["facts-modules-cfg"])
    hosts = {"graviton3-01": sim_host(root, "graviton3-01", GRAVITON3)}
    write_inventory(root / "inventory.yml", {"hypervisors": hosts})
    plays = yaml.safe_load(guide["facts-modules-play"]) + [
        {"name": "cpu_check", "hosts": "hypervisors", "gather_facts": False, "module_defaults": {
            "group/armvirt.cpu.probe": {"emulator": "{{ armvirt_cpu_emulator }}",
                                        "cache_dir": "{{ armvirt_cpu_cache_dir }}"}},
         "tasks": rescued(yaml.safe_load(guide["sve256-check"]))}]
    (root / "play.yml").write_text(yaml.safe_dump(plays, sort_keys=False))
    code, output = ansible(root, ["ansible-playbook", "-i", "inventory.yml", "play.yml"])
    return {"code": code, "output": output, "root": root, "hosts": hosts}


def expand(pattern):
    """The hosts of an inventory pattern with one numeric range, ``altra-[01:02]``, as Ansible expands it."""
    match = re.fullmatch(r"(.*)\[(\d+):(\d+)\](.*)", pattern)
    if not match:
        return [pattern]
    head, low, high, tail = match.groups()
    return ["%s%0*d%s" % (head, len(low), number, tail) for number in range(int(low), int(high) + 1)]


def fleet_run(root):
    """fleet-guide.md's inventory and ansible.cfg (the fact cache's directory under ``root``), each host simulated
    by a host_vars file beside the inventory, then its commands one after the other."""
    guide = examples("fleet-guide.md")
    path = root / guide["inventory"].splitlines()[0].lstrip("# ").strip()
    assert path.name == "hypervisors.yml", guide["inventory"]
    path.parent.mkdir(parents=True)
    path.write_text(guide["inventory"])
    names = [host for pattern in yaml.safe_load(guide["inventory"])["all"]["children"]["hypervisors"]["hosts"]
             for host in expand(pattern)]
    (path.parent / "host_vars").mkdir()
    for name in names:
        variables = sim_host(root, name, FLEET_PROFILES[name.rsplit("-", 1)[0]])
        (path.parent / "host_vars" / ("%s.yml" % name)).write_text(yaml.safe_dump(variables))
    config = guide["ansible-cfg"]
    assert "fact_caching_connection = /var/cache/ansible/facts\n" in config
    (root / "ansible.cfg").write_text(config.replace("/var/cache/ansible/facts", str(root / "facts")))
    runs = []
    for line in guide["commands"].splitlines():
        argv = shlex.split(line)
        assert argv[0] == "ansible-playbook", line
        runs.append((line, ) + ansible(root, argv))
    return {"runs": runs, "root": root, "hosts": names}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every guide's playbook runs, started together; each test waits for the one it reads."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(function, tmp_path_factory.mktemp(name))
                   for name, function in (("fleet", fleet_run), ("guest", guest_run), ("host", host_run))}
        yield futures


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    root = tmp_path_factory.mktemp("facts")
    return {profile: fact_of(root, profile) for profile in (ALTRA, GRAVITON3, GRAVITON3 + "@released")}


# -- every guide has its examples -----------------------------------------------------------------------------------


@pytest.mark.parametrize("guide", sorted(EXPECTED))
def test_every_marker_has_its_example(guide):
    assert set(examples(guide)) == EXPECTED[guide]


# -- guest-guide.md -------------------------------------------------------------------------------------------------


def shown_args(play_text):
    """The guide's ``# guest: -cpu value`` comment lines under the play."""
    return dict(re.findall(r"^# (\w+):\s+(\S+)", play_text, re.M))


@needs_libvirt_schema
def test_guest_guide_play_gives_what_it_shows(runs):
    run = runs["guest"].result()
    guide = examples("guest-guide.md")
    status, result = result_of(run["output"], "ansible.builtin.debug", "altra-01")
    assert status == "ok", run["output"][-4000:]
    assert result["guest_cpu_result.qemu_cpu_args"] == shown_args(guide["ras-play"])
    out = pathlib.Path(run["hosts"]["altra-01"]["guest_cpu_output_dir"])
    assert sorted(path.name for path in out.glob("*.xml")) == ["db1.xml", "web1.xml"]
    # the <cpu> keeps what this machine's libvirt CPU map knows: libvirt 11.3's knows pauth, 9.0's does not
    arm_map = pathlib.Path("/usr/share/libvirt/cpu_map/arm_features.xml")
    knows_pauth = arm_map.is_file() and "<feature name='pauth'/>" in arm_map.read_text()
    document = (out / "web1.xml").read_text()
    shown = guide["ras-qemu-commandline-libvirt11" if knows_pauth else "ras-qemu-commandline"]
    assert in_order(shown, document), document
    # the facts came from the play's own step, which probed the simulated host's emulator and wrote its cache
    assert list(pathlib.Path(run["hosts"]["altra-01"]["armvirt_cpu_cache_dir"]).glob("*-kvm.xml"))


@needs_libvirt_schema
def test_guest_guide_feature_value_document(runs):
    """The feature-value document as the guide shows it, the -cpu libvirt makes of it, the unmodified schema's
    refusal the guide quotes, and this machine's libvirt (without the RFC) refused by libvirt_check."""
    from lxml import etree

    run = runs["guest"].result()
    text = (DOCS / "guest-guide.md").read_text(encoding="utf-8")
    shown = examples("guest-guide.md")["ras-feature-value"]
    document = (run["root"] / "feature-value" / "web1.xml").read_text()
    assert in_order(shown, document), document
    status, result = result_of(run["output"], "ansible.builtin.debug", "altra-01", occurrence=2)
    arg = re.search(r"libvirt turns this into `-cpu ([^`]+)`", text).group(1)
    assert result["guest_cpu_result.qemu_cpu_args"]["web1"] == arg
    quoted = " ".join(re.search(r"fails libvirt 9\.0's unmodified schema \(\"([^\"]+)\"\)", text).group(1).split())
    schema = etree.RelaxNG(etree.parse(os.path.join(SCHEMAS, "domain.rng")))
    assert not schema.validate(etree.fromstring(document.encode()))
    assert quoted in str(schema.error_log), str(schema.error_log)
    status, refused = result_of(run["output"], "armvirt.cpu.guest_cpu : Have this host's QEMU confirm each distinct "
                                "guest CPU request (guest_cpu_confirm), then write the guests' XML", "altra-01",
                                occurrence=3)
    assert status == "fatal" and {"libvirt-drops-value", "libvirt-unknown-feature"} == {
        error["rule"] for error in refused["errors"]}, refused
    assert not (run["root"] / "refused").exists()


@needs_libvirt_schema
def test_guest_guide_cpu_check_refusal(runs):
    run = runs["guest"].result()
    shown = examples("guest-guide.md")["ras-cpu-check"]
    message = " ".join(line.strip().lstrip("#").strip() for line in shown.split("# fails with", 1)[1].splitlines())
    status, result = result_of(run["output"], "Ask this host's QEMU about the policy before rendering anything",
                               "altra-03")
    assert status == "fatal" and result["method"] == "start", result
    assert says(message.strip('" '), result["msg"], run["hosts"]["altra-03"]["armvirt_cpu_emulator"]), result["msg"]


@needs_libvirt_schema
def test_guest_guide_emulator_per_guest(runs):
    run = runs["guest"].result()
    variables = yaml.safe_load(examples("guest-guide.md")["emulator-vars"])
    for guest in variables["guest_cpu_guests"]:
        document = (run["root"] / "emulators" / ("%s.xml" % guest["name"])).read_text()
        wanted = guest.get("emulator", variables["guest_cpu_emulator"])
        assert "<emulator>%s</emulator>" % wanted in document, document


# -- guest-validation.md --------------------------------------------------------------------------------------------


def request(block):
    return yaml.safe_load(block)["guest_cpu_features"]


def test_guest_validation_request_and_api(facts):
    guide = examples("guest-validation.md")
    text = (DOCS / "guest-validation.md").read_text(encoding="utf-8")
    features, fact = request(guide["request"]), facts[ALTRA]
    namespace = {"features": features, "props_fact": fact}
    exec(compile(guide["api"], "guest-validation.md (api)", "exec"), namespace)   # pylint: disable=exec-used
    assert namespace["errors"] == [] and namespace["arg"]
    arg = re.search(r"which becomes `-cpu ([^`]+)` for QEMU", text).group(1)
    assert validate.qemu_cpu_arg(features, props_fact=fact) == arg
    element = domain_xml.libvirt_text(delivery.cpu_element("host-passthrough", namespace["normalised"]))
    for comment in re.findall(r"# (<feature .*?/>)", guide["request"]):
        assert comment in element, element


def test_guest_validation_error_record(facts):
    block = examples("guest-validation.md")["error-record"]
    test = doctest.DocTestParser().get_doctest(
        block, {"check_features": validate.check_features, "n1_fact": facts[ALTRA]}, "error-record",
        "guest-validation.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    report = []
    runner.run(test, out=report.append)
    assert test.examples and runner.failures == 0, "".join(report)


def test_guest_validation_conditional_values(facts):
    shown = json.loads("{%s}" % examples("guest-validation.md")["conditional-values"])
    fact = facts[GRAVITON3 + "@released"]
    assert shown == {name: fact["properties"][name] for name in shown}


def table_rows(table):
    rows = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in table.splitlines()]
    assert rows[0] == ["request", "result"] and set(rows[1][0]) <= set("-: ")
    return rows[2:]


def test_guest_validation_examples_table(facts):
    fact = facts[GRAVITON3]
    rows = table_rows(examples("guest-validation.md")["examples-table"])
    assert len(rows) >= 10
    for request_cell, result_cell in rows:
        feature = yaml.safe_load(re.match(r"`([^`]+)`", request_cell).group(1))
        normalised, errors = validate.check_features([feature], fact, "graviton3-01")
        quoted = re.findall(r"`([^`]+)`", result_cell)
        if result_cell.startswith("valid"):
            assert errors == [], (request_cell, errors)
            rendered = validate.qemu_cpu_arg([feature], props_fact=fact).split(",")[1:]
            for shown in quoted:
                assert shown in rendered or shown == normalised[0]["value"], (request_cell, shown, rendered)
            continue
        rules = [error.rule for error in errors]
        assert quoted[0] in rules, (request_cell, rules)
        error = errors[rules.index(quoted[0])]
        for shown in quoted[1:] + re.findall(r'"([^"]+)"', re.sub(r"`[^`]*`", "", result_cell)):
            assert shown in error.message or shown in error.allowed, (request_cell, shown, error)


@needs_libvirt_schema
def test_guest_validation_filters(runs):
    run = runs["guest"].result()
    text = (DOCS / "guest-validation.md").read_text(encoding="utf-8")
    said = re.search(r"nothing stops and `guest_cpu_arg` is\s+`([^`]+)`;.*?first task fails with `([^`]+)`", text,
                     re.S)
    stop = "Stop with every problem of the request"
    assert result_of(run["output"], stop, "altra-01")[0] == "skipping"
    status, result = result_of(run["output"], "ansible.builtin.debug", "altra-01", occurrence=1)
    assert result["guest_cpu_arg"] == said.group(1)
    status, result = result_of(run["output"], stop, "altra-01", occurrence=1)
    assert status == "fatal" and result["msg"] == [said.group(2)], result


# -- host-guide.md --------------------------------------------------------------------------------------------------


def test_host_guide_facts_module_and_cpu_check(runs):
    run = runs["host"].result()
    output = run["output"]
    count = len(load_profile(GRAVITON3).data["properties"])
    status, result = result_of(output, "ansible.builtin.debug", "graviton3-01")
    assert status == "ok" and result == {"ansible_facts['arm_cpu_props']['properties'] | length": count}, output
    text = " ".join((DOCS / "host-guide.md").read_text(encoding="utf-8").split())
    said = re.search(r"so its QEMU refuses: `(graviton3-01: [^`]+)`", text).group(1)
    status, result = result_of(output, "Will this host take SVE with 256-bit vectors only?", "graviton3-01")
    assert status == "fatal" and says(said, result["msg"], run["hosts"]["graviton3-01"]["armvirt_cpu_emulator"]), \
        result


# -- fleet-guide.md -------------------------------------------------------------------------------------------------


@needs_libvirt_schema
def test_fleet_guide_refusal(runs):
    """What a host whose QEMU refuses its guests' CPU prints, and that nothing is written for it."""
    run = runs["guest"].result()
    status, result = result_of(run["output"], "armvirt.cpu.guest_cpu : Have this host's QEMU confirm each distinct "
                               "guest CPU request (guest_cpu_confirm), then write the guests' XML", "legacy-01")
    shown = examples("fleet-guide.md")["refused"]
    assert status == "fatal" and says(shown, result["msg"], run["hosts"]["legacy-01"]["armvirt_cpu_emulator"]), result
    assert not list(pathlib.Path(run["hosts"]["legacy-01"]["guest_cpu_output_dir"]).glob("*.xml"))


@needs_libvirt_schema
def test_fleet_guide_commands(runs):
    run = runs["fleet"].result()
    root, hosts = run["root"], run["hosts"]
    (gather_rollout, limited, report) = run["runs"]
    for line, code, output in run["runs"]:
        assert code == 0, "%s\n%s" % (line, output[-4000:])
    artifacts = root / "armvirt-cpu"
    # gather and rollout in one run: every host probed, cached, classified and rendered
    cached = os.listdir(root / "facts")
    assert all(any(name.endswith(host) for name in cached) for host in hosts), cached
    assert sorted(json.loads((artifacts / "fleet.json").read_text())["hosts"]) == sorted(hosts)
    for host in hosts:
        assert (root / "hosts" / host / "out" / "web1.xml").is_file(), host
        record = json.loads((artifacts / "rollout" / "hosts" / ("%s.json" % host)).read_text())
        assert record["status"] == "ok", record
    # --limit altra-02: that host only, against the baseline of every host the fact cache holds
    target = shlex.split(limited[0])[shlex.split(limited[0]).index("--limit") + 1]
    plan = json.loads((artifacts / "rollout" / "plan.json").read_text())
    assert plan["targets"] == [target] and plan["members"] == sorted(hosts), plan
    assert outcome(limited[2]) == {target: "ok"}, limited[2][-3000:]
    text = " ".join((DOCS / "fleet-guide.md").read_text(encoding="utf-8").split())
    assert "The second run renders %s only" % target in text
    assert "all %s hosts as the baseline's members" % ("four" if len(hosts) == 4 else len(hosts)) in text
    # the report covers all of them
    markdown = (artifacts / "report" / "report.md").read_text()
    assert (artifacts / "report" / "index.html").is_file()
    for host in hosts:
        assert host in markdown, host
