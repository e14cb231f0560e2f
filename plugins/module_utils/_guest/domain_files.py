# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the guest_domains action (controller) and module (hypervisor) both hold to: which names may name a guest,
and where the action puts each guest's rendered XML for the module to write.

Private to the collection. Standard library only: the module side runs on hypervisors.
"""

from __future__ import annotations

from ansible_collections.armvirt.cpu.plugins.module_utils._common import paths
from ansible_collections.armvirt.cpu.plugins.module_utils._host import props

# the keys of a guest's rendered, checked XML and (with confirm) of the emulator and -cpu value the host's QEMU must
# confirm first, in the ``guests`` the action passes the module
DOCUMENT_KEY = "_xml"
EMULATOR_KEY = "_emulator"
CPU_ARG_KEY = "_cpu_arg"
XML_SUFFIX = ".xml"   # each guest's file is <name>.xml


def guest_name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a guest (and its file ``<name>.xml``), or None.

    The token rule (``props.is_token``, validation's) keeps out path separators, quotes and shell or XML
    metacharacters; a leading dot is refused too, since it would hide the file and clash with the writer's temporary
    files. Stricter than the rule for
    every file name (``paths.component_problem``), which it applies as well: it bounds the length of ``<name>.xml``.
    """
    if not props.is_token(name):
        return ("guest name %r is not a plain token (letters, digits, '.', '_', '-' only): it becomes a file name "
                "and libvirt's domain name" % (name,))
    if name.startswith("."):
        return "guest name %r starts with a dot, which would make a hidden file" % name
    problem = paths.component_problem(name, XML_SUFFIX)
    if problem:
        return "guest name %r cannot be a file name: %s" % (name, problem)
    return None
