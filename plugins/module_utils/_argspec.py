# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

Argument specs of the modules and the action plugins, kept beside the doc fragments that document them
(doc_fragments/probe.py, doc_fragments/confirm.py). Each is an :class:`ArgumentSpec`, the options with the relations
between them, as community.crypto's ``module_utils/_argspec.py`` holds them: a module builds its AnsibleModule from
it, the action plugin of the same name validates with the same object (an action never imports a module file), and
shared options are merged in, never copied.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names

# Only names is imported (libvirt's default locations included): every module imports this file, and AnsiballZ
# compiles each imported module_utils file from source on every task, so _libvirt.caps is left to the modules that
# read libvirt.
CACHE_MODES = ["use", "refresh", "ignore"]
LIBVIRT_BACKENDS = ["auto", "virsh", "libvirt-python"]
Options = Dict[str, Dict[str, Any]]   # option name -> its AnsibleModule spec (type, default, choices, ...)
_RELATIONS = ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by")


class ArgumentSpec:
    """Options (``argument_spec``) and the relations AnsibleModule and ``ActionBase.validate_argument_spec`` check
    between them."""

    def __init__(self, argument_spec: Options | None = None, mutually_exclusive: list[Any] | None = None,
                 required_together: list[Any] | None = None, required_one_of: list[Any] | None = None,
                 required_if: list[Any] | None = None, required_by: dict[str, Any] | None = None) -> None:
        self.argument_spec: Options = dict(argument_spec or {})
        self.mutually_exclusive: List[Any] = list(mutually_exclusive or [])
        self.required_together: List[Any] = list(required_together or [])
        self.required_one_of: List[Any] = list(required_one_of or [])
        self.required_if: List[Any] = list(required_if or [])
        self.required_by: Dict[str, Any] = dict(required_by or {})

    def update_argspec(self, **options: dict[str, Any]) -> ArgumentSpec:
        """Add or replace options; returns the spec."""
        self.argument_spec.update(options)
        return self

    def merge(self, other: ArgumentSpec) -> ArgumentSpec:
        """Take in ``other``'s options and relations (its options win a clash); returns the spec."""
        self.argument_spec.update(other.argument_spec)
        for relation in _RELATIONS:
            mine = getattr(self, relation)
            if isinstance(mine, dict):
                mine.update(getattr(other, relation))
            else:
                mine.extend(getattr(other, relation))
        return self

    def validation_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of AnsibleModule and ``ActionBase.validate_argument_spec``."""
        kwargs = {relation: getattr(self, relation) for relation in _RELATIONS}
        kwargs["argument_spec"] = self.argument_spec
        return kwargs

    def create_ansible_module_helper(self, clazz: Any, args: tuple[Any, ...] = (), **kwargs: Any) -> Any:
        """``clazz(*args, ...)`` with this spec; ``kwargs`` such as ``supports_check_mode``."""
        return clazz(*args, **dict(self.validation_kwargs(), **kwargs))

    def create_ansible_module(self, **kwargs: Any) -> Any:
        """The module's AnsibleModule (imported here: module_utils import no Ansible when they are loaded)."""
        from ansible.module_utils.basic import AnsibleModule
        return self.create_ansible_module_helper(AnsibleModule, **kwargs)


def probe_argument_spec() -> ArgumentSpec:
    """Options of every module that probes QEMU."""
    return ArgumentSpec(dict(
        emulator=dict(type="path", default="/usr/bin/qemu-system-aarch64"),
        accel=dict(type="str", choices=list(names.ACCELS), default=names.KVM),
        timeout=dict(type="float", default=10.0),
        cache_dir=dict(type="path", default="/var/cache/armvirt-cpu"),
    ))


def host_argument_spec() -> ArgumentSpec:
    """The name messages use for the host (doc_fragments/host_name.py); ``hostid.label`` gives its default."""
    return ArgumentSpec(dict(host=dict(type="str")))


def host_props_argument_spec() -> ArgumentSpec:
    """The host's own ``arm_cpu_props`` beside a baseline given as ``props`` (doc_fragments/host_props.py): a request
    that passed the baseline's canonical fields is written in the host's names (``delivery.plan``'s ``own``)."""
    return ArgumentSpec(dict(host_props=dict(type="dict")))


def host_paths_argument_spec() -> ArgumentSpec:
    """Where a module reads the host's identity (``hostid.py``): sysfs and procfs, or a recorded host tree."""
    return ArgumentSpec(dict(sysfs_path=dict(type="path", default="/sys"),
                             procfs_path=dict(type="path", default="/proc")))


def _host_probe_argument_spec() -> ArgumentSpec:
    """The probe's options, where the host's identity is read (for the fingerprint) and the host's name."""
    return probe_argument_spec().merge(host_paths_argument_spec()).merge(host_argument_spec())


def props_facts_argument_spec() -> ArgumentSpec:
    """Options of armvirt.cpu.props_facts: the probe's, or a running monitor, and how the cache is used."""
    return _host_probe_argument_spec().update_argspec(
        qmp_socket=dict(type="path"),
        cache=dict(type="str", choices=CACHE_MODES, default="use"),
    )


def props_cache_argument_spec() -> ArgumentSpec:
    """Options of armvirt.cpu.props_cache: the probe's, whether the cache file is to be, whether to re-read it, and
    whether to read what the host's libvirt accepts in the same run (``libvirt``: armvirt.cpu.libvirt_facts'
    options, one definition)."""
    return _host_probe_argument_spec().update_argspec(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        cache=dict(type="str", choices=["use", "refresh"], default="use"),
        libvirt=dict(type="dict", options=libvirt_facts_argument_spec().argument_spec),
    )


def cpu_check_argument_spec() -> ArgumentSpec:
    """Options of armvirt.cpu.cpu_check: the probe's, where the host's identity is read (for the fingerprint), the
    request (mode and features, or a -cpu value), how the results file is used and the host's name for messages."""
    spec = probe_argument_spec().merge(host_paths_argument_spec())
    spec.update_argspec(
        # None: cpu_arg's model, else the default mode; custom takes model (a named model, models.py)
        mode=dict(type="str", choices=sorted(names.MODES)),
        model=dict(type="str"),
        features=dict(type="list", elements="dict"),
        cpu_arg=dict(type="str"),
        cache=dict(type="str", choices=CACHE_MODES, default="use"),
    )
    spec.mutually_exclusive.append(("features", "cpu_arg"))
    return spec.merge(host_argument_spec())


def confirm_argument_spec() -> ArgumentSpec:
    """Options of a module that has the host's QEMU confirm a request before it writes (domain_cpu): whether to, the
    probe's deadline and cache directory, and the configured emulator, trusted besides those libvirt lists (the
    emulator that is run and the accelerator come from what is being written; ``emulator_trust``)."""
    probe = probe_argument_spec().argument_spec
    return ArgumentSpec(dict(confirm=dict(type="bool", default=True), timeout=probe["timeout"],
                             cache_dir=probe["cache_dir"], emulator=probe["emulator"]))


def domain_cpu_argument_spec() -> ArgumentSpec:
    """Options of armvirt.cpu.domain_cpu: the domain (name or UUID) and libvirt connection, the request, how it is
    delivered and checked, the confirmation's, and the host's name and own fact."""
    spec = ArgumentSpec(dict(
        name=dict(type="str"),
        uuid=dict(type="str"),
        uri=dict(type="str", default=names.LIBVIRT_URI),
        backend=dict(type="str", choices=LIBVIRT_BACKENDS, default="auto"),
        mode=dict(type="str", choices=list(names.MODES), default=names.DEFAULT_MODE),
        model=dict(type="str"),
        features=dict(type="list", elements="dict", default=[]),
        props=dict(type="dict"),
        delivery=dict(type="str", choices=list(names.DELIVERIES), default=names.FEATURE_VALUE),
        libvirt_check=dict(type="bool", default=True),
        libvirt=dict(type="dict"),
        unmarked_cpu_arg=dict(type="str", choices=["fail", "replace"], default="fail"),
    ), required_one_of=[("name", "uuid")])
    return spec.merge(confirm_argument_spec()).merge(host_argument_spec()).merge(host_props_argument_spec())


def domain_cpu_info_argument_spec() -> ArgumentSpec:
    """Options of armvirt.cpu.domain_cpu_info: the libvirt connection, which domain, the policy to compare with and
    the fact to plan it against, the configured emulator, and the host's name and own fact."""
    spec = ArgumentSpec(dict(
        uri=dict(type="str", default=names.LIBVIRT_URI),
        backend=dict(type="str", choices=LIBVIRT_BACKENDS, default="auto"),
        name=dict(type="str"),
        policy=dict(type="dict"),
        props=dict(type="dict"),
        emulator=confirm_argument_spec().argument_spec["emulator"],
    ))
    return spec.merge(host_argument_spec()).merge(host_props_argument_spec())


def libvirt_facts_argument_spec() -> ArgumentSpec:
    """Options of armvirt.cpu.libvirt_facts: where libvirt's schema and CPU map are, and whether to ask the daemon."""
    return ArgumentSpec(dict(
        schema_dir=dict(type="path", default=names.LIBVIRT_SCHEMA_DIR),
        cpu_map_dir=dict(type="path", default=names.LIBVIRT_CPU_MAP_DIR),
        uri=dict(type="str", default=names.LIBVIRT_URI),
        daemon=dict(type="bool", default=True),
        timeout=dict(type="float", default=5.0),
    ))


def guest_domains_argument_spec() -> ArgumentSpec:
    """Options of armvirt.cpu.guest_domains: what its action plugin validates and works with on the controller. The
    module, which only writes, is called with ``output_dir`` and ``guests`` whose items carry the rendered XML
    (``guest_domains.DOCUMENT_KEY``); with ``confirm`` the action first runs armvirt.cpu.cpu_check on the host once
    per distinct request (``guest_confirm_argument_spec``)."""
    spec = ArgumentSpec(dict(
        guests=dict(type="list", elements="dict", required=True),
        features=dict(type="list", elements="dict", default=[]),
        mode=dict(type="str", choices=sorted(names.MODES), default=names.DEFAULT_MODE),
        model=dict(type="str"),
        policy_file=dict(type="path"),
        props=dict(type="dict"),
        host=dict(type="str"),
        output_dir=dict(type="path", required=True),
        delivery=dict(type="str", choices=list(names.DELIVERIES), default=names.FEATURE_VALUE),
        template=dict(type="path"),
        schema_dir=dict(type="path", default=names.LIBVIRT_SCHEMA_DIR),
        libvirt=dict(type="dict"),
        libvirt_check=dict(type="bool", default=True),
    ))
    return spec.merge(guest_confirm_argument_spec())


def guest_confirm_argument_spec() -> ArgumentSpec:
    """How armvirt.cpu.guest_domains has the host's QEMU confirm each distinct request before it writes: whether to
    (off by default: the action also renders for hosts without QEMU), and the options its action passes on to each
    armvirt.cpu.cpu_check run -- the probe's (``emulator`` is also every new guest's ``<emulator>``) and where the
    fingerprint reads the host's identity, with cpu_check's defaults."""
    spec = ArgumentSpec(dict(confirm=dict(type="bool", default=False)))
    return spec.merge(probe_argument_spec()).merge(host_paths_argument_spec())


def artifacts_argument_spec(lock_timeout: float) -> ArgumentSpec:
    """Options of every action on the fleet artifacts directory (fleet_state, fleet_report): where it is and how long
    to wait for its lock (``lock_timeout``: the controller's default, ``plugin_utils._artifacts.LOCK_TIMEOUT``)."""
    return ArgumentSpec(dict(artifacts_dir=dict(type="path"), lock_timeout=dict(type="float", default=lock_timeout)))


def fleet_state_argument_spec(lock_timeout: float, facts_from: Iterable[str]) -> ArgumentSpec:
    """Options of the armvirt.cpu.fleet_state action; ``facts_from`` are the sources of facts it reads
    (``plugin_utils._fact_sources.FACTS_FROM``)."""
    spec = ArgumentSpec(dict(
        hosts=dict(type="list", elements="str", required=True),
        max_fact_age=dict(type="int", default=86400),
        label=dict(type="str", default="fleet"),
        write=dict(type="bool", default=True),
        snapshot=dict(type="bool", default=False),
        rollout=dict(type="dict"),
        baseline_file=dict(type="path"),
        facts_from=dict(type="str", choices=list(facts_from), default="auto"),
    ))
    return spec.merge(artifacts_argument_spec(lock_timeout))


def fleet_report_argument_spec(lock_timeout: float, templates: Mapping[str, str]) -> ArgumentSpec:
    """Options of the armvirt.cpu.fleet_report action; ``templates`` are the default template of each output
    (``plugin_utils.fleet_report.TEMPLATES``)."""
    spec = ArgumentSpec(dict(
        output_dir=dict(type="path"),
        apply_summary=dict(type="path"),
        requests=dict(type="list", elements="path", default=[]),
        html_template=dict(type="str", default=templates["html"]),
        markdown_template=dict(type="str", default=templates["markdown"]),
    ))
    return spec.merge(artifacts_argument_spec(lock_timeout))


def rollout_record_argument_spec() -> ArgumentSpec:
    """Options of the armvirt.cpu.rollout_record action."""
    return ArgumentSpec(dict(
        record=dict(type="dict", required=True),
        path=dict(type="path"),
        stats=dict(type="dict"),
    ))
