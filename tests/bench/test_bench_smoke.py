"""The benchmark suite's code paths work (tools/bench, scripts/bench --quick at the smallest sizes). No timing asserts:
the figures are in docs/performance.md."""

import argparse
import io

import pytest

from bench import classify_rows, cli, fleet_rows, guest_rows, probe_rows, qmp_rows
from bench.common import Result, table


def quick(**extra):
    values = dict(quick=True, fleet_sizes=(50,), template_items=2, guest_count=30, fleet_hosts=2)
    values.update(extra)
    return argparse.Namespace(**values)


def check(results):
    assert results and all(isinstance(result, Result) for result in results)
    assert table(results)  # every row renders
    return results


@pytest.mark.real_qemu
def test_qmp_and_probe_rows(qemu_binary):
    cfg = quick()
    rtt = check(qmp_rows.qmp_rtt(argparse.Namespace(quick=True, rtt_count=20, rtt_rounds=1)))
    assert all(result.ours > 0 and result.baseline > 0 for result in rtt)
    check(probe_rows.cache_hit(cfg))
    check(probe_rows.cache_miss(argparse.Namespace(quick=True, miss_rounds=1)))


def test_fleet_measure_small():
    figures = fleet_rows.measure(40, props=12, kinds=4, repeat=1)
    assert figures["hosts"] == 40 and figures["json_loads"] > 0 and figures["baseline"] > 0


def test_classify_row_runs_the_playbook_and_the_direct_reader():
    results = check(classify_rows.classify_row(quick(fleet_sizes=(20,), direct_hosts=60)))
    assert [result.what for result in results] == [
        "fleet_state over hostvars, 20 hosts", "fleet_state, fact cache read directly, 20 hosts",
        "fleet_state, fact cache read directly, 60 hosts (no playbook)"]
    assert all(result.ours > 0 and result.baseline > 0 for result in results)


def test_guest_batch_builds():
    import json
    with open(guest_rows.FACT) as handle:
        fact = json.load(handle)
    batch = guest_rows.guests(24)
    outcome = guest_rows._build(batch, fact)
    assert len(outcome.documents) == 24
    assert guest_rows._lxml_alone(outcome.documents) > 0


def test_cli_lists_rows_and_refuses_unknown_ones(capsys):
    assert cli.main(["--list"]) == 0
    assert "fleet_baseline" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.parse_args(["no_such_row"])


def test_cli_runs_a_row_and_reports_failures():
    args = cli.parse_args(["--quick", "--fleet-sizes", "30", "fleet_baseline"])
    out = io.StringIO()
    results, failures = cli.run(args, out)
    assert failures == [] and len(results) == 1 and "fleet_baseline" in out.getvalue()
