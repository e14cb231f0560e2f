#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: props_facts
short_description: Gather the Arm CPU properties a hypervisor's QEMU accepts
version_added: 0.1.0
description:
  - Asks the host's QEMU over QMP which values each Arm CPU property (for example C(feat_RAS), C(hw_prop_WRPs),
    C(sve128)) accepts, and sets the fact C(arm_cpu_props).
  - Detects the QMP interface the QEMU offers and records it as RV(ansible_facts.arm_cpu_props.dialect), richest
    first -- C(query-arm-cpu-props-info) (patched QEMU), C(query-cpu-props-info) (its generic successor under
    review), C(sysreg) (C(query-cpu-model-expansion) of C(host) carrying C(SYSREG_<REG>_<FIELD>) properties, each
    given the values the host kernel's rule for that field allows), C(query-cpu-model-expansion) (released QEMU,
    boolean properties only, their allowed values found by trying each).
  - A reply of an unexpected shape never fails the task -- what can be read is read and each liberty taken is a
    warning naming the command and the element; a reply that cannot be read at all makes the module fall back to the
    next dialect, with a warning.
  - A QEMU that answers but offers none of these is reported with RV(ansible_facts.arm_cpu_props.supported=false) and
    the reason; the task does not fail. A fault (no monitor, a timeout, garbage, an emulator that does not start) fails
    the task with a message naming the host and the emulator.
  - Reads a still valid cache written by M(armvirt.cpu.props_cache) instead of probing, but never writes it. A
    damaged cache file is a warning naming the host, the file and the fault.
  - Usable as a facts module of C(gather_facts) through C(FACTS_MODULES) (C(ansible_facts_modules)).
author:
  - armvirt.cpu maintainers (@armvirt)
extends_documentation_fragment:
  - armvirt.cpu.host_python
  - armvirt.cpu.probe
  - armvirt.cpu.probe.host_paths
  - armvirt.cpu.host_name
  - armvirt.cpu.attributes
  - armvirt.cpu.attributes.facts
  - armvirt.cpu.attributes.facts_module
options:
  qmp_socket:
    description:
      - Path of the unix socket of an already running QEMU monitor to ask instead of starting the emulator.
      - O(emulator) is then ignored. No cache is read or written in this case, and the monitor is never told to C(quit).
      - A QEMU monitor serves one client at a time, so a monitor that libvirt holds never answers; the task then fails
        after O(timeout) with a message that says so.
    type: path
  cache:
    description:
      - V(use) returns the cache when it is still valid (same emulator ctime, QEMU module directory, accelerator and
        C(/dev/kvm) usability, kernel, host CPUs, cache format) and probes otherwise.
      - V(refresh) probes even when the cache is valid. V(ignore) neither reads nor checks it.
    type: str
    choices: [use, refresh, ignore]
    default: use
notes:
  - Values are kept as QEMU reported them, as strings (C("0-3"), C("1.1_base"), C("off")); booleans are
    C("on")/C("off").
  - Property names are opaque; nothing depends on a prefix such as C(feat_), C(hw_prop_) or C(SYSREG_).
seealso:
  - module: armvirt.cpu.props_cache
  - plugin: armvirt.cpu.cpu_feature_check
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Gather Arm CPU properties (cache used when valid)
  armvirt.cpu.props_facts:

- name: Probe a TCG-only emulator, ignoring any cache
  armvirt.cpu.props_facts:
    emulator: /usr/bin/qemu-system-aarch64
    accel: tcg
    cache: ignore

- name: Ask a QEMU monitor that is already running (not one held by libvirt)
  armvirt.cpu.props_facts:
    qmp_socket: /run/qemu/probe.sock
    timeout: 5

# In ansible.cfg or the inventory, to gather them with the default facts:
#   [defaults]
#   facts_modules = ansible.builtin.setup, armvirt.cpu.props_facts
- name: Use the fact
  ansible.builtin.debug:
    msg: "{{ ansible_facts['arm_cpu_props']['properties']['feat_RAS']['supported_values'] | default([]) }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    arm_cpu_props:
      description:
        - What this host's QEMU accepts. The JSON Schema C(docs/schemas/arm_cpu_props.schema.json) describes it.
      returned: always
      type: dict
      contains:
        supported:
          description: Whether a dialect answered with properties.
          type: bool
          sample: true
        dialect:
          description: The QMP command the properties came from; null when none.
          type: str
          sample: query-arm-cpu-props-info
        accel:
          description: The accelerator probed for.
          type: str
          sample: kvm
        emulator:
          description: The emulator probed; null when O(qmp_socket) was used.
          type: str
          sample: /usr/bin/qemu-system-aarch64
        qemu_version:
          description: QEMU's version as major.minor.micro.
          type: str
          sample: "9.2.0"
        qemu_package:
          description: QEMU's package string.
          type: str
          sample: "Debian 1:9.2+ds-1"
        cpu_model:
          description: The CPU model the properties were read for, where the dialect tells.
          type: str
          sample: host
        cpu_models:
          description:
            - "The named CPU models QEMU lists (C(query-cpu-definitions)) besides C(host) and C(max), each
              C({offered: true, props: {NAME: on|off}}) when QEMU expands it under this accelerator as an AArch64 CPU
              (its boolean properties), else C({offered: false, reason: QEMU's words})."
            - Under KVM released QEMU refuses every named model; under TCG it offers its AArch64 models. A policy of
              mode C(custom) may name an offered one.
          type: dict
          sample: {"cortex-a57": {"offered": true, "props": {"aarch64": "on", "pmu": "on"}}}
        source:
          description: V(probe) or V(cache).
          type: str
          sample: cache
        reason:
          description: Why RV(ansible_facts.arm_cpu_props.supported) is false; null otherwise.
          type: str
          sample: null
        host_cpu:
          description:
            - What the host kernel says about the CPU, read from O(sysfs_path) and O(procfs_path) on every run.
            - C(midr) and C(revidr) are the distinct MIDR_EL1 and REVIDR_EL1 values of the CPUs (0x-hex), C(names) the
              core names decoded from MIDR's implementer and part, C(hwcaps) the C(Features) all CPUs list in
              C(/proc/cpuinfo), C(sve_vector_lengths) the lengths in bits the kernel tells (Linux tells only its
              default length; null without SVE), C(kernel_cmdline_overrides) the C(arm64.*), C(id_aa64*.*) and
              C(kvm-arm.*) options of the kernel command line, C(firmware) the DMI vendor, version and date.
          type: dict
          sample:
            midr: ["0x00000000413fd0c1"]
            names: [Neoverse-N1]
            revidr: ["0x0000000000000000"]
            hwcaps: [aes, asimd, asimddp, atomics, cpuid, crc32, fp, lrcpc, pmull, sha1, sha2, ssbs]
            sve_vector_lengths: null
            kernel_cmdline_overrides: [kvm-arm.mode=nvhe]
            firmware: {vendor: Ampere(R), version: "F31k (SCP: 2.10.20220531)", date: 11/02/2023}
        properties:
          description: Property name to its C(type) and C(supported_values) (and C(default) where known).
          type: dict
          sample:
            feat_RAS:
              type: string
              supported_values: ["0.0", "1.0", "1.1_base"]
            hw_prop_WRPs:
              type: number
              supported_values: ["0-3"]
cache:
  description: The cache file consulted and why it was or was not used. Absent with O(qmp_socket).
  returned: when O(qmp_socket) is not set
  type: dict
  contains:
    path:
      description: The cache file.
      type: str
      sample: /var/cache/armvirt-cpu/0f1e...-kvm.xml
    status:
      description: V(valid) when used, else why not (missing, emulator changed, corrupt, ...).
      type: str
      sample: valid
"""

from ansible_collections.armvirt.cpu.plugins.module_utils._host import collect
from ansible_collections.armvirt.cpu.plugins.module_utils._argspec import props_facts_argument_spec


def main():
    module = props_facts_argument_spec().create_ansible_module(supports_check_mode=True)
    params = module.params
    try:
        host_props, source, cache_info = collect.collect(
            params["emulator"], params["accel"], params["timeout"], params["cache_dir"], params["cache"],
            params["qmp_socket"], params["sysfs_path"], params["procfs_path"], params["host"])
    except collect.CollectError as exc:
        module.fail_json(msg=str(exc))
    for warning in host_props.warnings:   # liberties taken with an unexpected reply (dialects.py)
        module.warn(warning)
    repair = collect.damaged_cache_warning(
        cache_info, "was left as it is (armvirt.cpu.props_cache rewrites it)", params["host"])
    if repair:
        module.warn(repair)
    emulator = None if params["qmp_socket"] else params["emulator"]
    identity = cache_info["identity"] if cache_info is not None else None   # read once for the fingerprint
    fact = collect.host_fact(host_props, params["accel"], emulator, source, params["sysfs_path"], params["procfs_path"],
                             identity)
    result = dict(changed=False, ansible_facts={"arm_cpu_props": fact})
    if cache_info is not None:
        result["cache"] = {"path": cache_info["path"], "status": cache_info["status"]}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
