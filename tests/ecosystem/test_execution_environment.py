"""execution-environment.yml gives ansible-builder a complete build context (no container engine needed)."""

import pathlib
import shutil

import ansible_builder
import pytest

from eco_helpers import ROOT, TARBALL_NAME, collection_tarball, describe, installed, run, tool  # pylint: disable=unused-import

pytestmark = pytest.mark.ecosystem


def test_ansible_builder_create_writes_a_context_with_every_requirement(tmp_path, collection_tarball):
    shutil.copy(ROOT / "execution-environment.yml", tmp_path)
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    (tmp_path / ".build" / "ee-collection").mkdir(parents=True)
    shutil.copy(collection_tarball, tmp_path / ".build" / "ee-collection")
    proc = run([tool("ansible-builder"), "create", "-f", "execution-environment.yml", "-c", "context",
                "--output-filename", "Containerfile"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, describe(proc)
    context = tmp_path / "context"
    containerfile = (context / "Containerfile").read_text()
    python = (context / "_build" / "requirements.txt").read_text()
    system = (context / "_build" / "bindep.txt").read_text()
    for requirement in (ROOT / "requirements" / "controller.txt").read_text().split():
        if not requirement.startswith("#") and "==" in requirement:
            assert requirement in python, requirement
    assert "libvirt0 [platform:dpkg]" in system and "libvirt-libs [platform:rpm]" in system
    assert "openssh-clients [platform:rpm]" in system
    assert (context / "_build" / "collections" / TARBALL_NAME).is_file()
    galaxy_stage = containerfile.split("FROM base AS galaxy", 1)[1].split("FROM base AS builder", 1)[0]
    assert "ansible-galaxy collection install /build/collections/armvirt-cpu-*.tar.gz" in galaxy_stage
    assert 'ANSIBLE_INSTALL_REFS="ansible-core==2.19.14 ansible-runner==' in containerfile


def test_installed_collection_declares_its_dependencies_to_ansible_builder(installed, tmp_path):
    """ansible-builder's introspection (run inside every EE build) finds the deps via meta/execution-environment.yml."""
    script = pathlib.Path(ansible_builder.__file__).parent / "_target_scripts" / "introspect.py"
    proc = run([tool("python"), script, "introspect", installed["path"]])
    assert proc.returncode == 0, describe(proc)
    assert "armvirt.cpu" in proc.stdout
    assert "lxml==" in proc.stdout
    assert "libvirt-libs [platform:rpm]" in proc.stdout
