# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The option of the host-side modules that names the host in their messages (_argspec.host_argument_spec)."""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  host:
    description:
      - The name messages use for the host, for example C(inventory_hostname); the collection's playbooks and the role
        P(armvirt.cpu.guest_cpu#role) pass it.
      - Without it, the host's own name as its operating system knows it, which need not be its inventory name.
    type: str
"""
