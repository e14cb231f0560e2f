"""Test-wide set-up: import the collection under its real name and find the repository's parts."""

import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".build" / "collections"
REFERENCE = ROOT.parent / "shared" / "reference"

if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
if str(ROOT / "tools") not in sys.path:
    sys.path.insert(0, str(ROOT / "tools"))
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))


import shutil  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def qemu_binary():
    """Debian's qemu-system-aarch64. Skips where it is absent, except in CI, where it must be there."""
    path = shutil.which("qemu-system-aarch64")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("qemu-system-aarch64 is missing in CI: scripts/setup.sh should have installed it")
        pytest.skip("qemu-system-aarch64 is not installed")
    return path
