#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: props_cache
short_description: Keep the cache of the Arm CPU properties a hypervisor's QEMU accepts
version_added: 0.1.0
description:
  - Probes the host's QEMU the way M(armvirt.cpu.props_facts) does and writes the answer to a
    C(<cpuPropertyInfo>) cache file that M(armvirt.cpu.props_facts) reuses until the emulator, the QEMU module
    directory, the accelerator or C(/dev/kvm) usability, the kernel, the host CPUs or the cache format change.
  - With O(state=present) a still valid cache is kept without probing (unless O(cache=refresh)); the task reports
    changed only when the file's content changes. It also sets the C(arm_cpu_props) fact, so a play need not probe
    twice.
  - Writes are atomic (temporary file in the same directory, fsync, rename) and serialised with a lock; a symlink or a
    world-writable file or directory at the cache path is refused.
  - A damaged cache (corrupt, too large, foreign) is probed again and rewritten, with a warning naming the host, the
    file and the fault; RV(status) keeps the fault.
  - The file is this collection's own format, not libvirt's (whose C(<cpuPropertyInfo>) XML is not public yet);
    C(docs/cache.md) and the RelaxNG schema C(docs/schemas/cpu_property_info.rng) describe it.
author:
  - armvirt.cpu maintainers (@armvirt)
extends_documentation_fragment:
  - armvirt.cpu.host_python
  - armvirt.cpu.probe
  - armvirt.cpu.probe.host_paths
  - armvirt.cpu.host_name
  - armvirt.cpu.attributes
  - armvirt.cpu.attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  facts:
    support: full
options:
  state:
    description:
      - V(present) makes sure a valid cache exists, probing when it is missing or no longer valid.
      - V(absent) removes the cache file for O(emulator) and O(accel).
    type: str
    choices: [present, absent]
    default: present
  cache:
    description:
      - V(use) keeps a still valid cache. V(refresh) probes and rewrites it even when it is valid.
      - Only used with O(state=present).
    type: str
    choices: [use, refresh]
    default: use
  libvirt:
    description:
      - Also read what this host's libvirt accepts in a guest C(<cpu>), in the same module run, and set the
        C(libvirt_cpu) fact as M(armvirt.cpu.libvirt_facts) does (its options, here as suboptions).
      - The C(armvirt.cpu.gather) playbook sets it, so a rollout that follows uses the gathered fact instead of a module
        run of its own per host; M(armvirt.cpu.guest_domains) reads the schema and the CPU map again on the host before
        it writes, so a fact that no longer holds stops the write.
      - Only used with O(state=present). Omitted (the default), libvirt is not read.
    type: dict
    suboptions:
      schema_dir:
        description: As O(armvirt.cpu.libvirt_facts#module:schema_dir).
        type: path
        default: /usr/share/libvirt/schemas
      cpu_map_dir:
        description: As O(armvirt.cpu.libvirt_facts#module:cpu_map_dir).
        type: path
        default: /usr/share/libvirt/cpu_map
      uri:
        description: As O(armvirt.cpu.libvirt_facts#module:uri).
        type: str
        default: qemu:///system
      daemon:
        description: As O(armvirt.cpu.libvirt_facts#module:daemon).
        type: bool
        default: true
      timeout:
        description: As O(armvirt.cpu.libvirt_facts#module:timeout).
        type: float
        default: 5.0
seealso:
  - module: armvirt.cpu.props_facts
  - module: armvirt.cpu.libvirt_facts
"""

EXAMPLES = r"""
- name: Make sure the cache is valid (probes only when it is not)
  armvirt.cpu.props_cache:
    accel: kvm

- name: Probe again after a firmware update that QEMU cannot see
  armvirt.cpu.props_cache:
    cache: refresh

- name: Keep the cache and read what libvirt accepts, in one module run (as armvirt.cpu.gather does)
  armvirt.cpu.props_cache:
    libvirt: {}

- name: Remove the cache of a TCG probe
  armvirt.cpu.props_cache:
    accel: tcg
    state: absent
"""

RETURN = r"""
path:
  description: The cache file.
  returned: always
  type: str
  sample: /var/cache/armvirt-cpu/0f1e...-kvm.xml
status:
  description: Why the cache was or was not reused before this task (valid, missing, emulator changed, corrupt, ...).
  returned: always
  type: str
  sample: kernel changed
ansible_facts:
  description: The C(arm_cpu_props) fact, as M(armvirt.cpu.props_facts) returns it, and with O(libvirt) the
    C(libvirt_cpu) fact.
  returned: when O(state=present)
  type: dict
  contains:
    libvirt_cpu:
      description: What this host's libvirt accepts; see M(armvirt.cpu.libvirt_facts) for the keys.
      returned: when O(libvirt) is given
      type: dict
      sample:
        feature_value_supported: false
        cpu_map_features: [sve, sve128, sve256]
        version: "9.0.0"
    arm_cpu_props:
      description: What this host's QEMU accepts; see M(armvirt.cpu.props_facts) for the keys.
      returned: when O(state=present)
      type: dict
      sample:
        supported: true
        dialect: query-arm-cpu-props-info
        accel: kvm
        emulator: /usr/bin/qemu-system-aarch64
        qemu_version: "9.2.0"
        qemu_package: ""
        cpu_model: host
        source: probe
        reason: null
        host_cpu:
          midr: ["0x00000000413fd0c1"]
          names: [Neoverse-N1]
          revidr: ["0x0000000000000000"]
          hwcaps: [aes, asimd, atomics, crc32, fp, pmull, sha1, sha2]
          sve_vector_lengths: null
          kernel_cmdline_overrides: []
          firmware: null
        properties:
          feat_RAS:
            type: string
            supported_values: ["0.0", "1.0"]
"""

import os

from ansible_collections.armvirt.cpu.plugins.module_utils._host import cache, collect, hostid
from ansible_collections.armvirt.cpu.plugins.module_utils._argspec import props_cache_argument_spec


def _current_text(path):
    """The cache file as text for the diff, or an empty string when there is none."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return ""


def main():
    module = props_cache_argument_spec().create_ansible_module(supports_check_mode=True)
    params = module.params
    host = hostid.label(params["host"])
    try:
        path = collect.cache_path(params["cache_dir"], params["emulator"], params["accel"])
    except cache.CacheError as exc:
        module.fail_json(msg="%s: %s" % (host, exc))

    try:
        if params["state"] == "absent":
            before = _current_text(path)
            changed = os.path.lexists(path)
            if changed and not module.check_mode:
                cache.remove(path)
            module.exit_json(changed=changed, path=path, status="removed" if changed else "missing",
                             diff=dict(before=before, after="", before_header=path, after_header=path))

        host_props, source, info = collect.collect(
            params["emulator"], params["accel"], params["timeout"], params["cache_dir"], params["cache"],
            sysfs_root=params["sysfs_path"], procfs_root=params["procfs_path"], host=host)
        before = _current_text(path)
        after = before if source == "cache" else cache.dumps(host_props, info["fingerprint"]).decode("utf-8")
        changed = after != before
        if changed and not module.check_mode:
            cache.write(path, host_props, info["fingerprint"])
    except collect.CollectError as exc:   # its message names the host
        module.fail_json(msg=str(exc), path=path)
    except cache.CacheError as exc:
        module.fail_json(msg="%s: %s" % (host, exc), path=path)

    for warning in host_props.warnings:   # liberties taken with an unexpected reply (dialects.py)
        module.warn(warning)
    repair = collect.damaged_cache_warning(
        info, "would be rewritten" if module.check_mode else "was rewritten", host)
    if repair:
        module.warn(repair)
    fact = collect.host_fact(host_props, params["accel"], params["emulator"], source, params["sysfs_path"],
                             params["procfs_path"], info["identity"])
    facts = {"arm_cpu_props": fact}
    if params["libvirt"] is not None:   # what this host's libvirt accepts, as armvirt.cpu.libvirt_facts reads it
        from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps
        try:
            facts["libvirt_cpu"], warning = caps.gather_and_warn(module.run_command, params["libvirt"],
                                                                 module.get_bin_path("virsh") or "")
        except (OSError, ValueError) as exc:
            # the properties stand without it: a rollout runs armvirt.cpu.libvirt_facts for a host without the fact
            warning = "%s: libvirt was not read (%s); the libvirt_cpu fact is not set" % (host, exc)
        if warning:
            module.warn(warning)
    module.exit_json(changed=changed, path=path, status=info["status"], ansible_facts=facts,
                     diff=dict(before=before, after=after, before_header=path, after_header=path))


if __name__ == "__main__":
    main()
