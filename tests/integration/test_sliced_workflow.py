"""Map and reduce, as an AWX workflow runs it: sliced gather (armvirt_cpu_classify: false) -> classify (whole
inventory, controller only, from the jsonfile fact cache) -> sliced rollout (armvirt_cpu_baseline_file) renders
the same guest XML, byte for byte, and the same host records as one unsliced gather and rollout of the same fleet.

AWX job slicing gives each slice job an inventory with only its hosts, so here every slice runs with an inventory of
its own (not --limit: with --limit every run still sees the whole inventory, which hides the failure). The slices
are chosen so that each slice's own baseline differs from the fleet's (slice 2 has only Neoverse V1/V2, richer than
the fleet with N1): a slice that classified or computed a baseline from what it sees would render other guests."""

import hashlib
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from test_fleet_playbooks import (Fleet, class_groups, classes_source, custom_stats, needs_libvirt_schema, rollout_hosts,
                                  with_class_groups)

SLICES = (["n1-a", "n1-b", "picky", "crash"], ["v1", "v2", "offline"])
ARTIFACT_FILES = ("baseline.json", "classes.json", "fleet.json", "policies/fleet.yml")


class SlicedFleet(Fleet):

    def slice_inventories(self):
        """One inventory per slice, as AWX job slicing hands each slice job."""
        full = yaml.safe_load(self.inventory.read_text())
        group = full["all"]["children"]["hypervisors"]
        paths = []
        for number, hosts in enumerate(SLICES, 1):
            path = self.root / ("slice-%d.yml" % number)
            path.write_text(yaml.safe_dump({"all": {"children": {"hypervisors": {
                "hosts": {host: group["hosts"][host] for host in hosts}, "vars": group["vars"]}}}}))
            paths.append(path)
        return paths

    def start(self, playbook, inventory, *args):
        """ansible-playbook as a background process (the slices of one job run at once)."""
        command = ["ansible-playbook", "armvirt.cpu.%s" % playbook, "-i", str(inventory),
                   "-e", "armvirt_cpu_artifacts_dir=%s" % self.artifacts] + list(args)
        env = self.env()
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                cwd=str(self.root))

    def run_on(self, inventory, playbook, *args):
        proc = self.start(playbook, inventory, *args)
        return proc.wait(timeout=300), proc.communicate()[0]

    def env(self):
        return dict(os.environ, ANSIBLE_CONFIG=str(self.root / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                    ANSIBLE_SHOW_CUSTOM_STATS="1")

    def sliced(self, playbook, *args):
        """Run every slice at once; [(returncode, output)]."""
        procs = [self.start(playbook, inventory, *args) for inventory in self.slice_inventories()]
        return [(proc.wait(timeout=300), proc.communicate()[0]) for proc in procs]

    def guests(self):
        """Every host's guest XML files, as bytes."""
        return {host: {path.name: path.read_bytes() for path in sorted((self.root / "hosts" / host / "out").glob("*"))}
                for host in sum(SLICES, []) if host != "offline"}

    def artifact_texts(self):
        return {name: (self.artifacts / name).read_text() for name in ARTIFACT_FILES}

    def wipe(self):
        """Forget everything a run left: artifacts, fact cache, each host's property cache and guests."""
        for path in [self.artifacts, self.facts] + [self.root / "hosts" / host / sub for host in sum(SLICES, [])
                                                    for sub in ("cache", "out")]:
            shutil.rmtree(path, ignore_errors=True)


def digest(path):
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The unsliced reference run, then the sliced workflow on the same fleet (same paths, so bytes can match)."""
    fleet = SlicedFleet(tmp_path_factory.mktemp("sliced"))
    reference = {"outputs": [fleet.run("gather"), fleet.run("rollout")]}
    reference.update(guests=fleet.guests(), records=rollout_hosts(fleet), artifacts=fleet.artifact_texts(),
                     plan=fleet.json("rollout", "plan.json"))
    fleet.wipe()
    sliced = {"gather": fleet.sliced("gather", "-e", "armvirt_cpu_classify=false")}
    sliced["gather_artifacts"] = sorted(path.name for path in fleet.artifacts.glob("*")) \
        if fleet.artifacts.exists() else []
    sliced["classify"] = fleet.run(with_class_groups(fleet, "classify"))
    # again, the classes inventory source beside the hosts (its first parse finds the classes.json of the run before;
    # the same facts: nothing is written)
    sliced["classify_source"] = fleet.run(with_class_groups(fleet, "classify"), "-i", classes_source(fleet))
    sliced["frozen"] = fleet.artifacts / "frozen-baseline.json"
    shutil.copyfile(fleet.artifacts / "baseline.json", sliced["frozen"])
    sliced["artifacts"] = fleet.artifact_texts()
    sliced["rollout"] = fleet.sliced("rollout", "-e", "armvirt_cpu_baseline_file=%s" % sliced["frozen"])
    sliced.update(guests=fleet.guests(), records=rollout_hosts(fleet), plan=fleet.json("rollout", "plan.json"))
    return fleet, reference, sliced


@needs_libvirt_schema
def test_sliced_gather_only_records_and_classify_writes_the_artifacts_once(runs):
    fleet, reference, sliced = runs
    for code, output in sliced["gather"]:
        assert code == 2, output[-3000:]   # crash / offline fail in their slice; nothing is classified
        assert "Classify the fleet and write its artifacts" not in output or "skipping" in output
    assert [name for name in sliced["gather_artifacts"] if not name.startswith(".")] == []
    code, output = sliced["classify"]
    assert code == 0, output[-3000:]
    # the reduce step read every host from the fact cache, also those no play of it targeted
    state = json.loads(sliced["artifacts"]["fleet.json"])
    assert state["baseline"]["members"] == ["n1-a", "n1-b", "picky", "v1", "v2"]
    assert state["hosts"]["crash"]["status"] == "probe-failed"
    assert state["hosts"]["offline"]["status"] == "unreachable"
    # and wrote what one unsliced gather writes, byte for byte
    assert sliced["artifacts"] == reference["artifacts"]
    assert len(list((fleet.artifacts / "snapshots").glob("*.json"))) == 1


@needs_libvirt_schema
def test_sliced_rollout_renders_what_one_unsliced_run_renders(runs):
    fleet, reference, sliced = runs
    for code, output in reference["outputs"] + sliced["rollout"]:
        assert code == 2, output[-3000:]   # picky, crash and offline fail, as in the unsliced run
    assert sliced["guests"] == reference["guests"]
    assert sorted(host for host, files in sliced["guests"].items() if files) == ["n1-a", "n1-b", "v1", "v2"]
    # the records are identical, the baseline's digest included: the unsliced run names the bytes of the
    # baseline.json it wrote, the sliced one those of the frozen file, and they are the same bytes
    assert sliced["records"] == reference["records"]
    frozen = digest(sliced["frozen"])
    assert {record["baseline"] for record in sliced["records"].values()} == {frozen}
    assert frozen == digest(fleet.artifacts / "baseline.json")
    # plan.json is each slice's (targets: the last slice to start); the baseline is the same, and named
    assert sliced["plan"]["members"] == reference["plan"]["members"]
    classes = digest(fleet.artifacts / "class-baselines.json")   # the class baselines next to it, also named
    assert sliced["plan"]["baseline"] == {"file": str(sliced["frozen"]), "digest": frozen, "class_baselines": classes}
    assert reference["plan"]["baseline"] == {"file": None, "digest": frozen, "class_baselines": classes}
    # a frozen rollout rewrites no artifact
    assert fleet.artifact_texts() == sliced["artifacts"]


@needs_libvirt_schema
def test_slices_without_the_frozen_baseline_would_disagree(runs):
    """The old failure, shown on this fleet: the V-only slice computing its own baseline renders other guests, so
    the identical bytes above come from the frozen baseline and not from a fleet on which slices happen to agree."""
    fleet, reference, sliced = runs
    v_slice = fleet.slice_inventories()[1]
    own = fleet.root / "own-artifacts"
    code, output = fleet.run_on(v_slice, "rollout", "-e", "armvirt_cpu_artifacts_dir=%s" % own)
    assert code == 2, output[-3000:]   # offline fails
    own_baseline = json.loads((own / "baseline.json").read_text())
    assert own_baseline["members"] == ["v1", "v2"]
    assert fleet.guests()["v1"] != reference["guests"]["v1"]
    # the same slice given the frozen baseline: the reference's bytes again
    code, output = fleet.run_on(v_slice, "rollout", "-e", "armvirt_cpu_baseline_file=%s" % sliced["frozen"])
    assert code == 2, output[-3000:]
    assert fleet.guests()["v1"] == reference["guests"]["v1"]
    assert rollout_hosts(fleet)["v1"] == reference["records"]["v1"]


@needs_libvirt_schema
def test_classify_puts_hosts_in_class_groups_for_later_plays(runs):
    """The fixture's classify run is followed by a play on the class groups (in memory only): each holds exactly the
    hosts classes.json puts in that class, those of every slice; the hosts without usable facts are in
    armvirt_cpu_class_none."""
    _fleet, _reference, sliced = runs
    code, output = sliced["classify"]
    assert code == 0, output[-3000:]
    classes = json.loads(sliced["artifacts"]["classes.json"])["hosts"]
    expected = {host: "armvirt_cpu_class_%s" % cid.replace("-", "_") for host, cid in classes.items()}
    assert sorted(expected) == ["n1-a", "n1-b", "picky", "v1", "v2"]
    expected.update(dict.fromkeys(["crash", "offline"], "armvirt_cpu_class_none"))   # gathered no usable facts
    assert class_groups(output) == expected and expected["v1"] != expected["n1-a"]
    # without the classes inventory source, the fallback put every host in its group, one add_host each
    assert fallback_items(output) == sorted(expected), output[-3000:]


def fallback_items(output):
    """The hosts that classify's fallback (an add_host per host) put in their group, as the run printed them."""
    task = output.split("TASK [Put each host the inventory did not place", 1)[1].split("TASK [", 1)[0]
    return sorted(re.findall(r"\(item=([^)]+)\)", task))


@needs_libvirt_schema
def test_classify_with_the_classes_inventory_source_places_hosts_without_a_task_per_host(runs):
    """With armvirt.cpu.classes in the inventory, classify refreshes the inventory after writing classes.json: the
    later play sees the same class groups, the fallback has no host left to place, and the refresh dropped none of
    the play's state (the registered result that set_stats and the summary read after it)."""
    _fleet, _reference, sliced = runs
    code, output = sliced["classify_source"]
    assert code == 0, output[-3000:]
    assert class_groups(output) == class_groups(sliced["classify"][1])
    assert fallback_items(output) == [], output[-3000:]
    assert custom_stats(output) == custom_stats(sliced["classify"][1]) != {}
    assert re.search(r"TASK \[Show the classes and the hosts left out.*?\"msg\": \[", output, re.S), output[-3000:]


@needs_libvirt_schema
def test_sliced_rollout_per_class_gives_each_host_its_class_policy_and_slices_must_agree(runs):
    """armvirt_cpu_scope class, sliced: each host gets its class's recommended policy against its class's frozen
    baseline (class-baselines.json next to the frozen baseline), the slices join one plan, and a slice of the same
    rollout with another scope is refused before it writes anything."""
    fleet, _reference, sliced = runs
    args = ("-e", "armvirt_cpu_baseline_file=%s" % sliced["frozen"], "-e", "armvirt_cpu_rollout_id=wf-class")
    for code, output in fleet.sliced("rollout", "-e", "armvirt_cpu_scope=class", *args):
        assert code == 2, output[-3000:]   # picky, crash and offline fail
    plan = fleet.json("rollout", "plan.json")
    assert plan["scope"] == "class" and plan["slices"] == 2 and plan["targets"] == sorted(sum(SLICES, []))
    classes = fleet.json("classes.json")["hosts"]
    policies = fleet.artifacts / "policies"
    assert plan["policies"] == {cid: str(policies / ("%s.yml" % cid)) for cid in set(classes.values())}
    records = rollout_hosts(fleet)
    for host in ("n1-a", "n1-b", "v1", "v2"):
        record = records[host]
        assert record["status"] == "ok" and record["scope"] == "class", record
        assert record["pool"] == classes[host] and record["policy_file"] == str(policies / ("%s.yml" % classes[host]))
    # picky's extra guest asks for RAS 1.1_base, which its class (the N1s: 1.0 only) does not offer
    assert records["picky"]["status"] == "failed" and records["picky"]["pool"] == classes["picky"]
    # (checked against the class baseline, the record names the field and says what the request called it)
    error = records["picky"]["errors"][0]
    assert error["feature"] == "SYSREG_ID_AA64PFR0_EL1_RAS" and "feat_RAS" in error["message"], error
    assert "probe failed" in records["crash"]["reason"] and "unreachable" in records["offline"]["reason"]
    code, output = fleet.run_on(fleet.slice_inventories()[0], "rollout", "-e", "armvirt_cpu_scope=fleet", *args)
    assert code != 0 and "differs from the slices before it in scope" in output, output[-3000:]
    assert fleet.json("rollout", "plan.json") == plan and rollout_hosts(fleet) == records
