#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: domain_cpu
short_description: Set the Arm CPU of a guest libvirt already has, validated, and keep the rest of the domain
version_added: 0.1.0
description:
  - For a domain defined in libvirt, sets its C(<cpu>) to a validated request (O(mode) and O(features), for
    example C(sve), C(sve256), C(feat_RAS), C(hw_prop_WRPs)) in either delivery, keeps every other part of the
    domain as it is, and redefines it. A running guest keeps its CPU until its next boot; RV(restart_required) says so.
  - The request is checked with the collection's one validation (C(validate.check_features), rules in
    C(docs/guest-validation.md)) against O(props), and, with O(libvirt_check), against what this host's libvirt can
    carry, exactly as the role P(armvirt.cpu.guest_cpu#role) does for new guests; the C(<cpu>) features, the
    C(<qemu:commandline>) and the C(-cpu) value come from the same code as the role's
    (C(module_utils/_guest/delivery.py) and C(libvirt_flags.py)).
    Every problem is reported at once and nothing is changed for a request with any problem.
  - Then, with O(confirm) (the default), the host's own QEMU confirms the request's C(-cpu) before the domain is
    redefined, as M(armvirt.cpu.cpu_check) does -- what validation cannot see (which values go together, what KVM
    refuses at vCPU init) fails the task with QEMU's own words and the domain is left unchanged.
  - V(changed) is decided by libvirt, not by this module's serialisation -- the domain's inactive XML as libvirt dumps
    it (C(virsh dumpxml --inactive)) before and after the redefinition. A second run with the same request reports no
    change.
  - Check mode cannot redefine, so it predicts -- the C(<cpu>) mode, model and features (as a set of name, policy and
    value, with the C(sve) that libvirt adds by itself for a required vector length) and the C(-cpu) values of
    C(<qemu:commandline>) are compared before and after the edit; attributes libvirt derives (C(check),
    C(migratable)) are left out of the comparison. Diff mode shows the C(<cpu>) and C(<qemu:commandline>) before and
    after (in check mode, the predicted after).
  - For V(qemu-commandline) the C(-cpu) pair is recorded in the domain's C(<metadata>) (namespace
    C(https://armvirt.invalid/xmlns/domain-cpu/1.0)), so that the next run replaces exactly the pair this module
    wrote; other C(<qemu:commandline>) arguments stay. That mark is the only change outside C(<cpu>) and
    C(<qemu:commandline>), and V(feature-value) removes it together with its pair.
author:
  - armvirt.cpu maintainers (@armvirt)
extends_documentation_fragment:
  - armvirt.cpu.host_python
  - armvirt.cpu.libvirt_domain
  - armvirt.cpu.confirm
  - armvirt.cpu.host_name
  - armvirt.cpu.host_props
  - armvirt.cpu.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
options:
  name:
    description:
      - The libvirt domain, which must be defined at O(uri) (running or not); its exact name (spaces, commas and
        leading blanks included), never taken as a domain id or UUID as C(virsh) would.
      - One of O(name) and O(uuid) is required.
    type: str
  uuid:
    description:
      - The libvirt domain by UUID, as RV(armvirt.cpu.domain_cpu_info#module:domains[].uuid) lists it (the
        C(armvirt.cpu.apply) playbook passes it). With O(name) too, the domain must have that name.
    type: str
  mode:
    description:
      - libvirt CPU mode -- V(host-passthrough) (QEMU model C(host), needs KVM), V(maximum) (C(max)), or V(custom)
        with O(model).
    type: str
    choices: [host-passthrough, maximum, custom]
    default: host-passthrough
  model:
    description:
      - The CPU model for O(mode=custom) (libvirt C(<model>), QEMU's model of the same name, for example
        C(cortex-a57)); required with it and refused otherwise.
      - With O(props) of a host (its C(cpu_models)), a model its QEMU does not offer under its accelerator fails
        naming the host, the model and the models it offers; written as C(<cpu mode='custom' match='exact'>) with
        C(<model fallback='forbid'>).
    type: str
  features:
    description:
      - The features, each a mapping with C(name), optional C(policy) (C(force), C(require), C(optional),
        C(disable), C(forbid); default C(require)) and optional C(value) (a string; quote it in YAML).
      - An empty list sets the bare mode.
    type: list
    elements: dict
    default: []
  props:
    description:
      - What the host accepts, its C(arm_cpu_props) fact (M(armvirt.cpu.props_facts)) or a fleet baseline of the same
        shape, to validate O(features) against. Required when O(features) is not empty.
    type: dict
  delivery:
    description:
      - V(feature-value) writes every feature into C(<cpu>) with its value (libvirt's RFC).
      - V(qemu-commandline) keeps in C(<cpu>) only names libvirt's CPU map knows, without values (V(off) becomes
        C(disable)), and adds C(-cpu) with the full validated value to C(<qemu:commandline>); libvirt then marks the
        guest tainted C(custom-argv). Works with released libvirt.
    type: str
    choices: [feature-value, qemu-commandline]
    default: feature-value
  libvirt_check:
    description:
      - With V(feature-value), refuse a valued feature where this host's libvirt schema lacks C(value) (unpatched
        libvirt accepts the XML, silently drops C(value) and keeps the feature as a boolean -- measured on 9.0,
        C(sve128) value C(off) ran with C(sve128=on)) and a name its Arm CPU map lacks (refused at start). With
        V(qemu-commandline) it selects what C(<cpu>) may keep. As C(guest_cpu_libvirt_check) of the role.
      - The host's libvirt is read from its files (M(armvirt.cpu.libvirt_facts)) unless O(libvirt) is given.
      - V(false) skips the check; the result says so in RV(notes).
    type: bool
    default: true
  libvirt:
    description: The host's C(libvirt_cpu) fact, to use instead of reading libvirt's schema and CPU map here.
    type: dict
  unmarked_cpu_arg:
    description:
      - What to do with a C(-cpu) pair in C(<qemu:commandline>) that this module did not write (for example one
        written by M(armvirt.cpu.guest_domains) or by hand). QEMU takes the last C(-cpu) as a whole, so such a pair
        overrides the request or is dead weight.
      - V(fail) refuses and names it; V(replace) removes it.
    type: str
    choices: [fail, replace]
    default: fail
notes:
  - The playbook C(armvirt.cpu.apply) rolls a policy onto every guest of a pool, in batches, with a summary.
  - A CPU change applies when QEMU starts again; the module never restarts a guest.
  - O(confirm) runs only a trusted emulator (O(emulator) or one libvirt lists, whose file nobody else can change);
    a domain whose C(<emulator>) is anything else is refused and left unchanged.
  - O(confirm) starts a short-lived paused QEMU (or asks a probe QEMU for an expansion) once per distinct request
    and host, and keeps the acceptance in O(cache_dir); set it to V(false) where no QEMU may be started.
seealso:
  - module: armvirt.cpu.cpu_check
  - module: armvirt.cpu.domain_cpu_info
  - module: armvirt.cpu.guest_domains
  - module: armvirt.cpu.libvirt_facts
  - module: armvirt.cpu.props_facts
"""

EXAMPLES = r"""
- name: Gather what the host's QEMU accepts
  armvirt.cpu.props_facts:
    accel: kvm

- name: SVE with 256-bit vectors for web1 (a libvirt CPU-map feature, no values needed)
  armvirt.cpu.domain_cpu:
    name: web1
    mode: host-passthrough
    features:
      - {name: sve}
      - {name: sve256}
    props: "{{ ansible_facts['arm_cpu_props'] }}"
  register: web1_cpu

- name: Valued features on a released libvirt go on QEMU's command line
  armvirt.cpu.domain_cpu:
    name: db1
    delivery: qemu-commandline
    features:
      - {name: feat_RAS, value: "1.0"}
      - {name: sve128, value: "off"}
    props: "{{ ansible_facts['arm_cpu_props'] }}"

- name: Tell the owner which guests need a restart
  ansible.builtin.debug:
    msg: "web1 runs with the old CPU until its next boot ({{ web1_cpu.qemu_cpu_arg }})"
  when: web1_cpu.restart_required
"""

RETURN = r"""
changed:
  description: Whether libvirt's inactive XML of the domain differs after the redefinition (in check mode, the
    prediction described above).
  returned: always
  type: bool
  sample: true
restart_required:
  description: The domain is running and its QEMU runs with another CPU than the one now defined; it applies at its
    next boot.
  returned: success
  type: bool
  sample: true
qemu_cpu_arg:
  description: The validated C(-cpu) value for the request (for V(qemu-commandline) what C(<qemu:commandline>)
    carries -- the request, then what libvirt puts on its own C(-cpu) for the domain, such as C(sve=on) or
    C(pmu=off), where the request does not set it; what libvirt builds from C(<cpu>) for V(feature-value)).
  returned: success
  type: str
  sample: max,sve=on,sve256=on
cpu_xml:
  description: The domain's C(<cpu>) and C(<qemu:commandline>) as libvirt now stores them (in check mode, as they
    would be written).
  returned: success
  type: str
  sample: "<cpu mode='maximum' check='none'>...</cpu>"
state:
  description: The domain's state as C(virsh domstate) words it.
  returned: success
  type: str
  sample: running
backend:
  description: How libvirt was reached, V(libvirt-python) or V(virsh).
  returned: success
  type: str
  sample: virsh
libvirt_check:
  description: >-
    What the libvirt check did, V(performed (libvirt VERSION)) or V(skipped (libvirt_check: false)).
  returned: success
  type: str
  sample: performed (libvirt 9.0.0)
errors:
  description: Every problem of the request as records (C(host), C(feature), C(value), C(allowed), C(rule),
    C(message)); the rules of C(docs/guest-validation.md) and C(libvirt-drops-value), C(libvirt-unknown-feature).
  returned: failure
  type: list
  sample:
    - host: hv1
      feature: sve512
      value: 'off'
      allowed: []
      rule: libvirt-drops-value
      message: 'hv1: sve512=off needs <feature value=...> (libvirt''s RFC), which libvirt 9.0.0 here lacks: it would
        accept the XML, drop value and keep sve512 as a boolean (measured on libvirt 9.0: <feature policy=''require''
        name=''sve128'' value=''off''/> started QEMU with sve128=on, the opposite of the request). Use delivery qemu-commandline,
        a libvirt with the RFC, or libvirt_check: false.'
  elements: dict
confirmation:
  description: How the host's QEMU confirmed the request (O(confirm)).
  returned: success, and when QEMU refused or its emulator was not trusted
  type: dict
  contains:
    status:
      description: >-
        V(accepted), V(refused), V(refused (untrusted emulator)) (the domain's emulator was not run,
        RV(confirmation.error) says why), or why it was not asked (V(skipped (confirm: false)),
        V(skipped (domain type hvf))).
      type: str
      sample: accepted
    cpu_arg:
      description: The C(-cpu) value QEMU was asked about.
      type: str
      sample: max,sve=on,sve256=on
    emulator:
      description: The domain's emulator, which was asked.
      type: str
      sample: /usr/bin/qemu-system-aarch64
    accel:
      description: The accelerator of the domain's type.
      type: str
      sample: tcg
    method:
      description: V(expansion) or V(start) (a paused start), as M(armvirt.cpu.cpu_check) reports it.
      type: str
      sample: expansion
    cached:
      description: Whether the acceptance came from the results file in O(cache_dir).
      type: bool
      sample: false
    error:
      description: QEMU's own words when it refused, or why the emulator was not trusted; null otherwise.
      type: str
      sample: null
  sample:
    status: accepted
    cpu_arg: max,sve=on,sve256=on
    emulator: /usr/bin/qemu-system-aarch64
    accel: tcg
    method: expansion
    cached: false
    error: null
notes:
  description: Things to know (libvirt_check off, a daemon not restarted after an upgrade).
  returned: always
  type: list
  sample:
    - 'libvirt_check is false: the XML was not checked against this host''s libvirt; an unpatched libvirt drops feature
      values silently (measured on libvirt 9.0: <feature policy=''require'' name=''sve128'' value=''off''/> started
      QEMU with sve128=on, the opposite of the request) and refuses names outside its CPU map at start.'
  elements: str
diff:
  description: The C(<cpu>) and C(<qemu:commandline>) before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample:
    before_header: web1 <cpu> (qemu:///system)
    after_header: web1 <cpu> (qemu:///system)
    before: "<cpu mode='maximum' check='none'/>\n"
    after: "<cpu mode='maximum' check='none'>\n  <feature policy='require' name='sve256'/>\n</cpu>\n"
"""

from ansible_collections.armvirt.cpu.plugins.module_utils._guest import confirm, delivery, domain_edit, domain_xml
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import libvirt_flags, policy
from ansible_collections.armvirt.cpu.plugins.module_utils._host import emulator_trust
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
from ansible_collections.armvirt.cpu.plugins.module_utils._host import hostid
from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps, domain
from ansible_collections.armvirt.cpu.plugins.module_utils._argspec import domain_cpu_argument_spec


def plan_request(module, host):
    """The delivery plan of the module's request, or fail_json with every problem (nothing changed)."""
    params = module.params
    name = params["name"]
    problem = policy.model_problem(params["mode"], params["model"])
    if problem:
        module.fail_json(msg="%s: domain %s: %s." % (host, name, problem))
    if params["features"] and params["props"] is None:
        module.fail_json(msg="%s: domain %s: features need props to be validated against: pass "
                         "ansible_facts['arm_cpu_props'] (armvirt.cpu.props_facts) or a fleet baseline." % (host, name))
    fact = params["libvirt"]
    if fact is None and params["libvirt_check"]:
        fact = caps.gather(module.run_command, uri=params["uri"], ask_daemon=False)
    view = delivery.LibvirtView(fact, params["libvirt_check"], host, params["delivery"])
    if view.missing is not None:
        module.fail_json(msg=view.missing.message, errors=[view.missing.as_dict()], notes=view.notes)
    request = delivery.plan(params["features"], params["props"], params["mode"], host, view, params["model"],
                            own=params["host_props"])
    if request.errors:
        module.fail_json(msg="%s: domain %s was left unchanged; %d problem(s) in the CPU request:\n%s" % (
            host, name, len(request.errors), "\n".join("- " + error.message for error in request.errors)),
            errors=[error.as_dict() for error in request.errors], notes=view.notes)
    return request, view


def confirm_request(module, conn, host, name, defined_xml, wanted, request, notes):
    """Have the host's QEMU (the domain's emulator, the accelerator of its type) confirm the ``-cpu`` the edited domain
    ``wanted`` gives QEMU (``libvirt_flags.effective_cpu_arg``: the override for qemu-commandline, the request
    otherwise) before anything is written, through the same code as armvirt.cpu.cpu_check; fail_json with QEMU's
    words when it refuses, and without running anything when the domain's emulator is not trusted
    (``emulator_trust``: the ``<emulator>`` is whatever whoever defined the domain wrote). Check mode asks too
    (nothing is started for a guest) but does not store the acceptance."""
    params = module.params
    cpu_arg = libvirt_flags.effective_cpu_arg(wanted, request)
    if not params["confirm"]:
        return {"status": "skipped (confirm: false)", "cpu_arg": cpu_arg}
    try:
        emulator, accel, kind = confirm.domain_target(defined_xml)
        if accel is None:
            return {"status": "skipped (domain type %s)" % kind, "cpu_arg": cpu_arg, "emulator": emulator}
        emulator_trust.require(emulator, [params["emulator"]] + emulator_trust.listed(conn.capabilities(), kind))
        req = confirm.parse_cpu_arg(cpu_arg, request.mode, host)
        result = confirm.confirm(emulator, accel, req, params["timeout"], params["cache_dir"],
                                 write=not module.check_mode)
    except (emulator_trust.UntrustedEmulator, emulator_trust.CapabilitiesError) as exc:
        module.fail_json(msg="%s: domain %s was left unchanged: %s" % (host, name, exc), notes=notes,
                         confirmation={"status": "refused (untrusted emulator)", "cpu_arg": cpu_arg,
                                       "emulator": emulator, "error": str(exc)})
    except (confirm.ConfirmError, validate.FeatureRequestError) as exc:
        module.fail_json(msg="%s: domain %s was left unchanged: the host's QEMU could not confirm the CPU: %s"
                         % (host, name, exc), notes=notes)
    confirmation = {"status": "accepted" if result["accepted"] else "refused", "cpu_arg": result["cpu_arg"],
                    "emulator": emulator, "accel": accel, "method": result["method"], "cached": result["cached"],
                    "error": result["error"]}
    if not result["accepted"]:
        module.fail_json(msg="%s: domain %s was left unchanged: %s" % (
            host, name, confirm.refusal_message(result, host, emulator, accel)), confirmation=confirmation,
            notes=notes)
    return confirmation


def restart_required(conn, uri, uuid, state, defined_xml):
    """Whether the running QEMU has another CPU than ``defined_xml``: its live XML's CPU signature differs, or the
    ``-cpu`` it was started with (from /proc) is not the one the definition gives it."""
    if not domain.is_active(state):
        return False
    if domain_xml.signature(conn.live_xml(uuid)) != domain_xml.signature(defined_xml):
        return True
    argv = domain.running_argv(uri, uuid)[0]
    overrides = domain_xml.signature(defined_xml)[3]
    if argv is not None and overrides:
        return libvirt_flags.last_cpu_arg(argv) != overrides[-1]
    return False


def address(module, conn, host):
    """``(uuid, name)`` of the domain the module is asked about: by UUID, or by exactly its name; fail_json when
    the two disagree (the domain was redefined or renamed since it was listed)."""
    params = module.params
    if params["uuid"] is None:
        return conn.find(params["name"]), params["name"]
    if not domain.is_uuid(params["uuid"]):
        module.fail_json(msg="%s: uuid %r is not a domain UUID (8-4-4-4-12 hexadecimal digits)." % (host, params["uuid"]))
    try:
        name = domain_xml.parse(conn.inactive_xml(params["uuid"])).findtext("name")
    except domain_xml.DeliveryError as exc:
        module.fail_json(msg="%s: domain %s: %s" % (host, params["uuid"], exc))
    if params["name"] is not None and name != params["name"]:
        module.fail_json(msg="%s: the domain with UUID %s is named %r, not %r; nothing was changed." % (
            host, params["uuid"], name, params["name"]))
    return params["uuid"], name


def main():
    module = domain_cpu_argument_spec().create_ansible_module(supports_check_mode=True)
    params = module.params
    host = hostid.label(params["host"])
    name, uri = params["name"] or params["uuid"], params["uri"]
    request, view = plan_request(module, host)
    try:
        conn = domain.connect(module.run_command, uri, params["backend"])
    except domain.LibvirtError as exc:
        module.fail_json(msg="%s: domain %s: %s" % (host, name, exc))
    try:
        uuid, name = address(module, conn, host)
        before = conn.inactive_xml(uuid)
        try:
            wanted = domain_edit.edit_domain(before, request, params["unmarked_cpu_arg"],
                                             "%s: domain %s" % (host, name))
        except domain_xml.DeliveryError as exc:
            module.fail_json(msg=str(exc), notes=view.notes)
        confirmation = confirm_request(module, conn, host, name, before, wanted, request, view.notes)
        if module.check_mode:
            changed = domain_xml.signature(before) != domain_xml.signature(wanted)
            after = wanted if changed else before
        else:
            conn.define(wanted)
            after = conn.inactive_xml(uuid)
            changed = after != before
        state = conn.state(uuid)
        restart = restart_required(conn, uri, uuid, state, after)
    except domain.DomainNotFound as exc:
        known = []
        try:
            known = [repr(found) for found, _uuid in conn.domains()]
        except domain.LibvirtError:
            pass
        module.fail_json(msg="%s: %s; defined domains: %s." % (host, exc, ", ".join(known) or "none"))
    except domain.LibvirtError as exc:
        module.fail_json(msg="%s: domain %s: %s" % (host, name, exc))
    finally:
        conn.close()
    result = dict(changed=changed, restart_required=restart,
                  qemu_cpu_arg=libvirt_flags.effective_cpu_arg(wanted, request),
                  cpu_xml=domain_xml.cpu_xml(after), state=state, backend=conn.backend, libvirt_check=view.status,
                  confirmation=confirmation, notes=view.notes)
    if module._diff:
        result["diff"] = {"before_header": "%s <cpu> (%s)" % (name, uri), "after_header": "%s <cpu> (%s)" % (name, uri),
                          "before": domain_xml.cpu_xml(before), "after": domain_xml.cpu_xml(after)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
