#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: domain_cpu_info
short_description: Report the CPU of libvirt guests -- defined, running, and whether it matches a policy
version_added: 0.1.0
description:
  - For every domain at O(uri) (or only O(name)), reports its state, the C(<cpu>) (and C(<qemu:commandline>)) it is
    defined with, the C(-cpu) QEMU gets at its next boot and, for a running domain, the C(-cpu) its QEMU runs with.
  - The next boot's C(-cpu) is libvirt's own translation of the inactive XML (C(virsh domxml-to-native qemu-argv)),
    last C(-cpu) taken, as QEMU does. libvirt's refusals (for example "unknown CPU feature") are reported in
    RV(domains[].next_boot_error).
  - The running C(-cpu) is read from the QEMU process itself, C(/proc/PID/cmdline) (pids from libvirt's pid files,
    the command line must carry the domain's C(-uuid)), because with a C(<qemu:commandline>) override the live XML
    shows C(<cpu>) but QEMU took the last C(-cpu). Where C(/proc) cannot be read (a remote URI) it falls back to
    libvirt's translation of the live XML and says so in RV(domains[].running_source).
  - With O(policy), RV(domains[].matches_policy) tells whether M(armvirt.cpu.domain_cpu) would leave the domain as it
    is -- the same edit and the same comparison as that module's check mode.
  - QEMU takes the last C(-cpu) whole, so a C(<qemu:commandline>) override drops what libvirt puts on its own
    C(-cpu) for the domain (C(pmu=off) from C(<features><pmu state='off'/>), C(kvm-no-adjvtime) from the
    C(armvtimer) timer, C(sve=on) for vector lengths) unless it carries it, as the overrides this collection writes
    do. RV(domains[].override_lost_flags) lists what the defined override loses, and
    RV(domains[].override_lost_flags_running) what the running QEMU lost, read from its command line (libvirt's own
    C(-cpu) comes first there). A property the recorded request set itself is not lost, it won.
  - Never changes anything.
author:
  - armvirt.cpu maintainers (@armvirt)
extends_documentation_fragment:
  - armvirt.cpu.host_python
  - armvirt.cpu.libvirt_domain
  - armvirt.cpu.host_name
  - armvirt.cpu.host_props
  - armvirt.cpu.attributes
  - armvirt.cpu.attributes.info_module
options:
  name:
    description:
      - Only the domain with exactly this name (never taken as a domain id or UUID, as C(virsh) would); all domains
        when omitted. A name that is not defined fails the task.
      - Domains are listed by UUID (C(virsh list --all --uuid), libvirt-python's C(listAllDomains)) and addressed by
        it, so a name with spaces, commas or leading blanks is reported as libvirt has it.
    type: str
  policy:
    description:
      - A guest CPU policy to compare against, C({features, mode, model, delivery, description}) as for
        M(armvirt.cpu.domain_cpu) (C(mode) default V(host-passthrough), C(delivery) default V(feature-value)), for
        example a policy file that M(armvirt.cpu.fleet_state) writes or the role reads, or the recommendation of
        P(armvirt.cpu.fleet_recommend#filter), as it is.
      - It is checked as P(armvirt.cpu.cpu_policy_errors#filter) checks a policy, its features against O(props)
        when given; a broken policy fails the task.
    type: dict
  props:
    description:
      - The host's C(arm_cpu_props) fact or a baseline, to check O(policy) and write its values in the host's
        spelling (C(0x2) is C(2)) before comparing. Without it values are compared as written.
    type: dict
  emulator:
    description:
      - The configured emulator, trusted besides those libvirt's capabilities list, as the O(emulator) of
        M(armvirt.cpu.domain_cpu); RV(domains[].emulator_refusal) tells which domains that module would refuse.
    type: path
    default: /usr/bin/qemu-system-aarch64
notes:
  - The playbook C(armvirt.cpu.apply) uses it for its drift report.
  - This module starts no emulator. It reports, per domain, whether M(armvirt.cpu.domain_cpu) would trust the
    domain's C(<emulator>) (RV(domains[].emulator_refusal)) instead of failing, so that one guest defined with an
    untrusted emulator does not hide the others from the report.
seealso:
  - module: armvirt.cpu.domain_cpu
  - module: armvirt.cpu.guest_domains
  - module: armvirt.cpu.libvirt_facts
"""

EXAMPLES = r"""
- name: Every guest's CPU on this host
  armvirt.cpu.domain_cpu_info:
  register: cpu_info

- name: Guests that drift from the pool's policy
  armvirt.cpu.domain_cpu_info:
    policy:
      mode: maximum
      delivery: qemu-commandline
      features: [{name: sve256}, {name: sve128, value: "off"}]
  register: cpu_info

- name: Show them
  ansible.builtin.debug:
    msg: "{{ cpu_info.domains | rejectattr('matches_policy') | map(attribute='name') | list }}"
"""

RETURN = r"""
domains:
  description: One entry per domain, sorted by name.
  returned: always
  type: list
  sample:
    - name: web1
      uuid: 4dea22b3-1d52-d8f3-2516-782e98ab3fa0
      state: running
      active: true
      emulator: /usr/bin/qemu-system-aarch64
      emulator_refusal: null
      cpu_xml: <cpu mode='maximum' check='none'/>
      qemu_cpu_arg_next: max,sve256=on,sve512=off,sve=on,pmu=off
      next_boot_error: null
      qemu_cpu_arg: max,sve256=on,sve512=off
      running_source: proc
      restart_pending: true
      armvirt_cpu_arg: max,sve256=on,sve512=off,sve=on,pmu=off
      override_lost_flags: []
      override_lost_flags_running: [sve=on, pmu=off]
      matches_policy: true
      policy_cpu_arg: max,sve256=on,sve512=off,sve=on,pmu=off
  elements: dict
  contains:
    name:
      description: The domain's name.
      type: str
    uuid:
      description: The domain's UUID, by which it was read; M(armvirt.cpu.domain_cpu) takes it as
        O(armvirt.cpu.domain_cpu#module:uuid).
      type: str
    state:
      description: Its state as C(virsh domstate) words it (V(running), V(shut off), V(paused), ...).
      type: str
    active:
      description: Whether a QEMU runs for it.
      type: bool
    emulator:
      description: The domain's emulator (C(<devices><emulator>) of its inactive XML).
      type: str
      sample: /usr/bin/qemu-system-aarch64
    emulator_refusal:
      description:
        - Why M(armvirt.cpu.domain_cpu) would refuse to run the domain's emulator to confirm a CPU -- it is neither
          O(emulator) nor listed in libvirt's capabilities for aarch64 guests of the domain's type, or its file or a
          directory on the way could be changed by someone other than root or the user running the module
          (C(docs/existing-guests.md)); the sentence names the host, the domain and the emulator.
        - Null when it would be trusted, or when the domain's type is neither V(kvm) nor V(qemu) (nothing is
          confirmed then).
      type: str
      sample: null
    cpu_xml:
      description: The defined C(<cpu>) and C(<qemu:commandline>), from libvirt's inactive XML.
      type: str
      sample: "<cpu mode='maximum' check='none'/>"
    qemu_cpu_arg_next:
      description: The C(-cpu) QEMU gets at the next boot (libvirt's translation); null when libvirt refuses it.
      type: str
      sample: max,sve=on,sve256=on
    next_boot_error:
      description: Why libvirt cannot translate the definition (for example an unknown CPU feature); null otherwise.
      type: str
    qemu_cpu_arg:
      description: The C(-cpu) the running QEMU took (the last one on its command line); null when not running.
      type: str
    running_source:
      description: V(proc) (the QEMU process's command line), V(live-xml) (libvirt's translation of the live XML) or
        null when not running.
      type: str
    restart_pending:
      description: Running with another C(-cpu) than the next boot gives it.
      type: bool
    armvirt_cpu_arg:
      description: The C(-cpu) value M(armvirt.cpu.domain_cpu) recorded when it wrote a C(<qemu:commandline>)
        override; null otherwise.
      type: str
    override_lost_flags:
      description:
        - What libvirt would put on its own C(-cpu) for the defined domain (from C(<cpu>) features, C(<features>)
          C(pmu), C(kvm) and C(hyperv), the C(armvtimer), C(kvmclock) and C(tsc) timers) that the last C(-cpu) of
          its C(<qemu:commandline>) lacks or sets to another value, as C(name=value) with libvirt's value.
        - A property the request recorded with the override by M(armvirt.cpu.domain_cpu) or the role sets is left
          out (the request won there); for an override nobody recorded, every difference is listed.
        - An empty list when the override keeps them all; null when the domain has no C(-cpu) override.
        - M(armvirt.cpu.domain_cpu) with C(delivery=qemu-commandline) writes an override that keeps them.
      type: list
      elements: str
      sample: [pmu=off]
    override_lost_flags_running:
      description:
        - The same for the running QEMU, from its command line (RV(domains[].running_source)) -- libvirt's own
          C(-cpu), the first one, against the last one, which QEMU took; the request recorded in the live XML is
          left out.
        - Null when the domain is not running or its command line has no C(-cpu) besides the override.
      type: list
      elements: str
      sample: [sve=on, pmu=off]
    matches_policy:
      description: Whether the definition already is what O(policy) gives (returned with O(policy) only).
      type: bool
    policy_cpu_arg:
      description: The C(-cpu) value of O(policy) for this domain (returned with O(policy) only); with
        C(delivery=qemu-commandline) the override M(armvirt.cpu.domain_cpu) would write, the policy merged with what
        libvirt puts on its own C(-cpu) for the domain.
      type: str
backend:
  description: How libvirt was reached, V(libvirt-python) or V(virsh).
  returned: success
  type: str
  sample: libvirt-python
"""

import shlex

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import confirm, delivery, domain_edit, domain_xml
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import libvirt_flags, policy
from ansible_collections.armvirt.cpu.plugins.module_utils._host import emulator_trust
from ansible_collections.armvirt.cpu.plugins.module_utils._host import hostid
from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps, domain
from ansible_collections.armvirt.cpu.plugins.module_utils._argspec import domain_cpu_info_argument_spec


def policy_plan(module, host):
    """The policy (``policy``) as a delivery plan (libvirt refusals off: the question is what the domain has,
    not what may be written), or fail_json with every problem; its features are checked by the plan, as records."""
    try:
        parsed = policy.read(module.params["policy"], "%s: policy" % host, features=False)
    except policy.PolicyError as exc:
        module.fail_json(msg=str(exc))
    chosen = parsed.delivery or names.FEATURE_VALUE
    fact = caps.gather(module.run_command, uri=module.params["uri"], ask_daemon=False)
    view = delivery.LibvirtView(fact, False, host, chosen)
    request = delivery.plan(parsed.features, module.params["props"], parsed.mode or names.DEFAULT_MODE, host,
                            view, parsed.model, own=module.params["host_props"])
    if request.errors:
        module.fail_json(msg="%s: the policy has %d problem(s):\n%s" % (
            host, len(request.errors), "\n".join("- " + error.message for error in request.errors)),
            errors=[error.as_dict() for error in request.errors])
    return request


def native_argv(conn, xml):
    """``(argv, error)``: libvirt's own translation of ``xml`` to a QEMU command line, as a list."""
    try:
        return shlex.split(conn.to_native(xml)), None
    except domain.LibvirtError as exc:
        return None, str(exc)


class Trust(object):
    """Whether armvirt.cpu.domain_cpu would run a domain's emulator to confirm a CPU (``emulator_trust``, the same
    check and the same trusted emulators: the configured one and those libvirt's capabilities list, read once)."""

    def __init__(self, conn, configured, host):
        self.conn, self.configured, self.host, self.caps = conn, configured, host, None

    def refusal(self, name, defined_xml):
        """``(emulator, refusal)``: the domain's emulator and why it would be refused, None when it would be run or
        when the domain's type (neither kvm nor qemu) means nothing is confirmed."""
        emulator, accel, kind = confirm.domain_target(defined_xml)
        if accel is None:
            return emulator, None
        if self.caps is None:
            self.caps = self.conn.capabilities()
        try:
            emulator_trust.require(emulator, [self.configured] + emulator_trust.listed(self.caps, kind))
        except (emulator_trust.UntrustedEmulator, emulator_trust.CapabilitiesError) as exc:
            return emulator, "%s: domain %s: armvirt.cpu.domain_cpu would not run its emulator %s: %s" % (
                self.host, name, emulator, getattr(exc, "reason", exc))
        return emulator, None


def describe(conn, uri, uuid, name, request, trust):
    defined = conn.inactive_xml(uuid)
    state = conn.state(uuid)
    active = domain.is_active(state)
    root = domain_xml.parse(defined)
    emulator, refusal = trust.refusal(name, defined)
    entry = dict(name=name, uuid=uuid, state=state, active=active, cpu_xml=domain_xml.cpu_xml(defined),
                 emulator=emulator, emulator_refusal=refusal,
                 armvirt_cpu_arg=domain_xml.marked_arg(root), qemu_cpu_arg=None, running_source=None,
                 restart_pending=False, override_lost_flags=libvirt_flags.override_lost_flags(root),
                 override_lost_flags_running=None)
    argv, entry["next_boot_error"] = native_argv(conn, defined)
    entry["qemu_cpu_arg_next"] = libvirt_flags.last_cpu_arg(argv) if argv is not None else None
    if active:
        live = conn.live_xml(uuid)
        argv = domain.running_argv(uri, uuid)[0]
        entry["running_source"] = "proc"
        if argv is None:
            argv, entry["running_source"] = native_argv(conn, live)[0], "live-xml"
        if argv is not None:
            entry["qemu_cpu_arg"] = libvirt_flags.last_cpu_arg(argv)
            entry["override_lost_flags_running"] = libvirt_flags.running_lost_flags(argv, live)
        entry["restart_pending"] = (entry["qemu_cpu_arg"] is not None and entry["qemu_cpu_arg_next"] is not None
                                    and entry["qemu_cpu_arg"] != entry["qemu_cpu_arg_next"])
    if request is not None:
        try:
            wanted = domain_edit.edit_domain(defined, request, "replace", name)
            entry["matches_policy"] = domain_xml.signature(wanted) == domain_xml.signature(defined)
            entry["policy_cpu_arg"] = libvirt_flags.effective_cpu_arg(wanted, request)
        except domain_xml.DeliveryError:
            entry["matches_policy"] = False
            entry["policy_cpu_arg"] = request.arg
    return entry


def main():
    module = domain_cpu_info_argument_spec().create_ansible_module(supports_check_mode=True)
    params = module.params
    host = hostid.label(params["host"])
    request = policy_plan(module, host) if params["policy"] is not None else None
    try:
        conn = domain.connect(module.run_command, params["uri"], params["backend"])
    except domain.LibvirtError as exc:
        module.fail_json(msg="%s: %s" % (host, exc))
    try:
        listed = [(params["name"], conn.find(params["name"]))] if params["name"] else conn.domains()
        trust = Trust(conn, params["emulator"], host)
        domains = []
        for name, uuid in listed:
            try:
                domains.append(describe(conn, params["uri"], uuid, name, request, trust))
            except domain.DomainNotFound:
                if params["name"]:
                    raise
                # undefined by another client since it was listed: no longer a guest of this host
    except (domain.LibvirtError, confirm.ConfirmError) as exc:
        module.fail_json(msg="%s: %s" % (host, exc))
    except domain_xml.DeliveryError as exc:
        module.fail_json(msg="%s: %s" % (host, exc))
    finally:
        conn.close()
    module.exit_json(changed=False, domains=domains, backend=conn.backend)


if __name__ == "__main__":
    main()
