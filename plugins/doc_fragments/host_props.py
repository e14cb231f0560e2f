# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The option of the modules that take a baseline as props and write in the host's names
(_argspec.host_props_argument_spec)."""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  host_props:
    description:
      - The host's own C(arm_cpu_props) fact, when O(props) is a fleet or class baseline.
      - A baseline speaks canonical fields (C(SYSREG_ID_AA64DFR0_EL1_WRPs)) whatever dialect each member's QEMU speaks;
        with this option a request that passed the baseline is translated into the host's own names and checked
        against its own fact once more, so the domain gets C(hw_prop_WRPs=2) on a host whose QEMU speaks that.
      - Without it a request checked against a baseline keeps the baseline's names, which only a host whose QEMU
        speaks C(SYSREG_) names takes. Ignored when O(props) is one host's fact.
    type: dict
"""
