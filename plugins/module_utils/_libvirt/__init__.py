# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hypervisor's libvirt: what it can take in a guest's ``<cpu>`` (``caps``) and talking to libvirtd about
defined domains (``domain``).

It imports ``_common`` only.

Private to the collection: not public API, and it may change in any release. Nothing in it imports
plugin_utils or Ansible.
"""
