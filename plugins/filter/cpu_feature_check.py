# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter armvirt.cpu.cpu_feature_check: every problem of a guest CPU request, as records."""

from __future__ import annotations

DOCUMENTATION = r"""
name: cpu_feature_check
short_description: Check a guest CPU feature request against a host's or fleet's Arm CPU properties
version_added: 0.1.0
author: armvirt.cpu maintainers
description:
  - Checks libvirt-style CPU features against an C(arm_cpu_props) fact or a fleet baseline and returns one record
    per problem, all at once; an empty list means the request is valid.
  - A feature is a mapping with C(name), C(policy) (C(force), C(require), C(optional), C(disable), C(forbid);
    default C(require)) and an optional C(value), which must be a quoted string.
  - With a value the policy must be C(require) or C(force) and the value one the host supports. Without one,
    C(require)/C(force) need the property to accept C(on), C(disable)/C(forbid) need C(off), and C(forbid) fails
    when the host offers the property. Names and values must match C([A-Za-z0-9._-]+).
  - The full rules, the rule ids and why C(force) is stricter than in libvirt are in C(docs/guest-validation.md).
positional: props, host
extends_documentation_fragment:
  - armvirt.cpu.feature_request
seealso:
  - plugin: armvirt.cpu.cpu_feature_errors
    plugin_type: filter
  - plugin: armvirt.cpu.qemu_cpu_arg
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Fail with every problem of the request, by rule
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | map(attribute='message') | list }}"
  vars:
    problems: >-
      {{ guest_features | armvirt.cpu.cpu_feature_check(ansible_facts['arm_cpu_props'], inventory_hostname) }}

- name: Only the unsupported values
  ansible.builtin.debug:
    msg: "{{ guest_features | armvirt.cpu.cpu_feature_check(baseline, 'fleet')
             | selectattr('rule', 'equalto', 'value-not-supported') | list }}"
"""

RETURN = r"""
_value:
  description: One record per problem, empty when the request is valid.
  type: list
  sample:
    - host: altra-01
      feature: hw_prop_WRPs
      value: '4'
      allowed:
      - 0-3
      - '5'
      rule: value-not-supported
      message: 'altra-01: hw_prop_WRPs=4 is not supported; supported values (number): 0-3, 5.'
  elements: dict
  contains:
    host:
      description: The host name, or the baseline label.
      type: str
    feature:
      description: The feature name as given; null when the problem is not about one feature.
      type: str
    value:
      description: The value as given (may be a non-string when YAML converted it); null without one.
      type: raw
    allowed:
      description: The values the host supports for the property; empty when it is unknown.
      type: list
      elements: str
    rule:
      description: >-
        Stable id, each explained in C(docs/guest-validation.md). Of the features one by one: bad-props,
        host-unsupported, bad-feature, bad-token, unknown-policy, value-not-string, value-with-policy, duplicate,
        unknown-property, value-not-supported, leading-zero, on-not-supported, off-not-supported, forbid-offered;
        of the mode and its model (qemu_cpu_arg and mode custom only): unknown-mode, model-not-offered,
        model-lacks-property, model-needs-sve-lengths; of a name of another dialect: untranslatable, coupled-half,
        coupled-conflict; of the CPU as a whole (the rule model): sve-length-needs-sve, sve-no-length,
        sve-length-pow2, sve-length-host, pauth-impdef-needs-pauth, pauth-qarma3-needs-pauth,
        pauth-qarma5-needs-pauth, pauth-one-algorithm, sve-fields-need-sve, sve-zfr0-needs-sve, pmu-fields-need-pmu,
        pauth-fields-need-pauth, pauth-algorithm-pairs.
      type: str
    message:
      description: A sentence naming the host, property, given value and allowed values.
      type: str
"""

from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate


def cpu_feature_check(features, props, host=None):
    """Records rather than an exception, so a play can branch on rule ids or report them."""
    return [error.as_dict() for error in validate.check_features(features, props, host)[1]]


class FilterModule(object):
    def filters(self):
        return {"cpu_feature_check": cpu_feature_check}
