# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guest domain XML for one host: merge, validate, render, check against libvirt's schema. Controller side.

This is the work of the ``armvirt.cpu.guest_domains`` action before anything is written (the module writes). It
holds no validation rule of its own for features: every request goes through ``validate.check_features`` and the
``-cpu`` value through ``validate.qemu_cpu_arg``; which features ``<cpu>`` carries for each delivery and what
``libvirt_check`` refuses is ``module_utils.delivery``, shared with ``armvirt.cpu.domain_cpu`` (existing guests).
What it adds is what only the guest side knows: guest names that become file names, the template, and the rendered
document's fit with libvirt's schema.

Built for many guests per task (10,000 and more): the template is compiled once per process and file version, the
schema validator once per schema directory (``libvirt_schema``), each distinct feature set is checked once, and the
schema check runs once per distinct document apart from the domain's name (see :func:`name_masked`), so guests that
share features and size cost little more than their render.
"""

from __future__ import annotations

import collections
import json
import os
import re
from collections.abc import Mapping, Sequence

import jinja2

from ansible_collections.armvirt.cpu.plugins.module_utils import delivery as delivery_plan
from ansible_collections.armvirt.cpu.plugins.module_utils import validate
from ansible_collections.armvirt.cpu.plugins.plugin_utils import libvirt_schema

FEATURE_VALUE, QEMU_COMMANDLINE = delivery_plan.FEATURE_VALUE, delivery_plan.QEMU_COMMANDLINE
DELIVERIES = delivery_plan.DELIVERIES
MODES = tuple(validate.CPU_MODELS)
GUEST_KEYS = ("name", "memory", "vcpus", "features")
DEFAULT_SCHEMA_DIR = "/usr/share/libvirt/schemas"
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_TEMPLATE = os.path.join(COLLECTION_ROOT, "roles", "guest_cpu", "templates", "domain.xml.j2")
MEASURED = delivery_plan.MEASURED

_POSITIVE_RE = re.compile(r"[1-9][0-9]*")
# the document's start up to the domain's own <name>: an XML declaration, comments, <domain ...>, whitespace
_NAME_PREFIX_RE = re.compile(r"\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<domain\b[^>]*>\s*<name>", re.S)
_NAME_MASK = "\x00"
_TEMPLATES = {}


class SetupError(Exception):
    """The task cannot run at all (template unreadable or broken, schema unavailable): one message, no records."""


class Outcome(object):
    """What :func:`build` decided: documents to write in guest order, or error records (then nothing is written)."""

    def __init__(self):
        self.documents = []          # [(name, xml)]
        self.guests = {}             # name -> {"qemu_cpu_arg": ...}
        self.errors = []             # record dicts: host, guest, feature, value, allowed, rule, message
        self.notes = []              # sentences for the result (libvirt_check skipped, daemon mismatch, ...)
        self.schema = None           # which schema checked the documents
        self.libvirt_check = None    # what the libvirt check did

    def message(self, limit=10):
        """The errors for people: each distinct message once, with the guests it concerns."""
        by_message = collections.OrderedDict()
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


def load_template(path):
    """The compiled Jinja2 template at ``path``, cached per file version (autoescaped: it writes XML)."""
    try:
        stat = os.stat(path)
        key = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size)
        template = _TEMPLATES.get(key)
        if template is None:
            with open(path, encoding="utf-8") as handle:
                source = handle.read()
            environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                                             lstrip_blocks=True, keep_trailing_newline=True)
            template = _TEMPLATES[key] = environment.from_string(source)
    except OSError as exc:
        raise SetupError("cannot read the domain template %s: %s" % (path, exc.strerror or exc))
    except jinja2.TemplateSyntaxError as exc:
        raise SetupError("the domain template %s has a syntax error at line %s: %s" % (path, exc.lineno, exc.message))
    return template


def guest_name_problem(name):
    """Why ``name`` cannot name a guest (and its file ``<name>.xml``), or None.

    validate's token rule keeps out path separators, quotes and shell or XML metacharacters; a leading dot is
    refused too, since it would hide the file and clash with the writer's temporary files.
    """
    if not validate.is_token(name):
        return ("guest name %r is not a plain token (letters, digits, '.', '_', '-' only): it becomes a file name "
                "and libvirt's domain name" % (name,))
    if name.startswith("."):
        return "guest name %r starts with a dot, which would make a hidden file" % name
    return None


def name_masked(document, name):
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


def merge_features(common, own):
    """The guest's request: common features with those the guest names replaced in place, its new ones after.

    Items without a usable name and repeated names are kept, so that validation reports them instead of this
    function silently choosing.
    """
    if own is None:
        return common
    if not isinstance(own, Sequence) or isinstance(own, (str, bytes)) or not isinstance(common, Sequence):
        return own
    overrides = {}
    for item in own:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            overrides.setdefault(item["name"], item)
    merged, used = [], set()
    for item in common:
        name = item.get("name") if isinstance(item, Mapping) else None
        if isinstance(name, str) and name in overrides:
            merged.append(overrides[name])
            used.add(id(overrides[name]))
        else:
            merged.append(item)
    merged.extend(item for item in own if id(item) not in used)
    return merged


def _record(error, guest):
    record = error.as_dict()
    record["guest"] = guest
    return record


def _positive(value):
    """An int from an int or a decimal string, None otherwise (YAML and templating give either)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and _POSITIVE_RE.fullmatch(value):
        return int(value)
    return None


def build(guests, features=(), props=None, mode="host-passthrough", host="host", delivery=FEATURE_VALUE,
          template=DEFAULT_TEMPLATE, schema_dir=DEFAULT_SCHEMA_DIR, libvirt=None, libvirt_check=True):
    """Decide every guest's XML for one host; see the module docstring. Raises SetupError for set-up faults."""
    outcome = Outcome()
    if delivery not in DELIVERIES:
        raise SetupError("delivery %r is not one of %s" % (delivery, ", ".join(DELIVERIES)))
    libvirt_view = delivery_plan.LibvirtView(libvirt, libvirt_check, host, delivery)
    outcome.libvirt_check = libvirt_view.status
    outcome.notes.extend(libvirt_view.notes)
    if libvirt_view.missing is not None:
        outcome.errors.append(_record(libvirt_view.missing, None))
    if not isinstance(guests, Sequence) or isinstance(guests, (str, bytes)):
        outcome.errors.append(_record(validate.FeatureError(host, None, None, [], "bad-guest", "%s: guests must be a "
                                                            "list of mappings." % host), None))
        return outcome

    sets, plan, seen = {}, [], set()
    for index, guest in enumerate(guests, 1):
        name, size = _check_guest(index, guest, host, seen, outcome)
        if name is None:
            continue
        own = guest.get("features")
        key = None if own is None else json.dumps(own, sort_keys=True, default=repr)
        entry = sets.get(key)
        if entry is None:
            entry = sets[key] = delivery_plan.plan(merge_features(features, own), props, mode, host, libvirt_view)
        for error in entry.errors:
            outcome.errors.append(_record(error, name))
        if size is not None and not entry.errors:
            plan.append((name, size, guest, entry))
    if outcome.errors:
        return outcome

    compiled = load_template(template)
    try:
        validator = libvirt_schema.domain_validator(schema_dir, allow_value=(delivery == FEATURE_VALUE))
    except libvirt_schema.SchemaUnavailable as exc:
        raise SetupError(str(exc))
    outcome.schema = validator.describe()
    render, check, commandline = compiled.render, validator.errors, delivery == QEMU_COMMANDLINE
    checked = {}  # name-masked document -> its schema problems
    for name, (memory, vcpus), guest, entry in plan:
        try:
            document = render(name=name, memory=memory, vcpus=vcpus, mode=mode, cpu_features=entry.cpu_features,
                              qemu_cpu_arg=entry.arg, delivery=delivery, qemu_commandline=commandline, host=host,
                              guest=guest, mark_ns=delivery_plan.MARK_NS)
        except jinja2.TemplateError as exc:
            outcome.errors.append(_guest_error(host, name, "template", "%s: guest %s: the template %s failed: %s"
                                               % (host, name, template, exc)))
            continue
        masked = name_masked(document, name)
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
        outcome.documents.append((name, document))
        outcome.guests[name] = {"qemu_cpu_arg": entry.arg}
    if outcome.errors:
        outcome.documents, outcome.guests = [], {}
    return outcome


def _guest_error(host, guest, rule, message):
    return _record(validate.FeatureError(host, None, None, [], rule, message), guest)


def _check_guest(index, guest, host, seen, outcome):
    """``(name, (memory, vcpus))`` of a usable guest; records problems. ``(None, None)`` when it has no name to
    report features under, ``(name, None)`` when its name is fine but its size is not (features still checked)."""
    def fail(rule, text, guest_name=None):
        outcome.errors.append(_guest_error(host, guest_name, rule, "%s: %s" % (host, text)))

    if not isinstance(guest, Mapping):
        fail("bad-guest", "guest #%d is %r, not a mapping with name, memory and vcpus." % (index, guest))
        return None, None
    name = guest.get("name")
    problem = guest_name_problem(name) if "name" in guest else "guest #%d has no name" % index
    if problem:
        fail("bad-guest-name", problem + ".")
        return None, None
    if name in seen:
        fail("duplicate-guest", "guest %s is listed more than once; each guest is one file." % name, name)
        return None, None
    seen.add(name)
    sizes = []
    for key in ("memory", "vcpus"):
        number = _positive(guest.get(key))
        if number is None:
            fail("bad-guest", "guest %s needs %s as a positive integer%s, not %r." % (
                name, key, " (MiB)" if key == "memory" else "", guest.get(key)), name)
        sizes.append(number)
    return name, (tuple(sizes) if None not in sizes else None)
