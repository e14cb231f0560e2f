# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter armvirt.cpu.cpu_policy_errors: every problem of a guest CPU policy document, as messages."""

from __future__ import annotations

DOCUMENTATION = r"""
name: cpu_policy_errors
short_description: List the problems of a guest CPU policy document as messages
version_added: 0.1.0
author: armvirt.cpu maintainers
description:
  - Checks a guest CPU policy C({description, mode, model, delivery, features}) the way every reader of the
    collection checks one (the policy files gather writes, C(guest_cpu_policy_file) of the role
    P(armvirt.cpu.guest_cpu#role), P(armvirt.cpu.fleet_placement#filter), M(armvirt.cpu.domain_cpu_info), the
    C(armvirt.cpu.apply) playbook) and returns one message per problem; an empty list means the document is a policy.
  - C(features) is required; C(mode) is V(host-passthrough) (default), V(maximum) or V(custom), which needs
    C(model) (and only it takes one); C(delivery) is V(feature-value) or V(qemu-commandline).
  - The features are checked as far as no host is needed (shape, policies, plain tokens, string values, no name
    twice); whether a host accepts them is P(armvirt.cpu.cpu_feature_check#filter)'s question.
positional: label
options:
  _input:
    description: The policy document, for example a policy file read with C(from_yaml).
    type: raw
    required: true
  label:
    description: What the messages call the document, for example its file name.
    type: str
    default: policy
seealso:
  - plugin: armvirt.cpu.cpu_feature_check
    plugin_type: filter
  - plugin: armvirt.cpu.fleet_recommend
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Stop with every problem of the policy file
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('\n') }}"
  vars:
    problems: "{{ lookup('ansible.builtin.file', 'policy.yml') | from_yaml | armvirt.cpu.cpu_policy_errors('policy.yml') }}"
"""

RETURN = r"""
_value:
  description: One message per problem, each naming the document and the place; empty when it is a policy.
  type: list
  elements: str
  sample:
    - "policy.yml: at (document root): unknown key(s) feature; a policy takes description, mode, model, delivery,
      features"
    - "policy.yml: feat_RAS has value 1.0, which is not a string (YAML reads an unquoted 1.10 as the float 1.1); quote
      it as written, e.g. value: \"1.0\"."
"""

from ansible_collections.armvirt.cpu.plugins.module_utils._guest import policy


def cpu_policy_errors(document, label="policy"):
    """Messages rather than an exception, so a play can show them all in one assert."""
    return policy.check(document, label)


class FilterModule(object):
    def filters(self):
        return {"cpu_policy_errors": cpu_policy_errors}
