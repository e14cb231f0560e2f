# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter armvirt.cpu.cpu_element: the <cpu> element of a guest domain, from the collection's one writer of it."""

from __future__ import annotations

DOCUMENTATION = r"""
name: cpu_element
short_description: Write the libvirt C(<cpu>) element of a validated guest CPU request
version_added: 0.1.0
author: armvirt.cpu maintainers
description:
  - Writes the C(<cpu>) element of a guest domain for features already validated and planned for a delivery (the
    C(cpu_features) that P(armvirt.cpu.guest_domains#module) gives its template), with C(mode), a C(<model>) for
    O(mode=custom), then one C(<feature policy name [value]>) per feature, in order.
  - It is the collection's one writer of C(<cpu>) (C(module_utils/_guest/delivery.py)), the same that
    M(armvirt.cpu.domain_cpu) puts into an existing guest, written as libvirt writes XML (single-quoted attributes,
    values escaped) and indented as a child of C(<domain>).
  - The role P(armvirt.cpu.guest_cpu#role)'s template C(domain.xml.j2) uses it, so that template renders the same
    under M(ansible.builtin.template) as in P(armvirt.cpu.guest_domains#module).
  - It does not validate a request; check one first with P(armvirt.cpu.cpu_feature_check#filter) or let
    P(armvirt.cpu.guest_domains#module) do it. A feature without C(name) or C(policy) fails the task with a message.
positional: mode, model
options:
  _input:
    description: Features, each a mapping with C(name), C(policy) and, where it has one, C(value) (all strings).
    type: list
    elements: dict
    required: true
  mode:
    description: libvirt CPU mode of the guest.
    type: str
    required: true
    choices: [host-passthrough, maximum, custom]
  model:
    description: The C(<model>) for O(mode=custom).
    type: str
seealso:
  - plugin: armvirt.cpu.cpu_feature_check
    plugin_type: filter
  - module: armvirt.cpu.domain_cpu
"""

EXAMPLES = r"""
- name: The <cpu> of a request, as the role's template writes it
  ansible.builtin.debug:
    msg: "{{ features | armvirt.cpu.cpu_element('host-passthrough') }}"
  vars:
    features:
      - {name: feat_RAS, policy: require, value: "1.0"}
      - {name: hw_prop_API, policy: disable}
  #   <cpu mode='host-passthrough'>
  #     <feature policy='require' name='feat_RAS' value='1.0'/>
  #     <feature policy='disable' name='hw_prop_API'/>
  #   </cpu>

- name: Render a copy of the role's domain template (roles/guest_cpu/templates/domain.xml.j2) outside the role
  ansible.builtin.template:
    src: domain.xml.j2
    dest: /tmp/vm01.xml
    mode: "0644"
  vars:
    name: vm01
    memory: 2048
    vcpus: 2
    mode: host-passthrough
    cpu_features: [{name: feat_RAS, policy: require, value: "1.0"}]
    delivery: feature-value
    qemu_commandline: false
    domain_type: kvm
    emulator: /usr/bin/qemu-system-aarch64
"""

RETURN = r"""
_value:
  description: The C(<cpu>) element, each line indented as a child of C(<domain>), without a final newline.
  type: str
  sample: "  <cpu mode='host-passthrough'>\n    <feature policy='require' name='feat_RAS' value='1.0'/>\n  </cpu>"
"""

from ansible_collections.armvirt.cpu.plugins.plugin_utils import domains
from ansible_collections.armvirt.cpu.plugins.plugin_utils._filters import as_filter_error


@as_filter_error("%s", domains.CpuElementError)
def cpu_element(features, mode, model=None):
    """A request that is not a plan's list of features fails the task with the reason instead of a traceback."""
    return domains.cpu_element_filter(features, mode, model)


class FilterModule(object):
    def filters(self):
        return {"cpu_element": cpu_element}
