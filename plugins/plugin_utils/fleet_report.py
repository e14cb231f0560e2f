# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's model: what the HTML and Markdown templates show, built from the artifacts alone.

Why from the artifacts (``fleet_state`` writes them) and not from hostvars: the report must work in a run of its
own, without fact caching, and say the same thing every time the fleet is the same (it is rewritten only when its
content changes). Every judgement reuses the collection's logic: placement and recommendations are
``module_utils._fleet``, value comparison is the property model's (``Property.intersect``/``canonical_values``),
policy files are read by ``plugin_utils.policy_files``. This module only arranges the results for people:

- the matrix: one row per canonical field (``module_utils._host.vocabulary``: the same field under two dialects'
  names is one row), the baseline column and one column per host (grouped by class), each cell with the host's
  values in its own names and a colour (:data:`CELL_CLASSES`);
- what changed between the latest two snapshots, and which requests (the recommended pools' policies, the
  rollout's policy, the report's own requests) worked on a host before and fail now;
- the hosts that need attention (gather, rollout, apply) with their reasons.

Every value in the report is data from inventories, QEMU and libvirt, so :func:`render` passes each expression of a
template through one function: control characters, terminal escape sequences and bidi overrides are removed
(:func:`printable`) on both pages, the HTML page is autoescaped, and the Markdown page escapes HTML and Markdown
(:func:`markdown_text`, or :func:`markdown_code` for a code span), so what a Markdown viewer shows is the text.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from collections.abc import Mapping
from typing import Any, Iterable, Sequence

import jinja2
from markupsafe import Markup

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import classes, placement
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import policy
from ansible_collections.armvirt.cpu.plugins.module_utils._host import vocabulary
from ansible_collections.armvirt.cpu.plugins.module_utils._host import props
from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, _fleet_view, policy_files

# cell colours: in the baseline / the host offers more / missing or narrowed / no usable facts
BASE, MORE, MISSING, GREY = "base", "more", "missing", "grey"
CELL_CLASSES = {BASE: "value in the baseline", MORE: "host offers more than the baseline",
                MISSING: "missing here, or narrowed since the previous snapshot",
                GREY: "no usable facts (unreachable, probe failed, stale, unsupported)"}
ROLLOUT = "rollout policy"
MAX_RECORDS = 3   # problems shown per host and request; the rest are counted


TEMPLATES = {"html": "fleet_report.html.j2", "markdown": "fleet_report.md.j2"}   # in playbooks/templates


def bundled_template(name: str) -> str:
    """The path of the collection's own report template ``name`` (playbooks/templates), found by the collection's
    loader wherever the collection is installed: what a play outside the collection's playbooks falls back to."""
    collection = __name__.partition(".plugins.")[0]   # ansible_collections.armvirt.cpu
    return str(importlib.resources.files(collection).joinpath("playbooks", "templates", name))  # type: ignore[call-arg]


class ReportError(Exception):
    """The report cannot be built (no gather has written the artifacts yet, or a template fails)."""


def _props(fact: props.Fact | None) -> dict[str, props.Property]:
    return props.HostProps.from_fact(fact).properties if fact and fact.get("supported") else {}


def _values(prop: props.Property | None) -> str:
    return ", ".join(prop.supported_values) if prop is not None else ""


def _narrowed(before: props.Property, after: props.Property | None) -> bool:
    """Whether ``after`` accepts less than ``before`` (or is gone): a request that fit may not fit any more."""
    if after is None:
        return True
    common = before.intersect(after)
    return common is None or set(common.canonical_values()) != set(before.canonical_values())


def load(directory: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """The artifacts a report is made of: fleet.json, the latest two snapshots and the last rollout (optional).

    Missing artifacts and corrupt ones are told apart: a corrupt fleet.json, latest snapshot or rollout plan fails
    the report naming the file (it shows the fleet as the latest snapshot has it, and nothing stands in for that);
    a corrupt previous snapshot is returned as ``{"corrupt": message}`` and the report compares nothing, saying so
    (comparing with an older one would put changes in the wrong interval); a corrupt host record is shown as such.
    """
    try:
        state = _artifacts.load_artifact(os.path.join(directory, _artifacts.FLEET_FILE), _artifacts.FLEET_SHAPE)
        paths = _artifacts.snapshots(directory)
        if not paths:
            raise FileNotFoundError(os.path.join(directory, _artifacts.SNAPSHOT_DIR))
        current = _artifacts.read_snapshot(paths[-1])
        rollout = _artifacts.read_rollout(directory)
    except FileNotFoundError:
        raise ReportError("no fleet artifacts in %s: run armvirt.cpu.gather first (with the same "
                          "armvirt_cpu_artifacts_dir)" % directory)
    except _artifacts.CorruptArtifact as exc:
        raise ReportError("%s. Nothing was reported: restore the file from a backup, or run armvirt.cpu.gather "
                          "(it writes fleet.json anew, and a new snapshot after a corrupt one, which it keeps) or "
                          "armvirt.cpu.rollout (rollout/plan.json)" % exc)
    previous = None
    if len(paths) > 1:
        try:
            previous = _artifacts.read_snapshot(paths[-2])
        except _artifacts.CorruptArtifact as exc:
            previous = {"corrupt": str(exc)}
    return state, current, previous, rollout


def _facts(snapshot: Mapping[str, Any] | None) -> dict[str, Any]:
    return {host: entry.get("fact") for host, entry in (snapshot or {}).get("hosts", {}).items()}


def _host_order(state: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """Hosts grouped by class (classes in order of their first host), then the hosts without usable facts."""
    classes = sorted(state["classes"]["classes"].items(), key=lambda item: item[1]["representative"])
    ordered = [(host, cid) for cid, info in classes for host in info["hosts"]]
    seen = {host for host, _cid in ordered}
    ordered += [(host, None) for host in state["hosts"] if host not in seen]
    return ordered


def _fields(fact: props.Fact | None) -> tuple[dict[str, props.Property], dict[str, str]]:
    """``(properties, unknown)`` of a fact by canonical field (``vocabulary.canonical_fact``): what the matrix
    compares, so that one field under two dialects' names is one row. ``unknown`` maps the fields the host has but
    cannot say the value of to the reason."""
    if not fact or not fact.get("supported"):
        return {}, {}
    canonical = vocabulary.canonical_fact(fact)
    return props.HostProps.from_fact(canonical).properties, canonical.get("unknown_fields") or {}


def _own_text(name: str, prop: props.Property, own: Mapping[str, props.Property]) -> str:
    """A host's value of the canonical field ``name`` in its own names: the values where it calls the field so (or
    the property has no field), else ``hw_prop_WRPs: 0-3``, one per host property that gives the field."""
    host_names = prop.extra.get("host_names") or [name]
    if list(host_names) == [name]:
        return _values(own.get(name, prop))
    return "; ".join("%s: %s" % (host_name, _values(own[host_name])) for host_name in host_names if host_name in own)


def matrix(state: Mapping[str, Any], facts: Mapping[str, Any],
           previous_facts: Mapping[str, Any] | None) -> dict[str, Any]:
    """Columns (hosts) and rows (canonical fields, those with any difference first) of the colour-coded matrix.

    A row is a canonical field (``vocabulary``): ``hw_prop_WRPs`` on one host and ``SYSREG_ID_AA64DFR0_EL1_WRPs`` on
    another are one row, compared by the field's values; each cell shows the host's value in its own names.
    """
    order = _host_order(state)
    fields = {host: _fields(facts.get(host)) for host, _cid in order}
    own = {host: _props(facts.get(host)) for host, _cid in order}
    before = {host: _fields(previous_facts.get(host))[0] for host, _cid in order} if previous_facts else {}
    baseline = state["baseline"]
    base_props = _fields(baseline)[0]
    members = baseline.get("members") or []
    field_names = sorted(set().union(*(known for known, _unknown in fields.values()))) if fields else []
    columns = [{"host": host, "class": cid, "status": state["hosts"][host]["status"],
                "reason": state["hosts"][host]["reason"], "usable": bool(fields[host][0])} for host, cid in order]
    rows = []
    for name in field_names:
        base = base_props.get(name)
        lacking = [host for host in members if name not in fields.get(host, ({}, {}))[0]]
        if base is not None:
            base_cell = {"kind": BASE, "text": _values(base), "title": "every member accepts these"}
        elif lacking:
            base_cell = {"kind": MISSING, "text": "—", "title": "not in the baseline: %s lack it" % ", ".join(lacking)}
        else:
            base_cell = {"kind": MISSING, "text": "—", "title": "not in the baseline: no value all members accept"}
        cells: list[dict[str, Any]] = []
        for column in columns:
            host = column["host"]
            known, unknown = fields[host]
            prop = known.get(name)
            old = before.get(host, {}).get(name)
            cell: dict[str, Any]
            if not column["usable"]:
                cell = {"kind": GREY, "text": "", "title": "%s: %s" % (column["status"], column["reason"])}
            elif old is not None and _narrowed(old, prop):
                cell = {"kind": MISSING, "text": _own_text(name, prop, own[host]) if prop else "missing",
                        "narrowed": True, "title": "narrowed since the previous snapshot: was %s" % _values(old)}
            elif prop is None and name in unknown:
                cell = {"kind": MISSING, "text": "unknown", "title": unknown[name]}
            elif prop is None:
                cell = {"kind": MISSING, "text": "missing", "title": "%s does not offer %s" % (host, name)}
            elif base is not None and set(prop.canonical_values()) == set(base.canonical_values()):
                cell = {"kind": BASE, "text": _own_text(name, prop, own[host]), "title": "same as the baseline"}
            else:
                cell = {"kind": MORE, "text": _own_text(name, prop, own[host]), "title": "more than the baseline (%s)"
                        % (_values(base) if base is not None else "not in it")}
            cell.setdefault("narrowed", False)
            cells.append(cell)
        uniform = base_cell["kind"] == BASE and all(cell["kind"] in (BASE, GREY) for cell in cells)
        rows.append({"name": name, "type": next(p[name].type for p, _u in fields.values() if name in p),
                     "baseline": base_cell, "cells": cells, "uniform": uniform})
    rows.sort(key=lambda row: (row["uniform"], row["name"]))
    groups: list[dict[str, Any]] = []
    for column in columns:
        if groups and groups[-1]["id"] == column["class"]:
            groups[-1]["count"] += 1
        else:
            groups.append({"id": column["class"], "count": 1})
    return {"columns": columns, "groups": groups, "rows": rows}


def _requests(state: Mapping[str, Any], rollout: Mapping[str, Any] | None,
              extra: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
    """Named requests to place: the fleet's and each class's recommendation, the rollout's policy (unless it is one
    of those) and the report's own policy files. A file that cannot be read is kept with its error."""
    requests = [("pool " + name, policy_) for name, policy_ in sorted(
        state["recommendations"].items(), key=lambda item: (item[0] != _fleet_view.FLEET_POOL, item[0]))]
    files = []
    if rollout and rollout.get("policy_file"):
        files.append((ROLLOUT + " " + os.path.basename(rollout["policy_file"]), rollout["policy_file"]))
    files += [(os.path.basename(path), path) for path in extra]
    for name, path in files:
        try:
            loaded = policy_files.load(path, modes=tuple(names.CPU_MODELS))   # the modes placement takes
        except policy.PolicyError as exc:
            requests.append((name, {"error": str(exc)}))
            continue
        request = {"mode": loaded.mode or names.DEFAULT_MODE, "features": loaded.features}
        known = [index for index, (_name, other) in enumerate(requests) if other == request]
        if not known:
            requests.append((name, request))
        elif name.startswith(ROLLOUT):
            requests[known[0]] = ("%s = %s" % (requests[known[0]][0], name), request)
    return requests


def _place(name: str, request: Mapping[str, Any], facts: Mapping[str, Any], hosts: Iterable[str]) -> dict[str, Any]:
    if "error" in request:
        return {"name": name, "error": request["error"], "ok": [], "failed": []}
    result = placement.placement(request, {host: facts.get(host) for host in hosts})
    for host in list(result["ok"]):   # a mode the host's QEMU refuses fits no property, whatever they offer
        problem = _fleet_view.mode_problem(result["mode"], (facts.get(host) or {}).get("accel"))
        if problem:
            result["ok"].remove(host)
            result["failed"] = sorted(result["failed"] + [host])
            result["hosts"][host]["errors"] = [{"host": host, "feature": None, "value": None, "allowed": [],
                                                "rule": _fleet_view.MODE_RULE, "message": "%s: %s." % (host, problem)}]
            result["summary"]["rules"][_fleet_view.MODE_RULE] = result["summary"]["rules"].get(
                _fleet_view.MODE_RULE, 0) + 1
    failed = []
    for host in result["failed"]:
        errors = result["hosts"][host]["errors"]
        failed.append({"host": host, "count": len(errors), "records": errors[:MAX_RECORDS],
                       "rules": sorted({error["rule"] for error in errors})})
    return {"name": name, "features": len(request["features"]), "ok": result["ok"], "failed": failed,
            "rules": result["summary"]["rules"]}


def placements(state: Mapping[str, Any], facts: Mapping[str, Any], rollout: Mapping[str, Any] | None,
               extra: Iterable[str]) -> list[dict[str, Any]]:
    """Each request placed on the hosts with usable facts (the others are in the attention list already)."""
    hosts = [host for host, entry in state["hosts"].items() if entry["usable"]]
    return [_place(name, request, facts, hosts) for name, request in _requests(state, rollout, extra)]


def changes(state: Mapping[str, Any], current: Mapping[str, Any], previous: Mapping[str, Any] | None,
            facts: Mapping[str, Any], rollout: Mapping[str, Any] | None, extra: Iterable[str]) -> dict[str, Any] | None:
    """What changed between the latest two snapshots, and what it breaks (requests ok before, failing now)."""
    if previous is None:
        return None
    if "corrupt" in previous:
        return {"since": None, "hosts": [], "breaks": [], "corrupt": previous["corrupt"]}
    before_facts = _facts(previous)
    hosts = []
    for host in sorted(set(before_facts) | set(facts)):
        old_entry = previous.get("hosts", {}).get(host, {})
        new_entry = current.get("hosts", {}).get(host, {})
        old, new = _props(before_facts.get(host)), _props(facts.get(host))
        items = []
        if old_entry.get("status") != new_entry.get("status"):
            items.append({"kind": "status", "text": "status %s → %s%s" % (
                old_entry.get("status", "absent"), new_entry.get("status", "absent"),
                ": " + new_entry["reason"] if new_entry.get("reason") else "")})
        if old and new:
            for name in sorted(set(old) | set(new)):
                if name not in new:
                    items.append({"kind": "narrowed", "text": "%s removed (was %s)" % (name, _values(old[name]))})
                elif name not in old:
                    items.append({"kind": "widened", "text": "%s added: %s" % (name, _values(new[name]))})
                elif _narrowed(old[name], new[name]):
                    items.append({"kind": "narrowed", "text": "%s narrowed: %s → %s" % (
                        name, _values(old[name]), _values(new[name]))})
                elif _narrowed(new[name], old[name]):
                    items.append({"kind": "widened", "text": "%s widened: %s → %s" % (
                        name, _values(old[name]), _values(new[name]))})
            for key in ("qemu_version", "dialect"):
                if before_facts[host].get(key) != facts[host].get(key):
                    items.append({"kind": "meta", "text": "%s %s → %s" % (
                        key, before_facts[host].get(key), facts[host].get(key))})
        if items:
            hosts.append({"host": host, "items": items})
    before_state = _fleet_view.summarise(before_facts, {
        host: {"status": entry.get("status"), "reason": entry.get("reason"), "gathered_at": None}
        for host, entry in previous.get("hosts", {}).items()})
    breaks = []
    everyone = sorted(set(before_facts) | set(facts))
    for name, request in _requests(before_state, rollout, extra):
        if "error" in request:
            continue
        was = placement.placement(request, {host: before_facts.get(host) for host in everyone})
        now = placement.placement(request, {host: facts.get(host) for host in everyone})
        for host in was["ok"]:
            if host in now["failed"] and facts.get(host):
                errors = now["hosts"][host]["errors"]
                guests = sorted(((rollout or {}).get("hosts", {}).get(host, {}).get("guests") or {}))
                breaks.append({"request": name, "host": host, "records": errors[:MAX_RECORDS],
                               "count": len(errors), "guests": guests if ROLLOUT in name else []})
    return {"since": previous.get("taken_at"), "hosts": hosts, "breaks": breaks, "corrupt": None}


STAGES = ("gather", "fleet pool", "rollout", "apply")


def attention(state: Mapping[str, Any], rollout: Mapping[str, Any] | None,
              apply_summary: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Every host that is not fine, with the stage where it went wrong and why; and each host that the fleet pool
    leaves out for its accelerator (it gets its class's policy, not the fleet's)."""
    rows = [{"host": host, "stage": "gather", "status": entry["status"], "reason": entry["reason"]}
            for host, entry in state["hosts"].items() if entry["status"] != _fleet_view.OK]
    rows += [{"host": host, "stage": "fleet pool", "status": "own class", "reason": entry["reason"]}
             for host, entry in state["hosts"].items()
             if entry["usable"] and entry.get("pool") not in (None, _fleet_view.FLEET_POOL)]
    for host, entry in sorted(((rollout or {}).get("hosts") or {}).items()):
        if entry.get("status") != "ok":
            rows.append({"host": host, "stage": "rollout", "status": entry.get("status"),
                         "reason": entry.get("reason")})
    for host, entry in sorted(((apply_summary or {}).get("hosts") or {}).items()):
        if isinstance(entry, Mapping) and entry.get("status") != "ok":
            rows.append({"host": host, "stage": "apply", "status": entry.get("status"),
                         "reason": "; ".join("%s: %s" % (d.get("name"), d.get("msg"))
                                             for d in entry.get("domains", []) if d.get("failed")) or None})
    return sorted(rows, key=lambda row: (row["host"], STAGES.index(row["stage"])))


def build(directory: str, apply_summary_path: str | None = None, extra_requests: Sequence[str] = ()) -> dict[str, Any]:
    """The whole report model (plain data for the templates)."""
    state, current, previous, rollout = _printable_model(load(directory))
    facts = _facts(current)
    try:
        apply_summary = (_printable_model(_artifacts.load_json(apply_summary_path))
                         if apply_summary_path else None)
    except _artifacts.CorruptArtifact as exc:
        raise ReportError("the apply summary %s. Nothing was reported: run armvirt.cpu.apply again, or leave "
                          "armvirt_cpu_apply_summary out" % exc)
    hosts = state["hosts"]
    model = {
        "label": state["label"],
        "snapshot": current.get("taken_at"),
        "max_fact_age": state.get("max_fact_age"),
        "counts": {"hosts": len(hosts), "usable": sum(entry["usable"] for entry in hosts.values()),
                   "classes": len(state["classes"]["classes"]),
                   "baseline_properties": len(state["baseline"]["properties"])},
        "legend": CELL_CLASSES,
        "attention": attention(state, rollout, apply_summary),
        "class_guarantee": classes.CLASS_GUARANTEE,
        "classes": [dict(info, id=cid, policy="policies/%s.yml" % cid)
                    for cid, info in sorted(state["classes"]["classes"].items(),
                                            key=lambda item: item[1]["representative"])],
        "failed_pools": state.get("failed_pools") or {},   # fleet.json of earlier versions has none
        "baseline": {"members": state["baseline"]["members"], "excluded": state["baseline"]["excluded"],
                     "dialect": state["baseline"]["dialect"]},
        "matrix": matrix(state, facts, _facts(previous) if previous and "corrupt" not in previous else None),
        "placements": placements(state, facts, rollout, extra_requests),
        "changes": changes(state, current, previous, facts, rollout, extra_requests),
        "rollout": rollout,
        "apply": apply_summary,
        "apply_path": apply_summary_path if apply_summary else None,
    }
    return model


# Terminal escape sequences (ECMA-48: CSI, OSC and other strings, two-character escapes; C1 CSI and OSC), removed
# whole: dropping only ESC would leave "[31m" in the text.
_ESCAPE_SEQUENCE_RE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?|\x1b[]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[ -/]*[0-~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?")
# line breaks and tabs become a space (a reason on several lines stays one table row)
_LINE_BREAKS = dict.fromkeys(map(ord, "\t\n\v\f\r\x85\u2028\u2029"), " ")
# then every other C0 control, DEL, C1 control and bidi control (which makes a viewer show text in another order than
# it is) goes
_UNPRINTABLE = dict.fromkeys(list(range(0x20)) + list(range(0x7f, 0xa0)) + [0x061c, 0x200e, 0x200f]
                             + list(range(0x202a, 0x202f)) + list(range(0x2066, 0x206a)))
# what Markdown (CommonMark with GFM tables) reads as markup inline: HTML and entities as character references,
# emphasis, code, links, table cells and backslash itself with a backslash
_MARKDOWN_SPECIAL_RE = re.compile(r"[\\`*_\[\]|~<>&]")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def printable(value: object) -> str:
    """``value`` as text without control characters, terminal escape sequences and bidi controls."""
    # line breaks first: the artifacts may hold a text with its line breaks made spaces already, and a space can be
    # part of an escape sequence, so the sequences are found in the text as every page shows it
    return _ESCAPE_SEQUENCE_RE.sub("", str(value).translate(_LINE_BREAKS)).translate(_UNPRINTABLE)


class MarkdownText(str):
    """Text that is Markdown already (:func:`markdown_code`): the Markdown page's finalize leaves it alone."""


def markdown_text(value: object) -> MarkdownText:
    """``value`` as Markdown that shows exactly its printable text, inline (a table cell, a list item, a sentence):
    HTML's special characters as character references, Markdown's with a backslash."""
    if isinstance(value, MarkdownText):
        return value
    text = printable(value)
    if not text.strip() and str(value):   # blank: as references, so "**" around it is no thematic break ("****")
        return MarkdownText("&#32;" * max(len(text), 1))
    # blanks at either end as references: at a line's start they would indent it (four make a code block), at its
    # end two make a line break
    core = text.strip(" ")
    lead, trail = len(text) - len(text.lstrip(" ")), len(text) - len(text.rstrip(" "))
    return MarkdownText("&#32;" * lead + _MARKDOWN_SPECIAL_RE.sub(
        lambda match: _ENTITIES.get(match.group(), "\\" + match.group()), core) + "&#32;" * trail)


def markdown_code(value: object) -> MarkdownText:
    """``value`` as a code span (CommonMark: the fence is one backtick longer than any run of backticks in it, with
    a space inside it where the text starts or ends with a backtick or a space). Inside a code span neither
    references nor backslashes work, so text a table would split at ``|``, or blank text, is escaped text instead."""
    text = printable(value)
    if "|" in text or not text.strip():
        return markdown_text(text)
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return MarkdownText(fence + pad + text + pad + fence)


def _printable_model(data: Any) -> Any:
    """``data`` with :func:`printable` applied to every string (keys too) one by one, before the report joins any:
    a sequence cut short at the end of one value must not swallow the text joined after it. A value of nothing but
    control characters becomes U+FFFD, so that it still shows (and no "**" of the Markdown page closes on nothing)."""
    if isinstance(data, str):
        text = printable(data)
        return text if text.strip() or not data.strip() else "\ufffd"   # nothing printable left: say so
    if isinstance(data, Mapping):
        return {_printable_model(key): _printable_model(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_printable_model(item) for item in data]
    return data


def _html_finalize(value: object) -> object:
    return printable(value) if isinstance(value, str) and not isinstance(value, Markup) else value


def render(model: Mapping[str, Any], template_path: str, html: bool) -> str:
    """One page of the report: plain Jinja2 (no Ansible filters), strict about names. Every expression goes through
    one finalize: :func:`printable` and autoescaping for HTML, :func:`markdown_text` for Markdown, whose templates
    have :func:`markdown_code` as the filter ``code``."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.dirname(template_path)),
                                     autoescape=html, trim_blocks=True, lstrip_blocks=True,
                                     keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
                                     finalize=_html_finalize if html else markdown_text)
    if not html:
        environment.filters["code"] = markdown_code
    try:
        return environment.get_template(os.path.basename(template_path)).render(report=model)
    except jinja2.TemplateError as exc:
        raise ReportError("%s: %s" % (template_path, exc))
