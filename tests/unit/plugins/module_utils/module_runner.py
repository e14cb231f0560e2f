"""The runner the modules hand to module_utils: a real AnsibleModule's run_command (no stand-in), for tests that call
module_utils functions which run host commands (_libvirt.caps, _libvirt.domain, _common.commands)."""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args


def run_command():
    """``AnsibleModule.run_command`` of a module with no options, as a module's code would pass it."""
    with patch_module_args({}):
        module = AnsibleModule(argument_spec={})
    return module.run_command
