#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: guest_domains
short_description: Validate, render, schema-check and write libvirt domain XML with Arm CPU properties
version_added: 0.1.0
description:
  - Writes one libvirt domain XML file per guest, C(<output_dir>/<guest>.xml), on the managed host, with the guest's
    Arm CPU properties (for example C(feat_RAS), C(hw_prop_WRPs), C(sve128)) either as C(<feature value=...>)
    (libvirt's RFC) or as a C(<qemu:commandline>) C(-cpu) override for a libvirt without it.
  - "The work is done on the controller by the action plugin of the same name, in this order: every guest's features
    (the common O(features), overridden by name by the guest's own) are checked against O(props) with the
    collection's one validation (C(validate.check_features), see C(docs/guest-validation.md)); the C(-cpu) value is
    built (C(validate.qemu_cpu_arg)); each guest's XML is rendered from O(template); each document is checked
    against libvirt's RelaxNG domain schema from O(schema_dir); with O(libvirt_check) the request is checked against
    what the host's libvirt can carry (O(libvirt)). Then all files are written in one module call on the host."
  - Every problem of every guest is reported at once, as records and in the message, and nothing at all is written
    for a request with a problem, including a document that fails libvirt's schema.
  - Files are written atomically (a temporary file in O(output_dir), fsync, rename) and only when their content
    changes, so a second run reports no change. Writers of one O(output_dir) are serialised on its lock file
    C(.armvirt-guest-domains.lock), which also clears what a killed writer left behind. Check mode writes nothing and
    reports what would change; diff mode shows the changes like M(ansible.builtin.template).
  - Built for many guests in one task (tens of thousands). The template is compiled once, the schema once per
    directory, each distinct feature set validated once, and the schema check shared by documents that differ only
    in the domain's name.
author:
  - armvirt.cpu maintainers (@armvirt)
extends_documentation_fragment:
  - armvirt.cpu.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on
      the controller.
    support: full
  async:
    description: Supports being used with the C(async) keyword.
    support: none
options:
  guests:
    description:
      - The guests of this host, each a mapping with C(name) (a plain token of letters, digits, C(.), C(_), C(-),
        not starting with a dot; it names the domain and the file), C(memory) (MiB, positive integer), C(vcpus)
        (positive integer) and optional C(features) (a list like O(features) whose items replace the common ones of
        the same name; new names are added after them).
      - Optional C(emulator), the absolute path of the QEMU binary this guest runs under (its C(<emulator>)), instead
        of O(emulator). A path that is not absolute or holds a control character (NUL, newline) is refused naming the
        host and the guest; the XML writer escapes it.
      - Other keys are passed to the template as C(guest), for a template of your own.
    type: list
    elements: dict
    required: true
  features:
    description:
      - Features every guest gets, each a mapping with C(name), optional C(policy) (C(force), C(require), C(optional),
        C(disable), C(forbid); default C(require)) and optional C(value) (a string; quote it in YAML).
      - Replaced by O(policy_file) when that is given.
    type: list
    elements: dict
    default: []
  mode:
    description:
      - libvirt CPU mode; QEMU model C(host) for V(host-passthrough), C(max) for V(maximum), the named model
        O(model) for V(custom).
      - Replaced by the C(mode) of O(policy_file) when that file has one.
    type: str
    choices: [custom, host-passthrough, maximum]
    default: host-passthrough
  model:
    description:
      - The named CPU model of O(mode=custom) (for example C(cortex-a57) under TCG, or C(neoverse-v2-v1) with
        Nutanix's named models under KVM); required with it and refused otherwise.
      - Checked against the C(cpu_models) of O(props) when it has them. A model the host's QEMU does not offer under
        its accelerator fails naming the host, the model and the models it offers.
      - Replaced by the C(model) of O(policy_file) when that file has a C(mode).
    type: str
  policy_file:
    description:
      - A YAML or JSON file on the controller with C(features) and optionally C(mode), C(delivery) and
        C(description) (what M(armvirt.cpu.fleet_state) writes for a pool), checked first as
        P(armvirt.cpu.cpu_policy_errors#filter) checks a policy (described by C(docs/schemas/cpu_policy.schema.json)),
        so that a typo such as C(polcy:) is reported with the feature it is in. Its C(features) replace O(features);
        its C(mode) and C(delivery), when present, replace O(mode) and O(delivery).
      - A relative path is searched like the C(src) of M(ansible.builtin.copy) (the role's C(files/), then the
        playbook's).
    type: path
  props:
    description:
      - What the host accepts, its C(arm_cpu_props) fact (M(armvirt.cpu.props_facts)) or a fleet baseline of the same
        shape (P(armvirt.cpu.fleet_baseline#filter)).
      - Defaults to this host's C(ansible_facts['arm_cpu_props']).
    type: dict
  host:
    description: The name messages use for the host; defaults to C(inventory_hostname).
    type: str
  emulator:
    description:
      - The configured emulator, each guest's C(<devices><emulator>) unless the guest gives its own C(emulator).
      - It is the emulator that confirms the guest's C(-cpu) (with O(confirm), M(armvirt.cpu.cpu_check)'s check runs
        with it for each RV(confirmations) item; M(armvirt.cpu.domain_cpu) confirms with a domain's own C(<emulator>)), so the
        guest runs under the QEMU that judged its CPU. It must pass M(armvirt.cpu.cpu_check)'s ownership and
        permission checks there (on RHEL, C(/usr/libexec/qemu-kvm)).
      - A rendered document whose C(<emulator>) is not this one (a template of your own that writes another) is
        refused and nothing is written.
    type: path
    default: /usr/bin/qemu-system-aarch64
  output_dir:
    description:
      - Directory on the managed host for the C(<guest>.xml) files; created (mode 0755) when missing. A
        world-writable directory is refused, sticky bit or not (anyone could plant or swap a guest's file), as the
        property cache's directory is.
      - New files get mode 0644; an existing file keeps its permission bits (setuid, setgid and sticky bits are
        dropped).
      - A symlink (or anything but a regular file) at a guest's path is refused, in check mode too, and nothing is
        written; it is never followed, neither to compare nor for the diff.
    type: path
    required: true
  delivery:
    description:
      - V(feature-value) writes every feature into C(<cpu>) as C(<feature policy=... name=... value=.../>); it needs a
        libvirt with the RFC.
      - V(qemu-commandline) keeps in C(<cpu>) only the features the host's libvirt CPU map knows, without values (a
        boolean value becomes its policy, V(off) is C(disable); other values stay on C(-cpu) only), and adds a
        C(<qemu:commandline>) with C(-cpu) and the full validated value (model and every feature), because QEMU takes
        the last C(-cpu) as a whole. libvirt then marks the guest tainted C(custom-argv). This XML validates against
        libvirt's unmodified schema and runs on a released libvirt.
    type: str
    choices: [feature-value, qemu-commandline]
    default: feature-value
  template:
    description:
      - Jinja2 template of one domain, on the controller. A relative path is searched in the role's C(templates/), then
        the playbook's, like M(ansible.builtin.template).
      - Defaults to the C(templates/domain.xml.j2) of the role P(armvirt.cpu.guest_cpu#role) in the collection.
      - It is rendered with plain Jinja2 (compiled once, autoescaped for XML; no Ansible filters or lookups) with
        C(name), C(memory), C(vcpus), C(mode), C(cpu_features) (the features for C(<cpu>) after validation and
        delivery), C(qemu_cpu_arg) (for V(qemu-commandline), the request merged with the flags libvirt itself puts
        on its C(-cpu) for that domain), C(request_cpu_arg) (the request's own C(-cpu)), C(delivery),
        C(qemu_commandline) (a bool), C(domain_type) (C(kvm) or C(qemu), from the host's accelerator), C(emulator)
        (the guest's emulator, which the document's C(<devices><emulator>) must be), C(mark_ns)
        (the namespace of the metadata mark that records the override), C(host) and C(guest) (the guest's mapping),
        and the filter P(armvirt.cpu.cpu_element#filter) (also by its short name C(cpu_element)), which writes the
        C(<cpu>) element of C(cpu_features) in C(mode) as M(armvirt.cpu.domain_cpu) writes it into an existing guest
        (the default template's C(<cpu>) line).
    type: path
  schema_dir:
    description:
      - Directory of libvirt's RelaxNG schemas (C(domain.rng) and what it includes) on the controller, where the check
        runs (it needs lxml). The task fails when C(domain.rng) is not there.
      - For V(feature-value) a copy of the schema gets an optional C(value) attribute on the CPU C(<feature>) (with a
        value the policy must be C(require) or C(force), as in libvirt's RFC) in a temporary directory; a schema that
        already has C(value) is used as it is. For V(qemu-commandline) the unmodified schema is used.
    type: path
    default: /usr/share/libvirt/schemas
  libvirt:
    description:
      - The host's C(libvirt_cpu) fact (M(armvirt.cpu.libvirt_facts)), for O(libvirt_check).
      - Defaults to this host's C(ansible_facts['libvirt_cpu']).
    type: dict
  libvirt_check:
    description:
      - Refuse what the host's libvirt would misread. With V(feature-value), a valued feature on a libvirt whose schema
        lacks C(value) (an unpatched libvirt accepts the XML, silently drops C(value) and keeps the feature as a
        boolean; measured on libvirt 9.0, C(sve128) with value C(off) ran with C(sve128=on), the opposite), and a
        feature its CPU map does not know (refused at start with "unknown CPU feature"). With V(qemu-commandline) it
        selects the features C(<cpu>) may keep.
      - Needs O(libvirt). V(false) skips the check and says so in RV(libvirt_check) and a warning.
      - The fact may be older than the task (the C(armvirt.cpu.gather) playbook reads it with the properties). So
        whenever the task has a C(libvirt_cpu) fact, with or without this check, the module reads libvirt's schema
        and CPU map again on the host before it writes, from the directories the fact names, and writes nothing when
        the schema lost the C(value) support or the CPU map lost names the fact had (what was rendered could then be
        misread); a libvirt that gained either still takes the XML.
    type: bool
    default: true
  confirm:
    description:
      - After every check above passed and before anything is written, have this host's own QEMU confirm each distinct
        pair of emulator and C(-cpu) value (RV(confirmations)); the module that writes runs M(armvirt.cpu.cpu_check)'s
        check on the host once per pair, in its own process, with that emulator and O(accel), O(timeout),
        O(cache_dir), O(sysfs_path) and O(procfs_path), named by C(inventory_hostname), and writes only when every
        pair was confirmed. So plan, confirmation and write are one task and one module run on the host.
      - When QEMU refuses a request (or a check gets no answer) the task fails with every refusal, each with
        M(armvirt.cpu.cpu_check)'s message and the request's guests, and nothing is written for this host;
        RV(checks) holds each check's result.
      - Each accepted request is kept per host in O(cache_dir) (M(armvirt.cpu.cpu_check)'s results file), so a
        request costs one short-lived QEMU until the emulator, kernel, host CPU or KVM access changes. Check mode
        confirms too but does not write that file.
      - Off by default, so guests can be rendered for hosts that have no QEMU; the role P(armvirt.cpu.guest_cpu#role)
        turns it on with C(guest_cpu_confirm) (the C(armvirt.cpu.rollout) playbook sets it).
    type: bool
    default: false
  accel:
    description: With O(confirm), the accelerator QEMU confirms under (M(armvirt.cpu.cpu_check)'s
      O(armvirt.cpu.cpu_check#module:accel)).
    type: str
    choices: [kvm, tcg]
    default: kvm
  timeout:
    description: With O(confirm), the deadline in seconds for QEMU to answer each check.
    type: float
    default: 10.0
  cache_dir:
    description: With O(confirm), where M(armvirt.cpu.cpu_check) keeps the confirmations on the host (beside the
      property cache).
    type: path
    default: /var/cache/armvirt-cpu
  sysfs_path:
    description: With O(confirm), where sysfs is mounted on the host; the confirmations' fingerprint reads the host's
      identity below it.
    type: path
    default: /sys
  procfs_path:
    description: With O(confirm), where procfs is mounted on the host (for the same fingerprint).
    type: path
    default: /proc
notes:
  - The role P(armvirt.cpu.guest_cpu#role) gathers M(armvirt.cpu.libvirt_facts) and runs M(armvirt.cpu.guest_domains)
    once per host (with O(confirm) when C(guest_cpu_confirm) is true).
  - lxml is needed on the controller only; the managed host needs the Python standard library. A missing library
    fails the task with a message naming it.
  - The files are not defined in libvirt; run C(virsh define) on them (or use M(community.libvirt.virt)).
seealso:
  - module: armvirt.cpu.libvirt_facts
  - module: armvirt.cpu.props_facts
  - module: armvirt.cpu.cpu_check
  - plugin: armvirt.cpu.qemu_cpu_arg
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Gather what the host's libvirt accepts
  armvirt.cpu.libvirt_facts:

- name: Guest XML with feature values (needs a libvirt with the RFC)
  armvirt.cpu.guest_domains:
    output_dir: /var/lib/armvirt-cpu/domains
    features:
      - {name: feat_RAS, value: "1.0"}
      - {name: hw_prop_API, policy: disable}
      - {name: hw_prop_WRPs, value: "0x2"}
    guests:
      - {name: web1, memory: 2048, vcpus: 2}
      - {name: db1, memory: 8192, vcpus: 4, features: [{name: hw_prop_WRPs, value: "3"}]}
  register: domains

- name: The -cpu value each guest gets
  ansible.builtin.debug:
    var: domains.qemu_cpu_args
  # web1: host,feat_RAS=1.0,hw_prop_API=off,hw_prop_WRPs=2

- name: For a released libvirt, a -cpu override on QEMU's command line
  armvirt.cpu.guest_domains:
    output_dir: /var/lib/armvirt-cpu/domains
    delivery: qemu-commandline
    policy_file: policies/ras.yml
    guests: "{{ my_guests }}"

- name: Have this host's QEMU confirm each distinct -cpu value first; a refusal writes nothing
  armvirt.cpu.guest_domains:
    output_dir: /var/lib/armvirt-cpu/domains
    confirm: true
    emulator: /usr/libexec/qemu-kvm
    features: [{name: hw_prop_WRPs, value: "2"}]
    guests: "{{ my_guests }}"
  register: domains

- name: How QEMU confirmed each request (expansion or start)
  ansible.builtin.debug:
    msg: "{{ domains.checks | map(attribute='method') }}"

- name: Against a fleet baseline, with a template of your own
  armvirt.cpu.guest_domains:
    output_dir: /srv/domains
    props: "{{ fleet_facts | armvirt.cpu.fleet_baseline }}"
    template: my-domain.xml.j2
    guests: "{{ my_guests }}"
    features: "{{ my_features }}"
"""

RETURN = r"""
guests:
  description: Per guest, its file, whether it changed and its C(-cpu) value. Empty when the task failed.
  returned: always
  type: dict
  sample:
    web1:
      path: /var/lib/armvirt-cpu/domains/web1.xml
      changed: true
      status: created
      qemu_cpu_arg: host,feat_RAS=1.0,hw_prop_API=off,hw_prop_WRPs=2
      emulator: /usr/bin/qemu-system-aarch64
  contains:
    path:
      description: The file on the managed host.
      type: str
    changed:
      description: Whether the file was (or in check mode would be) written.
      type: bool
    status:
      description: V(created), V(updated) or V(unchanged).
      type: str
    qemu_cpu_arg:
      description: The validated value of QEMU's C(-cpu) for this guest (what C(<qemu:commandline>) carries for
        V(qemu-commandline)).
      type: str
    emulator:
      description: The guest's C(<emulator>), its own C(emulator) or O(emulator).
      type: str
qemu_cpu_args:
  description: Guest name to its C(-cpu) value.
  returned: success
  type: dict
  sample: {web1: "host,feat_RAS=1.0,hw_prop_API=off,hw_prop_WRPs=2"}
confirmations:
  description:
    - Each distinct pair of emulator and C(-cpu) value, with its guests (sorted), in a stable order; what the host's
      QEMU must confirm, each with that emulator (with O(confirm), M(armvirt.cpu.cpu_check)'s check runs once per
      item).
  returned: success, and when the host's QEMU refused a request
  type: list
  elements: dict
  sample:
    - {emulator: /usr/bin/qemu-system-aarch64, cpu_arg: "host,feat_RAS=1.0", guests: [db1, web1]}
    - {emulator: /usr/libexec/qemu-kvm, cpu_arg: "host,feat_RAS=1.0", guests: [legacy1]}
checks:
  description:
    - With O(confirm), what the host's QEMU said of each item of RV(confirmations), in the same order -- the result of
      M(armvirt.cpu.cpu_check) (C(accepted), C(error), C(method), C(mode), C(cpu_arg) in the host's spelling,
      C(cached), C(cache), C(expanded); C(msg) when the check failed), with the item's C(emulator) and C(guests) and
      C(failed). Empty without O(confirm).
  returned: success, and when the host's QEMU refused a request
  type: list
  elements: dict
  sample:
    - emulator: /usr/bin/qemu-system-aarch64
      guests: [db1, web1]
      failed: false
      accepted: true
      error: null
      method: start
      mode: host-passthrough
      cpu_arg: host,hw_prop_WRPs=2
      cached: true
errors:
  description:
    - Every problem of the request, one record per guest and problem; nothing was written. The records of
      C(validate.check_features) (rules in C(docs/guest-validation.md)) with C(guest) added, and these rules of the
      guest side -- C(bad-guest), C(bad-guest-name), C(duplicate-guest), C(bad-emulator), C(libvirt-facts-missing),
      C(libvirt-drops-value), C(libvirt-unknown-feature), C(template), C(schema).
  returned: failure
  type: list
  elements: dict
  sample:
    - host: v1-01
      guest: web1
      feature: feat_RAS
      value: "1.1"
      allowed: ["0.0", "1.0"]
      rule: value-not-supported
      message: "v1-01: feat_RAS=1.1 is not supported; supported values (string): 0.0, 1.0."
schema:
  description: Which schema the documents were checked against.
  returned: success
  type: str
  sample: libvirt schema in /usr/share/libvirt/schemas with the <feature value=...> overlay
libvirt_check:
  description: >-
    What the libvirt check did, V(performed (libvirt VERSION)) or V(skipped (libvirt_check: false)).
  returned: success
  type: str
  sample: performed (libvirt 9.0.0)
notes:
  description: Things to know, for example that O(libvirt_check) was off or that the daemon runs another version.
  returned: always
  type: list
  sample:
    - 'libvirt_check is false: the XML was not checked against this host''s libvirt; an unpatched libvirt drops feature
      values silently (measured on libvirt 9.0: <feature policy=''require'' name=''sve128'' value=''off''/> started
      QEMU with sve128=on, the opposite of the request) and refuses names outside its CPU map at start.'
  elements: str
"""

import os

from ansible_collections.armvirt.cpu.plugins.module_utils._common import atomic
from ansible_collections.armvirt.cpu.plugins.module_utils._common import paths
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import confirm
from ansible_collections.armvirt.cpu.plugins.module_utils._guest.domain_files import (
    CPU_ARG_KEY, DOCUMENT_KEY, EMULATOR_KEY, XML_SUFFIX, guest_name_problem)
from ansible_collections.armvirt.cpu.plugins.module_utils._argspec import guest_domains_argument_spec

LOCK_NAME = ".armvirt-guest-domains.lock"


def write_documents(output_dir, documents, check_mode, want_diff):
    """Write the changed documents; returns ``(changed, guests, diffs)``. ``documents`` is ``[(name, text)]``.

    Writers of one directory are serialised on its lock file, which also clears what a killed writer left behind.
    Raises OSError (nothing written) for a world-writable ``output_dir`` or a symlink at a guest's path.
    """
    exists = os.path.isdir(output_dir)
    if exists:
        atomic.check_dir(output_dir)
    if check_mode:
        return _compare(output_dir, documents, exists, want_diff, write=None)
    atomic.make_dirs(output_dir)
    atomic.check_dir(output_dir)   # it may have appeared since
    with atomic.locked(os.path.join(output_dir, LOCK_NAME)):
        atomic.remove_stale_temps(output_dir, lambda name: name.endswith(".xml"))
        changed, guests, diffs = _compare(output_dir, documents, exists, want_diff, write=_write)
        if changed:
            atomic.fsync_dir(output_dir)
    return changed, guests, diffs


def _write(path, data, mode):
    """Keep the permission bits of a file that was there (the operator may have tightened them), never its setuid,
    setgid or sticky bit; else 0644."""
    atomic.replace(path, data, atomic.FILE_MODE if mode is None else mode, sync_dir=False)


def _compare(output_dir, documents, exists, want_diff, write):
    """Every guest's path is read (and refused when unsafe) before the first is written, so a refusal writes
    nothing."""
    guests, diffs, changes = {}, [], []
    for name, text in documents:
        path = paths.join(output_dir, name, XML_SUFFIX)
        data = text.encode("utf-8")
        before, mode = atomic.read_existing(path) if exists else (None, None)
        status = "unchanged" if before == data else ("created" if before is None else "updated")
        if status != "unchanged":
            changes.append((path, data, mode))
            if want_diff:
                diffs.append({"before_header": path, "after_header": path,
                              "before": "" if before is None else before.decode("utf-8", "replace"), "after": text})
        guests[name] = {"path": path, "changed": status != "unchanged", "status": status}
    if write is not None:
        for path, data, mode in changes:
            write(path, data, mode)
    return any(guest["changed"] for guest in guests.values()) or not exists, guests, diffs


def main():
    module = guest_domains_argument_spec().create_ansible_module(supports_check_mode=True)
    params = module.params
    pairs = []
    for guest in params["guests"]:
        name, text = guest.get("name"), guest.get(DOCUMENT_KEY)
        if not isinstance(text, str):
            module.fail_json(msg="armvirt.cpu.guest_domains renders and checks on the controller; run it as a task "
                                 "(its action plugin), not as a bare module.")
        # the action refuses such names already; re-checked here because this is where they become paths
        problem = guest_name_problem(name)
        if problem:
            module.fail_json(msg="refusing to write the guest: %s" % problem)
        pairs.append((name, text))
    host = params["host"] or "host"
    if params["libvirt"] is not None:
        # the XML was rendered for the libvirt_cpu fact the action was given, which may be older than this run
        from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps
        changes = caps.changed_since(params["libvirt"])
        if changes:
            module.fail_json(msg="libvirt changed since the libvirt_cpu fact the XML was rendered with was gathered: "
                                 "%s. Gather it again (armvirt.cpu.gather or armvirt.cpu.libvirt_facts); nothing was "
                                 "written." % "; ".join(changes), changed=False, guests={}, checks=[])
    checks = []
    if params["confirm"]:
        # the host's QEMU confirms each distinct request in this process, before anything is written
        requests = confirm.confirmations({guest["name"]: {"emulator": guest[EMULATOR_KEY],
                                                          "qemu_cpu_arg": guest[CPU_ARG_KEY]}
                                          for guest in params["guests"]})
        checks = confirm.verdicts(requests, params["accel"], params["timeout"], params["cache_dir"],
                                  write=not module.check_mode, sysfs_root=params["sysfs_path"],
                                  procfs_root=params["procfs_path"], host=host)
        refused = [check for check in checks if check["failed"]]
        if refused:
            module.fail_json(msg=confirm.refusals_message(host, refused), changed=False, guests={}, checks=checks)
    try:
        changed, guests, diffs = write_documents(params["output_dir"], pairs, module.check_mode, module._diff)
    except (OSError, paths.PathError) as exc:
        module.fail_json(msg="cannot write the domain XML in %s: %s" % (params["output_dir"], exc))
    result = dict(changed=changed, guests=guests, checks=checks)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
