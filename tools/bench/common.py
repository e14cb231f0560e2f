"""Timing helpers, the result record and the table shared by every row."""

from __future__ import annotations

import gc
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / ".build" / "collections"
TOOLS = ROOT / "tools"
QEMU = "qemu-system-aarch64"


def child_env(**extra):
    """Environment for child Python processes: the collection importable under its real name, armsim on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(COLLECTIONS), str(TOOLS)] + (
        [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
    env.update(extra)
    return env


def ensure_paths():
    """Make the collection and tools importable in this process (scripts/bench does it through PYTHONPATH too)."""
    for path in (str(COLLECTIONS), str(TOOLS)):
        if path not in sys.path:
            sys.path.insert(0, path)


def qemu_binary():
    return shutil.which(QEMU)


def sized(cfg, smoke, quick, full):
    """A row's size for the run: ``smoke`` under --smoke (the test command's run of every row: the code paths, not
    the figures), ``quick`` under --quick, else ``full``."""
    if getattr(cfg, "smoke", False):
        return smoke
    return quick if cfg.quick else full


class Result(object):
    """One row of the table: ours against the baseline, the ratio ours/baseline and whether the target is met."""

    def __init__(self, row, what, ours, baseline, unit="s", target="", met=None, ratio=None, notes=(),
                 baseline_name="", floor=None):
        self.row, self.what, self.ours, self.baseline, self.unit = row, what, ours, baseline, unit
        self.target, self.met, self.notes, self.baseline_name = target, met, list(notes), baseline_name
        self.floor = floor   # the row's measured floor / baseline, where the row measures one (floor_note)
        if ratio is None and ours is not None and baseline:
            ratio = ours / baseline
        self.ratio = ratio

    def as_dict(self):
        return {"row": self.row, "what": self.what, "ours": self.ours, "baseline": self.baseline,
                "baseline_name": self.baseline_name, "unit": self.unit, "ratio": self.ratio,
                "target": self.target, "met": self.met, "floor": self.floor, "notes": self.notes}


def timed(call, repeat, warmup=0, collect=True):
    """Seconds per call for ``repeat`` calls (list), after ``warmup`` untimed ones; GC collected before each."""
    for _unused in range(warmup):
        call()
    times = []
    for _unused in range(repeat):
        if collect:
            gc.collect()
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def median(values):
    return statistics.median(values)


def spread(values):
    """'min-max' of a list of seconds, for the noise column of the notes."""
    return "%s..%s" % (fmt_time(min(values)), fmt_time(max(values)))


def interleaved(calls, rounds):
    """Run each call of ``{name: call}`` once per round, alternating, so load changes hit both sides alike.

    Returns ``{name: [seconds per round]}``; a call may return its own time (float) to exclude set-up work.
    """
    times = {name: [] for name in calls}
    for _unused in range(rounds):
        for name, call in calls.items():
            gc.collect()
            started = time.perf_counter()
            own = call()
            elapsed = time.perf_counter() - started
            times[name].append(own if isinstance(own, float) else elapsed)
    return times


def run_timed(argv, env=None, cwd=None, timeout=900, input_text=None):
    """(seconds, CompletedProcess) of one child process; raises RuntimeError with its output when it fails."""
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          input=input_text, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError("%s exited %d:\n%s\n%s" % (" ".join(map(str, argv)), proc.returncode,
                                                      proc.stdout[-3000:], proc.stderr[-3000:]))
    return elapsed, proc


def floor_note(ours, floor, base, target, how):
    """The note that sets a row against its floor, measured in the same run: ``how`` the floor is made (the row's work
    done bare, without our checks and bookkeeping: a lower bound), the floor's ratio to the baseline against the
    row's ``target`` ratio, and ours as a multiple of the floor."""
    reach = "the target %sx is below it: out of reach" % target if floor / base > target else "the target is above it"
    return "floor: %s = %s, %.3gx the baseline (%s); ours is %.3gx the floor" % (
        how, fmt_time(floor), floor / base, reach, ours / floor)


def fmt_time(seconds):
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return "%.1f us" % (seconds * 1e6)
    if seconds < 1:
        return "%.2f ms" % (seconds * 1e3)
    return "%.2f s" % seconds


def fmt_value(value, unit):
    if value is None:
        return "-"
    if unit == "s":
        return fmt_time(value)
    if unit == "/s":
        return "%s/s" % format(int(round(value)), ",")
    return "%g %s" % (value, unit)


def max_rss_mib():
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine():
    """One line about where the figures come from."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as handle:
            mem = int(handle.readline().split()[1]) / 1024.0 / 1024.0
    except (OSError, ValueError, IndexError):
        mem = 0.0
    load = os.getloadavg()
    return "%d x %s, %.0f GiB RAM, Python %s, load average %.2f %.2f %.2f" % (
        os.cpu_count() or 0, model, mem, sys.version.split()[0], *load)


def table(results):
    """The summary table as text: what, ours, baseline, ratio, target, met/missed."""
    header = ("row", "what", "ours", "baseline", "ratio", "target", "result")
    rows = []
    for r in results:
        verdict = {True: "met", False: "MISSED", None: "-"}[r.met]
        if r.floor is not None:
            verdict += " (floor %.3gx)" % r.floor
        rows.append((r.row, r.what, fmt_value(r.ours, r.unit), fmt_value(r.baseline, r.unit),
                     "-" if r.ratio is None else "%.3gx" % r.ratio, r.target, verdict))
    widths = [max(len(str(line[i])) for line in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip()
             for line in [header, tuple("-" * w for w in widths)] + rows]
    return "\n".join(lines)
