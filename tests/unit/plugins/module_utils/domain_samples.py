"""Domain XML and planned requests for the tests of the guest side's domain modules (domain_xml, libvirt_flags,
domain_edit)."""

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import delivery, domain_xml

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
            "</metadata>" % (domain_xml.MARK_NS, qemu_cpu_arg, extra))


def plan(features, mode="maximum", model=None, known=SVE_MAP):
    view = delivery.LibvirtView({"cpu_map_features": known}, False, "hv1", names.QEMU_COMMANDLINE)
    request = delivery.plan(features, None, mode, "hv1", view, model)
    assert request.errors == []
    return request
