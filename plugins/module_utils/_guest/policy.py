# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest CPU policy document: one definition of what it holds, for everything that writes or reads one.

A policy is ``{description?, mode?, model?, delivery?, features}``: what gather and classify write
(``policies/*.yml``), what the guest_cpu role and guest_domains read (``policy_file``), what fleet_placement,
domain_cpu_info and the cpu_policy_errors filter take, and what the apply playbook rolls out with domain_cpu. Its
features are validate.py's request (``FEATURE_KEYS``, ``POLICIES``), checked there; this module defines the keys
around them and the rule that ties ``model`` to ``mode``. ``docs/schemas/cpu_policy.schema.json``, for editors and
other tools, is :func:`json_schema` written out; a test holds the file equal and has both accept the same documents.

Private to the collection. Standard library only: modules read policies on hypervisors.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any, Collection, Iterable, cast

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate

KEYS = ("description", "mode", "model", "delivery", "features")
ROOT = "(document root)"
TOKEN_PATTERN = "^[A-Za-z0-9._-]+$"   # validate.is_token as a JSON Schema pattern

Policy = collections.namedtuple("Policy", "mode model delivery features description")


class PolicyError(ValueError):
    """The document is not a policy this reader takes; ``messages`` lists every problem, each naming the place."""

    def __init__(self, messages: Iterable[str]) -> None:
        self.messages = list(messages)
        super(PolicyError, self).__init__("\n".join(self.messages))


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def model_problem(mode: object, model: object) -> str | None:
    """Why ``model`` does not go with ``mode``, or None: mode custom needs libvirt's ``<model>``, the others take
    none (their model is QEMU's host or max)."""
    if mode == names.CUSTOM and not model:
        return "mode custom needs model (a QEMU/libvirt CPU model such as cortex-a57)"
    if mode != names.CUSTOM and model:
        return "model %s is only for mode custom, not %s" % (model, mode)
    return None


def problems(document: object, modes: Collection[str] = names.MODES) -> list[tuple[str, str]]:
    """Every problem of the document's own keys as ``(place, text)``; its features are validate.py's business.

    ``modes`` narrows the modes for a reader that cannot write every one (fleet placement takes no custom model).
    """
    if not isinstance(document, Mapping):
        return [(ROOT, "a policy is a mapping with features (and %s), not %s"
                 % (", ".join(key for key in KEYS if key != "features"), _kind(document)))]
    found = []
    unknown = sorted(str(key) for key in document if key not in KEYS)
    if unknown:
        found.append((ROOT, "unknown key(s) %s; a policy takes %s" % (", ".join(unknown), ", ".join(KEYS))))
    if "features" not in document:
        found.append((ROOT, "features is missing; list the features, an empty list for the bare mode"))
    if "description" in document and not isinstance(document["description"], str):
        found.append(("description", "free text, a string, not %s" % _kind(document["description"])))
    mode = document.get("mode", names.DEFAULT_MODE)
    mode_ok = isinstance(mode, str) and mode in modes
    if not mode_ok:
        found.append(("mode", "%r is not one of %s" % (mode, ", ".join(modes))))
    model = document.get("model")
    if "model" in document and not validate.is_token(model):
        found.append(("model", "%r is not a plain token (letters, digits, '.', '_', '-' only)" % (model,)))
    elif mode_ok and model_problem(mode, model):
        found.append(("model" if model else "mode", cast(str, model_problem(mode, model))))
    if "delivery" in document and document["delivery"] not in names.DELIVERIES:
        found.append(("delivery", "%r is not one of %s" % (document["delivery"], ", ".join(names.DELIVERIES))))
    return found


def check(document: object, label: str = "policy", modes: Collection[str] = names.MODES, features: bool = True) -> list[str]:
    """Every problem of ``document`` as a message naming ``label`` (a file, a host) and the place; empty when it is a
    policy. With ``features`` the features' shape too (validate.check_shape: what holds without a host); readers
    that check the features against a host afterwards, with its records, leave it off."""
    messages = ["%s: at %s: %s" % (label, place, text) for place, text in problems(document, modes)]
    if features and isinstance(document, Mapping) and "features" in document:
        messages.extend(error.message for error in validate.check_shape(document["features"], label)[1])
    return messages


def read(document: Any, label: str = "policy", modes: Collection[str] = names.MODES, features: bool = True) -> Policy:
    """The :class:`Policy` of ``document``; raises :class:`PolicyError` with every message of :func:`check`.
    ``mode`` and ``delivery`` are None where the document leaves them out: each reader has its own default."""
    messages = check(document, label, modes, features)
    if messages:
        raise PolicyError(messages)
    return Policy(document.get("mode"), document.get("model"), document.get("delivery"), document["features"],
                  document.get("description"))


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a policy document as :func:`check` with features judges it, but for a
    feature named twice, which JSON Schema cannot say: ``docs/schemas/cpu_policy.schema.json``."""
    token = {"type": "string", "pattern": TOKEN_PATTERN}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://armvirt.invalid/schemas/cpu_policy.schema.json",
        "title": "guest CPU policy",
        "description": "A guest CPU policy: what armvirt.cpu.gather writes (policies/*.yml), the armvirt.cpu.guest_cpu "
                       "role (guest_cpu_policy_file) and armvirt.cpu.guest_domains (policy_file) read, and the "
                       "armvirt.cpu.apply playbook rolls out. Generated from plugins/module_utils/_guest/policy.py; "
                       "whether a host accepts the features is checked by plugins/module_utils/_guest/validate.py "
                       "(docs/guest-validation.md).",
        "type": "object",
        "required": ["features"],
        "additionalProperties": False,
        "properties": {
            "description": {"type": "string", "description": "Free text for people."},
            "mode": {"enum": list(names.MODES), "default": names.DEFAULT_MODE,
                     "description": "libvirt CPU mode: host-passthrough (QEMU model host), maximum (max) or custom "
                                    "(model, a named model the host offers: arm_cpu_props.cpu_models)."},
            "model": dict(token, description="The CPU model of mode custom (libvirt <model>, QEMU's model of the "
                                             "same name), e.g. cortex-a57; only with mode custom."),
            "delivery": {"enum": list(names.DELIVERIES),
                         "description": "feature-value: <feature value=...> (libvirt's RFC); qemu-commandline: a -cpu "
                                        "override in <qemu:commandline>. Replaces the reader's own setting."},
            "features": {"type": "array", "items": {"$ref": "#/$defs/feature"},
                         "description": "libvirt-style CPU features, in the order they go onto -cpu."},
        },
        "if": {"required": ["mode"], "properties": {"mode": {"const": names.CUSTOM}}},
        "then": {"required": ["model"]},
        "else": {"not": {"required": ["model"]}},
        "$defs": {
            "feature": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": dict(token, description="Property name as the host reports it (case-sensitive), e.g. "
                                                    "feat_RAS, hw_prop_WRPs, sve128."),
                    "policy": {"enum": list(validate.POLICIES), "default": validate.DEFAULT_POLICY,
                               "description": "libvirt feature policy. A value needs %s."
                                              % " or ".join(validate.VALUE_POLICIES)},
                    "value": dict(token, description="The property's value as a string; quote it in YAML (\"off\", "
                                                     "\"1.0\", \"010\")."),
                },
                "if": {"required": ["value"]},
                "then": {"properties": {"policy": {"enum": list(validate.VALUE_POLICIES)}}},
            },
        },
    }
