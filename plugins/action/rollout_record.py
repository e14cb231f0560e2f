# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action armvirt.cpu.rollout_record: keep one host's rollout outcome, on the controller, in one task.

Why an action: the record is a controller file (``rollout/hosts/<host>.json``, the path armvirt.cpu.fleet_state gives
each target), the outcome is published to AWX as ``set_stats`` publishes it, and the host's result is registered for
the playbook's summary. Done by one action, a host's bookkeeping costs no module run and no connection. Options:
``plugins/modules/rollout_record.py``.
"""

from __future__ import annotations

import json

from ansible.errors import AnsibleActionFail

from ansible_collections.armvirt.cpu.plugins.plugin_utils._action import ValidatedAction
from ansible_collections.armvirt.cpu.plugins.module_utils._argspec import rollout_record_argument_spec
from ansible_collections.armvirt.cpu.plugins.module_utils._common import paths
from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, _fact_sources

ARGUMENT_SPEC = rollout_record_argument_spec()


def record_text(record):
    """The record's file content: JSON as ``to_nice_json(sort_keys=true)`` writes it, and a newline."""
    return json.dumps(record, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"


class ActionModule(ValidatedAction, argument_spec=ARGUMENT_SPEC):

    def run_validated(self, args, task_vars, result):
        record = _fact_sources.plain(args["record"])
        status = record.get("status")
        if not isinstance(status, str) or not status:
            raise AnsibleActionFail("rollout_record: the record needs a status (a non-empty string), not %r"
                                    % (status,))
        host = task_vars.get("inventory_hostname")
        path = args["path"]
        # registered even when the write fails, so the playbook's summary still reads the host's status
        result.update(changed=False, record=record, status=status, reason=record.get("reason", ""),
                      path=path or None)
        if path and not self._task.check_mode:
            # bookkeeping of this run (fleet_state removed the host's old record), never a change
            try:
                _artifacts.write_if_changed(path, record_text(record), bookkeeping=True)
            except (OSError, paths.PathError) as exc:
                result.update(failed=True, msg="rollout_record: cannot write the record of %s in %s: %s"
                              % (host, path, exc))
                return result
        if args["stats"]:
            # as ansible.builtin.set_stats with aggregate: true publishes its data (for the whole run, not per host).
            # The values are the task's own, templated as set_stats templates them: Ansible aggregates a value only
            # into one of the same type, and the playbook's earlier set_stats published a templated one.
            data = self._task.args["stats"]
            result["ansible_stats"] = {"data": {self._templar.template(key): self._templar.template(value)
                                                for key, value in data.items()},
                                       "per_host": False, "aggregate": True}
        return result
