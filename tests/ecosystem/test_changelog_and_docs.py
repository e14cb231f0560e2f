"""Changelog fragments lint and render; the docs site builds with antsibull-docs from the plugins and guides; the
READMEs and guides link so that their links resolve on the forge, on Galaxy's rendered pages and on the docs site."""

import ast
import re
import shutil

import pytest
import yaml

from eco_helpers import GALAXY, ROOT, VERSION, describe, run, tool

pytestmark = pytest.mark.ecosystem
TRIVIAL = yaml.safe_load((ROOT / "changelogs" / "config.yaml").read_text())["trivial_section_name"]
REPOSITORY = GALAXY["repository"].rstrip("/")
READMES = [ROOT / "README.md", ROOT / "roles" / "guest_cpu" / "README.md"]
GUIDES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
INTO_REPOSITORY = re.compile(re.escape(REPOSITORY) + r"/(blob|tree|raw)/main/([^#]*)(?:#(.*))?$")


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
    # HOME: antsibull-docs logs to ~/antsibull.log
    proc = run([tool("antsibull-docs"), "lint-collection-docs", "."], cwd=root, env={"HOME": str(tmp_path)})
    assert proc.returncode == 0 and not proc.stdout.strip(), describe(proc)
    extra = yaml.safe_load((root / "docs" / "docsite" / "extra-docs.yml").read_text())
    listed = {entry for section in extra["sections"] for entry in section["toctree"]}
    assert listed == {guide.stem for guide in (ROOT / "docs").glob("*.md")}
    for guide in GUIDES:   # an image of a guide is an image of the site, not a link with a stray "!"
        rst = (root / "docs" / "docsite" / "rst" / (guide.stem + ".rst")).read_text()
        images = [target for image, target in links(guide) if image]
        assert [line[len(".. image:: "):] for line in rst.splitlines() if line.startswith(".. image:: ")] == images
        assert "!`" not in rst and not re.search(r"^#{1,6} ", rst, re.M), guide.name   # no Markdown left over


def links(path):
    """(image?, target) of every Markdown link and image of a file, outside fenced code and code spans."""
    text = re.sub(r"^([ \t]*)```.*?^\1```", "", path.read_text(), flags=re.M | re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [(bool(bang), target) for bang, _words, target in LINK.findall(text)]


def anchors(path):
    """The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"^([ \t]*)```.*?^\1```", "", path.read_text(), flags=re.M | re.S)
    found, seen = set(), {}
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug if slug not in seen else "%s-%d" % (slug, seen[slug]))
        seen[slug] = seen.get(slug, 0) + 1
    return found


def test_readmes_link_absolutely_into_the_repository():
    """Galaxy renders README.md (and shows the role's) on its own pages, where a relative link resolves against
    Galaxy, not the repository: every link is absolute, into galaxy.yml's repository for the collection's files, and
    images come from its raw files."""
    for readme in READMES:
        found = links(readme)
        assert found, readme
        for image, target in found:
            assert re.match(r"^https?://", target), "%s: relative link %s" % (readme.relative_to(ROOT), target)
            if image:
                assert target.startswith(REPOSITORY + "/raw/main/"), "%s: image %s" % (readme.name, target)


def test_guides_link_relatively_only_to_guides():
    """The guides keep relative links only to each other (and to their own headings): md2rst turns those into the docs
    site's references. Any other file of the repository is linked absolutely, images from its raw files."""
    names = {guide.name for guide in GUIDES}
    for guide in GUIDES:
        for image, target in links(guide):
            if image:
                assert target.startswith(REPOSITORY + "/raw/main/"), "%s: image %s" % (guide.name, target)
            elif not re.match(r"^https?://", target):
                page = target.split("#", 1)[0]
                assert page == "" or page in names, "%s: relative link %s to a file that is no guide" % (
                    guide.name, target)


def test_every_link_into_the_repository_resolves():
    """Links into the repository name files (blob, raw) and directories (tree) that exist, and their anchors are
    headings of the file; so do the guides' relative links."""
    for page in READMES + GUIDES:
        for _image, target in links(page):
            into = INTO_REPOSITORY.match(target)
            if into:
                kind, path, anchor = into.groups()
                where = ROOT / path
                assert where.is_dir() if kind == "tree" else where.is_file(), "%s: %s" % (page.name, target)
            elif not re.match(r"^[a-z][a-z0-9+.-]*:", target):
                path, _sep, anchor = target.partition("#")
                where = (page.parent / path) if path else page
                assert where.is_file(), "%s: %s" % (page.name, target)
            else:
                continue
            if anchor:
                assert anchor in anchors(where), "%s: %s has no heading #%s" % (page.name, where.name, anchor)


ARCHITECTURE_ROW_RE = re.compile(r"^\|[^|]*\|\s*`(plugins/(?:module_utils|plugin_utils)/[^`]+\.py)`\s*\|([^|]*)\|", re.M)
COLLECTION_PACKAGES = ("_host", "_guest", "_common", "_fleet", "_libvirt", "plugin_utils", "module_utils")


def _collection_imports(path):
    """The collection's modules ``path`` imports, by their last name (``_guest.validate`` is ``validate``)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ansible_collections.armvirt"):
            tail = node.module.rsplit(".", 1)[-1]
            if tail in COLLECTION_PACKAGES:
                modules.update(alias.name for alias in node.names)
            else:
                modules.add(tail)
    return modules


def test_architecture_names_every_file_and_what_it_imports():
    """docs/architecture.md's concern table has a row for every file of module_utils and plugin_utils, and each row's
    last column names every module of the collection the file imports: the drawing of the house follows the code."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    rows = dict(ARCHITECTURE_ROW_RE.findall(doc))
    files = [path for path in sorted((ROOT / "plugins" / "module_utils").rglob("*.py"))
             + sorted((ROOT / "plugins" / "plugin_utils").glob("*.py")) if path.name != "__init__.py"]
    assert [str(path.relative_to(ROOT)) for path in files if str(path.relative_to(ROOT)) not in rows] == []
    wrong = {}
    for path in files:
        documented = set(re.findall(r"[A-Za-z_]+", rows[str(path.relative_to(ROOT))]))
        missing = sorted(name for name in _collection_imports(path)
                         if name not in documented and name.lstrip("_") not in documented)
        if missing:
            wrong[str(path.relative_to(ROOT))] = missing
    assert wrong == {}
