# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guest CPU policy files on the controller: YAML or JSON, read and checked as every policy is.

Why checked at load: a policy file is written by hand, and a typo in its structure (``polcy:``, ``features:`` as a
mapping) should be reported with the file and the place, all at once, before any host is asked about the features.
What a policy holds is ``module_utils._guest.policy`` (its features: ``validate.check_shape``); whether a host accepts
the features stays validate.py's job.
"""

from __future__ import annotations

from typing import Collection

import yaml

from ansible.errors import AnsibleActionFail, AnsibleFileNotFound
from ansible.plugins.action import ActionBase

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import policy


def find(action: ActionBase, kind: str, name: str, what: str = "policy file") -> str:
    """The controller file ``name``, searched as ansible.builtin.template and copy search their src (``kind``:
    files or templates; the role's directories, then the playbook's). A missing one raises AnsibleActionFail naming
    the file and every place searched: Ansible's own message ends with a hint about remote_src, an option these
    actions do not have (their files are always on the controller)."""
    try:
        return action._find_needle(kind, name)   # pylint: disable=protected-access
    except AnsibleFileNotFound as exc:
        raise AnsibleActionFail("cannot find the %s %s on the controller; searched %s" % (
            what, name, ", ".join(exc.paths or []) or "nowhere"))


def load(path: str, modes: Collection[str] = names.MODES) -> policy.Policy:
    """Read and check a policy file; returns its ``policy.Policy``. ``modes`` are those the reader can write.
    Raises ``policy.PolicyError``, every message naming the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as exc:
        raise policy.PolicyError(["%s: cannot read the policy file: %s" % (path, exc.strerror or exc)])
    except yaml.YAMLError as exc:
        raise policy.PolicyError(["%s: not valid YAML/JSON: %s" % (path, " ".join(str(exc).split()))])
    return policy.read(document, path, modes)
