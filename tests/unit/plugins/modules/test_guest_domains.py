"""The writing half of guest_domains: atomic, only what changed, check and diff mode (host side, stdlib)."""

import os
import shutil
import stat

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._common import atomic, paths
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


@pytest.mark.parametrize("old_mode, kept", [(0o4755, 0o755), (0o2640, 0o640), (0o6644, 0o644), (0o1600, 0o600)])
def test_setuid_setgid_and_sticky_bits_are_dropped(tmp_path, old_mode, kept):
    path = tmp_path / "a.xml"
    path.write_text("old")
    os.chmod(path, old_mode)
    assert stat.S_IMODE(path.stat().st_mode) == old_mode
    changed, guests, _diffs = guest_domains.write_documents(str(tmp_path), [("a", "new")], False, False)
    assert changed and guests["a"]["status"] == "updated" and path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == kept


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize("dangling", [False, True])
@pytest.mark.parametrize("inside", [False, True])
def test_symlink_at_a_guest_path_is_refused_not_followed(tmp_path, check_mode, dangling, inside):
    """Neither compared nor diffed through the link, nor replaced; the guests before it are not written either.

    A link that leads out of the output directory is refused by the file name check (``paths.join``), one that
    stays inside by the writer itself (``atomic``): either way, the link is never followed."""
    out = tmp_path / "out"
    elsewhere = out / "kept" if inside else tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    secret = elsewhere / "secret.xml"
    if not dangling:
        secret.write_text("<secret/>\n")
        os.utime(secret, ns=(1, 1))
    os.symlink(str(secret), str(out / "b.xml"))
    refusal = (atomic.SymlinkError, r"b\.xml is a symlink; refusing to follow it") if inside else (
        paths.PathError, r"b\.xml is a symlink that leads out of the directory")
    with pytest.raises(refusal[0], match=refusal[1]):
        guest_domains.write_documents(str(out), [("a", "<a/>\n"), ("b", "<b/>\n")], check_mode, True)
    assert os.readlink(str(out / "b.xml")) == str(secret)
    assert not (out / "a.xml").exists()
    if dangling:
        assert not os.path.lexists(str(secret))
    else:
        assert secret.read_text() == "<secret/>\n" and secret.stat().st_mtime_ns == 1
    assert [name for name in os.listdir(out) if name.endswith(".tmp")] == []


def test_a_fifo_at_a_guest_path_is_refused_without_blocking(tmp_path):
    os.mkfifo(str(tmp_path / "a.xml"))
    with pytest.raises(OSError, match=r"a\.xml is not a regular file; refusing to replace it"):
        guest_domains.write_documents(str(tmp_path), [("a", "<a/>\n")], False, True)
    assert stat.S_ISFIFO(os.lstat(str(tmp_path / "a.xml")).st_mode)


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize("dir_mode", [0o777, 0o1777, 0o757])
def test_world_writable_output_dir_is_refused(tmp_path, check_mode, dir_mode):
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, dir_mode)
    with pytest.raises(atomic.UnsafeDirectoryError) as err:
        guest_domains.write_documents(str(out), [("a", "<a/>\n")], check_mode, True)
    assert str(err.value) == "directory %s is world-writable; refusing to use it" % out
    assert os.listdir(out) == []


def test_group_writable_output_dir_is_used(tmp_path):
    """The rule is the property cache's: only a directory anyone may write to is refused."""
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o775)
    changed, _guests, _diffs = guest_domains.write_documents(str(out), [("a", "<a/>\n")], False, False)
    assert changed and (out / "a.xml").read_text() == "<a/>\n"


@pytest.mark.skipif(not os.path.isfile("/usr/share/libvirt/schemas/cputypes.rng"), reason="Debian libvirt0 is not installed")
def test_the_writer_writes_nothing_when_libvirt_changed_since_its_fact(tmp_path, run_main):
    from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps
    from ansible_collections.armvirt.cpu.plugins.module_utils._guest.domain_files import DOCUMENT_KEY
    schema_dir, cpu_map_dir = str(tmp_path / "schemas"), str(tmp_path / "cpu_map")
    shutil.copytree(caps.DEFAULT_SCHEMA_DIR, schema_dir)
    shutil.copytree(caps.DEFAULT_CPU_MAP_DIR, cpu_map_dir)
    holds = caps.deciding(dict(caps.schema_info(schema_dir), cpu_map_dir=cpu_map_dir,
                               cpu_map_features=caps.cpu_map_features(cpu_map_dir)[0]))
    assert holds["feature_value_supported"] is False and "sve" in holds["cpu_map_features"]
    args = {"output_dir": str(tmp_path / "out"), "guests": [{"name": "a", DOCUMENT_KEY: "<a/>\n"}], "host": "kvm-01"}
    # rendered for a libvirt whose schema admitted value: this one's does not, so nothing is written
    code, result = run_main(guest_domains, dict(args, libvirt=dict(holds, feature_value_supported=True)))
    assert code == 1 and result["failed"] and result["guests"] == {}, result
    assert result["msg"] == (
        "libvirt changed since the libvirt_cpu fact the XML was rendered with was gathered: the schema in %s no "
        "longer admits a value attribute on a guest <feature>. Gather it again (armvirt.cpu.gather or "
        "armvirt.cpu.libvirt_facts); nothing was written." % schema_dir)
    assert not (tmp_path / "out").exists()
    code, result = run_main(guest_domains, dict(args, libvirt=holds))
    assert code == 0 and result["guests"]["a"]["status"] == "created", result
