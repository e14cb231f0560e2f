# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

Where a host's properties come from: a still valid cache, a probe of the emulator, or a running monitor.

Both modules (props_facts, props_cache) call this, so they decide cache validity and probing the same way.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any

from ansible_collections.armvirt.cpu.plugins.module_utils._common import paths
from ansible_collections.armvirt.cpu.plugins.module_utils._host import cache, hostid

if TYPE_CHECKING:   # imported where used: a run that finds a valid cache never needs the probe's modules
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import props, qmp

CACHE_USE, CACHE_REFRESH, CACHE_IGNORE = "use", "refresh", "ignore"


class CollectError(Exception):
    """A fault while probing: the message names the host, the emulator or socket, and what went wrong."""


def cache_path(cache_dir: str, emulator: str, accel: str) -> str:
    """One file per emulator path and accelerator; the path hash follows libvirt's capabilities cache naming.

    The emulator's path is hashed, so only ``accel`` is the caller's text in the file name (the modules take only
    kvm or tcg); the name is checked like every other (``cache.CacheError``, which every reader of the cache
    reports). A symlink in the file's place is the cache's own concern: it refuses every one (``O_NOFOLLOW``), not
    only those leading out of ``cache_dir``, and says so naming the path."""
    digest = hashlib.sha256(os.path.abspath(emulator).encode("utf-8")).hexdigest()
    name = "%s-%s" % (digest, accel)
    problem = paths.component_problem(name, ".xml")
    if problem:
        raise cache.CacheError("cannot use the cache in %s: %r cannot name a file: %s" % (cache_dir, name, problem))
    return os.path.join(cache_dir, name + ".xml")


def probe_host(emulator: str, accel: str, timeout: float, qmp_socket: str | None = None,
               host: str | None = None) -> props.HostProps:
    """Ask QEMU directly: a running monitor when ``qmp_socket`` is given, else a freshly spawned emulator. ``host``
    names the host in the message (``hostid.label``)."""
    # the probe's modules are imported here, not at the top: a run that finds a valid cache never needs them, and
    # AnsiballZ compiles every imported file from source on every task
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import emulator_trust, probe, qmp
    where = "monitor %s" % qmp_socket if qmp_socket else "emulator %s (accel=%s)" % (emulator, accel)
    try:
        if qmp_socket:
            with qmp.QMPClient(qmp_socket, timeout=timeout) as client:
                return _read(client, accel)
        emulator_trust.require(emulator, [emulator])   # the configured one: its file must be safe to run
        with probe.spawned_qemu(emulator, accel, timeout=timeout) as client:
            return _read(client, accel)
    except (qmp.QMPError, probe.ProbeError, emulator_trust.UntrustedEmulator) as exc:
        raise CollectError("probing %s on host %s failed: %s" % (where, hostid.label(host), exc))


def _read(client: qmp.QMPClient, accel: str) -> props.HostProps:
    """The properties (dialects.py) and the named models (models.py) of one QEMU."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import dialects, models
    host_props = dialects.read_host_props(client, accel)
    host_props.cpu_models = models.read_models(client, host_props.warnings)
    return host_props


def collect(emulator: str, accel: str, timeout: float, cache_dir: str, cache_mode: str = CACHE_USE,
            qmp_socket: str | None = None, sysfs_root: str = "/sys", procfs_root: str = "/proc",
            host: str | None = None) -> tuple[props.HostProps, str, dict[str, Any] | None]:
    """The host's properties and where they came from.

    Returns (host_props, source, cache_info): source is "cache" or "probe"; cache_info is None for a running
    monitor, else a dict with the cache file's path, the fingerprint it must match and why it was not used.
    The cache is only read here; writing it is the caller's choice. ``sysfs_root`` and ``procfs_root`` are where
    the host's identity is read for the fingerprint (a recorded host tree in tests); ``host`` names the host in the
    messages (the inventory's name where the caller knows it, ``hostid.label``). The identity is read once, here,
    for the fingerprint, and kept in ``cache_info["identity"]`` for the fact (:func:`host_fact`).
    """
    if qmp_socket:
        return probe_host(emulator, accel, timeout, qmp_socket, host), "probe", None
    try:
        path = cache_path(cache_dir, emulator, accel)
        identity = hostid.read(sysfs_root, procfs_root)
        fingerprint = cache.fingerprint(emulator, accel, sysfs_root, procfs_root, identity)
        info: dict[str, Any] = {"path": path, "fingerprint": fingerprint, "status": "not read", "identity": identity}
        if cache_mode == CACHE_USE:
            cached, info["status"] = cache.status(path, fingerprint)
            if cached is not None:
                return cached, "cache", info
    except cache.CacheError as exc:
        raise CollectError("cache on host %s: %s" % (hostid.label(host), exc))
    if cache_mode == CACHE_REFRESH:
        info["status"] = "refresh requested"
    return probe_host(emulator, accel, timeout, host=host), "probe", info


def damaged_cache_warning(info: dict[str, Any] | None, done: str, host: str | None = None) -> str | None:
    """The warning for a cache that was not used because the file is damaged, else None.

    ``info`` is what :func:`collect` returned; ``done`` says what became of the file (rewritten, left alone). A
    repair is never silent: the warning names the host (``hostid.label``), the file and the fault."""
    if not info or not cache.is_damaged(info["status"]):
        return None
    return "host %s: the property cache %s was damaged (%s); QEMU was probed again and the cache %s" % (
        hostid.label(host), info["path"], info["status"], done)


def host_fact(host_props: props.HostProps, accel: str, emulator: str, source: str, sysfs_root: str = "/sys",
              procfs_root: str = "/proc", identity: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``arm_cpu_props`` fact: what QEMU offers (``host_props``) and what the kernel says about the CPU
    (``host_cpu``, read on every run: it is a few small files, and a cached copy could only be older). ``identity``
    is what :func:`collect` read for the fingerprint this run (``cache_info["identity"]``); without it, it is read
    here."""
    fact = host_props.to_fact(accel, emulator, source)
    fact["host_cpu"] = hostid.read(sysfs_root, procfs_root) if identity is None else identity
    return fact
