#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_facts
short_description: Find out what a hypervisor's libvirt accepts in a guest's CPU definition
version_added: 0.1.0
description:
  - Reads the libvirt installed on the host and sets the fact C(libvirt_cpu), which M(armvirt.cpu.guest_domains)
    uses to refuse guest XML that this libvirt would misread.
  - Whether libvirt's RelaxNG schema (C(cputypes.rng) in O(schema_dir)) admits a C(value) attribute on a guest
    C(<feature>). Released libvirt (9.0 measured) does not; it still accepts such XML at C(virsh define) but
    silently drops C(value) and keeps the feature as a boolean, so C(<feature policy='require' name='sve128'
    value='off'/>) started QEMU with C(sve128=on), the opposite of the request.
  - The feature names libvirt's Arm CPU map (O(cpu_map_dir)) knows, for example C(sve), C(sve128) ... C(sve2048).
    libvirt refuses any other name when the guest starts ("unknown CPU feature").
  - The version of libvirt's files (C(virsh --version), else the package, else the library's file name) and, where
    reachable, the running daemon's version (C(virsh -c URI version --daemon), with a short O(timeout)).
  - Never changes anything.
author:
  - armvirt.cpu maintainers (@armvirt)
extends_documentation_fragment:
  - armvirt.cpu.host_python
  - armvirt.cpu.attributes
  - armvirt.cpu.attributes.facts
  - armvirt.cpu.attributes.facts_module
options:
  schema_dir:
    description: Directory of libvirt's RelaxNG schemas on the host.
    type: path
    default: /usr/share/libvirt/schemas
  cpu_map_dir:
    description: Directory of libvirt's CPU map on the host (C(index.xml), C(arm_features.xml), ...).
    type: path
    default: /usr/share/libvirt/cpu_map
  uri:
    description: libvirt connection URI used to ask the running daemon for its version.
    type: str
    default: qemu:///system
  daemon:
    description: Whether to ask the daemon at all. Without it RV(ansible_facts.libvirt_cpu.daemon_version) is null.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each C(virsh) or package query; a daemon that does not answer in time is reported,
      not fatal.
    type: float
    default: 5.0
notes:
  - The role P(armvirt.cpu.guest_cpu#role) gathers M(armvirt.cpu.libvirt_facts) and runs M(armvirt.cpu.guest_domains)
    once per host.
  - The schema and the CPU map are read from disk, so they describe the installed release. A daemon that was not
    restarted after an upgrade still runs the old release and can disagree with its own files;
    RV(ansible_facts.libvirt_cpu.version_mismatch) is then true and the module warns. Restart the daemon before
    trusting the facts.
  - Standard library only; C(virsh) is optional (package C(libvirt-clients) on Debian).
seealso:
  - module: armvirt.cpu.guest_domains
"""

EXAMPLES = r"""
- name: Find out what this host's libvirt accepts
  armvirt.cpu.libvirt_facts:

- name: Refuse to go on with a libvirt that would drop feature values
  ansible.builtin.assert:
    that: ansible_facts['libvirt_cpu']['feature_value_supported']
    fail_msg: >-
      libvirt {{ ansible_facts['libvirt_cpu']['version'] }} on {{ inventory_hostname }} has no value attribute on
      <feature>; use delivery qemu-commandline or a libvirt with the RFC.

- name: Files only, without asking the daemon
  armvirt.cpu.libvirt_facts:
    daemon: false
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    libvirt_cpu:
      description: What this host's libvirt accepts in a guest C(<cpu>).
      returned: always
      type: dict
      contains:
        feature_value_supported:
          description: Whether the schema admits a C(value) attribute on a guest C(<feature>) (libvirt's RFC).
          type: bool
          sample: false
        feature_policies:
          description: The feature policies the schema lists.
          type: list
          elements: str
          sample: [force, require, optional, disable, forbid]
        schema_dir:
          description: The schema directory read.
          type: str
          sample: /usr/share/libvirt/schemas
        schema_file:
          description: The file holding the C(<feature>) definition; null when none was found.
          type: str
          sample: /usr/share/libvirt/schemas/cputypes.rng
        schema_error:
          description: Why the schema could not be read; null when it was.
          type: str
          sample: null
        cpu_map_dir:
          description: The CPU map directory read.
          type: str
          sample: /usr/share/libvirt/cpu_map
        cpu_map_files:
          description: The files of the Arm CPU map that were read.
          type: list
          elements: str
          sample: [/usr/share/libvirt/cpu_map/arm_features.xml]
        cpu_map_features:
          description: Feature names the Arm CPU map knows, in file order.
          type: list
          elements: str
          sample: [sve, sve128, sve256, sve512]
        cpu_map_error:
          description: Why the CPU map could not be read; null when it was.
          type: str
          sample: null
        version:
          description: libvirt's version as installed (files and library); null when unknown.
          type: str
          sample: "9.0.0"
        version_source:
          description: Where RV(ansible_facts.libvirt_cpu.version) came from (C(virsh --version), C(package), C(library PATH)).
          type: str
          sample: package
        package:
          description: The package and its version, where a package manager knows it.
          type: str
          sample: libvirt0 9.0.0-4+deb12u2
        virsh:
          description: Path of C(virsh); null when it is not installed.
          type: str
          sample: /usr/bin/virsh
        daemon_uri:
          description: The URI the daemon was asked on.
          type: str
          sample: qemu:///system
        daemon_version:
          description: The running daemon's version; null when it was not reachable or not asked.
          type: str
          sample: "9.0.0"
        daemon_error:
          description: Why RV(ansible_facts.libvirt_cpu.daemon_version) is null; null otherwise.
          type: str
          sample: "virsh is not installed, so the daemon was not asked"
        version_mismatch:
          description: True when the daemon runs another version than the installed files (not restarted after an
            upgrade).
          type: bool
          sample: false
"""

from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps
from ansible_collections.armvirt.cpu.plugins.module_utils._argspec import libvirt_facts_argument_spec


def main():
    module = libvirt_facts_argument_spec().create_ansible_module(supports_check_mode=True)
    fact, warning = caps.gather_and_warn(module.run_command, module.params, module.get_bin_path("virsh") or "")
    if warning:
        module.warn(warning)
    module.exit_json(changed=False, ansible_facts={"libvirt_cpu": fact})


if __name__ == "__main__":
    main()
