"""Writes the emulators of simulated hosts: ``python hosts.py TOOLS OUTPUT_DIR`` with a JSON list on stdin whose
items are {name, profile, faults?} (a string is both the name and the profile). Each host gets
OUTPUT_DIR/hosts/NAME/qemu-system-aarch64, the stand-in of tools/armsim for its profile with its fault switches
baked in (armsim.write_wrapper), and an empty directory beside it. Prints {name: emulator path} as JSON."""

import json
import os
import sys


def main():
    tools, output_dir = sys.argv[1:3]
    sys.path.insert(0, tools)
    from armsim import write_wrapper  # pylint: disable=import-outside-toplevel  # tools/ is only known now
    made = {}
    for host in json.load(sys.stdin):
        if isinstance(host, str):
            host = {"name": host, "profile": host}
        directory = os.path.join(output_dir, "hosts", host["name"])
        os.makedirs(directory, exist_ok=True)
        made[host["name"]] = write_wrapper(os.path.join(directory, "qemu-system-aarch64"), host["profile"],
                                           host.get("faults"))
    json.dump(made, sys.stdout)


if __name__ == "__main__":
    main()
