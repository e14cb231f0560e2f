"""The collection built with ansible-galaxy, installed into a fresh path, documents itself and runs."""

import json
import sys
import tarfile

import pytest
import yaml

from armsim import write_wrapper
from conftest import run_module
from eco_helpers import GALAXY, ROOT, collection_tarball, describe, installed, run, tool  # pylint: disable=unused-import

pytestmark = pytest.mark.ecosystem


def test_tarball_ships_the_collection_and_leaves_out_the_development_tooling(collection_tarball):
    with tarfile.open(collection_tarball) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    for shipped in ("LICENSE", "README.md", "meta/runtime.yml", "meta/execution-environment.yml",
                    "requirements/controller.txt", "requirements/bindep.txt", "execution-environment.yml",
                    "plugins/modules/props_facts.py", "playbooks/gather.yml", "changelogs/changelog.yaml",
                    "docs/docsite/extra-docs.yml", "docs/docsite/links.yml"):
        assert shipped in names, shipped
    for prefix in (".venv", ".build", ".ci", ".git", "scripts", "tools", "tests", "requirements/test.txt",
                   "docs/docsite/md2rst.py"):
        assert not any(name == prefix or name.startswith(prefix + "/") for name in names), prefix
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)
    assert manifest["license"] == ["GPL-3.0-or-later"]
    assert manifest["repository"] == "https://github.com/armvirt/armvirt.cpu"
    assert manifest["issues"] == "https://github.com/armvirt/armvirt.cpu/issues"
    assert manifest["version"] == GALAXY["version"]
    assert "GNU GENERAL PUBLIC LICENSE" in (ROOT / "LICENSE").read_text()[:200]


def test_installed_copy_is_the_one_ansible_doc_reads(installed):
    proc = run([tool("ansible-doc"), "-t", "module", "armvirt.cpu.props_facts", "--json"], env=installed["env"])
    assert proc.returncode == 0, describe(proc)
    doc = json.loads(proc.stdout)["armvirt.cpu.props_facts"]["doc"]
    assert doc["filename"].startswith(str(installed["root"])), doc["filename"]
    assert doc["short_description"]


def test_installed_module_probes_a_stand_in_emulator(installed, tmp_path):
    emulator = write_wrapper(str(tmp_path / "qemu-system-aarch64"), "neoverse-n1")
    run_ = run_module("props_facts", {"emulator": emulator, "accel": "kvm", "cache": "ignore",
                                      "cache_dir": str(tmp_path / "cache")}, env=installed["env"])
    assert not run_.failed, run_.output
    fact = run_.result["ansible_facts"]["arm_cpu_props"]
    assert fact["supported"] is True
    assert fact["dialect"] == "query-arm-cpu-props-info"
    assert "feat_RAS" in fact["properties"]


def test_installed_filter_renders_a_cpu_argument(installed):
    features = [{"name": "feat_RAS", "value": "1.0"}, {"name": "hw_prop_API", "policy": "disable"}]
    proc = run([tool("ansible"), "localhost", "-i", "localhost,", "-c", "local",
                "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", json.dumps({"features": features}),
                "-m", "ansible.builtin.debug", "-a", "msg={{ features | armvirt.cpu.qemu_cpu_arg }}"],
               env=dict(installed["env"], ANSIBLE_STDOUT_CALLBACK="minimal"))
    assert proc.returncode == 0, describe(proc)
    assert '"msg": "host,feat_RAS=1.0,hw_prop_API=off"' in proc.stdout, describe(proc)


def listed(plugin_type, env):
    proc = run([tool("ansible-doc"), "-t", plugin_type, "-l", "armvirt.cpu", "--json"], env=env)
    assert proc.returncode == 0, describe(proc)
    return sorted(json.loads(proc.stdout) or {})


def test_ansible_doc_renders_every_module_filter_and_role(installed):
    env = installed["env"]
    plugins = {"module": listed("module", env), "filter": listed("filter", env)}
    for plugin_type, directory in (("module", "modules"), ("filter", "filter")):
        shipped = {path.stem for path in (installed["root"] / "plugins" / directory).glob("*.py")}
        assert {name.split(".")[-1] for name in plugins[plugin_type]} == shipped, plugin_type
    assert "armvirt.cpu.props_facts" in plugins["module"]
    assert "armvirt.cpu.qemu_cpu_arg" in plugins["filter"]
    if (installed["root"] / "roles" / "guest_cpu").is_dir():
        plugins["role"] = ["armvirt.cpu.guest_cpu"]
    for plugin_type, names in plugins.items():
        # one ansible-doc per type renders them all (exit 0 only if every one renders); each must have its page
        proc = run([tool("ansible-doc"), "-t", plugin_type] + names, env=env)
        assert proc.returncode == 0, "%s %s: %s" % (plugin_type, names, describe(proc))
        assert "[ERROR]" not in proc.stderr and "WARNING" not in proc.stderr, proc.stderr
        pages = ["> " + page for page in ("\n" + proc.stdout).split("\n> ")[1:]]
        headers = [page.split("\n", 1)[0] for page in pages]
        for name in names:
            assert any(name in header for header in headers), "%s %s: no page in\n%s" % (plugin_type, name, headers)
        assert all(str(installed["root"]) in header for header in headers), headers
        if plugin_type != "role":  # a role's page is its argument spec: no examples or return values
            for page in pages:
                assert "EXAMPLES:" in page and "RETURN VALUES:" in page, page


def test_action_group_all_lists_every_module(installed):
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    modules = {path.stem for path in (ROOT / "plugins" / "modules").glob("*.py")}
    assert set(runtime["action_groups"]["all"]) == modules, "meta/runtime.yml: group 'all' must list every module"
    assert set(runtime["action_groups"]["probe"]) == {"props_facts", "props_cache", "cpu_check"}
    assert runtime["requires_ansible"] == ">=2.19.0"
