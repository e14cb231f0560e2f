"""scripts/bench: run the rows, print each row's notes and the table; exit 1 only when a row fails to run."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
import traceback

from bench.common import ensure_paths, machine, table

ROWS = (
    ("qmp_rtt", "bench.qmp_rows", "qmp_rtt", "QMP round trip per query vs qemu.qmp, same process, real QEMU"),
    ("fresh_process", "bench.qmp_rows", "fresh_process", "fresh process import+connect+negotiate+query vs qemu.qmp"),
    ("cache_hit", "bench.probe_rows", "cache_hit", "props_facts logic with a valid cache vs reading+parsing it"),
    ("cache_miss", "bench.probe_rows", "cache_miss", "props_facts cache miss vs bare spawn + query-commands"),
    ("module_cold", "bench.probe_rows", "module_cold", "props_facts process, cold, vs cold virsh domcapabilities"),
    ("task_cached", "bench.ansible_runner", "task_cached", "props_facts task (valid cache) vs ping, per task"),
    ("fleet_baseline", "bench.fleet_rows", "fleet_baseline_row", "fleet_baseline vs json.loads, 1k/10k/100k hosts"),
    ("classify", "bench.classify_rows", "classify_row",
     "classify step (fleet_state) vs hostvars read and vs json.loads of the fact cache, 1k/10k, 100k direct; "
     "the whole armvirt.cpu.classify playbook with and without the classes inventory source, 1k/3k"),
    ("guests", "bench.guest_rows", "guests_row", "guests validate+render+schema, 10,000 per batch"),
    ("playbooks", "bench.ansible_runner", "playbooks", "gather (+rollout) on 50 simulated hosts vs gather_facts"),
)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="*", help="rows to run (default: all); see --list")
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds (about a minute)")
    parser.add_argument("--smoke", action="store_true",
                        help="the smallest sizes, one round: every row's code paths, no figures worth reading "
                             "(the test command runs every row so: tests/bench)")
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--fleet-sizes", metavar="N,N", help="host counts of row fleet_baseline")
    parser.add_argument("--template-items", type=int, metavar="N", help="template loop items of row guests (100)")
    parser.add_argument("--guest-count", type=int, metavar="N", help="guests per batch of row guests (10000)")
    parser.add_argument("--fleet-hosts", type=int, metavar="N", help="simulated hosts of row playbooks (50)")
    args = parser.parse_args(argv)
    known = [row[0] for row in ROWS]
    wanted = [name for arg in args.rows for name in arg.split(",") if name]
    unknown = [name for name in wanted if name not in known]
    if unknown:
        parser.error("unknown row(s) %s; rows: %s" % (", ".join(unknown), ", ".join(known)))
    args.rows = wanted or known
    args.fleet_sizes = tuple(int(n) for n in args.fleet_sizes.split(",")) if args.fleet_sizes else None
    args.quick = args.quick or args.smoke
    return args


def run(args, out=sys.stdout):
    """Run the selected rows; returns (results, failures)."""
    import importlib
    ensure_paths()
    results, failures = [], []
    for name, module, function, _unused in ROWS:
        if name not in args.rows:
            continue
        print("== %s ..." % name, file=out, flush=True)
        started = time.perf_counter()
        try:
            rows = getattr(importlib.import_module(module), function)(args)
        except Exception:  # a row that fails is reported and makes the run fail; the others still run
            failures.append((name, traceback.format_exc()))
            print("   FAILED:\n" + traceback.format_exc(), file=out, flush=True)
            continue
        for result in rows:
            print("   %s" % result.what.strip(), file=out)
            for note in result.notes:
                print("     - %s" % note, file=out)
        print("   (%.1f s)" % (time.perf_counter() - started), file=out, flush=True)
        results.extend(rows)
    return results, failures


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.list:
        for name, _unused, _unused, what in ROWS:
            print("%-15s %s" % (name, what))
        return 0
    started = time.perf_counter()
    print("armvirt.cpu benchmarks%s, %s" % (" (--smoke)" if args.smoke else " (--quick)" if args.quick else "",
                                            datetime.datetime.now().strftime("%Y-%m-%d %H:%M")))
    print("machine: %s" % machine(), flush=True)
    results, failures = run(args)
    total = time.perf_counter() - started
    print()
    print(table(results))
    missed = [r for r in results if r.met is False]
    print()
    print("targets missed: %s" % ("none" if not missed else "; ".join("%s (%s: %.3gx, target %s)" % (
        r.row, r.what.strip(), r.ratio, r.target) for r in missed)))
    if args.smoke:
        print("smoke sizes: each row ran once at its smallest size; its figures say nothing about the targets")
    print("load average now: %.2f %.2f %.2f; total %.0f s" % (*__import__("os").getloadavg(), total))
    if failures:
        print("rows that failed to run: %s" % ", ".join(name for name, _unused in failures))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine(), "quick": args.quick, "seconds": total,
                       "results": [r.as_dict() for r in results],
                       "failures": [{"row": name, "traceback": text} for name, text in failures]}, handle, indent=1)
    return 1 if failures else 0
