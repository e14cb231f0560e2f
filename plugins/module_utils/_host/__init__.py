# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host side: what a hypervisor's QEMU and kernel say about its Arm CPU. The QMP client (``qmp``), the
emulator probe (``probe``) and its dialects (``dialects``), the ID-register fields (``sysreg``), the host's identity
(``hostid``), the probe cache (``cache``) and the collection of it all (``collect``); the property model the fact
carries (``props``), the named CPU models (``models``), the CPU field table across dialects (``vocabulary``), the
rule model (``rules``) and which emulators may be started (``emulator_trust``).

It imports ``_common`` only.

Private to the collection: not public API, and it may change in any release. Nothing in it imports
plugin_utils or Ansible.
"""
