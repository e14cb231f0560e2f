# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter armvirt.cpu.fleet_facts: {host: arm_cpu_props fact} from hostvars, null where a host has none."""

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_facts
short_description: Collect the arm_cpu_props fact of many hosts from hostvars, null where a host has none
version_added: 0.1.0
author: armvirt.cpu maintainers
description:
  - Builds the mapping of host name to C(arm_cpu_props) fact that the other fleet filters take. Unlike
    C(map('extract', hostvars, ['ansible_facts', 'arm_cpu_props'])), which fails on the first host without the
    fact (unreachable, skipped, never probed), it gives such hosts a null fact, which the fleet filters list as
    excluded.
  - The fact is read from C(ansible_facts.arm_cpu_props), else from a host variable C(arm_cpu_props) (for example
    one set with M(ansible.builtin.set_fact)).
positional: hosts
options:
  _input:
    description: C(hostvars).
    type: raw
    required: true
  hosts:
    description: The hosts to collect, for example C(ansible_play_hosts_all); default every host of C(hostvars).
    type: list
    elements: str
seealso:
  - plugin: armvirt.cpu.fleet_baseline
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Baseline of every host of the play, including those that failed or were not probed
  ansible.builtin.set_fact:
    arm_baseline: "{{ hostvars | armvirt.cpu.fleet_facts(ansible_play_hosts_all) | armvirt.cpu.fleet_baseline }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: Host name to its C(arm_cpu_props) fact, or null when it has none.
  type: dict
  sample:
    altra-01:
      accel: kvm
      cpu_model: host
      dialect: query-arm-cpu-props-info
      emulator: /usr/bin/qemu-system-aarch64
      properties:
        feat_CSV2:
          supported_values:
          - '0.0'
          type: string
        feat_RAS:
          supported_values:
          - '0.0'
          - '1.0'
          - '1.1'
          type: string
      qemu_package: armvirt RFC v3
      qemu_version: 9.1.50
      reason: null
      source: probe
      supported: true
    altra-02: null
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.armvirt.cpu.plugins.plugin_utils._fact_sources import FACT, host_vars_facts


def fleet_facts(hostvars, hosts=None):
    """Read each host's fact defensively: a missing fact is data for the fleet logic, not an error."""
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError("fleet_facts: expected hostvars, got %s" % type(hostvars).__name__)
    if hosts is None:
        hosts = list(hostvars)
    elif isinstance(hosts, str):
        hosts = [hosts]
    result = {}
    for host in hosts:
        found = host_vars_facts(hostvars[host] if host in hostvars else None, (FACT,))
        result[str(host)] = found[FACT]
    return result


class FilterModule(object):
    def filters(self):
        return {"fleet_facts": fleet_facts}
