# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter armvirt.cpu.host_name_problem: why an inventory name cannot name a host's files, for a play to refuse it."""

from __future__ import annotations

DOCUMENTATION = r"""
name: host_name_problem
short_description: Say why an inventory host name cannot be a file name, or null
version_added: 0.1.0
author: armvirt.cpu maintainers
description:
  - The fleet artifacts name files after hosts (the rollout record C(rollout/hosts/<host>.json)). A name that
    contains C(/) or a NUL character, is C(.), C(..) or empty, or makes that file name longer than 255 bytes in
    UTF-8 is refused, so that a host named C(../../fleet) cannot replace C(fleet.json).
  - Returns the message that refuses the host (it names the host and the reason), or null for a name that works.
    Every other name works, spaces, C(:), IPv6 addresses and Unicode included.
  - The same rule as M(armvirt.cpu.fleet_state), which gives such a host the status C(invalid-name).
options:
  _input:
    description: The inventory host name, usually C(inventory_hostname).
    type: str
    required: true
seealso:
  - module: armvirt.cpu.fleet_state
"""

EXAMPLES = r"""
- name: Refuse a host whose inventory name cannot be a file name
  ansible.builtin.fail:
    msg: "{{ inventory_hostname | armvirt.cpu.host_name_problem }}"
  when: inventory_hostname | armvirt.cpu.host_name_problem is not none
"""

RETURN = r"""
_value:
  description: The message refusing the host, or null when its name can be a file name.
  type: str
  sample: "host '../../fleet': its inventory name cannot be a file name (it contains '/'); rename it in the inventory"
"""

from ansible_collections.armvirt.cpu.plugins.plugin_utils import _fleet_view


class FilterModule(object):
    def filters(self):
        return {"host_name_problem": _fleet_view.host_name_problem}
