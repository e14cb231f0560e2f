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

import io
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


# libyaml's safe loader where PyYAML was built with it: the same documents, about 10x faster than the pure-Python
# one, which took 20-40 ms of every host's guest_domains task in a rollout (each host reads the policy file).
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(path: str, modes: Collection[str] = names.MODES) -> policy.Policy:
    """Read and check a policy file; returns its ``policy.Policy``. ``modes`` are those the reader can write.
    Raises ``policy.PolicyError``, every message naming the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise policy.PolicyError(["%s: cannot read the policy file: %s" % (path, exc.strerror or exc)])
    except ValueError as exc:   # not UTF-8
        raise policy.PolicyError(["%s: not valid YAML/JSON: %s" % (path, exc)])
    try:
        document = yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        # what libyaml refuses is read again by the pure-Python loader, the reference: its words name the character
        # it stopped at (libyaml's do not: "found character that cannot start any token")
        try:
            document = yaml.load(_named_stream(text, path), Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            raise policy.PolicyError(["%s: not valid YAML/JSON: %s" % (path, " ".join(str(exc).split()))])
    return policy.read(document, path, modes)


def _named_stream(text: str, path: str) -> io.StringIO:
    """``text`` as a stream named ``path``, so the loader's marks name the file as they did when it read the file."""
    stream = io.StringIO(text)
    stream.name = path
    return stream
