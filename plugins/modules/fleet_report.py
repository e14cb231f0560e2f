#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_report
short_description: Write the fleet report (HTML and Markdown) from the fleet artifacts
version_added: 0.1.0
description:
  - Runs on the controller only (action plugin). Reads the artifacts that M(armvirt.cpu.fleet_state) wrote in
    O(artifacts_dir) (C(fleet.json), the latest two C(snapshots/), the C(rollout/) record when a rollout ran) and the
    summary of the C(armvirt.cpu.apply) playbook when O(apply_summary) exists, and writes C(report/index.html) and
    C(report/report.md) there.
  - "The report shows: the hosts that need attention with the stage and the reason (unreachable, probe failed,
    stale facts, validation failed in the rollout, apply failures); what changed since the previous snapshot (values
    a kernel or QEMU update narrowed) and which requests it breaks on which host; the compatibility classes; a
    colour-coded matrix of every property with the baseline column and each host's values (green: in the baseline,
    amber: the host offers more, red: missing or narrowed, grey: no usable facts); where each requested guest CPU
    (the recommended policies of the fleet and of each class, the rollout's policy, O(requests)) fails and why."
  - Files are rewritten only when their content changes, and the content depends only on the artifacts, so a
    second run over an unchanged fleet reports no change. C(docs/fleet-guide.md) shows a screenshot.
  - Holds the lock of O(artifacts_dir) (C(.armvirt-cpu.lock), as M(armvirt.cpu.fleet_state) does) from reading the
    artifacts to writing the report, so it reads one state of the directory while gathers run; the latest two
    snapshots are those with the highest numbers.
  - A corrupt C(fleet.json), latest snapshot, C(rollout/plan.json) or apply summary fails the report with a message
    naming the file and the fault (not "run armvirt.cpu.gather first", which is for missing artifacts); a corrupt
    previous snapshot is named in the changes section, which then compares nothing; a corrupt host record shows as
    status C(corrupt).
author:
  - armvirt.cpu maintainers (@armvirt)
extends_documentation_fragment:
  - armvirt.cpu.attributes
  - armvirt.cpu.attributes.controller
options:
  artifacts_dir:
    description: Directory of the fleet artifacts on the controller; default C(armvirt-cpu) in the current directory.
    type: path
  output_dir:
    description: Where C(index.html) and C(report.md) go; default C(report) in O(artifacts_dir).
    type: path
  apply_summary:
    description: The JSON summary of the C(armvirt.cpu.apply) playbook; its absence is not an error.
    type: path
  requests:
    description: More guest CPU policy files (C(mode), C(features)) to place on the fleet.
    type: list
    elements: path
    default: []
  html_template:
    description: Jinja2 template of the HTML page, searched like the C(src) of M(ansible.builtin.template).
    type: str
    default: fleet_report.html.j2
  markdown_template:
    description: Jinja2 template of the Markdown page.
    type: str
    default: fleet_report.md.j2
  lock_timeout:
    description:
      - Seconds to wait for another run that holds the lock of O(artifacts_dir) before failing with a message naming
        it; V(0) tries once.
    type: float
    default: 120
seealso:
  - module: armvirt.cpu.fleet_state
"""

EXAMPLES = r"""
- name: Write the fleet report
  armvirt.cpu.fleet_report:
    artifacts_dir: /srv/armvirt-cpu
    apply_summary: /srv/armvirt-cpu/apply.json
    requests:
      - policies/ras.yml
"""

RETURN = r"""
changed_files:
  description: The report files this run wrote, or in check mode would write (C(index.html), C(report.md)).
  returned: always
  type: list
  elements: str
  sample: ["/srv/armvirt-cpu/report/index.html", "/srv/armvirt-cpu/report/report.md"]
html:
  description: Path of the HTML report.
  returned: success
  type: str
  sample: /srv/armvirt-cpu/report/index.html
markdown:
  description: Path of the Markdown report.
  returned: success
  type: str
  sample: /srv/armvirt-cpu/report/report.md
attention:
  description: The hosts that need attention, each C({host, stage, status, reason}).
  returned: success
  type: list
  sample:
    - host: altra-07
      stage: gather
      status: probe-failed
      reason: 'probe failed: probing emulator /usr/bin/qemu-system-aarch64 (accel=kvm) on host altra-07 failed: emulator
        /usr/bin/qemu-system-aarch64 exited with status 1 before its monitor answered: qemu-system-aarch64: failed to
        initialize kvm'
    - host: altra-12
      stage: rollout
      status: failed
      reason: 'altra-12 (fleet baseline): nothing was written; 1 problem in the guest CPU request of 1 guest'
  elements: dict
"""
