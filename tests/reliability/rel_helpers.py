"""Shared pieces of the reliability suite (imported by name: tests/reliability is on sys.path under pytest's
default import mode; not called conftest.py so that `from conftest import ...` elsewhere keeps meaning tests/).

Every hypothesis test here uses ``SETTINGS(n)``: fixed example count, derandomized (same examples on every run and
machine), no example database, no per-example deadline (2-core CI machines are slow, not wrong). Each test counts
the examples it really ran in ``EXAMPLES`` and asserts the count, so a silently shrunk run cannot pass as a full one.
"""

import functools
import json
import os
import pathlib
import select
import shutil
import socket
import threading

import jsonschema
from hypothesis import HealthCheck, settings

ROOT = pathlib.Path(__file__).resolve().parents[2]
FACTS_DIR = ROOT / "tests" / "fixtures" / "facts"
PROFILE_DIR = ROOT / "tools" / "armsim" / "profiles"

# Example counts per hypothesis test, filled in as they run (docs/reliability.md lists the intended numbers).
EXAMPLES = {}


def SETTINGS(max_examples):
    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                    print_blob=True, suppress_health_check=list(HealthCheck))


def count(name):
    EXAMPLES[name] = EXAMPLES.get(name, 0) + 1


def assert_ran(name, max_examples, floor=0.9):
    """Hypothesis may stop a little early when a strategy's space runs dry; never by much here."""
    got = EXAMPLES.get(name, 0)
    assert got >= floor * max_examples, "%s ran %d examples, expected about %d" % (name, got, max_examples)
    return got


@functools.lru_cache(maxsize=None)
def fact_validator():
    schema = json.loads((ROOT / "docs" / "schemas" / "arm_cpu_props.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


_PROPERTY_OK = {}


def fact_errors(fact):
    """Schema errors of an arm_cpu_props fact, as messages; [] when valid.

    Same verdict as validating the whole fact, but each property is checked against the schema's property
    definition once per distinct content: the fuzzers' long replies repeat thousands of identical properties, and
    re-validating them every example would cost most of the suite's time.
    """
    validator = fact_validator()
    top = dict(fact, properties={})
    errors = [error.message for error in validator.iter_errors(top)]
    properties = fact.get("properties")
    if not isinstance(properties, dict):
        return errors + ["properties is not an object"]
    prop_validator = _property_validator()
    names = validator.evolve(schema={"propertyNames": validator.schema["properties"]["properties"]["propertyNames"]})
    errors += [error.message for error in names.iter_errors(properties)]
    if len(_PROPERTY_OK) > 200000:
        _PROPERTY_OK.clear()
    for name, prop in properties.items():
        key = repr(prop)
        if key not in _PROPERTY_OK:
            _PROPERTY_OK[key] = [error.message for error in prop_validator.iter_errors(prop)]
        errors += ["%s: %s" % (name, message) for message in _PROPERTY_OK[key]]
    return errors


@functools.lru_cache(maxsize=None)
def _property_validator():
    schema = fact_validator().schema
    return jsonschema.Draft202012Validator(dict(schema["$defs"]["property"], **{"$defs": schema["$defs"]}))


def load_fact(name):
    return json.loads((FACTS_DIR / (name + ".json")).read_text())


@functools.lru_cache(maxsize=None)
def profile_facts(tmpdir):
    """``{profile: fact}`` of every armsim profile, probed through its stand-in emulator the way the module does."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import collect
    from armsim import available_profiles, load_profile, write_wrapper
    facts = {}
    for name in sorted(available_profiles()):
        accel = "kvm" if load_profile(name).data.get("kvm") else "tcg"
        emulator = write_wrapper("%s/qemu-%s" % (tmpdir, name), name)
        facts[name] = collect.probe_host(emulator, accel, 20.0).to_fact(accel, emulator, "probe")
    return facts


def fixture_facts():
    return {path.stem: json.loads(path.read_text()) for path in sorted(FACTS_DIR.glob("*.json"))}


def private_profile(tmp_path, name="neoverse-n1"):
    """A copy of a bundled profile at a path unique to this test: the stand-in's command line carries it
    (--armsim-profile ABSPATH), so scanning /proc for it finds exactly this test's emulators."""
    target = pathlib.Path(tmp_path) / ("armsim-profile-%s.json" % name)
    shutil.copyfile(str(PROFILE_DIR / (name + ".json")), str(target))
    return str(target)


def processes_with(marker):
    """(pid, cmdline) of every live process whose command line contains ``marker`` (not this process)."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open("/proc/%s/stat" % entry, "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline or (state == b"Z" and _parent(entry) == me):
            found.append((int(entry), cmdline))
    return found


def _parent(pid):
    try:
        with open("/proc/%s/stat" % pid, "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def open_fds():
    return set(os.listdir("/proc/self/fd"))


class RecordingProxy(object):
    """A unix-socket proxy in front of a QMP monitor that records every byte the client sent.

    Used to prove what a module said to a monitor it did not start (for example: never ``quit``).
    """

    def __init__(self, path, upstream):
        self.path, self.upstream = path, upstream
        self.sent = bytearray()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(4)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            try:
                client, _unused = self._listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.connect(self.upstream)
            self._relay(client, server)

    def _relay(self, client, server):
        peers = {client: server, server: client}
        try:
            while True:
                ready, _unused, _unused = select.select(list(peers), [], [], 30)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        self.sent += data
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def commands(self):
        names = []
        for line in bytes(self.sent).splitlines():
            try:
                names.append(json.loads(line).get("execute"))
            except ValueError:
                names.append(line)
        return names

    def close(self):
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the relay thread on Linux
        except OSError:
            pass
        self._listener.close()
        self._thread.join(5)
