# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter armvirt.cpu.fleet_recommend: the richest guest CPU policy every member of a pool accepts."""

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_recommend
short_description: The richest guest CPU policy that every host of a pool accepts
version_added: 0.1.0
author: armvirt.cpu maintainers
description:
  - Takes a fleet baseline (from armvirt.cpu.fleet_baseline), a single C(arm_cpu_props) fact, or
    a mapping of host name to C(arm_cpu_props) fact (whose baseline is taken first) and returns a policy
    C({mode, features}) that armvirt.cpu.guest_cpu takes unchanged.
  - Every property of the baseline is pinned with policy C(require), sorted by name, at the richest value all
    members accept, so a guest can migrate among them and refuses to start on a host that could not take it.
    Names are canonical (C(SYSREG_<REG>_<FIELD>) for an ID register field, values in hex; other properties such as
    C(sve128) keep their names), so one policy serves hosts of every QMP dialect, each translated into its own names.
  - Values are strings. C(bool) is C(on) when accepted; C(number) is the top of the highest range (a named value
    such as C(off) only when there is no range); any other type is the last value listed, C(off) only when it is
    the only one.
  - The policy is validated on every member, in its own names; given only a baseline, pass the members' facts as
    O(members) (a mapping of host name to fact given as input is its own members).
  - Fails when the pool has no supported host. Details in C(docs/fleet-logic.md).
positional: members
options:
  _input:
    description: A baseline, an C(arm_cpu_props) fact, or host name to C(arm_cpu_props) fact.
    type: dict
    required: true
  members:
    description: Host name to C(arm_cpu_props) fact of the pool's members, to validate the policy on.
    type: dict
seealso:
  - plugin: armvirt.cpu.fleet_baseline
    plugin_type: filter
  - plugin: armvirt.cpu.qemu_cpu_arg
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Write the pool's guest CPU policy for armvirt.cpu.guest_cpu
  ansible.builtin.copy:
    dest: /etc/armvirt/guest-cpu-policy.json
    content: "{{ arm_baseline | armvirt.cpu.fleet_recommend | to_nice_json }}"
  delegate_to: localhost
  run_once: true
  # {"mode": "host-passthrough", "features": [{"name": "SYSREG_ID_AA64DFR0_EL1_WRPs", "policy": "require",
  #                                             "value": "0x5"}, ...]}

- name: The same, validated on each member's own fact
  ansible.builtin.set_fact:
    pool_policy: >-
      {{ arm_baseline | armvirt.cpu.fleet_recommend(hostvars | armvirt.cpu.fleet_facts(ansible_play_hosts_all)) }}
  run_once: true
"""

RETURN = r"""
_value:
  description: The policy.
  type: dict
  sample:
    mode: host-passthrough
    features:
    - name: SYSREG_ID_AA64DFR0_EL1_BRPs
      policy: require
      value: '0x2'
    - name: SYSREG_ID_AA64DFR0_EL1_WRPs
      policy: require
      value: '0x5'
    - name: SYSREG_ID_AA64PFR0_EL1_RAS
      policy: require
      value: '0x1'
    - name: SYSREG_ID_AA64PFR1_EL1_RAS_frac
      policy: require
      value: '0x0'
  contains:
    mode:
      description: C(host-passthrough), or C(maximum) for a pool whose hosts all run TCG.
      type: str
    features:
      description: C({name, policy, value}) per baseline property, sorted by name; policy C(require), value a string.
      type: list
      elements: dict
"""

from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import recommend
from ansible_collections.armvirt.cpu.plugins.plugin_utils._filters import as_filter_error


@as_filter_error("fleet_recommend: %s", TypeError, ValueError)
def fleet_recommend(pool, members=None):
    """AnsibleFilterError instead of a traceback, e.g. for a pool without a supported host."""
    return recommend.recommend(pool, members)


class FilterModule(object):
    def filters(self):
        return {"fleet_recommend": fleet_recommend}
