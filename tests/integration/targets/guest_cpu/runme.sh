#!/usr/bin/env bash
# The guest_cpu role on simulated hypervisors gathered for real: plays with serial batches and several hosts, which a
# role target cannot have, so a playbook of its own (main.yml) on ansible-test's inventory.
set -eux
ANSIBLE_ROLES_PATH=.. ansible-playbook -i "${INVENTORY_PATH}" main.yml "$@"
