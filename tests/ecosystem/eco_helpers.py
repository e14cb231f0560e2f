"""Helpers and fixtures for the ecosystem tests: the collection as users get it (built, installed, documented,
packaged in an execution environment).

Not a conftest.py: a second conftest module would shadow tests/conftest.py for `from conftest import ...`.
Test modules import the fixtures they use from here and carry the `ecosystem` marker (tests/conftest.py):
`pytest -m ecosystem` runs only them, `-m "not ecosystem"` skips them. They run in scripts/test's pytest stage.
"""

import os
import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
VERSION = GALAXY["version"]
TARBALL_NAME = "%s-%s-%s.tar.gz" % (GALAXY["namespace"], GALAXY["name"], VERSION)
_BUILT = {}  # one build and one install per test session, whichever module asks first


def tool(name):
    """A console script of the venv running the tests."""
    return str(BIN / name)


def run(command, env=None, cwd=None, timeout=180):
    """Run a command; return the CompletedProcess (text), never raising on a non-zero exit."""
    full_env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    full_env["PATH"] = str(BIN) + os.pathsep + full_env.get("PATH", "")
    full_env.update(env or {})
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, env=full_env,
                          cwd=str(cwd) if cwd else None, timeout=timeout, check=False)


def describe(proc):
    return "exit %s\n--- stdout\n%s\n--- stderr\n%s" % (proc.returncode, proc.stdout[-6000:], proc.stderr[-6000:])


@pytest.fixture(scope="session")
def collection_tarball(tmp_path_factory):
    """`ansible-galaxy collection build` of the working tree, into a fresh directory."""
    if "tarball" in _BUILT:
        return _BUILT["tarball"]
    out = tmp_path_factory.mktemp("dist")
    proc = run([tool("ansible-galaxy"), "collection", "build", ROOT, "--output-path", out])
    assert proc.returncode == 0, describe(proc)
    tarball = out / TARBALL_NAME
    assert tarball.is_file(), describe(proc)
    _BUILT["tarball"] = tarball
    return tarball


@pytest.fixture(scope="session")
def installed(tmp_path_factory, collection_tarball):
    """The tarball installed into a fresh collections path; env makes Ansible see only that path."""
    if "installed" in _BUILT:
        return _BUILT["installed"]
    path = tmp_path_factory.mktemp("installed")
    env = {"ANSIBLE_COLLECTIONS_PATH": str(path), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false"}
    proc = run([tool("ansible-galaxy"), "collection", "install", collection_tarball, "--collections-path", path],
               env=env)
    assert proc.returncode == 0, describe(proc)
    root = path / "ansible_collections" / "armvirt" / "cpu"
    assert (root / "MANIFEST.json").is_file(), describe(proc)
    _BUILT["installed"] = {"path": path, "root": root, "env": env}
    return _BUILT["installed"]
