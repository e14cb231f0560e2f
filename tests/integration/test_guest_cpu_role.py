"""The guest_cpu role through its molecule scenario (extensions/molecule/default). The role on simulated hosts (fleet
scope across serial batches, a frozen baseline, domain types, the host's QEMU confirming) is the integration target
tests/integration/targets/guest_cpu."""

import os
import pathlib
import shutil
import subprocess

import pytest

from libvirtd import needs_libvirt_schema

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.molecule
@needs_libvirt_schema
def test_molecule_default_scenario():
    """converge (valid policy), idempotence, verify (invalid policies fail with their messages, write nothing)."""
    molecule = shutil.which("molecule")
    if molecule is None:
        pytest.fail("molecule is not on PATH: run through scripts/test, which puts .venv/bin first")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), NO_COLOR="1",
               ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([molecule, "test", "--scenario-name", "default"], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    for step in ("converge", "idempotence", "verify"):
        assert "%s: Executed: Successful" % step in " ".join(output.split()).replace("➜ ", ""), step
