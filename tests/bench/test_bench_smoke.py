"""Every row of the benchmark suite (tools/bench, scripts/bench) runs at its smoke size (scripts/bench --smoke), so a
row that no longer runs fails the test command. No timing asserts: the figures are in docs/performance.md."""

import io
import os

import pytest

from bench import cli
from bench.common import table

ROWS = [row[0] for row in cli.ROWS]
NEEDS_QEMU = {"qmp_rtt", "fresh_process", "cache_hit", "cache_miss", "module_cold", "task_cached"}
# rows whose target can lie below what any code could reach: each measures its floor in the same run
FLOORED = {"cache_hit", "cache_miss", "module_cold"}
# what each row reports at smoke size (the sizes of tools/bench's sized(): every code path of the row, once)
WHAT = {
    "classify": ["fleet_state over hostvars, 20 hosts", "fleet_state, fact cache read directly, 20 hosts",
                 "armvirt.cpu.classify playbook, classes inventory source, 20 hosts",
                 "armvirt.cpu.classify playbook, add_host fallback, 20 hosts",
                 "fleet_state, fact cache read directly, 60 hosts (no playbook)"],
    "fleet_baseline": ["fleet_baseline, 30 hosts x 150 props (50 kinds)"],
    "playbooks": ["gather.yml, caches empty, 2 hosts, forks 10", "gather.yml, caches valid, 2 hosts, forks 10",
                  "gather.yml + rollout.yml (10 guests/host), caches valid, 2 hosts, forks 10",
                  "rollout.yml alone (gather + rollout - gather), 10 guests/host, caches valid, 2 hosts, forks 10"],
    "guests": ["guests validate+render+schema, in-process", "  per guest vs ansible.builtin.template loop",
               "  per guest vs lxml parse + RelaxNG alone"],
}


@pytest.mark.parametrize("row", ROWS)
def test_every_row_runs_at_smoke_size(row, request):
    if row in NEEDS_QEMU:
        request.getfixturevalue("qemu_binary")
    out = io.StringIO()
    results, failures = cli.run(cli.parse_args(["--smoke", row]), out)
    assert failures == [], out.getvalue()
    assert results and all(result.row == row for result in results), out.getvalue()
    assert table(results)  # every row renders
    for result in results:
        assert result.ours > 0 and result.baseline > 0, (result.what, result.ours, result.baseline)
    if row in WHAT:
        assert [result.what for result in results] == WHAT[row]
    for result in results:
        floor_notes = [note for note in result.notes if note.startswith("floor: ")]
        assert (result.floor is not None and len(floor_notes) == 1) == (row in FLOORED), (result.what, result.notes)
        if row in FLOORED:
            assert result.floor > 0 and "ours is" in floor_notes[0], floor_notes
    if row == "module_cold":
        # its baseline, libvirt's cold domcapabilities, is measured in the same run by a private libvirtd the row
        # starts (0.3 s to answer here, so the smoke size has it too); without libvirt it quotes a figure and says so
        measured = any(note.startswith("virsh domcapabilities cold") for note in results[0].notes)
        if not measured and not os.environ.get("CI"):
            pytest.skip("no libvirtd for module_cold's baseline here: %s" % results[0].notes)
        assert measured, results[0].notes


def test_cli_lists_rows_and_refuses_unknown_ones(capsys):
    assert cli.main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert all(row in listed for row in ROWS)
    with pytest.raises(SystemExit):
        cli.parse_args(["no_such_row"])


def test_a_row_that_fails_is_reported_and_the_others_still_run(monkeypatch):
    monkeypatch.setattr(cli, "ROWS", (("broken", "bench.no_such_module", "row", "a row whose module is gone"),)
                        + tuple(row for row in cli.ROWS if row[0] == "fleet_baseline"))
    out = io.StringIO()
    results, failures = cli.run(cli.parse_args(["--smoke"]), out)
    assert [name for name, _unused in failures] == ["broken"]
    assert "No module named 'bench.no_such_module'" in failures[0][1]
    assert [result.row for result in results] == ["fleet_baseline"]
    assert "FAILED" in out.getvalue() and "fleet_baseline" in out.getvalue()
