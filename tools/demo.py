"""The demo: a simulated ARM fleet on this machine, driven by the collection's own playbooks.

Each simulated hypervisor is an inventory host with `ansible_connection: local`, its own stand-in emulator
(tools/armsim, speaking QMP for a host profile), its own cache and output directories. One more host is unreachable
(ssh to a closed local port), as a powered-off hypervisor would be. Everything the demo starts, the modules reap.
"""

import argparse
import os
import pathlib
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


def closed_port():
    """A local TCP port nobody listens on: bind, read the number, close."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build_fleet(workdir):
    """Write the stand-in emulators and the inventory; return the inventory path."""
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
    hosts[UNREACHABLE] = {
        "ansible_connection": "ssh",
        "ansible_host": "127.0.0.1",
        "ansible_port": closed_port(),
        "ansible_ssh_common_args": "-o ConnectTimeout=2 -o BatchMode=yes",
        "ansible_timeout": 2,
    }
    inventory = {"all": {"children": {"hypervisors": {"hosts": hosts}}}}
    path = workdir / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=True))
    return path


def run_playbook(name, inventory, workdir):
    """Run ``armvirt.cpu.<name>``; unreachable and failed hosts are part of the story, so only a crash stops us."""
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_DEPRECATION_WARNINGS="False",
               ANSIBLE_FORKS="6", ANSIBLE_CALLBACK_RESULT_FORMAT="yaml")
    command = ["ansible-playbook", "armvirt.cpu.%s" % name, "-i", str(inventory),
               "-e", "armvirt_cpu_workdir=%s" % workdir]
    print("\n$ " + " ".join(command), flush=True)
    proc = subprocess.run(command, env=env, check=False)
    if proc.returncode not in (0, 2, 4):  # 2: a host failed, 4: a host unreachable; both expected here
        raise SystemExit("ansible-playbook %s exited %d" % (name, proc.returncode))
    return proc.returncode


def summarise(workdir):
    """Where the results are, read back from each host's cache directory."""
    print("\nSimulated fleet in %s" % workdir)
    for name, profile, accel in FLEET:
        caches = sorted((workdir / "hosts" / name / "cache").glob("*.xml"))
        print("  %-13s %-22s accel=%-3s cache: %s" % (name, profile, accel, caches[0] if caches else "none"))
    print("  %-13s unreachable (ssh to a closed local port)" % UNREACHABLE)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=str(ROOT / ".build" / "demo"), help="where the fleet lives")
    args = parser.parse_args(argv)
    workdir = pathlib.Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    inventory = build_fleet(workdir)
    run_playbook("gather", inventory, workdir)
    summarise(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
