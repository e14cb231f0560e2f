"""Row fleet_baseline: the fleet_baseline filter on synthetic fleets against json.loads of the same facts.

Each size runs in a child process (``python -m bench.fleet_rows N``) so its peak memory is its own and the big fleet's
memory is returned to the system at once. Every host is its own dict, as hostvars are: the facts are one JSON text
(kind-level facts concatenated per host, so generating it costs little) parsed with json.loads.
"""

from __future__ import annotations

import copy
import gc
import json
import random
import sys
import time

from bench.common import Result, child_env, median, run_timed, sized

PROPS, KINDS = 150, 50
META = {"supported": True, "dialect": "query-arm-cpu-props-info", "accel": "kvm",
        "emulator": "/usr/bin/qemu-system-aarch64", "qemu_version": "9.2.0", "qemu_package": "armvirt-bench",
        "cpu_model": None, "source": "cache", "reason": None}


def kind_facts(props=PROPS, kinds=KINDS, seed=7):
    """``kinds`` facts of ``props`` properties that differ in 10 properties each (as tests/unit's synthetic fleet)."""
    rnd = random.Random(seed)
    base = {}
    for n in range(props):
        prop_type = ("number", "string", "bool")[n % 3]
        supported = {"number": ["0-%d" % rnd.randint(1, 15), "off"], "bool": ["on", "off"],
                     "string": ["0.0", "1.0", "1.1"][:rnd.randint(1, 3)]}[prop_type]
        base["feat_%03d" % n] = {"type": prop_type, "supported_values": supported}
    facts = []
    for _unused in range(kinds):
        properties = copy.deepcopy(base)
        for name in rnd.sample(sorted(properties), min(10, props)):
            prop = properties[name]
            prop["supported_values"] = {"number": ["0-%d" % rnd.randint(1, 15)], "string": ["0.0", "1.0", "1.2"],
                                        "bool": ["off"]}[prop["type"]]
        facts.append(dict(META, properties=properties))
    return facts


def fleet_text(hosts, props=PROPS, kinds=KINDS):
    """The JSON text of ``{host: fact}``; json.loads of it gives every host its own objects."""
    texts = [json.dumps(fact) for fact in kind_facts(props, kinds)]
    return "{" + ",".join('"host%06d":%s' % (n, texts[n % kinds]) for n in range(hosts)) + "}"


def measure(hosts, props=PROPS, kinds=KINDS, repeat=3, loads_repeat=None):
    """{seconds of json.loads, seconds of fleet_baseline, MB of JSON, peak RSS MiB}: medians over ``repeat``."""
    from ansible_collections.armvirt.cpu.plugins.filter.fleet_baseline import fleet_baseline
    from bench.common import max_rss_mib
    text = fleet_text(hosts, props, kinds)
    megabytes = len(text) / 1e6
    loads_times, base_times, facts = [], [], None
    for _unused in range(loads_repeat or repeat):
        facts = None
        gc.collect()
        started = time.perf_counter()
        facts = json.loads(text)
        loads_times.append(time.perf_counter() - started)
    del text
    gc.collect()
    members = None
    for _unused in range(repeat):
        started = time.perf_counter()
        result = fleet_baseline(facts, "bench")
        base_times.append(time.perf_counter() - started)
        members = len(result["members"])
        del result
    if members != hosts:
        raise RuntimeError("fleet_baseline kept %s of %d hosts" % (members, hosts))
    return {"hosts": hosts, "props": props, "kinds": kinds, "megabytes": round(megabytes, 1),
            "json_loads": median(loads_times), "baseline": median(base_times), "loads_all": loads_times,
            "baseline_all": base_times, "max_rss_mib": round(max_rss_mib())}


def fleet_baseline_row(cfg):
    sizes = cfg.fleet_sizes or sized(cfg, (30,), (200, 1000), (1000, 10000, 100000))
    figures = []
    for hosts in sizes:
        repeat = 5 if hosts <= 1000 else 3
        loads_repeat = 1 if hosts >= 100000 else repeat
        _unused, proc = run_timed([sys.executable, "-m", "bench.fleet_rows", str(hosts), str(repeat), str(loads_repeat)],
                                  env=child_env(), timeout=1800)
        figures.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    results = []
    first = figures[0]
    for fig in figures:
        ratio = fig["baseline"] / fig["json_loads"]
        per_host = fig["baseline"] / fig["hosts"] * 1e6
        growth = per_host / (first["baseline"] / first["hosts"] * 1e6)
        results.append(Result(
            "fleet_baseline",
            "fleet_baseline, %s hosts x %d props (%d kinds)" % (format(fig["hosts"], ","), fig["props"], fig["kinds"]),
            fig["baseline"], fig["json_loads"], target="<= 0.25x, linear", met=ratio <= 0.25,
            baseline_name="json.loads of the same facts",
            notes=["%.2f us per host (x%.2f of the smallest size's per-host cost); %.1f MB of JSON; peak RSS of the "
                   "child %s MiB; json.loads runs %s, fleet_baseline runs %s" % (
                       per_host, growth, fig["megabytes"], format(fig["max_rss_mib"], ","),
                       _list(fig["loads_all"]), _list(fig["baseline_all"]))]))
    return results


def _list(times):
    return "[" + ", ".join("%.3f" % t for t in times) + "] s"


if __name__ == "__main__":
    from bench.common import ensure_paths
    ensure_paths()
    hosts, repeat, loads_repeat = (int(arg) for arg in sys.argv[1:4])
    print(json.dumps(measure(hosts, repeat=repeat, loads_repeat=loads_repeat)))
