# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter armvirt.cpu.cpu_feature_errors: the messages of every problem of a guest CPU request."""

from __future__ import annotations

DOCUMENTATION = r"""
name: cpu_feature_errors
short_description: List the problems of a guest CPU feature request as messages
version_added: 0.1.0
author: armvirt.cpu maintainers
description:
  - Checks libvirt-style CPU features against an C(arm_cpu_props) fact or a fleet baseline, like
    P(armvirt.cpu.cpu_feature_check#filter), and returns only the messages; an empty list means the request is valid.
  - Each message names the host, the property, the value given and the values allowed.
positional: props, host
extends_documentation_fragment:
  - armvirt.cpu.feature_request
seealso:
  - plugin: armvirt.cpu.cpu_feature_check
    plugin_type: filter
  - plugin: armvirt.cpu.qemu_cpu_arg
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Stop with every problem of the request
  ansible.builtin.fail:
    msg: "{{ problems }}"
  when: problems | length > 0
  vars:
    problems: >-
      {{ guest_features | armvirt.cpu.cpu_feature_errors(ansible_facts['arm_cpu_props'], inventory_hostname) }}
"""

RETURN = r"""
_value:
  description: One message per problem, empty when the request is valid.
  type: list
  elements: str
  sample:
    - 'n1-01: feat_RAS=1.1 is not supported; supported values (string): 0.0, 1.0.'
"""

from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate


def cpu_feature_errors(features, props, host=None):
    """Messages only, for assert/fail tasks that just show them."""
    return [error.message for error in validate.check_features(features, props, host)[1]]


class FilterModule(object):
    def filters(self):
        return {"cpu_feature_errors": cpu_feature_errors}
