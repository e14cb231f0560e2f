"""domain_edit: a domain libvirt has, edited in place for a planned request, every other byte kept."""

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import delivery, domain_edit, domain_xml
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import libvirt_flags
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils.domain_samples import SVE_MAP, cpu_pair, domain
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils.domain_samples import mark, plan
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils.xml_compare import kept_part


def test_edit_domain_writes_the_merged_override_and_records_the_request():
    before = domain(features="<pmu state='off'/><kvm><hidden state='on'/></kvm>",
                    commandline="<qemu:arg value='-msg'/><qemu:arg value='timestamp=on'/>")
    request = plan([{"name": "sve256"}, {"name": "sve512", "value": "off"}, {"name": "feat_RAS", "value": "1.0"}])
    assert request.arg == "max,sve256=on,sve512=off,feat_RAS=1.0"
    after = domain_edit.edit_domain(before, request)
    root = domain_xml.parse(after)
    override = "max,sve256=on,sve512=off,feat_RAS=1.0,sve=on,kvm=off,pmu=off"
    assert [pair[1] for pair in domain_xml.cpu_arg_pairs(root)] == [override]
    assert domain_xml.marked_arg(root) == override and domain_xml.marked_request_arg(root) == request.arg
    assert libvirt_flags.effective_cpu_arg(after, request) == override
    # libvirt's -cpu for the edited <cpu> is the override minus what only the request has
    assert libvirt_flags.libvirt_cpu_arg(root) == "max,sve256=on,sve512=off,sve=on,kvm=off,pmu=off"
    assert libvirt_flags.override_lost_flags(root) == []
    # the same request again changes nothing: the mark identifies the pair, the merge settles
    again = domain_edit.edit_domain(after, request)
    assert domain_xml.signature(again) == domain_xml.signature(after) and again == after
    # the request wins over <pmu state='off'/>
    pmu_on = domain_edit.edit_domain(before, plan([{"name": "pmu", "value": "on"}]))
    assert domain_xml.cpu_arg_pairs(domain_xml.parse(pmu_on))[-1][1] == "max,pmu=on,kvm=off"
    assert libvirt_flags.override_lost_flags(pmu_on) == []                              # pmu=on was asked for


def test_feature_value_delivery_has_no_override():
    view = delivery.LibvirtView(None, False, "hv1", names.FEATURE_VALUE)
    request = delivery.plan([{"name": "sve256"}], None, "maximum", "hv1", view)
    after = domain_edit.edit_domain(domain(features="<pmu state='off'/>"), request)
    assert domain_xml.cpu_arg_pairs(domain_xml.parse(after)) == []
    assert libvirt_flags.effective_cpu_arg(after, request) == "max,sve256=on"
    assert libvirt_flags.override_lost_flags(after) is None


KEPT_METADATA = ("<metadata><app:x xmlns:app='urn:a'/><y xmlns='urn:b'><z/></y><!-- keep -->"
                 "<?app-pi keep me?></metadata>")


@pytest.mark.parametrize("delivery_name", names.DELIVERIES)
def test_edits_keep_comments_pis_and_namespaces_outside_cpu(delivery_name):
    before = ("<?xml version='1.0'?>\n<!-- before the domain -->\n" + domain(
        cpu="<cpu mode='host-passthrough' check='none'><topology sockets='1' cores='1' threads='1'/>"
            "<feature policy='require' name='sve'/></cpu>",
        metadata=KEPT_METADATA, commandline="<qemu:arg value='-msg'/><qemu:arg value='timestamp=on'/>")
        .replace("<devices/>", "<devices><!-- in devices --><?pi x?></devices>") + "\n<!-- after -->\n")
    view = delivery.LibvirtView({"cpu_map_features": SVE_MAP}, False, "hv1", delivery_name)
    request = delivery.plan([{"name": "sve256"}], None, "maximum", "hv1", view)
    after = domain_edit.edit_domain(before, request)
    assert kept_part(after) == kept_part(before)
    # not only canonically: outside the edited elements each byte is where it was
    metadata_end = before.index("<!-- keep -->")
    head, middle = before[:metadata_end], before[metadata_end:before.index("<cpu")]
    pair = "" if delivery_name == names.FEATURE_VALUE else \
        '<qemu:arg value="-cpu" /><qemu:arg value="max,sve256=on,sve=on" />'
    tail = "<qemu:arg value='timestamp=on'/>%s</qemu:commandline></domain>\n<!-- after -->\n" % pair
    assert after.startswith(head) and middle in after and after.endswith(tail)
    assert "<y xmlns='urn:b'><z/></y>" in after and "ns0:" not in after and "ns1:" not in after
    root = domain_xml.parse(after)
    assert [(f.get("name"), f.get("policy")) for f in root.find("cpu").findall("feature")] == [("sve256", "require")]
    assert root.find("cpu/topology") is not None and root.find("cpu").get("mode") == "maximum"
    # and back: the override and its mark go, the rest is still the first document's
    back = domain_edit.edit_domain(after, delivery.plan([], None, "maximum", "hv1", delivery.LibvirtView(
        None, False, "hv1", names.FEATURE_VALUE)))
    assert kept_part(back) == kept_part(before) and domain_xml.cpu_arg_pairs(domain_xml.parse(back)) == []


def test_kept_part_sees_what_reserialising_loses():
    """The comparison above fails for ElementTree's whole-document serialisation, which edits used to be."""
    before = domain(metadata=KEPT_METADATA)
    assert kept_part(domain_xml.serialise(domain_xml.parse(before))) != kept_part(before)


def test_the_pair_is_replaced_among_other_arguments_in_their_order():
    request = plan([{"name": "sve256"}])
    ours = "max,sve128=on,sve=on"
    before = domain(commandline="<qemu:arg value='-msg'/>" + cpu_pair(ours) + "<qemu:arg value='-name'/>"
                    "<qemu:arg value='debug-threads=on'/>", metadata=mark(ours, "max,sve128=on"))
    after = domain_edit.edit_domain(before, request)
    args = [arg.get("value") for arg in domain_xml.parse(after).find("{%s}commandline" % domain_xml.QEMU_NS)]
    assert args == ["-msg", "-name", "debug-threads=on", "-cpu", "max,sve256=on,sve=on"]
    assert kept_part(after) == kept_part(before)
    # a <metadata> that held only the mark goes with it; one with anything else stays
    plain = delivery.plan([], None, "maximum", "hv1", delivery.LibvirtView(None, False, "hv1",
                                                                           names.FEATURE_VALUE))
    assert "<metadata" not in domain_edit.edit_domain(after, plain)
    commented = after.replace("<metadata>", "<metadata><!-- mine -->")
    assert "<metadata><!-- mine --></metadata>" in domain_edit.edit_domain(commented, plain)


def test_a_default_qemu_namespace_and_other_prefixes_are_kept():
    before = ("<domain type='qemu'><name>g</name><metadata><m:x xmlns:m='urn:m'/></metadata><cpu mode='maximum'/>"
              "<commandline xmlns='%s'><arg value='-msg'/><arg value='timestamp=on'/></commandline></domain>"
              % domain_xml.QEMU_NS)
    after = domain_edit.edit_domain(before, plan([{"name": "sve256"}]))
    assert "<commandline xmlns='%s'><arg value='-msg'/><arg value='timestamp=on'/>" % domain_xml.QEMU_NS in after
    assert [pair[1] for pair in domain_xml.cpu_arg_pairs(domain_xml.parse(after))] == ["max,sve256=on,sve=on"]
    assert kept_part(after) == kept_part(before)


@pytest.mark.parametrize("hyperv", ["<hyperv><relaxed state='on'/></hyperv>",
                                    "<hyperv mode='passthrough'><relaxed state='on'/></hyperv>",
                                    "<hyperv><vendor_id state='on' value='a,sve=on'/></hyperv>"])
def test_hyperv_is_refused_for_the_override_with_the_reason(hyperv):
    """Hyper-V enlightenments have no meaning for QEMU's Arm CPU (QEMU refuses hv-* at start, and libvirt 9.0 and
    11.3 put different hv-* on the -cpu): the override refuses such a domain and says why; feature-value writes no
    override and leaves the domain's <features> to libvirt."""
    before = domain(features=hyperv)
    with pytest.raises(domain_xml.DeliveryError) as raised:
        domain_edit.edit_domain(before, plan([{"name": "sve256"}]), name="hv1: domain web1")
    message = str(raised.value)
    assert message.startswith("hv1: domain web1: the domain has <features><hyperv>, Hyper-V enlightenments, which "
                              "QEMU's Arm CPU does not have")
    assert "Remove <hyperv> from the domain's <features>" in message
    assert libvirt_flags.libvirt_cpu_flags(before) == []
    view = delivery.LibvirtView(None, False, "hv1", names.FEATURE_VALUE)
    assert domain_xml.cpu_arg_pairs(domain_xml.parse(domain_edit.edit_domain(
        before, delivery.plan([{"name": "sve256"}], None, "maximum", "hv1", view)))) == []


def test_environment_entries_among_the_arguments_are_kept_and_the_right_pair_goes():
    """cpu_arg_pairs counts <qemu:arg> elements; a <qemu:env> before them must not shift what is removed."""
    request = plan([{"name": "sve256"}])
    before = domain(commandline="<qemu:env name='A' value='1'/>" + cpu_pair("max,pmu=off")
                    + "<qemu:arg value='-msg'/><qemu:arg value='timestamp=on'/>")
    after = domain_edit.edit_domain(before, request, unmarked="replace")
    commandline = domain_xml.parse(after).find("{%s}commandline" % domain_xml.QEMU_NS)
    assert [(element.tag.rpartition("}")[2], element.get("value")) for element in commandline] == [
        ("env", "1"), ("arg", "-msg"), ("arg", "timestamp=on"), ("arg", "-cpu"), ("arg", "max,sve256=on,sve=on")]


def test_a_cpu_option_given_as_the_value_of_another_is_one_pair():
    """QEMU reads ``-cpu -cpu max`` as -cpu with the value -cpu, then max: one pair, and the edit does not fail."""
    before = domain(commandline="<qemu:arg value='-cpu'/><qemu:arg value='-cpu'/><qemu:arg value='max'/>")
    assert domain_xml.cpu_arg_pairs(domain_xml.parse(before)) == [(0, "-cpu")]
    after = domain_edit.edit_domain(before, plan([{"name": "sve256"}]), unmarked="replace")
    commandline = domain_xml.parse(after).find("{%s}commandline" % domain_xml.QEMU_NS)
    assert [element.get("value") for element in commandline] == ["max", "-cpu", "max,sve256=on,sve=on"]


def test_an_element_made_by_an_entity_is_refused_cleanly():
    before = ("<!DOCTYPE domain [<!ENTITY c '<cpu/>'>]><domain type='qemu'><name>g</name>&c;</domain>")
    with pytest.raises(domain_xml.DeliveryError, match="cannot be parsed|cannot be edited"):
        domain_edit.edit_domain(before, plan([{"name": "sve256"}]), name="hv1: domain g")
