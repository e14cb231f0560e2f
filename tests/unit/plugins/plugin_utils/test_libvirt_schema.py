"""The <feature value=...> overlay on the real libvirt schema installed here (Debian libvirt0)."""

import os
import shutil

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps
from ansible_collections.armvirt.cpu.plugins.plugin_utils import libvirt_schema

SCHEMAS = "/usr/share/libvirt/schemas"

pytestmark = pytest.mark.skipif(not os.path.isfile(os.path.join(SCHEMAS, "domain.rng")),
                                reason="libvirt's schemas (Debian libvirt0) are not installed")

DOMAIN = """<domain type='kvm'>
  <name>g1</name>
  <memory unit='MiB'>1024</memory>
  <vcpu>2</vcpu>
  <os><type arch='aarch64' machine='virt'>hvm</type></os>
  <cpu mode='host-passthrough'>%s</cpu>
</domain>"""
VALUED = DOMAIN % "<feature policy='require' name='feat_RAS' value='1.0'/><feature policy='disable' name='hw_prop_API'/>"
PLAIN = DOMAIN % "<feature policy='require' name='sve128'/>"


def test_the_same_document_passes_only_with_the_overlay():
    extended = libvirt_schema.domain_validator(SCHEMAS, allow_value=True)
    unmodified = libvirt_schema.domain_validator(SCHEMAS, allow_value=False)
    assert extended.errors(VALUED) == []
    assert extended.extended and not extended.native_value
    problems = unmodified.errors(VALUED)
    assert problems and any("cpu" in problem for problem in problems)  # libvirt's vague "Extra element cpu"
    assert unmodified.errors(PLAIN) == [] and extended.errors(PLAIN) == []


def test_a_value_needs_require_or_force_as_in_the_rfc():
    extended = libvirt_schema.domain_validator(SCHEMAS, allow_value=True)
    assert extended.errors(DOMAIN % "<feature policy='force' name='x' value='1'/>") == []
    for policy in ("optional", "disable", "forbid"):
        assert extended.errors(DOMAIN % ("<feature policy='%s' name='x' value='1'/>" % policy))
    assert extended.errors(DOMAIN % "<feature policy='Require' name='x'/>")


def test_validators_are_cached_and_the_installed_files_untouched():
    before = open(os.path.join(SCHEMAS, "cputypes.rng"), "rb").read()
    first = libvirt_schema.domain_validator(SCHEMAS, allow_value=True)
    assert libvirt_schema.domain_validator(SCHEMAS, allow_value=True) is first
    assert open(os.path.join(SCHEMAS, "cputypes.rng"), "rb").read() == before
    assert caps.schema_info(SCHEMAS)["feature_value_supported"] is False


def test_a_schema_that_already_has_value_is_used_as_it_is(tmp_path):
    for name in os.listdir(SCHEMAS):
        shutil.copy(os.path.join(SCHEMAS, name), tmp_path)
    assert libvirt_schema.extend_feature_definition(str(tmp_path)) is False   # now a "patched" libvirt
    assert caps.schema_info(str(tmp_path))["feature_value_supported"] is True
    validator = libvirt_schema.domain_validator(str(tmp_path), allow_value=True)
    assert validator.native_value and not validator.extended
    assert validator.errors(VALUED) == []


def test_missing_schema_fails_clearly(tmp_path):
    with pytest.raises(libvirt_schema.SchemaUnavailable, match="domain.rng is missing.*libvirt0"):
        libvirt_schema.domain_validator(str(tmp_path), allow_value=True)


def test_not_well_formed_is_reported():
    validator = libvirt_schema.domain_validator(SCHEMAS, allow_value=False)
    assert "not well-formed" in validator.errors("<domain>")[0]


def test_a_feature_definition_without_a_name_attribute_cannot_be_extended(tmp_path):
    (tmp_path / "cputypes.rng").write_text(
        '<grammar xmlns="http://relaxng.org/ns/structure/1.0"><define name="cpuFeature"><element name="feature">'
        '<attribute name="policy"><choice><value>require</value></choice></attribute>'
        '</element></define></grammar>')
    with pytest.raises(libvirt_schema.SchemaUnavailable, match="has no name attribute"):
        libvirt_schema.extend_feature_definition(str(tmp_path))
