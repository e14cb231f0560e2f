# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the one base of the collection's action plugins (not public API).

Every action takes options documented in its module stub and checked against one argument spec (the spec the stub's
module builds too, where there is a module): the preamble of ``run`` is the same for all, so it lives here.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.armvirt.cpu.plugins.module_utils._argspec import ArgumentSpec


class ValidatedAction(ActionBase):
    """An action that runs on the controller only: ``run`` validates the task's options against the
    ``_argspec.ArgumentSpec`` the subclass names (``class ActionModule(ValidatedAction, argument_spec=SPEC)``),
    options and relations alike, and hands them to :meth:`run_validated`."""

    TRANSFERS_FILES = False
    ARGUMENT_SPEC: ArgumentSpec = ArgumentSpec()

    def __init_subclass__(cls, argument_spec: ArgumentSpec | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.ARGUMENT_SPEC = argument_spec or ArgumentSpec()
        cls._VALID_ARGS = frozenset(cls.ARGUMENT_SPEC.argument_spec)   # ActionBase refuses options outside these

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        args = self.validate_argument_spec(**self.ARGUMENT_SPEC.validation_kwargs())[1]
        return self.run_validated(args, task_vars, result)

    def run_validated(self, args: dict[str, Any], task_vars: dict[str, Any],
                      result: dict[str, Any]) -> dict[str, Any]:
        """The action's work: ``args`` are the validated options, ``result`` the base result to fill and return."""
        raise NotImplementedError
