"""Rows qmp_rtt and fresh_process: our QMP client against qemu.qmp on the same real QEMU."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

from bench.common import Result, child_env, interleaved, median, qemu_binary, run_timed, sized, spread

# The fresh-process children: the clock starts before the first import, so what is timed is import + connect +
# negotiate + one query in a cold interpreter; the interpreter's own start-up is measured apart ("python -c pass").
OURS_CHILD = r"""
import time, sys
t0 = time.perf_counter()
from ansible_collections.armvirt.cpu.plugins.module_utils._host.qmp import QMPClient
t1 = time.perf_counter()
with QMPClient(sys.argv[1]) as c:
    c.execute("query-version")
t2 = time.perf_counter()
print("%r %r" % (t1 - t0, t2 - t0))
"""
QEMU_QMP_CHILD = r"""
import time, sys
t0 = time.perf_counter()
import asyncio
from qemu.qmp import QMPClient
t1 = time.perf_counter()
async def main():
    c = QMPClient()
    await c.connect(sys.argv[1])
    await c.execute("query-version")
    await c.disconnect()
asyncio.run(main())
t2 = time.perf_counter()
print("%r %r" % (t1 - t0, t2 - t0))
"""
EMPTY_CHILD = "pass"


@contextlib.contextmanager
def running_qemu(accel="tcg"):
    """A real QEMU started as probe.py starts it, its monitor free for one client at a time; yields the socket."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import probe
    emulator = qemu_binary()
    workdir = tempfile.mkdtemp(prefix="armvirt-bench-")
    sock = os.path.join(workdir, "qmp.sock")
    proc = subprocess.Popen(probe.qemu_argv(emulator, accel, sock), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("QEMU did not create its monitor socket")
            time.sleep(0.005)
        time.sleep(0.05)
        yield sock
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


EXPANSION_ARGS = {"type": "full", "model": {"name": "max"}}


def _ours_loop(sock, command, arguments, count):
    from ansible_collections.armvirt.cpu.plugins.module_utils._host.qmp import QMPClient
    with QMPClient(sock) as client:
        client.execute(command, arguments)  # warm: first reply, code paths
        started = time.perf_counter()
        for _unused in range(count):
            client.execute(command, arguments)
        return (time.perf_counter() - started) / count


def _qemu_qmp_loop(sock, command, arguments, count):
    from qemu.qmp import QMPClient

    async def run():
        client = QMPClient()
        await client.connect(sock)
        try:
            await client.execute(command, arguments)
            started = time.perf_counter()
            for _unused in range(count):
                await client.execute(command, arguments)
            return (time.perf_counter() - started) / count
        finally:
            await client.disconnect()
    return asyncio.run(run())


def _legacy_loop(sock, command, arguments, count):
    from qemu.qmp.legacy import QEMUMonitorProtocol
    client = QEMUMonitorProtocol(sock)
    client.connect()
    try:
        client.cmd(command, **(arguments or {}))
        started = time.perf_counter()
        for _unused in range(count):
            client.cmd(command, **(arguments or {}))
        return (time.perf_counter() - started) / count
    finally:
        client.close()


def qmp_rtt(cfg):
    """Round trip per query on one real QEMU: ours, qemu.qmp's QMPClient (asyncio) and its legacy sync wrapper."""
    count, rounds = sized(cfg, (20, 1), (200, 3), (1000, 7))
    count, rounds = getattr(cfg, "rtt_count", None) or count, getattr(cfg, "rtt_rounds", None) or rounds
    results = []
    with running_qemu() as sock:
        for command, arguments, label in (("query-version", None, "query-version"),
                                          ("query-cpu-model-expansion", EXPANSION_ARGS, "expansion of max")):
            times = interleaved({
                "ours": lambda: _ours_loop(sock, command, arguments, count),
                "qemu.qmp": lambda: _qemu_qmp_loop(sock, command, arguments, count),
                "legacy": lambda: _legacy_loop(sock, command, arguments, count),
            }, rounds)
            ours, theirs, legacy = (median(times[k]) for k in ("ours", "qemu.qmp", "legacy"))
            ratio = ours / theirs
            results.append(Result(
                "qmp_rtt", "QMP round trip, %s (real QEMU, TCG)" % label, ours, theirs, target="<= 1.0x",
                met=ratio <= 1.0, baseline_name="qemu.qmp QMPClient (asyncio), same process",
                notes=["%d rounds x %d queries, medians; spread ours %s, qemu.qmp %s" % (
                    rounds, count, spread(times["ours"]), spread(times["qemu.qmp"])),
                    "qemu.qmp legacy sync QEMUMonitorProtocol: %.1f us (ours is %.2fx of it)" % (
                        legacy * 1e6, ours / legacy)]))
    return results


def _child_times(code, sock, env):
    wall, proc = run_timed([sys.executable, "-c", code, sock], env=env)
    imported, total = (float(x) for x in proc.stdout.split())
    return wall, imported, total


def fresh_process(cfg):
    """A new interpreter imports the client, connects, negotiates and runs one query (ours vs qemu.qmp)."""
    rounds = sized(cfg, 1, 5, 15)
    env = child_env()
    samples = {"ours": [], "qemu.qmp": [], "empty": []}
    with running_qemu() as sock:
        for _unused in range(rounds):
            samples["ours"].append(_child_times(OURS_CHILD, sock, env))
            samples["qemu.qmp"].append(_child_times(QEMU_QMP_CHILD, sock, env))
            samples["empty"].append(run_timed([sys.executable, "-c", EMPTY_CHILD], env=env)[0])

    def med(name, index):
        return median([sample[index] for sample in samples[name]])
    ours, theirs = med("ours", 2), med("qemu.qmp", 2)
    speedup = theirs / ours
    wall_ours, wall_theirs, empty = med("ours", 0), med("qemu.qmp", 0), median(samples["empty"])
    return [Result(
        "fresh_process", "fresh process: import + connect + negotiate + 1 query", ours, theirs,
        target=">= 3x faster", met=speedup >= 3.0, baseline_name="qemu.qmp in a fresh process",
        notes=["%.1fx faster; timed inside the child from before the first import (import: ours %s, qemu.qmp %s)"
               % (speedup, _ms(med("ours", 1)), _ms(med("qemu.qmp", 1))),
               "whole process wall time: ours %s, qemu.qmp %s (%.2fx faster); bare 'python -c pass' %s"
               % (_ms(wall_ours), _ms(wall_theirs), wall_theirs / wall_ours, _ms(empty)),
               "%d rounds, medians" % rounds])]


def _ms(seconds):
    return "%.1f ms" % (seconds * 1e3)
