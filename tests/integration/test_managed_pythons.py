"""The host-side modules on every managed-node Python from 3.8 (the floor on hypervisors) to 3.13, against the real
qemu-system-aarch64 (TCG) and a real libvirtd: props_cache, props_facts, cpu_check, libvirt_facts, domain_cpu and
domain_cpu_info, each run by one playbook in which every interpreter is an inventory host of its own
(ansible_python_interpreter), so all of them run at once.

The interpreters are what the machine has or can install: pyenv's (/root/.pyenv/versions/3.X.*, or $PYENV_ROOT) and
the distribution's own (/usr/bin/python3.X: Debian 12 ships 3.11, Debian 13 3.13). One that is absent is skipped,
except where pyenv is there in CI: the CI machines have pyenv with every version from the 3.8 floor to 3.13, and none
may be missing. On a fresh machine without pyenv the test runs on the distribution's Python. The versions covered
are printed at the end of the run (tests/conftest.py, ``report_line``). An interpreter the ansible-core in use does not
support on managed nodes (2.20 dropped 3.8) is skipped as such."""

import glob
import json
import os
import re
import subprocess
import sys
import uuid

import pytest
import yaml

import libvirtd

PYTHONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")
QEMU = "/usr/bin/qemu-system-aarch64"
SVE = [{"name": "sve"}, {"name": "sve256"}]

pytestmark = pytest.mark.real_qemu


def pyenv_root():
    return os.environ.get("PYENV_ROOT", "/root/.pyenv")


def managed_python(version):
    """The newest pyenv interpreter of ``version`` (X.Y), else the distribution's /usr/bin/pythonX.Y, or None."""
    found = sorted(glob.glob(os.path.join(pyenv_root(), "versions", version + ".*", "bin", "python" + version)),
                   key=lambda path: [int(part) for part in re.findall(r"[0-9]+", path.split("/versions/")[1])[:3]])
    if found:
        return found[-1]
    system = "/usr/bin/python" + version
    return system if os.access(system, os.X_OK) else None


def managed_node_pythons():
    """The X.Y versions the ansible-core in use runs modules with (ansible-test's list of that release)."""
    from ansible_test._util.target.common import constants
    return set(constants.REMOTE_ONLY_PYTHON_VERSIONS) | set(constants.CONTROLLER_PYTHON_VERSIONS)


def host_name(version):
    return "py" + version.replace(".", "")


def playbook(results):
    """Each host runs every module once (and cpu_check twice: an accepted and a refused request) and writes what
    they returned, with the interpreter's own version, to RESULTS/<host>.json on the controller."""
    tasks = [
        {"name": "The interpreter", "ansible.builtin.setup": {"gather_subset": ["!all", "!min", "python"]}},
        {"name": "props_cache", "register": "props_cache",
         "armvirt.cpu.props_cache": {"emulator": QEMU, "accel": "tcg", "cache_dir": "{{ cache_dir }}"}},
        {"name": "props_facts", "register": "props_facts",
         "armvirt.cpu.props_facts": {"emulator": QEMU, "accel": "tcg", "cache_dir": "{{ cache_dir }}"}},
        {"name": "cpu_check accepts", "armvirt.cpu.cpu_check": {
            "emulator": QEMU, "accel": "tcg", "mode": "maximum", "host": "{{ inventory_hostname }}",
            "cache_dir": "{{ cache_dir }}",
            "features": [{"name": "sve", "policy": "disable"}, {"name": "sve128", "value": "off"}]},
         "register": "cpu_check"},
        {"name": "cpu_check refuses", "armvirt.cpu.cpu_check": {
            "emulator": QEMU, "accel": "tcg", "cpu_arg": "max,sve-max-vq=0", "host": "{{ inventory_hostname }}",
            "cache_dir": "{{ cache_dir }}"},
         "register": "cpu_check_refused"},
        {"name": "libvirt_facts", "armvirt.cpu.libvirt_facts": {"timeout": 30}, "register": "libvirt_facts"},
        {"name": "domain_cpu", "armvirt.cpu.domain_cpu": {
            "name": "{{ domain }}", "mode": "maximum", "features": SVE, "host": "{{ inventory_hostname }}",
            "props": "{{ ansible_facts['arm_cpu_props'] }}", "cache_dir": "{{ cache_dir }}"},
         "register": "domain_cpu"},
        {"name": "domain_cpu_info", "armvirt.cpu.domain_cpu_info": {
            "name": "{{ domain }}", "host": "{{ inventory_hostname }}",
            "props": "{{ ansible_facts['arm_cpu_props'] }}",
            "policy": {"mode": "maximum", "features": SVE}},
         "register": "domain_cpu_info"},
        {"name": "Write the results", "ansible.builtin.copy": {
            "dest": "%s/{{ inventory_hostname }}.json" % results, "mode": "0644",
            "content": "{{ {'python': ansible_facts['python']['version'], 'props_cache': props_cache, "
                       "'props_facts': props_facts, 'cpu_check': cpu_check, 'cpu_check_refused': cpu_check_refused, "
                       "'libvirt_facts': libvirt_facts, 'domain_cpu': domain_cpu, "
                       "'domain_cpu_info': domain_cpu_info} | to_json }}"},
         "delegate_to": "localhost", "vars": {"ansible_python_interpreter": sys.executable}},
    ]
    for task in tasks[1:-1]:
        task["ignore_errors"] = True   # every module's result is written, a failure with its message
    return [{"name": "Every host-side module", "hosts": "pythons", "gather_facts": False, "tasks": tasks}]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, libvirt_daemon, qemu_binary, report_line):
    """``{X.Y: results or None (absent) or a skip reason}``: one playbook run over every interpreter found."""
    assert qemu_binary == QEMU or os.path.realpath(qemu_binary) == os.path.realpath(QEMU), qemu_binary
    root = tmp_path_factory.mktemp("pythons")
    supported = managed_node_pythons()
    found = {version: managed_python(version) for version in PYTHONS}
    if os.environ.get("CI") and os.path.isdir(os.path.join(pyenv_root(), "versions")):
        # CI machines have pyenv's 3.8 to 3.13, like this one: none may be skipped there
        missing = [version for version in PYTHONS if version in supported and not found[version]]
        assert not missing, "CI needs pyenv's Python %s for this test" % ", ".join(missing)
    outcome, hosts, domains = {}, {}, {}
    for version, python in found.items():
        if python is None:
            outcome[version] = "no Python %s here (neither pyenv's nor the distribution's)" % version
        elif version not in supported:
            outcome[version] = "the ansible-core in use does not run modules on Python %s" % version
        else:
            name = host_name(version)
            domains[name] = "armvirt-py-%s-%s" % (name, uuid.uuid4().hex[:6])
            hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": python,
                           "cache_dir": str(root / name / "cache"), "domain": domains[name]}
    report_line("managed-node Pythons covered: %s; not here: %s" % (
        ", ".join("%s (%s)" % (version, found[version]) for version in PYTHONS if host_name(version) in hosts) or "none",
        ", ".join(version for version in PYTHONS if host_name(version) not in hosts) or "none"))
    if not hosts:
        pytest.skip("no managed-node Python found")
    (root / "inventory.yml").write_text(yaml.safe_dump({"all": {"children": {"pythons": {"hosts": hosts}}}}))
    (root / "play.yml").write_text(yaml.safe_dump(playbook(root / "results"), sort_keys=False))
    (root / "results").mkdir()
    for name in domains.values():
        (root / (name + ".xml")).write_text(libvirtd.minimal_domain(name, QEMU))
        libvirtd.virsh("define", str(root / (name + ".xml")))
    try:
        proc = subprocess.run(["ansible-playbook", str(root / "play.yml"), "-i", str(root / "inventory.yml"),
                               "-f", str(len(hosts))], capture_output=True, text=True, cwd=str(root), timeout=600,
                              check=False, env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0"))
        for version in found:
            path = root / "results" / ("%s.json" % host_name(version))
            if version not in outcome:
                outcome[version] = json.loads(path.read_text()) if path.exists() else proc.stdout[-6000:]
                if path.exists():
                    outcome[version]["domain"] = domains[host_name(version)]
                    outcome[version]["backend"] = backend_of(found[version])
                    outcome[version]["dumpxml"] = libvirtd.virsh("dumpxml", "--inactive",
                                                                 domains[host_name(version)]).stdout
        outcome["output"] = proc.stdout + proc.stderr
    finally:
        for name in domains.values():
            libvirtd.virsh("undefine", name, check=False)
    return outcome


def backend_of(python):
    """The backend the libvirt modules pick on ``python``: libvirt-python where it imports (the distribution's Python
    with python3-libvirt), else virsh (pyenv's Pythons)."""
    has_binding = subprocess.run([python, "-c", "import libvirt"], capture_output=True, check=False).returncode == 0
    return "libvirt-python" if has_binding else "virsh"


def qemu_version():
    text = subprocess.run([QEMU, "--version"], capture_output=True, text=True, check=True).stdout
    return re.search(r"version ([0-9]+\.[0-9]+\.[0-9]+)", text).group(1)


@pytest.mark.parametrize("version", PYTHONS)
def test_the_host_side_modules_run_on(runs, version):
    got = runs[version]
    if isinstance(got, str) and (got.startswith("no Python") or got.startswith("the ansible-core in use")):
        pytest.skip(got)
    assert isinstance(got, dict), "no results from Python %s:\n%s" % (version, got)
    assert "%(major)d.%(minor)d" % got["python"] == version
    for name in ("props_cache", "props_facts", "cpu_check", "libvirt_facts", "domain_cpu", "domain_cpu_info"):
        assert not got[name].get("failed"), "%s failed on Python %s: %s\n%s" % (
            name, version, got[name].get("msg"), got[name].get("module_stderr") or got[name].get("exception") or "")

    cached = got["props_cache"]
    fact = cached["ansible_facts"]["arm_cpu_props"]
    assert cached["changed"] is True and fact["source"] == "probe" and os.path.isfile(cached["path"])
    assert fact["supported"] is True and fact["dialect"] == "query-cpu-model-expansion" and fact["cpu_model"] == "max"
    assert fact["qemu_version"].startswith(qemu_version()) and fact["accel"] == "tcg"
    assert fact["properties"]["sve"]["supported_values"] == ["on", "off"]
    read = got["props_facts"]["ansible_facts"]["arm_cpu_props"]
    assert read["source"] == "cache" and read["properties"] == fact["properties"]

    check = got["cpu_check"]
    assert (check["accepted"], check["method"], check["cpu_arg"]) == (True, "expansion", "max,sve=off,sve128=off")
    assert check["expanded"]["sve"] is False
    refused = got["cpu_check_refused"]
    assert refused["failed"] is True and refused["accepted"] is False and refused["method"] == "start"
    assert "unsupported SVE vector length" in refused["error"]

    libvirt = got["libvirt_facts"]["ansible_facts"]["libvirt_cpu"]
    assert libvirt["feature_value_supported"] is False and "sve256" in libvirt["cpu_map_features"]
    assert re.match(r"^[0-9]+\.[0-9]+\.[0-9]+$", libvirt["version"] or "")
    assert libvirt["version_source"] == "virsh --version"
    # virsh asked the daemon; a libvirtd on a machine without an emulator for its own architecture (this one: no
    # x86_64 QEMU) answers "version --daemon" with an error, in its words
    assert libvirt["daemon_version"] == libvirt["version"] or libvirt["daemon_error"].startswith(
        "virsh -c qemu:///system version --daemon failed: "), libvirt["daemon_error"]

    applied = got["domain_cpu"]
    assert applied["changed"] is True and applied["backend"] == got["backend"]
    assert applied["qemu_cpu_arg"] == "max,sve=on,sve256=on" and applied["confirmation"]["status"] == "accepted"
    assert "<feature policy='require' name='sve256'/>" in got["dumpxml"]
    (info,) = got["domain_cpu_info"]["domains"]
    assert info["name"] == got["domain"] and info["matches_policy"] is True
    assert got["domain_cpu_info"]["backend"] == got["backend"]
