"""domain's virsh backend through a real AnsibleModule.run_command and the real virsh, against libvirt's test
driver (test:///default, built into the client library: a running domain "test", no daemon needed)."""

import os
import shutil
import time

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import domain
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
    return domain.VirshConnection(run_command(), URI, virsh, 10.0)


def test_virsh_lists_reads_and_states_the_test_drivers_domain(conn):
    [(name, uuid)] = conn.domains()
    assert conn.backend == "virsh" and name == "test" and domain.is_uuid(uuid) and conn.find("test") == uuid
    xml = conn.inactive_xml(uuid)
    assert xml.lstrip().startswith("<domain type='test'") and "<name>test</name>" in xml
    assert "<name>test</name>" in conn.live_xml(uuid)
    assert conn.state(uuid) == "running" and domain.is_active(conn.state(uuid))


def test_an_unknown_domain_is_domain_not_found(conn):
    with pytest.raises(domain.DomainNotFound, match=r"^domain nope is not defined at test:///default$"):
        conn.find("nope")
    unknown = "11111111-2222-3333-4444-000000000000"
    with pytest.raises(domain.DomainNotFound, match=r"^domain %s is not defined at test:///default$"
                       % unknown):
        conn.inactive_xml(unknown)
    with pytest.raises(domain.LibvirtError, match=r"^test:///default: 'test' is not a domain UUID$"):
        conn.inactive_xml("test")   # virsh would take it as an id, a UUID or a name: only UUIDs are passed


# libvirt refuses a newline in a name ("invalid char in name"); it takes leading blanks, commas, quotes, non-ASCII,
# and a name that is a number. The test driver reads these domains from the file and runs them with ids 1, 2, 3.
ODD = '  spaced, "odd" & \u00e9 -c x  '
NODE = """<node>
  <domain type='test'><name>web</name><uuid>11111111-2222-3333-4444-555555555555</uuid><memory>1024</memory>
    <os><type>hvm</type></os></domain>
  <domain type='test'><name>1</name><uuid>11111111-2222-3333-4444-666666666666</uuid><memory>1024</memory>
    <os><type>hvm</type></os></domain>
  <domain type='test'><name>%s</name><uuid>11111111-2222-3333-4444-777777777777</uuid><memory>1024</memory>
    <os><type>hvm</type></os></domain>
</node>
""" % ODD.replace("&", "&amp;")


@pytest.fixture
def odd(virsh, tmp_path):
    path = tmp_path / "node.xml"
    path.write_text(NODE, encoding="utf-8")
    return domain.VirshConnection(run_command(), "test://" + str(path), virsh, 10.0)


def test_domains_are_listed_and_addressed_by_uuid_whatever_their_names(odd):
    assert odd.domains() == [(ODD, "11111111-2222-3333-4444-777777777777"),
                             ("1", "11111111-2222-3333-4444-666666666666"),
                             ("web", "11111111-2222-3333-4444-555555555555")]
    # each UUID reads its own domain: the name "1" is not the domain with id 1 (web), the odd name is whole
    for name, uuid in odd.domains():
        assert odd.find(name) == uuid
        assert "<uuid>%s</uuid>" % uuid in odd.inactive_xml(uuid)
    with pytest.raises(domain.DomainNotFound):
        odd.find(ODD.strip())                     # what a line-based listing stripped to is not a domain


def test_what_virsh_does_with_names_is_why_they_are_not_passed(odd, virsh):
    """virsh takes an argument as an id first: "dumpxml 1" is web, and "list --name" lines lose nothing here only
    because libvirt forbids newlines; stripping them (as the line-based listing did) loses the blanks."""
    out = run_command()([virsh, "-q", "-c", odd.uri, "dumpxml", "--", "1"])[1]
    assert "<name>web</name>" in out
    lines = run_command()([virsh, "-q", "-c", odd.uri, "list", "--all", "--name"])[1].splitlines()
    assert ODD in lines and ODD.strip() != ODD


def test_virsh_errors_are_quoted_without_its_error_prefix(conn):
    with pytest.raises(domain.LibvirtError) as raised:
        conn.define("<domain type='test'><name>broken</name>")
    message = str(raised.value)
    assert message.startswith("test:///default: virsh define failed: ") and "error:" not in message


def test_a_virsh_that_hangs_fails_at_the_deadline(tmp_path):
    slow = tmp_path / "virsh"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(domain.LibvirtError,
                       match=r"^test:///default: virsh connect got no answer within 0\.5s$"):
        domain.VirshConnection(run_command(), URI, str(slow), 0.5)
    assert time.monotonic() - started < 5


def test_a_virsh_that_cannot_run_says_so(tmp_path):
    missing = str(tmp_path / "virsh")
    with pytest.raises(domain.LibvirtError) as raised:
        domain.VirshConnection(run_command(), URI, missing, 5.0)
    assert str(raised.value) == ("test:///default: cannot run %s: [Errno 2] No such file or directory: '%s'"
                                 % (missing, missing))


def test_connect_falls_back_to_virsh_when_asked(virsh):
    conn = domain.connect(run_command(), URI, backend="virsh", timeout=10.0)
    assert conn.backend == "virsh" and conn.virsh == virsh and [name for name, _uuid in conn.domains()] == ["test"]
