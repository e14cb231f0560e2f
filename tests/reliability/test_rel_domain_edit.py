"""Editing a domain libvirt has (domain_edit.edit_domain): generated documents keep everything outside <cpu>, the -cpu
pair and armvirt.cpu's mark, canonically (lxml's C14N 2.0 with comments) and byte for byte before <cpu>.

Each document mixes what a hand-edited or foreign domain may hold around the parts edited: comments and processing
instructions at every level, default and prefixed namespaces declared where they are used, a prefix bound twice,
attribute values with '>' '/' quotes and entities, CDATA, a <cpu> with kept children or none, an empty or missing
<metadata> and <qemu:commandline>, other arguments before and after an old -cpu pair, our mark or none.
"""

from hypothesis import given, strategies as st

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import delivery, domain_edit, domain_xml, libvirt_flags
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils.xml_compare import kept_part
from rel_helpers import SETTINGS, assert_ran, count

N_EDITS = 1500
QEMU = domain_xml.QEMU_NS

MISC = st.sampled_from(["", "<!-- c -->", "<!--x > y-->", "<?pi a='>'?>", "\n  ", " text &amp; more ",
                        "<![CDATA[ <cpu/> ]]>"])
ATTR = st.sampled_from(["", " a='x > y'", ' b="it\'s/>"', " c='&lt;&gt;&amp;&quot;'", " d = 'spaced'"])
META_CHILD = st.sampled_from([
    "<app:x xmlns:app='urn:a'/>", "<y xmlns='urn:b'><z/><!-- keep --></y>",
    "<p:q xmlns:p='urn:p'><p:r xmlns:p='urn:other'/></p:q>", "<w xmlns='urn:w'><?w pi?>t</w>"])
CPU = st.sampled_from([
    None, "<cpu mode='maximum'/>", "<cpu mode='host-passthrough' check='none'>\n    <topology sockets='1' "
    "cores='1' threads='1'/>\n    <feature policy='require' name='sve'/>\n  </cpu>",
    "<cpu mode='custom' match='exact'><model fallback='forbid'>cortex-a57</model><!-- in cpu --></cpu>"])
ARG = st.sampled_from(["-msg", "timestamp=on", "-name", "debug-threads=on", "-S"])


@st.composite
def documents(draw):
    parts = ["<domain type='qemu'%s xmlns:qemu='%s'>" % (draw(ATTR), QEMU), draw(MISC), "<name>g</name>",
             draw(MISC)]
    old = "max,sve128=on"
    marked = draw(st.booleans())
    if draw(st.booleans()):
        children = draw(st.lists(st.one_of(META_CHILD, MISC), max_size=4))
        if marked:
            children.insert(draw(st.integers(0, len(children))),
                            "<m:cpu xmlns:m='%s' qemu-cpu-arg='%s'/>" % (domain_xml.MARK_NS, old))
        parts.append("<metadata%s>%s</metadata>" % (draw(ATTR), "".join(children)) if children or draw(
            st.booleans()) else "<metadata/>")
    parts += [draw(MISC), "<features%s><pmu state='off'/></features>" % draw(ATTR)]
    cpu = draw(CPU)
    if cpu:
        parts += [draw(MISC), cpu]
    if draw(st.booleans()):
        args = ["<qemu:arg value='%s'/>" % arg for arg in draw(st.lists(ARG, max_size=4))]
        if marked:
            args.insert(draw(st.integers(0, len(args))), "<qemu:arg value='-cpu'/><qemu:arg value='%s'/>" % old)
        parts.append(draw(st.sampled_from(["<qemu:commandline>%s</qemu:commandline>",
                                           "<commandline xmlns='%s'>%%s</commandline>" % QEMU]))
                     % draw(MISC).join(args))
    parts += [draw(MISC), "<devices><!-- d --></devices>", "</domain>"]
    return "".join(parts)


REQUESTS = st.tuples(st.sampled_from(names.DELIVERIES), st.sampled_from(["maximum", "host-passthrough"]),
                     st.lists(st.sampled_from(["sve", "sve128", "sve256"]), unique=True, max_size=3))


@SETTINGS(N_EDITS)
@given(documents(), REQUESTS)
def test_edits_keep_everything_outside_cpu(document, request):
    count("domain edit")
    delivery_name, mode, feature_names = request
    view = delivery.LibvirtView({"cpu_map_features": ["sve", "sve128", "sve256"]}, False, "hv1", delivery_name)
    plan = delivery.plan([{"name": name} for name in feature_names], None, mode, "hv1", view)
    after = domain_edit.edit_domain(document, plan, "replace")
    assert kept_part(after) == kept_part(document)
    first = min(index for index in (document.find("<cpu"), document.find("<metadata"), document.find("<qemu:c"),
                                    document.find("<commandline"), document.find("</domain>")) if index >= 0)
    assert after.startswith(document[:first].rstrip(" \t\r\n"))   # an element removed takes the blanks before it
    root = domain_xml.parse(after)
    assert root.find("cpu").get("mode") == mode
    assert sorted(feature.get("name") for feature in root.findall("cpu/feature")) == sorted(feature_names)
    pairs = [value for _index, value in domain_xml.cpu_arg_pairs(root)]
    assert pairs == ([libvirt_flags.effective_cpu_arg(after, plan)]
                     if delivery_name == names.QEMU_COMMANDLINE else [])
    again = domain_edit.edit_domain(after, plan)                  # the same request again changes nothing that counts
    assert domain_xml.signature(again) == domain_xml.signature(after) and kept_part(again) == kept_part(after)


def test_domain_edit_count():
    assert_ran("domain edit", N_EDITS)
