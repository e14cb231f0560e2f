# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

How a validated guest CPU request reaches libvirt and QEMU: one implementation for new and existing guests.

Why this exists: the role renders new guests from a template on the controller (``plugin_utils.domains``) and
``armvirt.cpu.domain_cpu`` rewrites the ``<cpu>`` of guests libvirt already has, on the hypervisor. Both must agree on
which features go into ``<cpu>`` for each delivery, how a boolean value becomes a policy (``off`` is ``disable``),
what ``<qemu:commandline>`` carries and the ``-cpu`` argument, or a guest written by one would be "changed" by the
other. So that planning lives here, once; validation itself stays in ``validate.py``.

Deliveries:

- ``feature-value``: every feature into ``<cpu>`` as ``<feature policy name value/>`` (libvirt's RFC). With
  ``libvirt_check`` it is refused where this libvirt would misread it (:class:`LibvirtView`).
- ``qemu-commandline``: ``<cpu>`` keeps only names libvirt's CPU map knows, without values, and
  ``<qemu:commandline>`` gets ``-cpu`` with the full validated value, merged with what libvirt puts on its own
  ``-cpu`` for the domain (``libvirt_flags``).

A request is validated once (:func:`plan`); its ``-cpu`` value (``validate.join_cpu_arg`` of
``validate.cpu_settings``) and its ``<cpu>`` (:func:`cpu_element`) are written from the validated features. Writing
them into a domain is ``domain_edit`` (existing guests) and ``plugin_utils.domains`` (new ones).

Standard library only (ElementTree): it runs on hypervisors.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree
from collections.abc import Mapping, Sequence
from typing import Any, Iterable

from ansible_collections.armvirt.cpu.plugins.module_utils._common.names import (
    CPU_MODELS, CUSTOM, FEATURE_VALUE, QEMU_COMMANDLINE)
from ansible_collections.armvirt.cpu.plugins.module_utils._host import props as propmodel
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate

MEASURED = ("measured on libvirt 9.0: <feature policy='require' name='sve128' value='off'/> started QEMU with "
            "sve128=on, the opposite of the request")


def _natural(name: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"([0-9]+)", name)]


class LibvirtView(object):
    """The ``libvirt_cpu`` fact as the guest side needs it, and the refusals ``libvirt_check`` makes.

    ``notes`` collects sentences for the result (check skipped, daemon not restarted); ``missing`` is the error
    record when the check is on but there is no fact to check against.
    """

    def __init__(self, fact: Any, check: bool, host: str, delivery: str) -> None:
        self.check, self.host, self.delivery = check, host, delivery
        self.fact = fact if isinstance(fact, Mapping) else None
        known = self.fact.get("cpu_map_features") if self.fact else None
        self.known = frozenset(known) if isinstance(known, Sequence) and not isinstance(known, str) else None
        self.value_ok = bool(self.fact and self.fact.get("feature_value_supported"))
        self.version = (self.fact or {}).get("version") or "of unknown version"
        self.missing: validate.FeatureError | None = None
        self.notes: list[str] = []
        self.status: str | None = None
        if not check:
            self.status = "skipped (libvirt_check: false)"
            self.notes.append("libvirt_check is false: the XML was not checked against this host's libvirt; an "
                              "unpatched libvirt drops feature values silently (%s) and refuses names outside "
                              "its CPU map at start." % MEASURED)
        elif self.fact is None:
            self.missing = validate.FeatureError(
                host, None, None, [], "libvirt-facts-missing", "%s: libvirt_check needs the host's libvirt_cpu fact "
                "(run armvirt.cpu.libvirt_facts first, as the role does, or pass libvirt), or set libvirt_check: "
                "false to write without the check." % host)
        else:
            self.status = "performed (libvirt %s)" % self.version
        if self.fact and self.fact.get("version_mismatch"):
            self.notes.append("%s: libvirt's daemon runs %s but %s is installed; it was not restarted after an "
                              "upgrade, so it may not accept what its files describe." % (
                                  host, self.fact.get("daemon_version"), self.fact.get("version")))

    def refusals(self, features: list[dict[str, str]]) -> list[validate.FeatureError]:
        """FeatureErrors for what this libvirt would misread (feature-value delivery with the check on)."""
        if not self.check or self.fact is None or self.delivery != FEATURE_VALUE:
            return []
        errors, known = [], self.known or frozenset()
        shown = ", ".join(sorted(known, key=_natural)) or "none"
        for feature in features:
            name, value = feature["name"], feature.get("value")
            if value is not None and not self.value_ok:
                errors.append(validate.FeatureError(
                    self.host, name, value, [], "libvirt-drops-value",
                    "%s: %s=%s needs <feature value=...> (libvirt's RFC), which libvirt %s here lacks: it would "
                    "accept the XML, drop value and keep %s as a boolean (%s). Use delivery qemu-commandline, a "
                    "libvirt with the RFC, or libvirt_check: false." % (self.host, name, value, self.version, name,
                                                                        MEASURED)))
            if name not in known:
                errors.append(validate.FeatureError(
                    self.host, name, value, sorted(known, key=_natural), "libvirt-unknown-feature",
                    "%s: libvirt %s here does not know the CPU feature %s (its Arm CPU map lists: %s) and would "
                    "refuse the guest at start with \"unknown CPU feature: %s\". Use delivery qemu-commandline, a "
                    "libvirt whose CPU map has it, or libvirt_check: false." % (self.host, self.version, name, shown,
                                                                                name)))
        return errors

    def commandline_cpu_features(self, features: list[dict[str, str]]) -> list[dict[str, str]]:
        """What <cpu> keeps under qemu-commandline: names libvirt's CPU map knows, without values.

        A boolean value becomes the policy that means it (off: disable), other values stay on -cpu only: writing a
        valued feature valueless would silently turn it into ``name=on``. Without the map nothing is kept, since
        libvirt refuses unknown names at start; the -cpu override carries every feature anyway.
        """
        kept = []
        for feature in features:
            if self.known is None or feature["name"] not in self.known:
                continue
            if "value" not in feature:
                kept.append(feature)
                continue
            word = propmodel.bool_word(feature["value"])
            if word == propmodel.ON:
                kept.append({"name": feature["name"], "policy": feature["policy"]})
            elif word == propmodel.OFF:
                kept.append({"name": feature["name"], "policy": "disable"})
        return kept


class Plan(object):
    """One request decided for one delivery: ``errors`` (FeatureErrors; nothing else is set then), else the ``-cpu``
    value ``arg``, the ``cpu_features`` for ``<cpu>``, the ``commandline`` arguments and the mode/model."""

    __slots__ = ("errors", "arg", "cpu_features", "commandline", "mode", "model", "delivery")

    def __init__(self, errors: list[validate.FeatureError], arg: str | None = None,
                 cpu_features: Iterable[dict[str, str]] = (), commandline: Iterable[str] = (), mode: str | None = None,
                 model: str | None = None, delivery: str | None = None) -> None:
        self.errors, self.arg, self.cpu_features, self.commandline = errors, arg, list(cpu_features), list(commandline)
        self.mode, self.model, self.delivery = mode, model, delivery


def _qemu_model(mode: str, model: str | None, host: str) -> str:
    """The model a ``-cpu`` value starts with: QEMU's ``host`` or ``max`` for host-passthrough and maximum, for
    ``custom`` the libvirt model, which QEMU names the same. Raises ``validate.FeatureRequestError``."""
    if mode == CUSTOM:
        if validate.is_token(model):
            return model
        raise validate.FeatureRequestError([validate.FeatureError(
            host, None, None, [], "unknown-mode", "%s: CPU mode custom needs a model, a plain token such as "
            "cortex-a57 (letters, digits, '.', '_', '-'), not %r." % (host, model))])
    qemu_model = CPU_MODELS.get(mode) if isinstance(mode, str) else None
    if qemu_model is None:
        raise validate.FeatureRequestError([validate.unknown_mode(host, mode)])
    return qemu_model


def cpu_arg(features: Any, mode: str, model: str | None = None, host: str = "request") -> str:
    """The ``-cpu`` value for ``features`` as given (``confirm``'s requests), checked once for what holds without a
    host (``validate.check_shape``: shape, policies, tokens): ``validate.qemu_cpu_arg`` for host-passthrough and
    maximum, which reports an unknown mode with the features' problems; for ``custom`` the model first. Raises
    ``validate.FeatureRequestError``."""
    if mode != CUSTOM:
        return validate.qemu_cpu_arg(features, mode, host=host)
    qemu_model = _qemu_model(mode, model, host)
    normalised, errors = validate.check_shape(features, host)
    if errors:
        raise validate.FeatureRequestError(errors)
    return validate.join_cpu_arg(qemu_model, validate.cpu_settings(normalised))


def plan(features: Any, props: Any, mode: str, host: str, libvirt_view: LibvirtView, model: str | None = None,
         own: Any = None) -> Plan:
    """Validate ``features`` against ``props`` (``validate.check_features``), apply ``libvirt_view``'s refusals, and
    decide the ``-cpu`` value and what ``<cpu>`` carries for ``libvirt_view.delivery``. ``props`` None checks only
    shape, policies and tokens (values then go through as written).

    ``own`` is the host's own ``arm_cpu_props``, used when ``props`` is a fleet or class baseline: a baseline speaks
    canonical fields, and the host's QEMU its own dialect, so the request that passed the baseline is translated into
    the host's names (and checked against its own fact once more) before the ``-cpu`` and ``<cpu>`` are decided."""
    if props is None:
        normalised, errors = validate.check_shape(features, host)
    else:
        normalised, errors = validate.check_features(features, props, host)
    judge = own if own is not None and validate.is_baseline(props) else props
    if not errors and judge is not props:
        normalised, errors = validate.check_features(normalised, own, host)
    if props is not None and mode == CUSTOM:
        # the model first (on the host's own fact: a baseline lists no models); what it says of the features only
        # once they pass on their own
        errors = [error for error in validate.check_model(model, normalised, judge, host)
                  if not errors or error.rule == "model-not-offered"] + errors
    if errors:
        return Plan(errors)
    refusals = libvirt_view.refusals(normalised)
    if refusals:
        return Plan(refusals)
    try:
        # normalised is checked (against the host, in its spelling) and is rendered as it is
        arg = validate.join_cpu_arg(_qemu_model(mode, model, host), validate.cpu_settings(normalised))
    except validate.FeatureRequestError as exc:
        return Plan(exc.errors)
    if libvirt_view.delivery == QEMU_COMMANDLINE:
        return Plan([], arg, libvirt_view.commandline_cpu_features(normalised), ["-cpu", arg], mode, model,
                    QEMU_COMMANDLINE)
    return Plan([], arg, normalised, [], mode, model, FEATURE_VALUE)


def cpu_element(mode: str, features: Iterable[Mapping[str, str]], model: str | None = None) -> ElementTree.Element:
    """The ``<cpu>`` this collection writes for a planned request (:attr:`Plan.cpu_features`): ``mode``, for custom
    ``match='exact'`` and ``<model fallback='forbid'>``, then ``<feature policy name [value]>`` per feature in order.
    The one writer of ``<cpu>``:
    ``domain_edit.edit_domain`` puts it into a domain libvirt has, the role's template writes it as
    ``domain_xml.libvirt_text``
    (``plugin_utils.domains``' ``cpu_element`` filter)."""
    cpu = ElementTree.Element("cpu", mode=mode)
    if mode == CUSTOM:
        # exactly the named model, never a fallback to another one libvirt thinks is close (libvirt's own form of a
        # named model: <cpu mode='custom' match='exact'><model fallback='forbid'>)
        cpu.set("match", "exact")
        ElementTree.SubElement(cpu, "model", fallback="forbid").text = model
    for feature in features:
        element = ElementTree.SubElement(cpu, "feature", policy=feature["policy"], name=feature["name"])
        if "value" in feature:
            element.set("value", feature["value"])
    return cpu
