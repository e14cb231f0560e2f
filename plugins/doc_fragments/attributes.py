# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attribute documentation shared by the modules, in the form current collections declare it."""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
"""

    FACTS = r"""
options: {}
attributes:
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
"""

    # With the standard fragment: a module that only reads (check mode runs it in full, it has nothing to diff).
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

    # With the standard and FACTS fragments: an information module that returns its findings as facts.
    FACTS_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
"""

    # The controller-side writers of the artifacts directory (fleet_state, fleet_report).
    CONTROLLER = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: Writes nothing (no artifact, snapshot, rollout record, report or lock file); C(changed) and
      C(changed_files) say what a run would write.
  diff_mode:
    support: full
    details: Each file that changes (or would), with its text before and after.
  action:
    description: Runs entirely on the controller as an action plugin.
    support: full
"""
