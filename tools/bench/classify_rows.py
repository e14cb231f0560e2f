"""Row classify: the classify step (the fleet_state task of armvirt.cpu.classify) over a jsonfile fact cache.

Each size is one ansible-playbook run on a synthetic fleet whose facts are only in the fact cache (as after a sliced
gather): a task that reads every host's facts from hostvars (Ansible's own cost, the baseline), then fleet_state over
hostvars, then fleet_state reading the fact cache directly, then the read again (the read's figure is the mean of the
two, so neither side gets a warmer cache). A callback plugin records each task's time inside the run. The direct path
at 100,000 hosts runs without ansible-playbook (an inventory of 100,000 hosts alone takes minutes to load): the same
reader function as the action, against json.loads of the same cache files.

The whole playbook: ``armvirt.cpu.classify`` as users run it (ansible-playbook's start, inventory, every task),
once with an inventory of the hosts alone (its add_host fallback puts each host in its class group) and once with the
``armvirt.cpu.classes`` inventory source beside it, against a playbook run of the same inventory whose one task reads
every host's facts from hostvars (Ansible's own read, as a whole run). Each task's time is from its start to the next
task's start, so the results the strategy processes after the task (add_host's inventory changes) count in it.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import sys
import tempfile
import time

from bench.common import Result, child_env, run_timed, sized
from bench.fleet_rows import kind_facts

TIMER = '''
import json, os, time
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_task_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.times, self.started, self.results, self.spans = {}, None, {}, []

    def _close_span(self):
        if self.started:
            self.spans.append([self.started[0], time.perf_counter() - self.started[1]])

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close_span()
        self.started = (task.get_name(), time.perf_counter())

    def v2_runner_on_ok(self, result):
        name, started = self.started
        self.times[name] = time.perf_counter() - started
        self.results[name] = {k: result._result.get(k) for k in ("facts_source", "count")}

    def v2_playbook_on_stats(self, stats):
        self._close_span()
        with open(os.environ["BENCH_TIMES"], "w") as handle:
            json.dump({"times": self.times, "results": self.results, "spans": self.spans}, handle)
'''

READ_TASK = {"name": "read", "ansible.builtin.set_fact": {
    "count": "{{ fleet_hosts | map('extract', hostvars, 'ansible_facts') | map(attribute='arm_cpu_props') "
             "| map(attribute='properties') | map('length') | sum }}"}}


def _state_task(name, facts_from):
    return {"name": name, "armvirt.cpu.fleet_state": {
        "hosts": "{{ fleet_hosts }}", "max_fact_age": 0, "artifacts_dir": "{{ artifacts }}/%s" % name, "snapshot": True,
        "facts_from": facts_from}}


def write_store(work, hosts):
    """The fact cache (jsonfile: one file per host), inventory and configuration of a fleet of ``hosts``.

    One host of each kind is written through Ansible's own jsonfile cache plugin (so the files are in the format
    and under the names this ansible-core uses); the other hosts of a kind get a copy of that file."""
    from ansible.plugins.loader import cache_loader
    facts_dir = os.path.join(work, "facts")
    plugin = cache_loader.get("jsonfile", _uri=facts_dir)
    record = {"status": "ok", "error": "", "gathered_at": "2026-11-29T16:00:00Z"}
    names = ["host%06d" % n for n in range(hosts)]
    kinds = kind_facts()
    files = []
    for n, fact in enumerate(kinds[:hosts]):
        plugin.set(names[n], {"arm_cpu_props": fact, "armvirt_cpu_gather": record})
        written = [name for name in os.listdir(facts_dir) if name.endswith(names[n])]
        with open(os.path.join(facts_dir, written[0]), "rb") as handle:
            files.append((written[0][:-len(names[n])], handle.read()))
    for n in range(len(kinds), hosts):
        prefix, data = files[n % len(kinds)]
        with open(os.path.join(facts_dir, prefix + names[n]), "wb") as handle:
            handle.write(data)
    with open(os.path.join(work, "inventory.ini"), "w") as handle:
        handle.write("localhost ansible_connection=local ansible_python_interpreter=%s\n[hypervisors]\n%s\n"
                     % (sys.executable, "\n".join(names)))
    os.makedirs(os.path.join(work, "callbacks"))
    with open(os.path.join(work, "callbacks", "bench_task_timer.py"), "w") as handle:
        handle.write(TIMER)
    with open(os.path.join(work, "ansible.cfg"), "w") as handle:
        handle.write("[defaults]\nfact_caching = jsonfile\nfact_caching_connection = %s\nfact_caching_timeout = 0\n"
                     "callback_plugins = %s\ncallbacks_enabled = bench_task_timer\n"
                     % (facts_dir, os.path.join(work, "callbacks")))
    play = [{"name": "classify", "hosts": "localhost", "gather_facts": False,
             "vars": {"fleet_hosts": "{{ query('ansible.builtin.inventory_hostnames', 'hypervisors') }}",
                      "artifacts": os.path.join(work, "artifacts")},
             "tasks": [READ_TASK, _state_task("hostvars", "hostvars"), _state_task("cache", "cache"),
                       dict(READ_TASK, name="read again")]}]
    with open(os.path.join(work, "classify.yml"), "w") as handle:
        json.dump(play, handle)
    return facts_dir, names


def loads_files(facts_dir):
    """Seconds to read and json.loads every host's cache file, and the facts inside it where the file wraps them
    in a JSON string (ansible-core 2.19's ``__payload__``): the floor of any reader of the cache."""
    paths = [os.path.join(facts_dir, name) for name in os.listdir(facts_dir)]
    gc.collect()
    started = time.perf_counter()
    for path in paths:
        with open(path, "rb") as handle:
            data = json.loads(handle.read())
        if isinstance(data, dict) and isinstance(data.get("__payload__"), str):
            json.loads(data["__payload__"])
    return time.perf_counter() - started


def playbook_figures(hosts):
    """One ansible-playbook run: seconds per task, json.loads of the cache files, and the run's peak memory."""
    work = tempfile.mkdtemp(prefix="armvirt-bench-classify-")
    try:
        facts_dir, names = write_store(work, hosts)
        loads_before = loads_files(facts_dir)   # and again after the run: both sides see the same load
        times_file = os.path.join(work, "times.json")
        env = child_env(ANSIBLE_CONFIG=os.path.join(work, "ansible.cfg"), BENCH_TIMES=times_file,
                        ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False")
        wrapped = ["/usr/bin/time", "-f", "maxrss_kib=%M"] if os.path.exists("/usr/bin/time") else []
        elapsed, proc = run_timed(wrapped + ["ansible-playbook", "-i", os.path.join(work, "inventory.ini"),
                                             os.path.join(work, "classify.yml")], env=env, cwd=work, timeout=3600)
        if proc.returncode:
            raise RuntimeError("classify benchmark playbook failed:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-3000:]))
        with open(times_file) as handle:
            recorded = json.load(handle)
        rss = [line.split("=", 1)[1] for line in proc.stderr.splitlines() if line.startswith("maxrss_kib=")]
        loads = (loads_before + loads_files(facts_dir)) / 2
        for name in ("hostvars", "cache"):
            with open(os.path.join(work, "artifacts", name, "baseline.json")) as handle:
                members = len(json.load(handle)["members"])
            if members != hosts:
                raise RuntimeError("fleet_state (%s) kept %d of %d hosts" % (name, members, hosts))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    times = recorded["times"]
    return {"hosts": hosts, "read": (times["read"] + times["read again"]) / 2, "reads": [times["read"],
            times["read again"]], "hostvars": times["hostvars"], "cache": times["cache"], "json_loads": loads,
            "sources": {name: recorded["results"][name]["facts_source"] for name in ("hostvars", "cache")},
            "playbook": elapsed, "max_rss_mib": round(int(rss[0]) / 1024) if rss else None}


SOURCE_FILE = "classes.armvirt_cpu_classes.yml"
# after armvirt.cpu.classify, in the same run: every host of the fleet is in a class group
GROUPS_CHECK = {"name": "class groups", "hosts": "localhost", "gather_facts": False, "tasks": [{
    "name": "check the class groups", "ansible.builtin.assert": {"quiet": True, "that": [
        "groups | dict2items | selectattr('key', 'match', 'armvirt_cpu_class_') | map(attribute='value') | flatten "
        "| unique | length == groups['hypervisors'] | length"]}}]}


def _run_playbook(work, playbook, inventories, *extra):
    """(wall seconds, [(task, seconds)]) of one ansible-playbook run in ``work`` (the store of write_store)."""
    times_file = os.path.join(work, "times.json")
    env = child_env(ANSIBLE_CONFIG=os.path.join(work, "ansible.cfg"), BENCH_TIMES=times_file, ANSIBLE_NOCOLOR="1",
                    ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    argv = ["ansible-playbook", playbook] + sum((["-i", path] for path in inventories), []) + list(extra)
    elapsed, _proc = run_timed(argv, env=env, cwd=work, timeout=3600)
    with open(times_file) as handle:
        spans = json.load(handle)["spans"]
    return elapsed, spans


def whole_figures(hosts):
    """The whole armvirt.cpu.classify run, without and with the classes inventory source, and the hostvars read as
    a whole run, on one fact cache of ``hosts``: wall seconds and each task's seconds of every run."""
    work = tempfile.mkdtemp(prefix="armvirt-bench-classify-")
    try:
        write_store(work, hosts)
        inventory = os.path.join(work, "inventory.ini")
        with open(os.path.join(work, "read.yml"), "w") as handle:
            json.dump([{"name": "read", "hosts": "localhost", "gather_facts": False,
                        "vars": {"fleet_hosts": "{{ query('ansible.builtin.inventory_hostnames', 'hypervisors') }}"},
                        "tasks": [READ_TASK]}], handle)
        with open(os.path.join(work, "whole.yml"), "w") as handle:
            json.dump([{"ansible.builtin.import_playbook": "armvirt.cpu.classify"}, GROUPS_CHECK], handle)
        source = os.path.join(work, SOURCE_FILE)
        with open(source, "w") as handle:
            json.dump({"plugin": "armvirt.cpu.classes", "path": os.path.join(work, "with-source")}, handle)
        runs = {}
        runs["read"] = _run_playbook(work, "read.yml", [inventory])
        for name, inventories in (("fallback", [inventory]), ("source", [inventory, source])):
            runs[name] = _run_playbook(work, "whole.yml", inventories, "-e", "armvirt_cpu_max_fact_age=0",
                                       "-e", "armvirt_cpu_artifacts_dir=%s" % os.path.join(work, "with-" + name))
        read_again = _run_playbook(work, "read.yml", [inventory])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures = {"hosts": hosts, "read_walls": [runs["read"][0], read_again[0]],
               "read_tasks": [dict(runs["read"][1])["read"], dict(read_again[1])["read"]]}
    figures["read"] = sum(figures["read_walls"]) / 2
    for name in ("fallback", "source"):
        figures[name] = {"wall": runs[name][0], "tasks": runs[name][1]}
    return figures


def _tasks_note(tasks):
    return "; ".join("%s %.2f s" % (name, seconds) for name, seconds in tasks)


def direct_figures(hosts):
    """The classify step as the action runs it with the fact cache read directly (Ansible's jsonfile cache plugin),
    artifacts and snapshot written, on ``hosts``, in this process."""
    from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, _fact_sources, _fleet_view
    from bench.common import max_rss_mib
    work = tempfile.mkdtemp(prefix="armvirt-bench-classify-")
    try:
        facts_dir, names = write_store(work, hosts)
        loads_before = loads_files(facts_dir)
        gc.collect()
        started = time.perf_counter()
        state = _fleet_view.view(_fact_sources.CachedFacts("jsonfile", facts_dir), names, 0)
        _artifacts.write_artifacts(os.path.join(work, "artifacts"), state, snapshot=True)
        elapsed = time.perf_counter() - started
        if len(state["baseline"]["members"]) != hosts:
            raise RuntimeError("fleet_state kept %d of %d hosts" % (len(state["baseline"]["members"]), hosts))
        del state
        loads = (loads_before + loads_files(facts_dir)) / 2
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"hosts": hosts, "cache": elapsed, "json_loads": loads, "max_rss_mib": round(max_rss_mib())}


def classify_row(cfg):
    sizes = cfg.fleet_sizes or sized(cfg, (20,), (300, 1000), (1000, 10000))
    results = []
    for hosts in sizes:
        _unused, proc = run_timed([sys.executable, "-m", "bench.classify_rows", "playbook", str(hosts)],
                                  env=child_env(), timeout=3600)
        fig = json.loads(proc.stdout.strip().splitlines()[-1])
        size = format(hosts, ",")
        notes = ["ansible-playbook run %.1f s, peak RSS %s MiB; hostvars reads %s s; fact source %s"
                 % (fig["playbook"], fig["max_rss_mib"], ", ".join("%.2f" % t for t in fig["reads"]),
                    fig["sources"])]
        results.append(Result("classify", "fleet_state over hostvars, %s hosts" % size, fig["hostvars"], fig["read"],
                              target="<= 1.2x", met=fig["hostvars"] <= 1.2 * fig["read"],
                              baseline_name="reading the hosts' facts from hostvars (a set_fact task)", notes=notes))
        results.append(Result("classify", "fleet_state, fact cache read directly, %s hosts" % size, fig["cache"],
                              fig["json_loads"], target="<= 10x", met=fig["cache"] <= 10 * fig["json_loads"],
                              baseline_name="json.loads of the same cache files", notes=notes))
    for hosts in cfg.fleet_sizes or sized(cfg, (20,), (300,), (3000, 10000)):
        _unused, proc = run_timed([sys.executable, "-m", "bench.classify_rows", "whole", str(hosts)],
                                  env=child_env(), timeout=7200)
        fig = json.loads(proc.stdout.strip().splitlines()[-1])
        size = format(hosts, ",")
        baseline = "ansible-playbook whose one task reads the hosts' facts from hostvars"
        read_note = "hostvars read runs %s s (its task %s s)" % (", ".join("%.1f" % t for t in fig["read_walls"]),
                                                                 ", ".join("%.1f" % t for t in fig["read_tasks"]))
        source = fig["source"]
        results.append(Result("classify", "armvirt.cpu.classify playbook, classes inventory source, %s hosts" % size,
                              source["wall"], fig["read"], target="<= 1.2x (set at 3,000 and more)",
                              met=source["wall"] <= 1.2 * fig["read"] if hosts >= 3000 else None,
                              baseline_name=baseline, notes=["tasks: " + _tasks_note(source["tasks"]), read_note]))
        fallback = fig["fallback"]
        results.append(Result("classify", "armvirt.cpu.classify playbook, add_host fallback, %s hosts" % size,
                              fallback["wall"], fig["read"], baseline_name=baseline,
                              notes=["tasks: " + _tasks_note(fallback["tasks"]),
                                     "no target: add_host per host is O(N^2) in Ansible; fleets of thousands add "
                                     "the classes inventory source"]))
    direct = getattr(cfg, "direct_hosts", None) or sized(cfg, 60, 2000, 100000)
    _unused, proc = run_timed([sys.executable, "-m", "bench.classify_rows", "direct", str(direct)], env=child_env(),
                              timeout=3600)
    fig = json.loads(proc.stdout.strip().splitlines()[-1])
    results.append(Result("classify", "fleet_state, fact cache read directly, %s hosts (no playbook)"
                          % format(direct, ","), fig["cache"], fig["json_loads"], target="<= 10x",
                          met=fig["cache"] <= 10 * fig["json_loads"], baseline_name="json.loads of the same cache files",
                          notes=["peak RSS of the child %s MiB" % format(fig["max_rss_mib"], ",")]))
    return results


if __name__ == "__main__":
    from bench.common import ensure_paths
    ensure_paths()
    print(json.dumps({"playbook": playbook_figures, "direct": direct_figures, "whole": whole_figures}[sys.argv[1]](
        int(sys.argv[2]))))
