"""Rows that go through ansible-playbook: task_cached, playbooks, and the template loop baseline of row guests."""

from __future__ import annotations

import glob
import os
import shutil
import sys
import tempfile

import yaml

from ansible_collections.armvirt.cpu.plugins.module_utils._guest import domain_xml
from bench.common import ROOT, Result, child_env, median, qemu_binary, run_timed, sized, spread

ENV = dict(ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_PIPELINING="True", ANSIBLE_RETRY_FILES_ENABLED="False",
           ANSIBLE_LOCALHOST_WARNING="False",
           ANSIBLE_DEPRECATION_WARNINGS="False", ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="default",
           ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
TEMPLATE = ROOT / "roles" / "guest_cpu" / "templates" / "domain.xml.j2"
ROLLOUT = ROOT / "playbooks" / "rollout.yml"
GUESTS_PER_HOST = 10
QEMU = "/usr/bin/qemu-system-aarch64"   # the <emulator> of the template loop's documents where QEMU is not installed


def _write_yaml(path, data):
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)
    return path


def _local_inventory(work):
    return _write_yaml(os.path.join(work, "inventory.yml"), {"all": {"hosts": {"bench-host": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}})


def playbook(argv_tail, forks=None, env=None, cwd=None):
    """Seconds of one ansible-playbook run (in ``cwd``: playbooks write ./armvirt-cpu artifacts by default)."""
    extra = dict(ENV, **(env or {}))
    if forks:
        extra["ANSIBLE_FORKS"] = str(forks)
    elapsed, _unused = run_timed(["ansible-playbook"] + list(argv_tail), env=child_env(**extra),
                                 cwd=cwd or tempfile.gettempdir())
    return elapsed


def _play(tasks, gather=False, hosts="all"):
    return [{"name": "bench", "hosts": hosts, "gather_facts": gather, "tasks": tasks}]


def task_cached(cfg):
    """One props_facts task with a valid cache against one ansible.builtin.ping task, per task, through
    ansible-playbook on one local host: (playbook with N tasks - playbook with none) / N, for both."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import cache, collect
    count, rounds = sized(cfg, (3, 3), (5, 3), (20, 3))   # medians of 3: one round's noise can make a task cost < 0
    work = tempfile.mkdtemp(prefix="armvirt-bench-task-")
    try:
        qemu, cache_dir = qemu_binary(), os.path.join(work, "cache")
        host_props, _unused, info = collect.collect(qemu, "tcg", 20.0, cache_dir, collect.CACHE_REFRESH)
        cache.write(info["path"], host_props, info["fingerprint"])
        inventory = _local_inventory(work)
        props_task = {"armvirt.cpu.props_facts": {"emulator": qemu, "accel": "tcg", "cache_dir": cache_dir}}
        books = {
            "empty": _play([]),
            "props": _play([dict(props_task, name="props %d" % n) for n in range(count)] + [{
                "ansible.builtin.assert": {"that": ["ansible_facts.arm_cpu_props.source == 'cache'"]}}]),
            "ping": _play([{"name": "ping %d" % n, "ansible.builtin.ping": {}} for n in range(count)] + [{
                "ansible.builtin.assert": {"that": ["true"]}}]),
        }
        paths = {name: _write_yaml(os.path.join(work, name + ".yml"), book) for name, book in books.items()}
        times = {name: [] for name in books}
        for _unused in range(rounds):
            for name in books:
                times[name].append(playbook(["-i", inventory, paths[name]]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    empty = median(times["empty"])
    ours, ping = (median(times["props"]) - empty) / count, (median(times["ping"]) - empty) / count
    ratio = ours / ping
    return [Result("task_cached", "props_facts task, valid cache, ansible-playbook, 1 host", ours, ping,
                   target="<= 1.3x", met=ratio <= 1.3, baseline_name="ansible.builtin.ping task",
                   notes=["per task = (playbook with %d tasks - playbook without) / %d; %d round(s), medians; "
                          "playbooks: empty %s, props %s, ping %s" % (
                              count, count, rounds, spread(times["empty"]), spread(times["props"]),
                              spread(times["ping"]))])]


def template_loop_per_guest(count, cfg):
    """ansible.builtin.template rendering the role's domain template for ``count`` guests (a loop), per guest."""
    work = tempfile.mkdtemp(prefix="armvirt-bench-template-")
    try:
        inventory = _local_inventory(work)
        out = os.path.join(work, "out")
        os.makedirs(out)
        guests = [{"name": "vm%05d" % n, "memory": 2048, "vcpus": 2} for n in range(count)]
        task = {"name": "render",
                "ansible.builtin.template": {"src": str(TEMPLATE), "dest": out + "/{{ item.name }}.xml"},
                "loop": "{{ bench_guests }}",
                "vars": {"name": "{{ item.name }}", "memory": "{{ item.memory }}", "vcpus": "{{ item.vcpus }}",
                         "mode": "host-passthrough", "delivery": "feature-value", "qemu_commandline": False,
                         "qemu_cpu_arg": "host,feat_RAS=1.0", "request_cpu_arg": "host,feat_RAS=1.0",
                         "domain_type": "kvm", "mark_ns": domain_xml.MARK_NS, "emulator": qemu_binary() or QEMU,
                         "host": "bench-host", "guest": "{{ item }}",
                         "cpu_features": [{"name": "feat_RAS", "policy": "require", "value": "1.0"}]}}
        full = _write_yaml(os.path.join(work, "loop.yml"), _play([task]))
        data = _write_yaml(os.path.join(work, "vars.yml"), {"bench_guests": guests})
        empty = _write_yaml(os.path.join(work, "empty.yml"), _play([]))
        loop_times, empty_times = [], []
        for _unused in range(1):
            empty_times.append(playbook(["-i", inventory, "-e", "@" + data, empty]))
            loop_times.append(playbook(["-i", inventory, "-e", "@" + data, full]))
            written = len(os.listdir(out))
            if written != count:
                raise RuntimeError("the template loop wrote %d of %d files" % (written, count))
        per_guest = (median(loop_times) - median(empty_times)) / count
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return per_guest, ("ansible.builtin.template loop: %d guests in %.1f s (empty playbook %.1f s): %.1f ms per guest"
                       % (count, median(loop_times), median(empty_times), per_guest * 1e3))


def _fleet(work, hosts):
    from armsim import write_wrapper
    # KVM hosts only: the row times a rollout in mode host-passthrough, which a TCG host's QEMU refuses
    profiles = (("neoverse-n1", "kvm"), ("neoverse-n1-oldkernel", "kvm"), ("neoverse-v1", "kvm"),
                ("neoverse-v2", "kvm"))
    inventory = {}
    for n in range(hosts):
        profile, accel = profiles[n % len(profiles)]
        home = os.path.join(work, "hosts", "h%02d" % n)
        emulator = os.path.join(home, "bin", "qemu-system-aarch64")
        os.makedirs(os.path.dirname(emulator))
        write_wrapper(emulator, profile)
        inventory["h%02d" % n] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                  "armvirt_cpu_emulator": emulator, "armvirt_cpu_accel": accel,
                                  "armvirt_cpu_cache_dir": os.path.join(home, "cache"),
                                  "armvirt_cpu_output_dir": os.path.join(home, "guests"),
                                  "armvirt_cpu_artifacts_dir": os.path.join(work, "artifacts"),
                                  "armvirt_cpu_guests": [{"name": "g%02d-%d" % (n, g), "memory": 2048, "vcpus": 2}
                                                         for g in range(GUESTS_PER_HOST)]}
    return _write_yaml(os.path.join(work, "inventory.yml"),
                       {"all": {"children": {"hypervisors": {"hosts": inventory}}}})


def playbooks(cfg):
    """gather (and gather + rollout in one run, when rollout.yml exists) on simulated hosts, forks 10, against
    gather_facts: true alone on the same hosts."""
    hosts = getattr(cfg, "fleet_hosts", None) or sized(cfg, 2, 10, 50)
    # rollout alone is a difference of two playbook runs: medians of 3 rounds keep one slow run from deciding it
    rounds = sized(cfg, 1, 3, 3)
    work = tempfile.mkdtemp(prefix="armvirt-bench-fleet-")
    try:
        inventory = _fleet(work, hosts)
        facts_only = _write_yaml(os.path.join(work, "facts.yml"), _play([], gather=True, hosts="hypervisors"))
        gather = str(ROOT / "playbooks" / "gather.yml")
        both = _write_yaml(os.path.join(work, "both.yml"), [{"import_playbook": "armvirt.cpu.gather"},
                                                            {"import_playbook": "armvirt.cpu.rollout"}])
        rollout = ROLLOUT.exists()
        times = {"facts": [], "cold": [], "warm": [], "both": []}
        for _unused in range(rounds):
            for state_dir in _state_dirs(work):   # every round from empty caches and no guests written
                shutil.rmtree(state_dir, ignore_errors=True)
            times["facts"].append(playbook(["-i", inventory, facts_only], forks=10, cwd=work))
            times["cold"].append(playbook(["-i", inventory, gather], forks=10, cwd=work))
            times["warm"].append(playbook(["-i", inventory, gather], forks=10, cwd=work))
            if rollout:
                times["both"].append(playbook(["-i", inventory, both], forks=10, cwd=work))
        if rollout:
            written = sum(len(glob.glob(os.path.join(work, "hosts", name, "guests", "*.xml")))
                          for name in os.listdir(os.path.join(work, "hosts")))
            if written != hosts * GUESTS_PER_HOST:
                raise RuntimeError("rollout wrote %d of %d guests" % (written, hosts * GUESTS_PER_HOST))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    facts = median(times["facts"])
    results = []
    labels = [("cold", "gather.yml, caches empty"), ("warm", "gather.yml, caches valid")]
    if rollout:
        labels.append(("both", "gather.yml + rollout.yml (%d guests/host), caches valid" % GUESTS_PER_HOST))
    for key, label in labels:
        ours = median(times[key])
        notes = ["%.0f ms per host (gather_facts alone: %.0f ms per host); %d round(s), medians; spread %s, "
                 "gather_facts %s" % (ours / hosts * 1e3, facts / hosts * 1e3, rounds, spread(times[key]),
                                      spread(times["facts"]))]
        if key == "both":
            notes.append("rollout alone (gather + rollout - gather, caches valid): %.0f ms per host"
                         % ((ours - median(times["warm"])) / hosts * 1e3))
        results.append(Result("playbooks", "%s, %d hosts, forks 10" % (label, hosts), ours, facts, target="report",
                              baseline_name="gather_facts: true alone", notes=notes))
    if rollout:
        alone = median(times["both"]) - median(times["warm"])
        results.append(Result("playbooks", "rollout.yml alone (gather + rollout - gather), %d guests/host, caches "
                              "valid, %d hosts, forks 10" % (GUESTS_PER_HOST, hosts), alone, facts,
                              target="<= 1.5x", met=alone <= 1.5 * facts, baseline_name="gather_facts: true alone",
                              notes=["%.0f ms per host; confirmation on (each host's QEMU confirms its request, from "
                                     "its results file once confirmed)" % (alone / hosts * 1e3)]))
    if not rollout:
        results.append(Result("playbooks", "rollout.yml, %d hosts, forks 10" % hosts, None, facts,
                              target="pending", notes=["playbooks/rollout.yml does not exist yet: pending"]))
    return results


def _state_dirs(work):
    """Each simulated host's property cache (with its confirmations) and guest directory."""
    base = os.path.join(work, "hosts")
    return [os.path.join(base, name, kind) for name in os.listdir(base) for kind in ("cache", "guests")]
