"""Modules run in-process, the way `ansible-test units` expects module tests: AnsibleModule reads the arguments
patched in by ansible-core's own test helper, and the JSON it prints on exit is the result."""

import json

import pytest

from ansible.module_utils.testing import patch_module_args


@pytest.fixture
def run_main(capsys):
    """run_main(module, args, check=False) -> (exit code, result) of ``module.main()``."""
    def run(module, args, check=False):
        with patch_module_args(dict(args, _ansible_check_mode=check)):
            with pytest.raises(SystemExit) as exited:
                module.main()
        return exited.value.code, json.loads(capsys.readouterr().out)
    return run
