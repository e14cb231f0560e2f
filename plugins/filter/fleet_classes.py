# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter armvirt.cpu.fleet_classes: hosts grouped by what they accept, with stable ids."""

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_classes
short_description: Group a fleet's hosts into compatibility classes by their Arm CPU properties
version_added: 0.1.0
author: armvirt.cpu maintainers
description:
  - Takes a mapping of host name to C(arm_cpu_props) fact and groups the supported hosts whose properties accept
    exactly the same guest CPU requests (same names, types and values, compared as sets, so listing order, case
    and the way ranges are split do not matter). A guest can move freely between hosts of one class.
  - Each class has a stable id, C(cpu-) and the first 10 hex digits of the SHA-256 of the canonical property set,
    so the same kind of host gets the same id in every run and every fleet.
  - Hosts that only offer the boolean fallback (dialect C(query-cpu-model-expansion)) lack every valued property
    and so form classes of their own. Hosts with C(supported=false) or without a usable fact are in no class and
    are listed in C(excluded).
  - Details in C(docs/fleet-logic.md) and C(docs/schemas/fleet_classes.schema.json).
options:
  _input:
    description: Host name to its C(ansible_facts['arm_cpu_props']), as built by armvirt.cpu.fleet_facts.
    type: dict
    required: true
seealso:
  - plugin: armvirt.cpu.fleet_facts
    plugin_type: filter
  - plugin: armvirt.cpu.fleet_baseline
    plugin_type: filter
"""

EXAMPLES = r"""
- name: One line per kind of host
  ansible.builtin.debug:
    msg: "{{ (hostvars | armvirt.cpu.fleet_facts(ansible_play_hosts_all) | armvirt.cpu.fleet_classes).classes
             | dict2items | map(attribute='value.summary') | list }}"
  run_once: true
  # ["12 hosts like n1-01: 12 properties from query-arm-cpu-props-info", ...]

- name: Classify the fleet once
  ansible.builtin.set_fact:
    arm_classes: "{{ hostvars | armvirt.cpu.fleet_facts(ansible_play_hosts_all) | armvirt.cpu.fleet_classes }}"
  run_once: true

- name: Put each host in an inventory group named after its class (arm_cpu_0123456789, or arm_unclassified)
  ansible.builtin.group_by:
    key: "arm_{{ arm_classes.hosts[inventory_hostname] | default('unclassified') | replace('-', '_') }}"
"""

RETURN = r"""
_value:
  description: The classes, the class of each host and the hosts in none.
  type: dict
  sample:
    classes:
      cpu-4cdd37fc68:
        hosts:
        - a1
        - a2
        count: 2
        representative: a1
        dialect: query-arm-cpu-props-info
        properties_count: 8
        summary: '2 hosts like a1: 8 properties from query-arm-cpu-props-info'
      cpu-6cbdf605b4:
        hosts:
        - b1
        count: 1
        representative: b1
        dialect: query-arm-cpu-props-info
        properties_count: 9
        summary: '1 host like b1: 9 properties from query-arm-cpu-props-info'
    hosts:
      a1: cpu-4cdd37fc68
      a2: cpu-4cdd37fc68
      b1: cpu-6cbdf605b4
    excluded:
    - host: u1
      reason: 'arm_cpu_props reports supported: false (QEMU answered none of query-arm-cpu-props-info, query-cpu-props-info,
        query-cpu-model-expansion)'
  contains:
    classes:
      description: >-
        Class id to C({hosts, count, representative, dialect, properties_count, summary}): its sorted hosts, how many,
        the first of them, the dialect they share (null when they differ), the number of properties and one line for
        humans.
      type: dict
    hosts:
      description: Every supported host to its class id.
      type: dict
    excluded:
      description: Hosts in no class, each C({host, reason}).
      type: list
      elements: dict
"""

from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import classes
from ansible_collections.armvirt.cpu.plugins.plugin_utils._filters import as_filter_error


@as_filter_error("fleet_classes: %s", TypeError, ValueError)
def fleet_classes(facts_by_host):
    """AnsibleFilterError instead of a traceback when the input is not a mapping of hosts to facts."""
    return classes.classes(facts_by_host)


class FilterModule(object):
    def filters(self):
        return {"fleet_classes": fleet_classes}
