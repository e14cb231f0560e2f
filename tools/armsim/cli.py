"""Command lines: the stand-in emulator (libvirt's probe argv), ``serve``, ``list``, ``wrapper``; and write_wrapper.

The stand-in takes the arguments libvirt and probe.py pass to qemu-system-aarch64 so that code under test can run
it unchanged; QEMU options it does not need are accepted and ignored. Its own options start with "--armsim-" or
"--fault-", which QEMU never uses.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time

from armsim import profiles
from armsim.server import Faults, QMPServer, log

STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qemu-system-aarch64")


def main(argv):
    subcommands = {"serve": cmd_serve, "list": cmd_list, "wrapper": cmd_wrapper}
    if argv and argv[0] in subcommands:
        return subcommands[argv[0]](argv[1:])
    return standin(argv)


# --------------------------------------------------------------------------- faults from the command line


def add_fault_options(parser):
    parser.add_argument("--armsim-faults", help="fault switches as JSON (merged over $ARMSIM_FAULTS)")
    for name, default in Faults.NUMBERS.items():
        parser.add_argument("--fault-" + name.replace("_", "-"), dest="f_" + name, type=type(default))
    for name in Faults.COMMAND_LISTS:
        parser.add_argument("--fault-" + name.replace("_", "-"), dest="f_" + name, action="append",
                            metavar="COMMAND", help="'*' for every command but qmp_capabilities")
    parser.add_argument("--fault-crash-at-start", dest="f_crash_at_start", nargs="?", const=True, metavar="MESSAGE")
    parser.add_argument("--fault-hang-at-start", dest="f_hang_at_start", action="store_true", default=None)


def collect_faults(args, profile):
    """Fault switches by precedence: the profile's "faults", then $ARMSIM_FAULTS, --armsim-faults, --fault-* flags."""
    spec = dict(profile.data.get("faults", {}))
    for text in (os.environ.get("ARMSIM_FAULTS"), args.armsim_faults):
        if text:
            spec.update(json.loads(text))
    spec.update({key[2:]: value for key, value in vars(args).items() if key.startswith("f_") and value is not None})
    return Faults(spec)


# --------------------------------------------------------------------------- the stand-in emulator


def standin_parser():
    parser = argparse.ArgumentParser(prog="qemu-system-aarch64", allow_abbrev=False, add_help=False)
    parser.add_argument("--armsim-profile", default=os.environ.get("ARMSIM_PROFILE"))
    add_fault_options(parser)
    for flag in ("-S", "-no-user-config", "-nodefaults", "-nographic", "-daemonize", "-enable-kvm"):
        parser.add_argument(flag, action="store_true")
    for option in ("-machine", "-accel", "-qmp", "-pidfile", "-cpu"):
        parser.add_argument(option)
    return parser


def standin(argv):
    """Run as qemu-system-aarch64 would for a capabilities probe (or a paused start with -cpu, which the profile may
    refuse as QEMU would, exit 1 with QEMU's words on stderr): serve QMP until quit or a signal."""
    args, _ignored = standin_parser().parse_known_args(argv)
    if not args.armsim_profile:
        log("armsim: no profile (give --armsim-profile FILE|NAME or set ARMSIM_PROFILE)")
        return 1
    try:
        profile = profiles.load(args.armsim_profile)
        faults = collect_faults(args, profile)
    except ValueError as exc:
        log(str(exc))
        return 1
    if faults.crash_at_start:
        text = faults.crash_at_start
        sys.stderr.write((text if isinstance(text, str) else "qemu-system-aarch64: armsim: simulated crash") + "\n")
        return 1
    if faults.hang_at_start:
        while True:  # never creates the socket; SIGTERM's default action ends it
            time.sleep(3600)
    accel = pick_accel(args)
    if accel == "kvm" and not profile.kvm:
        sys.stderr.write(profile.no_kvm_stderr + "\n")
        return 1
    if args.cpu is not None:  # a guest CPU: QEMU creates it (and KVM its vCPU) before the monitor answers
        refusal = profile.start_refusal(args.cpu, accel)
        if refusal:
            sys.stderr.write(refusal + "\n")
            return 1
    address = qmp_address(args.qmp)
    if address is None:
        log("armsim: -qmp unix:PATH,server=on,wait=off (or tcp:HOST:PORT,...) is required")
        return 1
    ready = daemonize() if args.daemonize else None
    server = QMPServer(profile, accel, faults, **address)
    if args.pidfile:
        with open(args.pidfile, "w") as handle:
            handle.write("%d\n" % os.getpid())
    if ready is not None:  # like QEMU, let go of the caller's stderr once up
        os.dup2(os.open(os.devnull, os.O_RDWR), 2)
        os.write(ready, b"1")
        os.close(ready)
    return serve_until_done(server, args.pidfile)


def pick_accel(args):
    """The first accelerator of -machine accel=A:B or -accel; kvm only counts when the profile's host has it."""
    accel = args.accel or "tcg"
    for option in (args.machine or "").split(","):
        if option.startswith("accel="):
            accel = option[len("accel="):]
    if args.enable_kvm:
        accel = "kvm"
    return accel.split(":")[0]


def qmp_address(spec):
    if not spec:
        return None
    target = spec.split(",")[0]
    if target.startswith("unix:"):
        return {"unix_path": target[len("unix:"):]}
    if target.startswith("tcp:"):
        host, _colon, port = target[len("tcp:"):].rpartition(":")
        return {"tcp": (host or "127.0.0.1", int(port))}
    return None


def daemonize():
    """Fork like QEMU's -daemonize: the parent exits 0 once the child's monitor exists. Returns the child's pipe."""
    read_end, write_end = os.pipe()
    if os.fork():
        os.close(write_end)
        os._exit(0 if os.read(read_end, 1) == b"1" else 1)
    os.close(read_end)
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    return write_end


def serve_until_done(server, pidfile=None):
    """Serve; SIGTERM/SIGINT/SIGHUP end it cleanly (SHUTDOWN event to a negotiated client, socket removed)."""
    def terminate(signum, _frame):
        log("terminating on signal %d" % signum)
        server._stop.set()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, terminate)
    try:
        server.serve_forever()
    finally:
        if pidfile and os.path.exists(pidfile):
            os.unlink(pidfile)
    return 0


# --------------------------------------------------------------------------- subcommands


def cmd_serve(argv):
    """A long-running monitor (the qmp_socket use case): python -m armsim serve --profile X --socket PATH."""
    parser = argparse.ArgumentParser(prog="python -m armsim serve")
    parser.add_argument("--profile", default=os.environ.get("ARMSIM_PROFILE"), required="ARMSIM_PROFILE" not in os.environ)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket", help="unix socket path")
    where.add_argument("--tcp", metavar="HOST:PORT", help="TCP address (port 0 picks one; printed on stdout)")
    parser.add_argument("--accel", choices=("kvm", "tcg"), help="default: kvm when the profile's host has it")
    add_fault_options(parser)
    args = parser.parse_args(argv)
    profile = profiles.load(args.profile)
    accel = args.accel or ("kvm" if profile.kvm else "tcg")
    if args.socket:
        server = QMPServer(profile, accel, collect_faults(args, profile), unix_path=args.socket)
    else:
        host, _colon, port = args.tcp.rpartition(":")
        server = QMPServer(profile, accel, collect_faults(args, profile), tcp=(host or "127.0.0.1", int(port)))
    print(server.address if args.socket else "%s:%d" % tuple(server.address), flush=True)
    return serve_until_done(server)


def cmd_list(_argv):
    for name in profiles.available() + list(profiles.DERIVED):
        profile = profiles.load(name)
        print("%-24s %-26s %s" % (name, profile.dialect, profile.data["description"]))
    return 0


def cmd_wrapper(argv):
    parser = argparse.ArgumentParser(prog="python -m armsim wrapper")
    parser.add_argument("--profile", required=True)
    parser.add_argument("--faults", help="fault switches as JSON")
    parser.add_argument("path")
    args = parser.parse_args(argv)
    print(write_wrapper(args.path, args.profile, json.loads(args.faults) if args.faults else None))
    return 0


def write_wrapper(path, profile, faults=None, python=sys.executable):
    """Write an executable sh script at ``path`` that runs the stand-in for ``profile`` (name, path or Profile).

    The fleet demo gives every simulated host its own emulator path; the script is that path. Fault switches
    given here are baked in; $ARMSIM_FAULTS still applies beneath them.
    """
    ref = profiles.resolve(profile.path if isinstance(profile, profiles.Profile) else profile)
    command = ["env", "ARMSIM_PYTHON=" + shlex.quote(python), shlex.quote(STANDIN), "--armsim-profile", shlex.quote(ref)]
    if faults:
        Faults(faults)  # reject unknown switches now, not at spawn time
        command += ["--armsim-faults", shlex.quote(json.dumps(faults))]
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\n# armsim stand-in emulator for %s (written by armsim.write_wrapper)\nexec %s \"$@\"\n"
                     % (profiles.profile_name(ref), " ".join(command)))
    os.chmod(path, 0o755)
    return path
