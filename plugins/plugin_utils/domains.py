# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guest domain XML for one host: merge, validate, render, check against libvirt's schema. Controller side.

This is the work of the ``armvirt.cpu.guest_domains`` action before anything is written (the module writes). It
holds no validation rule of its own for features: every distinct request is validated once by ``delivery.plan``
(``validate.check_features``), which also decides its ``-cpu`` value, which features ``<cpu>`` carries for each
delivery and what ``libvirt_check`` refuses, shared with ``armvirt.cpu.domain_cpu`` (existing guests).
What it adds is what only the guest side knows: guest names that become file names, the template, and the rendered
document's fit with libvirt's schema.

For ``qemu-commandline`` the ``-cpu`` in ``<qemu:commandline>`` is the request merged with what libvirt itself puts on
its ``-cpu`` for the rendered domain (``libvirt_flags.commandline_override``, the same code ``domain_cpu`` writes with):
the document is rendered once with ``qemu_cpu_arg`` left open, libvirt's flags are read from it (they never depend on
``<qemu:commandline>``), and the merged value is written into its places. ``<domain type>`` follows the host's
accelerator (:func:`domain_type`).

Built for many guests per task (10,000 and more): the template is compiled once per process and file version, the
schema validator once per schema directory (``libvirt_schema``), each distinct feature set is checked once, and the
schema check runs once per distinct document apart from the domain's name (see :func:`name_masked`), so guests that
share features and size cost little more than their render.
"""

from __future__ import annotations

import collections
import functools
import importlib.resources
import json
import os
import pathlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, Tuple, cast

import jinja2
from markupsafe import Markup, escape

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import confirm, domain_files
from ansible_collections.armvirt.cpu.plugins.module_utils._host import emulator_trust
from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
from ansible_collections.armvirt.cpu.plugins.module_utils._host import vocabulary
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import delivery as delivery_plan
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import domain_xml, libvirt_flags
from ansible_collections.armvirt.cpu.plugins.plugin_utils import libvirt_schema

GUEST_KEYS = ("name", "memory", "vcpus", "features")
COLLECTION_PACKAGE = "ansible_collections.armvirt.cpu"
DEFAULT_TEMPLATE = "roles/guest_cpu/templates/domain.xml.j2"   # the role's, read through the collection's loader
CPU_ELEMENT_FILTER = "armvirt.cpu.cpu_element"
MEASURED = delivery_plan.MEASURED
DEFAULT_EMULATOR = "/usr/bin/qemu-system-aarch64"   # _argspec.probe_argument_spec's, cpu_check's default
# the domain type of a fact without a known accelerator (names.DOMAIN_TYPES gives the others')
DEFAULT_DOMAIN_TYPE = names.DOMAIN_TYPES[names.KVM]

_POSITIVE_RE = re.compile(r"[1-9][0-9]*")
# the document's start up to the domain's own <name>: an XML declaration, comments, <domain ...>, whitespace
_NAME_PREFIX_RE = re.compile(r"\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<domain\b[^>]*>\s*<name>", re.S)
_NAME_MASK = "\x00"
# qemu_cpu_arg of a qemu-commandline rendering until the override is known: characters no guest name, token or -cpu
# value has, which autoescaping and case filters leave as they are; the override then takes each of its places
_OVERRIDE_SLOT = "\ue000\ue001\ue000"
_UNREAD = object()
_TEMPLATES: dict[object, jinja2.Template] = {}


class SetupError(Exception):
    """The task cannot run at all (template unreadable or broken, schema unavailable): one message, no records."""


class Outcome(object):
    """What :func:`build` decided: documents to write in guest order, or error records (then nothing is written)."""

    def __init__(self) -> None:
        self.documents: list[tuple[str, str]] = []  # [(name, xml)]
        self.guests: dict[str, dict[str, Any]] = {}  # name -> {"qemu_cpu_arg": ..., "emulator": ...}
        self.errors: list[dict[str, Any]] = []  # record dicts: host, guest, feature, value, allowed, rule, message
        self.nameless: set[int] = set()  # positions (1-based) of the guests with errors and no usable name (guest None)
        self.notes: list[str] = []  # sentences for the result (libvirt_check skipped, daemon mismatch, ...)
        self.schema: str | None = None  # which schema checked the documents
        self.libvirt_check: str | None = None  # what the libvirt check did

    def failure(self, host: str) -> str:
        """The task's message for the errors: how many problems, how many guests they concern, then each problem.

        Guests are counted apart: each named one once, each one without a usable name by its position (their
        records all have guest None). A problem of the host rather than a guest (libvirt facts missing) counts none.
        """
        guests = len({record["guest"] for record in self.errors if record["guest"] is not None}) + len(self.nameless)
        of = " of %d guest%s" % (guests, "" if guests == 1 else "s") if guests else ""
        return "%s: nothing was written; %d problem%s in the guest CPU request%s:\n%s" % (
            host, len(self.errors), "" if len(self.errors) == 1 else "s", of, self.message())

    def message(self, limit: int = 10) -> str:
        """The errors for people: each distinct message once, with the guests it concerns."""
        by_message: collections.OrderedDict[str, list[str | None]] = collections.OrderedDict()
        for record in self.errors:
            by_message.setdefault(record["message"], []).append(record["guest"])
        lines = []
        for text, guests in by_message.items():
            named = [guest for guest in guests if guest is not None]
            if named:
                shown = ", ".join(str(name) for name in named[:limit])
                if len(named) > limit:
                    shown += " and %d more" % (len(named) - limit)
                text = "%s [guest%s: %s]" % (text, "s" if len(named) > 1 else "", shown)
            lines.append("- " + text)
        return "\n".join(lines)


def load_template(path: str | None = None) -> jinja2.Template:
    """The compiled Jinja2 template at ``path``, without one the role's own (:data:`DEFAULT_TEMPLATE`, found by the
    collection's loader wherever the collection is installed); cached per file version."""
    key: object
    try:
        if path is None:
            key, source = DEFAULT_TEMPLATE, importlib.resources.files(COLLECTION_PACKAGE).joinpath(DEFAULT_TEMPLATE)
        else:
            stat = os.stat(path)
            key, source = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size), pathlib.Path(path)
        template = _TEMPLATES.get(key)
        if template is None:
            template = _TEMPLATES[key] = _environment().from_string(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SetupError("cannot read the domain template %s: %s" % (path or DEFAULT_TEMPLATE, exc.strerror or exc))
    except jinja2.TemplateSyntaxError as exc:
        raise SetupError("the domain template %s has a syntax error at line %s: %s"
                         % (path or DEFAULT_TEMPLATE, exc.lineno, exc.message))
    return template


class CpuElementError(jinja2.TemplateRuntimeError):
    """The ``cpu_element`` filter was given something other than a plan's features."""


def _environment() -> jinja2.Environment:
    """Plain Jinja2, autoescaped (the templates write XML), with the filter plugin ``armvirt.cpu.cpu_element``'s
    function under its full name (the role's template uses it, so the template renders the same under
    ``ansible.builtin.template``) and under its short name (templates written before the plugin existed)."""
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                                     lstrip_blocks=True, keep_trailing_newline=True)
    environment.filters["cpu_element"] = environment.filters[CPU_ELEMENT_FILTER] = cpu_element_filter
    return environment


def cpu_element_filter(features: Any, mode: str, model: str | None = None) -> Markup:
    """The filter ``armvirt.cpu.cpu_element`` (plugins/filter/cpu_element.py): the ``<cpu>`` of ``features`` (a
    plan's ``cpu_features``) in ``mode``, indented as a child of ``<domain>``, from the collection's one writer
    (``delivery.cpu_element``), so a new guest's ``<cpu>`` is the one domain_cpu writes into an existing guest.
    Written once per distinct request: guests share a few."""
    try:
        request = tuple((feature["name"], feature["policy"], feature.get("value")) for feature in features)
    except (KeyError, TypeError, AttributeError):
        raise CpuElementError(
            "cpu_element takes a plan's cpu_features (each with name and policy, and value where it has one), "
            "not %s" % json.dumps(features, default=str)[:200])
    return _cpu_text(mode, model, request)


@functools.lru_cache(maxsize=1024)
def _cpu_text(mode: str, model: str | None, features: tuple[tuple[str, str, str | None], ...]) -> Markup:
    planned = [dict(name=name, policy=policy, **({} if value is None else {"value": value}))
               for name, policy, value in features]
    return Markup(domain_xml.libvirt_text(delivery_plan.cpu_element(mode, planned, model), level=1))


def name_masked(document: str, name: str) -> str | None:
    """``document`` with the domain's ``<name>`` content masked, or None when that is not provably harmless.

    Two documents that differ only in the text of the domain's ``<name>`` are equally valid when both names are
    plain tokens: libvirt's schema types that text as any string without a newline. So the schema check may be
    shared by documents equal after masking, provided the name sits in the domain's own ``<name>`` (right after
    ``<domain ...>``) and nowhere else (a template may also use it in paths or attributes with their own types;
    those documents are checked one by one).
    """
    match = _NAME_PREFIX_RE.match(document)
    if match is None or document.count(name) != 1:
        return None
    end = match.end()
    if not document.startswith(name + "</name>", end):
        return None
    return document[:end] + _NAME_MASK + document[end + len(name):]


def merge_features(common: Any, own: Any) -> Any:
    """The guest's request: common features with those the guest names replaced in place, its new ones after.

    A guest's feature replaces the common ones of the same ID-register fields, whatever names either uses
    (``vocabulary.canonical_name``): a guest's ``feat_RAS`` replaces a policy's ``SYSREG_ID_AA64PFR0_EL1_RAS`` and
    ``SYSREG_ID_AA64PFR1_EL1_RAS_frac``, at the first of their places. Items without a usable name and repeated names
    are kept, so that validation reports them instead of this function silently choosing.
    """
    if own is None:
        return common
    if not isinstance(own, Sequence) or isinstance(own, (str, bytes)) or not isinstance(common, Sequence):
        return own
    overrides: dict[str, Any] = {}
    for item in own:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            for key in _field_keys(item["name"]):
                overrides.setdefault(key, item)
    merged: list[Any]
    used: set[int]
    merged, used = [], set()
    for item in common:
        name = item.get("name") if isinstance(item, Mapping) else None
        override = next((overrides[key] for key in _field_keys(name) if key in overrides), None) \
            if isinstance(name, str) else None
        if override is None:
            merged.append(item)
        elif id(override) not in used:
            merged.append(override)
            used.add(id(override))
    merged.extend(item for item in own if id(item) not in used)
    return merged


def _field_keys(name: str) -> tuple[str, ...]:
    """A feature's name and the canonical fields it stands for."""
    return (name,) + vocabulary.canonical_name(name)


def domain_type(accel: object) -> str:
    """libvirt's ``<domain type>`` for the accelerator of the host's ``arm_cpu_props`` fact: ``kvm`` for kvm,
    ``qemu`` for tcg (libvirt refuses type kvm where QEMU has no KVM, e.g. an x86 host emulating aarch64, and a
    type qemu guest runs under TCG even where KVM is there); ``kvm`` when the accelerator is not known."""
    return names.DOMAIN_TYPES.get(accel, DEFAULT_DOMAIN_TYPE) if isinstance(accel, str) else DEFAULT_DOMAIN_TYPE


def _record(error: validate.FeatureError, guest: str | None) -> dict[str, Any]:
    record = error.as_dict()
    record["guest"] = guest
    return record


def _positive(value: object) -> int | None:
    """An int from an int or a decimal string, None otherwise (YAML and templating give either)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and _POSITIVE_RE.fullmatch(value):
        return int(value)
    return None


def build(guests: Any, features: Any = (), props: Any = None, mode: str = names.DEFAULT_MODE, host: str = "host",
          delivery: str = names.FEATURE_VALUE, template: str | None = None, schema_dir: str = caps.DEFAULT_SCHEMA_DIR,
          libvirt: Any = None, libvirt_check: bool = True, accel: str | None = None, emulator: str = DEFAULT_EMULATOR,
          model: str | None = None, own_props: Any = None) -> Outcome:
    """Decide every guest's XML for one host; see the module docstring. Raises SetupError for set-up faults.

    ``accel`` is the host's accelerator (its own ``arm_cpu_props.accel``, which a fleet baseline in ``props`` may
    not carry); without it ``props``' own ``accel`` is used. It decides ``<domain type>`` (:func:`domain_type`).
    ``emulator`` is the configured emulator, each guest's ``<emulator>`` unless the guest names its own
    (:func:`guest_emulator`); the rendered document must carry it, since it is the one that confirms the guest's
    ``-cpu`` (the role's cpu_check, domain_cpu's confirmation). ``own_props`` is the host's own ``arm_cpu_props``:
    when ``props`` is a baseline, the guests are rendered in the host's names (``delivery.plan``'s ``own``).
    """
    outcome = Outcome()
    if accel is None and isinstance(props, Mapping):
        accel = props.get("accel")
    type_ = domain_type(accel)
    if delivery not in names.DELIVERIES:
        raise SetupError("delivery %r is not one of %s" % (delivery, ", ".join(names.DELIVERIES)))
    libvirt_view = delivery_plan.LibvirtView(libvirt, libvirt_check, host, delivery)
    outcome.libvirt_check = libvirt_view.status
    outcome.notes.extend(libvirt_view.notes)
    if libvirt_view.missing is not None:
        outcome.errors.append(_record(libvirt_view.missing, None))
    if not isinstance(guests, Sequence) or isinstance(guests, (str, bytes)):
        outcome.errors.append(_record(validate.FeatureError(host, None, None, [], "bad-guest", "%s: guests must be a "
                                                            "list of mappings." % host), None))
        return outcome

    sets: dict[str | None, delivery_plan.Plan]
    plan: list[tuple[str, tuple[int, int], Mapping[str, Any], delivery_plan.Plan, object]]
    seen: set[str]
    path_problems: dict[object, str | None]
    sets, plan, seen, path_problems = {}, [], set(), {}   # path_problems: emulator -> why it is refused
    for index, guest in enumerate(guests, 1):
        name, size = _check_guest(index, guest, host, seen, outcome)
        if name is None:
            continue
        own_emulator = guest_emulator(guest, emulator)
        try:
            problem = path_problems[own_emulator]
        except KeyError:
            problem = path_problems[own_emulator] = emulator_trust.path_problem(own_emulator)
        except TypeError:   # not hashable, so no path either
            problem = emulator_trust.path_problem(own_emulator)
        if problem:
            outcome.errors.append(_guest_error(host, name, "bad-emulator", "%s: the emulator %r %s; a guest's "
                                               "<emulator> (its emulator key, else the configured emulator) must "
                                               "be an absolute path of plain characters." % (host, own_emulator,
                                                                                             problem)))
            size = None
        own = guest.get("features")
        key = None if own is None else json.dumps(own, sort_keys=True, default=repr)
        entry = sets.get(key)
        if entry is None:
            entry = sets[key] = delivery_plan.plan(merge_features(features, own), props, mode, host, libvirt_view,
                                                   model, own=own_props)
        for error in entry.errors:
            outcome.errors.append(_record(error, name))
        if size is not None and not entry.errors:
            plan.append((name, size, guest, entry, own_emulator))
    if outcome.errors:
        return outcome

    compiled = load_template(template)
    try:
        validator = libvirt_schema.domain_validator(schema_dir, allow_value=(delivery == names.FEATURE_VALUE))
    except libvirt_schema.SchemaUnavailable as exc:
        raise SetupError(str(exc))
    outcome.schema = validator.describe()
    render, check, commandline = compiled.render, validator.errors, delivery == names.QEMU_COMMANDLINE
    checked: dict[str, list[str]] = {}  # name-masked document -> its schema problems
    overrides: dict[str, str] = {}  # name-masked rendering (the override left open) -> the merged -cpu override
    emulators: dict[str, object] = {}  # name-masked document -> the <emulator> it names
    for name, (memory, vcpus), guest, entry, own_emulator in plan:
        cpu_arg = entry.arg
        try:
            document = render(name=name, memory=memory, vcpus=vcpus, mode=mode, model=model,
                              cpu_features=entry.cpu_features,
                              qemu_cpu_arg=_OVERRIDE_SLOT if commandline else cpu_arg, request_cpu_arg=entry.arg,
                              delivery=delivery, qemu_commandline=commandline, host=host, guest=guest,
                              mark_ns=domain_xml.MARK_NS, domain_type=type_, emulator=own_emulator)
            if commandline:
                cpu_arg = _override(document, name, cast(str, entry.arg), overrides)
                # escaped as the template's autoescape would have: the same bytes for the tokens a -cpu value holds
                document = document.replace(_OVERRIDE_SLOT, str(escape(cpu_arg)))
        except jinja2.TemplateError as exc:
            outcome.errors.append(_guest_error(host, name, "template", "%s: guest %s: the template %s failed: %s"
                                               % (host, name, template or DEFAULT_TEMPLATE, exc)))
            continue
        except domain_xml.DeliveryError as exc:
            outcome.errors.append(_guest_error(host, name, "template", "%s: guest %s: the template %s gives no "
                                               "domain to merge the -cpu override with: %s"
                                               % (host, name, template or DEFAULT_TEMPLATE, exc)))
            continue
        masked = name_masked(document, name)
        problems: list[str] | None
        if masked is None:
            problems = check(document)
        else:
            problems = checked.get(masked)
            if problems is None:
                problems = checked[masked] = check(document)
        if problems:
            outcome.errors.append(_guest_error(host, name, "schema", "%s: guest %s: the rendered XML fails the %s: %s"
                                               % (host, name, validator.describe(), "; ".join(problems[:5]))))
            continue
        written = rendered_emulator(document) if masked is None else emulators.get(masked, _UNREAD)
        if written is _UNREAD:
            written = emulators[cast(str, masked)] = rendered_emulator(document)
        if written != own_emulator:
            outcome.errors.append(_guest_error(host, name, "template", "%s: guest %s: the template %s writes "
                                               "<emulator>%s</emulator>, not the emulator %s that confirms the "
                                               "guest's CPU; give the template's domain <emulator>{{ emulator }}"
                                               "</emulator>." % (host, name, template or DEFAULT_TEMPLATE,
                                                                 written or "", own_emulator)))
            continue
        outcome.documents.append((name, document))
        outcome.guests[name] = {"qemu_cpu_arg": cpu_arg, "emulator": own_emulator}
    if outcome.errors:
        outcome.documents, outcome.guests = [], {}
    return outcome


def guest_emulator(guest: object, configured: str = DEFAULT_EMULATOR) -> object:
    """A guest's emulator: its own ``emulator`` key, else the configured one (the role's ``guest_cpu_emulator``)."""
    own = guest.get("emulator") if isinstance(guest, Mapping) else None
    return configured if own is None else own


def rendered_emulator(document: str) -> str | None:
    """The ``<devices><emulator>`` a rendered domain names (what libvirt runs, and what domain_cpu confirms with:
    ``confirm.domain_target``), None without one."""
    try:
        return confirm.domain_target(document, default_emulator=None)[0]
    except confirm.ConfirmError:
        return None


def _override(document: str, name: str, request_arg: str, cache: dict[str, str]) -> str:
    """The ``-cpu`` override of a qemu-commandline document rendered with the override left open
    (``libvirt_flags.commandline_override``, which never reads ``<qemu:commandline>`` or the mark), worked out once per
    document apart from the guest's name (the name never changes libvirt's -cpu)."""
    masked = name_masked(document, name)
    if masked is not None and masked in cache:
        return cache[masked]
    override = libvirt_flags.commandline_override(domain_xml.parse(document), request_arg)
    if masked is not None:
        cache[masked] = override
    return override


def _guest_error(host: str, guest: str | None, rule: str, message: str) -> dict[str, Any]:
    return _record(validate.FeatureError(host, None, None, [], rule, message), guest)


def _check_guest(index: int, guest: object, host: str, seen: set[str],
                 outcome: Outcome) -> tuple[str | None, tuple[int, int] | None]:
    """``(name, (memory, vcpus))`` of a usable guest; records problems. ``(None, None)`` when it has no name to
    report features under, ``(name, None)`` when its name is fine but its size is not (features still checked)."""
    def fail(rule: str, text: str, guest_name: str | None = None) -> None:
        outcome.errors.append(_guest_error(host, guest_name, rule, "%s: %s" % (host, text)))
        if guest_name is None:
            outcome.nameless.add(index)

    if not isinstance(guest, Mapping):
        fail("bad-guest", "guest #%d is %r, not a mapping with name, memory and vcpus." % (index, guest))
        return None, None
    name: Any = guest.get("name")   # a string once guest_name_problem passes it
    problem = domain_files.guest_name_problem(name) if "name" in guest else "guest #%d has no name" % index
    if problem:
        fail("bad-guest-name", problem + ".")
        return None, None
    if name in seen:
        fail("duplicate-guest", "guest %s is listed more than once; each guest is one file." % name, name)
        return None, None
    seen.add(name)
    sizes: list[int | None] = []
    for key in ("memory", "vcpus"):
        number = _positive(guest.get(key))
        if number is None:
            fail("bad-guest", "guest %s needs %s as a positive integer%s, not %r." % (
                name, key, " (MiB)" if key == "memory" else "", guest.get(key)), name)
        sizes.append(number)
    return name, (cast(Tuple[int, int], tuple(sizes)) if None not in sizes else None)
