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
  - Values are strings. C(bool) is C(on) when accepted; C(number) is the top of the highest range (a named value
    such as C(off) only when there is no range); any other type is the last value listed, C(off) only when it is
    the only one.
  - Fails when the pool has no supported host. Details in C(docs/fleet-logic.md).
options:
  _input:
    description: A baseline, an C(arm_cpu_props) fact, or host name to C(arm_cpu_props) fact.
    type: dict
    required: true
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
  # {"mode": "host-passthrough", "features": [{"name": "feat_RAS", "policy": "require", "value": "1.0"}, ...]}
"""

RETURN = r"""
_value:
  description: The policy.
  type: dict
  sample:
    mode: host-passthrough
    features:
    - name: feat_RAS
      policy: require
      value: '1.0'
    - name: hw_prop_API
      policy: require
      value: PAuth
    - name: hw_prop_BRPs
      policy: require
      value: '2'
  contains:
    mode:
      description: Always C(host-passthrough).
      type: str
    features:
      description: C({name, policy, value}) per baseline property, sorted by name; policy C(require), value a string.
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.armvirt.cpu.plugins.module_utils import fleet


def fleet_recommend(pool):
    """AnsibleFilterError instead of a traceback, e.g. for a pool without a supported host."""
    try:
        return fleet.recommend(pool)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("fleet_recommend: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"fleet_recommend": fleet_recommend}
