# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

The collection's vocabulary, each name written once: accelerators and libvirt's domain type of each, the QMP
dialects, the guest CPU modes and QEMU's model of each, the deliveries and the rule ids of validation. Everything
else imports them; the JSON Schemas, the docs, the modules' documentation and the simulator are held to them by
``tests/unit/plugins/module_utils/_common/test_names.py``. (The CPU field table across dialects is
``_host/vocabulary.py``.)

Standard library only: the hypervisors import it.
"""

from __future__ import annotations

# Accelerators, as on QEMU's command line (-machine accel=...), and libvirt's <domain type=...> for each.
KVM, TCG = "kvm", "tcg"
ACCELS: tuple[str, ...] = (KVM, TCG)
DOMAIN_TYPES: dict[str, str] = {KVM: "kvm", TCG: "qemu"}
DOMAIN_ACCELS: dict[str, str] = {domain_type: accel for accel, domain_type in DOMAIN_TYPES.items()}

# QMP dialects of Arm CPU properties, in the order a probe tries them (the richest first; _host/dialects.py).
ARM_PROPS_INFO = "query-arm-cpu-props-info"
CPU_PROPS_INFO = "query-cpu-props-info"
SYSREG = "sysreg"
EXPANSION = "query-cpu-model-expansion"
DIALECTS: tuple[str, ...] = (ARM_PROPS_INFO, CPU_PROPS_INFO, SYSREG, EXPANSION)

# Guest CPU modes (libvirt's <cpu mode=...>) and QEMU's model of each mode that names one; custom takes a named model.
HOST_PASSTHROUGH, MAXIMUM, CUSTOM = "host-passthrough", "maximum", "custom"
CPU_MODELS: dict[str, str] = {HOST_PASSTHROUGH: "host", MAXIMUM: "max"}
MODES: tuple[str, ...] = (HOST_PASSTHROUGH, MAXIMUM, CUSTOM)
DEFAULT_MODE = HOST_PASSTHROUGH
# The mode of each accelerator's own CPU: QEMU's model host needs KVM, so TCG gets maximum (max).
MODE_FOR_ACCEL: dict[str, str] = {KVM: HOST_PASSTHROUGH, TCG: MAXIMUM}
MODEL_FOR_ACCEL: dict[str, str] = {accel: CPU_MODELS[mode] for accel, mode in MODE_FOR_ACCEL.items()}

# Where libvirt keeps its RelaxNG schemas and CPU map, and the URI of its system daemon (_libvirt/caps.py reads them;
# the argument specs default to them).
LIBVIRT_SCHEMA_DIR = "/usr/share/libvirt/schemas"
LIBVIRT_CPU_MAP_DIR = "/usr/share/libvirt/cpu_map"
LIBVIRT_URI = "qemu:///system"

# How a request reaches QEMU: libvirt's <feature value=...>, or a <qemu:commandline> -cpu.
FEATURE_VALUE, QEMU_COMMANDLINE = "feature-value", "qemu-commandline"
DELIVERIES: tuple[str, ...] = (FEATURE_VALUE, QEMU_COMMANDLINE)

# The rule ids validation itself reports (_guest/validate.py); the translation's (_host/vocabulary.RULE_IDS) and the
# rule model's (_host/rules.RULE_IDS, from rules.RULES) follow them in validate.ALL_RULE_IDS.
VALIDATION_RULE_IDS: tuple[str, ...] = (
    "bad-props", "host-unsupported", "bad-feature", "bad-token", "unknown-policy", "value-not-string",
    "value-with-policy", "duplicate", "unknown-property", "value-not-supported", "leading-zero",
    "on-not-supported", "off-not-supported", "forbid-offered", "unknown-mode",
    "model-not-offered", "model-lacks-property", "model-needs-sve-lengths",
)
