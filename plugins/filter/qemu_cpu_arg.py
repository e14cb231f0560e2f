# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter armvirt.cpu.qemu_cpu_arg: a guest CPU request as QEMU's -cpu value, validated first."""

from __future__ import annotations

DOCUMENTATION = r"""
name: qemu_cpu_arg
short_description: Build QEMU's C(-cpu) value from a validated guest CPU feature request
version_added: 0.1.0
author: armvirt.cpu maintainers
description:
  - Turns a list of libvirt-style CPU features into the value of QEMU's C(-cpu) option as libvirt builds it.
    It starts with the model (C(host) for O(mode=host-passthrough), C(max) for O(mode=maximum)), then
    C(name=value) for a valued feature, C(name=on) for C(force)/C(require) and C(name=off) for
    C(disable)/C(forbid) without a value; C(optional) features are left out. Order is kept.
  - With O(props) the request is checked against that host's C(arm_cpu_props) fact (or a fleet baseline) and
    rendered in the host's spelling (numbers in decimal). Without it only the shape, policies and tokens are checked.
  - An invalid request fails the task with every problem listed, never a traceback.
  - The rules are those of P(armvirt.cpu.cpu_feature_check#filter); see C(docs/guest-validation.md).
positional: mode, props, host
extends_documentation_fragment:
  - armvirt.cpu.feature_request
options:
  mode:
    description: libvirt CPU mode.
    type: str
    default: host-passthrough
    choices: [host-passthrough, maximum]
  props:
    description: The host's C(ansible_facts['arm_cpu_props']) or a fleet baseline of the same shape.
    type: dict
    required: false
seealso:
  - plugin: armvirt.cpu.cpu_feature_check
    plugin_type: filter
  - plugin: armvirt.cpu.cpu_feature_errors
    plugin_type: filter
"""

EXAMPLES = r"""
- name: The -cpu value without host data
  ansible.builtin.debug:
    msg: "{{ features | armvirt.cpu.qemu_cpu_arg }}"
  vars:
    features:
      - {name: feat_RAS, value: "1.0"}
      - {name: hw_prop_API, policy: disable}
  # host,feat_RAS=1.0,hw_prop_API=off

- name: Checked against this host, rendered in its spelling (0x2 becomes 2)
  ansible.builtin.set_fact:
    guest_cpu_arg: >-
      {{ features | armvirt.cpu.qemu_cpu_arg('host-passthrough', ansible_facts['arm_cpu_props'], inventory_hostname) }}
  vars:
    features:
      - {name: hw_prop_WRPs, value: "0x2"}
  # host,hw_prop_WRPs=2
"""

RETURN = r"""
_value:
  description: The C(-cpu) value, for example C(host,feat_RAS=1.0,hw_prop_API=off,hw_prop_WRPs=2).
  type: str
  sample: host,feat_RAS=1.0,hw_prop_API=off,hw_prop_WRPs=2
"""

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
from ansible_collections.armvirt.cpu.plugins.plugin_utils._filters import as_filter_error


@as_filter_error("invalid guest CPU request:\n%s", validate.FeatureRequestError)
def qemu_cpu_arg(features, mode=names.DEFAULT_MODE, props=None, host=None):
    """Raise AnsibleFilterError with all messages, so the play shows what to fix instead of a traceback."""
    return validate.qemu_cpu_arg(features, mode, props, host)


class FilterModule(object):
    def filters(self):
        return {"qemu_cpu_arg": qemu_cpu_arg}
