# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options every action on the fleet artifacts directory reads alike (fleet_state, fleet_report): where the directory
is and how long to wait for its lock. Private to the collection; controller side."""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail

DEFAULT_ARTIFACTS = "armvirt-cpu"
LOCK_HINT = " (option lock_timeout; the playbooks' armvirt_cpu_lock_timeout)"


def artifacts_dir(path: str | None) -> str:
    """The artifacts directory: as given, else ``armvirt-cpu`` in the directory ansible-playbook runs in."""
    return os.path.abspath(path or DEFAULT_ARTIFACTS)


def lock_timeout(value: float) -> float:
    """The ``lock_timeout`` option, checked: seconds, 0 or more."""
    if value < 0:
        raise AnsibleActionFail("lock_timeout must be 0 or more seconds, not %s" % value)
    return value
