"""What libvirt and QEMU say about a domain, for the assertions of the domain targets (read only):

    python virsh_query.py dump NAME          the inactive XML (virsh dumpxml --inactive)
    python virsh_query.py cpus NAME          JSON list: every -cpu of libvirt's own translation of the inactive XML
                                             to QEMU's command line (virsh domxml-to-native qemu-argv), in order;
                                             QEMU takes the last one whole
    python virsh_query.py cpus-of FILE       the same for a domain XML file
    python virsh_query.py qom NAME PROP...   JSON {PROP: value}: qom-get on the running QEMU's vCPU, QEMU's own view

virsh runs with qemu:///system and the C locale; a failing virsh exits 1 with its message.
"""

import json
import os
import shlex
import subprocess
import sys
import tempfile

URI = "qemu:///system"


def virsh(*args):
    proc = subprocess.run(["virsh", "-q", "-c", URI] + list(args), capture_output=True, text=True, timeout=60,
                          check=False, env=dict(os.environ, LC_ALL="C", LANG="C"), stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        sys.exit("virsh %s failed: %s" % (" ".join(args), proc.stderr.strip()))
    return proc.stdout


def cpus_of(path):
    argv = shlex.split(virsh("domxml-to-native", "qemu-argv", "--xml", path))
    return [argv[index + 1] for index in range(len(argv) - 1) if argv[index] == "-cpu"]


def cpus(name):
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as handle:
        handle.write(virsh("dumpxml", "--inactive", name))
        handle.flush()
        return cpus_of(handle.name)


def qom(name, props):
    def qmp(command, arguments=None):
        message = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        return json.loads(virsh("qemu-monitor-command", name, json.dumps(message)))["return"]
    path = qmp("query-cpus-fast")[0]["qom-path"]
    return {prop: qmp("qom-get", {"path": path, "property": prop}) for prop in props}


def main():
    command, name, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    if command == "dump":
        sys.stdout.write(virsh("dumpxml", "--inactive", name))
    elif command == "cpus":
        print(json.dumps(cpus(name)))
    elif command == "cpus-of":
        print(json.dumps(cpus_of(name)))
    elif command == "qom":
        print(json.dumps(qom(name, rest)))
    else:
        sys.exit("unknown command %s" % command)


if __name__ == "__main__":
    main()
