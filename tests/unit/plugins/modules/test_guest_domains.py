"""The writing half of guest_domains: atomic, only what changed, check and diff mode (host side, stdlib)."""

import os

from ansible_collections.armvirt.cpu.plugins.modules import guest_domains


def test_creates_then_leaves_unchanged_files_alone(tmp_path):
    out = tmp_path / "domains"
    changed, guests, diffs = guest_domains.write_documents(str(out), [("a", "<a/>\n"), ("b", "<b/>\n")], False, True)
    assert changed and [guests[n]["status"] for n in "ab"] == ["created", "created"]
    assert (out / "a.xml").read_text() == "<a/>\n" and oct((out / "a.xml").stat().st_mode & 0o777) == "0o644"
    assert diffs[0] == {"before_header": str(out / "a.xml"), "after_header": str(out / "a.xml"), "before": "",
                        "after": "<a/>\n"}
    mtime = (out / "a.xml").stat().st_mtime_ns
    changed, guests, diffs = guest_domains.write_documents(str(out), [("a", "<a/>\n"), ("b", "<B/>\n")], False, True)
    assert changed and guests["a"]["status"] == "unchanged" and guests["b"]["status"] == "updated"
    assert (out / "a.xml").stat().st_mtime_ns == mtime
    assert [d["before"] for d in diffs] == ["<b/>\n"]
    assert sorted(os.listdir(out)) == [guest_domains.LOCK_NAME, "a.xml", "b.xml"]   # no temporary files left
    changed, _unused, diffs = guest_domains.write_documents(str(out), [("a", "<a/>\n"), ("b", "<B/>\n")], False, True)
    assert not changed and diffs == []


def test_existing_mode_is_kept(tmp_path):
    (tmp_path / "a.xml").write_text("old")
    os.chmod(tmp_path / "a.xml", 0o600)
    guest_domains.write_documents(str(tmp_path), [("a", "new")], False, False)
    assert (tmp_path / "a.xml").stat().st_mode & 0o777 == 0o600


def test_check_mode_writes_nothing(tmp_path):
    out = tmp_path / "missing"
    changed, guests, diffs = guest_domains.write_documents(str(out), [("a", "<a/>")], True, True)
    assert changed and guests["a"]["status"] == "created" and len(diffs) == 1
    assert not out.exists()
