#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_state
short_description: Decide which hypervisors' Arm CPU facts to trust, classify the fleet and write its artifacts
version_added: 0.1.0
description:
  - Runs on the controller only (action plugin); it never connects to a host. Reads the C(arm_cpu_props) fact and the
    C(armvirt_cpu_gather) record of each host in O(hosts) from C(hostvars), which hold the facts of this run and,
    with Ansible fact caching, those of hosts outside C(--limit), unreachable hosts and earlier runs.
  - A fact is used unless the host's last probe failed, it has no fact, or its record is older than O(max_fact_age)
    (or has no C(gathered_at)); an unreachable host whose fact is young enough still counts. Each host gets a status
    (C(ok), C(unreachable), C(unsupported), C(stale), C(no-facts), C(probe-failed)) and a reason.
  - A host whose inventory name cannot be a file name (it contains C(/) or a NUL character, is C(.), C(..) or empty,
    or its record C(<name>.json) would be over 255 bytes) gets the status C(invalid-name) with a reason naming it;
    its facts are not read and it is never used, nor written about in a file named after it.
  - Computes the fleet baseline, the compatibility classes and a recommended policy for the fleet and for each class
    with the collection's fleet logic (the filters P(armvirt.cpu.fleet_baseline#filter),
    P(armvirt.cpu.fleet_classes#filter), P(armvirt.cpu.fleet_recommend#filter)).
  - With O(write), writes to O(artifacts_dir) C(fleet.json) (everything), C(classes.json), C(baseline.json),
    C(policies/fleet.yml) and C(policies/<class id>.yml) (files the P(armvirt.cpu.guest_cpu#role) role takes as
    C(guest_cpu_policy_file)) and C(gathered.json); with O(snapshot), C(snapshots/<number>-<UTC time>.json) when the
    facts differ from the latest snapshot. Files are rewritten only when their content changes; C(gathered.json) never
    counts as a change. Used by the playbooks C(armvirt.cpu.gather) and C(armvirt.cpu.rollout).
  - Runs that use one O(artifacts_dir) at once are serialised by its lock file C(.armvirt-cpu.lock), held while the
    artifacts and the rollout's record are written (see O(lock_timeout)); each file is replaced atomically, so a
    reader never sees a partly written file. Snapshots are numbered one more than the highest number present and
    ordered by that number, not by the time in their name; names of earlier versions (C(<UTC time>.json)) are read
    and come first.
  - A damaged artifact is named as such, never taken for a missing one. A corrupt latest snapshot is kept as it is
    and a new snapshot follows it; a corrupt C(gathered.json) is named in C(summary). Both are also warnings.
  - A host without facts that C(gathered.json) says was gathered before gets the reason "gathered at X, but the
    fact cache no longer holds its facts (expired or removed)", not "never gathered".
author:
  - armvirt.cpu maintainers (@armvirt)
extends_documentation_fragment:
  - armvirt.cpu.attributes
  - armvirt.cpu.attributes.controller
options:
  hosts:
    description: The hosts of the fleet, for example C(query('ansible.builtin.inventory_hostnames', 'hypervisors')).
    type: list
    elements: str
    required: true
  max_fact_age:
    description: Seconds after C(gathered_at) during which a host's fact is trusted; V(0) trusts facts of any age.
    type: int
    default: 86400
  artifacts_dir:
    description: Directory on the controller for the artifacts; default C(armvirt-cpu) in the current directory.
    type: path
  label:
    description: Name of the fleet baseline, used in messages.
    type: str
    default: fleet
  write:
    description: Write the artifacts; V(false) only computes (the rollout's frozen baseline).
    type: bool
    default: true
  snapshot:
    description: Also keep a snapshot of the facts when they changed, for the report's "changed since" section.
    type: bool
    default: false
  rollout:
    description:
      - Start the record of a rollout of C(armvirt.cpu.rollout), given as C({targets, scope, policy_file}) where
        C(targets) are this run's hosts, C(scope) is C(fleet), C(class) or C(host), and an empty C(policy_file)
        means the recommendation of each host's pool (C(policies/fleet.yml), or C(policies/<class id>.yml) for
        scope C(class) and for a host the fleet pool leaves out); the plan lists those class policies as
        C(policies). Writes
        C(rollout/plan.json) (with the baseline's members) and removes the records
        C(rollout/hosts/<host>.json) of the targets, which each host then writes as it succeeds or fails; a target
        without a record was not run. This bookkeeping never counts as a change. The result's C(rollout_records)
        has the path of each target's record, checked to stay in C(rollout/hosts).
      - "Before it writes anything (artifacts included) it checks what the rollout needs, and fails naming the file
        and the fault: some host's facts count, the C(policy_file) exists and is a policy the
        P(armvirt.cpu.guest_cpu#role) role takes (a YAML error with its line and column), and a slice's C(plan.json)
        is readable. C(policies/fleet.yml) is checked after it is written, before the plan. A failed start leaves
        C(rollout/plan.json) and every C(rollout/hosts/*.json) as they were."
      - "An optional C(id) names a sliced rollout: a slice whose C(id) is that of C(plan.json) joins it (the targets
        of all slices in one plan, C(slices) counting them, the other slices' records kept) and fails unless it uses
        the same baselines, members, scope and policy files as the slices before it. Without C(id) every run starts a
        rollout of its own."
    type: dict
  lock_timeout:
    description:
      - Seconds to wait for another run that holds the lock of O(artifacts_dir) (another gather, a rollout, a
        report) before failing with a message naming it (pid, host, what it runs, since when); V(0) tries once.
    type: float
    default: 120
  baseline_file:
    description:
      - A frozen baseline, C(baseline.json) as this action writes it (the playbook C(armvirt.cpu.classify) writes it
        for the whole inventory once). The baseline and its members are taken from the file and nothing is computed
        from facts; each host of O(hosts) only gets its status (the rules above), and is usable when its facts
        count and it is a member, or a host the baseline leaves out for its accelerator whose class is in
        C(class-baselines.json) next to the file. C(classes) and C(recommendations) are then empty.
      - Needs O(write=false) and O(snapshot=false); a frozen view writes no artifacts (O(rollout) still writes its
        record). The returned C(baseline_digest) and the rollout's C(plan.json) name the file's sha256.
      - The playbook C(armvirt.cpu.rollout) passes C(armvirt_cpu_baseline_file) here, so every slice and batch of
        a sliced rollout renders against the same baseline.
    type: path
  facts_from:
    description:
      - Where each host's C(arm_cpu_props) fact and C(armvirt_cpu_gather) record are read.
      - V(hostvars) reads them from C(hostvars), as a play would; Ansible then computes every variable of every
        host, which is most of the cost of a large fleet.
      - V(cache) reads the configured fact cache directly through Ansible's cache plugin API (the plugin and
        connection of C(fact_caching)); it fails when fact caching is V(memory), which holds only this run's facts.
      - V(auto) reads the fact cache directly for the hosts this play does not target (their facts can only come
        from the cache) and C(hostvars) for the play's own hosts (whose facts may be this run's and not cached), and
        uses C(hostvars) for all when fact caching is V(memory). The playbook C(armvirt.cpu.classify) runs on
        C(localhost), so it reads the whole fleet from the cache. The result's C(facts_source) and last summary line
        say how many hosts each source served.
    type: str
    choices: [auto, hostvars, cache]
    default: auto
seealso:
  - module: armvirt.cpu.fleet_report
  - plugin: armvirt.cpu.fleet_baseline
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Classify the fleet from the facts of this run and the fact cache
  armvirt.cpu.fleet_state:
    hosts: "{{ query('ansible.builtin.inventory_hostnames', 'hypervisors') }}"
    max_fact_age: 3600
    artifacts_dir: /srv/armvirt-cpu
    snapshot: true
  run_once: true
  register: fleet

- name: One inventory group per compatibility class
  ansible.builtin.group_by:
    key: "{{ fleet.hosts[inventory_hostname].group }}"
"""

RETURN = r"""
changed_files:
  description: The files this run wrote, or in check mode would write (snapshots, policies, fleet.json, ...;
    bookkeeping such as C(gathered.json) is not listed).
  returned: always
  type: list
  elements: str
  sample: ["/srv/armvirt-cpu/fleet.json", "/srv/armvirt-cpu/snapshots/000043-20261129T161400Z.json"]
hosts:
  description:
    - Every host to C({status, reason, gathered_at, class, usable, pool, group}).
    - C(pool) is C(fleet) for a member of the fleet baseline, the host's class for a host that the fleet pool leaves
      out for its accelerator (the fleet pool is the hosts of the accelerator most hosts run, KVM on a tie; a TCG
      host in a KVM fleet, whose QEMU refuses the fleet's host-passthrough), with the reason in C(reason); null for
      a host without a class.
    - C(group) is the inventory group of the host's class, C(armvirt_cpu_class_<id>) with the id's dashes as
      underscores (C(armvirt_cpu_class_none) for a host without a class), as the playbooks and the inventory source
      P(armvirt.cpu.classes#inventory) name it.
  returned: always
  type: dict
  sample:
    altra-01:
      status: ok
      reason: null
      gathered_at: '2026-11-25T18:49:17Z'
      class: cpu-1428cf3e21
      usable: true
      pool: fleet
      group: armvirt_cpu_class_cpu_1428cf3e21
    altra-07:
      status: probe-failed
      reason: 'probe failed: probing emulator /usr/bin/qemu-system-aarch64 (accel=kvm) on host altra-07 failed: emulator
        /usr/bin/qemu-system-aarch64 exited with status 1 before its monitor answered: qemu-system-aarch64: failed to
        initialize kvm'
      gathered_at: null
      class: null
      usable: false
      pool: null
members:
  description: The hosts whose facts make the baseline, sorted.
  returned: always
  type: list
  sample:
    - altra-01
    - altra-02
    - graviton3-01
  elements: str
baseline:
  description: The fleet baseline (C(docs/schemas/fleet_baseline.schema.json)).
  returned: always
  type: dict
  sample:
    label: fleet
    supported: true
    dialect: query-arm-cpu-props-info
    members:
    - altra-01
    - altra-02
    - graviton3-01
    properties:
      feat_RAS:
        type: string
        supported_values:
        - '0.0'
        - '1.0'
      hw_prop_WRPs:
        type: number
        supported_values:
        - 0-3
classes:
  description: The compatibility classes (C(docs/schemas/fleet_classes.schema.json)).
  returned: always
  type: dict
  sample:
    classes:
      cpu-1428cf3e21:
        hosts:
        - altra-01
        - altra-02
        count: 2
        representative: altra-01
        dialect: query-arm-cpu-props-info
        properties_count: 70
        summary: '2 hosts like altra-01: 70 properties from query-arm-cpu-props-info'
    hosts:
      altra-01: cpu-1428cf3e21
      altra-02: cpu-1428cf3e21
    excluded:
    - host: altra-07
      reason: no arm_cpu_props fact (not gathered, or the host was unreachable)
class_baselines:
  description: Each class id to the class's baseline (same shape as C(baseline)), as C(class-baselines.json) holds
    them; with O(baseline_file), read from C(class-baselines.json) next to it (empty when there is none).
  returned: always
  type: dict
  sample: {}
pools:
  description:
    - With O(rollout), each pool (C(fleet) and every class id) to C({baseline, policy_file, failed}), what the
      C(armvirt.cpu.rollout) playbook gives a host of that pool; C(policy_file) is null and C(failed) says why when
      the pool has no recommended policy.
  returned: with O(rollout)
  type: dict
  sample: {}
recommendations:
  description: Pool (C(fleet) or a class id) to its recommended policy C({mode, features}).
  returned: always
  type: dict
  sample:
    fleet:
      mode: host-passthrough
      features:
      - name: feat_RAS
        policy: require
        value: '1.0'
      - name: hw_prop_WRPs
        policy: require
        value: '3'
failed_pools:
  description:
    - Pool (C(fleet) or a class id) to the reason no policy could be recommended for it; such a pool has no entry in
      C(recommendations) and no policy file (an earlier run's is removed), and its class in C(classes) has the
      reason as C(failed). Every other pool's policy is still written.
  returned: always
  type: dict
  sample:
    cpu-1428cf3e21: 'cpu-1428cf3e21: no consistent recommendation: hw_prop_X=1 is not supported'
summary:
  description: One line per class and per host left out with its reason, for people, then a line saying where the
    facts were read (O(facts_from)) and, in check mode, one naming the files it would write.
  returned: always
  type: list
  sample:
    - 'cpu-1428cf3e21: 2 hosts like altra-01: 70 properties from query-arm-cpu-props-info'
    - 'altra-07 left out (probe-failed): probe failed: probing emulator /usr/bin/qemu-system-aarch64 (accel=kvm) on host altra-07 failed: emulator
      /usr/bin/qemu-system-aarch64 exited with status 1 before its monitor answered: qemu-system-aarch64: failed to
      initialize kvm'
  elements: str
facts_source:
  description: How many hosts' facts each source served (O(facts_from)), and the configured fact cache plugin.
  returned: always
  type: dict
  sample: {"cache": 2998, "hostvars": 2, "cache_plugin": "ansible.builtin.jsonfile"}
rollout_records:
  description:
    - With O(rollout), each target to the path where its record is written, checked to stay in C(rollout/hosts);
      a target whose name is refused (status C(invalid-name)) has none.
  returned: when O(rollout) is given
  type: dict
  sample:
    altra-01: /srv/armvirt-cpu/rollout/hosts/altra-01.json
artifacts:
  description:
    - Paths of the files written, or in check mode that would be (C(policies) maps each pool to its policy file).
    - Without O(write) only C(policies.fleet), where C(armvirt.cpu.gather) or C(armvirt.cpu.classify) wrote the
      fleet's policy in O(artifacts_dir) (the rollout's default policy), and C(rollout_plan) with O(rollout).
  returned: always
  type: dict
  sample:
    fleet: /srv/armvirt-cpu/fleet.json
    classes: /srv/armvirt-cpu/classes.json
    baseline: /srv/armvirt-cpu/baseline.json
    policies:
      fleet: /srv/armvirt-cpu/policies/fleet.yml
      cpu-1428cf3e21: /srv/armvirt-cpu/policies/cpu-1428cf3e21.yml
    snapshot: /srv/armvirt-cpu/snapshots/000042-20261125T184917Z.json
"""
