"""The fleet report as people see it: rendered by headless Chromium (Debian package chromium).

The report is built from artifacts written by the same code the playbooks run (fleet_state, fleet_report and the
shipped templates), for a fleet made of the recorded facts in tests/fixtures/facts with every kind of trouble: a
kernel update that narrowed a host, an unreachable host whose cached facts still count, a failed probe, stale facts,
an unsupported QEMU, a guest that failed validation in the rollout and an apply summary. Chromium's DOM must hold
the colour-coded cells and the reasons; the screenshot must be a real page. ARMVIRT_SCREENSHOT=docs/report-screenshot.png
writes the screenshot kept in the docs.
"""

import copy
import datetime
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, _fleet_view, fleet_report

FACTS = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "facts"
TEMPLATES = pathlib.Path(__file__).resolve().parents[2] / "playbooks" / "templates"
NOW = datetime.datetime(2025, 6, 2, 9, 30, tzinfo=datetime.timezone.utc)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def chromium():
    """The browser; skipped only where it is absent and CI is not set (scripts/setup.sh installs it)."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("chromium is missing in CI: scripts/setup.sh should have installed it")
    pytest.skip("chromium is not installed")


def fact(name):
    return json.loads((FACTS / ("%s.json" % name)).read_text())


def record(status="ok", at="2025-06-02T09:00:00Z", error=""):
    return {"status": status, "gathered_at": at, "error": error}


def hostvars(narrowed):
    """Hostvars as gather leaves them (this run plus the fact cache)."""
    n1, v1 = fact("neoverse-n1"), fact("neoverse-v1")
    n1_new = copy.deepcopy(n1)
    if narrowed:   # Linux 5.15 exposes the exact ID register values: only the host's watchpoint and breakpoint counts
        n1_new["properties"]["hw_prop_WRPs"]["supported_values"] = ["3"]
        n1_new["properties"]["hw_prop_BRPs"]["supported_values"] = ["5"]
    hosts = {
        "altra-01": (n1, record()), "altra-02": (n1, record()), "altra-03": (n1_new, record()),
        "graviton3-01": (v1, record()), "graviton3-02": (v1, record()),
        "graviton3-03": (v1, record("unreachable", "2025-06-02T08:00:00Z",
                                    "Failed to connect to the host via ssh: Connection timed out")),
        "legacy-01": (fact("qemu-7.2-kvm-unsupported"), record()),
        "altra-04": (n1, record("failed", "2025-05-30T10:00:00Z",
                                "qemu-system-aarch64: failed to initialize kvm: Permission denied")),
        "graviton3-04": (v1, record(at="2025-05-20T10:00:00Z")),
    }
    return {host: {"ansible_facts": {"arm_cpu_props": data, "armvirt_cpu_gather": rec}}
            for host, (data, rec) in hosts.items()}


def build_report(directory):
    """Two gathers (the second after altra-03's kernel update), a rollout, an apply summary; returns the HTML."""
    names = sorted(hostvars(False))
    for index, narrowed in enumerate((False, True)):
        state = _fleet_view.view(hostvars(narrowed), names, max_age=7 * 86400, now=NOW + datetime.timedelta(
            minutes=index))
        _artifacts.write_artifacts(str(directory), state, snapshot=True, now=NOW + datetime.timedelta(minutes=index))
    request = directory / "ras-wrps.yml"
    request.write_text("features:\n  - {name: feat_RAS, value: '1.0'}\n  - {name: hw_prop_WRPs, value: '2'}\n")
    _artifacts.start_rollout(str(directory), {
        "targets": ["altra-01", "altra-02", "altra-03", "graviton3-01", "graviton3-02"], "scope": "fleet",
        "policy_file": str(request), "members": state["baseline"]["members"]})
    for host, status in (("altra-01", "ok"), ("altra-02", "ok"), ("graviton3-01", "ok"), ("graviton3-02", "failed")):
        entry = {"status": status, "reason": "", "delivery": "qemu-commandline",
                 "guests": {"web1": "host,feat_RAS=1.0,hw_prop_WRPs=2", "db1": "host,feat_RAS=1.0,hw_prop_WRPs=2"}}
        if status == "failed":
            entry = {"status": status, "reason": "graviton3-02 (fleet baseline): nothing was written; sve256 is "
                     "not among the properties reported. Members altra-01, altra-02, altra-03 do not report it. "
                     "[guest: hpc1]"}
        (directory / "rollout" / "hosts" / ("%s.json" % host)).write_text(json.dumps(entry))
    apply_path = directory / "apply.json"
    apply_path.write_text(json.dumps({"hosts": {"altra-01": {"status": "ok", "domains": []}},
                                      "changed": ["altra-01/web1"], "restart_required": ["altra-01/web1"],
                                      "drift": [], "failed": []}))
    model = fleet_report.build(str(directory), str(apply_path), [])
    html = fleet_report.render(model, str(TEMPLATES / fleet_report.TEMPLATES["html"]), True)
    page = directory / "report" / "index.html"
    _artifacts.write_if_changed(str(page), html)
    return page


def run_chromium(browser, *args):
    profile = tempfile.mkdtemp(prefix="armvirt-chromium-")
    try:
        proc = subprocess.run([browser] + CHROMIUM_FLAGS + ["--user-data-dir=%s" % profile] + list(args),
                              capture_output=True, text=True, timeout=120, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_report_renders_in_chromium(tmp_path):
    browser = chromium()
    page = build_report(tmp_path)
    dom = run_chromium(browser, "--dump-dom", page.as_uri())
    assert "armvirt.cpu fleet report" in dom
    for kind in ("base", "more", "missing", "grey"):
        assert 'class="cell %s' % kind in dom, kind
    assert 'class="cell missing narrowed" data-host="altra-03" data-prop="SYSREG_ID_AA64DFR0_EL1_WRPs"' in dom
    for reason in ("Connection timed out", "failed to initialize kvm: Permission denied",
                   "more than armvirt_cpu_max_fact_age", "supported: false", "sve256 is not among"):
        assert reason in dom, reason
    assert "hw_prop_WRPs narrowed: 0-3 → 3" in dom
    assert 'id="breaks"' in dom and "altra-03" in dom.split('id="breaks"')[1].split("</table>")[0]
    assert "restart required 1" in " ".join(dom.split())

    shot = pathlib.Path(os.environ.get("ARMVIRT_SCREENSHOT") or tmp_path / "report.png").resolve()
    run_chromium(browser, "--screenshot=%s" % shot, "--window-size=1500,1900", page.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50000   # a real page, not a blank one
