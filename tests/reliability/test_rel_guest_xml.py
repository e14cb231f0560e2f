"""Guest XML writing (guest_domains): a document that fails libvirt's schema never replaces the old file, and a
writer killed at any point leaves the old or the new file whole.

The first case without an old file is tests/unit/plugins/action/test_guest_domains_action.py
(test_a_document_failing_the_schema_is_never_written); here an old file exists and must stay byte-identical.
"""

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import yaml

from ansible_collections.armvirt.cpu.plugins.modules import guest_domains
from rel_helpers import load_fact

KILLS = 100


def _looping_writer(directory, started):
    small, big = "<domain>old</domain>\n", "<domain>" + "new " * 50000 + "</domain>\n"
    guest_domains.write_documents(directory, [("g", small)], False, False)
    started.set()
    while True:
        guest_domains.write_documents(directory, [("g", big)], False, False)
        guest_domains.write_documents(directory, [("g", small)], False, False)


def test_killed_writer_leaves_the_old_or_the_new_file(tmp_path):
    directory = str(tmp_path / "domains")
    allowed = {b"<domain>old</domain>\n", ("<domain>" + "new " * 50000 + "</domain>\n").encode()}
    context = multiprocessing.get_context("fork")
    rng = random.Random(99)
    for _kill in range(KILLS):
        started = context.Event()
        child = context.Process(target=_looping_writer, args=(directory, started))
        child.start()
        assert started.wait(10)
        time.sleep(rng.uniform(0, 0.01))
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        with open(os.path.join(directory, "g.xml"), "rb") as handle:
            assert handle.read() in allowed
        leftovers = [name for name in os.listdir(directory) if name.endswith(".tmp")]
        assert len(leftovers) <= 1, "only the writer just killed may have left one; the next writer clears it"
    guest_domains.write_documents(directory, [("g", "<domain>old</domain>\n")], False, False)
    assert sorted(os.listdir(directory)) == [guest_domains.LOCK_NAME, "g.xml"]


@pytest.mark.skipif(not os.path.isfile("/usr/share/libvirt/schemas/domain.rng"),
                    reason="libvirt's schemas (Debian libvirt0) are not installed")
def test_document_failing_the_schema_leaves_the_old_file_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    old = out / "web1.xml"
    old.write_bytes(b"<domain type='kvm'><name>web1</name><!-- the running guest's XML --></domain>\n")
    before = os.stat(str(old))
    template = tmp_path / "bad.xml.j2"
    template.write_text("<domain type='kvm'><name>{{ name }}</name><no-such-element/></domain>\n")
    result_file = tmp_path / "result.json"
    facts = {"arm_cpu_props": load_fact("neoverse-v1"), "cacheable": True}
    tasks = [{"name": "facts", "ansible.builtin.set_fact": facts},
             {"name": "domains", "register": "r", "ignore_errors": True,
              "armvirt.cpu.guest_domains": {"output_dir": str(out), "template": str(template), "libvirt_check": False,
                                            "features": [{"name": "feat_RAS", "value": "1.0"}],
                                            "guests": [{"name": "web1", "memory": 1024, "vcpus": 2}]}},
             {"name": "save", "ansible.builtin.copy": {"content": "{{ r | to_json }}", "dest": str(result_file)}}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                           "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
                          capture_output=True, text=True, timeout=180,
                          env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0"), check=False)
    assert result_file.exists(), proc.stdout + proc.stderr
    result = json.loads(result_file.read_text())
    assert result["failed"] is True
    assert {error["rule"] for error in result["errors"]} == {"schema"}
    after = os.stat(str(old))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(os.listdir(str(out))) == ["web1.xml"]
