# -*- coding: utf-8 -*-
"""A stand-in emulator for probe tests: takes QEMU's probe argv and misbehaves on purpose.

Mode (env ARMVIRT_FAKE_QEMU_MODE):
  ignore-quit   serve QMP, answer every command with {"return": {}} (quit included) and never exit
  bad-greeting  accept one client, send a line that is not JSON, write to stderr, never exit
Env ARMVIRT_FAKE_QEMU_RECORD names a file that gets the pid, then one argument a line.
"""

import json
import os
import socket
import sys
import time


def main(argv):
    record = os.environ.get("ARMVIRT_FAKE_QEMU_RECORD")
    if record:
        with open(record, "w") as f:
            f.write("".join("%s\n" % line for line in [os.getpid()] + argv))
    mode = os.environ["ARMVIRT_FAKE_QEMU_MODE"]
    path = argv[argv.index("-qmp") + 1][len("unix:"):].split(",")[0]
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    sys.stderr.write("fake-qemu: running in mode %s\n" % mode)
    sys.stderr.flush()
    conn, _address = server.accept()
    if mode == "bad-greeting":
        conn.sendall(b"this is not QMP\r\n")
    else:
        conn.sendall(b'{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}}\r\n')
        for line in conn.makefile("rb"):
            command = json.loads(line)
            conn.sendall(json.dumps({"return": {}, "id": command.get("id")}).encode() + b"\r\n")
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1:])
