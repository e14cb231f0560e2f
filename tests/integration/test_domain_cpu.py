"""The apply playbook and what libvirt itself does with a domain's CPU, against a real libvirtd (Debian 9.0, TCG
guests): the -cpu libvirt builds (libvirt_flags.libvirt_cpu_arg and the flags an override keeps, checked against
libvirt's own translation and QEMU's view of the vCPU), and that the modules document themselves.

What domain_cpu and domain_cpu_info do (both deliveries, confirmation, check mode, restart pending, lost flags,
libvirt-python, refusals) is the integration targets tests/integration/targets/domain_cpu and domain_cpu_info.
tests/libvirtd.py starts the daemon by hand for the session and stops it at the end; every domain defined here is
destroyed and undefined by its fixture.
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
from xml.sax.saxutils import escape

import libvirtd
from conftest import ROOT, run_module

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import domain_xml, libvirt_flags, validate
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils.xml_compare import kept_part

PROPS = json.loads((ROOT / "tests" / "fixtures" / "facts" / "qemu-7.2-released.json").read_text())  # real TCG max
DOMAIN = """<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>{metadata}
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
VALUED = [{"name": "sve256"}, {"name": "sve512", "value": "off"}]


@pytest.fixture
def domain(libvirt_daemon, tmp_path):
    """Factory: define an aarch64 TCG domain (no disks) and return its name; ``define.uuids`` maps each name to its
    UUID, by which all are destroyed and undefined afterwards (virsh would take a name that is a number as an id)."""
    def define(extra="", start=False, features="", cpu="", metadata="", name=None):
        name = name or "armvirt-test-%s" % uuid.uuid4().hex[:8]
        define.uuids[name] = str(uuid.uuid4())
        path = tmp_path / ("%s.xml" % define.uuids[name])
        path.write_text(DOMAIN.format(name=escape(name), uuid=define.uuids[name], extra=extra, features=features,
                                      cpu=cpu, metadata=metadata), encoding="utf-8")
        libvirtd.virsh("define", str(path))
        if start:
            libvirtd.virsh("start", define.uuids[name])
        return name

    define.uuids = {}
    yield define
    for domain_uuid in define.uuids.values():
        libvirtd.virsh("destroy", domain_uuid, check=False)
        libvirtd.virsh("undefine", domain_uuid, check=False)


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
    return libvirt_flags.last_cpu_arg(native_argv(dump(name))[0])


def qom_sve(name, *props):
    """QEMU's own view of the vCPU: qom-get of each property on the path query-cpus-fast gives."""
    def qmp(command, arguments=None):
        message = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        return json.loads(libvirtd.virsh("qemu-monitor-command", name, json.dumps(message)).stdout)["return"]
    path = qmp("query-cpus-fast")[0]["qom-path"]
    return {prop: qmp("qom-get", {"path": path, "property": prop}) for prop in props}


def apply(name, features, **options):
    args = dict(name=name, mode="maximum", features=features, props=PROPS, host="hv1", **options)
    return run_module("domain_cpu", args)


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
    "kvmclock-off": dict(clock="<timer name='kvmclock' present='no'/>"),
    "all-in-order": dict(features="<pmu state='off'/><kvm><hidden state='on'/><pv-ipi state='off'/></kvm>",
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
    assert cpu_values(argv) == [libvirt_flags.libvirt_cpu_arg(xml)]


@pytest.mark.parametrize("hyperv", ["<hyperv><relaxed state='on'/><vapic state='off'/></hyperv>",
                                    "<hyperv mode='passthrough'><relaxed state='on'/></hyperv>"])
def test_hyperv_on_aarch64_is_refused_because_qemu_refuses_it(libvirt_daemon, matrix_qemu, hyperv):
    """libvirt puts <features><hyperv> on an aarch64 guest's -cpu as hv-* (which ones depends on its version), and
    QEMU's Arm CPU, 7.2 and 10.0 alike, has no hv-* property and will not start the guest: the override refuses such
    a domain with that reason instead of copying flags that differ by libvirt version."""
    xml = native_xml(features=hyperv)
    (own,) = cpu_values(native_argv(xml)[0])
    hv_flags = [name for name, _value in validate.split_cpu_arg(own)[1] if name.startswith("hv-")]
    assert hv_flags, own
    started = subprocess.run([matrix_qemu, "-machine", "virt", "-accel", "tcg", "-cpu", own, "-S", "-nodefaults",
                              "-display", "none", "-monitor", "none", "-serial", "none"],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
    assert started.returncode == 1 and "Property 'max-arm-cpu.%s' not found" % hv_flags[0] in started.stderr, \
        started.stderr
    with pytest.raises(domain_xml.DeliveryError) as raised:
        libvirt_flags.commandline_override(xml, "max,sve256=on", name="guest")
    assert "guest: the domain has <features><hyperv>" in str(raised.value)


def test_tsc_frequency_is_on_libvirts_cpu(libvirt_daemon):
    """libvirt checks a TSC frequency against the host's, so the case uses the host's own (virsh capabilities)."""
    found = re.search(r"<counter name='tsc' frequency='([0-9]+)'", libvirtd.virsh("capabilities").stdout)
    if found is None:
        pytest.skip("libvirt reports no TSC frequency for this host")
    xml = native_xml(clock="<timer name='tsc' frequency='%s'/><timer name='kvmclock' present='no'/>" % found[1])
    assert cpu_values(native_argv(xml)[0]) == [libvirt_flags.libvirt_cpu_arg(xml)]
    assert libvirt_flags.libvirt_cpu_arg(xml) == "max,tsc-frequency=%s,kvmclock=off" % found[1]


def test_armvtimer_is_for_kvm_guests(libvirt_daemon):
    """libvirt 9.0 refuses the armvtimer timer for TCG guests, and translating a KVM guest needs an aarch64 host with
    KVM, which these machines are not; the KVM mapping (host,kvm-no-adjvtime=on for discard) is checked against
    libvirt's own test data in test_libvirt_flags.py."""
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
    assert libvirt_own == libvirt_flags.libvirt_cpu_arg(defined) == "max,sve256=on,sve512=off,sve=on,pmu=off"
    assert override == first.result["qemu_cpu_arg"] == "max,sve256=on,sve512=off,sve=on,pmu=off"
    assert override == libvirt_flags.merge_cpu_arg("max,sve256=on,sve512=off", libvirt_flags.libvirt_cpu_flags(defined))
    assert libvirt_flags.override_lost_flags(defined) == []
    libvirtd.virsh("start", name)
    assert qom_sve(name, "sve256", "sve512", "pmu") == {"sve256": True, "sve512": False, "pmu": False}
    libvirtd.virsh("destroy", name)

    pmu_on = apply(name, VALUED + [{"name": "pmu", "value": "on"}], delivery="qemu-commandline")
    assert not pmu_on.failed, pmu_on.output
    defined = dump(name)
    libvirt_own, override = cpu_values(native_argv(defined)[0])
    assert libvirt_own.endswith(",pmu=off") and override == pmu_on.result["qemu_cpu_arg"]
    assert override == "max,sve256=on,sve512=off,pmu=on,sve=on"
    assert override == libvirt_flags.merge_cpu_arg("max,sve256=on,sve512=off,pmu=on",
                                                   libvirt_flags.libvirt_cpu_flags(defined))
    info = run_module("domain_cpu_info", {"name": name}).result["domains"][0]
    assert info["override_lost_flags"] == [] and info["qemu_cpu_arg_next"] == override      # pmu=on was asked for


@pytest.mark.parametrize("policy", ["optional", "disable", "forbid"])
def test_libvirt_stores_sve_for_any_vector_length(domain, policy):
    """What domain_xml.signature (check mode) and libvirt_cpu_flags assume: libvirt adds <feature name='sve'/> for a
    vector length whatever its policy, and puts sve=on on its -cpu."""
    name = domain(cpu="<feature policy='%s' name='sve512'/>" % policy)
    assert "<feature policy='require' name='sve'/>" in dump(name)
    assert native_cpu(name) == libvirt_flags.libvirt_cpu_arg(dump(name))


# libvirt keeps each element child of <metadata> whole (comments and PIs in it too; those directly in <metadata> go)
KEPT_METADATA = ("<metadata><app:x xmlns:app='urn:a'><!-- keep --><?app-pi keep me?></app:x>"
                 "<y xmlns='urn:b'><z/></y></metadata>")


@pytest.mark.parametrize("delivery_name", names.DELIVERIES)
def test_domain_cpu_keeps_what_libvirt_keeps_outside_cpu(domain, tmp_path, delivery_name):
    """libvirt keeps comments, processing instructions and namespace prefixes in <metadata>'s elements; after domain_cpu
    and libvirt's own define, everything outside <cpu>, the -cpu pair and its mark is what libvirt had before."""
    name = domain(metadata=KEPT_METADATA, extra="<qemu:arg value='-name'/><qemu:arg value='debug-threads=on'/>",
                  features="<pmu state='off'/>")
    before = dump(domain.uuids[name])
    assert "<!-- keep -->" in before and "<?app-pi keep me?>" in before and '<y xmlns="urn:b">' in before
    run = apply(name, [{"name": "sve256"}], delivery=delivery_name, confirm=False)
    assert not run.failed and run.result["changed"], run.output
    after = dump(domain.uuids[name])
    assert kept_part(after) == kept_part(before)
    argv = native_argv(after)[0]
    values = [pair[1] for pair in domain_xml.cpu_arg_pairs(domain_xml.parse(after))]
    assert values == (["max,sve256=on,sve=on,pmu=off"] if delivery_name == names.QEMU_COMMANDLINE else [])
    assert "debug-threads=on" in argv and libvirt_flags.last_cpu_arg(argv) == "max,sve256=on,sve=on,pmu=off"
    again = apply(name, [{"name": "sve256"}], delivery=delivery_name, confirm=False)
    assert not again.failed and not again.result["changed"], again.output
    # what the comparison catches: the whole document serialised again by ElementTree, as edits were written
    reserialised = tmp_path / "reserialised.xml"
    reserialised.write_text(domain_xml.serialise(domain_xml.parse(before)))
    libvirtd.virsh("define", str(reserialised))
    assert kept_part(dump(domain.uuids[name])) != kept_part(before)


def test_odd_names_are_listed_whole_and_addressed_by_uuid(domain):
    """libvirt refuses a newline in a name ("invalid char in name") but takes leading blanks, commas, quotes,
    ampersands, non-ASCII and a name that is a number. Each is listed as libvirt has it and edited by UUID: a domain
    named as the running domain's id is not that domain."""
    running = domain(start=True)
    domid = libvirtd.virsh("domid", domain.uuids[running]).stdout.strip()
    numeric = domain(name=domid)
    odd = domain(name='  armvirt odd, "q" & \u00e9 %s  ' % uuid.uuid4().hex[:6], start=True)
    listing = run_module("domain_cpu_info", {"uri": libvirtd.URI})
    assert not listing.failed, listing.output
    listed = {entry["name"]: entry for entry in listing.result["domains"]}
    for name in (running, numeric, odd):
        assert listed[name]["uuid"] == domain.uuids[name]
    # the running QEMU is found by its -uuid (libvirt 9.0 names the pid file with &quot; for a quote)
    assert listed[odd]["running_source"] == listed[running]["running_source"] == "proc"
    untouched = dump(domain.uuids[running])
    for name in (numeric, odd):
        run = apply(name, [{"name": "sve256"}], delivery="qemu-commandline", confirm=False)
        assert not run.failed and run.result["changed"], run.output
        assert native_cpu(domain.uuids[name]) == "max,sve256=on,sve=on"
    assert dump(domain.uuids[running]) == untouched
    info = run_module("domain_cpu_info", {"name": odd}).result["domains"]
    assert [(entry["name"], entry["uuid"], entry["restart_pending"]) for entry in info] == [
        (odd, domain.uuids[odd], True)]
    # by UUID, and a name that does not match the UUID is refused
    by_uuid = apply(None, [{"name": "sve512"}], uuid=domain.uuids[numeric], confirm=False)
    assert not by_uuid.failed and by_uuid.result["changed"], by_uuid.output
    wrong = apply(odd, [{"name": "sve512"}], uuid=domain.uuids[numeric], confirm=False)
    assert wrong.failed and "is named %r, not %r" % (numeric, odd) in wrong.result["msg"], wrong.output
