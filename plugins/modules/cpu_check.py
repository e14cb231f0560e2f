#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cpu_check
short_description: Have the host's own QEMU confirm a guest CPU request, and say why in QEMU's words when it refuses
version_added: 0.1.0
description:
  - Asks the hypervisor's own QEMU whether it accepts a guest CPU request (O(mode) and O(features), or a C(-cpu)
    value as O(cpu_arg)) and reports QEMU's own error when it does not. Validation against the C(arm_cpu_props) fact
    checks each property against the values the host reports; QEMU and KVM decide more than that (which properties
    go together, which ID register values KVM lets a VMM write at vCPU init), and only they can tell.
  - "How, reported as RV(method): V(expansion) -- C(query-cpu-model-expansion) of the request's model with the
    request's properties (JSON booleans, integers or strings) on a probe QEMU with the same accelerator, when the
    accelerator is C(tcg) and every property is a boolean; V(start) -- a paused start of the request's C(-cpu)
    (C(EMULATOR -S -no-user-config -nodefaults -nographic -machine virt,accel=ACCEL -cpu ARG -qmp unix:...) in a
    private temporary directory: no devices, no disk, nothing runs), under C(kvm) or with any valued property. The
    start is accepted when QEMU's monitor answers, which it does only after the vCPU was created; it is refused with
    what QEMU wrote to stderr when QEMU exits instead. The QEMU is always quit, killed if needed, reaped and its
    directory removed."
  - "Where the host's QEMU judges C(SYSREG_) values in the full expansion of C(host) against a scratch vCPU (the v10
    posting of Red Hat's configurable host model, the Arm QEMU that also takes expansion type C(static)), a C(host)
    request whose valued properties are all C(SYSREG_) fields is confirmed by that expansion (V(expansion)) instead of
    a paused start; any other valued request keeps the start."
  - An accepted request is stored in a small JSON file beside the property cache (C(<hash>-<accel>.checks.json) in
    O(cache_dir)), keyed by the mode and the C(-cpu) value and valid while the property cache's fingerprint holds
    (emulator, QEMU modules, accelerator and C(/dev/kvm) usability, kernel, host CPUs); so each distinct request
    costs one short-lived QEMU per host until one of those changes. A refusal is not stored (it may have come from
    the host's state rather than the request) and is asked again next time.
  - The task fails when QEMU refuses, with a message naming the host, the emulator, the request and QEMU's words.
    A check that gets no answer (no emulator, a timeout, QEMU crashing) fails with what went wrong. Never changes
    anything on the host but its own results file, so it reports C(changed=false).
author:
  - armvirt.cpu maintainers (@armvirt)
extends_documentation_fragment:
  - armvirt.cpu.host_python
  - armvirt.cpu.probe
  - armvirt.cpu.probe.host_paths
  - armvirt.cpu.host_name
  - armvirt.cpu.attributes
attributes:
  check_mode:
    support: full
    details: Check mode runs the check (it starts no guest and changes nothing) but does not write the results file.
  diff_mode:
    support: none
options:
  mode:
    description:
      - libvirt CPU mode of the request -- V(host-passthrough) (QEMU model C(host), needs KVM), V(maximum) (C(max))
        or V(custom) (the named model O(model)).
      - Defaults to the mode of O(cpu_arg)'s model when that is given, else V(host-passthrough). A O(cpu_arg) whose
        model is neither C(host) nor C(max) needs V(custom).
    type: str
    choices: [custom, host-passthrough, maximum]
  model:
    description:
      - The named CPU model of O(mode=custom) (one the host's QEMU lists, such as C(cortex-a57) under TCG or
        C(neoverse-v2-v1) with Nutanix's named models under KVM; see C(cpu_models) of M(armvirt.cpu.props_facts)).
      - Only with O(mode=custom) and O(features); a O(cpu_arg) names its model itself.
    type: str
  features:
    description:
      - The features, each a mapping with C(name), optional C(policy) (C(force), C(require), C(optional),
        C(disable), C(forbid); default C(require)) and optional C(value) (a string; quote it in YAML), the format of
        M(armvirt.cpu.guest_domains), M(armvirt.cpu.domain_cpu) and the role P(armvirt.cpu.guest_cpu#role).
      - The C(-cpu) value is built by the collection's one builder, as libvirt builds it (C(optional) is left out);
        only the request's shape is checked here, not its values (that is what QEMU is asked).
      - Each value of a property the host reports is written as validation writes it for this host (the one
        rendering, that of M(armvirt.cpu.guest_domains) and the role) -- a number in the notation the host lists the
        property in (C(feat_AES=0x1) is C(feat_AES=1) where the host lists decimal values; the C(SYSREG_) fields stay
        hex), a boolean word as C(on)/C(off), a named value in the host's case. The properties come from the
        property cache of O(emulator) and O(accel) when it is valid (M(armvirt.cpu.props_cache)), else from a probe;
        the cache is not written. A number with a leading zero is refused, as validation refuses it.
      - Without O(features) and O(cpu_arg), the bare mode is checked.
    type: list
    elements: dict
  cpu_arg:
    description:
      - Instead of O(features), a C(-cpu) value as the collection renders it (C(model,name=value,...)), for example
        the C(qemu_cpu_arg) that M(armvirt.cpu.guest_domains) and M(armvirt.cpu.domain_cpu) return. Its model is
        C(host) or C(max). Its values are written in the host's spelling as O(features) are.
    type: str
  cache:
    description:
      - V(use) returns a stored acceptance of this request while it is valid and asks QEMU otherwise.
      - V(refresh) asks QEMU even when one is stored, and stores an acceptance. V(ignore) neither reads nor writes
        the results file.
    type: str
    choices: [use, refresh, ignore]
    default: use
notes:
  - The role P(armvirt.cpu.guest_cpu#role) runs this for each distinct request of a host before it writes the guests'
    XML when C(guest_cpu_confirm) is true, as the playbook C(armvirt.cpu.rollout) sets it; M(armvirt.cpu.domain_cpu)
    confirms through the same code (its O(armvirt.cpu.domain_cpu#module:confirm) option).
  - QEMU's expansion of Arm CPUs knows only the boolean properties, so RV(expanded) lacks the valued ones; the paused
    start judged those.
seealso:
  - module: armvirt.cpu.props_facts
  - module: armvirt.cpu.domain_cpu
  - module: armvirt.cpu.guest_domains
"""

EXAMPLES = r"""
- name: Does this host's QEMU take SVE with only 256-bit vectors?
  armvirt.cpu.cpu_check:
    mode: host-passthrough
    features:
      - {name: sve}
      - {name: sve128, policy: disable}
      - {name: sve256}
  register: sve256

- name: Does QEMU run the named model cortex-a57 without its PMU, under TCG?
  armvirt.cpu.cpu_check:
    accel: tcg
    mode: custom
    model: cortex-a57
    features:
      - {name: pmu, policy: disable}

- name: Check the -cpu value guest_domains rendered for a guest, under TCG
  armvirt.cpu.cpu_check:
    accel: tcg
    cpu_arg: max,sve=off,sve128=off,pauth=on

- name: Ask again after a firmware update that changed nothing QEMU or the kernel can see
  armvirt.cpu.cpu_check:
    cache: refresh
    features:
      - {name: feat_RAS, value: "1.0"}
      - {name: hw_prop_WRPs, value: "2"}

- name: Report instead of failing
  armvirt.cpu.cpu_check:
    features: "{{ guest_features }}"
    host: "{{ inventory_hostname }}"
  register: verdict
  ignore_errors: true

- name: Show QEMU's reason
  ansible.builtin.debug:
    msg: "{{ verdict.error }}"
  when: not verdict.accepted | default(true)
"""

RETURN = r"""
accepted:
  description: Whether QEMU accepted the request. False fails the task.
  returned: when QEMU answered
  type: bool
  sample: false
error:
  description: QEMU's own words when it refused (the expansion's error, or the end of what QEMU wrote to stderr before
    it exited); null when accepted.
  returned: when QEMU answered
  type: str
  sample: "qemu-system-aarch64: cannot disable sve128\nDisabling sve128 results in all vector lengths being
    disabled.\nWith SVE enabled, at least one vector length must be enabled."
expanded:
  description:
    - The CPU's properties as C(query-cpu-model-expansion) reports them for the accepted request (JSON values as
      QEMU gives them); null when QEMU refused or its expansion gave none.
    - With V(start), the expansion of the request's boolean properties on the started QEMU (Arm's expansion does not
      take valued ones).
  returned: when QEMU answered
  type: dict
  sample: {"aarch64": true, "pauth": true, "pauth-impdef": false, "pmu": true, "sve": false, "sve128": false}
method:
  description: How QEMU was asked, V(expansion) or V(start) (the paused start).
  returned: when QEMU answered
  type: str
  sample: expansion
mode:
  description: The request's mode.
  returned: when the request is well formed
  type: str
  sample: maximum
cpu_arg:
  description: The request's C(-cpu) value in the host's spelling (see O(features)), what QEMU was asked about and
    what the results file is keyed by.
  returned: when the request is well formed
  type: str
  sample: max,sve=off,sve128=off
cached:
  description: Whether the answer came from the results file instead of QEMU.
  returned: when QEMU answered
  type: bool
  sample: false
cache:
  description: The results file and how it was used.
  returned: when QEMU answered
  type: dict
  contains:
    path:
      description: The file; null with O(cache=ignore).
      type: str
      sample: /var/cache/armvirt-cpu/0f1e...-kvm.checks.json
    status:
      description: Its state before this task -- V(valid), V(valid, request not in it), V(missing), why it no longer
        holds (V(kernel changed), ...), V(refresh requested) or V(not used).
      type: str
      sample: missing
    written:
      description: Whether this task stored the acceptance (never in check mode).
      type: bool
      sample: true
"""

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import confirm, validate
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import policy
from ansible_collections.armvirt.cpu.plugins.module_utils._host import hostid
from ansible_collections.armvirt.cpu.plugins.module_utils._argspec import cpu_check_argument_spec


def main():
    module = cpu_check_argument_spec().create_ansible_module(supports_check_mode=True)
    params = module.params
    host = hostid.label(params["host"])
    try:
        if params["cpu_arg"] is not None:
            if params["model"] is not None:
                module.fail_json(msg="%s: model is for features; cpu_arg %s names its model itself"
                                 % (host, params["cpu_arg"]))
            req = confirm.parse_cpu_arg(params["cpu_arg"], params["mode"], host)
        else:
            mode = params["mode"] or names.DEFAULT_MODE
            problem = policy.model_problem(mode, params["model"])
            if problem:
                module.fail_json(msg="%s: %s" % (host, problem))
            req = confirm.request(params["features"] or [], mode, params["model"], host=host)
    except validate.FeatureRequestError as exc:
        failure = confirm.uncheckable(host, exc)
        module.fail_json(msg=failure.msg, **failure.fields)
    try:
        result = confirm.verdict(req, params["emulator"], params["accel"], params["timeout"], params["cache_dir"],
                                 params["cache"], write=not module.check_mode, sysfs_root=params["sysfs_path"],
                                 procfs_root=params["procfs_path"], host=host)
    except confirm.CheckFailed as exc:
        module.fail_json(msg=exc.msg, **exc.fields)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
