"""Rows cache_hit, cache_miss and module_cold: props_facts' work on a host, against its floors."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

from bench import libvirt_cold
from bench.common import (ROOT, Result, child_env, floor_note, fmt_time, interleaved, median, qemu_binary,
                          run_timed, sized, spread)

MODULE = ROOT / "plugins" / "modules" / "props_facts.py"
# s, cold `virsh domcapabilities` of libvirt 9.0 on this machine (2026-11), quoted only when no libvirtd can be had
VIRSH_QUOTED = 1.95


def _props_facts_logic(emulator, accel, cache_dir, mode="use"):
    """What props_facts.main does between its arguments and exit_json: collect, then the fact with the host's
    identity (``host_cpu``, read once by collect for the fingerprint and the fact)."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import collect
    host_props, source, info = collect.collect(emulator, accel, 10.0, cache_dir, mode)
    return collect.host_fact(host_props, accel, emulator, source, identity=info["identity"])


def _mandatory_reads(emulator, sysfs="/sys", procfs="/proc"):
    """The system calls a valid-cache run cannot do without besides reading the cache file, bare (no Python around
    them but the loop): the fingerprint's (stat and realpath of the emulator, QEMU's module directory, /dev/kvm,
    uname) and the host's identity, which the fingerprint and the fact need (the CPU list, MIDR and REVIDR of each
    CPU, /proc/cpuinfo, the kernel command line, the SVE length, three DMI files). Parse + these is the row's floor."""
    cpu = sysfs + "/devices/system/cpu/"
    paths = [cpu + name + "/regs/identification/" + register for name in os.listdir(cpu)
             if name[:3] == "cpu" and name[3:].isdigit() for register in ("midr_el1", "revidr_el1")]
    paths += [procfs + "/cpuinfo", procfs + "/cmdline", procfs + "/sys/abi/sve_default_vector_length"]
    paths += [sysfs + "/class/dmi/id/" + name for name in ("bios_vendor", "bios_version", "bios_date")]
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            while os.read(fd, 16384):
                pass
        finally:
            os.close(fd)
    os.stat(emulator)
    prefix = os.path.dirname(os.path.dirname(os.path.realpath(emulator)))
    uname = os.uname()
    for candidate in (prefix + "/lib/" + uname.machine + "-linux-gnu/qemu", prefix + "/lib64/qemu",
                      prefix + "/lib/qemu"):
        if os.path.isdir(candidate):
            os.stat(candidate)
            break
    os.access("/dev/kvm", os.R_OK | os.W_OK)


def _bare_valid_read(path, emulator):
    """A valid-cache run with nothing of ours around it, the row's floor: the file's safety checks and read (the
    directory's mode, an ``O_NOFOLLOW`` open, ``fstat``), its parse, the reads the fingerprint and the identity cannot
    do without (:func:`_mandatory_reads`) and the fact's property dicts and named models built from the tree in one
    pass. A lower bound: no checks and no messages, and the fingerprint's and the identity's strings are neither
    built nor compared."""
    os.stat(os.path.dirname(path))
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fstat(fd)
        data = os.read(fd, 1 << 20)
    finally:
        os.close(fd)
    root = ET.fromstring(data.decode("utf-8"))
    _mandatory_reads(emulator)
    fingerprint = {item.get("name"): item.text for item in root.find("fingerprint")}
    properties = {}
    for elem in root.find("properties"):
        values = []
        fact = {"type": elem.get("type"), "supported_values": values}
        for child in elem:
            if child.tag == "value":
                values.append(child.text or "")
            elif child.tag == "default":
                fact["default"] = child.text
            else:
                fact[child.get("name")] = json.loads(child.text)
        properties[elem.get("name")] = fact
    models = root.find("cpuModels")
    return fingerprint, properties, None if models is None else json.loads(models.text)


def _loop(call, count):
    def run():
        started = time.perf_counter()
        for _unused in range(count):
            call()
        return (time.perf_counter() - started) / count
    return run


def _read_and_parse(path):
    with open(path, "rb") as handle:
        return ET.fromstring(handle.read())


def _cache_case(label, emulator, accel, cache_dir, count, rounds):
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import collect
    path = collect.cache_path(cache_dir, emulator, accel)
    fact = _props_facts_logic(emulator, accel, cache_dir)
    if fact["source"] != "cache":
        raise RuntimeError("the cache for %s was not used" % emulator)
    if _bare_valid_read(path, emulator)[1] != fact["properties"]:
        raise RuntimeError("the floor's properties differ from the fact's for %s" % emulator)
    times = interleaved({"ours": _loop(lambda: _props_facts_logic(emulator, accel, cache_dir), count),
                         "parse": _loop(lambda: _read_and_parse(path), count),
                         "reads": _loop(lambda: _mandatory_reads(emulator), count),
                         "floor": _loop(lambda: _bare_valid_read(path, emulator), count)}, rounds)
    ours, base, reads, floor = (median(times[key]) for key in ("ours", "parse", "reads", "floor"))
    ratio = ours / base
    return Result("cache_hit", "props_facts logic, valid cache, in-process (%s)" % label, ours, base,
                  target="<= 2x, < 2 ms", met=ratio <= 2.0 and ours < 2e-3, floor=floor / base,
                  baseline_name="read + ElementTree parse of the cache file",
                  notes=["%d properties, %d bytes; %d rounds x %d calls, medians; spread ours %s, parse %s, floor %s"
                         % (len(fact["properties"]), os.path.getsize(path), rounds, count,
                            spread(times["ours"]), spread(times["parse"]), spread(times["floor"])),
                         floor_note(ours, floor, base, 2, "the file's safety checks and read, its parse, the "
                                    "fingerprint's and the identity's reads as bare system calls (%s of it) and the "
                                    "fact's dicts built from the tree in one pass" % fmt_time(reads))])


def cache_hit(cfg):
    """collect.collect(cache=use) + to_fact with a valid cache, against reading and parsing that file alone."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import cache, collect, props
    from armsim import write_wrapper
    count, rounds = sized(cfg, (10, 1), (100, 3), (500, 7))
    work = tempfile.mkdtemp(prefix="armvirt-bench-cache-")
    results = []
    try:
        qemu = qemu_binary()
        cache_dir = os.path.join(work, "real")
        host_props, _unused, info = collect.collect(qemu, "tcg", 20.0, cache_dir, collect.CACHE_REFRESH)
        cache.write(info["path"], host_props, info["fingerprint"])
        results.append(_cache_case("real QEMU 7.2, TCG", qemu, "tcg", cache_dir, count, rounds))
        # a bigger cache: a Neoverse V1 host's props-info answer (stored from the fixture, nothing spawned)
        wrapper = os.path.join(work, "v1", "qemu-system-aarch64")
        os.makedirs(os.path.dirname(wrapper))
        write_wrapper(wrapper, "neoverse-v1")
        with open(ROOT / "tests" / "fixtures" / "facts" / "neoverse-v1.json") as handle:
            v1 = props.HostProps.from_fact(json.load(handle))
        v1_dir = os.path.join(work, "v1cache")
        cache.write(collect.cache_path(v1_dir, wrapper, "kvm"), v1, cache.fingerprint(wrapper, "kvm"))
        results.append(_cache_case("neoverse-v1 profile", wrapper, "kvm", v1_dir, count, rounds))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


QUERY_COMMANDS = ({"execute": "query-commands"},)


def bare_spawn(emulator, accel="tcg", commands=QUERY_COMMANDS):
    """A probe without our code: spawn QEMU as probe.py does, negotiate, send ``commands`` in one write (pipelined:
    no wait between them), read their replies, quit and reap. Raw socket, no checks.

    With the default (query-commands alone) it is the spawn's floor; with the commands a real probe sent
    (:func:`probe_commands`) it is the floor of the probe: QEMU's own work for them, no client in between.
    Returns (seconds to the last reply, seconds in all)."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import probe
    started = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix="armvirt-bench-bare-")
    sock_path = os.path.join(workdir, "qmp.sock")
    proc = subprocess.Popen(probe.qemu_argv(emulator, accel, sock_path), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir,
                            start_new_session=True)
    try:
        while True:
            if os.path.exists(sock_path):
                sock = socket.socket(socket.AF_UNIX)
                try:
                    sock.connect(sock_path)
                    break
                except OSError:
                    sock.close()
            if proc.poll() is not None:
                raise RuntimeError("QEMU exited at start")
            time.sleep(0.001)
        reader = sock.makefile("rb")
        reader.readline()  # greeting
        sock.sendall(b"".join(json.dumps(message).encode() + b"\n"
                              for message in ({"execute": "qmp_capabilities"},) + tuple(commands)))
        replies = 0
        while replies < len(commands) + 1:
            line = reader.readline()
            if not line:
                raise RuntimeError("QEMU closed the monitor after %d replies" % replies)
            replies += b'"event"' not in line
        answered = time.perf_counter() - started
        sock.sendall(b'{"execute":"quit"}\n')
        proc.wait()
        sock.close()
        return answered, time.perf_counter() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def probe_commands(emulator, accel="tcg"):
    """The QMP commands one probe of ``emulator`` sends after negotiating (quit aside), in order, as messages:
    recorded from a real probe by wrapping the client's ``execute`` in this process."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import collect, qmp
    sent = []
    execute = qmp.QMPClient.execute

    def recording(client, command, arguments=None, timeout=None):
        if command != "quit":
            sent.append({"execute": command} if arguments is None else {"execute": command, "arguments": arguments})
        return execute(client, command, arguments, timeout)
    work = tempfile.mkdtemp(prefix="armvirt-bench-record-")
    qmp.QMPClient.execute = recording
    try:
        collect.collect(emulator, accel, 20.0, work, collect.CACHE_IGNORE)
    finally:
        qmp.QMPClient.execute = execute
        shutil.rmtree(work, ignore_errors=True)
    return tuple(sent)


def cache_miss(cfg):
    """A full probe of the real QEMU (spawn, expansion dialect, quit, reap) against a bare spawn + query-commands,
    and against its floor: the same spawn sending the probe's own commands pipelined (QEMU's work, no client)."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import collect
    rounds = getattr(cfg, "miss_rounds", None) or sized(cfg, 1, 3, 11)
    qemu = qemu_binary()
    commands = probe_commands(qemu)
    work = tempfile.mkdtemp(prefix="armvirt-bench-miss-")
    answered = []

    def bare():
        to_answer, total = bare_spawn(qemu)
        answered.append(to_answer)
        return total
    try:
        times = interleaved({"ours": lambda: collect.collect(qemu, "tcg", 20.0, work, collect.CACHE_IGNORE),
                             "bare": bare, "floor": lambda: bare_spawn(qemu, commands=commands)[1]}, rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours, base, floor = median(times["ours"]), median(times["bare"]), median(times["floor"])
    ratio = ours / base
    return [Result("cache_miss", "props_facts cache miss, real QEMU (TCG, expansion dialect)", ours, base,
                   target="<= 1.7x", met=ratio <= 1.7,
                   baseline_name="bare spawn + query-commands answered + quit/reap", floor=floor / base,
                   notes=["%d rounds, medians; spread ours %s, bare %s; bare spawn to the query-commands answer "
                          "alone %s" % (rounds, spread(times["ours"]), spread(times["bare"]),
                                        "%.1f ms" % (median(answered) * 1e3)),
                          floor_note(ours, floor, base, 1.7, "the bare spawn sending the probe's own %d commands in "
                                     "one write (QEMU's work for them, no client between)" % len(commands))])]


def _module_once(emulator, env):
    """props_facts as a whole process, cache directory empty: returns seconds."""
    work = tempfile.mkdtemp(prefix="armvirt-bench-module-")
    try:
        args = os.path.join(work, "args.json")
        with open(args, "w") as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": {"emulator": emulator, "accel": "tcg",
                                               "cache_dir": os.path.join(work, "cache")}}, handle)
        elapsed, proc = run_timed([sys.executable, str(MODULE), args], env=env, cwd=work)
        result = json.loads(proc.stdout)
        if result.get("failed") or result["ansible_facts"]["arm_cpu_props"]["source"] != "probe":
            raise RuntimeError("props_facts did not probe: %s" % proc.stdout[:2000])
        return elapsed
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _ping_once(script, env):
    """ansible.builtin.ping as a whole process (the floor of every module process: the interpreter and
    ``ansible.module_utils.basic``): returns seconds."""
    work = tempfile.mkdtemp(prefix="armvirt-bench-ping-")
    try:
        args = os.path.join(work, "args.json")
        with open(args, "w") as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": {}}, handle)
        elapsed, _unused = run_timed([sys.executable, script, args], env=env, cwd=work)
        return elapsed
    finally:
        shutil.rmtree(work, ignore_errors=True)


def module_cold(cfg):
    """props_facts run as a process with no cache against libvirt's cold `virsh domcapabilities`, interleaved in
    the same run (a private libvirtd started for the row: bench/libvirt_cold.py), and against its floor: a module
    process that imports nothing of ours (ansible.builtin.ping) plus the probe's floor (:func:`bare_spawn` with the
    probe's own commands)."""
    import ansible.modules.ping
    rounds = sized(cfg, 1, 3, 7)
    qemu = qemu_binary()
    commands = probe_commands(qemu)
    env = child_env()
    work = tempfile.mkdtemp(prefix="armvirt-bench-cold-")
    # a copy: run from its own directory, ping.py would import ansible/modules/tempfile.py as tempfile
    ping = shutil.copy(ansible.modules.ping.__file__, os.path.join(work, "ping.py"))
    calls = {"ours": lambda: _module_once(qemu, env), "ping": lambda: _ping_once(ping, env),
             "probe": lambda: bare_spawn(qemu, commands=commands)[1]}
    try:
        with libvirt_cold.Libvirt() as libvirt:
            times = interleaved(dict(calls, virsh=lambda: libvirt.cold_domcapabilities(qemu)), rounds)
            base = median(times["virsh"])
            notes = ["%d runs each, interleaved, medians; spread ours %s" % (rounds, spread(times["ours"])),
                     "virsh domcapabilities cold (libvirtd %s, %s), spread %s"
                     % (libvirt_cold.version(), libvirt.how, spread(times["virsh"]))]
    except libvirt_cold.Unavailable as exc:
        times = interleaved(calls, rounds)
        base = VIRSH_QUOTED
        notes = ["%d runs, median; spread %s" % (rounds, spread(times["ours"])),
                 "libvirtd not reachable (%s): baseline is the quoted %.2f s (libvirt 9.0 on this machine)"
                 % (exc, VIRSH_QUOTED)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours, ping_time, probe_floor = median(times["ours"]), median(times["ping"]), median(times["probe"])
    floor = ping_time + probe_floor
    notes.append(floor_note(ours, floor, base, 0.1, "ansible.builtin.ping as a process (%s: the interpreter and "
                            "ansible.module_utils.basic) + the probe's floor (%s: QEMU spawned, its %d commands "
                            "pipelined, quit)" % (fmt_time(ping_time), fmt_time(probe_floor), len(commands))))
    ratio = ours / base
    return [Result("module_cold", "props_facts module process, cold (no cache), real QEMU", ours, base,
                   target="<= 0.1x", met=ratio <= 0.1, baseline_name="cold virsh domcapabilities",
                   floor=floor / base, notes=notes)]
