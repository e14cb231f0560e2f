"""--check writes nothing: gather, rollout and report in check mode leave every file of a simulated fleet as it was
(artifacts, snapshots, rollout records, the property caches, the guests' XML, the report), on a fleet never gathered
and on one gathered before, and say what they would change. Ansible's own fact cache is the one exception, and only
for the facts a probe reads (Ansible stores a module's facts in check mode too); gather's record of when a host was
gathered is not stored in check mode, so the next real run still knows how old the facts are. The apply playbook in
check mode is tested against a real libvirtd in test_domain_cpu.py."""

import json

import pytest

from test_fleet_playbooks import Fleet, needs_libvirt_schema


def tree(root, skip=()):
    """Every file under ``root`` with its bytes, except those under the directories ``skip``."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*"))
            if path.is_file() and not any(part in skip for part in path.relative_to(root).parts)}


def records(fleet):
    """Each host's armvirt_cpu_gather record in the fact cache (what check mode must not touch)."""
    found = {}
    for path in fleet.facts.iterdir():
        facts = json.loads(json.loads(path.read_text())["__payload__"])
        found[path.name] = facts.get("armvirt_cpu_gather")
    return found


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    return Fleet(tmp_path_factory.mktemp("check"))


def run_checked(fleet, playbook):
    code, output = fleet.run(playbook, "--check", "--diff")
    return code, output


@needs_libvirt_schema
def test_check_mode_on_a_fleet_never_gathered_creates_nothing(fleet):
    before = tree(fleet.root, skip=("facts",))
    code, output = run_checked(fleet, "gather")
    # the hosts that fail for real (crash, offline) fail in check mode too; the others are probed, nothing is written
    assert "Classify the fleet and write its artifacts" in output, output[-3000:]
    assert "check mode: would write" in output and "fleet.json" in output, output[-3000:]
    assert tree(fleet.root, skip=("facts",)) == before
    assert not fleet.artifacts.exists()
    assert all(record is None for record in records(fleet).values())


@needs_libvirt_schema
def test_check_mode_after_a_real_run_leaves_every_file_as_it_was(rolled_out_fleet):
    """On the session's fleet after its real gather, rollout and report (tests/conftest.py); the guest edited here is
    put back."""
    fleet = rolled_out_fleet
    assert (fleet.artifacts / "fleet.json").exists() and fleet.written("n1-a") == ["web1.xml"]
    cached = records(fleet)
    # a guest's XML changed by hand: the check-mode rollout says it would put it back, and does not
    guest = fleet.root / "hosts" / "n1-a" / "out" / "web1.xml"
    good = guest.read_bytes()
    guest.write_text(good.decode().replace("<vcpu", "<!-- edited --><vcpu"))
    try:
        before = tree(fleet.root, skip=("facts",))
        outputs = {}
        for playbook in ("gather", "rollout", "report"):
            outputs[playbook] = run_checked(fleet, playbook)[1]
            assert tree(fleet.root, skip=("facts",)) == before, "%s --check changed files" % playbook
            assert records(fleet) == cached
    finally:
        guest.write_bytes(good)
    assert "<!-- edited -->" in outputs["rollout"] and "web1.xml" in outputs["rollout"], outputs["rollout"][-3000:]
