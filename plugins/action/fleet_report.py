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

from ansible.errors import AnsibleActionFail, AnsibleError

from ansible_collections.armvirt.cpu.plugins.plugin_utils._action import ValidatedAction
from ansible_collections.armvirt.cpu.plugins.module_utils._argspec import fleet_report_argument_spec
from ansible_collections.armvirt.cpu.plugins.module_utils._common import atomic, paths
from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, fleet_report
from ansible_collections.armvirt.cpu.plugins.plugin_utils._artifacts_options import (
    LOCK_HINT, artifacts_dir, lock_timeout)

ARGUMENT_SPEC = fleet_report_argument_spec(_artifacts.LOCK_TIMEOUT, fleet_report.TEMPLATES)
OUTPUTS = (("html", "html_template", "index.html"), ("markdown", "markdown_template", "report.md"))


class ActionModule(ValidatedAction, argument_spec=ARGUMENT_SPEC):

    def run_validated(self, args, task_vars, result):
        directory = artifacts_dir(args["artifacts_dir"])
        output = os.path.abspath(args["output_dir"] or os.path.join(directory, "report"))
        timeout = lock_timeout(args["lock_timeout"])
        templates = {key: self._template(args[option]) for key, option, _name in OUTPUTS}
        # Under the directory's lock from reading to writing: fleet.json, the snapshots and the rollout record come
        # from one state of the directory, and a report never overwrites a newer one with an older.
        writes = _artifacts.Writes(check=self._task.check_mode, diff=self._task.diff)
        try:
            with writes.lock(directory, "report", timeout, create=False):
                changed = self._report(directory, output, args, templates, result, writes)
        except _artifacts.ArtifactsLocked as exc:
            raise AnsibleActionFail("fleet_report: %s%s" % (exc, LOCK_HINT))
        except fleet_report.ReportError as exc:
            raise AnsibleActionFail(str(exc))
        except (OSError, paths.PathError) as exc:
            raise AnsibleActionFail("fleet_report: cannot write the report in %s: %s" % (output, exc))
        result.update(changed=changed, changed_files=writes.changed)
        if writes.diff:
            result["diff"] = writes.diffs
        return result

    def _template(self, name):
        """``name`` searched like the src of ansible.builtin.template; the collection's own template where a default
        name is not found there (a play outside the collection's playbooks)."""
        try:
            return self._find_needle("templates", name)
        except AnsibleError:
            if name not in fleet_report.TEMPLATES.values():
                raise
            return fleet_report.bundled_template(name)

    @staticmethod
    def _report(directory, output, args, templates, result, writes):
        apply_summary = args["apply_summary"]
        model = fleet_report.build(directory, apply_summary if apply_summary and os.path.isfile(apply_summary)
                                   else None, args["requests"])
        changed = False
        if not writes.check:
            atomic.make_dirs(output)
        if os.path.isdir(output):   # refused before anything is written in it
            atomic.check_dir(output)
        for key, _option, name in OUTPUTS:
            text = fleet_report.render(model, templates[key], key == "html")
            result[key] = paths.join(output, name)
            changed |= _artifacts.write_if_changed(result[key], text, writes)
        result["attention"] = model["attention"]
        return changed
