# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of the filters that check a guest CPU feature request against a host fact or a fleet baseline."""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  _input:
    description: Features, each a mapping with C(name), optional C(policy) (default C(require)) and optional C(value).
    type: list
    elements: dict
    required: true
  props:
    description: The host's C(ansible_facts['arm_cpu_props']) or a fleet baseline of the same shape.
    type: dict
    required: true
  host:
    description: Name used in the results and messages; defaults to the baseline label, C(fleet) or C(host).
    type: str
"""
