"""The AWX workflow on AWX's own runner: sliced gather -> classify -> sliced rollout -> report, each job run with
ansible-runner as AWX runs it (a private data dir per job, an inventory per slice, extra variables, the set_stats of
a job read back from its artifacts and handed to the next node as extra variables), against the simulated fleet.

ansible-playbook and ansible-runner differ where AWX depends on them: runner sets its own stdout callback
(awx_display), points the fact cache at its private data dir unless told otherwise, and AWX reads a job's set_stats
from the playbook_on_stats event, not from the output. The slices of each sliced job run at once, and the three
rollout slices share one AWX workflow job id, which makes them one rollout with one plan."""

import ansible_runner
import pytest
import yaml

from test_fleet_playbooks import needs_libvirt_schema, rollout_hosts
from test_sliced_workflow import SlicedFleet, digest

SLICE_COUNT = 3
WORKFLOW_JOB_ID = 40          # the workflow job that chains the four nodes
JOB_TIMEOUT = 300
# hosts the simulated fleet makes fail: crash's QEMU dies, offline refuses ssh, picky asks for a RAS level no
# baseline has (it fails the rollout only)
GATHER_FAILURES = {"crash", "offline"}
ROLLOUT_FAILURES = GATHER_FAILURES | {"picky"}


class RunnerJob(object):
    """One AWX job: its slice's hosts, its ansible-runner Runner and the thread running it."""

    def __init__(self, hosts, thread, runner):
        self.hosts = hosts
        self.thread = thread
        self.runner = runner

    def wait(self):
        self.thread.join(JOB_TIMEOUT + 30)
        assert not self.thread.is_alive(), "job %s did not end" % self.runner.config.ident
        return self

    @property
    def output(self):
        with self.runner.stdout as stdout:
            return stdout.read()[-3000:]

    @property
    def custom_stats(self):
        """The job's set_stats, where AWX reads them: artifact_data of the playbook_on_stats event."""
        (stats,) = [event for event in self.runner.events if event.get("event") == "playbook_on_stats"]
        return stats["event_data"]["artifact_data"]


class RunnerFleet(SlicedFleet):
    """The simulated fleet, its jobs run by ansible-runner with one jsonfile fact cache shared by all of them."""

    def __init__(self, root):
        super().__init__(root)
        self.last_id = WORKFLOW_JOB_ID

    def next_id(self):
        self.last_id += 1
        return self.last_id

    def whole_inventory(self):
        return yaml.safe_load(self.inventory.read_text())

    def awx_slices(self):
        """Slice inventories as AWX builds them (Inventory.get_script_data): hosts by name, slice n takes every
        SLICE_COUNT-th from the n-th; the group and its variables stay."""
        group = self.whole_inventory()["all"]["children"]["hypervisors"]
        names = sorted(group["hosts"])
        return [{"all": {"children": {"hypervisors": {
            "hosts": {name: group["hosts"][name] for name in names[offset::SLICE_COUNT]}, "vars": group["vars"]}}}}
            for offset in range(SLICE_COUNT)]

    def start_job(self, playbook, inventory, extravars, workflow_job_id):
        """Start one job in a private data dir of its own; AWX's job variables name the job and its workflow."""
        job_id = self.next_id()
        private_data_dir = self.root / "runner" / ("job-%d" % job_id)
        private_data_dir.mkdir(parents=True)
        thread, runner = ansible_runner.run_async(
            private_data_dir=str(private_data_dir), ident=str(job_id), quiet=True,
            playbook="armvirt.cpu.%s" % playbook, inventory=inventory,
            extravars=dict(extravars, armvirt_cpu_artifacts_dir=str(self.artifacts), awx_job_id=job_id,
                           awx_workflow_job_id=workflow_job_id),
            envvars={"ANSIBLE_CONFIG": str(self.root / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
            # an absolute fact_cache replaces runner's per-job artifacts/<ident>/fact_cache: one store for all jobs
            settings={"fact_cache_type": "jsonfile", "fact_cache": str(self.facts), "job_timeout": JOB_TIMEOUT})
        hosts = sorted(inventory["all"]["children"]["hypervisors"]["hosts"])
        return RunnerJob(hosts, thread, runner)

    def job(self, playbook, extravars):
        """An unsliced node of the workflow, on the whole inventory."""
        return self.start_job(playbook, self.whole_inventory(), extravars, WORKFLOW_JOB_ID).wait()

    def sliced_job(self, playbook, extravars):
        """A sliced node: AWX makes it a workflow job of its own whose slice jobs run at once."""
        slice_workflow_job_id = self.next_id()
        jobs = [self.start_job(playbook, inventory, extravars, slice_workflow_job_id)
                for inventory in self.awx_slices()]
        return slice_workflow_job_id, [job.wait() for job in jobs]


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """One unsliced gather and rollout with ansible-playbook as the reference, then the AWX workflow on the same
    fleet (same paths, so the guests' bytes can match), each node given the set_stats of the nodes before it."""
    fleet = RunnerFleet(tmp_path_factory.mktemp("awx"))
    reference = {"outputs": [fleet.run("gather"), fleet.run("rollout")]}
    reference.update(guests=fleet.guests(), records=rollout_hosts(fleet), plan=fleet.json("rollout", "plan.json"))
    fleet.wipe()
    jobs = {"gather": fleet.sliced_job("gather", {"armvirt_cpu_classify": False})[1]}
    jobs["classify"] = fleet.job("classify", {})
    published = dict(jobs["classify"].custom_stats)
    rollout_id, jobs["rollout"] = fleet.sliced_job(
        "rollout", dict(published, armvirt_cpu_baseline_file=published["armvirt_cpu_artifacts"]["baseline"]))
    rollout_status = {}   # every slice's hosts, as the sliced job's workflow hands them on
    for job in jobs["rollout"]:
        rollout_status.update(job.custom_stats.get("armvirt_cpu_rollout_status", {}))
    rolled_out = {"guests": fleet.guests(), "records": rollout_hosts(fleet), "plan": fleet.json("rollout", "plan.json"),
                  "id": rollout_id}
    jobs["report"] = fleet.job("report", dict(published, armvirt_cpu_rollout_status=rollout_status))
    return fleet, reference, jobs, rolled_out


def expected_status(job, failing):
    return "failed" if set(job.hosts) & failing else "successful"


@needs_libvirt_schema
def test_sliced_gather_jobs_fill_the_shared_fact_cache_and_publish_nothing(workflow):
    fleet, _reference, jobs, _rolled_out = workflow
    # AWX deals the hosts by name: the V2-only slice 1 has a richer baseline of its own than the fleet's
    assert [job.hosts for job in jobs["gather"]] == [["crash", "offline", "v2"], ["n1-a", "picky"], ["n1-b", "v1"]]
    assert [job.runner.status for job in jobs["gather"]] == ["failed", "successful", "successful"]
    for job in jobs["gather"]:
        assert job.runner.status == expected_status(job, GATHER_FAILURES), job.output
        stats = job.runner.stats
        assert sorted(stats["processed"]) == job.hosts
        # offline's unreachable probe is recorded (ignore_unreachable), then the host is failed as crash is
        assert set(stats["failures"]) == set(job.hosts) & GATHER_FAILURES
        assert job.custom_stats == {}, job.output    # classification is classify's, once
    # every slice's hosts are in the one store, with their gather record, and none in runner's per-job fact cache
    for host in sum((job.hosts for job in jobs["gather"]), []):
        assert "armvirt_cpu_gather" in fleet.cached(host)[1]
    assert not list((fleet.root / "runner").glob("job-*/artifacts/*/fact_cache/*"))


@needs_libvirt_schema
def test_classify_publishes_the_frozen_baseline_in_the_job_artifacts(workflow):
    fleet, _reference, jobs, _rolled_out = workflow
    classify = jobs["classify"]
    assert classify.runner.status == "successful" and classify.runner.rc == 0, classify.output
    published = classify.custom_stats
    assert sorted(published) == ["armvirt_cpu_artifacts", "armvirt_cpu_baseline_digest", "armvirt_cpu_classes",
                                 "armvirt_cpu_host_status", "armvirt_cpu_recommendations"]
    baseline = fleet.artifacts / "baseline.json"
    assert published["armvirt_cpu_artifacts"]["baseline"] == str(baseline)
    assert published["armvirt_cpu_baseline_digest"] == digest(baseline)
    # classify read the hosts of all three slices from the shared fact cache, failed gathers included
    status = published["armvirt_cpu_host_status"]
    assert sorted(status) == sorted(sum((job.hosts for job in jobs["gather"]), []))
    assert status["crash"]["status"] == "probe-failed" and status["offline"]["status"] == "unreachable"
    usable = sorted(host for host, entry in status.items() if entry["usable"])
    assert usable == ["n1-a", "n1-b", "picky", "v1", "v2"]
    assert sorted(published["armvirt_cpu_classes"]["hosts"]) == usable
    assert fleet.json("baseline.json")["members"] == usable


@needs_libvirt_schema
def test_sliced_rollout_jobs_render_what_one_unsliced_run_renders(workflow):
    _fleet, reference, jobs, rolled_out = workflow
    for code, output in reference["outputs"]:
        assert code == 2, output[-3000:]   # the reference fails the same hosts
    assert [job.hosts for job in jobs["rollout"]] == [job.hosts for job in jobs["gather"]]
    assert [job.runner.status for job in jobs["rollout"]] == ["failed", "failed", "successful"]
    for job in jobs["rollout"]:
        assert job.runner.status == expected_status(job, ROLLOUT_FAILURES), job.output
        # each slice publishes its own hosts' outcomes
        assert job.custom_stats == {"armvirt_cpu_rollout_status": {
            host: rolled_out["records"][host]["status"] for host in job.hosts}}, job.output
    assert rolled_out["guests"] == reference["guests"]
    assert sorted(host for host, files in rolled_out["guests"].items() if files) == ["n1-a", "n1-b", "v1", "v2"]
    assert rolled_out["records"] == reference["records"]


@needs_libvirt_schema
def test_rollout_slices_are_one_rollout_on_the_baseline_classify_published(workflow):
    fleet, reference, jobs, rolled_out = workflow
    published_digest = jobs["classify"].custom_stats["armvirt_cpu_baseline_digest"]
    for job in jobs["rollout"]:
        assert {rolled_out["records"][host]["baseline"] for host in job.hosts} == {published_digest}
    plan = rolled_out["plan"]
    assert plan["id"] == str(rolled_out["id"]) and plan["slices"] == SLICE_COUNT
    assert plan["targets"] == sorted(sum((job.hosts for job in jobs["rollout"]), []))
    assert plan["baseline"] == {"file": str(fleet.artifacts / "baseline.json"), "digest": published_digest,
                                "class_baselines": digest(fleet.artifacts / "class-baselines.json")}
    assert plan["members"] == reference["plan"]["members"]


@needs_libvirt_schema
def test_report_covers_the_hosts_of_every_rollout_slice(workflow):
    fleet, _reference, jobs, rolled_out = workflow
    report = jobs["report"]
    assert report.runner.status == "successful", report.output
    markdown = (fleet.artifacts / "report" / "report.md").read_text()
    table = markdown.split("## Last rollout")[1].split("## Existing guests")[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()
            if line.startswith("| ") and not line.startswith("| host |")]
    assert {row[0]: row[1] for row in rows} == {host: record["status"]
                                                for host, record in rolled_out["records"].items()}
    assert sorted(row[0] for row in rows) == sorted(sum((job.hosts for job in jobs["rollout"]), []))
    assert "| picky | rollout | failed |" in markdown and "| crash | gather | probe-failed |" in markdown
