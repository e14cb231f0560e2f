# -*- coding: utf-8 -*-
"""emulator_trust against real files: owners, modes, symbolic links (to files and to directories), files that are not
regular, paths neither configured nor listed, libvirt's capabilities (a document in libvirt's shape and the real
daemon's), and the user-owned case checked as another user (a child run with that uid)."""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest


from ansible_collections.armvirt.cpu.plugins.module_utils._host import emulator_trust
from ansible_collections.armvirt.cpu.plugins.module_utils._host.emulator_trust import UntrustedEmulator, listed, require

OTHER_UID = 65534        # nobody: neither root nor the user running the tests
THIRD_UID = 65533
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="giving files to other owners needs root")

# libvirt's capabilities document in the shape libvirt 9 writes it (trimmed): aarch64 with a kvm domain that names an
# emulator of its own (as older libvirt did), x86_64 with another emulator
CAPS = """<capabilities>
  <host><uuid>00000000-0000-0000-0000-000000000000</uuid><cpu><arch>aarch64</arch></cpu></host>
  <guest>
    <os_type>hvm</os_type>
    <arch name='aarch64'>
      <wordsize>64</wordsize>
      <emulator>/usr/bin/qemu-system-aarch64</emulator>
      <machine maxCpus='512'>virt-7.2</machine>
      <domain type='qemu'/>
      <domain type='kvm'><emulator>/usr/libexec/qemu-kvm</emulator></domain>
    </arch>
  </guest>
  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'>
      <wordsize>64</wordsize>
      <emulator>/usr/bin/qemu-system-x86_64</emulator>
      <domain type='qemu'/>
      <domain type='kvm'/>
    </arch>
  </guest>
</capabilities>
"""


def make_emulator(directory, name="qemu-system-aarch64", mode=0o755, owner=None):
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\ntouch \"$0.ran\"\n")
    path.chmod(mode)
    if owner is not None:
        os.chown(path, owner, -1)
    return str(path)


@pytest.fixture
def safe(tmp_path):
    """A directory only root can change (tmp_path is root's, 0700; this one 0755)."""
    path = tmp_path / "safe"
    path.mkdir()
    path.chmod(0o755)
    return path


def refused(emulator, trusted=None, match=None):
    with pytest.raises(UntrustedEmulator) as raised:
        require(emulator, [emulator] if trusted is None else trusted)
    assert raised.value.emulator == emulator
    assert str(raised.value).startswith("the emulator %s is not trusted, so it was not run: " % emulator)
    if match is not None:
        assert match in raised.value.reason, raised.value.reason
    return raised.value.reason


def test_a_root_owned_emulator_in_a_root_only_directory_is_trusted(safe):
    path = make_emulator(safe)
    assert require(path, [path]) == path
    # the test fixture's wrapper: tmp_path/bin, 0700 root directories under /tmp (sticky)
    os.chmod(safe, 0o700)
    assert require(path, ["/elsewhere", path]) == path


def test_a_path_neither_configured_nor_listed_is_refused(safe):
    path = make_emulator(safe)
    reason = refused(path, ["/usr/bin/qemu-system-aarch64"] + listed(CAPS, "kvm"),
                     "it is neither the configured emulator nor one that libvirt's capabilities list for aarch64")
    assert "/usr/bin/qemu-system-aarch64, /usr/libexec/qemu-kvm" in reason
    assert refused(path, []).endswith("(trusted here: none)")
    assert refused(path, [None, ""]).endswith("(trusted here: none)")


def test_listed_reads_the_emulators_of_the_arch_and_domain_type():
    assert listed(CAPS, "qemu") == ["/usr/bin/qemu-system-aarch64"]
    assert listed(CAPS, "kvm") == ["/usr/libexec/qemu-kvm"]
    assert listed(CAPS, "hvf") == []
    assert listed(CAPS, "kvm", arch="x86_64") == ["/usr/bin/qemu-system-x86_64"]
    with pytest.raises(emulator_trust.CapabilitiesError, match="libvirt's capabilities cannot be read"):
        listed("<capabilities>", "kvm")


def test_an_emulator_owned_by_another_user_is_refused(safe):
    path = make_emulator(safe, owner=OTHER_UID)
    refused(path, match="the file %s is owned by uid %d, not by root or the user running the check (uid 0)"
            % (path, OTHER_UID))


@pytest.mark.parametrize("mode", [0o775, 0o757, 0o777])
def test_an_emulator_writable_by_group_or_others_is_refused(safe, mode):
    path = make_emulator(safe, mode=mode)
    refused(path, match="%s is writable by group or others (mode %04o)" % (path, mode))


@pytest.mark.parametrize("mode", [0o775, 0o777, 0o1777])
def test_an_emulator_in_a_directory_writable_by_group_or_others_is_refused_even_sticky(safe, mode):
    path = make_emulator(safe / "bin")
    os.chmod(safe / "bin", mode)
    refused(path, match="the directory %s, which holds it, is writable by group or others (mode %04o)"
            % (safe / "bin", mode))


def test_a_directory_owned_by_another_user_on_the_way_is_refused(safe):
    path = make_emulator(safe / "theirs" / "bin")
    os.chown(safe / "theirs", OTHER_UID, -1)
    refused(path, match="the directory %s is owned by uid %d" % (safe / "theirs", OTHER_UID))


def test_an_ancestor_writable_by_others_must_be_sticky(safe):
    path = make_emulator(safe / "open" / "bin")
    os.chmod(safe / "open", 0o777)
    refused(path, match="the directory %s is writable by group or others (mode 0777) and not sticky"
            % (safe / "open"))
    os.chmod(safe / "open", 0o1777)   # like /tmp: nobody may rename root's bin there
    assert require(path, [path]) == path


def test_a_symlink_to_an_untrusted_file_is_refused_naming_the_target(safe):
    target = make_emulator(safe / "real", mode=0o777)
    link = safe / "qemu-system-aarch64"
    link.symlink_to(target)
    refused(str(link), match="%s (where %s leads) is writable by group or others (mode 0777)" % (target, link))
    os.chmod(target, 0o755)
    assert require(str(link), [str(link)]) == target


def test_a_symlink_owned_by_another_user_is_refused(safe):
    target = make_emulator(safe / "real")
    link = safe / "qemu-system-aarch64"
    link.symlink_to(target)
    os.lchown(link, OTHER_UID, -1)
    refused(str(link), match="the symbolic link %s is owned by uid %d" % (link, OTHER_UID))


def test_a_directory_symlink_is_followed_and_every_directory_checked(safe):
    # a safe-looking path whose directory is a link to a writable directory
    writable = safe / "writable"
    make_emulator(writable)
    os.chmod(writable, 0o777)
    (safe / "bin").symlink_to(writable)
    path = str(safe / "bin" / "qemu-system-aarch64")
    refused(path, match="the directory %s, which holds it, is writable by group or others" % writable)
    # a link to a safe directory, but kept in a directory others may change (they could point it elsewhere)
    good = safe / "good"
    make_emulator(good)
    (writable / "bin").symlink_to(good)
    refused(str(writable / "bin" / "qemu-system-aarch64"),
            match="the directory %s is writable by group or others (mode 0777) and not sticky" % writable)
    # relative links with .. resolve as the kernel does
    (safe / "rel").symlink_to("good/../good")
    assert require(str(safe / "rel" / "qemu-system-aarch64"), [str(safe / "rel" / "qemu-system-aarch64")]) == \
        str(good / "qemu-system-aarch64")


def test_a_file_that_is_not_regular_is_refused(safe):
    directory = safe / "qemu-dir"
    directory.mkdir()
    refused(str(directory), match="%s is not a regular file" % directory)
    fifo = safe / "qemu-fifo"
    os.mkfifo(fifo, 0o755)
    refused(str(fifo), match="%s is not a regular file" % fifo)
    assert refused("/dev/null", match="/dev/null is not a regular file")


def test_missing_relative_and_looping_paths_are_refused(safe):
    refused(str(safe / "no-such-qemu"), match="%s does not exist" % (safe / "no-such-qemu"))
    refused("qemu-system-aarch64", match="'qemu-system-aarch64' is not an absolute path")
    (safe / "a").symlink_to(safe / "b")
    (safe / "b").symlink_to(safe / "a")
    refused(str(safe / "a"), match="more than 40 symbolic links on the way")


def test_listed_by_its_real_path_is_trusted(safe):
    target = make_emulator(safe / "real")
    (safe / "bin").mkdir()
    os.chmod(safe / "bin", 0o755)
    listed_link = safe / "bin" / "qemu-system-aarch64"
    listed_link.symlink_to(target)
    assert require(target, [str(listed_link)]) == target
    # .. and // in the domain's path are the same path
    assert require(str(safe / "bin") + "/../real//qemu-system-aarch64", [target]) == target


def test_the_emulator_of_the_user_running_the_check_is_trusted(tmp_path):
    """As uid OTHER_UID: its own file in its own directory is trusted, root's too, a third user's is not."""
    base = tempfile.mkdtemp(prefix="armvirt-trust-", dir="/tmp")   # /tmp is sticky; tmp_path's parents are 0700
    try:
        os.chmod(base, 0o755)
        mine = pathlib.Path(base) / "mine"
        mine.mkdir()
        os.chown(mine, OTHER_UID, -1)
        own = make_emulator(mine, "own", owner=OTHER_UID)
        roots = make_emulator(mine, "roots")
        third = make_emulator(mine, "third", owner=THIRD_UID)
        # the checkout may sit where that user cannot read (fresh-ci's is 0700): it gets a copy of the module,
        # which is standard library only
        shutil.copy(emulator_trust.__file__, os.path.join(base, "emulator_trust.py"))
        code = ("import sys; sys.path.insert(0, %r)\n"
                "import emulator_trust as t\n"
                "for path in sys.argv[1:]:\n"
                "    try:\n        print(t.require(path, [path]))\n"
                "    except t.UntrustedEmulator as exc:\n        print(exc.reason)\n") % base
        # the system's Python: the one running the tests may live where that user cannot read
        proc = subprocess.run([SYSTEM_PYTHON, "-c", code, own, roots, third], user=OTHER_UID, cwd="/",
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines() == [
            own, roots, "the file %s is owned by uid %d, not by root or the user running the check (uid %d)"
            % (third, THIRD_UID, OTHER_UID)]
    finally:
        shutil.rmtree(base)


def test_the_real_libvirt_lists_debians_emulator(libvirt_daemon_of_the_test, qemu_binary):
    import libvirtd
    caps = libvirtd.virsh("capabilities").stdout
    assert listed(caps, "qemu") == [qemu_binary]
    assert require(qemu_binary, listed(caps, "qemu")) == os.path.realpath(qemu_binary)


FILE_MODES = (0o700, 0o755, 0o775, 0o757, 0o777, 0o4755)
DIR_MODES = (0o700, 0o755, 0o775, 0o757, 0o777, 0o1777, 0o3775)
OWNERS = (0, OTHER_UID)


def test_every_combination_of_owners_and_modes(tmp_path):
    """Every file mode x directory mode x file owner x directory owner, named directly and through a root-owned
    symbolic link: trusted exactly when both owners are root (the running user) and neither mode lets group or
    others write. 6 x 7 x 2 x 2 x 2 = 336 cases."""
    links = tmp_path / "links"
    links.mkdir()
    os.chmod(links, 0o755)
    cases = trusted = 0
    for index, (file_mode, dir_mode, file_owner, dir_owner) in enumerate(
            (f, d, fo, do) for f in FILE_MODES for d in DIR_MODES for fo in OWNERS for do in OWNERS):
        directory = tmp_path / ("d%d" % index)
        path = make_emulator(directory, mode=file_mode, owner=file_owner)
        os.chmod(directory, dir_mode)
        os.chown(directory, dir_owner, -1)
        expected = file_owner == 0 and dir_owner == 0 and not (file_mode | dir_mode) & 0o022
        link = links / ("l%d" % index)
        link.symlink_to(path)
        for name in (path, str(link)):
            cases += 1
            try:
                got = require(name, [name]) == path
            except UntrustedEmulator:
                got = False
            assert got == expected, (name, oct(file_mode), oct(dir_mode), file_owner, dir_owner)
            trusted += got
    assert (cases, trusted) == (336, 3 * 2 * 2)   # files 0700, 0755, 4755 x directories 0700, 0755 x two names
