"""The filter tests run Ansible's own commands from the venv, as users call the filters."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

BIN = pathlib.Path(sys.executable).parent


@pytest.fixture(scope="session")
def ansible_cli():
    """ansible_cli(command, *args, cwd=None) -> CompletedProcess of the venv's ``ansible``/``ansible-playbook``."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)

    def run(*argv, cwd=None):
        return subprocess.run([str(BIN / argv[0])] + list(argv[1:]), capture_output=True, text=True, env=env,
                              cwd=cwd, timeout=180, check=False)
    return run


@pytest.fixture(scope="session")
def playbook_out(ansible_cli):
    """playbook_out(directory, files, *args) -> the JSON that play.yml wrote to the path in its ``out`` variable.

    ``files`` (relative name -> text, play.yml among them) are written to ``directory`` first; ``args`` go to
    ansible-playbook (inventory, extra variables)."""
    def run(directory, files, *args):
        for name, text in files.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_text(text)
        out = directory / "out.json"
        done = ansible_cli("ansible-playbook", *args, "-e", "out=%s" % out, "play.yml", cwd=directory)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(out.read_text())
    return run
