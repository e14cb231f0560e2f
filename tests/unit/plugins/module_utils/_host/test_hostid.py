"""The host's identity from recorded sysfs/procfs trees (tools/armsim/hosts): five hosts of four CPU kinds."""

import json
import pathlib

import jsonschema
import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._host import hostid

ROOT = pathlib.Path(__file__).resolve().parents[5]
HOSTS = ROOT / "tools" / "armsim" / "hosts"
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "arm_cpu_props.schema.json").read_text())
HOST_CPU = jsonschema.Draft202012Validator(SCHEMA["properties"]["host_cpu"])


def read(name):
    identity = hostid.read(str(HOSTS / name / "sys"), str(HOSTS / name / "proc"))
    HOST_CPU.validate(identity)
    return identity


@pytest.mark.parametrize("name, midr, core, overrides, sve", [
    ("neoverse-n1", "0x00000000413fd0c1", "Neoverse-N1", ["kvm-arm.mode=nvhe"], None),
    ("neoverse-v2", "0x00000000410fd4f0", "Neoverse-V2", [], [128]),
    ("neoverse-v2-nosve", "0x00000000410fd4f0", "Neoverse-V2", ["arm64.nosve"], None),
    ("ampereone", "0x00000000c00fac30", "Ampere-1", ["id_aa64mmfr1.vh=1"], None),
    ("cortex-a72", "0x00000000410fd083", "Cortex-A72", [], None),
])
def test_recorded_hosts(name, midr, core, overrides, sve):
    identity = read(name)
    assert (identity["midr"], identity["names"]) == ([midr], [core])
    assert identity["revidr"] == ["0x0000000000000000"]
    assert identity["kernel_cmdline_overrides"] == overrides
    assert identity["sve_vector_lengths"] == sve
    assert ("sve" in identity["hwcaps"]) == (sve is not None)
    assert identity["firmware"]["vendor"] and identity["firmware"]["date"]


def test_v2_with_sve_off_on_the_command_line_differs_only_there():
    full, nosve = read("neoverse-v2"), read("neoverse-v2-nosve")
    assert full["midr"] == nosve["midr"] and full["firmware"] == nosve["firmware"]
    assert set(full["hwcaps"]) - set(nosve["hwcaps"]) == {
        "sve", "sve2", "sveaes", "svebf16", "svebitperm", "svei8mm", "svepmull", "svesha3", "svesm4"}


@pytest.mark.parametrize("midr, name", [
    ("0x00000000481fd010", "Kunpeng-920"),
    ("0x00000000c00fac40", "Ampere-1A"),
    ("0x00000000481fd020", "HIP09"),
    ("0x000000004e0f0100", "Olympus"),
    ("0x00000000410fd490", "Neoverse-N2"),
    ("0x00000000460f0010", "A64FX"),
    ("0x00000000410fd990", "Arm part 0xd99"),
    ("0x00000000ff0f0010", "implementer 0xff part 0x001"),
])
def test_core_names(midr, name):
    assert hostid.core_name(midr) == name


def test_nothing_there_is_left_out(tmp_path):
    """Off Arm, in a container without DMI, with unreadable files: an empty identity, never an exception."""
    (tmp_path / "sys" / "devices" / "system" / "cpu" / "cpu0" / "regs" / "identification").mkdir(parents=True)
    (tmp_path / "sys" / "devices" / "system" / "cpu" / "cpu0" / "regs" / "identification" / "midr_el1").write_text(
        "garbage\n")
    (tmp_path / "sys" / "devices" / "system" / "cpu" / "cpu1" / "regs" / "identification").mkdir(parents=True)
    (tmp_path / "sys" / "devices" / "system" / "cpu" / "cpu1" / "regs" / "identification" / "midr_el1").write_text(
        "-1\n")
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cpuinfo").write_text("processor : 0\nvendor_id : GenuineIntel\n")
    identity = hostid.read(str(tmp_path / "sys"), str(tmp_path / "proc"))
    HOST_CPU.validate(identity)
    assert identity == {"midr": [], "names": [], "revidr": [], "hwcaps": [], "sve_vector_lengths": None,
                        "kernel_cmdline_overrides": [], "firmware": None}


def test_hwcaps_are_what_every_cpu_has(tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cpuinfo").write_text(
        "processor\t: 0\nFeatures\t: fp asimd sve\n\nprocessor\t: 1\nFeatures\t: fp asimd\n")
    assert hostid.hwcaps(str(tmp_path / "proc")) == ["asimd", "fp"]


def test_only_overrides_that_change_what_kvm_offers():
    assert hostid._OVERRIDE_RE.match("id_aa64pfr0.sve=0") and hostid._OVERRIDE_RE.match("arm64.nopauth")
    assert hostid._OVERRIDE_RE.match("kvm-arm.mode=protected")
    assert not any(hostid._OVERRIDE_RE.match(word) for word in ("quiet", "root=/dev/sda", "arm64_foo", "kvm.x=1"))


@pytest.mark.parametrize("name", ["neoverse-n1", "neoverse-v2", "neoverse-v2-nosve", "ampereone", "cortex-a72"])
def test_the_identity_read_once_gives_the_fingerprint_items_read_apart(name):
    """collect.collect reads the identity once and hands it to the fingerprint: the items must be those read apart."""
    sysfs, procfs = str(HOSTS / name / "sys"), str(HOSTS / name / "proc")
    identity = hostid.read(sysfs, procfs)
    assert hostid.fingerprint_items(sysfs, procfs, identity) == hostid.fingerprint_items(sysfs, procfs)
    assert identity["midr"] == hostid.id_registers(sysfs, "midr_el1")
    assert identity["revidr"] == hostid.id_registers(sysfs, "revidr_el1")


def test_files_are_read_whole_up_to_their_bound(tmp_path):
    """_read reads in chunks from a descriptor: a file over one chunk comes back whole, a bound cuts it, a
    directory or a missing file is None, and undecodable bytes are replaced."""
    big = "Features\t: " + " ".join("f%d" % n for n in range(20000)) + "\n"
    assert len(big) > 4 * hostid._CHUNK
    (tmp_path / "big").write_text(big)
    assert hostid._read(str(tmp_path / "big"), 1 << 22) == big
    assert hostid._read(str(tmp_path / "big"), hostid._CHUNK + 5) == big[:hostid._CHUNK + 5]
    (tmp_path / "bad").write_bytes(b"a\xffb")
    assert hostid._read(str(tmp_path / "bad")) == "a\ufffdb"
    assert hostid._read(str(tmp_path)) is None
    assert hostid._read(str(tmp_path / "missing")) is None
    assert hostid._read(str(tmp_path / "nul\0name")) is None
