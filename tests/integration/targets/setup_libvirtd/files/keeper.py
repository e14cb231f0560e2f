"""Keeps a libvirtd at qemu:///system for an integration target: ``python keeper.py TESTS_DIR STATE_FILE LIFETIME``.

Starts it with tests/libvirtd.py of the collection's source tree (the helper the pytest suite uses: by hand, as
root, in a mount namespace with a private /etc/libvirt; a daemon that already answers is used as it is), writes
{"status": "ready", "pid": ..., "started": ...} or {"status": "failed", "error": ...} to STATE_FILE, then waits for
SIGTERM (or LIFETIME seconds, so that nothing outlives a killed test run for long), stops exactly what it started and
writes {"status": "stopped"}. The target starts it as an async task and stops it by its pid.
"""

import json
import os
import signal
import sys


def write_state(path, **state):
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    os.replace(temporary, path)


def main():
    tests, state_path, lifetime = sys.argv[1], sys.argv[2], float(sys.argv[3])
    sys.path.insert(0, tests)
    import libvirtd  # pylint: disable=import-outside-toplevel,import-error  # tests/ is only known now
    server = libvirtd.Libvirtd()
    try:
        server.start()
    except (libvirtd.Unavailable, RuntimeError, OSError) as exc:
        write_state(state_path, status="failed", error=str(exc))
        return 1
    # blocked only now: the daemons inherit the signal mask, and a libvirtd that blocks SIGTERM has to be killed
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    write_state(state_path, status="ready", pid=os.getpid(), started=server.started, uri=server.uri)
    try:
        signal.sigtimedwait({signal.SIGTERM, signal.SIGINT}, lifetime)
    finally:
        server.stop()
        write_state(state_path, status="stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
