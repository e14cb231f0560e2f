"""libvirt_flags: what libvirt puts on its own -cpu for a domain, and the qemu-commandline override that keeps it.

The expected -cpu values here are what Debian's libvirt 9.0 printed with `virsh domxml-to-native qemu-argv`
for the same XML (tests/integration/test_domain_cpu.py asks the real daemon again), except the armvtimer timer,
which libvirt accepts only for KVM domains: that one is libvirt's own test data (clock-timer-armvtimer.xml, whose
.aarch64-latest.args has ``-cpu host,kvm-no-adjvtime=on``).
"""

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._guest import domain_xml, libvirt_flags
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils.domain_samples import cpu_pair, domain, mark


@pytest.mark.parametrize("xml, expected", [
    (domain(), "max"),
    (domain(features="<pmu state='off'/>"), "max,pmu=off"),
    (domain(features="<pmu state='on'/>", cpu="<cpu mode='custom'><model>cortex-a57</model></cpu>"),
     "cortex-a57,pmu=on"),
    # policies: force/require on, disable/forbid off, optional left out; sve=on added after them for any length
    (domain(cpu="<cpu mode='maximum'><feature policy='require' name='sve256'/><feature policy='disable' "
                "name='sve512'/><feature policy='optional' name='sve128'/><feature policy='force' name='sve384'/>"
                "<feature policy='forbid' name='sve1024'/></cpu>"),
     "max,sve256=on,sve512=off,sve384=on,sve1024=off,sve=on"),
    (domain(cpu="<cpu mode='maximum'><feature policy='optional' name='sve256'/></cpu>"), "max,sve=on"),
    (domain(cpu="<cpu mode='maximum'><feature policy='disable' name='sve512'/></cpu>"), "max,sve512=off,sve=on"),
    (domain(cpu="<cpu mode='maximum'><feature policy='require' name='sve'/><feature policy='require' "
                "name='sve256'/></cpu>"), "max,sve=on,sve256=on"),
    (domain(cpu="<cpu mode='maximum'><feature policy='disable' name='sve'/></cpu>",
            features="<pmu state='off'/>"), "max,sve=off,pmu=off"),
    # timers in document order, then kvm in libvirt's order (not the document's), then pmu
    (domain(clock="<timer name='tsc' frequency='2596128000'/><timer name='kvmclock' present='no'/>"),
     "max,tsc-frequency=2596128000,kvmclock=off"),
    (domain(features="<pmu state='off'/><kvm><hidden state='on'/><pv-ipi state='off'/></kvm>",
            cpu="<cpu mode='maximum'><feature policy='require' name='sve256'/></cpu>",
            clock="<timer name='kvmclock' present='no'/>"),
     "max,sve256=on,sve=on,kvmclock=off,kvm=off,kvm-pv-ipi=off,pmu=off"),
    (domain(features="<kvm><pv-ipi state='off'/><poll-control state='on'/><hidden state='on'/>"
                     "<hint-dedicated state='on'/></kvm>"),
     "max,kvm=off,kvm-hint-dedicated=on,kvm-poll-control=on,kvm-pv-ipi=off"),
    (domain(features="<kvm><hidden state='off'/><poll-control state='off'/><pv-ipi state='on'/></kvm>"), "max"),
    # KVM only (libvirt refuses the timer for TCG); libvirt's own test data
    (domain(type_="kvm", cpu="<cpu mode='host-passthrough' check='none'/>",
            clock="<timer name='armvtimer' tickpolicy='discard'/>"), "host,kvm-no-adjvtime=on"),
    (domain(type_="kvm", cpu="<cpu mode='host-passthrough'/>", clock="<timer name='armvtimer' tickpolicy='delay'/>"),
     "host,kvm-no-adjvtime=off"),
    (domain(type_="kvm", cpu="<cpu mode='host-passthrough'/>", clock="<timer name='armvtimer'/>"), "host"),
])
def test_libvirt_cpu_arg_is_what_libvirt_9_prints(xml, expected):
    assert libvirt_flags.libvirt_cpu_arg(xml) == expected
    assert libvirt_flags.libvirt_cpu_arg(domain_xml.parse(xml)) == expected     # XML text or its root element


def test_without_cpu_the_model_is_libvirts_default_but_the_flags_are_known():
    xml = domain(cpu="", features="<pmu state='off'/>")            # libvirt 9.0 here: -cpu cortex-a15,pmu=off
    assert libvirt_flags.libvirt_cpu_arg(xml) is None
    assert libvirt_flags.libvirt_cpu_flags(xml) == [("pmu", "off")]


def test_the_override_never_reads_qemu_commandline():
    xml = domain(features="<pmu state='off'/>", commandline=cpu_pair("max,pmu=on,kvm=off"))
    assert libvirt_flags.libvirt_cpu_flags(xml) == [("pmu", "off")]


def test_merge_puts_the_request_first_and_the_request_wins():
    flags = [("sve256", "on"), ("sve", "on"), ("kvm-no-adjvtime", "on"), ("pmu", "off")]
    assert libvirt_flags.merge_cpu_arg("max,sve256=on,sve512=off,pmu=on", flags) == \
        "max,sve256=on,sve512=off,pmu=on,sve=on,kvm-no-adjvtime=on"
    assert libvirt_flags.merge_cpu_arg("host,sve256=off", flags) == "host,sve256=off,sve=on,kvm-no-adjvtime=on,pmu=off"
    assert libvirt_flags.merge_cpu_arg("max", []) == "max"
    assert libvirt_flags.merge_cpu_arg("max,feat_RAS=1.0", flags) == \
        "max,feat_RAS=1.0,sve256=on,sve=on,kvm-no-adjvtime=on,pmu=off"


def test_merge_is_stable_and_settles_after_one_round():
    flags = [("pmu", "off"), ("sve", "on"), ("pmu", "on")]            # a repeated libvirt flag: its first wins
    once = libvirt_flags.merge_cpu_arg("max,sve128=on", flags)
    assert once == "max,sve128=on,pmu=off,sve=on"
    assert libvirt_flags.merge_cpu_arg(once, flags) == once
    assert all(libvirt_flags.merge_cpu_arg("max,sve128=on", list(flags)) == once for _unused in range(3))


def test_lost_flags():
    flags = [("sve", "on"), ("pmu", "off"), ("kvm-no-adjvtime", "on")]
    assert libvirt_flags.lost_flags(flags, "max,sve=on,pmu=off,kvm-no-adjvtime=on") == []
    assert libvirt_flags.lost_flags(flags, "max,pmu=on") == ["sve=on", "pmu=off", "kvm-no-adjvtime=on"]
    assert libvirt_flags.lost_flags(flags, "max,pmu=on", requested_arg="max,pmu=on") == ["sve=on", "kvm-no-adjvtime=on"]
    assert libvirt_flags.lost_flags([("sve", "on")], "max,sve") == []                   # a bare property is on
    assert libvirt_flags.lost_flags([], "max") == []


def test_override_lost_flags_by_who_wrote_the_override():
    cpu = "<cpu mode='maximum'><feature policy='require' name='sve256'/></cpu>"
    features = "<pmu state='off'/>"
    # written by hand: nothing was asked, every difference is lost
    hand = domain(cpu=cpu, features=features, commandline=cpu_pair("max,sve256=on,pmu=on"))
    assert libvirt_flags.override_lost_flags(hand) == ["sve=on", "pmu=off"]
    # written before the merge existed: the mark has only qemu-cpu-arg, which was the request
    old = domain(cpu=cpu, features=features, commandline=cpu_pair("max,sve256=on,pmu=on"),
                 metadata=mark("max,sve256=on,pmu=on"))
    assert libvirt_flags.override_lost_flags(old) == ["sve=on"]
    # written with the merge: the request asked for pmu=on, libvirt's sve=on is kept
    merged = domain(cpu=cpu, features=features, commandline=cpu_pair("max,sve256=on,pmu=on,sve=on"),
                    metadata=mark("max,sve256=on,pmu=on,sve=on", "max,sve256=on,pmu=on"))
    assert libvirt_flags.override_lost_flags(merged) == []
    # a mark for another pair than the last one does not speak for the last one
    other = domain(cpu=cpu, features=features,
                   commandline=cpu_pair("max,sve256=on,pmu=on,sve=on") + cpu_pair("max,pmu=on"),
                   metadata=mark("max,sve256=on,pmu=on,sve=on", "max,sve256=on,pmu=on"))
    assert libvirt_flags.override_lost_flags(other) == ["sve256=on", "sve=on", "pmu=off"]
    assert libvirt_flags.override_lost_flags(domain(cpu=cpu, features=features)) is None


def test_running_lost_flags_compare_libvirts_own_cpu_with_the_last():
    live = domain(features="<pmu state='off'/>", commandline=cpu_pair("max,sve256=on"))
    argv = ["qemu-system-aarch64", "-name", "guest=g", "-cpu", "max,sve256=on,sve=on,pmu=off", "-m", "128",
            "-cpu", "max,sve256=on"]
    assert libvirt_flags.running_lost_flags(argv, live) == ["sve=on", "pmu=off"]
    assert libvirt_flags.running_lost_flags(argv[:3] + argv[5:], live) is None    # libvirt wrote no -cpu of its own
    assert libvirt_flags.running_lost_flags(argv, domain(features="<pmu state='off'/>")) is None    # no override
    marked = domain(features="<pmu state='off'/>", commandline=cpu_pair("max,sve256=on"),
                    metadata=mark("max,sve256=on", "max,sve256=on"))
    assert libvirt_flags.running_lost_flags(argv, marked) == ["sve=on", "pmu=off"]
    kept = argv[:-1] + ["max,sve256=on,sve=on,pmu=off"]
    assert libvirt_flags.running_lost_flags(kept, live) == []


def test_flags_copied_onto_the_override_must_be_tokens():
    """Every flag the override copies from the domain is a plain token, or it would add options of its own to QEMU's
    -cpu; the edit gives the <cpu> the request's features, so the guard is met through the override itself."""
    for name, shown in (("a,sve=on", "'a,sve=on=on'"), ("a b", "'a b=on'")):
        xml = domain(cpu="<cpu mode='maximum'><feature policy='require' name='%s'/></cpu>" % name)
        with pytest.raises(domain_xml.DeliveryError) as raised:
            libvirt_flags.commandline_override(xml, "max,sve256=on", name="hv1: domain web1")
        message = str(raised.value)
        assert message.startswith("hv1: domain web1: the domain's XML gives %s for libvirt's own -cpu" % shown)
        assert "plain token" in message
    assert libvirt_flags.commandline_override(domain(features="<pmu state='off'/>"), "max,sve256=on") == \
        "max,sve256=on,pmu=off"
