"""Test-wide set-up: import the collection under its real name and find the repository's parts."""

import contextlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".build" / "collections"
BACKPORTS = ROOT / ".build" / "backports"   # scripts/setup.sh: the newer QEMU and libvirt0 on an older Debian

if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
for extra in (ROOT / "tests", ROOT / "tools"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))

MARKERS = {
    "real_qemu": "needs Debian's qemu-system-aarch64 (skipped only where it is absent and CI is not set)",
    "molecule": "runs a molecule scenario through the real molecule command (select with -m molecule, skip with "
                "-m 'not molecule')",
    "ecosystem": "the collection as users get it: build and install, ansible-doc, EE build context, changelog, docs "
                 "site (tests/ecosystem)",
}


def report_markdown(path):
    """The fleet report's Markdown page as its reader sees the text: the report escapes every value for Markdown
    (backslashes before punctuation, blanks at a value's edges as references), which a viewer shows without them."""
    text = pathlib.Path(path).read_text(encoding="utf-8")
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).replace("&#32;", " ")


_REPORT_LINES = []


@pytest.fixture(scope="session")
def report_line():
    """Say something at the end of the run (what a test covered on this machine), after pytest's summary."""
    return _REPORT_LINES.append


def pytest_terminal_summary(terminalreporter):
    for line in _REPORT_LINES:
        terminalreporter.write_line(line)


def pytest_sessionfinish(session):
    """In a pytest-xdist worker: hand the report lines to the controller, which prints the summary."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["report_lines"] = list(_REPORT_LINES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """In the controller of a pytest-xdist run: the report lines of a worker that finished."""
    _REPORT_LINES.extend(getattr(node, "workeroutput", {}).get("report_lines", []))


# The pytest stage runs in two pytest-xdist workers (scripts/test). A unit of work is a test file, so its
# module-scoped fixtures and module-level tallies stay in one process, or the files that share a session fixture's
# runs (SHARED_RUNS), so those runs are made once. Units are handed out in collection order, the longest first
# (SLOW_FIRST, measured: each over a minute of the stage), so that neither worker is left with a long one at the end.
# The scheduler is our own (pytest_xdist_make_scheduler): pytest-xdist's --dist loadgroup marks groups on the node ids,
# which pytest 9 no longer lets it change.
SHARED_RUNS = {"demo_runs": ("tests/integration/test_demo.py", "tests/integration/test_fact_injection.py"),
               "rolled_out_fleet": ("tests/integration/test_check_mode.py",
                                    "tests/integration/test_corrupt_artifacts.py")}
UNIT_OF_FILE = {path: fixture for fixture, paths in SHARED_RUNS.items() for path in paths}
SLOW_FIRST = ("demo_runs", "tests/integration/test_hostile_inputs.py", "tests/integration/test_awx_runner.py",
              "tests/integration/test_sliced_workflow.py", "rolled_out_fleet", "tests/integration/test_fleet_playbooks.py",
              "tests/integration/test_domain_cpu.py", "tests/reliability/test_rel_dialect_fuzz.py",
              "tests/integration/test_doc_examples.py", "tests/bench/test_bench_smoke.py",
              "tests/reliability/test_rel_qemu_differential.py")


def work_unit(nodeid):
    path = nodeid.split("::", 1)[0]
    return UNIT_OF_FILE.get(path, path)


def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture, paths in SHARED_RUNS.items():
            if fixture in item.fixturenames and item.nodeid.split("::", 1)[0] not in paths:
                raise pytest.UsageError("%s uses %s: add its file to SHARED_RUNS in tests/conftest.py, so that the "
                                        "fixture's runs are made once" % (item.nodeid, fixture))
    rank = {unit: index for index, unit in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(work_unit(item.nodeid), len(rank)))   # stable: the rest keep their order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        """pytest-xdist's scope scheduling with our units of work as the scopes."""

        def _split_scope(self, nodeid):
            return work_unit(nodeid)

    return ByWorkUnit(config, log)


def pytest_configure(config):
    """Markers live here, not in pytest.ini: `ansible-test units` runs pytest with its own ini file (-c)."""
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", "%s: %s" % (name, description))


@pytest.fixture(scope="session")
def qemu_binary():
    """Debian's qemu-system-aarch64. Skips where it is absent, except in CI, where it must be there."""
    path = shutil.which("qemu-system-aarch64")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("qemu-system-aarch64 is missing in CI: scripts/setup.sh should have installed it")
        pytest.skip("qemu-system-aarch64 is not installed")
    return path


def qemu_version(path):
    """``(major, minor)`` of a qemu-system-aarch64, from ``--version``."""
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    match = re.search(r"version (\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _qemu_matrix():
    """The real QEMUs the differential tests judge the collection against: the system's (Debian 12: 7.2, Debian 13:
    10.0) and, where that is older than 10.0, the one scripts/setup.sh unpacks from the backports suite."""
    backport = BACKPORTS / "qemu-system-arm" / "usr" / "bin" / "qemu-system-aarch64"
    found = [path for path in (shutil.which("qemu-system-aarch64"), str(backport)) if path and os.access(path, os.X_OK)]
    return [pytest.param(path, id="qemu-%d.%d" % qemu_version(path)) for path in found]


QEMU_MATRIX = _qemu_matrix()


@pytest.fixture(scope="module", params=QEMU_MATRIX or [None], ids=None if QEMU_MATRIX else ["no-qemu"])
def matrix_qemu(request):
    """Each real QEMU of the matrix in turn. In CI a QEMU 10.0 or newer must be among them."""
    if os.environ.get("CI"):
        majors = sorted(qemu_version(param.values[0])[0] for param in QEMU_MATRIX)
        if max(majors or [0]) < 10:
            pytest.fail("CI needs a QEMU 10.0 or newer beside the system's (found majors %s): scripts/setup.sh "
                        "unpacks bookworm-backports' qemu-system-arm under .build/backports" % majors)
    if request.param is None:
        pytest.skip("qemu-system-aarch64 is not installed")
    return request.param


@pytest.fixture
def emulator(tmp_path, qemu_binary):
    """A wrapper of the real emulator that a test may touch (replace, change its ctime): the caches key on the
    binary's ctime, and libvirt's own cache on the system binary's."""
    wrapper = tmp_path / "bin" / "qemu-system-aarch64"
    wrapper.parent.mkdir()
    wrapper.write_text('#!/bin/sh\nexec %s "$@"\n' % qemu_binary)
    wrapper.chmod(0o755)
    return str(wrapper)


class ModuleRun(object):
    """One ad-hoc run of a module through the real `ansible` command, on localhost."""

    def __init__(self, returncode, result, output):
        self.returncode = returncode
        self.result = result
        self.output = output

    @property
    def failed(self):
        return self.returncode != 0 or bool(self.result.get("failed"))


def run_module(module, args, check=False, diff=False, env=None, timeout=120):
    """Run ``armvirt.cpu.<module>`` with ``args`` (a dict) through `ansible` and parse its result."""
    command = ["ansible", "localhost", "-i", "localhost,", "-c", "local",
               "-e", "ansible_python_interpreter=%s" % sys.executable,
               "-m", "armvirt.cpu.%s" % module, "-a", json.dumps(args)]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    full_env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="minimal", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
                    ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_DEPRECATION_WARNINGS="0")
    full_env.update(env or {})
    proc = subprocess.run(command, capture_output=True, text=True, env=full_env, timeout=timeout, check=False)
    output = proc.stdout
    start = output.find("=> {")
    if start < 0:
        raise AssertionError("no module result in the output of %s:\n%s\n%s" % (command, output, proc.stderr))
    result = json.JSONDecoder().raw_decode(output[start + 3:])[0]
    return ModuleRun(proc.returncode, result, output + proc.stderr)


def run_modules(calls, workdir, env=None, timeout=300):
    """Several module runs in one ansible-playbook run on localhost, one task each (Ansible starts once for all of
    them, which is most of a run's time): ``calls`` is [(module, args)]; returns a ModuleRun per call, in order, whose
    output is the whole run's (the minimal callback's: every task's result), and which fails as its task did (each
    task has ignore_errors, so the others run)."""
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results = workdir / "results.json"
    tasks = [{"name": "call %d" % index, "armvirt.cpu.%s" % module: args, "register": "call_%d" % index,
              "ignore_errors": True} for index, (module, args) in enumerate(calls)]
    tasks.append({"name": "results", "ansible.builtin.copy": {
        "content": "{{ [%s] | to_json }}" % ", ".join("call_%d" % index for index in range(len(calls))),
        "dest": str(results), "mode": "0644"}})
    play = workdir / "calls.json"
    play.write_text(json.dumps([{"name": "module calls", "hosts": "localhost", "gather_facts": False,
                                 "tasks": tasks}]))
    command = ["ansible-playbook", "-i", "localhost,", "-c", "local",
               "-e", "ansible_python_interpreter=%s" % sys.executable, str(play)]
    full_env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="minimal", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
                    ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_DEPRECATION_WARNINGS="0",
                    ANSIBLE_LOCALHOST_WARNING="0")
    full_env.update(env or {})
    proc = subprocess.run(command, capture_output=True, text=True, env=full_env, timeout=timeout, check=False,
                          cwd=str(workdir))
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 or not results.is_file():
        raise AssertionError("the module calls did not run: %s\n%s" % (command, output[-6000:]))
    return [ModuleRun(0, result, output) for result in json.loads(results.read_text())]


@pytest.fixture
def ansible_module():
    return run_module


@contextlib.contextmanager
def _libvirtd(users=None):
    """A real libvirtd at qemu:///system (tests/libvirtd.py starts it by hand), stopped on leaving. Skips where it
    cannot be had, except in CI, where the set-up installs it and it must run."""
    import libvirtd
    shared = libvirtd.Shared(libvirtd.Libvirtd(), users)
    try:
        server = shared.start()
    except libvirtd.Unavailable as exc:
        if os.environ.get("CI"):
            pytest.fail("libvirtd is needed in CI: %s" % exc)
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        shared.stop()


@pytest.fixture(scope="session")
def libvirt_daemon(tmp_path_factory):
    """A real libvirtd for the session. The pytest-xdist workers of a run (scripts/test runs pytest with -n 2)
    share one daemon, counted in the run's temporary directory: the worker that started it stops it when no other
    worker uses it any more."""
    users = None
    if os.environ.get("PYTEST_XDIST_WORKER"):
        users = str(tmp_path_factory.getbasetemp().parent / "libvirtd-users")
    with _libvirtd(users) as server:
        yield server


@pytest.fixture
def libvirt_daemon_of_the_test():
    """A real libvirtd for one test, for tests/unit: ansible-test runs each unit test in a forked child that exits
    without tearing down session fixtures, so a session daemon started there would be left running."""
    with _libvirtd() as server:
        yield server


class DemoRuns(object):
    """scripts/demo's work twice in one directory, the first run with INJECT_FACTS_AS_VARS off, the second at its
    default, reading the first run's cached records; with deprecation warnings at their default (the demo's
    ansible.cfg shows them). ``first`` keeps what the first run left (artifacts, inventory, guests' XML). Then a
    rollout with ``armvirt_cpu_scope: class`` into a copy of the artifacts, ``class_run``."""

    def __init__(self, root):
        from test_demo import demo, leftovers   # tests/integration, on the path once its tests are collected
        self.workdir, self.first = root / "demo", root / "after-first-run"
        self.first_output = demo(self.workdir, unset=("ANSIBLE_DEPRECATION_WARNINGS",),
                                 ANSIBLE_INJECT_FACT_VARS="False")
        self.leftovers_first = leftovers(self.workdir)
        shutil.copytree(self.workdir / "artifacts", self.first / "artifacts")
        shutil.copy(self.workdir / "inventory.yml", self.first / "inventory.yml")
        for guests in (self.workdir / "hosts").glob("*/guests"):
            shutil.copytree(guests, self.first / guests.relative_to(self.workdir))
        self.second_output = demo(self.workdir, unset=("ANSIBLE_DEPRECATION_WARNINGS", "ANSIBLE_INJECT_FACT_VARS"))
        self.leftovers_second = leftovers(self.workdir)
        # then the same fleet rolled out per class, into a copy of the artifacts (the second run's stay as they are)
        self.class_run = root / "class-rollout"
        shutil.copytree(self.workdir / "artifacts", self.class_run / "artifacts")
        self.class_rollout = subprocess.run(
            ["ansible-playbook", "armvirt.cpu.rollout", "-i", str(self.workdir / "inventory.yml"),
             "-e", "armvirt_cpu_artifacts_dir=%s" % (self.class_run / "artifacts"), "-e", "armvirt_cpu_scope=class"],
            capture_output=True, text=True, cwd=str(self.workdir), timeout=300, check=False,
            env=dict(os.environ, ANSIBLE_CONFIG=str(self.workdir / "ansible.cfg"), ANSIBLE_NOCOLOR="1"))
        self.leftovers_class = leftovers(self.workdir)


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory):
    """The demo run twice, once per session: tests/integration/test_demo.py and test_fact_injection.py read both
    runs (each run is most of a minute)."""
    return DemoRuns(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="session")
def rolled_out_fleet(tmp_path_factory):
    """The simulated fleet of tests/integration/test_fleet_playbooks.py gathered, rolled out and reported once
    (``outputs``: each run's exit code and output), for the test modules that start from that state and put back
    whatever they change (test_check_mode.py, test_corrupt_artifacts.py)."""
    from test_fleet_playbooks import Fleet   # tests/integration, on the path once its tests are collected
    fleet = Fleet(tmp_path_factory.mktemp("rolled-out"))
    fleet.outputs = {name: fleet.run(name) for name in ("gather", "rollout", "report")}
    return fleet
