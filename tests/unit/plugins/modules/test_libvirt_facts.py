"""libvirt_facts against the Debian libvirt installed here: its schema lacks value, its CPU map has sve* (and pauth
from libvirt 11.0). tests/reliability/test_rel_libvirt_versions.py checks the CPU maps of 9.0 and 11.3 side by side."""

import os
import shutil

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps
from ansible_collections.armvirt.cpu.plugins.modules import libvirt_facts
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils.module_runner import run_command

pytestmark = pytest.mark.skipif(not os.path.isfile("/usr/share/libvirt/schemas/cputypes.rng"),
                                reason="Debian libvirt0 is not installed")

SVE = ["sve"] + ["sve%d" % (128 * n) for n in range(1, 17)]


def arm_features():
    """What the installed libvirt's Arm CPU map defines, by its version: libvirt 11.0 added pauth."""
    version = caps.installed_version(run_command(), shutil.which("virsh"))[0]
    return SVE + ["pauth"] if int(version.split(".")[0]) >= 11 else SVE


def test_installed_schema_lacks_value_and_lists_the_five_policies():
    info = caps.schema_info()
    assert info["schema_file"] == "/usr/share/libvirt/schemas/cputypes.rng"
    assert info["feature_value_supported"] is False
    assert info["feature_policies"] == ["force", "require", "optional", "disable", "forbid"]


def test_cpu_map_knows_the_installed_version_features():
    names, files, error = caps.cpu_map_features()
    assert error is None and names == arm_features()
    assert "/usr/share/libvirt/cpu_map/arm_features.xml" in files


def test_version_from_files_and_daemon_unreachable_is_not_fatal():
    version, source, _unused = caps.installed_version(run_command(), shutil.which("virsh"))
    assert version and version.count(".") == 2 and source
    daemon, error = caps.daemon_version(run_command(), None)
    assert daemon is None and "virsh is not installed" in error


def test_module_sets_the_fact_and_never_changes(run_main):
    code, result = run_main(libvirt_facts, {"timeout": 2}, check=True)
    assert code == 0 and not result.get("failed"), result
    fact = result["ansible_facts"]["libvirt_cpu"]
    assert result["changed"] is False
    assert fact["feature_value_supported"] is False and fact["cpu_map_features"] == arm_features()
    assert fact["version"] == caps.installed_version(run_command(), shutil.which("virsh"))[0]
    if shutil.which("virsh") is None:
        assert fact["daemon_version"] is None and fact["daemon_error"]
    assert fact["version_mismatch"] is False


def test_missing_directories_are_reported_not_fatal(run_main, tmp_path):
    code, result = run_main(libvirt_facts, {"schema_dir": str(tmp_path), "cpu_map_dir": str(tmp_path),
                                            "daemon": False})
    assert code == 0 and not result.get("failed"), result
    fact = result["ansible_facts"]["libvirt_cpu"]
    assert fact["feature_value_supported"] is False and "no libvirt RelaxNG schema" in fact["schema_error"]
    assert fact["cpu_map_features"] == [] and "not in" in fact["cpu_map_error"]
    assert fact["daemon_error"].startswith("not asked")


def _copied_libvirt(tmp_path):
    """This host's libvirt schema and CPU map, copied where a test may change them."""
    schema_dir, cpu_map_dir = tmp_path / "schemas", tmp_path / "cpu_map"
    shutil.copytree(caps.DEFAULT_SCHEMA_DIR, schema_dir)
    shutil.copytree(caps.DEFAULT_CPU_MAP_DIR, cpu_map_dir)
    return str(schema_dir), str(cpu_map_dir)


def test_a_gathered_fact_holds_until_libvirt_takes_back_what_it_said(tmp_path, run_main):
    schema_dir, cpu_map_dir = _copied_libvirt(tmp_path)
    code, result = run_main(libvirt_facts, {"schema_dir": schema_dir, "cpu_map_dir": cpu_map_dir, "daemon": False})
    gathered = caps.deciding(result["ansible_facts"]["libvirt_cpu"])
    assert code == 0 and gathered["cpu_map_features"] == sorted(arm_features())
    assert caps.changed_since(gathered) == []
    # a libvirt that knows more than the fact said still takes what was rendered for the fact
    assert caps.changed_since(dict(gathered, cpu_map_features=gathered["cpu_map_features"][1:])) == []
    # libvirt changed under the fact: its CPU map renames sve2048, and the schema lacks the value support the fact
    # (rendered for a patched libvirt) had
    features = os.path.join(cpu_map_dir, caps.ARM_FEATURES_FILE)
    with open(features) as handle:
        text = handle.read()
    assert "<feature name='sve2048'/>" in text
    with open(features, "w") as handle:
        handle.write(text.replace("<feature name='sve2048'/>", "<feature name='sve4096'/>"))
    assert caps.changed_since(dict(gathered, feature_value_supported=True)) == [
        "the schema in %s no longer admits a value attribute on a guest <feature>" % schema_dir,
        "the CPU map in %s no longer names sve2048" % cpu_map_dir]
    shutil.rmtree(cpu_map_dir)
    assert caps.changed_since(gathered) == ["libvirt's Arm CPU map is not in %s" % cpu_map_dir]
    # the directories are the fact's, which an inventory can set: nothing is read from a relative one
    assert caps.changed_since(dict(gathered, schema_dir="schemas", cpu_map_dir="/x\n")) == [
        "the libvirt_cpu fact's schema_dir is not an absolute path: 'schemas'",
        "the libvirt_cpu fact's cpu_map_dir is not an absolute path: '/x\\n'"]


def test_the_daemon_mismatch_warning_is_one_sentence_for_every_module():
    assert caps.mismatch_warning({"version_mismatch": False}) is None
    assert caps.mismatch_warning({"version_mismatch": True, "daemon_version": "9.0.0", "version": "11.3.0"}) == (
        "libvirt's daemon runs 9.0.0 but 11.3.0 is installed: it was not restarted after an upgrade, so the schema "
        "and CPU map read from disk may not be what it uses. Restart it.")
