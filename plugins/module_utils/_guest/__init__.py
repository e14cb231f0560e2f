# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest side: a guest CPU request judged against a host and delivered to libvirt and QEMU. Validation
(``validate``), the policy document (``policy``), delivery (``delivery``) and the byte-keeping XML edit it uses
(``xml_splice``), the host's confirmation (``confirm``) and the guest_domains files (``domain_files``).

It imports ``_host`` and ``_common``.

Private to the collection: not public API, and it may change in any release. Nothing in it imports
plugin_utils or Ansible.
"""
