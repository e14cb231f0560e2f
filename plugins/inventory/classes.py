# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory armvirt.cpu.classes: the class groups of classes.json as an inventory source, parsed once.

Ansible's add_host and group_by reconcile the whole inventory on every host they change, so putting N hosts in groups
one task result at a time costs O(N^2) (26 s for 3,000 hosts); a source adds them all and the inventory is reconciled
once. The file is read by ``plugin_utils._artifacts.read_classes``, which checks the names in it.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: classes
short_description: Put hosts in the class groups of the classes.json of armvirt.cpu.classify
version_added: 0.1.0
author: armvirt.cpu maintainers (@armvirt)
description:
  - Reads the C(classes.json) that M(armvirt.cpu.fleet_state) writes (the playbooks C(armvirt.cpu.classify) and
    C(armvirt.cpu.gather) run it) and puts each host in the inventory group of its compatibility class,
    C(armvirt_cpu_class_<id>) with the dashes of the id as underscores, the names those playbooks give their groups.
    A host the classification left out (C(excluded) in the file) goes to C(armvirt_cpu_class_none).
  - Each of those hosts gets the host variable C(armvirt_cpu_class), its class id (null for C(armvirt_cpu_class_none)).
  - The hosts are added in one pass and Ansible reconciles the inventory once, where C(ansible.builtin.add_host) or
    C(ansible.builtin.group_by) for each host reconcile it once per host. With this source in the inventory,
    C(armvirt.cpu.classify) refreshes the inventory after it writes the file and its later plays find the groups
    without a task per host.
  - As an inventory source of AWX / Automation Controller, later jobs get the classes of the last classify run.
  - The names in the file are data. A host name that cannot be one (the rule of
    P(armvirt.cpu.host_name_problem#filter)), a class id that cannot
    name a group, or a file that is not JSON or not shaped as fleet_state writes it fails the source, naming the
    file; so does a missing file.
  - The configuration file's name must end in C(.armvirt_cpu_classes.yml) or C(.armvirt_cpu_classes.yaml).
options:
  plugin:
    description: The name of this plugin; it marks the file as this plugin's configuration.
    type: str
    required: true
    choices: [armvirt.cpu.classes]
  path:
    description:
      - The artifacts directory holding C(classes.json), or the path of the file itself (a name ending in C(.json)).
      - A relative path is taken from the directory Ansible runs in, like the playbooks' C(armvirt_cpu_artifacts_dir),
        whose default this is. Give the path the playbooks write to (an absolute path is safest).
    type: path
    default: armvirt-cpu
  add_hosts:
    description:
      - Whether a host of the file that no earlier source of the inventory has is added.
      - With V(false) only hosts the inventory already has are put in groups (list this source after the others), so
        an inventory of part of the fleet (a slice) does not grow by the rest of it.
    type: bool
    default: true
notes:
  - Classes change when the fleet is classified again; a job sees the file as it was when the inventory was parsed
    (C(ansible.builtin.meta) C(refresh_inventory) reads it again).
seealso:
  - module: armvirt.cpu.fleet_state
"""

EXAMPLES = r"""
# inventory/classes.armvirt_cpu_classes.yml, next to the inventory of the hypervisors:
#   ansible-playbook armvirt.cpu.classify -i inventory/hosts.yml -i inventory/classes.armvirt_cpu_classes.yml
plugin: armvirt.cpu.classes
path: /srv/armvirt-cpu

# Only hosts the other sources have (an inventory of a slice of the fleet):
# plugin: armvirt.cpu.classes
# path: /srv/armvirt-cpu/classes.json
# add_hosts: false
"""

import os

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, _fleet_view

SUFFIXES = (".armvirt_cpu_classes.yml", ".armvirt_cpu_classes.yaml")
HOSTVAR = "armvirt_cpu_class"


def classes_file(path):
    """The classes.json that the ``path`` option names: the file itself, or the one in the artifacts directory."""
    path = os.path.abspath(path)
    if os.path.isdir(path) or not path.endswith(".json"):
        return os.path.join(path, _artifacts.CLASSES_FILE)
    return path


class InventoryModule(BaseInventoryPlugin):

    NAME = "armvirt.cpu.classes"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(SUFFIXES)

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        source = classes_file(self.get_option("path"))
        try:
            hosts, _classes = _artifacts.read_classes(source)
        except FileNotFoundError:
            raise AnsibleParserError("armvirt.cpu.classes (%s): %s does not exist: classify the fleet first "
                                     "(armvirt.cpu.classify or armvirt.cpu.gather), or set path to the artifacts "
                                     "directory they write" % (path, source))
        except _artifacts.CorruptArtifact as exc:
            raise AnsibleParserError("armvirt.cpu.classes (%s): %s" % (path, exc))
        add = self.get_option("add_hosts")
        known = self.inventory.hosts
        groups = {}
        for host, cid in hosts.items():
            if not add and host not in known:
                continue
            group = groups.get(cid)
            if group is None:
                group = groups[cid] = self.inventory.add_group(_fleet_view.class_group(cid))
            self.inventory.add_host(host, group=group)
            self.inventory.set_variable(host, HOSTVAR, cid)
