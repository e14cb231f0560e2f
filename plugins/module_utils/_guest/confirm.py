# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

The host confirms a guest CPU request: its own QEMU says whether it accepts the ``-cpu``, in QEMU's own words.

Validation (``validate.py``) checks each property against the values the host reports; it cannot see what QEMU
decides from combinations (``sve256=on`` with ``sve=off``) or what KVM refuses only when it creates the vCPU (an ID
register value outside what this kernel lets a VMM write). So before anything is written, the host's QEMU is asked:

- ``expansion``: ``query-cpu-model-expansion`` (type full) of the request's model with the request's properties, on
  a probe QEMU (``probe.spawned_qemu``, machine ``none``) with the same accelerator. Enough under TCG when every
  property is a boolean.
- ``start``: a paused start of the request's ``-cpu`` (``probe.paused_cpu``: ``-S``, machine ``virt``, no devices,
  no disk, reaped at once). Used under KVM, where only the vCPU init can tell, and for any valued property. Accepted
  when the monitor answers, refused with QEMU's stderr when it exits.
- The v10 posting of Red Hat's configurable host model makes the full expansion of ``host`` test proposed ``SYSREG_``
  values against a scratch vCPU (``static`` checks only field widths and enum values; released Arm QEMU takes no
  ``static`` at all). Where the probe QEMU expands ``host`` with type ``static`` (:func:`validates_by_expansion`), a
  ``host`` request whose valued properties are all ``SYSREG_`` fields is confirmed by that full expansion
  (``expansion``), one monitor query instead of a vCPU start; any other valued request keeps the paused start.

An accepted request is kept in a small JSON file beside the property cache (``<cache>.checks.json``), keyed by the
mode and the ``-cpu`` value and valid while the property cache's fingerprint holds, so each distinct request costs one
short-lived QEMU per host until the emulator, kernel, CPU or KVM access changes. A refusal is not kept: it may have
come from the host's state (memory, a busy KVM) rather than from the request, so it is asked again next time.

Standard library only: this runs on hypervisors.
"""

from __future__ import annotations

import json
from xml.etree import ElementTree
from typing import TYPE_CHECKING, Any, Dict, Iterable, Mapping, NoReturn, Sequence, cast

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._host import cache, collect, emulator_trust, props

# Validation, the probe and the dialect reader are imported where a request is parsed or QEMU is asked: a host whose
# requests its results file holds already (guest_domains' writer on every rollout after the first) needs none of
# them, and AnsiballZ compiles every imported file from source on every module run.
if TYPE_CHECKING:
    from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import qmp

EXPANSION, START = "expansion", "start"
METHODS = (EXPANSION, START)
CACHE_USE, CACHE_REFRESH, CACHE_IGNORE = collect.CACHE_USE, collect.CACHE_REFRESH, collect.CACHE_IGNORE
FORMAT_VERSION = 1
MAX_ENTRIES = 256   # accepted requests kept per host; the oldest go first (a policy change leaves old ones behind)
SUFFIX = ".checks.json"
MODELS = dict((model, mode) for mode, model in names.CPU_MODELS.items())   # host -> host-passthrough, max -> maximum


class ConfirmError(Exception):
    """The check itself failed (no emulator, a timeout, an unusable cache): no answer, as opposed to a refusal."""


class CheckFailed(Exception):
    """What cpu_check fails on: a request that cannot be checked, an emulator that may not be run, no answer from
    QEMU, or QEMU's refusal. ``msg`` names the host; ``fields`` are the failed result's other members."""

    def __init__(self, msg: str, **fields: Any) -> None:
        super(CheckFailed, self).__init__(msg)
        self.msg = msg
        self.fields = fields


def request_key(mode: str, cpu_arg: str) -> str:
    """What the results file keys a request by: its mode and its ``-cpu`` value exactly as written."""
    return "%s %s" % (mode, cpu_arg)


class Request(object):
    """One request as QEMU sees it: ``mode``, ``cpu_arg`` (the ``-cpu`` value), ``model`` (its first item),
    ``settings`` (its ``(name, value)`` pairs as written), ``props`` (the expansion's JSON-typed properties, in
    order) and ``key`` (what the cache is keyed by)."""

    __slots__ = ("mode", "cpu_arg", "model", "settings", "props", "key")

    def __init__(self, mode: str, cpu_arg: str, model: str, settings: Iterable[tuple[str, str]]) -> None:
        self.mode, self.cpu_arg, self.model, self.settings = mode, cpu_arg, model, list(settings)
        self.props = dict((name, json_value(value)) for name, value in self.settings)
        self.key = request_key(mode, cpu_arg)

    def sysreg_only(self) -> bool:
        """Whether this is a ``host`` request whose valued properties are all ``SYSREG_`` integers (and has one)."""
        valued = [name for name, value in self.props.items() if not isinstance(value, bool)]
        return self.model == "host" and bool(valued) and all(
            name.startswith("SYSREG_") and isinstance(self.props[name], int) for name in valued)

    def method(self, accel: str) -> str:
        """``start`` under KVM or with any valued (non-boolean) property, where only creating the vCPU can tell;
        ``expansion`` otherwise."""
        if accel == names.KVM or any(not isinstance(value, bool) for value in self.props.values()):
            return START
        return EXPANSION


def request(features: Iterable[Any] = (), mode: str = names.DEFAULT_MODE, model: str | None = None,
            host: str = "request") -> Request:
    """The :class:`Request` for ``features`` in ``mode`` (``model`` for mode custom).

    The ``-cpu`` value comes from the collection's one builder (``validate.qemu_cpu_arg`` through
    ``delivery.cpu_arg``), which also checks the shape, policies and tokens (not the values: that is QEMU's job here).
    Raises ``validate.FeatureRequestError``.
    """
    from ansible_collections.armvirt.cpu.plugins.module_utils._guest import delivery
    return parse_cpu_arg(delivery.cpu_arg(list(features), mode, model, host), mode, host)


def parse_cpu_arg(cpu_arg: object, mode: str | None = None, host: str = "request") -> Request:
    """The :class:`Request` of a ``-cpu`` value as the collection renders it (``model,name=value,...``), for example
    the ``qemu_cpu_arg`` that guest_domains and domain_cpu return. ``mode`` defaults to the model's (``host``:
    host-passthrough, ``max``: maximum); any other model needs mode custom. Raises ``validate.FeatureRequestError``.
    """
    from ansible_collections.armvirt.cpu.plugins.module_utils._guest import delivery, validate

    def refuse(text: str) -> NoReturn:
        raise validate.FeatureRequestError([validate.FeatureError(host, None, None, [], "bad-feature",
                                                                  "%s: %s" % (host, text))])

    if not isinstance(cpu_arg, str) or not cpu_arg:
        refuse("the -cpu value must be a non-empty string such as max,sve=on, not %r." % (cpu_arg,))
    model, pairs = cpu_arg.split(",")[0], cpu_arg.split(",")[1:]
    if not validate.is_token(model):
        refuse("the -cpu value %r does not start with a CPU model." % cpu_arg)
    mode = mode or MODELS.get(model)
    if mode is None:
        refuse("the -cpu model %s is neither host (host-passthrough) nor max (maximum); give mode custom for it."
               % model)
    if mode != names.CUSTOM and names.CPU_MODELS.get(mode, model) != model:
        refuse("the -cpu value %s is model %s, not the %s of mode %s."
               % (cpu_arg, model, names.CPU_MODELS[mode], mode))
    features = []
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals:
            refuse("%s in the -cpu value %s is not name=value." % (pair, cpu_arg))
        features.append({"name": name, "value": value})
    # the collection's builder checks every name and value and must give the same string back
    rendered = delivery.cpu_arg(features, mode, model if mode == names.CUSTOM else None, host)
    if rendered != cpu_arg:
        refuse("the -cpu value %s is not in the form %s." % (cpu_arg, rendered))
    return Request(mode, cpu_arg, model, [(f["name"], f["value"]) for f in features])


def in_host_spelling(req: Request, host_props: props.HostProps | None, host: str = "request") -> Request:
    """``req`` in the host's own names (``vocabulary.translate``: ``SYSREG_ID_AA64DFR0_EL1_WRPs=0x2`` is
    ``hw_prop_WRPs=2`` on a host that speaks those names) with each value of a property the host reports written as
    validation writes it for this host (``props.Property.spelling``, the rendering ``validate.check_features``
    gives): ``feat_AES=0x1`` is ``feat_AES=1`` where the host lists that property in decimal, a ``SYSREG_`` field
    stays hex. So a request is
    asked about, reported and kept in the results file in one form, the one the role and domain_cpu write. Values
    are not judged here (that is QEMU's job); a number with a leading zero is refused, as validation refuses it.
    ``host_props`` None (or unsupported) leaves ``req`` as it is. Raises ``validate.FeatureRequestError``."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._guest import delivery, validate
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import vocabulary

    if host_props is None or not host_props.supported or not req.settings:
        return req
    # names of another dialect (or canonical SYSREG_ fields) in the host's own names first, as validation does
    fact = {"supported": True, "properties": {name: prop.to_fact() for name, prop in host_props.properties.items()}}
    translated, problems, _renamed = vocabulary.translate([{"name": name, "value": value}
                                                           for name, value in req.settings], fact, host)
    if problems:
        raise validate.FeatureRequestError([validate.FeatureError(host, problem.feature, problem.value, [],
                                                                  problem.rule, problem.message)
                                            for problem in problems])
    features, errors = [], []
    for name, value in validate.cpu_settings([dict({"policy": validate.DEFAULT_POLICY}, **feature)
                                              for feature in translated]):
        prop = host_props.properties.get(name)
        if prop is not None:
            try:
                value = prop.spelling(value)
            except ValueError as exc:
                errors.append(validate.FeatureError(host, name, value, list(prop.supported_values), "leading-zero",
                                                    "%s: %s=%s is refused: %s." % (host, name, value, exc)))
        features.append({"name": name, "value": value})
    if errors:
        raise validate.FeatureRequestError(errors)
    model = req.model if req.mode == names.CUSTOM else None
    return parse_cpu_arg(delivery.cpu_arg(features, req.mode, model, host), req.mode, host)


def json_value(value: str) -> bool | int | str:
    """A ``-cpu`` value as the expansion takes it: on/off (and QEMU's other boolean words) as booleans, an integer
    (decimal or 0x hex) as a JSON integer, anything else as a string."""
    word = props.bool_word(value)
    if word is not None:
        return word == props.ON
    try:
        return props.parse_int(value)
    except ValueError:
        return value


def refusal_message(result: Mapping[str, Any], host: str, emulator: str, accel: str) -> str:
    """The sentence a module fails with: the host, the emulator, the request and QEMU's words."""
    return "%s: QEMU %s (accel=%s) refused the guest CPU -cpu %s (mode %s) at %s: %s" % (
        host, emulator, accel, result["cpu_arg"], result["mode"], "the expansion" if result["method"] == EXPANSION
        else "a paused start", result["error"])


# ---------------------------------------------------------------------------------------------------- asking QEMU


def check(emulator: str, accel: str, req: Request, timeout: float = 10.0) -> dict[str, Any]:
    """Ask the host's QEMU about ``req`` (no cache). Returns a result dict: ``accepted``, ``error`` (QEMU's words,
    None when accepted), ``expanded`` (the expanded CPU's properties when QEMU gave them, else None), ``method``,
    ``mode`` and ``cpu_arg``. Raises :class:`ConfirmError` when QEMU gave no answer."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import probe, qmp
    method = req.method(accel)
    result: dict[str, Any] = {"accepted": True, "error": None, "expanded": None, "method": method,
                              "mode": req.mode, "cpu_arg": req.cpu_arg}
    where = "QEMU %s (accel=%s)" % (emulator, accel)
    try:
        if method == START and req.sysreg_only():
            with probe.spawned_qemu(emulator, accel, timeout=timeout) as client:
                if validates_by_expansion(client):
                    result["method"] = EXPANSION
                    _ask_expansion(client, req, result)
                    return result
        if method == EXPANSION:
            with probe.spawned_qemu(emulator, accel, timeout=timeout) as client:
                _ask_expansion(client, req, result)
            return result
        try:
            with probe.paused_cpu(emulator, accel, req.cpu_arg, timeout=timeout) as client:
                try:   # Arm's expansion knows only the boolean properties; the valued ones were judged by the start
                    result["expanded"] = _expand(client, req, booleans_only=True)
                except qmp.QMPError:
                    pass   # the vCPU exists, so QEMU accepted; this QEMU just cannot expand these properties
        except probe.EmulatorExited as exc:
            if exc.returncode != 1:   # QEMU exits 1 for what it refuses; a signal or another status is a crash
                raise
            result.update(accepted=False, error=exc.stderr or "QEMU exited with status 1 and wrote nothing")
        return result
    except (qmp.QMPError, probe.ProbeError) as exc:
        raise ConfirmError("checking -cpu %s with %s failed: %s" % (req.cpu_arg, where, exc))


def _ask_expansion(client: qmp.QMPClient, req: Request, result: dict[str, Any]) -> None:
    """The full expansion's verdict on ``req`` into ``result``: accepted with the expanded properties, or refused
    with QEMU's words; a command QEMU lacks is no answer (QMPCommandError raised)."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import qmp
    try:
        result["expanded"] = _expand(client, req)
    except qmp.QMPCommandError as exc:
        if exc.error_class != "GenericError":   # CommandNotFound: no answer about the request
            raise
        result.update(accepted=False, error=exc.desc)


def validates_by_expansion(client: qmp.QMPClient) -> bool:
    """Whether this QEMU's full expansion of ``host`` judges ``SYSREG_`` values (the v10 series): it is the one Arm
    QEMU that also takes type ``static``; released QEMU and earlier postings refuse it ("The requested expansion
    type is not supported")."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import qmp
    try:
        client.execute(names.EXPANSION, {"type": "static", "model": {"name": "host"}})
    except qmp.QMPCommandError:
        return False
    return True


def _expand(client: qmp.QMPClient, req: Request, booleans_only: bool = False) -> dict[str, Any] | None:
    """The request's model expanded with its properties (only the booleans after a paused start, since Arm's
    expansion takes no valued ones); None for a reply of the wrong shape."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import dialects
    settings = dict((name, value) for name, value in req.props.items()
                    if isinstance(value, bool) or not booleans_only)
    try:
        return dialects.expand(client, req.model, settings)
    except dialects.DialectError:
        return None


# ---------------------------------------------------------------------------------------------------- the cache


def checks_path(cache_dir: str, emulator: str, accel: str) -> str:
    """The results file beside the property cache of ``emulator`` and ``accel`` (collect.cache_path); raises
    :class:`ConfirmError` where that path is refused."""
    try:
        path = collect.cache_path(cache_dir, emulator, accel)
    except cache.CacheError as exc:
        raise ConfirmError(str(exc))
    return path[:-len(".xml")] + SUFFIX if path.endswith(".xml") else path + SUFFIX


def _decode(data: bytes, fp: dict[str, str]) -> tuple[dict[str, dict[str, Any]], str]:
    """({key: entry}, "valid") for a results file of this format and fingerprint, else ({}, why not)."""
    if len(data) > cache.MAX_BYTES:
        return {}, "too large (over %d bytes)" % cache.MAX_BYTES
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return {}, "corrupt: %s" % exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_VERSION:
        return {}, "format version %r, expected %d" % (doc.get("format") if isinstance(doc, dict) else None,
                                                       FORMAT_VERSION)
    stored, accepted = doc.get("fingerprint"), doc.get("accepted")
    if not isinstance(stored, dict) or not isinstance(accepted, dict):
        return {}, "corrupt: no fingerprint or accepted member"
    changes = cache.fingerprint_changes(stored, fp)
    if changes:
        return {}, ", ".join(changes)
    entries = {}
    for key, entry in accepted.items():
        if (isinstance(entry, dict) and entry.get("method") in METHODS and isinstance(entry.get("cpu_arg"), str)
                and isinstance(entry.get("mode"), str) and key == "%s %s" % (entry["mode"], entry["cpu_arg"])
                and (entry.get("expanded") is None or isinstance(entry.get("expanded"), dict))):
            entries[key] = entry
    return entries, "valid"


def _encode(entries: dict[str, dict[str, Any]], fp: dict[str, str]) -> bytes:
    doc = {"format": FORMAT_VERSION, "fingerprint": fp, "accepted": entries}
    return (json.dumps(doc, indent=1, sort_keys=False, ensure_ascii=True) + "\n").encode("ascii")


def lookup(path: str, fp: dict[str, str], key: str) -> tuple[dict[str, Any] | None, str]:
    """(the stored entry for ``key`` or None, the file's status: "valid", "missing", "kernel changed", ...).
    Raises :class:`ConfirmError` for a file nobody should trust (symlink, world-writable)."""
    try:
        data, why = cache.read_bytes(path)
    except cache.CacheError as exc:
        raise ConfirmError(str(exc))
    if data is None:
        return None, why
    entries, why = _decode(data, fp)
    if why != "valid":
        return None, why
    entry = entries.get(key)
    return entry, ("valid" if entry is not None else "valid, request not in it")


def store(path: str, fp: dict[str, str], key: str, entry: dict[str, Any]) -> bool:
    """Add ``entry`` for ``key`` to the results file under its lock, keeping what other runs stored meanwhile (when
    their fingerprint is still this one) and at most MAX_ENTRIES. Raises :class:`ConfirmError` naming the path."""
    def make(current: bytes | None) -> bytes:
        entries = _decode(current, fp)[0] if current is not None else {}
        entries.pop(key, None)
        entries[key] = entry                 # newest last; the oldest go first
        while len(entries) > MAX_ENTRIES:
            entries.pop(next(iter(entries)))
        return _encode(entries, fp)
    try:
        return cache.update(path, make)
    except cache.CacheError as exc:
        raise ConfirmError(str(exc))


def confirm(emulator: str, accel: str, req: Request, timeout: float = 10.0, cache_dir: str | None = None,
            cache_mode: str = CACHE_USE, write: bool = True, sysfs_root: str = "/sys",
            procfs_root: str = "/proc") -> dict[str, Any]:
    """The result of :func:`check`, from the results file when it holds this request for this fingerprint.

    Adds ``cached`` (whether the answer came from the file) and ``cache`` (``path``, ``status`` before this call,
    ``written``). ``write=False`` (check mode) never writes the file; ``cache_mode`` is ``use``, ``refresh`` (ask
    QEMU again and store) or ``ignore`` (neither read nor write). ``sysfs_root`` and ``procfs_root`` are where the
    fingerprint reads the host's identity, as for the property cache. Raises :class:`ConfirmError`.
    """
    info = {"path": None, "status": "not used", "written": False}
    path = fp = None
    if cache_dir and cache_mode != CACHE_IGNORE:
        if cache_mode == CACHE_USE:
            path, fp, entry, info["status"] = _look_up(emulator, accel, req.key, cache_dir, sysfs_root, procfs_root)
            info["path"] = path
            if entry is not None:
                return _stored(entry, req.mode, req.cpu_arg, info)
        else:
            path = info["path"] = checks_path(cache_dir, emulator, accel)
            fp = cache.fingerprint(emulator, accel, sysfs_root, procfs_root)
            info["status"] = "refresh requested"
    result = check(emulator, accel, req, timeout)
    if path is not None and write and result["accepted"]:
        entry = {"mode": req.mode, "cpu_arg": req.cpu_arg, "method": result["method"], "expanded": result["expanded"]}
        info["written"] = store(path, cast(Dict[str, str], fp), req.key, entry)
    result.update(cached=False, cache=info)
    return result


def _look_up(emulator: str, accel: str, key: str, cache_dir: str, sysfs_root: str,
             procfs_root: str) -> tuple[str, dict[str, str], dict[str, Any] | None, str]:
    """``(path, fingerprint, entry or None, status)`` of ``key`` in the results file of ``emulator`` and ``accel``.
    Raises :class:`ConfirmError`."""
    path = checks_path(cache_dir, emulator, accel)
    fp = cache.fingerprint(emulator, accel, sysfs_root, procfs_root)
    entry, status = lookup(path, fp, key)
    return path, fp, entry, status


def _stored(entry: Mapping[str, Any], mode: str, cpu_arg: str, info: dict[str, Any]) -> dict[str, Any]:
    """The result of an acceptance the results file holds (``info``: the file and how it was used)."""
    return {"accepted": True, "error": None, "expanded": entry.get("expanded"), "method": entry["method"],
            "mode": mode, "cpu_arg": cpu_arg, "cached": True, "cache": info}


def _accepted_before(emulator: str, accel: str, mode: str, cpu_arg: str, cache_dir: str, sysfs_root: str,
                     procfs_root: str) -> dict[str, Any] | None:
    """The acceptance of ``cpu_arg`` exactly as written that the results file holds for this fingerprint, else None
    (then :func:`verdict` asks, and says why where it fails). Read before the request is parsed: the file holds only
    requests that were parsed, spelled for the host and confirmed under this fingerprint, keyed by the very string."""
    try:
        emulator_trust.require(emulator, [emulator])
        path, _fp, entry, status = _look_up(emulator, accel, request_key(mode, cpu_arg), cache_dir, sysfs_root,
                                            procfs_root)
    except (emulator_trust.UntrustedEmulator, ConfirmError):
        return None
    if entry is None:
        return None
    return _stored(entry, mode, cpu_arg, {"path": path, "status": status, "written": False})


def uncheckable(host: str, exc: validate.FeatureRequestError) -> CheckFailed:
    """The :class:`CheckFailed` of a request that :func:`request` or :func:`parse_cpu_arg` refused (``exc``, a
    ``validate.FeatureRequestError``): every problem, as records and in the message."""
    return CheckFailed("%s: the CPU request cannot be checked:\n%s" % (host, exc),
                       errors=[error.as_dict() for error in exc.errors])


def verdict(req: Request, emulator: str, accel: str, timeout: float = 10.0, cache_dir: str | None = None,
            cache_mode: str = CACHE_USE, write: bool = True, sysfs_root: str = "/sys", procfs_root: str = "/proc",
            host: str = "request") -> dict[str, Any]:
    """cpu_check's answer on a well-formed ``req``, for the module and for guest_domains' writer alike.

    The configured ``emulator`` must be safe to run as this user (``emulator_trust``); a request with settings is
    written in the host's spelling (:func:`in_host_spelling`, against the properties of the valid property cache,
    else a probe; that cache is not written), so it is asked about, reported and kept in one form; then
    :func:`confirm`. Returns the result of an accepted request; raises :class:`CheckFailed` with the host named.
    """
    try:
        emulator_trust.require(emulator, [emulator])
    except emulator_trust.UntrustedEmulator as exc:
        raise CheckFailed("%s: checking -cpu %s with QEMU %s (accel=%s) failed: %s"
                          % (host, req.cpu_arg, emulator, accel, exc), mode=req.mode, cpu_arg=req.cpu_arg)
    if req.settings:
        try:
            host_props = (collect.collect(emulator, accel, timeout, cache_dir, cache_mode, sysfs_root=sysfs_root,
                                          procfs_root=procfs_root, host=host)[0] if cache_dir
                          else collect.probe_host(emulator, accel, timeout, host=host))
        except collect.CollectError as exc:
            raise CheckFailed("%s: cannot read the properties the -cpu %s is written against: %s"
                              % (host, req.cpu_arg, exc), mode=req.mode, cpu_arg=req.cpu_arg)
        from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
        try:
            req = in_host_spelling(req, host_props, host)
        except validate.FeatureRequestError as exc:
            raise uncheckable(host, exc)
    try:
        result = confirm(emulator, accel, req, timeout, cache_dir, cache_mode, write=write, sysfs_root=sysfs_root,
                         procfs_root=procfs_root)
    except ConfirmError as exc:
        raise CheckFailed("%s: %s" % (host, exc), mode=req.mode, cpu_arg=req.cpu_arg)
    if not result["accepted"]:
        raise CheckFailed(refusal_message(result, host, emulator, accel), changed=False, **result)
    return result


# ---------------------------------------------------------------------------------------------------- many guests


def confirmations(guests: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each distinct ``(emulator, -cpu value)`` pair of ``guests`` (name -> ``emulator``, ``qemu_cpu_arg``) with the
    guests that have it, sorted: what the host's QEMU must confirm before guest_domains writes their documents."""
    pairs: dict[tuple[str, str], list[str]] = {}
    for name, info in guests.items():
        pairs.setdefault((info["emulator"], info["qemu_cpu_arg"]), []).append(name)
    return [{"emulator": emulator, "cpu_arg": arg, "guests": sorted(names)}
            for (emulator, arg), names in sorted(pairs.items())]


def verdicts(items: Iterable[Mapping[str, Any]], accel: str, timeout: float = 10.0, cache_dir: str | None = None,
             write: bool = True, sysfs_root: str = "/sys", procfs_root: str = "/proc",
             host: str = "request") -> list[dict[str, Any]]:
    """:func:`verdict` on each item of :func:`confirmations`, with the item's emulator (a named model's ``-cpu`` in
    mode custom): what guest_domains returns as ``checks``, in order -- the result with the item's ``emulator`` and
    ``guests``, and ``failed`` (with ``msg`` when true). A request the results file holds already is answered from
    it before anything is parsed."""
    checks = []
    for item in items:
        check: dict[str, Any] = {}
        try:
            mode = MODELS.get(item["cpu_arg"].split(",", 1)[0], names.CUSTOM)
            stored = (_accepted_before(item["emulator"], accel, mode, item["cpu_arg"], cache_dir, sysfs_root,
                                       procfs_root) if cache_dir else None)
            if stored is None:
                from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
                try:
                    req = parse_cpu_arg(item["cpu_arg"], mode, host)
                except validate.FeatureRequestError as exc:
                    raise uncheckable(host, exc)
                stored = verdict(req, item["emulator"], accel, timeout, cache_dir, write=write,
                                 sysfs_root=sysfs_root, procfs_root=procfs_root, host=host)
            check.update(stored, failed=False)
        except CheckFailed as exc:
            check.update(exc.fields, msg=exc.msg, failed=True)
        check.update(emulator=item["emulator"], guests=item["guests"])
        checks.append(check)
    return checks


def refusals_message(host: str, refused: Sequence[Mapping[str, Any]]) -> str:
    """Why nothing was written for ``host``: each of its ``refused`` checks (the failed items of :func:`verdicts`)
    with its message and the guests of the request."""
    lines = ["%s: nothing was written; this host's QEMU did not confirm %d guest CPU request(s):"
             % (host, len(refused))]
    lines.extend("- %s [guests: %s]" % (check.get("msg", "the check failed"), ", ".join(check["guests"]))
                 for check in refused)
    return "\n".join(lines).strip()


# ---------------------------------------------------------------------------------------------------- libvirt domains


def domain_target(domain_xml: str | bytes, default_emulator: str | None = "/usr/bin/qemu-system-aarch64"
                  ) -> tuple[str | None, str | None, str | None]:
    """(emulator, accel, type) a libvirt domain runs with: its ``<devices><emulator>``, the accelerator of its
    ``type`` (kvm: kvm, qemu: tcg; None for another type) and the type. Raises ConfirmError for unreadable XML."""
    try:
        root: Any = ElementTree.fromstring(domain_xml)
    except ElementTree.ParseError as exc:
        raise ConfirmError("the domain XML cannot be read: %s" % exc)
    emulator = (root.findtext("devices/emulator") or "").strip() or default_emulator
    return emulator, names.DOMAIN_ACCELS.get(root.get("type")), root.get("type")
