"""armvirt.cpu.domain_cpu, domain_cpu_info and the apply playbook against a real libvirtd (Debian 9.0, TCG guests).

tests/libvirtd.py starts the daemon by hand for the session and stops it at the end; every domain defined here is
destroyed and undefined by its fixture. Both ways of talking to libvirt are run: virsh (the venv's Python has no
binding) and libvirt-python (Debian's python3-libvirt under /usr/bin/python3).
"""

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import uuid

import pytest
import yaml

import libvirtd
from conftest import ROOT, run_module

from ansible_collections.armvirt.cpu.plugins.module_utils import delivery

PROPS = json.loads((ROOT / "tests" / "fixtures" / "facts" / "qemu-7.2-released.json").read_text())  # real TCG max
V1_PROPS = json.loads((ROOT / "tests" / "fixtures" / "facts" / "neoverse-v1.json").read_text())  # a patched KVM host
SYSTEM_PYTHON = "/usr/bin/python3"
DOMAIN = """<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='aarch64' machine='virt'>hvm</type></os>
  <features>{features}</features>
  <cpu mode='maximum'><topology sockets='1' dies='1' cores='1' threads='1'/>{cpu}</cpu>
  <devices><emulator>/usr/bin/qemu-system-aarch64</emulator></devices>
  <qemu:commandline>
    <qemu:arg value='-msg'/><qemu:arg value='timestamp=on'/>{extra}
  </qemu:commandline>
</domain>
"""
SVE = [{"name": "sve"}, {"name": "sve256"}]
VALUED = [{"name": "sve256"}, {"name": "sve512", "value": "off"}]


@pytest.fixture
def domain(libvirt_daemon, tmp_path):
    """Factory: define an aarch64 TCG domain (no disks); all are destroyed and undefined afterwards."""
    made = []

    def define(extra="", start=False, features="", cpu=""):
        name = "armvirt-test-%s" % uuid.uuid4().hex[:8]
        path = tmp_path / (name + ".xml")
        path.write_text(DOMAIN.format(name=name, extra=extra, features=features, cpu=cpu))
        libvirtd.virsh("define", str(path))
        made.append(name)
        if start:
            libvirtd.virsh("start", name)
        return name

    yield define
    for name in made:
        libvirtd.virsh("destroy", name, check=False)
        libvirtd.virsh("undefine", name, check=False)


def dump(name, inactive=True):
    return libvirtd.virsh(*(["dumpxml", "--inactive", name] if inactive else ["dumpxml", name])).stdout


def native_argv(xml, tmp=pathlib.Path("/tmp"), check=True):
    """libvirt's translation of a domain XML to QEMU's command line (a list); (None, message) when it refuses."""
    path = tmp / ("armvirt-native-%s.xml" % uuid.uuid4().hex[:8])
    path.write_text(xml)
    try:
        proc = libvirtd.virsh("domxml-to-native", "qemu-argv", "--xml", str(path), check=check)
    finally:
        path.unlink()
    return (shlex.split(proc.stdout), None) if proc.returncode == 0 else (None, proc.stderr.strip())


def cpu_values(argv):
    return [argv[index + 1] for index in range(len(argv) - 1) if argv[index] == "-cpu"]


def native_cpu(name):
    """libvirt's own translation of the defined (inactive) XML: the -cpu QEMU gets at the next boot."""
    return delivery.last_cpu_arg(native_argv(dump(name))[0])


def qom_sve(name, *props):
    """QEMU's own view of the vCPU: qom-get of each property on the path query-cpus-fast gives."""
    def qmp(command, arguments=None):
        message = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        return json.loads(libvirtd.virsh("qemu-monitor-command", name, json.dumps(message)).stdout)["return"]
    path = qmp("query-cpus-fast")[0]["qom-path"]
    return {prop: qmp("qom-get", {"path": path, "property": prop}) for prop in props}


def apply(name, features, python=None, check=False, diff=False, **options):
    args = dict(name=name, mode="maximum", features=features, props=PROPS, host="hv1", **options)
    if python is None:
        return run_module("domain_cpu", args, check=check, diff=diff)
    return run_with(python, "domain_cpu", args, check=check, diff=diff)


def run_with(python, module, args, check=False, diff=False):
    """run_module with another interpreter for the module (conftest's helper pins the venv's)."""
    command = ["ansible", "localhost", "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + python,
               "-m", "armvirt.cpu." + module, "-a", json.dumps(args)] + (["--check"] if check else []) + \
        (["--diff"] if diff else [])
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                          env=dict(os.environ, ANSIBLE_STDOUT_CALLBACK="minimal", ANSIBLE_NOCOLOR="1"))
    start = proc.stdout.find("=> {")
    assert start >= 0, proc.stdout + proc.stderr
    return json.JSONDecoder().raw_decode(proc.stdout[start + 3:])[0]


def test_feature_value_sets_cpu_idempotently_and_touches_nothing_else(domain):
    name = domain()
    before = dump(name)

    predicted = apply(name, SVE, check=True, diff=True)
    assert not predicted.failed, predicted.output
    assert predicted.result["changed"] is True
    assert "+  <feature policy=\"require\" name=\"sve256\" />" in predicted.output   # diff: the <cpu> change
    assert dump(name) == before, "check mode changed the domain"

    first = apply(name, SVE, diff=True)
    assert not first.failed, first.output
    assert first.result["changed"] is True and first.result["restart_required"] is False
    assert first.result["qemu_cpu_arg"] == "max,sve=on,sve256=on" and first.result["backend"] == "virsh"
    after = dump(name)
    assert "<feature policy='require' name='sve256'/>" in after
    assert "<topology sockets='1' dies='1' cores='1' threads='1'/>" in after      # <cpu> children kept
    assert delivery.without_cpu(after) == delivery.without_cpu(before)
    assert "<qemu:arg value='timestamp=on'/>" in after
    assert native_cpu(name) in ("max,sve=on,sve256=on", "max,sve256=on,sve=on")

    again = apply(name, SVE)
    assert again.result["changed"] is False and dump(name) == after
    assert apply(name, SVE, check=True).result["changed"] is False


def test_the_hosts_qemu_confirms_before_the_domain_is_written_and_remembers_it(domain, tmp_path):
    name = domain()
    args = {"name": name, "mode": "maximum", "features": SVE, "props": PROPS, "host": "hv1",
            "cache_dir": str(tmp_path / "cache")}
    predicted = run_module("domain_cpu", args, check=True)
    assert not predicted.failed, predicted.output
    assert predicted.result["confirmation"] == {
        "status": "accepted", "cpu_arg": "max,sve=on,sve256=on", "emulator": "/usr/bin/qemu-system-aarch64",
        "accel": "tcg", "method": "expansion", "cached": False, "error": None}     # a type='qemu' domain: TCG
    assert not (tmp_path / "cache").exists(), "check mode stored the confirmation"
    first = run_module("domain_cpu", args)
    assert first.result["changed"] is True and first.result["confirmation"]["cached"] is False
    assert len(list((tmp_path / "cache").glob("*-tcg.checks.json"))) == 1
    again = run_module("domain_cpu", args)
    assert again.result["changed"] is False and again.result["confirmation"]["cached"] is True
    skipped = run_module("domain_cpu", dict(args, confirm=False))
    assert skipped.result["confirmation"] == {"status": "skipped (confirm: false)", "cpu_arg": "max,sve=on,sve256=on"}


def test_a_request_the_hosts_qemu_refuses_leaves_the_domain_unchanged(domain, tmp_path):
    """Checked against the wrong facts (a patched KVM host's), feat_RAS passes validation; the domain's own QEMU (7.2,
    TCG) refuses it at a paused start, in its own words, in check mode too, and nothing is written."""
    name = domain()
    before = dump(name)
    args = {"name": name, "mode": "maximum", "features": [{"name": "feat_RAS", "value": "1.0"}], "props": V1_PROPS,
            "host": "hv1", "delivery": "qemu-commandline", "cache_dir": str(tmp_path / "cache")}
    for check in (True, False):
        run = run_module("domain_cpu", args, check=check)
        assert run.failed and "Traceback" not in run.output
        words = ("qemu-system-aarch64: can't apply global max-arm-cpu.feat_RAS=1.0: Property 'max-arm-cpu.feat_RAS' "
                 "not found")
        assert run.result["confirmation"] == {"status": "refused", "cpu_arg": "max,feat_RAS=1.0",
                                              "emulator": "/usr/bin/qemu-system-aarch64", "accel": "tcg",
                                              "method": "start", "cached": False, "error": words}
        assert run.result["msg"].startswith("hv1: domain %s was left unchanged: hv1: QEMU /usr/bin/qemu-system-aarch64 "
                                            "(accel=tcg) refused the guest CPU -cpu max,feat_RAS=1.0" % name)
        assert run.result["msg"].endswith(words)
        assert dump(name) == before
    assert not (tmp_path / "cache").exists()


def test_unpatched_libvirt_refuses_valued_features_for_feature_value(domain):
    name = domain()
    before = dump(name)
    run = apply(name, VALUED)
    assert run.failed
    assert [error["rule"] for error in run.result["errors"]] == ["libvirt-drops-value"]
    assert "sve512=off needs <feature value=...>" in run.result["msg"] and "hv1" in run.result["msg"]
    assert dump(name) == before


def test_qemu_commandline_on_a_running_guest(domain):
    name = domain(start=True)
    before = dump(name)
    first = apply(name, VALUED, delivery="qemu-commandline")
    assert not first.failed, first.output
    assert first.result["changed"] is True and first.result["restart_required"] is True
    arg = "max,sve256=on,sve512=off,sve=on"      # the request, then the sve=on libvirt adds for the lengths
    assert first.result["qemu_cpu_arg"] == arg
    after = dump(name)
    assert "<qemu:arg value='-cpu'/>" in after and "<qemu:arg value='%s'/>" % arg in after
    assert "<qemu:arg value='timestamp=on'/>" in after                           # other arguments kept
    assert "<feature policy='disable' name='sve512'/>" in after                  # off became disable, no value
    assert "value='off'" not in after.split("<cpu", 1)[1].split("</cpu>", 1)[0]
    assert delivery.without_cpu(after) == delivery.without_cpu(before)
    assert native_cpu(name) == arg

    again = apply(name, VALUED, delivery="qemu-commandline")
    assert again.result["changed"] is False and again.result["restart_required"] is True   # still not rebooted
    info = run_module("domain_cpu_info", {"name": name, "props": PROPS, "policy": {
        "mode": "maximum", "features": VALUED, "delivery": "qemu-commandline"}}).result["domains"][0]
    assert info["matches_policy"] is True and info["restart_pending"] is True
    assert info["qemu_cpu_arg_next"] == arg and info["armvirt_cpu_arg"] == arg
    assert info["running_source"] == "proc" and info["qemu_cpu_arg"] != arg

    libvirtd.virsh("destroy", name)
    libvirtd.virsh("start", name)
    assert qom_sve(name, "sve256", "sve512") == {"sve256": True, "sve512": False}
    info = run_module("domain_cpu_info", {"name": name}).result["domains"][0]
    assert info["qemu_cpu_arg"] == arg and info["restart_pending"] is False and "matches_policy" not in info
    assert apply(name, VALUED, delivery="qemu-commandline").result["restart_required"] is False

    # back to feature-value with boolean features only: our -cpu pair and our mark go, -msg stays
    back = apply(name, SVE)
    assert back.result["changed"] is True and back.result["restart_required"] is True
    final = dump(name)
    assert "value='-cpu'" not in final and delivery.MARK_NS not in final and "timestamp=on" in final


def test_a_cpu_override_not_written_here_is_refused_or_replaced(domain):
    extra = "<qemu:arg value='-cpu'/><qemu:arg value='max,sve=off'/>"
    name = domain(extra=extra)
    before = dump(name)
    refused = apply(name, SVE, delivery="qemu-commandline")
    assert refused.failed and "-cpu max,sve=off, which armvirt.cpu did not write" in refused.result["msg"]
    assert dump(name) == before
    replaced = apply(name, SVE, delivery="qemu-commandline", unmarked_cpu_arg="replace")
    assert replaced.result["changed"] is True
    assert "max,sve=off" not in dump(name) and native_cpu(name) == "max,sve=on,sve256=on"


@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason="no /usr/bin/python3")
def test_libvirt_python_backend(domain):
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import libvirt"], capture_output=True, check=False)
    if probe.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("python3-libvirt is missing in CI: scripts/setup.sh should have installed it")
        pytest.skip("Debian's python3-libvirt is not installed")
    name = domain(start=True)
    first = apply(name, VALUED, python=SYSTEM_PYTHON, delivery="qemu-commandline")
    assert first["backend"] == "libvirt-python" and first["changed"] is True and first["restart_required"] is True
    assert apply(name, VALUED, python=SYSTEM_PYTHON, delivery="qemu-commandline")["changed"] is False
    listed = run_with(SYSTEM_PYTHON, "domain_cpu_info", {"name": name})
    assert listed["backend"] == "libvirt-python" and listed["domains"][0]["state"] == "running"


def test_errors_name_host_domain_and_values(domain):
    name = domain()
    bad = apply(name, [{"name": "sve256", "value": "maybe"}], delivery="qemu-commandline")
    assert bad.failed and "hv1: domain %s was left unchanged" % name in bad.result["msg"]
    assert "sve256=maybe is not supported; supported values (bool): on, off" in bad.result["msg"]
    missing = apply("armvirt-test-nonexistent", SVE)
    assert missing.failed and "domain armvirt-test-nonexistent is not defined" in missing.result["msg"]
    assert name in missing.result["msg"]                                           # lists what is defined
    no_props = run_module("domain_cpu", {"name": name, "features": SVE})
    assert no_props.failed and "features need props" in no_props.result["msg"]
    assert "Traceback" not in bad.output + missing.output + no_props.output


def test_without_libvirt_python_or_virsh_the_module_fails_cleanly(tmp_path):
    """The venv's Python has no binding; with no virsh on the module's PATH both modules say what to install."""
    out = tmp_path / "result.json"
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"armvirt.cpu.domain_cpu_info": {}, "environment": {"PATH": str(tmp_path)}, "register": "info",
         "ignore_errors": True},
        {"armvirt.cpu.domain_cpu": {"name": "web1"}, "environment": {"PATH": str(tmp_path)}, "register": "cpu",
         "ignore_errors": True},
        {"ansible.builtin.copy": {"content": "{{ [info, cpu] | to_json }}", "dest": str(out)}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                           "ansible_python_interpreter=" + sys.executable, str(tmp_path / "play.yml")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    for result in json.loads(out.read_text()):
        assert result["failed"] is True
        assert "neither libvirt-python (import libvirt) nor virsh" in result["msg"], result
        assert "libvirt-clients" in result["msg"] and "Traceback" not in json.dumps(result)


def test_modules_document_themselves():
    for module in ("domain_cpu", "domain_cpu_info"):
        proc = subprocess.run(["ansible-doc", "armvirt.cpu." + module], capture_output=True, text=True, timeout=60,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        assert "guest_domains" in proc.stdout and "libvirt_facts" in proc.stdout


def test_apply_playbook_rolls_a_policy_in_batches_and_writes_a_summary(domain, tmp_path):
    running, stopped = domain(start=True), domain()
    policy = tmp_path / "policy.yml"
    policy.write_text(yaml.safe_dump({"description": "SVE up to 256 bits", "mode": "maximum",
                                      "features": VALUED}))
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"hypervisors": {"hosts": {"hv1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    summary = tmp_path / "summary.json"

    def play(*options):
        proc = subprocess.run(
            ["ansible-playbook", "-i", str(inventory), "armvirt.cpu.apply", "-e", json.dumps({
                "armvirt_cpu_apply_policy_file": str(policy), "armvirt_cpu_apply_delivery": "qemu-commandline",
                "armvirt_cpu_apply_serial": 1, "armvirt_cpu_apply_domains": [running, stopped],
                "armvirt_cpu_apply_props": PROPS, "armvirt_cpu_apply_summary": str(summary),
                "armvirt_cpu_cache_dir": str(tmp_path / "cache")})] + list(options),
            capture_output=True, text=True, timeout=300, env=dict(os.environ, ANSIBLE_NOCOLOR="1"), check=False)
        assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
        return json.loads(summary.read_text()) if summary.exists() else proc.stdout

    # check mode: says what it would change, writes no domain, no summary and no confirmation cache
    domains_before = {name: dump(name) for name in (running, stopped)}
    predicted = play("--check", "--diff")
    assert not summary.exists() and not (tmp_path / "cache").exists()
    assert {name: dump(name) for name in (running, stopped)} == domains_before
    assert "sve256" in predicted and "changed=" in predicted, predicted[-3000:]

    first = play()
    assert sorted(first["changed"]) == sorted(["hv1/" + running, "hv1/" + stopped])
    assert first["restart_required"] == ["hv1/" + running]
    assert first["drift"] == [] and first["failed"] == [] and first["unreached"] == []
    assert first["policy"]["features"] == VALUED
    entries = {entry["name"]: entry for entry in first["hosts"]["hv1"]["domains"]}
    assert entries[stopped]["qemu_cpu_arg"] == "max,sve256=on,sve512=off,sve=on"
    second = play()
    assert second["changed"] == [] and second["restart_required"] == ["hv1/" + running]


def test_guests_rendered_by_the_role_are_adopted_without_replace(libvirt_daemon, tmp_path):
    """libvirt turns guest_domains' qemu-commandline XML into a QEMU command line whose last -cpu is ours. The XML
    carries the same <metadata> mark domain_cpu writes, so a later apply of another policy replaces that -cpu
    without unmarked_cpu_arg: replace."""
    name = "armvirt-role-%s" % uuid.uuid4().hex[:8]
    play = tmp_path / "render.yml"
    play.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "Render", "armvirt.cpu.guest_domains": {
            "output_dir": str(tmp_path / "out"), "mode": "maximum", "delivery": "qemu-commandline", "props": PROPS,
            "features": [{"name": "sve256"}, {"name": "sve512", "value": "off"}], "libvirt_check": False,
            "guests": [{"name": name, "memory": 128, "vcpus": 1}]}}]}]))
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                           "ansible_python_interpreter=" + sys.executable, str(play)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = tmp_path / "out" / (name + ".xml")
    xml = path.read_text()
    assert xml.startswith("<domain type='qemu'"), "PROPS is a TCG host's fact: type follows its accelerator"
    argv = native_argv(xml)[0]
    assert argv.count("-cpu") == 2, "libvirt's own -cpu, then the override QEMU takes because it comes last"
    libvirtd.virsh("define", str(path))
    try:
        assert native_cpu(name) == "max,sve256=on,sve512=off"     # libvirt_check off: no <cpu> feature to add sve
        adopted = apply(name, [{"name": "sve256"}], delivery="qemu-commandline")
        assert not adopted.failed, adopted.output
        assert adopted.result["changed"] is True
        assert native_cpu(name) == "max,sve256=on,sve=on"
    finally:
        libvirtd.virsh("undefine", "--nvram", name, check=False)


# --- what libvirt puts on its own -cpu, and the override that keeps it ------------------------------------------

NATIVE = """<domain type='{type}'>
  <name>armvirt-native</name><memory unit='MiB'>128</memory><vcpu placement='static'>1</vcpu>{tune}
  <os><type arch='aarch64' machine='virt'>hvm</type></os>
  <features>{features}</features>
  {cpu}
  <clock offset='utc'>{clock}</clock>
  <devices><emulator>/usr/bin/qemu-system-aarch64</emulator></devices>
</domain>
"""
MAXIMUM = "<cpu mode='maximum'/>"
# every part of a domain that libvirt 9.0 turns into a -cpu property for an aarch64 TCG guest it accepts
FLAG_CASES = {
    "pmu-off": dict(features="<pmu state='off'/>"),
    "pmu-on-custom": dict(features="<pmu state='on'/>", cpu="<cpu mode='custom'><model>cortex-a57</model></cpu>"),
    "sve-policies": dict(cpu="<cpu mode='maximum'><feature policy='require' name='sve256'/><feature policy='disable' "
                             "name='sve512'/><feature policy='optional' name='sve128'/><feature policy='force' "
                             "name='sve384'/><feature policy='forbid' name='sve1024'/></cpu>"),
    "sve-optional-only": dict(cpu="<cpu mode='maximum'><feature policy='optional' name='sve256'/></cpu>"),
    "sve-explicit-first": dict(cpu="<cpu mode='maximum'><feature policy='require' name='sve'/>"
                                   "<feature policy='require' name='sve256'/></cpu>"),
    "sve-off-pmu-off": dict(cpu="<cpu mode='maximum'><feature policy='disable' name='sve'/></cpu>",
                            features="<pmu state='off'/>"),
    "kvm-features": dict(features="<kvm><pv-ipi state='off'/><poll-control state='on'/><hidden state='on'/></kvm>"),
    "kvm-features-off": dict(features="<kvm><hidden state='off'/><poll-control state='off'/><pv-ipi state='on'/>"
                                      "</kvm>"),
    "kvm-hint-dedicated": dict(features="<kvm><hint-dedicated state='on'/></kvm>",
                               tune="<cputune><vcpupin vcpu='0' cpuset='0'/><emulatorpin cpuset='1'/></cputune>"),
    "hyperv": dict(features="<hyperv><avic state='on'/><ipi state='on'/><vendor_id state='on' value='KVM Hv'/>"
                            "<spinlocks state='on' retries='8191'/><relaxed state='on'/><stimer state='on'>"
                            "<direct state='on'/></stimer><tlbflush state='on'/><vapic state='off'/></hyperv>"),
    "hyperv-passthrough": dict(features="<hyperv mode='passthrough'><relaxed state='on'/></hyperv>"),
    "kvmclock-off": dict(clock="<timer name='kvmclock' present='no'/>"),
    "all-in-order": dict(features="<pmu state='off'/><kvm><hidden state='on'/><pv-ipi state='off'/></kvm>"
                                  "<hyperv><relaxed state='on'/></hyperv>",
                         cpu="<cpu mode='maximum'><feature policy='require' name='sve256'/></cpu>",
                         clock="<timer name='kvmclock' present='no'/><timer name='rtc' tickpolicy='catchup'/>"),
}


def native_xml(type_="qemu", features="", cpu=MAXIMUM, clock="", tune=""):
    return NATIVE.format(type=type_, features=features, cpu=cpu, clock=clock, tune=tune)


@pytest.mark.parametrize("case", sorted(FLAG_CASES))
def test_libvirt_cpu_arg_is_what_libvirt_puts_on_its_own_cpu(libvirt_daemon, case):
    xml = native_xml(**FLAG_CASES[case])
    argv, error = native_argv(xml)
    assert error is None
    assert cpu_values(argv) == [delivery.libvirt_cpu_arg(xml)]


def test_tsc_frequency_is_on_libvirts_cpu(libvirt_daemon):
    """libvirt checks a TSC frequency against the host's, so the case uses the host's own (virsh capabilities)."""
    found = re.search(r"<counter name='tsc' frequency='([0-9]+)'", libvirtd.virsh("capabilities").stdout)
    if found is None:
        pytest.skip("libvirt reports no TSC frequency for this host")
    xml = native_xml(clock="<timer name='tsc' frequency='%s'/><timer name='kvmclock' present='no'/>" % found[1])
    assert cpu_values(native_argv(xml)[0]) == [delivery.libvirt_cpu_arg(xml)]
    assert delivery.libvirt_cpu_arg(xml) == "max,tsc-frequency=%s,kvmclock=off" % found[1]


def test_armvtimer_is_for_kvm_guests(libvirt_daemon):
    """libvirt 9.0 refuses the armvtimer timer for TCG guests, and translating a KVM guest needs an aarch64 host with
    KVM, which these machines are not; the KVM mapping (host,kvm-no-adjvtime=on for discard) is checked against
    libvirt's own test data in test_delivery.py."""
    timer = "<timer name='armvtimer' tickpolicy='discard'/>"
    refused = native_argv(native_xml(clock=timer), check=False)[1]
    assert "Configuring the 'armvtimer' timer is not supported for virtType=qemu" in refused


def test_qemu_commandline_keeps_libvirts_flags_and_the_request_wins(domain):
    """<pmu state='off'/> and an sve length: the override is the request, then libvirt's sve=on and pmu=off, as
    libvirt's translation shows and as QEMU runs it; a request with pmu=on wins over <pmu state='off'/>."""
    name = domain(features="<pmu state='off'/>", cpu="<feature policy='require' name='sve128'/>")
    assert native_cpu(name) == "max,sve128=on,sve=on,pmu=off"          # libvirt's own, no override yet
    first = apply(name, VALUED, delivery="qemu-commandline")
    assert not first.failed, first.output
    defined = dump(name)
    argv = native_argv(defined)[0]
    libvirt_own, override = cpu_values(argv)
    assert libvirt_own == delivery.libvirt_cpu_arg(defined) == "max,sve256=on,sve512=off,sve=on,pmu=off"
    assert override == first.result["qemu_cpu_arg"] == "max,sve256=on,sve512=off,sve=on,pmu=off"
    assert override == delivery.merge_cpu_arg("max,sve256=on,sve512=off", delivery.libvirt_cpu_flags(defined))
    assert delivery.override_lost_flags(defined) == []
    libvirtd.virsh("start", name)
    assert qom_sve(name, "sve256", "sve512", "pmu") == {"sve256": True, "sve512": False, "pmu": False}
    libvirtd.virsh("destroy", name)

    pmu_on = apply(name, VALUED + [{"name": "pmu", "value": "on"}], delivery="qemu-commandline")
    assert not pmu_on.failed, pmu_on.output
    defined = dump(name)
    libvirt_own, override = cpu_values(native_argv(defined)[0])
    assert libvirt_own.endswith(",pmu=off") and override == pmu_on.result["qemu_cpu_arg"]
    assert override == "max,sve256=on,sve512=off,pmu=on,sve=on"
    assert override == delivery.merge_cpu_arg("max,sve256=on,sve512=off,pmu=on", delivery.libvirt_cpu_flags(defined))
    info = run_module("domain_cpu_info", {"name": name}).result["domains"][0]
    assert info["override_lost_flags"] == [] and info["qemu_cpu_arg_next"] == override      # pmu=on was asked for


def test_domain_cpu_info_reports_an_override_that_lost_libvirts_flags(domain):
    """A hand-written override on a running guest drops libvirt's sve=on and pmu=off: reported for the definition
    and for the running QEMU (its own command line); domain_cpu's override keeps them from the next boot on."""
    name = domain(features="<pmu state='off'/>", cpu="<feature policy='require' name='sve256'/>", start=True,
                  extra="<qemu:arg value='-cpu'/><qemu:arg value='max,sve256=on'/>")
    info = run_module("domain_cpu_info", {"name": name}).result["domains"][0]
    assert info["running_source"] == "proc" and info["qemu_cpu_arg"] == "max,sve256=on"
    assert info["override_lost_flags"] == ["sve=on", "pmu=off"]
    assert info["override_lost_flags_running"] == ["sve=on", "pmu=off"]
    assert qom_sve(name, "pmu") == {"pmu": True}                    # QEMU really lost <pmu state='off'/>

    fixed = apply(name, [{"name": "sve256"}], delivery="qemu-commandline", unmarked_cpu_arg="replace")
    assert not fixed.failed, fixed.output
    assert fixed.result["qemu_cpu_arg"] == "max,sve256=on,sve=on,pmu=off" and fixed.result["restart_required"]
    info = run_module("domain_cpu_info", {"name": name}).result["domains"][0]
    assert info["override_lost_flags"] == [] and info["override_lost_flags_running"] == ["sve=on", "pmu=off"]
    libvirtd.virsh("destroy", name)
    libvirtd.virsh("start", name)
    info = run_module("domain_cpu_info", {"name": name}).result["domains"][0]
    assert info["override_lost_flags"] == [] and info["override_lost_flags_running"] == []
    assert info["qemu_cpu_arg"] == "max,sve256=on,sve=on,pmu=off" and info["restart_pending"] is False
    assert qom_sve(name, "pmu") == {"pmu": False}
    stopped = domain(features="<pmu state='off'/>")
    info = run_module("domain_cpu_info", {"name": stopped}).result["domains"][0]
    assert info["override_lost_flags"] is None and info["override_lost_flags_running"] is None


@pytest.mark.parametrize("policy", ["optional", "disable", "forbid"])
def test_libvirt_stores_sve_for_any_vector_length(domain, policy):
    """What delivery.signature (check mode) and libvirt_cpu_flags assume: libvirt adds <feature name='sve'/> for a
    vector length whatever its policy, and puts sve=on on its -cpu."""
    name = domain(cpu="<feature policy='%s' name='sve512'/>" % policy)
    assert "<feature policy='require' name='sve'/>" in dump(name)
    assert native_cpu(name) == delivery.libvirt_cpu_arg(dump(name))
