"""The demo: a simulated ARM fleet on this machine, driven by the collection's own playbooks.

Each simulated hypervisor is an inventory host with `ansible_connection: local`, its own stand-in emulator
(tools/armsim, speaking QMP for a host profile), its own cache and output directories. One more host is unreachable
(ssh to a closed local port), as a powered-off hypervisor would be. The demo runs armvirt.cpu.gather, rollout and
report as an operator would, each as its own ansible-playbook run sharing a jsonfile fact cache (the ansible.cfg it
writes is the one docs/fleet-guide.md recommends). Every playbook runs in its own process group, which is ended
afterwards, so nothing the demo started outlives it. A second run finds nothing to change.

Before it writes a host's guests, the rollout has that host's own (simulated) QEMU confirm each distinct guest CPU
request with armvirt.cpu.cpu_check: the KVM hosts by a paused start of the -cpu, legacy-01 (TCG only) by
query-cpu-model-expansion. legacy-01's QEMU refuses the fleet policy's host-passthrough (model host needs KVM), which
validation against the facts cannot see; the demo shows QEMU's own words and that no guest file was written there.
"""

import argparse
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys

import yaml

from armsim import write_wrapper

ROOT = pathlib.Path(__file__).resolve().parent.parent

# name, profile, accelerator: a mixed fleet of real part kinds, plus a released QEMU without the new command.
FLEET = (
    ("altra-01", "neoverse-n1", "kvm"),
    ("altra-02", "neoverse-n1", "kvm"),
    ("altra-03", "neoverse-n1-oldkernel", "kvm"),
    ("graviton3-01", "neoverse-v1", "kvm"),
    ("grace-01", "neoverse-v2", "kvm"),
    ("legacy-01", "qemu-7.2-released", "tcg"),
)
UNREACHABLE = "offline-01"
# every host gets these guests; graviton3-01 also runs one that wants RAS 1.0, which legacy-01 cannot give, so it
# fails validation against the fleet baseline (and nothing is written for graviton3-01)
GUESTS = [{"name": "web1", "memory": 2048, "vcpus": 2}, {"name": "db1", "memory": 8192, "vcpus": 4}]
EXTRA_GUESTS = {"graviton3-01": [{"name": "ras1", "memory": 4096, "vcpus": 4,
                                  "features": [{"name": "feat_RAS", "value": "1.0"}]}]}
ANSIBLE_CFG = """\
# Written by tools/demo.py: the settings docs/fleet-guide.md recommends for a fleet.
[defaults]
forks = 8
host_key_checking = False
retry_files_enabled = False
deprecation_warnings = False
localhost_warning = False
callback_result_format = yaml
# keep each host's arm_cpu_props and armvirt_cpu_gather between runs, so --limit runs still see the whole fleet
fact_caching = ansible.builtin.jsonfile
fact_caching_connection = {facts}
fact_caching_timeout = 172800
"""


def closed_port(inventory):
    """A local TCP port nobody listens on; the one of the previous run when there is one, so reruns agree."""
    try:
        port = yaml.safe_load(inventory.read_text())["all"]["children"]["hypervisors"]["hosts"][UNREACHABLE][
            "ansible_port"]
    except (OSError, KeyError, TypeError):
        port = None
    if port:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build_fleet(workdir):
    """Write the stand-in emulators, the inventory and ansible.cfg; return the inventory path."""
    hosts = {}
    for name, profile, accel in FLEET:
        home = workdir / "hosts" / name
        (home / "bin").mkdir(parents=True, exist_ok=True)
        emulator = home / "bin" / "qemu-system-aarch64"
        if not emulator.exists():  # rewriting would change its ctime and invalidate the cache: keep reruns idempotent
            write_wrapper(str(emulator), profile)
        hosts[name] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "armvirt_cpu_emulator": str(emulator),
            "armvirt_cpu_accel": accel,
            "armvirt_cpu_cache_dir": str(home / "cache"),
            "armvirt_cpu_output_dir": str(home / "guests"),
            "armsim_profile": profile,
        }
        if name in EXTRA_GUESTS:
            hosts[name]["armvirt_cpu_guests"] = GUESTS + EXTRA_GUESTS[name]
    path = workdir / "inventory.yml"
    hosts[UNREACHABLE] = {
        "ansible_connection": "ssh",
        "ansible_host": "127.0.0.1",
        "ansible_port": closed_port(path),
        "ansible_ssh_args": "-o ControlMaster=no -o ConnectTimeout=2 -o BatchMode=yes",
        "ansible_timeout": 2,
    }
    inventory = {"all": {"children": {"hypervisors": {"hosts": hosts, "vars": {"armvirt_cpu_guests": GUESTS}}}}}
    path.write_text(yaml.safe_dump(inventory, sort_keys=True))
    (workdir / "ansible.cfg").write_text(ANSIBLE_CFG.format(facts=workdir / "facts"))
    return path


def run_playbook(name, inventory, workdir):
    """Run ``armvirt.cpu.<name>`` in its own process group and end that group afterwards.

    Unreachable and failed hosts are part of the story, so only a crash stops the demo.
    """
    env = dict(os.environ, ANSIBLE_CONFIG=str(workdir / "ansible.cfg"))
    command = ["ansible-playbook", "armvirt.cpu.%s" % name, "-i", str(inventory),
               "-e", "armvirt_cpu_artifacts_dir=%s" % (workdir / "artifacts")]
    print("\n$ " + " ".join(command), flush=True)
    proc = subprocess.Popen(command, env=env, cwd=str(workdir), start_new_session=True)
    try:
        code = proc.wait()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)   # anything left in the group (nothing, when the modules reap)
        except ProcessLookupError:
            pass
        proc.wait()
    if code not in (0, 2, 4):  # 2: a host failed, 4: a host unreachable; both expected here
        raise SystemExit("ansible-playbook %s exited %d" % (name, code))
    return code


def summarise(workdir):
    """Where the results are, read back from the artifacts and each host's directories."""
    artifacts = workdir / "artifacts"
    fleet = json.loads((artifacts / "fleet.json").read_text())
    rollout = {path.stem: json.loads(path.read_text()) for path in (artifacts / "rollout" / "hosts").glob("*.json")}
    print("\nSimulated fleet in %s (fact cache: %s)" % (workdir, workdir / "facts"))
    for name, profile, accel in FLEET + ((UNREACHABLE, "ssh to a closed local port", "-"),):
        host, done = fleet["hosts"][name], rollout.get(name, {})
        guests = sorted((workdir / "hosts" / name / "guests").glob("*.xml"))
        print("  %-13s %-26s class %-15s rollout %-7s %s" % (
            name, profile, host["class"] or "-", done.get("status", "-"),
            ", ".join(str(path) for path in guests) if guests
            else " ".join((done.get("reason") or host["reason"] or "").split())))
    print("\nConfirmed by each host's own QEMU before anything was written (armvirt.cpu.cpu_check):")
    for name, done in sorted(rollout.items()):
        for arg, method in sorted((done.get("confirmed") or {}).items()):
            print("  %-13s accepted (%s)  -cpu %s" % (name, method, arg))
        for arg, words in sorted((done.get("refused") or {}).items()):
            written = sorted((workdir / "hosts" / name / "guests").glob("*.xml"))
            print("  %-13s REFUSED            -cpu %s\n  %-13s   QEMU's words: %s\n  %-13s   written for %s: %s" % (
                name, arg, "", " / ".join(words.splitlines()), "", name,
                ", ".join(str(path) for path in written) if written else "nothing (no guest XML)"))
    deliveries = sorted({entry["delivery"] for entry in rollout.values() if entry.get("delivery")})
    if deliveries == ["qemu-commandline"]:
        print("\nDelivery: qemu-commandline. libvirt_facts found that this machine's libvirt schema has no `value`"
              " attribute on <feature> (unpatched libvirt), so feature values go on a -cpu override instead.")
    else:
        print("\nDelivery: %s" % ", ".join(deliveries or ["none (no host was rolled out)"]))
    print("Recommended policies: %s" % (artifacts / "policies"))
    print("Report: %s\n        %s" % (artifacts / "report" / "index.html", artifacts / "report" / "report.md"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=str(ROOT / ".build" / "demo"), help="where the fleet lives")
    args = parser.parse_args(argv)
    workdir = pathlib.Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    inventory = build_fleet(workdir)
    for name in ("gather", "rollout", "report"):
        run_playbook(name, inventory, workdir)
    summarise(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
