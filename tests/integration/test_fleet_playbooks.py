"""armvirt.cpu.gather, rollout and report over a simulated fleet, as an operator runs them (separate runs, jsonfile
fact cache): broken hosts do not stop the others and are named with their reason, nothing is written for them,
--limit keeps the others in the baseline, stale facts are rejected, max_fail_percentage stops a rollout, and a
narrowed host shows up in the report with what it breaks."""

import json
import os
import re
import socket
import subprocess
import sys

import pytest
import yaml

from armsim import write_wrapper

from conftest import report_markdown
from libvirtd import needs_libvirt_schema

PROFILES = {"n1-a": "neoverse-n1", "n1-b": "neoverse-n1", "v1": "neoverse-v1", "v2": "neoverse-v2",
            "crash": "neoverse-n1", "picky": "neoverse-n1"}
CRASH = "qemu-system-aarch64: simulated crash for the test"
GUESTS = [{"name": "web1", "memory": 1024, "vcpus": 2}]
# KVM does not let a VMM write RAS, so each host offers only its own (N1 1.0, V1 and V2 1.1_base) and the fleet
# baseline has no feat_RAS at all: this guest fails validation on "picky"
PICKY_GUESTS = GUESTS + [{"name": "ras", "memory": 1024, "vcpus": 2,
                          "features": [{"name": "feat_RAS", "value": "1.1_base"}]}]


class Fleet(object):
    """A simulated fleet in a directory, with an ansible.cfg that caches facts there."""

    def __init__(self, root):
        self.root = root
        self.artifacts = root / "artifacts"
        self.facts = root / "facts"
        hosts = {}
        for name, profile in PROFILES.items():
            home = root / "hosts" / name
            home.mkdir(parents=True)
            self.write_emulator(name, profile)
            hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                           "armvirt_cpu_emulator": str(home / "qemu-system-aarch64"), "armvirt_cpu_accel": "kvm",
                           "armvirt_cpu_cache_dir": str(home / "cache"), "armvirt_cpu_output_dir": str(home / "out")}
        hosts["picky"]["armvirt_cpu_guests"] = PICKY_GUESTS
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        hosts["offline"] = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": port,
                            "ansible_ssh_args": "-o ControlMaster=no -o ConnectTimeout=2 -o BatchMode=yes",
                            "ansible_timeout": 2}
        self.inventory = root / "inventory.yml"
        self.inventory.write_text(yaml.safe_dump({"all": {"children": {"hypervisors": {
            "hosts": hosts, "vars": {"armvirt_cpu_guests": GUESTS}}}}}))
        (root / "ansible.cfg").write_text(
            "[defaults]\nhost_key_checking = False\nretry_files_enabled = False\nforks = 8\n"
            "fact_caching = ansible.builtin.jsonfile\nfact_caching_connection = %s\n" % self.facts)

    def write_emulator(self, name, profile):
        path = self.root / "hosts" / name / "qemu-system-aarch64"
        if path.exists():
            path.unlink()
        write_wrapper(str(path), profile, faults={"crash_at_start": CRASH} if name == "crash" else None)

    def run(self, playbook, *args):
        """ansible-playbook on the fleet: ``playbook`` is a playbook of the collection (``gather``) or a path."""
        target = playbook if os.sep in playbook else "armvirt.cpu.%s" % playbook
        command = ["ansible-playbook", target, "-i", str(self.inventory),
                   "-e", "armvirt_cpu_artifacts_dir=%s" % self.artifacts] + list(args)
        env = dict(os.environ, ANSIBLE_CONFIG=str(self.root / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_SHOW_CUSTOM_STATS="1")
        proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(self.root), timeout=300,
                              check=False)
        return proc.returncode, proc.stdout + proc.stderr

    def json(self, *parts):
        return json.loads(self.artifacts.joinpath(*parts).read_text())

    def written(self, host):
        return sorted(path.name for path in (self.root / "hosts" / host / "out").glob("*.xml"))

    def cached(self, host):
        """The host's entry in the jsonfile fact cache (ansible-core 2.19 wraps it in a __payload__ string)."""
        (path,) = [path for path in self.facts.iterdir() if path.name.endswith(host)]
        return path, json.loads(json.loads(path.read_text())["__payload__"])

    def age(self, host, gathered_at):
        """Backdate the host's gathered_at in the cache (values may be wrapped with their origin tags)."""
        path, facts = self.cached(host)
        record = facts["armvirt_cpu_gather"]
        record = record["value"] if "__ansible_type" in record else record
        if isinstance(record["gathered_at"], dict):
            record["gathered_at"]["value"] = gathered_at
        else:
            record["gathered_at"] = gathered_at
        path.write_text(json.dumps({"__payload__": json.dumps(facts)}))


def with_class_groups(fleet, playbook):
    """A playbook that imports ``armvirt.cpu.<playbook>`` and then, in a play of its own, has every member of each
    class group (group_by/add_host groups live in memory only) say its groups: one run serves the playbook's tests
    and those of its class groups."""
    path = fleet.root / ("%s-and-class-groups.yml" % playbook)
    path.write_text(yaml.safe_dump([
        {"ansible.builtin.import_playbook": "armvirt.cpu.%s" % playbook},
        {"name": "Each class group", "hosts": "armvirt_cpu_class_*", "gather_facts": False,
         "tasks": [{"name": "Say who", "ansible.builtin.debug": {
             "msg": "member {{ inventory_hostname }} of {{ group_names | select('match', 'armvirt_cpu_class_') | "
                    "join(',') }}"}}]}]))
    return str(path)


def classes_source(fleet):
    """An inventory source armvirt.cpu.classes reading the fleet's artifacts directory (pass it with a second -i):
    with it classify's refreshed inventory holds the class groups, without an add_host per host."""
    path = fleet.root / "fleet.armvirt_cpu_classes.yml"
    path.write_text(yaml.safe_dump({"plugin": "armvirt.cpu.classes", "path": str(fleet.artifacts)}))
    return str(path)


def class_groups(output):
    """{host: its class groups} as the play of :func:`with_class_groups` printed them."""
    return dict(re.findall(r'"msg": "member (\S+) of ([\w,]+)"', output))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Gather (with the play that reads its class groups), rollout and report once; the tests read the outcome,
    later ones run more."""
    fleet = Fleet(tmp_path_factory.mktemp("fleet"))
    fleet.outputs = {"gather": fleet.run(with_class_groups(fleet, "gather"))}
    fleet.outputs.update((name, fleet.run(name)) for name in ("rollout", "report"))
    return fleet


def custom_stats(output):
    """The set_stats data of a run, as the default callback prints it (AWX hands it to the next job); {} for none."""
    if "CUSTOM STATS:" not in output:
        return {}
    match = re.search(r"^\s*RUN: (\{.*\})\s*$", output, re.M)
    assert match, output[-3000:]
    return json.loads(match.group(1))


def outcome(output):
    """The outcome of each host that the rollout's summary printed (its debug of armvirt_cpu_outcome), None if none."""
    match = re.search(r"^TASK \[Show each host's outcome.*?=> (\{.*?^\})", output, re.M | re.S)
    return json.loads(match.group(1))["armvirt_cpu_outcome"] if match else None


def rollout_hosts(fleet):
    return {path.stem: json.loads(path.read_text())
            for path in (fleet.artifacts / "rollout" / "hosts").glob("*.json")}


@needs_libvirt_schema
def test_gather_records_each_host_and_classifies_the_fleet(fleet):
    code, output = fleet.outputs["gather"]
    assert code == 2, output    # crash and offline failed; the others went on
    state = fleet.json("fleet.json")
    hosts = state["hosts"]
    assert hosts["crash"]["status"] == "probe-failed" and CRASH in hosts["crash"]["reason"]
    assert hosts["offline"]["status"] == "unreachable" and "Connection refused" in hosts["offline"]["reason"]
    assert {host for host, entry in hosts.items() if entry["usable"]} == {"n1-a", "n1-b", "v1", "v2", "picky"}
    classes = fleet.json("classes.json")
    assert classes["hosts"]["n1-a"] == classes["hosts"]["n1-b"] == classes["hosts"]["picky"]
    assert len(classes["classes"]) == 3
    policy = yaml.safe_load((fleet.artifacts / "policies" / "fleet.yml").read_text())
    assert policy["mode"] == "host-passthrough" and policy["features"]
    # no RAS level is common (N1 1.0, V1 and V2 1.1_base): neither half of feat_RAS in canonical names
    assert not {"SYSREG_ID_AA64PFR0_EL1_RAS", "SYSREG_ID_AA64PFR1_EL1_RAS_frac"} & {
        feature["name"] for feature in policy["features"]}
    for cid in classes["classes"]:
        assert (fleet.artifacts / "policies" / ("%s.yml" % cid)).is_file()
    assert len(list((fleet.artifacts / "snapshots").glob("*.json"))) == 1


@needs_libvirt_schema
def test_gather_puts_hosts_in_class_groups(fleet):
    """group_by groups are in memory: a play after the imported gather playbook (the fixture's gather) targets the
    class groups, and each holds exactly the hosts classes.json puts in that class."""
    classes = fleet.json("classes.json")["hosts"]
    members = class_groups(fleet.outputs["gather"][1])
    assert members == {host: "armvirt_cpu_class_%s" % cid.replace("-", "_") for host, cid in classes.items()}
    assert members["v1"] != members["n1-a"]


@needs_libvirt_schema
def test_rollout_writes_every_good_host_and_nothing_for_the_failing_ones(fleet):
    code, output = fleet.outputs["rollout"]
    assert code == 2, output
    records = rollout_hosts(fleet)
    for host in ("n1-a", "n1-b", "v1", "v2"):
        assert records[host]["status"] == "ok", records[host]
        assert records[host]["delivery"] == "qemu-commandline"   # this machine's libvirt has no <feature value>
        assert fleet.written(host) == ["web1.xml"]
        # the fleet's policy in canonical fields, rendered in the names these hosts' QEMU speaks (the seed's)
        arg = records[host]["guests"]["web1"]
        assert arg.startswith("host,hw_prop_") and "aarch64=on" in arg.split(",") and "SYSREG_" not in arg, arg
        # confirmed by the host's own (simulated) QEMU before anything was written: a paused start under KVM
        assert records[host]["confirmed"] == {records[host]["guests"]["web1"]: "start"}
    assert records["picky"]["status"] == "failed" and "feat_RAS" in records["picky"]["reason"]
    assert records["picky"]["errors"][0]["rule"] == "unknown-property"
    assert "no value is supported by all of them" in records["picky"]["errors"][0]["message"]
    assert "probe failed" in records["crash"]["reason"] and CRASH in records["crash"]["reason"]
    assert "unreachable" in records["offline"]["reason"]
    for host in ("picky", "crash"):
        assert fleet.written(host) == []
    # their libvirt_cpu fact came from the gather (read with the properties, kept in the fact cache): no host ran
    # libvirt_facts in the rollout, and each host's one module run was the writer's
    libvirt_task = re.search(r"^TASK \[Gather what this host's libvirt accepts.*?(?=^TASK \[)", output, re.M | re.S)
    assert libvirt_task and not re.search(r"^(ok|changed|fatal): ", libvirt_task.group(0), re.M), libvirt_task
    plan = fleet.json("rollout", "plan.json")
    assert plan["members"] == ["n1-a", "n1-b", "picky", "v1", "v2"]
    assert plan["policy_file"] == str(fleet.artifacts / "policies" / "fleet.yml")


@needs_libvirt_schema
def test_report_names_each_broken_host_with_its_reason(fleet):
    code, output = fleet.outputs["report"]
    assert code == 0, output
    markdown = report_markdown(fleet.artifacts / "report" / "report.md")
    html = (fleet.artifacts / "report" / "index.html").read_text()
    for text in (markdown, html):
        assert CRASH in text
        assert "Connection refused" in text
        assert "1.1_base" in text and "picky" in text
    assert "| picky | rollout | failed |" in markdown
    assert "| crash | gather | probe-failed |" in markdown
    assert "| offline | gather | unreachable |" in markdown
    assert "first snapshot" in markdown
    assert "No summary of armvirt.cpu.apply found" in markdown


@needs_libvirt_schema
def test_second_runs_change_nothing_even_as_an_awx_workflow(fleet, tmp_path):
    """Each run gets the set_stats of the runs before as extra variables, as the jobs of an AWX workflow do: those
    beat every other variable, so a published name that a playbook also used would change what the next job does."""
    records, stats = rollout_hosts(fleet), {}
    for name in ("gather", "rollout", "report"):
        extra = tmp_path / ("before-%s.json" % name)
        extra.write_text(json.dumps(stats))
        code, output = fleet.run(name, "-e", "@%s" % extra)
        assert code == fleet.outputs[name][0], output
        changed = [line for line in output.splitlines() if "changed: [" in line or "TASK [" in line]
        assert "changed: [" not in output, "%s changed something:\n%s" % (name, "\n".join(changed))
        stats.update(custom_stats(output))
    assert rollout_hosts(fleet) == records
    assert sorted(stats) == ["armvirt_cpu_artifacts", "armvirt_cpu_classes", "armvirt_cpu_host_status",
                             "armvirt_cpu_recommendations", "armvirt_cpu_rollout_status"]
    assert stats["armvirt_cpu_host_status"]["crash"]["status"] == "probe-failed"
    assert stats["armvirt_cpu_rollout_status"] == {host: record["status"] for host, record in records.items()}


@needs_libvirt_schema
def test_limit_keeps_the_cached_hosts_in_the_baseline_and_stale_facts_are_rejected(fleet):
    code, output = fleet.run("rollout", "--limit", "n1-a")
    assert code == 0, output
    assert fleet.json("rollout", "plan.json")["members"] == ["n1-a", "n1-b", "picky", "v1", "v2"]
    assert fleet.json("rollout", "plan.json")["targets"] == ["n1-a"]
    # --limit leaves localhost out: the summary still runs, on the hosts the run touched, and names only them
    assert "no hosts matched" not in output and outcome(output) == {"n1-a": "ok"}, output[-3000:]
    code, output = fleet.run("rollout", "--limit", "n1-a,picky", "-e", "armvirt_cpu_max_fail_percentage=100")
    assert code == 2 and outcome(output) == {"n1-a": "ok", "picky": "failed"}, output[-3000:]

    fleet.age("v2", "2000-01-01T00:00:00Z")
    code, output = fleet.run("rollout", "--limit", "n1-a", "-e", "armvirt_cpu_max_fact_age=3600")
    assert code == 0, output
    assert fleet.json("rollout", "plan.json")["members"] == ["n1-a", "n1-b", "picky", "v1"]
    v2 = fleet.json("fleet.json")["hosts"]["v2"]
    assert v2["status"] == "stale" and "2000-01-01T00:00:00Z" in v2["reason"]

    code, output = fleet.run("rollout", "--limit", "v2", "-e", "armvirt_cpu_max_fact_age=3600")
    assert code == 2
    assert "not in the fleet baseline (stale)" in rollout_hosts(fleet)["v2"]["reason"]


@needs_libvirt_schema
def test_a_host_cached_without_its_libvirt_fact_reads_it_in_the_rollout(fleet):
    """Facts cached by a gather that did not read libvirt (an older collection's, or props_facts alone): the rollout
    runs libvirt_facts for that host only, and writes as for the others."""
    path, facts = fleet.cached("n1-b")
    assert "libvirt_cpu" in facts
    del facts["libvirt_cpu"]
    path.write_text(json.dumps({"__payload__": json.dumps(facts)}))
    code, output = fleet.run("rollout", "--limit", "n1-a,n1-b")
    assert code == 0 and outcome(output) == {"n1-a": "ok", "n1-b": "ok"}, output[-3000:]
    libvirt_task = re.search(r"^TASK \[Gather what this host's libvirt accepts.*?(?=^TASK \[)", output, re.M | re.S)
    assert re.findall(r"^(ok|skipping): \[([\w-]+)\]", libvirt_task.group(0), re.M) in (
        [("skipping", "n1-a"), ("ok", "n1-b")], [("ok", "n1-b"), ("skipping", "n1-a")]), libvirt_task.group(0)
    assert "libvirt_cpu" in fleet.cached("n1-b")[1]   # and the fact cache has it again
    assert rollout_hosts(fleet)["n1-b"]["delivery"] == "qemu-commandline"


@needs_libvirt_schema
def test_max_fail_percentage_stops_the_rollout_and_the_record_says_so(fleet):
    fleet.run("gather")   # fresh facts again
    code, output = fleet.run("rollout", "-e", "armvirt_cpu_serial=2", "-e", "armvirt_cpu_max_fail_percentage=0")
    assert code != 0
    assert "Summarise the rollout" not in output   # Ansible ends the playbook ...
    assert custom_stats(output)["armvirt_cpu_rollout_status"] == {   # ... but AWX still learns every outcome
        "crash": "failed", "n1-a": "ok", "n1-b": "not-run", "offline": "not-run", "picky": "not-run",
        "v1": "not-run", "v2": "not-run"}
    code, output = fleet.run("report")
    markdown = report_markdown(fleet.artifacts / "report" / "report.md")
    assert "| crash | rollout | failed |" in markdown   # ... but each host's record was written as it happened
    assert "| v2 | rollout | not-run |" in markdown


@needs_libvirt_schema
def test_report_shows_what_a_narrowing_kernel_update_breaks(fleet):
    request = fleet.root / "wrps.yml"
    request.write_text(yaml.safe_dump({"description": "three watchpoints",
                                       "features": [{"name": "hw_prop_WRPs", "value": "2"}]}))
    fleet.write_emulator("n1-b", "neoverse-n1-oldkernel")   # Linux 5.15: exact values only
    code, output = fleet.run("gather")
    assert len(list((fleet.artifacts / "snapshots").glob("*.json"))) == 2
    code, output = fleet.run("report", "-e", json.dumps({"armvirt_cpu_report_requests": [str(request)]}))
    assert code == 0, output
    markdown = report_markdown(fleet.artifacts / "report" / "report.md")
    changes = markdown.split("## Changes since the previous snapshot")[1].split("## Compatibility classes")[0]
    assert "hw_prop_WRPs narrowed: 0-3 → 3" in changes
    assert "| wrps.yml | n1-b |" in changes and "hw_prop_WRPs" in changes.split("| wrps.yml | n1-b |")[1]
    html = (fleet.artifacts / "report" / "index.html").read_text()
    assert 'class="cell missing narrowed" data-host="n1-b" data-prop="SYSREG_ID_AA64DFR0_EL1_WRPs"' in html


@needs_libvirt_schema
def test_rollout_writes_nothing_where_the_hosts_own_qemu_refuses(fleet, tmp_path):
    """n1-a's facts (cached since the gather) offer hw_prop_WRPs 0-3, but its kernel has since been replaced by one
    that takes only the host's own value (the simulated Linux 5.15 of neoverse-n1-oldkernel), so KVM refuses 2 at vCPU
    init. Validation against the facts passes; the paused start of armvirt.cpu.cpu_check on n1-a refuses with QEMU's
    words, and nothing is written for n1-a, not even the guest whose request QEMU accepted."""
    fleet.write_emulator("n1-a", "neoverse-n1-oldkernel")
    out = tmp_path / "out"
    guests = [{"name": "web1", "memory": 1024, "vcpus": 2},
              {"name": "wrps", "memory": 1024, "vcpus": 2, "features": [{"name": "hw_prop_WRPs", "value": "2"}]}]
    code, output = fleet.run("rollout", "--limit", "n1-a", "-e", json.dumps({
        "armvirt_cpu_scope": "host", "armvirt_cpu_guests": guests, "armvirt_cpu_output_dir": str(out)}))
    assert code == 2, output
    record = rollout_hosts(fleet)["n1-a"]
    assert record["status"] == "failed" and record["errors"] == []      # validation had nothing against it
    words = ("qemu-system-aarch64: hw_prop_WRPs=2: KVM refused the ID register value (KVM_SET_ONE_REG: Invalid "
             "argument)\nqemu-system-aarch64: kvm_init_vcpu: kvm_arch_init_vcpu failed (0): Invalid argument")
    ((arg, refusal),) = record["refused"].items()
    assert refusal == words and "hw_prop_WRPs=2" in arg and arg.startswith("host,")
    assert record["reason"].startswith("n1-a: nothing was written; this host's QEMU did not confirm 1 guest CPU "
                                       "request(s):\n- n1-a: QEMU %s (accel=kvm) refused the guest CPU -cpu %s"
                                       % (fleet.root / "hosts" / "n1-a" / "qemu-system-aarch64", arg))
    assert record["reason"].endswith("[guests: wrps]")
    assert not out.exists(), "the guests' directory was created: something was written"
    assert "Have this host's QEMU confirm each distinct guest CPU request" in output


def test_gather_names_the_inventory_host_whose_emulator_is_missing(tmp_path):
    """The probe's error names the host as the inventory does (gather passes inventory_hostname), not as its
    operating system calls itself."""
    missing = tmp_path / "libexec" / "qemu-kvm"
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"hypervisors": {"hosts": {"hv-gone": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "armvirt_cpu_emulator": str(missing), "armvirt_cpu_cache_dir": str(tmp_path / "cache")}}}}}}))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(["ansible-playbook", "armvirt.cpu.gather", "-i", str(inventory),
                           "-e", "armvirt_cpu_classify=false", "-e", "armvirt_cpu_artifacts_dir=%s" % (tmp_path / "a")],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    expected = ("hv-gone: failed: probing emulator %s (accel=kvm) on host hv-gone failed: the emulator %s is not "
                "trusted, so it was not run: %s does not exist" % (missing, missing, missing.parent))
    assert expected in " ".join(output.split()), output[-3000:]
    assert "on host %s " % socket.gethostname() not in output or socket.gethostname() == "hv-gone"
