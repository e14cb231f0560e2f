"""libvirt_domain's virsh backend through a real AnsibleModule.run_command and the real virsh, against libvirt's test
driver (test:///default, built into the client library: a running domain "test", no daemon needed)."""

import os
import shutil
import time

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils import libvirt_domain
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils.module_runner import run_command

URI = "test:///default"


@pytest.fixture
def virsh():
    path = shutil.which("virsh")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("virsh (Debian libvirt-clients) is missing in CI: scripts/setup.sh installs it")
        pytest.skip("virsh is not installed")
    return path


@pytest.fixture
def conn(virsh):
    return libvirt_domain.VirshConnection(run_command(), URI, virsh, 10.0)


def test_virsh_lists_reads_and_states_the_test_drivers_domain(conn):
    assert conn.backend == "virsh" and conn.names() == ["test"]
    xml = conn.inactive_xml("test")
    assert xml.lstrip().startswith("<domain type='test'") and "<name>test</name>" in xml
    assert "<name>test</name>" in conn.live_xml("test")
    assert conn.state("test") == "running" and libvirt_domain.is_active(conn.state("test"))


def test_an_unknown_domain_is_domain_not_found(conn):
    with pytest.raises(libvirt_domain.DomainNotFound, match=r"^domain nope is not defined at test:///default$"):
        conn.inactive_xml("nope")


def test_virsh_errors_are_quoted_without_its_error_prefix(conn):
    with pytest.raises(libvirt_domain.LibvirtError) as raised:
        conn.define("<domain type='test'><name>broken</name>")
    message = str(raised.value)
    assert message.startswith("test:///default: virsh define failed: ") and "error:" not in message


def test_a_virsh_that_hangs_fails_at_the_deadline(tmp_path):
    slow = tmp_path / "virsh"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(libvirt_domain.LibvirtError,
                       match=r"^test:///default: virsh connect got no answer within 0\.5s$"):
        libvirt_domain.VirshConnection(run_command(), URI, str(slow), 0.5)
    assert time.monotonic() - started < 5


def test_a_virsh_that_cannot_run_says_so(tmp_path):
    missing = str(tmp_path / "virsh")
    with pytest.raises(libvirt_domain.LibvirtError) as raised:
        libvirt_domain.VirshConnection(run_command(), URI, missing, 5.0)
    assert str(raised.value) == ("test:///default: cannot run %s: [Errno 2] No such file or directory: '%s'"
                                 % (missing, missing))


def test_connect_falls_back_to_virsh_when_asked(virsh):
    conn = libvirt_domain.connect(run_command(), URI, backend="virsh", timeout=10.0)
    assert conn.backend == "virsh" and conn.virsh == virsh and conn.names() == ["test"]
