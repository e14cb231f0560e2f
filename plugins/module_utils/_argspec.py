# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

Argument specs of the modules, kept beside the doc fragments that document them (doc_fragments/probe.py,
doc_fragments/confirm.py). A module and the action plugin of the same name both build their spec here: an action
never imports a module file."""

from __future__ import annotations

# delivery, libvirt_caps and validate (with what they import, about a third of the collection's module_utils) are
# imported by the specs that need them only: every module imports this file, and AnsiballZ compiles each imported
# module_utils file from source on every task (props_facts needs none of the three).
CACHE_MODES = ["use", "refresh", "ignore"]


def probe_argument_spec():
    """Options of every module that probes QEMU: a fresh dict per call, since modules extend it."""
    return dict(
        emulator=dict(type="path", default="/usr/bin/qemu-system-aarch64"),
        accel=dict(type="str", choices=["kvm", "tcg"], default="kvm"),
        timeout=dict(type="float", default=10.0),
        cache_dir=dict(type="path", default="/var/cache/armvirt-cpu"),
    )


def host_argument_spec():
    """The name messages use for the host (doc_fragments/host_name.py); ``hostid.label`` gives its default."""
    return dict(host=dict(type="str"))


def host_props_argument_spec():
    """The host's own ``arm_cpu_props`` beside a baseline given as ``props`` (doc_fragments/host_props.py): a request
    that passed the baseline's canonical fields is written in the host's names (``delivery.plan``'s ``own``)."""
    return dict(host_props=dict(type="dict"))


def host_paths_argument_spec():
    """Where a module reads the host's identity (``hostid.py``): sysfs and procfs, or a recorded host tree."""
    return dict(sysfs_path=dict(type="path", default="/sys"), procfs_path=dict(type="path", default="/proc"))


def cpu_check_argument_spec():
    """Options of armvirt.cpu.cpu_check: the probe's, where the host's identity is read (for the fingerprint), the
    request (mode and features, or a -cpu value), how the results file is used and the host's name for messages."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._guest import delivery
    spec = probe_argument_spec()
    spec.update(host_paths_argument_spec())
    spec.update(
        # None: cpu_arg's model, else the default mode; custom takes model (a named model, models.py)
        mode=dict(type="str", choices=sorted(delivery.MODES)),
        model=dict(type="str"),
        features=dict(type="list", elements="dict"),
        cpu_arg=dict(type="str"),
        cache=dict(type="str", choices=CACHE_MODES, default="use"),
    )
    spec.update(host_argument_spec())
    return spec


def confirm_argument_spec():
    """Options of a module that has the host's QEMU confirm a request before it writes (domain_cpu): whether to, the
    probe's deadline and cache directory, and the configured emulator, trusted besides those libvirt lists (the
    emulator that is run and the accelerator come from what is being written; ``emulator_trust``)."""
    probe = probe_argument_spec()
    return dict(confirm=dict(type="bool", default=True), timeout=probe["timeout"], cache_dir=probe["cache_dir"],
                emulator=probe["emulator"])


def guest_domains_argument_spec():
    """Options of armvirt.cpu.guest_domains: what its action plugin validates and works with on the controller. The
    module, which only writes, is called with ``output_dir`` and ``guests`` whose items carry the rendered XML
    (``guest_domains.DOCUMENT_KEY``); with ``confirm`` the action first runs armvirt.cpu.cpu_check on the host once
    per distinct request (``guest_confirm_argument_spec``)."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._guest import delivery, validate
    from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps as libvirt_caps
    spec = dict(
        guests=dict(type="list", elements="dict", required=True),
        features=dict(type="list", elements="dict", default=[]),
        mode=dict(type="str", choices=sorted(delivery.MODES), default=validate.DEFAULT_MODE),
        model=dict(type="str"),
        policy_file=dict(type="path"),
        props=dict(type="dict"),
        host=dict(type="str"),
        output_dir=dict(type="path", required=True),
        delivery=dict(type="str", choices=list(delivery.DELIVERIES), default=delivery.FEATURE_VALUE),
        template=dict(type="path"),
        schema_dir=dict(type="path", default=libvirt_caps.DEFAULT_SCHEMA_DIR),
        libvirt=dict(type="dict"),
        libvirt_check=dict(type="bool", default=True),
    )
    spec.update(guest_confirm_argument_spec())
    return spec


def guest_confirm_argument_spec():
    """How armvirt.cpu.guest_domains has the host's QEMU confirm each distinct request before it writes: whether to
    (off by default: the action also renders for hosts without QEMU), and the options its action passes on to each
    armvirt.cpu.cpu_check run -- the probe's (``emulator`` is also every new guest's ``<emulator>``) and where the
    fingerprint reads the host's identity, with cpu_check's defaults."""
    spec = dict(confirm=dict(type="bool", default=False))
    spec.update(probe_argument_spec())
    spec.update(host_paths_argument_spec())
    return spec
