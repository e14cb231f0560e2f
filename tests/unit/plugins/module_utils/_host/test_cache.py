# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the probe cache: format, fingerprint invalidation, hostile files, atomicity under concurrency and kills."""

import multiprocessing
import os
import pathlib
import random
import shutil
import signal
import stat
import time

import pytest
from lxml import etree

from ansible_collections.armvirt.cpu.plugins.module_utils._host import cache
from ansible_collections.armvirt.cpu.plugins.module_utils._host.props import HostProps, Property

ROOT = pathlib.Path(__file__).resolve().parents[5]
RNG = ROOT / "docs" / "schemas" / "cpu_property_info.rng"


def sample_props():
    return HostProps(True, "query-arm-cpu-props-info", {
        "hw_prop_WRPs": Property("hw_prop_WRPs", "number", ["0-3"]),
        "feat_RAS": Property("feat_RAS", "string", ["0.0", "1.0", "1.1", "1.1_base", "2.0"], "1.1"),
        "sve128": Property("sve128", "bool", ["on", "off"], "on"),
        "feat_API": Property("feat_API", "number", ["0", "off"], None, {"note": "gated", "flags": [1, {"b": None}]}),
        "SYSREG_X_Y": Property("SYSREG_X_Y", "u64-mask", ["0xff", "  padded  ", ""]),
        "weird": Property("weird", "string", ["é ü 中 🙂", "a<b>&\"c'", "]]>", "tab\there", "cr\r\nlf", "nul\x00",
                                              "bell\x07", "lone\udc80", "{\"json\": 1}"], "\r"),
    }, qemu_version="9.1.0", qemu_package="Debian 1:9.1+ds-1 «test»", cpu_model="host")


SAMPLES = {
    "full": sample_props(),
    "unsupported": HostProps.unsupported("QEMU 7.2.22 has none of the dialects", "7.2.22", ""),
    "empty": HostProps(True, "query-cpu-model-expansion", {}, None, None, "max", ""),
}


@pytest.fixture
def fp(tmp_path):
    emulator = tmp_path / "usr" / "bin" / "qemu-system-aarch64"
    emulator.parent.mkdir(parents=True)
    emulator.write_bytes(b"\x7fELF stand-in")
    return cache.fingerprint(str(emulator), "kvm", sysfs_root=str(tmp_path / "sys"))


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "cache" / "cpu_props.xml")


def temps(path):
    directory, base = os.path.split(path)
    return [name for name in os.listdir(directory) if name.startswith("." + base + ".") and name.endswith(".tmp")]


# ------------------------------------------------------------------------------------------------ format


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip(path, fp, name):
    assert cache.write(path, SAMPLES[name], fp) is True
    got, reason = cache.status(path, fp)
    assert reason == "valid"
    assert got == SAMPLES[name]
    if name == "full":
        assert got.properties["weird"].supported_values == SAMPLES[name].properties["weird"].supported_values
        assert got.properties["feat_API"].extra == {"note": "gated", "flags": [1, {"b": None}]}


def test_none_and_empty_strings_stay_distinct(path, fp):
    cache.write(path, SAMPLES["empty"], fp)
    got = cache.read(path, fp)
    assert got.qemu_version is None and got.reason == ""


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_written_file_validates_against_rng(path, fp, name):
    cache.write(path, SAMPLES[name], fp)
    schema = etree.RelaxNG(etree.parse(str(RNG)))
    document = etree.parse(path)
    assert schema.validate(document), schema.error_log


def test_rng_is_not_vacuous(fp):
    schema = etree.RelaxNG(etree.parse(str(RNG)))
    good = cache.dumps(SAMPLES["full"], fp)
    assert schema.validate(etree.fromstring(good))
    for bad in (good.replace(b"<supported>yes</supported>", b""), good.replace(b'format="2"', b'format="3"'),
                good.replace(b'name="kvm"', b'name="bogus"'), good.replace(b"<value>0-3</value>", b"<val>0-3</val>")):
        assert not schema.validate(etree.fromstring(bad))


def test_serialisation_is_deterministic(fp):
    first = cache.dumps(sample_props(), fp)
    assert cache.dumps(sample_props(), fp) == first
    shuffled = sample_props()
    shuffled.properties = dict(reversed(list(shuffled.properties.items())))
    assert cache.dumps(shuffled, dict(reversed(list(fp.items())))) == first


def test_unchanged_write_reports_no_change(path, fp):
    assert cache.write(path, SAMPLES["full"], fp) is True
    before = os.stat(path)
    assert cache.write(path, SAMPLES["full"], fp) is False
    assert os.stat(path).st_ino == before.st_ino  # not rewritten
    assert cache.write(path, SAMPLES["empty"], fp) is True
    assert cache.read(path, fp) == SAMPLES["empty"]


def test_wrong_mode_with_same_content_is_rewritten(path, fp):
    cache.write(path, SAMPLES["full"], fp)
    os.chmod(path, 0o600)
    assert cache.write(path, SAMPLES["full"], fp) is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_remove(path, fp):
    assert cache.remove(path) is False
    cache.write(path, SAMPLES["full"], fp)
    assert cache.remove(path) is True
    assert cache.remove(path) is False
    assert cache.status(path, fp) == (None, "missing")


def test_unstorable_value_is_a_cache_error_naming_the_path(path, fp):
    props = HostProps(True, "d", {"x": Property("x", "number", [3])})
    with pytest.raises(cache.CacheError, match="cpu_props.xml"):
        cache.write(path, props, fp)
    props = HostProps(True, "d", {"bad\nname": Property("bad\nname", "number", ["3"])})
    with pytest.raises(cache.CacheError):
        cache.write(path, props, fp)
    assert not os.path.exists(path)


# ------------------------------------------------------------------------------------------------ fingerprint


def test_fingerprint_items(tmp_path, fp):
    assert list(fp) == ["format", "reader_tables", "emulator", "emulator_ctime", "qemu_moddir", "qemu_moddir_mtime", "accel", "kvm",
                        "kernel_release", "kernel_version", "host_cpu_midr", "kernel_cmdline_overrides", "firmware"]
    assert all(isinstance(value, str) for value in fp.values())
    assert fp["format"] == str(cache.FORMAT_VERSION)
    assert fp["emulator_ctime"] == str(os.stat(fp["emulator"]).st_ctime_ns)
    assert fp["qemu_moddir"] == fp["qemu_moddir_mtime"] == "none"
    assert fp["host_cpu_midr"] == "none"
    assert fp["kvm"] == ("yes" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "no")
    assert (fp["kernel_release"], fp["kernel_version"]) == (os.uname().release, os.uname().version)


HOSTS = pathlib.Path(__file__).resolve().parents[5] / "tools" / "armsim" / "hosts"


def _host_tree(tmp_path, name):
    """A writable copy of a recorded host tree (sys and proc)."""
    target = tmp_path / name
    shutil.copytree(str(HOSTS / name), str(target))
    return str(target / "sys"), str(target / "proc")


def test_a_changed_command_line_or_firmware_re_probes(tmp_path, path, fp):
    """arm64.nosve or a firmware update change what KVM offers without touching uname, the emulator or MIDR."""
    sysfs, procfs = _host_tree(tmp_path, "neoverse-v2")
    before = cache.fingerprint(fp["emulator"], "kvm", sysfs, procfs)
    assert before["host_cpu_midr"] == "0x00000000410fd4f0" and before["kernel_cmdline_overrides"] == "none"
    assert before["firmware"] == "NVIDIA|02.03.12|08/14/2025"
    cache.write(path, SAMPLES["full"], before)
    assert cache.status(path, before)[1] == "valid"
    with open(procfs + "/cmdline", "a") as handle:
        handle.write("arm64.nosve id_aa64pfr1.sme=0\n")
    after = cache.fingerprint(fp["emulator"], "kvm", sysfs, procfs)
    assert after["kernel_cmdline_overrides"] == "arm64.nosve id_aa64pfr1.sme=0"
    assert cache.status(path, after) == (None, "kernel command line changed")
    with open(sysfs + "/class/dmi/id/bios_version", "w") as handle:
        handle.write("02.04.01\n")
    assert cache.status(path, cache.fingerprint(fp["emulator"], "kvm", sysfs, procfs))[1] == (
        "kernel command line changed, firmware changed")


def test_reader_tables_item_is_what_the_reader_computes():
    """cache.READER_TABLES is written out so a valid-cache run need not import the reader; it must stay equal to what
    the reader's tables hash to. When this fails, a table changed: set cache.READER_TABLES to the computed text."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import dialects, models
    assert cache.READER_TABLES == dialects.TABLES_DIGEST + models.RECORDS
    assert cache.fingerprint(None, "tcg")["reader_tables"] == dialects.TABLES_DIGEST + models.RECORDS


@pytest.mark.parametrize("change", ["cmdline", "firmware", "midr"])
def test_identity_read_once_still_invalidates(tmp_path, path, fp, change):
    """collect.collect reads the identity once and hands it to the fingerprint and the fact: a change of any of its
    items between two runs still invalidates, and the fact's host_cpu is the identity the fingerprint was taken of."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import collect, hostid
    sysfs, procfs = _host_tree(tmp_path, "neoverse-v2")
    cache_dir = os.path.dirname(path)
    identity = hostid.read(sysfs, procfs)
    before = cache.fingerprint(fp["emulator"], "kvm", sysfs, procfs, identity)
    assert before == cache.fingerprint(fp["emulator"], "kvm", sysfs, procfs)
    target = collect.cache_path(cache_dir, fp["emulator"], "kvm")
    cache.write(target, SAMPLES["full"], before)
    props, source, info = collect.collect(fp["emulator"], "kvm", 1.0, cache_dir, sysfs_root=sysfs, procfs_root=procfs)
    assert (source, info["status"], info["identity"]) == ("cache", "valid", identity)
    assert collect.host_fact(props, "kvm", fp["emulator"], source, sysfs, procfs, info["identity"])["host_cpu"] == (
        identity)
    if change == "cmdline":
        with open(procfs + "/cmdline", "a") as handle:
            handle.write("arm64.nosve\n")
        reason = "kernel command line changed"
    elif change == "firmware":
        with open(sysfs + "/class/dmi/id/bios_date", "w") as handle:
            handle.write("01/01/2026\n")
        reason = "firmware changed"
    else:
        with open(sysfs + "/devices/system/cpu/cpu0/regs/identification/midr_el1", "w") as handle:
            handle.write("0x00000000413fd0c1\n")
        reason = "host CPU changed"
    with pytest.raises(collect.CollectError):   # invalid now, so it probes: the stand-in emulator cannot run
        collect.collect(fp["emulator"], "kvm", 1.0, cache_dir, sysfs_root=sysfs, procfs_root=procfs)
    after = hostid.read(sysfs, procfs)
    assert after != identity
    assert cache.status(target, cache.fingerprint(fp["emulator"], "kvm", sysfs, procfs, after)) == (None, reason)


def test_fingerprint_tolerates_missing_emulator(tmp_path):
    fp = cache.fingerprint(str(tmp_path / "nope"), "tcg", sysfs_root=str(tmp_path / "nosys"))
    assert fp["emulator_ctime"] == "none"
    assert cache.fingerprint(None, "tcg")["emulator"] == "none"


def touch_until_ctime_changes(target):
    before = os.stat(target).st_ctime_ns
    deadline = time.monotonic() + 2
    while os.stat(target).st_ctime_ns == before:
        assert time.monotonic() < deadline, "ctime did not move"
        time.sleep(0.005)
        os.utime(target)
    return before


def test_emulator_ctime_change_invalidates(path, fp, tmp_path):
    cache.write(path, SAMPLES["full"], fp)
    touch_until_ctime_changes(fp["emulator"])
    new = cache.fingerprint(fp["emulator"], "kvm", sysfs_root=str(tmp_path / "sys"))
    assert cache.status(path, new) == (None, "emulator changed")


def test_emulator_path_change_invalidates(path, fp, tmp_path):
    cache.write(path, SAMPLES["full"], fp)
    other = tmp_path / "other-qemu"
    shutil.copy2(fp["emulator"], str(other))
    new = cache.fingerprint(str(other), "kvm", sysfs_root=str(tmp_path / "sys"))
    assert cache.status(path, new) == (None, "emulator changed")


def test_module_dir_found_like_qemu(tmp_path, monkeypatch):
    monkeypatch.delenv("QEMU_MODULE_DIR", raising=False)
    real = tmp_path / "opt" / "bin" / "qemu-system-aarch64"
    real.parent.mkdir(parents=True)
    real.write_bytes(b"")
    link = tmp_path / "qemu"
    link.symlink_to(real)
    plain = tmp_path / "opt" / "lib" / "qemu"
    plain.mkdir(parents=True)
    assert cache.fingerprint(str(link), "kvm")["qemu_moddir"] == str(plain)  # next to the real binary's prefix
    multiarch = tmp_path / "opt" / "lib" / (os.uname().machine + "-linux-gnu") / "qemu"
    multiarch.mkdir(parents=True)
    assert cache.fingerprint(str(link), "kvm")["qemu_moddir"] == str(multiarch)  # Debian's libdir first
    env = tmp_path / "env-modules"
    env.mkdir()
    monkeypatch.setenv("QEMU_MODULE_DIR", str(env))
    assert cache.fingerprint(str(link), "kvm")["qemu_moddir"] == str(env)  # QEMU honours the variable first


def test_module_dir_change_invalidates(path, fp, tmp_path):
    moddir = tmp_path / "usr" / "lib" / "qemu"
    moddir.mkdir(parents=True)
    sysfs = str(tmp_path / "sys")
    before = cache.fingerprint(fp["emulator"], "kvm", sysfs_root=sysfs)
    assert before["qemu_moddir"] == str(moddir)
    cache.write(path, SAMPLES["full"], before)
    assert cache.status(path, fp) == (None, "QEMU modules changed")  # appeared
    deadline = time.monotonic() + 2
    while cache.fingerprint(fp["emulator"], "kvm", sysfs_root=sysfs)["qemu_moddir_mtime"] == before["qemu_moddir_mtime"]:
        assert time.monotonic() < deadline
        (moddir / ("accel-tcg-aarch64.so.%d" % len(os.listdir(str(moddir))))).write_bytes(b"")
        time.sleep(0.005)
    after = cache.fingerprint(fp["emulator"], "kvm", sysfs_root=sysfs)
    assert cache.status(path, after) == (None, "QEMU modules changed")


def make_sysfs(root, midrs):
    base = root / "devices" / "system" / "cpu"
    (base / "cpufreq").mkdir(parents=True, exist_ok=True)
    for index, midr in enumerate(midrs):
        cpu = base / ("cpu%d" % index)
        if midr is None:
            cpu.mkdir(exist_ok=True)  # offline: no regs directory
            continue
        (cpu / "regs" / "identification").mkdir(parents=True, exist_ok=True)
        (cpu / "regs" / "identification" / "midr_el1").write_text(midr + "\n")
    return str(root)


def test_midr_set_from_sysfs(tmp_path):
    sysfs = make_sysfs(tmp_path / "sys", ["0x00000000410fd0c0", "0x00000000410fd0c0", None, "0x00000000410fd440"])
    assert cache.fingerprint(None, "kvm", sysfs_root=sysfs)["host_cpu_midr"] == "0x00000000410fd0c0,0x00000000410fd440"


def test_host_cpu_change_invalidates(path, fp, tmp_path):
    sysfs = make_sysfs(tmp_path / "sys", ["0x00000000410fd0c0"] * 4)
    before = cache.fingerprint(fp["emulator"], "kvm", sysfs_root=sysfs)
    cache.write(path, SAMPLES["full"], before)
    assert cache.read(path, before) == SAMPLES["full"]
    make_sysfs(tmp_path / "sys", ["0x00000000413fd0c1"] * 4)
    after = cache.fingerprint(fp["emulator"], "kvm", sysfs_root=sysfs)
    assert cache.status(path, after) == (None, "host CPU changed")


@pytest.mark.parametrize("key, value, reason", [
    ("accel", "tcg", "accelerator changed"),
    ("kvm", "no", "KVM availability changed"),
    ("kernel_release", "6.1.0-99-arm64", "kernel changed"),
    ("kernel_version", "#1 SMP Debian 6.1.999", "kernel changed"),
    ("format", "0", "cache format changed"),
    ("host_cpu_midr", "0x00000000410fd0c0", "host CPU changed"),
    ("new_item", "x", "fingerprint item new_item changed"),
])
def test_each_fingerprint_item_invalidates(path, fp, key, value, reason):
    cache.write(path, SAMPLES["full"], fp)
    changed = dict(fp)
    changed[key] = value
    assert cache.status(path, changed) == (None, reason)


def test_several_changes_are_all_named(path, fp):
    cache.write(path, SAMPLES["full"], fp)
    changed = dict(fp, kernel_release="x", accel="tcg", kernel_version="y")
    assert cache.status(path, changed) == (None, "accelerator changed, kernel changed")


def test_dropped_fingerprint_item_invalidates(path, fp):
    cache.write(path, SAMPLES["full"], fp)
    smaller = dict(fp)
    del smaller["kvm"]
    assert cache.status(path, smaller) == (None, "KVM availability changed")


# ------------------------------------------------------------------------------------------------ bad files

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<cpuPropertyInfo format="2">&lol9;</cpuPropertyInfo>
"""


def mutations(good):
    return {
        "empty": (b"", "corrupt"),
        "garbage": (b"\x00\xff not xml at all", "corrupt"),
        "not utf-8": (good.replace(b"Debian", b"Debian \xff"), "corrupt: not UTF-8"),
        "wrong version": (good.replace(b'format="2"', b'format="1"'), "format version 1, expected 2"),
        "no version": (good.replace(b' format="2"', b""), "format version None, expected 2"),
        "foreign root": (good.replace(b"cpuPropertyInfo", b"qemuCaps"), "foreign root element <qemuCaps>"),
        "namespaced root": (good.replace(b'<cpuPropertyInfo format', b'<cpuPropertyInfo xmlns="urn:x" format'),
                            "foreign root element"),
        "doctype": (good.replace(b"<cpuPropertyInfo", b"<!DOCTYPE cpuPropertyInfo>\n<cpuPropertyInfo", 1),
                    "DOCTYPE refused"),
        "billion laughs": (BILLION_LAUGHS, "DOCTYPE refused"),
        "external entity": (b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><cpuPropertyInfo>&e;'
                            b'</cpuPropertyInfo>', "DOCTYPE refused"),
        "utf-16 disguise": (('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]>'
                             '<cpuPropertyInfo format="2">&a;</cpuPropertyInfo>').encode("utf-16-le"), "corrupt"),
        "undefined entity": (good.replace(b"<dialect>", b"<dialect>&lol;"), "corrupt"),
        "no fingerprint": (good.replace(b"fingerprint>", b"fingerprints>"), "corrupt: no <fingerprint>"),
        "no supported": (good.replace(b"<supported>yes</supported>", b""), "corrupt: no <supported>"),
        "bad supported": (good.replace(b"<supported>yes</supported>", b"<supported>maybe</supported>"), "corrupt"),
        "no properties": (good.replace(b"<properties>", b"<props>").replace(b"</properties>", b"</props>"), "corrupt"),
        "bad extra json": (good.replace(b'<extra name="note">"gated"</extra>', b'<extra name="note">gated</extra>'),
                           "corrupt"),
        "deep extra json": (good.replace(b'<extra name="note">"gated"</extra>',
                                         b'<extra name="note">' + b"[" * 100000 + b"]" * 100000 + b"</extra>"),
                            "corrupt"),
        "bad enc": (good.replace(b'enc="json">"\\r"', b'enc="base64">"\\r"'), "corrupt"),
        "nameless property": (good.replace(b'<property name="sve128" ', b"<property "), "corrupt"),
    }


@pytest.mark.parametrize("case", sorted(mutations(b"")))
def test_bad_file_is_invalid_with_a_reason(path, fp, case):
    cache.write(path, SAMPLES["full"], fp)
    with open(path, "rb") as handle:
        good = handle.read()
    data, reason = mutations(good)[case]
    assert data != good
    with open(path, "wb") as handle:
        handle.write(data)
    got, why = cache.status(path, fp)
    assert got is None
    assert reason in why
    assert cache.read(path, fp) is None
    # another format version is an upgrade, rewritten without a word; everything else here is a repair to report
    assert cache.is_damaged(why) is (case not in ("wrong version", "no version")), why


def test_doctype_is_refused_before_parsing(path, fp, monkeypatch):
    def no_parse(*args, **kwargs):
        raise AssertionError("parsed a file with a DOCTYPE")
    monkeypatch.setattr(cache.ET, "fromstring", no_parse)
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as handle:
        handle.write(BILLION_LAUGHS)
    assert cache.status(path, fp) == (None, "DOCTYPE refused")


def test_every_truncation_is_invalid(path, fp):
    cache.write(path, SAMPLES["full"], fp)
    with open(path, "rb") as handle:
        good = handle.read()
    for size in range(0, len(good.rstrip()), 7):
        with open(path, "wb") as handle:
            handle.write(good[:size])
        got, why = cache.status(path, fp)
        assert got is None and why.startswith("corrupt"), (size, why)


def test_oversized_file_is_invalid(path, fp, monkeypatch):
    cache.write(path, SAMPLES["full"], fp)
    monkeypatch.setattr(cache, "MAX_BYTES", 100)
    got, why = cache.status(path, fp)
    assert got is None and why.startswith("too large") and cache.is_damaged(why)


def test_stale_missing_and_valid_caches_are_not_damaged(path, fp):
    assert not cache.is_damaged(cache.status(path, fp)[1])
    cache.write(path, SAMPLES["full"], fp)
    assert not cache.is_damaged(cache.status(path, fp)[1])
    assert not cache.is_damaged(cache.status(path, dict(fp, kernel_release="6.99"))[1])


def test_missing_and_non_regular(path, fp):
    assert cache.status(path, fp) == (None, "missing")
    os.makedirs(path)
    assert cache.status(path, fp) == (None, "not a regular file")
    with pytest.raises(cache.CacheError, match="cpu_props.xml"):
        cache.write(path, SAMPLES["full"], fp)


# ------------------------------------------------------------------------------------------------ safety


def test_symlink_refused_for_read_and_write(path, fp, tmp_path):
    cache.write(path, SAMPLES["full"], fp)
    target = tmp_path / "elsewhere.xml"
    os.rename(path, str(target))
    os.symlink(str(target), path)
    with pytest.raises(cache.CacheError, match="cpu_props.xml.*symlink"):
        cache.read(path, fp)
    with pytest.raises(cache.CacheError, match="cpu_props.xml.*symlink"):
        cache.write(path, SAMPLES["empty"], fp)
    assert cache.read(str(target), fp) == SAMPLES["full"]  # the target was not touched


def test_dangling_symlink_refused(path, fp, tmp_path):
    os.makedirs(os.path.dirname(path))
    os.symlink(str(tmp_path / "planted.xml"), path)
    with pytest.raises(cache.CacheError, match="symlink"):
        cache.status(path, fp)
    with pytest.raises(cache.CacheError, match="symlink"):
        cache.write(path, SAMPLES["full"], fp)
    assert not (tmp_path / "planted.xml").exists()


def test_symlinked_lock_refused(path, fp, tmp_path):
    os.makedirs(os.path.dirname(path))
    os.symlink(str(tmp_path / "victim"), path + ".lock")
    with pytest.raises(cache.CacheError, match="lock.*symlink"):
        cache.write(path, SAMPLES["full"], fp)
    assert not (tmp_path / "victim").exists()


def test_world_writable_file_refused(path, fp):
    cache.write(path, SAMPLES["full"], fp)
    os.chmod(path, 0o666)
    with pytest.raises(cache.CacheError, match="cpu_props.xml is world-writable"):
        cache.read(path, fp)
    with pytest.raises(cache.CacheError, match="world-writable"):
        cache.write(path, SAMPLES["empty"], fp)


def test_world_writable_directory_refused(path, fp):
    cache.write(path, SAMPLES["full"], fp)
    os.chmod(os.path.dirname(path), 0o1777)
    with pytest.raises(cache.CacheError, match="directory .* is world-writable"):
        cache.read(path, fp)
    with pytest.raises(cache.CacheError, match="world-writable"):
        cache.write(path, SAMPLES["empty"], fp)


@pytest.mark.parametrize("umask", [0o077, 0o000])
def test_modes_ignore_umask(tmp_path, fp, umask):
    path = str(tmp_path / "a" / "b" / "cpu_props.xml")
    old = os.umask(umask)
    try:
        cache.write(path, SAMPLES["full"], fp)
        cache.write(path, SAMPLES["empty"], fp)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(str(tmp_path / "a")).st_mode) == 0o755


# ------------------------------------------------------------------------------------------------ concurrency


def variant(index, size=20):
    return HostProps(True, "query-arm-cpu-props-info", {
        "p%d" % number: Property("p%d" % number, "number", ["0-%d" % index, "off"]) for number in range(size)},
        cpu_model="writer-%d" % index)


def _concurrent_writer(path, fp, index, barrier):
    barrier.wait()
    for round_ in range(25):
        cache.write(path, variant(index + 8 * (round_ % 2)), fp)


def test_concurrent_writers_leave_one_valid_file(path, fp):
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(9)
    workers = [context.Process(target=_concurrent_writer, args=(path, fp, index, barrier)) for index in range(8)]
    for worker in workers:
        worker.start()
    barrier.wait()
    seen = 0
    while any(worker.is_alive() for worker in workers):  # readers never see a partial file
        got, why = cache.status(path, fp)
        assert why in ("valid", "missing"), why
        seen += got is not None
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    got = cache.read(path, fp)
    assert got in [variant(index) for index in range(16)]
    assert temps(path) == []
    assert sorted(os.listdir(os.path.dirname(path))) == ["cpu_props.xml", "cpu_props.xml.lock"]


def _looping_writer(path, fp, started):
    small, big = variant(1), variant(2, size=800)
    cache.write(path, small, fp)
    started.set()
    while True:
        cache.write(path, big, fp)
        cache.write(path, small, fp)


def kill_mid_write(path, fp, repetitions):
    context = multiprocessing.get_context("fork")
    allowed = (cache.dumps(variant(1), fp), cache.dumps(variant(2, size=800), fp))
    cache.write(path, variant(1), fp)
    rng = random.Random(1234)
    for repetition in range(repetitions):
        started = context.Event()
        child = context.Process(target=_looping_writer, args=(path, fp, started))
        child.start()
        assert started.wait(10)
        time.sleep(rng.uniform(0, 0.01))
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        assert child.exitcode == -signal.SIGKILL
        with open(path, "rb") as handle:
            assert handle.read() in allowed
        assert cache.read(path, fp) is not None
        assert len(temps(path)) <= 1  # the killed writer's, if any; the next writer removes it
    cache.write(path, variant(3), fp)
    assert temps(path) == []


def test_sigkill_mid_write_leaves_old_or_new_file(path, fp):
    """200 writers killed at random points: each leaves the old or the complete new file."""
    kill_mid_write(path, fp, 200)
