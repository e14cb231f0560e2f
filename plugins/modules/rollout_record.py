#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rollout_record
short_description: Keep one host's rollout outcome -- its record file, its status for AWX, its result for the summary
version_added: 0.1.0
description:
  - Runs on the controller only (action plugin); it never connects to a host. The bookkeeping of one host of the
    C(armvirt.cpu.rollout) playbook in one task, as its last step on that host, whether the host succeeded or failed.
  - Writes O(record) to O(path) (the host's C(rollout/hosts/<host>.json), the path M(armvirt.cpu.fleet_state) returns
    for it in C(rollout_records)) as JSON with sorted keys and four-space indent (what
    C(to_nice_json(sort_keys=true)) writes), atomically, with mode 0644; missing directories are created. Without
    O(path) nothing is written (a host whose name cannot be a file name has no record).
  - With O(stats), publishes that data as M(ansible.builtin.set_stats) does with C(aggregate=true) (for the whole
    run, not per host), so AWX and Automation Controller learn each host's outcome as it happens.
  - Returns the record (registered, it is what the playbook's summary reads) and never reports a change, since the
    record is the run's own bookkeeping (fleet_state removed the last one when the rollout started).
author:
  - armvirt.cpu maintainers (@armvirt)
extends_documentation_fragment:
  - armvirt.cpu.attributes
attributes:
  check_mode:
    support: full
    details: Writes nothing; the outcome is still published and returned.
  diff_mode:
    support: none
  action:
    description: Runs entirely on the controller as an action plugin.
    support: full
  async:
    description: Supports being used with the C(async) keyword.
    support: none
options:
  record:
    description:
      - The host's outcome, a mapping with at least C(status) (a non-empty string; the rollout writes V(ok) or
        V(failed)) and usually C(reason); every other key is written as it is.
    type: dict
    required: true
  path:
    description: The record's file on the controller. Omitted, nothing is written.
    type: path
  stats:
    description:
      - Data to publish, as the O(ansible.builtin.set_stats#module:data) of M(ansible.builtin.set_stats) with
        C(aggregate=true); the rollout publishes C(armvirt_cpu_rollout_status) mapping this host to its status.
      - Ansible adds a value to one published before only when both are of the same type (a mapping is merged into
        a mapping); omitted, nothing is published.
    type: dict
seealso:
  - module: armvirt.cpu.fleet_state
  - module: armvirt.cpu.fleet_report
"""

EXAMPLES = r"""
- name: Write this host's record and publish its outcome
  armvirt.cpu.rollout_record:
    path: "{{ armvirt_cpu_fleet.rollout_records[inventory_hostname] | default(omit) }}"
    stats:
      armvirt_cpu_rollout_status: "{{ {inventory_hostname: 'ok'} }}"
    record:
      status: ok
      reason: ""
      guests: "{{ guest_cpu_result.qemu_cpu_args }}"
  register: armvirt_cpu_rollout
"""

RETURN = r"""
record:
  description: The record as written.
  returned: always
  type: dict
  sample: {"status": "ok", "reason": "", "guests": {"web1": "host,hw_prop_WRPs=2"}}
status:
  description: The record's C(status).
  returned: always
  type: str
  sample: ok
reason:
  description: The record's C(reason), empty when it has none.
  returned: always
  type: str
  sample: ""
path:
  description: The record's file; null when O(path) was not given.
  returned: always
  type: str
  sample: /srv/armvirt-cpu/rollout/hosts/altra-01.json
"""
