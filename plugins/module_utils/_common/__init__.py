# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's own plumbing, used on controllers and hypervisors alike: atomic file replacement
(``atomic``), short host commands (``commands``) and the one check for a name that becomes a file name (``paths``).

It imports nothing of the collection's.

Private to the collection: not public API, and it may change in any release. Nothing in it imports
plugin_utils or Ansible.
"""
