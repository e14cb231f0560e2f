"""Real ansible-playbook runs over a simulated fleet: a rollout whose policy file has a YAML syntax error (or whose
fleet policy was damaged by hand) fails before it writes anything, and the last good rollout's record and every
guest's XML stay byte for byte; a corrupt fleet.json fails the report naming it as corrupt, not as missing."""

import hashlib
import shutil

import pytest

from test_fleet_playbooks import needs_libvirt_schema

BAD_YAML = "---\nmode: host-passthrough\nfeatures:\n  - {name: sve128, policy: require\n  - name: sve256\n"


def digests(root):
    """sha256 of every file under ``root``, by its path: the tree as it is, byte for byte."""
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def fleet(rolled_out_fleet):
    """A fleet gathered, rolled out (the last good rollout) and reported once: the session's, which
    test_check_mode.py reads too; each test here puts back what it damages."""
    for playbook in ("gather", "rollout"):
        code, output = rolled_out_fleet.outputs[playbook]
        assert code == 2, output[-3000:]     # crash, offline and picky fail; the others are written
    assert rolled_out_fleet.written("n1-a") == ["web1.xml"]
    return rolled_out_fleet


def kept(fleet):
    """What a rollout that cannot start must leave alone: its record and the guests' XML."""
    return digests(fleet.artifacts / "rollout"), digests(fleet.root / "hosts")


@needs_libvirt_schema
def test_a_policy_file_with_a_yaml_error_fails_the_rollout_before_it_writes_anything(fleet):
    before = kept(fleet)
    assert len(before[0]) == 1 + 7 and "plan.json" in before[0]   # the plan and every host's record
    bad = fleet.root / "typo.yml"
    bad.write_text(BAD_YAML)
    code, output = fleet.run("rollout", "-e", "armvirt_cpu_policy_file=%s" % bad)
    assert code != 0, output[-3000:]
    assert "the rollout's policy file is not usable; nothing was written" in output, output[-3000:]
    assert '%s: not valid YAML/JSON: while parsing a flow mapping in "%s", line 4, column 5' % (bad, bad) in output
    assert "Render the guests' XML in batches" not in output    # no batch ran
    assert kept(fleet) == before


@needs_libvirt_schema
def test_a_damaged_fleet_policy_fails_a_frozen_rollout_before_it_writes_anything(fleet):
    frozen = fleet.root / "frozen-baseline.json"
    shutil.copyfile(fleet.artifacts / "baseline.json", frozen)
    policy = fleet.artifacts / "policies" / "fleet.yml"
    good = policy.read_text()
    policy.write_text(good.replace("features:", "features: [", 1))
    before = kept(fleet)
    try:
        code, output = fleet.run("rollout", "-e", "armvirt_cpu_baseline_file=%s" % frozen)
    finally:
        policy.write_text(good)
    assert code != 0 and "%s: not valid YAML/JSON" % policy in output, output[-3000:]
    assert kept(fleet) == before


@needs_libvirt_schema
def test_a_corrupt_fleet_json_fails_the_report_naming_it_as_corrupt(fleet):
    state = fleet.artifacts / "fleet.json"
    good = state.read_bytes()
    report = digests(fleet.artifacts / "report")    # the last good report's pages
    assert sorted(report) == ["index.html", "report.md"]
    state.write_bytes(good[:len(good) // 2])    # cut short, as a copy that stopped half-way leaves it
    try:
        code, output = fleet.run("report")
    finally:
        state.write_bytes(good)
    assert code != 0, output[-3000:]
    assert "%s is corrupt: not valid JSON" % state in output, output[-3000:]
    assert "no fleet artifacts" not in output and "run armvirt.cpu.gather first" not in output
    assert digests(fleet.artifacts / "report") == report    # no page written
