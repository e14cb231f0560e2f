# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter armvirt.cpu.fleet_baseline: what every supported host of a fleet accepts, as one fact."""

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_baseline
short_description: The Arm CPU properties and values every supported host of a fleet accepts
version_added: 0.1.0
author: armvirt.cpu maintainers
description:
  - Takes a mapping of host name to C(arm_cpu_props) fact and returns a baseline of the same shape as one host's
    C(arm_cpu_props) fact, so M(armvirt.cpu.props_facts) consumers and the filters armvirt.cpu.cpu_feature_check and
    armvirt.cpu.qemu_cpu_arg take it unchanged.
  - Hosts are compared by ID register field, whatever their QEMU calls it (C(hw_prop_WRPs) on one host,
    C(SYSREG_ID_AA64DFR0_EL1_WRPs) on another), so the baseline's properties are canonical fields
    (C(SYSREG_<REG>_<FIELD>), values as hex ranges) and the properties with no field (C(sve128), C(kvm-steal-time)),
    which keep their names.
  - A property is in the baseline when every member offers it, with the values every member accepts; number
    ranges are intersected (C(0-3),C(5) and C(2-5) give C(0x2-0x3),C(0x5)), so a lower-safe field meets at the
    lowest host value; named values are compared case-insensitively and kept in the spelling and order of the first
    member by name.
  - Hosts with C(supported=false), without the fact or with a malformed one are left out and listed in C(excluded)
    with the reason; properties some members lack are listed in C(missing) with those hosts, fields a member cannot
    give exactly (a host with only released QEMU's C(pmu) boolean does not tell its PMUVer) in C(unknown) with the
    reason; properties with no common value are listed in C(empty).
  - Hosts that lack the fact make C(map('extract', hostvars, ['ansible_facts', 'arm_cpu_props'])) fail; build the
    input with armvirt.cpu.fleet_facts instead, which gives such hosts a null fact.
  - Keys, semantics and the compatibility class ids are described in C(docs/fleet-logic.md) and
    C(docs/schemas/fleet_baseline.schema.json).
positional: label
options:
  _input:
    description: Host name to its C(ansible_facts['arm_cpu_props']); null or missing facts are allowed.
    type: dict
    required: true
  label:
    description: Name of the baseline, used by armvirt.cpu.cpu_feature_check in its records.
    type: str
    default: fleet
seealso:
  - plugin: armvirt.cpu.fleet_facts
    plugin_type: filter
  - plugin: armvirt.cpu.fleet_classes
    plugin_type: filter
  - plugin: armvirt.cpu.fleet_recommend
    plugin_type: filter
  - plugin: armvirt.cpu.cpu_feature_check
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Baseline of the play's hosts, whether or not each has the fact
  ansible.builtin.set_fact:
    arm_baseline: >-
      {{ hostvars | armvirt.cpu.fleet_facts(ansible_play_hosts_all) | armvirt.cpu.fleet_baseline('rack7') }}
  run_once: true

- name: The same when every host is known to have the fact
  ansible.builtin.set_fact:
    arm_baseline: >-
      {{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all
              | map('extract', hostvars, ['ansible_facts', 'arm_cpu_props']))) | armvirt.cpu.fleet_baseline }}
  run_once: true

- name: Check a guest request against the whole fleet
  ansible.builtin.assert:
    that: guest_features | armvirt.cpu.cpu_feature_check(arm_baseline) | length == 0
"""

RETURN = r"""
_value:
  description: >-
    The baseline: the keys of an C(arm_cpu_props) fact (C(supported) true when there is a member; C(dialect),
    C(accel), C(emulator), C(qemu_version), C(qemu_package), C(cpu_model), C(source) the value all members share,
    else null; C(reason); C(properties)) plus the keys below.
  type: dict
  sample:
    dialect: query-arm-cpu-props-info
    accel: kvm
    emulator: /usr/bin/qemu-system-aarch64
    qemu_version: 9.1.50
    qemu_package: armvirt RFC v3
    cpu_model: host
    source: probe
    supported: true
    reason: null
    properties:
      SYSREG_ID_AA64PFR0_EL1_RAS:
        type: number
        supported_values:
        - 0x0-0x1
        field: ID_AA64PFR0_EL1.RAS
        rule: host-value
        host_names:
        - feat_RAS
        coupled_with: SYSREG_ID_AA64PFR1_EL1_RAS_frac
      SYSREG_ID_AA64DFR0_EL1_WRPs:
        type: number
        supported_values:
        - 0x2-0x3
        - '0x5'
        field: ID_AA64DFR0_EL1.WRPs
        rule: lower-safe
        host_names:
        - hw_prop_WRPs
    label: rack7
    members:
    - a1
    - a2
    - b1
    excluded: []
    missing:
      SYSREG_ID_AA64DFR0_EL1_PMSVer:
      - a1
      - a2
    unknown:
      SYSREG_ID_AA64DFR0_EL1_PMUVer:
        a1: pmu=on gives the guest the host's own ID_AA64DFR0_EL1.PMUVer, which this host does not report
    empty:
    - SYSREG_ID_AA64PFR0_EL1_CSV2
    - hw_prop_MIDR
    classes:
      a1: cpu-563faccd0f
      a2: cpu-563faccd0f
      b1: cpu-69a8fe11f1
  contains:
    properties:
      description: >-
        Canonical field or property with no field to C({type, supported_values, default?, field?, rule?,
        host_names?, coupled_with?}), only values every member accepts; a member is kept when all members agree
        (C(coupled_with) when any member names the field only together with its other half).
      type: dict
    label:
      description: The label given.
      type: str
    members:
      description: The hosts the baseline is made of, sorted.
      type: list
      elements: str
    excluded:
      description: Hosts left out, each C({host, reason}), sorted by host.
      type: list
      elements: dict
    missing:
      description: Property some members lack to the list of those members.
      type: dict
    unknown:
      description: Canonical field some members cannot give exactly, to each such member and the reason.
      type: dict
    empty:
      description: Properties every member offers without a common value (or type).
      type: list
      elements: str
    classes:
      description: Member to its compatibility class id (C(cpu-) and 10 hex digits).
      type: dict
"""

from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import baseline
from ansible_collections.armvirt.cpu.plugins.plugin_utils._filters import as_filter_error


@as_filter_error("fleet_baseline: %s", TypeError, ValueError)
def fleet_baseline(facts_by_host, label="fleet"):
    """AnsibleFilterError instead of a traceback when the input is not a mapping of hosts to facts."""
    return baseline.baseline(facts_by_host, label)


class FilterModule(object):
    def filters(self):
        return {"fleet_baseline": fleet_baseline}
