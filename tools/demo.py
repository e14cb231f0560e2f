"""The demo: a simulated ARM fleet on this machine, driven by the collection's own playbooks.

Each simulated hypervisor is an inventory host with `ansible_connection: local`, its own stand-in emulator
(tools/armsim, speaking QMP for a host profile kept in the host's own directory), its own cache and output directories,
and its recorded host tree (tools/armsim/hosts: MIDR, hwcaps, kernel command line, firmware) as its /sys and /proc
through armvirt_cpu_sysfs_path/armvirt_cpu_procfs_path. The fleet mixes the dialects: QEMUs with the props-info
commands, QEMUs with Red Hat's SYSREG_ properties (two Altra, a Grace, a Grace booted with arm64.nosve, an AmpereOne)
and a released QEMU with booleans only. One more host is unreachable (ssh to a closed local port), as a powered-off
hypervisor would be. legacy-01 runs TCG, so the fleet pool (the KVM hosts, host-passthrough) leaves it out and the
rollout gives it its own class's policy (maximum); each host's line names the pool it got. The demo runs
armvirt.cpu.gather, rollout and report as an operator would, each as its own ansible-playbook run sharing a jsonfile
fact cache (the ansible.cfg it writes is the one docs/fleet-guide.md recommends). Every playbook runs in its own
process group, which is ended afterwards, so nothing the demo started outlives it. A second run finds nothing to
change.

Before it writes a host's guests, the rollout has that host's own (simulated) QEMU confirm each distinct guest CPU
request with armvirt.cpu.cpu_check: the KVM hosts by a paused start of the -cpu, legacy-01 (TCG only) by
query-cpu-model-expansion. Between the gather and the rollout, grace-sr-01 is rebooted with arm64.nobti (its
kernel's ID_AA64PFR1_EL1.BT becomes 0, so its stand-in answers with that value) while the fact cache still holds what
it offered before: a guest pinned to BTI (SYSREG_ID_AA64PFR1_EL1_BT=0x1, checked against grace-sr-01's own facts)
passes validation, and the host's kernel refuses the value at vCPU init (FTR_LOWER_SAFE: nothing above the host's 0).
The demo shows QEMU's own words and that nothing was written for that host.
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

from armsim import load_profile, write_wrapper
from armsim.profiles import host_tree, override_fields

ROOT = pathlib.Path(__file__).resolve().parent.parent

# name, profile, accelerator: a mixed fleet of real part kinds and of the QMP dialects, plus a released QEMU without
# the new commands.
FLEET = (
    ("altra-01", "neoverse-n1", "kvm"),
    ("altra-02", "neoverse-n1", "kvm"),
    ("altra-03", "neoverse-n1-oldkernel", "kvm"),
    ("graviton3-01", "neoverse-v1", "kvm"),
    ("grace-01", "neoverse-v2", "kvm"),
    ("altra-sr-01", "neoverse-n1-sysreg", "kvm"),
    ("altra-sr-02", "neoverse-n1-sysreg", "kvm"),
    ("grace-sr-01", "neoverse-v2-sysreg", "kvm"),
    ("grace-nosve-01", "neoverse-v2-nosve-sysreg", "kvm"),
    ("ampereone-01", "ampereone-sysreg", "kvm"),
    ("legacy-01", "qemu-7.2-released", "tcg"),
)
UNREACHABLE = "offline-01"
# every host gets these guests; graviton3-01 also runs one that wants RAS 1.0, which neither its own kernel (RAS is
# not writable by a VMM) nor the fleet baseline offers, so it fails validation (and nothing is written for it)
GUESTS = [{"name": "web1", "memory": 2048, "vcpus": 2}, {"name": "db1", "memory": 8192, "vcpus": 4}]
EXTRA_GUESTS = {"graviton3-01": [{"name": "ras1", "memory": 4096, "vcpus": 4,
                                  "features": [{"name": "feat_RAS", "value": "1.0"}]}],
                "grace-sr-01": [{"name": "bti", "memory": 4096, "vcpus": 4,
                                 "features": [{"name": "SYSREG_ID_AA64PFR1_EL1_BT", "value": "0x1"}]}]}
# hosts whose guests are checked against their own facts (a SYSREG_ field exists on SYSREG hosts only, so it is in
# no fleet baseline of this mixed fleet)
HOST_SCOPE = ("grace-sr-01",)
# what changes on a host between the gather and the rollout: a kernel command-line override of its ID registers
KERNEL_AFTER_GATHER = {"grace-sr-01": ("arm64.nobti", {"ID_AA64PFR1_EL1.BT": 0})}
ANSIBLE_CFG = """\
# Written by tools/demo.py: the settings docs/fleet-guide.md recommends for a fleet.
[defaults]
forks = 8
host_key_checking = False
retry_files_enabled = False
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


def host_profile(workdir, name, data):
    """Put profile ``data`` in the host's own profile file (its stand-in reads it at every start); the file is
    rewritten only when its content differs, and the emulator wrapper never, so the gather's cache stays valid."""
    path = workdir / "hosts" / name / "profile.json"
    text = json.dumps(data, indent=1) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def build_fleet(workdir):
    """Write the stand-in emulators, the hosts' profiles, the inventory and ansible.cfg; return the inventory path."""
    hosts = {}
    for name, profile, accel in FLEET:
        home = workdir / "hosts" / name
        (home / "bin").mkdir(parents=True, exist_ok=True)
        emulator = home / "bin" / "qemu-system-aarch64"
        own_profile = host_profile(workdir, name, load_profile(profile).data)
        if not emulator.exists():  # rewriting would change its ctime and invalidate the cache: keep reruns idempotent
            write_wrapper(str(emulator), str(own_profile))
        hosts[name] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "armvirt_cpu_emulator": str(emulator),
            "armvirt_cpu_accel": accel,
            "armvirt_cpu_cache_dir": str(home / "cache"),
            "armvirt_cpu_output_dir": str(home / "guests"),
            "armsim_profile": profile,
        }
        tree = host_tree(load_profile(profile).data)
        if tree:
            hosts[name]["armvirt_cpu_sysfs_path"], hosts[name]["armvirt_cpu_procfs_path"] = tree
        if name in EXTRA_GUESTS:
            hosts[name]["armvirt_cpu_guests"] = GUESTS + EXTRA_GUESTS[name]
        if name in HOST_SCOPE:
            hosts[name]["armvirt_cpu_scope"] = "host"
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


def change_kernels(workdir):
    """What happens to a host after the gather: rebooted with a kernel option that changes its ID registers."""
    profiles = {name: profile for name, profile, _accel in FLEET}
    for name, (option, fields) in sorted(KERNEL_AFTER_GATHER.items()):
        data = override_fields(load_profile(profiles[name]).data, fields, "Rebooted with %s: %s." % (
            option, ", ".join("%s=%d" % item for item in sorted(fields.items()))))
        host_profile(workdir, name, data)
        print("\n$ # %s rebooted with %s after the gather (%s); the fact cache still has the gathered facts" % (
            name, option, ", ".join("%s=%d" % item for item in sorted(fields.items()))), flush=True)


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
    classes = json.loads((artifacts / "classes.json").read_text())
    print("\nSimulated fleet in %s (fact cache: %s)" % (workdir, workdir / "facts"))
    for name, profile, accel in FLEET + ((UNREACHABLE, "ssh to a closed local port", "-"),):
        host, done = fleet["hosts"][name], rollout.get(name, {})
        guests = sorted((workdir / "hosts" / name / "guests").glob("*.xml"))
        print("  %-14s %-24s class %-15s pool %-15s rollout %-7s %s" % (
            name, profile, host["class"] or "-", done.get("pool") or done.get("scope") or "-", done.get("status", "-"),
            ", ".join(str(path) for path in guests) if guests
            else " ".join((done.get("reason") or host["reason"] or "").split())))
    print("\nCompatibility classes (each host's CPU from its recorded tree, the dialect its QEMU speaks):")
    for cid, info in sorted(classes["classes"].items()):
        overrides = " ".join(info.get("kernel_cmdline_overrides") or ())
        print("  %-15s %-12s %-25s %3d properties  %s%s" % (
            cid, "/".join(info.get("cpu_names") or ["-"]), info.get("dialect") or "mixed", info["properties_count"],
            ", ".join(info["hosts"]), "  (kernel: %s)" % overrides if overrides else ""))
    print("\nConfirmed by each host's own QEMU before anything was written (armvirt.cpu.cpu_check):")
    for name, done in sorted(rollout.items()):
        for arg, method in sorted((done.get("confirmed") or {}).items()):
            print("  %-14s accepted (%s)  -cpu %s" % (name, method, arg))
        for arg, words in sorted((done.get("refused") or {}).items()):
            written = sorted((workdir / "hosts" / name / "guests").glob("*.xml"))
            print("  %-14s REFUSED            -cpu %s\n  %-14s   QEMU's words: %s\n  %-14s   written for %s: %s" % (
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
        if name == "rollout":
            change_kernels(workdir)
        run_playbook(name, inventory, workdir)
    summarise(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
