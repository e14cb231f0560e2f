# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

What a hypervisor's libvirt can take in a guest's ``<cpu>``: read from its files, not assumed from a version.

Why this exists: an unpatched libvirt (9.0 measured) accepts ``<feature policy='require' name='sve128' value='off'/>``
at ``virsh define``, silently drops ``value`` and keeps the feature as a boolean, so that guest ran with
``sve128=on``, the opposite of the request. And a feature name outside libvirt's Arm CPU map is accepted at define
but refused at start ("unknown CPU feature"). Both are decided by files libvirt installs (its RelaxNG schema and
its CPU map), so those files are what is read here; version numbers are recorded for people, not for decisions.

Standard library only (ElementTree): it runs on hypervisors. The commands (virsh, dpkg-query, rpm) are run by the
module's runner (``AnsibleModule.run_command``, see ``commands``).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from typing import Any, Mapping, Optional, Tuple
from xml.etree import ElementTree

from ansible_collections.armvirt.cpu.plugins.module_utils._common import commands, names

RNG_NS = "http://relaxng.org/ns/structure/1.0"
DEFAULT_SCHEMA_DIR = names.LIBVIRT_SCHEMA_DIR
DEFAULT_CPU_MAP_DIR = names.LIBVIRT_CPU_MAP_DIR
DEFAULT_URI = names.LIBVIRT_URI
FEATURE_DEFINE = "cpuFeature"          # libvirt's name for the guest <feature> definition in cputypes.rng
SCHEMA_FILE = "cputypes.rng"
ARM_FEATURES_FILE = "arm_features.xml"
PACKAGES = ("libvirt0", "libvirt-libs", "libvirt")  # Debian/Ubuntu, Fedora/RHEL, others
LIBRARY_GLOBS = ("/usr/lib/*/libvirt.so.0.*", "/usr/lib64/libvirt.so.0.*", "/usr/lib/libvirt.so.0.*")

_VERSION_RE = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)")
_SONAME_RE = re.compile(r"libvirt\.so\.0\.([0-9]+)\.([0-9]+)$")

FeatureDefinition = Tuple[Optional[str], Optional["ElementTree.ElementTree[ElementTree.Element]"],
                          Optional[ElementTree.Element]]
RunResult = Tuple[Optional[int], str, str]


def _q(tag: str) -> str:
    return "{%s}%s" % (RNG_NS, tag)


def find_feature_definition(schema_dir: str) -> FeatureDefinition:
    """Find the RelaxNG ``<element name="feature">`` that a domain's ``<cpu><feature/>`` must match.

    Returns ``(path, tree, element)`` (the ElementTree of that file, so a caller may change and write it) or
    ``(None, None, None)``. libvirt names it ``cpuFeature`` in ``cputypes.rng``; older releases kept it in
    ``domaincommon.rng``, so every ``*.rng`` is searched, ``cputypes.rng`` first, preferring the named define and
    otherwise any ``feature`` element that has a ``policy`` attribute (the host-capability ``feature`` elements have
    none). Raises OSError or ElementTree.ParseError for unreadable files.
    """
    candidates = [os.path.join(schema_dir, SCHEMA_FILE)]
    candidates += sorted(path for path in glob.glob(os.path.join(schema_dir, "*.rng")) if path not in candidates)
    fallback: FeatureDefinition = (None, None, None)
    for path in candidates:
        if not os.path.isfile(path):
            continue
        tree = ElementTree.parse(path)
        for define in tree.getroot().iter(_q("define")):
            if define.get("name") == FEATURE_DEFINE:
                element = define.find(_q("element"))
                if element is not None and element.get("name") == "feature":
                    return path, tree, element
        if fallback[0] is None:
            for element in tree.getroot().iter(_q("element")):
                if element.get("name") == "feature" and find_attribute(element, "policy") is not None:
                    fallback = (path, tree, element)
                    break
    return fallback


def find_attribute(element: ElementTree.Element, name: str) -> ElementTree.Element | None:
    """The ``<attribute name=...>`` anywhere under ``element`` (inside optional/choice/group too), or None."""
    for attribute in element.iter(_q("attribute")):
        if attribute.get("name") == name:
            return attribute
    return None


def schema_info(schema_dir: str = DEFAULT_SCHEMA_DIR) -> dict[str, Any]:
    """Whether the installed schema admits ``value`` on a guest ``<feature>``, and the policies it lists."""
    info: dict[str, Any] = {"schema_dir": schema_dir, "schema_file": None, "schema_error": None,
                            "feature_value_supported": False, "feature_policies": []}
    try:
        path, _tree, element = find_feature_definition(schema_dir)
    except (OSError, ElementTree.ParseError) as exc:
        info["schema_error"] = "cannot read the libvirt schema in %s: %s" % (schema_dir, exc)
        return info
    if element is None:
        info["schema_error"] = "no libvirt RelaxNG schema defining a CPU <feature> element in %s" % schema_dir
        return info
    info["schema_file"] = path
    info["feature_value_supported"] = find_attribute(element, "value") is not None
    policy = find_attribute(element, "policy")
    if policy is not None:
        info["feature_policies"] = [value.text.strip() for value in policy.iter(_q("value")) if value.text]
    return info


def cpu_map_features(cpu_map_dir: str = DEFAULT_CPU_MAP_DIR) -> tuple[list[str], list[str], str | None]:
    """The feature names libvirt's CPU map knows for Arm, in file order: ``(names, files_read, error)``.

    The map's ``index.xml`` says which files belong to ``<arch name='arm'>``; when it is missing the conventional
    ``arm_features.xml`` is read. A name not listed here makes libvirt refuse the guest at start.
    """
    files: list[str] = []
    index = os.path.join(cpu_map_dir, "index.xml")
    try:
        if os.path.isfile(index):
            for arch in ElementTree.parse(index).getroot().iter("arch"):
                if arch.get("name") == "arm":
                    included = (inc.get("filename") for inc in arch.iter("include"))
                    files = [os.path.join(cpu_map_dir, name) for name in included if name]
        if not files:
            files = [os.path.join(cpu_map_dir, ARM_FEATURES_FILE)]
        names: list[str] = []
        read: list[str] = []
        for path in files:
            if not os.path.isfile(path):
                continue
            read.append(path)
            for feature in ElementTree.parse(path).getroot().iter("feature"):
                name = feature.get("name")
                # top-level <feature name=...> entries define names; model files reference them the same way,
                # so keeping first occurrences gives the set without duplicates
                if name and name not in names:
                    names.append(name)
    except (OSError, ElementTree.ParseError) as exc:
        return [], [], "cannot read libvirt's CPU map in %s: %s" % (cpu_map_dir, exc)
    if not read:
        return [], [], "libvirt's Arm CPU map is not in %s" % cpu_map_dir
    return names, read, None


def parse_version(text: str | None) -> str | None:
    """The first ``major.minor.micro`` in ``text`` (``"9.0.0-4+deb12u2"`` gives ``"9.0.0"``), or None."""
    match = _VERSION_RE.search(text or "")
    return ".".join(str(int(part)) for part in match.groups()) if match else None


def _run(run: commands.Runner, argv: list[str], timeout: float) -> RunResult:
    """``(rc, stdout, stderr)`` of ``argv`` run by the runner ``run`` (``AnsibleModule.run_command``) with LC_ALL=C;
    rc None when the program cannot run or times out (the reason is in stderr)."""
    try:
        return commands.run(run, argv, timeout)
    except commands.CommandTimeout:
        return None, "", "no answer within %ss" % timeout
    except OSError as exc:
        return None, "", str(exc)


def installed_version(run: commands.Runner, virsh: str | None = None,
                      timeout: float = 5.0) -> tuple[str | None, str | None, str | None]:
    """libvirt's version as installed on disk: ``(version, source, package)``.

    Asks ``virsh --version`` (the client library), else the package manager, else the library's file name
    (``libvirt.so.0.9000.0`` is 9.0.0). None of these ask the daemon. ``run`` runs the commands
    (``AnsibleModule.run_command``).
    """
    package = None
    for query in (["dpkg-query", "-W", "-f=${Version}"], ["rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}"]):
        if shutil.which(query[0]) is None:
            continue
        for name in PACKAGES:
            rc, out, _err = _run(run, query + [name], timeout)
            if rc == 0 and parse_version(out):
                package = "%s %s" % (name, out.strip())
                break
        if package:
            break
    if virsh:
        rc, out, _err = _run(run, [virsh, "--version"], timeout)
        if rc == 0 and parse_version(out):
            return parse_version(out), "virsh --version", package
    if package:
        return parse_version(package.split(" ", 1)[1]), "package", package
    for pattern in LIBRARY_GLOBS:
        for path in sorted(glob.glob(pattern)):
            match = _SONAME_RE.search(path)
            if match:
                number, micro = int(match.group(1)), int(match.group(2))
                return "%d.%d.%d" % (number // 1000, number % 1000, micro), "library %s" % path, None
    return None, None, None


def daemon_version(run: commands.Runner, virsh: str | None, uri: str = DEFAULT_URI,
                   timeout: float = 5.0) -> tuple[str | None, str | None]:
    """The running daemon's version, ``(version, error)``: ``virsh -c URI version --daemon``.

    A daemon not restarted after an upgrade keeps running the old code, so this can differ from
    :func:`installed_version`; the schema and CPU map read from disk then describe the new release, not the one
    that will parse the XML. ``run`` runs virsh (``AnsibleModule.run_command``).
    """
    if not virsh:
        return None, "virsh is not installed, so the daemon was not asked"
    rc, out, err = _run(run, [virsh, "-c", uri, "version", "--daemon"], timeout)
    if rc is None:
        return None, "virsh -c %s version --daemon: %s" % (uri, err)
    match = re.search(r"daemon:\s*([0-9.]+)", out)
    if rc != 0 or not match:
        text = " ".join((err or out).split()) or "exit status %s" % rc
        return None, "virsh -c %s version --daemon failed: %s" % (uri, text)
    return parse_version(match.group(1)), None


def gather(run: commands.Runner, schema_dir: str = DEFAULT_SCHEMA_DIR, cpu_map_dir: str = DEFAULT_CPU_MAP_DIR,
           uri: str = DEFAULT_URI, timeout: float = 5.0, ask_daemon: bool = True,
           virsh: str | None = None) -> dict[str, Any]:
    """The ``libvirt_cpu`` fact (keys documented in ``plugins/modules/libvirt_facts.py``); ``run`` runs the commands
    (``AnsibleModule.run_command``)."""
    virsh = virsh if virsh is not None else shutil.which("virsh")
    fact = schema_info(schema_dir)
    names, files, map_error = cpu_map_features(cpu_map_dir)
    fact.update(cpu_map_dir=cpu_map_dir, cpu_map_files=files, cpu_map_features=names, cpu_map_error=map_error)
    version, source, package = installed_version(run, virsh, timeout)
    fact.update(version=version, version_source=source, package=package, virsh=virsh or None, daemon_uri=uri)
    if ask_daemon:
        fact["daemon_version"], fact["daemon_error"] = daemon_version(run, virsh, uri, timeout)
    else:
        fact["daemon_version"], fact["daemon_error"] = None, "not asked (daemon: false)"
    fact["version_mismatch"] = bool(version and fact["daemon_version"] and version != fact["daemon_version"])
    return fact


def mismatch_warning(fact: Mapping[str, Any]) -> str | None:
    """The warning for a daemon that runs another release than the files installed (``version_mismatch``), else None:
    every module that gathers the fact gives it."""
    if not fact.get("version_mismatch"):
        return None
    return ("libvirt's daemon runs %s but %s is installed: it was not restarted after an upgrade, so the schema and "
            "CPU map read from disk may not be what it uses. Restart it." % (fact["daemon_version"], fact["version"]))


def deciding(fact: Mapping[str, Any]) -> dict[str, Any]:
    """What of a ``libvirt_cpu`` fact decides how a guest's ``<cpu>`` is written (the delivery, the names libvirt
    knows) and where it was read: the guest_domains action renders with the fact, which may have been gathered a while
    before (armvirt.cpu.gather), and its writer reads these again on the host (:func:`changed_since`)."""
    return {"schema_dir": fact.get("schema_dir") or DEFAULT_SCHEMA_DIR,
            "cpu_map_dir": fact.get("cpu_map_dir") or DEFAULT_CPU_MAP_DIR,
            "feature_value_supported": bool(fact.get("feature_value_supported")),
            "cpu_map_features": sorted(fact.get("cpu_map_features") or [])}


def changed_since(gathered: Mapping[str, Any]) -> list[str]:
    """What of ``gathered`` (:func:`deciding` of the fact the XML was rendered with) no longer holds: libvirt's schema
    and CPU map read again from the same directories. [] when the XML is still right for them: a schema that lost
    ``value`` support, or a CPU map that lost names or cannot be read, is a change; one that gained either is not
    (what was rendered for the fact is still accepted)."""
    gathered = deciding(gathered)
    # the directories come from a fact, which an inventory can set: read only what names an absolute path
    unusable = [key for key in ("schema_dir", "cpu_map_dir") if not _absolute_path(gathered[key])]
    if unusable:
        return ["the libvirt_cpu fact's %s is not an absolute path: %r" % (key, gathered[key]) for key in unusable]
    changes = []
    if gathered["feature_value_supported"] and not schema_info(gathered["schema_dir"])["feature_value_supported"]:
        changes.append("the schema in %s no longer admits a value attribute on a guest <feature>"
                       % gathered["schema_dir"])
    known, _files, error = cpu_map_features(gathered["cpu_map_dir"])
    dropped = sorted(set(gathered["cpu_map_features"]) - set(known))
    if dropped:
        changes.append(error or "the CPU map in %s no longer names %s" % (gathered["cpu_map_dir"], " ".join(dropped)))
    return changes


def _absolute_path(value: object) -> bool:
    """An absolute path without control characters (which would also garble the message that names it)."""
    return isinstance(value, str) and value.startswith("/") and not any(ord(char) < 32 for char in value)


def gather_and_warn(run: commands.Runner, options: Mapping[str, Any], virsh: str) -> tuple[dict[str, Any], str | None]:
    """The ``libvirt_cpu`` fact for a module's options (``libvirt_facts``' own, or ``props_cache``'s ``libvirt``),
    and the warning to give with it (:func:`mismatch_warning`)."""
    fact = gather(run, options["schema_dir"], options["cpu_map_dir"], options["uri"], options["timeout"],
                  ask_daemon=options["daemon"], virsh=virsh)
    return fact, mismatch_warning(fact)
