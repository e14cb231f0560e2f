# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet: hosts sorted into kinds (``grouping``), what they all offer (``baseline``), which are alike
(``classes``), where a guest CPU request can run (``placement``) and the richest policy a pool takes (``recommend``).

It imports ``_guest``, ``_host`` and ``_common``.

Private to the collection: not public API, and it may change in any release. Nothing in it imports
plugin_utils or Ansible.
"""
