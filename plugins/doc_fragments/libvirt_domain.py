# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of the modules that work on domains libvirt already has (domain_cpu, domain_cpu_info)."""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  uri:
    description:
      - libvirt connection URI on the managed host.
      - The module talks to libvirt through libvirt-python when the Python running it can import C(libvirt) (Debian
        C(python3-libvirt) for C(/usr/bin/python3)), else through C(virsh) (Debian C(libvirt-clients)); without
        either it fails saying what to install. RV(backend) tells which was used.
      - The running QEMU's command line is read from C(/proc), so use a local URI (C(qemu:///system) or
        C(qemu:///session)) for the running C(-cpu).
    type: str
    default: qemu:///system
  backend:
    description:
      - V(auto) prefers libvirt-python and falls back to C(virsh); V(virsh) or V(libvirt-python) force one.
    type: str
    choices: [auto, virsh, libvirt-python]
    default: auto
"""
