# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt's RelaxNG domain schema on the controller, optionally extended so that ``<feature value=...>`` validates.

Why an overlay: no released libvirt schema admits ``value`` on a CPU ``<feature>`` yet (libvirt's RFC adds it), but
guest XML for a patched libvirt must still be checked against everything else libvirt's schema says. So the
installed schema is copied to a temporary directory, its feature definition gets the RFC's optional ``value`` (with
a value the policy must be ``require`` or ``force``), the copy is compiled, and the temporary directory is removed.
Nothing of libvirt's is shipped or changed in place; a schema that already has ``value`` (a patched libvirt) is
used as it is.

Compiling libvirt's schema takes tens of milliseconds, validating one small domain tens of microseconds, so a
validator is compiled once per schema directory and kind and cached for the life of the process (keyed by the
files' sizes and times, so an upgrade is noticed).

lxml is needed (controller only); without it :class:`SchemaUnavailable` says how to install it.
"""

from __future__ import annotations

import copy
import glob
import os
import shutil
import tempfile
from typing import Any
from xml.etree import ElementTree

from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps

try:
    from lxml import etree
except ImportError:  # pragma: no cover - exercised only where lxml is missing
    etree = None

DOMAIN_SCHEMA = "domain.rng"
RNG = caps.RNG_NS

_CACHE: dict[tuple[str, bool, tuple[tuple[str, int, int], ...]], DomainValidator] = {}


class SchemaUnavailable(Exception):
    """The schema cannot be used at all (no lxml, no domain.rng, unreadable, no feature definition)."""


def _q(tag: str) -> str:
    return "{%s}%s" % (RNG, tag)


def _signature(schema_dir: str) -> tuple[tuple[str, int, int], ...]:
    files = sorted(glob.glob(os.path.join(schema_dir, "*.rng")))
    return tuple((os.path.basename(path), os.stat(path).st_size, os.stat(path).st_mtime_ns) for path in files)


class DomainValidator(object):
    """A compiled domain schema: ``errors(document)`` is empty when the document is valid."""

    def __init__(self, relaxng: Any, schema_dir: str, extended: bool, native_value: bool) -> None:
        self._relaxng = relaxng
        self.schema_dir = schema_dir
        self.extended = extended          # the value overlay was applied
        self.native_value = native_value  # the installed schema already admits value

    def errors(self, document: str | bytes) -> list[str]:
        """libvirt's schema errors for ``document`` (str or bytes) as short strings; empty when valid."""
        try:
            tree = etree.fromstring(document.encode("utf-8") if isinstance(document, str) else document)
        except etree.XMLSyntaxError as exc:
            return ["not well-formed XML: %s" % exc]
        if self._relaxng.validate(tree):
            return []
        return ["line %d: %s" % (entry.line, entry.message) for entry in self._relaxng.error_log] or ["invalid"]

    def describe(self) -> str:
        if self.native_value:
            return "libvirt schema in %s (admits value itself)" % self.schema_dir
        if self.extended:
            return "libvirt schema in %s with the <feature value=...> overlay" % self.schema_dir
        return "libvirt schema in %s, unmodified" % self.schema_dir


def domain_validator(schema_dir: str, allow_value: bool) -> DomainValidator:
    """The cached validator for ``schema_dir``; ``allow_value`` applies the overlay (see the module docstring)."""
    if etree is None:
        raise SchemaUnavailable("lxml is required on the controller to check guest XML against libvirt's schema; "
                                "install it (pip install lxml, see requirements/controller.txt in the collection)")
    schema_dir = os.path.realpath(schema_dir)
    if not os.path.isfile(os.path.join(schema_dir, DOMAIN_SCHEMA)):
        raise SchemaUnavailable("no libvirt RelaxNG schema on the controller: %s is missing. Install libvirt's "
                                "schemas (Debian package libvirt0, Fedora libvirt-libs) or set schema_dir"
                                % os.path.join(schema_dir, DOMAIN_SCHEMA))
    key = (schema_dir, bool(allow_value), _signature(schema_dir))
    validator = _CACHE.get(key)
    if validator is None:
        validator = _CACHE[key] = _compile(schema_dir, bool(allow_value))
    return validator


def _compile(schema_dir: str, allow_value: bool) -> DomainValidator:
    try:
        if not allow_value:
            return DomainValidator(etree.RelaxNG(etree.parse(os.path.join(schema_dir, DOMAIN_SCHEMA))),
                                   schema_dir, extended=False, native_value=False)
        with tempfile.TemporaryDirectory(prefix="armvirt-libvirt-rng-") as scratch:
            for path in glob.glob(os.path.join(schema_dir, "*.rng")):
                shutil.copy(path, scratch)
            native = extend_feature_definition(scratch)
            relaxng = etree.RelaxNG(etree.parse(os.path.join(scratch, DOMAIN_SCHEMA)))
        return DomainValidator(relaxng, schema_dir, extended=not native, native_value=native)
    except (OSError, ElementTree.ParseError, etree.XMLSyntaxError, etree.RelaxNGParseError) as exc:
        raise SchemaUnavailable("cannot compile libvirt's domain schema from %s: %s" % (schema_dir, exc))


def extend_feature_definition(schema_dir: str) -> bool:
    """Add the RFC's ``value`` to the CPU ``<feature>`` definition of the schema files in ``schema_dir`` (a copy!).

    The definition ``policy (5 values), name`` becomes a choice between that and ``policy (require|force), name,
    value``: an optional value that only require/force may carry. Returns True, changing nothing, when the schema
    already admits ``value``. Raises SchemaUnavailable when there is no feature definition to extend.
    """
    path, tree, element = caps.find_feature_definition(schema_dir)
    if path is None or tree is None or element is None:
        raise SchemaUnavailable("no CPU <feature> definition found in the libvirt schema in %s" % schema_dir)
    if caps.find_attribute(element, "value") is not None:
        return True
    name = caps.find_attribute(element, "name")
    if name is None:
        raise SchemaUnavailable("the CPU <feature> definition in %s has no name attribute to extend" % path)
    attributes = [child for child in list(element) if child.tag == _q("attribute")]
    for child in attributes:
        element.remove(child)
    choice = ElementTree.Element(_q("choice"))
    plain = ElementTree.SubElement(choice, _q("group"))
    plain.extend(attributes)
    valued = ElementTree.SubElement(choice, _q("group"))
    policy = ElementTree.SubElement(ElementTree.SubElement(valued, _q("attribute"), name="policy"), _q("choice"))
    for word in validate.VALUE_POLICIES:
        ElementTree.SubElement(policy, _q("value")).text = word
    valued.append(copy.deepcopy(name))
    value = ElementTree.SubElement(valued, _q("attribute"), name="value")
    ElementTree.SubElement(value, _q("data"), type="string")
    element.insert(0, choice)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return False
