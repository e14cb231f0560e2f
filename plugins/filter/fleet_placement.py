# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter armvirt.cpu.fleet_placement: which hosts can run a guest CPU request, and why the others cannot."""

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_placement
short_description: Which hosts of a fleet accept a guest CPU request, with every reason for those that do not
version_added: 0.1.0
author: armvirt.cpu maintainers
description:
  - Checks a guest CPU policy C({description, mode, features}) (the format armvirt.cpu.guest_cpu takes and
    armvirt.cpu.gather writes; a bare feature list is accepted too) against each host's C(arm_cpu_props) fact, with
    exactly the rules of armvirt.cpu.cpu_feature_check, and returns per host whether it fits and the records of
    everything that does not.
  - Hosts with C(supported=false) get a C(host-unsupported) record when the request has features; hosts without the
    fact get a C(bad-props) record.
  - A request that is not a policy (see P(armvirt.cpu.cpu_policy_errors#filter)), or whose C(mode) is not
    V(host-passthrough) or V(maximum), fails the filter with every problem.
positional: facts
options:
  _input:
    description: The request, a policy C({description, mode, features}) or a list of features.
    type: raw
    required: true
  facts:
    description: Host name to its C(ansible_facts['arm_cpu_props']), as built by armvirt.cpu.fleet_facts.
    type: dict
    required: true
seealso:
  - plugin: armvirt.cpu.cpu_feature_check
    plugin_type: filter
  - plugin: armvirt.cpu.fleet_facts
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Where can this guest run?
  ansible.builtin.debug:
    msg: "{{ placement.ok }} fit; {{ placement.summary.failed }} do not: {{ placement.summary.rules }}"
  vars:
    placement: >-
      {{ {'mode': 'host-passthrough', 'features': [{'name': 'feat_RAS', 'value': '1.1'}]}
         | armvirt.cpu.fleet_placement(hostvars | armvirt.cpu.fleet_facts(ansible_play_hosts_all)) }}
  run_once: true
"""

RETURN = r"""
_value:
  description: The verdict per host and in total.
  type: dict
  sample:
    mode: host-passthrough
    ok:
    - b1
    failed:
    - a1
    - a2
    - u1
    hosts:
      a1:
        ok: false
        class: cpu-4cdd37fc68
        errors:
        - host: a1
          feature: hw_prop_WRPs
          value: '4'
          allowed:
          - 0-3
          - '5'
          rule: value-not-supported
          message: 'a1: hw_prop_WRPs=4 is not supported; supported values (number): 0-3, 5.'
      b1:
        ok: true
        class: cpu-6cbdf605b4
        errors: []
      u1:
        ok: false
        class: null
        errors:
        - host: u1
          feature: null
          value: null
          allowed: []
          rule: host-unsupported
          message: 'u1: arm_cpu_props reports supported: false (QEMU answered none of query-arm-cpu-props-info, query-cpu-props-info,
            query-cpu-model-expansion), so no CPU property can be requested.'
    summary:
      hosts: 4
      ok: 1
      failed: 3
      rules:
        host-unsupported: 1
        value-not-supported: 2
  contains:
    mode:
      description: The request's mode (default C(host-passthrough)).
      type: str
    ok:
      description: Hosts that accept the request, sorted.
      type: list
      elements: str
    failed:
      description: Hosts that do not, sorted.
      type: list
      elements: str
    hosts:
      description: >-
        Host to C({ok, class, errors}): whether it fits, its compatibility class id (null when it has none) and the
        records of armvirt.cpu.cpu_feature_check (C(host), C(feature), C(value), C(allowed), C(rule), C(message)).
      type: dict
    summary:
      description: C({hosts, ok, failed, rules}), where C(rules) counts the hosts failing each rule id.
      type: dict
"""

from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import placement
from ansible_collections.armvirt.cpu.plugins.plugin_utils._filters import as_filter_error


@as_filter_error("fleet_placement: %s", TypeError, ValueError)
def fleet_placement(request, facts):
    """AnsibleFilterError instead of a traceback for a malformed request or fleet."""
    return placement.placement(request, facts)


class FilterModule(object):
    def filters(self):
        return {"fleet_placement": fleet_placement}
