"""delivery: what libvirt puts on its own -cpu for a domain, and the qemu-commandline override that keeps it.

The expected -cpu values here are what Debian's libvirt 9.0 printed with `virsh domxml-to-native qemu-argv`
for the same XML (tests/integration/test_domain_cpu.py asks the real daemon again), except the armvtimer timer,
which libvirt accepts only for KVM domains: that one is libvirt's own test data (clock-timer-armvtimer.xml, whose
.aarch64-latest.args has ``-cpu host,kvm-no-adjvtime=on``).
"""

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._guest import delivery
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils.xml_compare import kept_part

SVE_MAP = ("sve", "sve128", "sve256", "sve384", "sve512")


def domain(cpu="<cpu mode='maximum'/>", features="", clock="", commandline="", metadata="", type_="qemu"):
    return ("<domain type='%s' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>g</name>"
            "<memory unit='MiB'>128</memory><vcpu>1</vcpu><os><type arch='aarch64' machine='virt'>hvm</type></os>"
            "%s<features>%s</features>%s<clock offset='utc'>%s</clock><devices/>%s</domain>"
            % (type_, metadata, features, cpu, clock,
               "<qemu:commandline>%s</qemu:commandline>" % commandline if commandline else ""))


def cpu_pair(value):
    return "<qemu:arg value='-cpu'/><qemu:arg value='%s'/>" % value


def mark(qemu_cpu_arg, request_cpu_arg=None):
    extra = " request-cpu-arg='%s'" % request_cpu_arg if request_cpu_arg is not None else ""
    return ("<metadata><armvirtcpu:cpu xmlns:armvirtcpu='%s' delivery='qemu-commandline' qemu-cpu-arg='%s'%s/>"
            "</metadata>" % (delivery.MARK_NS, qemu_cpu_arg, extra))


def plan(features, mode="maximum", model=None, known=SVE_MAP):
    view = delivery.LibvirtView({"cpu_map_features": known}, False, "hv1", delivery.QEMU_COMMANDLINE)
    request = delivery.plan(features, None, mode, "hv1", view, model)
    assert request.errors == []
    return request


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
    assert delivery.libvirt_cpu_arg(xml) == expected
    assert delivery.libvirt_cpu_arg(delivery.parse(xml)) == expected     # XML text or its root element


def test_without_cpu_the_model_is_libvirts_default_but_the_flags_are_known():
    xml = domain(cpu="", features="<pmu state='off'/>")            # libvirt 9.0 here: -cpu cortex-a15,pmu=off
    assert delivery.libvirt_cpu_arg(xml) is None
    assert delivery.libvirt_cpu_flags(xml) == [("pmu", "off")]


def test_the_override_never_reads_qemu_commandline():
    xml = domain(features="<pmu state='off'/>", commandline=cpu_pair("max,pmu=on,kvm=off"))
    assert delivery.libvirt_cpu_flags(xml) == [("pmu", "off")]


def test_merge_puts_the_request_first_and_the_request_wins():
    flags = [("sve256", "on"), ("sve", "on"), ("kvm-no-adjvtime", "on"), ("pmu", "off")]
    assert delivery.merge_cpu_arg("max,sve256=on,sve512=off,pmu=on", flags) == \
        "max,sve256=on,sve512=off,pmu=on,sve=on,kvm-no-adjvtime=on"
    assert delivery.merge_cpu_arg("host,sve256=off", flags) == "host,sve256=off,sve=on,kvm-no-adjvtime=on,pmu=off"
    assert delivery.merge_cpu_arg("max", []) == "max"
    assert delivery.merge_cpu_arg("max,feat_RAS=1.0", flags) == \
        "max,feat_RAS=1.0,sve256=on,sve=on,kvm-no-adjvtime=on,pmu=off"


def test_merge_is_stable_and_settles_after_one_round():
    flags = [("pmu", "off"), ("sve", "on"), ("pmu", "on")]            # a repeated libvirt flag: its first wins
    once = delivery.merge_cpu_arg("max,sve128=on", flags)
    assert once == "max,sve128=on,pmu=off,sve=on"
    assert delivery.merge_cpu_arg(once, flags) == once
    assert all(delivery.merge_cpu_arg("max,sve128=on", list(flags)) == once for _unused in range(3))


def test_split_and_join_are_inverse():
    for arg in ("max", "max,sve=on,pmu", "cortex-a57,feat_RAS=1.0,hw_prop_WRPs=2"):
        assert delivery.join_cpu_arg(*delivery.split_cpu_arg(arg)) == arg
    assert delivery.split_cpu_arg("max,pmu,sve=off") == ("max", [("pmu", None), ("sve", "off")])


def test_lost_flags():
    flags = [("sve", "on"), ("pmu", "off"), ("kvm-no-adjvtime", "on")]
    assert delivery.lost_flags(flags, "max,sve=on,pmu=off,kvm-no-adjvtime=on") == []
    assert delivery.lost_flags(flags, "max,pmu=on") == ["sve=on", "pmu=off", "kvm-no-adjvtime=on"]
    assert delivery.lost_flags(flags, "max,pmu=on", requested_arg="max,pmu=on") == ["sve=on", "kvm-no-adjvtime=on"]
    assert delivery.lost_flags([("sve", "on")], "max,sve") == []                   # a bare property is on
    assert delivery.lost_flags([], "max") == []


def test_edit_domain_writes_the_merged_override_and_records_the_request():
    before = domain(features="<pmu state='off'/><kvm><hidden state='on'/></kvm>",
                    commandline="<qemu:arg value='-msg'/><qemu:arg value='timestamp=on'/>")
    request = plan([{"name": "sve256"}, {"name": "sve512", "value": "off"}, {"name": "feat_RAS", "value": "1.0"}])
    assert request.arg == "max,sve256=on,sve512=off,feat_RAS=1.0"
    after = delivery.edit_domain(before, request)
    root = delivery.parse(after)
    override = "max,sve256=on,sve512=off,feat_RAS=1.0,sve=on,kvm=off,pmu=off"
    assert [pair[1] for pair in delivery.cpu_arg_pairs(root)] == [override]
    assert delivery.marked_arg(root) == override and delivery.marked_request_arg(root) == request.arg
    assert delivery.effective_cpu_arg(after, request) == override
    # libvirt's -cpu for the edited <cpu> is the override minus what only the request has
    assert delivery.libvirt_cpu_arg(root) == "max,sve256=on,sve512=off,sve=on,kvm=off,pmu=off"
    assert delivery.override_lost_flags(root) == []
    # the same request again changes nothing: the mark identifies the pair, the merge settles
    again = delivery.edit_domain(after, request)
    assert delivery.signature(again) == delivery.signature(after) and again == after
    # the request wins over <pmu state='off'/>
    pmu_on = delivery.edit_domain(before, plan([{"name": "pmu", "value": "on"}]))
    assert delivery.cpu_arg_pairs(delivery.parse(pmu_on))[-1][1] == "max,pmu=on,kvm=off"
    assert delivery.override_lost_flags(pmu_on) == []                              # pmu=on was asked for


def test_feature_value_delivery_has_no_override():
    view = delivery.LibvirtView(None, False, "hv1", delivery.FEATURE_VALUE)
    request = delivery.plan([{"name": "sve256"}], None, "maximum", "hv1", view)
    after = delivery.edit_domain(domain(features="<pmu state='off'/>"), request)
    assert delivery.cpu_arg_pairs(delivery.parse(after)) == []
    assert delivery.effective_cpu_arg(after, request) == "max,sve256=on"
    assert delivery.override_lost_flags(after) is None


def test_override_lost_flags_by_who_wrote_the_override():
    cpu = "<cpu mode='maximum'><feature policy='require' name='sve256'/></cpu>"
    features = "<pmu state='off'/>"
    # written by hand: nothing was asked, every difference is lost
    hand = domain(cpu=cpu, features=features, commandline=cpu_pair("max,sve256=on,pmu=on"))
    assert delivery.override_lost_flags(hand) == ["sve=on", "pmu=off"]
    # written before the merge existed: the mark has only qemu-cpu-arg, which was the request
    old = domain(cpu=cpu, features=features, commandline=cpu_pair("max,sve256=on,pmu=on"),
                 metadata=mark("max,sve256=on,pmu=on"))
    assert delivery.override_lost_flags(old) == ["sve=on"]
    # written with the merge: the request asked for pmu=on, libvirt's sve=on is kept
    merged = domain(cpu=cpu, features=features, commandline=cpu_pair("max,sve256=on,pmu=on,sve=on"),
                    metadata=mark("max,sve256=on,pmu=on,sve=on", "max,sve256=on,pmu=on"))
    assert delivery.override_lost_flags(merged) == []
    # a mark for another pair than the last one does not speak for the last one
    other = domain(cpu=cpu, features=features,
                   commandline=cpu_pair("max,sve256=on,pmu=on,sve=on") + cpu_pair("max,pmu=on"),
                   metadata=mark("max,sve256=on,pmu=on,sve=on", "max,sve256=on,pmu=on"))
    assert delivery.override_lost_flags(other) == ["sve256=on", "sve=on", "pmu=off"]
    assert delivery.override_lost_flags(domain(cpu=cpu, features=features)) is None


def test_running_lost_flags_compare_libvirts_own_cpu_with_the_last():
    live = domain(features="<pmu state='off'/>", commandline=cpu_pair("max,sve256=on"))
    argv = ["qemu-system-aarch64", "-name", "guest=g", "-cpu", "max,sve256=on,sve=on,pmu=off", "-m", "128",
            "-cpu", "max,sve256=on"]
    assert delivery.running_lost_flags(argv, live) == ["sve=on", "pmu=off"]
    assert delivery.running_lost_flags(argv[:3] + argv[5:], live) is None    # libvirt wrote no -cpu of its own
    assert delivery.running_lost_flags(argv, domain(features="<pmu state='off'/>")) is None    # no override
    marked = domain(features="<pmu state='off'/>", commandline=cpu_pair("max,sve256=on"),
                    metadata=mark("max,sve256=on", "max,sve256=on"))
    assert delivery.running_lost_flags(argv, marked) == ["sve=on", "pmu=off"]
    kept = argv[:-1] + ["max,sve256=on,sve=on,pmu=off"]
    assert delivery.running_lost_flags(kept, live) == []


def test_signature_adds_the_sve_libvirt_adds_for_any_vector_length():
    """libvirt 9.0 stores <feature policy='require' name='sve'/> after any sveN feature, whatever its policy, so a
    check-mode prediction must not see a change where a real define would store the same."""
    for policy in ("require", "optional", "disable", "forbid"):
        ours = domain(cpu="<cpu mode='maximum'><feature policy='%s' name='sve512'/></cpu>" % policy)
        stored = domain(cpu="<cpu mode='maximum'><feature policy='%s' name='sve512'/><feature policy='require' "
                            "name='sve'/></cpu>" % policy)
        assert delivery.signature(ours) == delivery.signature(stored), policy


# --- edits keep the document: everything outside <cpu>, the -cpu pair and the mark, byte for byte or canonically -

KEPT_METADATA = ("<metadata><app:x xmlns:app='urn:a'/><y xmlns='urn:b'><z/></y><!-- keep -->"
                 "<?app-pi keep me?></metadata>")


@pytest.mark.parametrize("delivery_name", delivery.DELIVERIES)
def test_edits_keep_comments_pis_and_namespaces_outside_cpu(delivery_name):
    before = ("<?xml version='1.0'?>\n<!-- before the domain -->\n" + domain(
        cpu="<cpu mode='host-passthrough' check='none'><topology sockets='1' cores='1' threads='1'/>"
            "<feature policy='require' name='sve'/></cpu>",
        metadata=KEPT_METADATA, commandline="<qemu:arg value='-msg'/><qemu:arg value='timestamp=on'/>")
        .replace("<devices/>", "<devices><!-- in devices --><?pi x?></devices>") + "\n<!-- after -->\n")
    view = delivery.LibvirtView({"cpu_map_features": SVE_MAP}, False, "hv1", delivery_name)
    request = delivery.plan([{"name": "sve256"}], None, "maximum", "hv1", view)
    after = delivery.edit_domain(before, request)
    assert kept_part(after) == kept_part(before)
    # not only canonically: outside the edited elements each byte is where it was
    metadata_end = before.index("<!-- keep -->")
    head, middle = before[:metadata_end], before[metadata_end:before.index("<cpu")]
    pair = "" if delivery_name == delivery.FEATURE_VALUE else \
        '<qemu:arg value="-cpu" /><qemu:arg value="max,sve256=on,sve=on" />'
    tail = "<qemu:arg value='timestamp=on'/>%s</qemu:commandline></domain>\n<!-- after -->\n" % pair
    assert after.startswith(head) and middle in after and after.endswith(tail)
    assert "<y xmlns='urn:b'><z/></y>" in after and "ns0:" not in after and "ns1:" not in after
    root = delivery.parse(after)
    assert [(f.get("name"), f.get("policy")) for f in root.find("cpu").findall("feature")] == [("sve256", "require")]
    assert root.find("cpu/topology") is not None and root.find("cpu").get("mode") == "maximum"
    # and back: the override and its mark go, the rest is still the first document's
    back = delivery.edit_domain(after, delivery.plan([], None, "maximum", "hv1", delivery.LibvirtView(
        None, False, "hv1", delivery.FEATURE_VALUE)))
    assert kept_part(back) == kept_part(before) and delivery.cpu_arg_pairs(delivery.parse(back)) == []


def test_kept_part_sees_what_reserialising_loses():
    """The comparison above fails for ElementTree's whole-document serialisation, which edits used to be."""
    before = domain(metadata=KEPT_METADATA)
    assert kept_part(delivery.serialise(delivery.parse(before))) != kept_part(before)


def test_the_pair_is_replaced_among_other_arguments_in_their_order():
    request = plan([{"name": "sve256"}])
    ours = "max,sve128=on,sve=on"
    before = domain(commandline="<qemu:arg value='-msg'/>" + cpu_pair(ours) + "<qemu:arg value='-name'/>"
                    "<qemu:arg value='debug-threads=on'/>", metadata=mark(ours, "max,sve128=on"))
    after = delivery.edit_domain(before, request)
    args = [arg.get("value") for arg in delivery.parse(after).find("{%s}commandline" % delivery.QEMU_NS)]
    assert args == ["-msg", "-name", "debug-threads=on", "-cpu", "max,sve256=on,sve=on"]
    assert kept_part(after) == kept_part(before)
    # a <metadata> that held only the mark goes with it; one with anything else stays
    plain = delivery.plan([], None, "maximum", "hv1", delivery.LibvirtView(None, False, "hv1",
                                                                           delivery.FEATURE_VALUE))
    assert "<metadata" not in delivery.edit_domain(after, plain)
    commented = after.replace("<metadata>", "<metadata><!-- mine -->")
    assert "<metadata><!-- mine --></metadata>" in delivery.edit_domain(commented, plain)


def test_a_default_qemu_namespace_and_other_prefixes_are_kept():
    before = ("<domain type='qemu'><name>g</name><metadata><m:x xmlns:m='urn:m'/></metadata><cpu mode='maximum'/>"
              "<commandline xmlns='%s'><arg value='-msg'/><arg value='timestamp=on'/></commandline></domain>"
              % delivery.QEMU_NS)
    after = delivery.edit_domain(before, plan([{"name": "sve256"}]))
    assert "<commandline xmlns='%s'><arg value='-msg'/><arg value='timestamp=on'/>" % delivery.QEMU_NS in after
    assert [pair[1] for pair in delivery.cpu_arg_pairs(delivery.parse(after))] == ["max,sve256=on,sve=on"]
    assert kept_part(after) == kept_part(before)


def test_flags_copied_onto_the_override_must_be_tokens():
    """Every flag the override copies from the domain is a plain token, or it would add options of its own to QEMU's
    -cpu; the edit gives the <cpu> the request's features, so the guard is met through the override itself."""
    for name, shown in (("a,sve=on", "'a,sve=on=on'"), ("a b", "'a b=on'")):
        xml = domain(cpu="<cpu mode='maximum'><feature policy='require' name='%s'/></cpu>" % name)
        with pytest.raises(delivery.DeliveryError) as raised:
            delivery.commandline_override(xml, "max,sve256=on", name="hv1: domain web1")
        message = str(raised.value)
        assert message.startswith("hv1: domain web1: the domain's XML gives %s for libvirt's own -cpu" % shown)
        assert "plain token" in message
    assert delivery.commandline_override(domain(features="<pmu state='off'/>"), "max,sve256=on") == \
        "max,sve256=on,pmu=off"


@pytest.mark.parametrize("hyperv", ["<hyperv><relaxed state='on'/></hyperv>",
                                    "<hyperv mode='passthrough'><relaxed state='on'/></hyperv>",
                                    "<hyperv><vendor_id state='on' value='a,sve=on'/></hyperv>"])
def test_hyperv_is_refused_for_the_override_with_the_reason(hyperv):
    """Hyper-V enlightenments have no meaning for QEMU's Arm CPU (QEMU refuses hv-* at start, and libvirt 9.0 and
    11.3 put different hv-* on the -cpu): the override refuses such a domain and says why; feature-value writes no
    override and leaves the domain's <features> to libvirt."""
    before = domain(features=hyperv)
    with pytest.raises(delivery.DeliveryError) as raised:
        delivery.edit_domain(before, plan([{"name": "sve256"}]), name="hv1: domain web1")
    message = str(raised.value)
    assert message.startswith("hv1: domain web1: the domain has <features><hyperv>, Hyper-V enlightenments, which "
                              "QEMU's Arm CPU does not have")
    assert "Remove <hyperv> from the domain's <features>" in message
    assert delivery.libvirt_cpu_flags(before) == []
    view = delivery.LibvirtView(None, False, "hv1", delivery.FEATURE_VALUE)
    assert delivery.cpu_arg_pairs(delivery.parse(delivery.edit_domain(
        before, delivery.plan([{"name": "sve256"}], None, "maximum", "hv1", view)))) == []


def test_environment_entries_among_the_arguments_are_kept_and_the_right_pair_goes():
    """cpu_arg_pairs counts <qemu:arg> elements; a <qemu:env> before them must not shift what is removed."""
    request = plan([{"name": "sve256"}])
    before = domain(commandline="<qemu:env name='A' value='1'/>" + cpu_pair("max,pmu=off")
                    + "<qemu:arg value='-msg'/><qemu:arg value='timestamp=on'/>")
    after = delivery.edit_domain(before, request, unmarked="replace")
    commandline = delivery.parse(after).find("{%s}commandline" % delivery.QEMU_NS)
    assert [(element.tag.rpartition("}")[2], element.get("value")) for element in commandline] == [
        ("env", "1"), ("arg", "-msg"), ("arg", "timestamp=on"), ("arg", "-cpu"), ("arg", "max,sve256=on,sve=on")]


def test_a_cpu_option_given_as_the_value_of_another_is_one_pair():
    """QEMU reads ``-cpu -cpu max`` as -cpu with the value -cpu, then max: one pair, and the edit does not fail."""
    before = domain(commandline="<qemu:arg value='-cpu'/><qemu:arg value='-cpu'/><qemu:arg value='max'/>")
    assert delivery.cpu_arg_pairs(delivery.parse(before)) == [(0, "-cpu")]
    after = delivery.edit_domain(before, plan([{"name": "sve256"}]), unmarked="replace")
    commandline = delivery.parse(after).find("{%s}commandline" % delivery.QEMU_NS)
    assert [element.get("value") for element in commandline] == ["max", "-cpu", "max,sve256=on,sve=on"]


def test_an_element_made_by_an_entity_is_refused_cleanly():
    before = ("<!DOCTYPE domain [<!ENTITY c '<cpu/>'>]><domain type='qemu'><name>g</name>&c;</domain>")
    with pytest.raises(delivery.DeliveryError, match="cannot be parsed|cannot be edited"):
        delivery.edit_domain(before, plan([{"name": "sve256"}]), name="hv1: domain g")
