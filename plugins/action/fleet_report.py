# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action armvirt.cpu.fleet_report: render the fleet report from the artifacts, on the controller.

Why an action: everything it reads and writes is on the controller. The model is ``plugin_utils.fleet_report``;
the templates are plain Jinja2 files shipped next to the playbooks (``playbooks/templates``) and found like the
``src`` of ``ansible.builtin.template``, so a site can give its own. Options: ``plugins/modules/fleet_report.py``.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.armvirt.cpu.plugins.action.fleet_state import artifacts_dir
from ansible_collections.armvirt.cpu.plugins.plugin_utils import fleet_report, fleet_state

ARGUMENT_SPEC = {
    "artifacts_dir": {"type": "path"},
    "output_dir": {"type": "path"},
    "apply_summary": {"type": "path"},
    "requests": {"type": "list", "elements": "path", "default": []},
    "html_template": {"type": "str", "default": fleet_report.TEMPLATES["html"]},
    "markdown_template": {"type": "str", "default": fleet_report.TEMPLATES["markdown"]},
}
OUTPUTS = (("html", "html_template", "index.html"), ("markdown", "markdown_template", "report.md"))


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        directory = artifacts_dir(args["artifacts_dir"])
        output = os.path.abspath(args["output_dir"] or os.path.join(directory, "report"))
        apply_summary = args["apply_summary"]
        try:
            model = fleet_report.build(directory, apply_summary if apply_summary and os.path.isfile(apply_summary)
                                       else None, args["requests"])
        except fleet_report.ReportError as exc:
            raise AnsibleActionFail(str(exc))
        changed = False
        for key, option, name in OUTPUTS:
            try:
                text = fleet_report.render(model, self._find_needle("templates", args[option]), key == "html")
            except fleet_report.ReportError as exc:
                raise AnsibleActionFail(str(exc))
            result[key] = os.path.join(output, name)
            changed |= fleet_state.write_if_changed(result[key], text)
        result.update(changed=changed, attention=model["attention"])
        return result
