# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

The named CPU models a host's QEMU offers under its accelerator: the ``cpu_models`` member of the fact.

Besides ``host`` (mode host-passthrough) and ``max`` (mode maximum), QEMU lists named models in
``query-cpu-definitions``: cortex-a57, neoverse-n1, a64fx ... (7.2), neoverse-n2/v1, cortex-a710 ... (10.0), and with
Nutanix's named-model series ``neoverse-v2-v1``, ``arm-v9.0-a-v1`` and others that run under KVM. A listed model is
not an offered one, and QEMU itself says which it can run under the accelerator it was started with, in the full
expansion (``query-cpu-model-expansion`` type ``full`` of the model):

- under TCG every AArch64 model expands, with an ``aarch64`` property; 32-bit and M/R-profile models (cortex-a15,
  cortex-m4, pxa270 ...) expand without one (measured on QEMU 7.2 and 10.0) and are not recorded: they are for other
  machines than an aarch64 guest's.
- under KVM released QEMU refuses the expansion of every model but host and max ("We cannot guarantee the CPU type
  'cortex-a57' works with KVM on this host", ``target/arm/arm-qmp-cmds.c``), and refuses them at start too; a QEMU
  whose named models run under KVM expands them. A refused model is recorded, not offered, with QEMU's words.

So *offered* means: listed, and expanded by QEMU under this accelerator as an AArch64 CPU. Each offered model keeps
its expansion's boolean properties (``props``, on/off): validation holds a ``mode: custom`` request to them (the
properties the model has; the SVE vector lengths that Nutanix's models need given, whose expansion has ``sve`` on
and no length on). ``cpu_check``'s expansion or paused start still confirms each request.

Standard library only: this runs on hypervisors. A reply of an unexpected shape is read where it can be and warned
about (the caller's ``warnings``); only faults (``QMPError`` other than a refusal) propagate.
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._host import props, qmp

# What a probe records about models, in the cache fingerprint (cache.py): a cache written before, or by a collection
# that records models otherwise, is probed again rather than read without them.
RECORDS = "+models1"
COMMAND = "query-cpu-definitions"
EXPANSION = names.EXPANSION
MODE_MODELS = tuple(names.CPU_MODELS.values())   # the models of modes host-passthrough and maximum, not named models
MAX_MODELS = 256                # more than any QEMU lists (7.2: 42, 10.0: 47); a longer list is cut, with a warning
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_SVE_LENGTH_RE = re.compile(r"^sve[0-9]+$")


def read_models(client: qmp.QMPClient, warnings: list[str]) -> dict[str, dict[str, Any]]:
    """``{name: entry}`` of the named models the QEMU behind ``client`` lists (judged under the accelerator it
    was started with), each ``{"offered": True, "props":
    {name: on/off}}`` or ``{"offered": False, "reason": QEMU's words}``; ``{}`` when QEMU has no
    query-cpu-definitions. Problems with a reply are appended to ``warnings``."""
    try:
        reply = client.execute(COMMAND)
    except qmp.QMPCommandError as err:
        warnings.append("%s: %s (%s); no named models read" % (COMMAND, err.desc, err.error_class))
        return {}
    names = _listed(reply, warnings)
    models: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            reply = client.execute(EXPANSION, {"type": "full", "model": {"name": name}})
        except qmp.QMPCommandError as err:
            models[name] = {"offered": False, "reason": str(err.desc)}
            continue
        expanded = reply.get("model") if isinstance(reply, dict) else None
        found = expanded.get("props", {}) if isinstance(expanded, dict) else None
        if not isinstance(found, dict):
            warnings.append("%s of model %r: the reply has no props object; the model is left out" % (EXPANSION, name))
            continue
        if "aarch64" not in found:
            continue   # a 32-bit or M/R-profile CPU: not one an aarch64 guest runs
        models[name] = {"offered": True, "props": dict(
            (key, props.ON if value else props.OFF) for key, value in sorted(found.items())
            if isinstance(value, bool) and isinstance(key, str) and _NAME_RE.fullmatch(key))}
    return models


def _listed(reply: Any, warnings: list[str]) -> list[str]:
    """The model names of a query-cpu-definitions reply, sorted, without host and max; odd elements warned about."""
    if not isinstance(reply, list):
        warnings.append("%s: the reply should be a list, not %s; no named models read" % (
            COMMAND, type(reply).__name__))
        return []
    listed = set()
    for index, element in enumerate(reply):
        name = element.get("name") if isinstance(element, dict) else None
        if not (isinstance(name, str) and _NAME_RE.fullmatch(name)):
            warnings.append("%s: element %d has no name made of letters, digits, '.', '_' and '-'; left out"
                            % (COMMAND, index))
            continue
        if name not in MODE_MODELS:
            listed.add(name)
    names = sorted(listed)
    if len(names) > MAX_MODELS:
        warnings.append("%s lists %d models; only the first %d (by name) were read" % (COMMAND, len(names), MAX_MODELS))
        names = names[:MAX_MODELS]
    return names


def offered(cpu_models: object) -> list[str]:
    """The offered model names of a fact's ``cpu_models`` (None or anything unreadable: none), sorted."""
    if not isinstance(cpu_models, dict):
        return []
    return sorted(name for name, entry in cpu_models.items() if isinstance(entry, dict) and entry.get("offered"))


def needs_sve_lengths(entry: dict[str, Any] | None) -> bool:
    """Whether a model's expansion has SVE on and no vector length on: QEMU then needs the lengths given
    (Nutanix's named models, which start from a zeroed ID view)."""
    found = (entry or {}).get("props") or {}
    return found.get("sve") == props.ON and not any(
        _SVE_LENGTH_RE.match(name) and value == props.ON for name, value in found.items())
