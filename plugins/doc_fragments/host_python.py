# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Python floor of the host-side modules, which run on the hypervisors (docs/host-guide.md)."""

from __future__ import annotations


class ModuleDocFragment(object):

    # tests/integration/test_managed_pythons.py runs every host-side module on Python 3.8 to 3.13
    DOCUMENTATION = r"""
options: {}
requirements:
  - python >= 3.8 on the hypervisor that runs the module (ansible-core 2.20 and later need python >= 3.9 there)
"""
