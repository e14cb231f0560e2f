"""Changelog fragments lint and render; the docs site builds with antsibull-docs from the plugins and guides."""

import re
import shutil

import pytest
import yaml

from eco_helpers import ROOT, VERSION, describe, run, tool

pytestmark = pytest.mark.ecosystem
TRIVIAL = yaml.safe_load((ROOT / "changelogs" / "config.yaml").read_text())["trivial_section_name"]


def test_changelog_fragments_and_changelog_yaml_lint_clean():
    proc = run([tool("antsibull-changelog"), "lint"], cwd=ROOT)
    assert proc.returncode == 0 and not proc.stdout.strip(), describe(proc)
    proc = run([tool("antsibull-changelog"), "lint-changelog-yaml", ROOT / "changelogs" / "changelog.yaml"], cwd=ROOT)
    assert proc.returncode == 0 and not proc.stdout.strip(), describe(proc)


def test_changelog_preview_has_every_fragment_and_module(tmp_path):
    output = tmp_path / "CHANGELOG.md"
    proc = run(["bash", ROOT / "scripts" / "changelog", "--output", output], cwd=ROOT)
    assert proc.returncode == 0, describe(proc)
    text = output.read_text()
    assert "## v%s \\(unreleased\\)" % VERSION.replace(".", "\\.") in text, text[:500]
    flat = re.sub(r"\\(.)", r"\1", text)  # the md writer escapes punctuation
    flat = re.sub(r"\s+", " ", flat)
    for fragment in sorted((ROOT / "changelogs" / "fragments").glob("*.y*ml")):
        for section, entries in (yaml.safe_load(fragment.read_text()) or {}).items():
            if section == TRIVIAL:
                continue  # antsibull-changelog never renders these: that is what the section is for
            for entry in [entries] if isinstance(entries, str) else entries:
                words = re.sub(r"\s+", " ", entry).split(" - ")[0].strip()
                assert words in flat, "%s: %s" % (fragment.name, words)
    for module in (ROOT / "plugins" / "modules").glob("*.py"):
        assert "armvirt.cpu.%s" % module.stem in flat, module.stem


def test_docs_site_builds_with_a_page_per_plugin_and_guide(tmp_path):
    dest = tmp_path / "site"
    proc = run(["bash", ROOT / "scripts" / "docs", "--dest", dest], cwd=ROOT, timeout=240)
    assert proc.returncode == 0, describe(proc)
    html = dest / "build" / "html"
    assert (html / "index.html").is_file()
    for module in (ROOT / "plugins" / "modules").glob("*.py"):
        assert (html / ("%s_module.html" % module.stem)).is_file(), module.stem
    for plugin in (ROOT / "plugins" / "filter").glob("*.py"):
        text = plugin.read_text()
        for name in re.findall(r"^name: (\w+)", text, re.M):
            assert (html / ("%s_filter.html" % name)).is_file(), name
    for guide in (ROOT / "docs").glob("*.md"):
        assert (html / "docsite" / ("%s.html" % guide.stem)).is_file(), guide.name
    index = (html / "index.html").read_text()
    assert "docsite/host-guide.html" in index


def test_guides_convert_to_extra_docs_that_lint_clean(tmp_path):
    """md2rst on a copy of docs/ (the working tree is not touched), then antsibull-docs' extra docs lint."""
    root = tmp_path / "ansible_collections" / "armvirt" / "cpu"
    shutil.copytree(ROOT / "docs", root / "docs", ignore=shutil.ignore_patterns("rst", "extra-docs.yml"))
    shutil.copy(ROOT / "galaxy.yml", root)
    proc = run([tool("python"), root / "docs" / "docsite" / "md2rst.py"])
    assert proc.returncode == 0, describe(proc)
    proc = run([tool("python"), root / "docs" / "docsite" / "md2rst.py", "--check"])
    assert proc.returncode == 0, describe(proc)
    proc = run([tool("antsibull-docs"), "lint-collection-docs", "."], cwd=root)
    assert proc.returncode == 0 and not proc.stdout.strip(), describe(proc)
    extra = yaml.safe_load((root / "docs" / "docsite" / "extra-docs.yml").read_text())
    listed = {entry for section in extra["sections"] for entry in section["toctree"]}
    assert listed == {guide.stem for guide in (ROOT / "docs").glob("*.md")}
