"""commands.run through a real AnsibleModule.run_command: the C locale, no expansion, the deadline, the errors."""

import os
import time

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._common import commands
from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils.module_runner import run_command


@pytest.fixture
def run():
    return run_command()


def test_the_command_runs_in_the_c_locale_and_returns_its_status_and_both_streams(run):
    rc, out, err = commands.run(run, ["sh", "-c", 'echo "$LC_ALL $LANG"; echo oops >&2; exit 3'], 5)
    assert (rc, out, err) == (3, "C C\n", "oops\n")


def test_arguments_are_passed_as_they_are(run):
    rc, out, _err = commands.run(run, ["printf", "%s|", "$HOME", "~", "a b", "dom'1"], 5)
    assert rc == 0 and out == "$HOME|~|a b|dom'1|"


def test_a_command_past_its_deadline_is_killed_and_raises(run, tmp_path):
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(commands.CommandTimeout, match=r"^sh got no answer within 0\.5s$"):
        commands.run(run, ["sh", "-c", 'echo $$ > "$0"; exec sleep 30', str(pid_file)], 0.5)
    assert time.monotonic() - started < 5
    pid = int(pid_file.read_text())
    assert not os.path.exists("/proc/%d" % pid), "the timed-out command still runs"


def test_a_command_that_closes_its_output_and_keeps_running_is_killed_too(run):
    started = time.monotonic()
    with pytest.raises(commands.CommandTimeout):
        commands.run(run, ["sh", "-c", "exec sleep 30 >/dev/null 2>&1"], 0.5)
    assert time.monotonic() - started < 5


def test_a_command_within_its_deadline_is_left_alone(run):
    deadline = commands.Deadline(0.2)
    rc, out, _err = run(["echo", "done"], before_communicate_callback=deadline.arm)
    deadline.disarm()
    time.sleep(0.4)   # past the deadline: the disarmed timer does nothing
    assert (rc, out, deadline.expired) == (0, "done\n", False)


def test_a_missing_program_raises_oserror_naming_it(run, tmp_path):
    missing = str(tmp_path / "virsh")
    with pytest.raises(OSError) as raised:
        commands.run(run, [missing, "--version"], 5)
    assert str(raised.value) == "[Errno 2] No such file or directory: '%s'" % missing


def test_libvirt_caps_reports_a_timeout_and_a_missing_program_in_stderr(run, tmp_path):
    assert caps._run(run, ["sleep", "30"], 0.3) == (None, "", "no answer within 0.3s")
    rc, out, err = caps._run(run, [str(tmp_path / "nothing")], 5)
    assert (rc, out) == (None, "") and err.startswith("[Errno 2] No such file or directory")


def test_daemon_version_of_a_virsh_that_hangs_says_so(run, tmp_path):
    virsh = tmp_path / "virsh"
    virsh.write_text("#!/bin/sh\nexec sleep 30\n")
    virsh.chmod(0o755)
    assert caps.daemon_version(run, str(virsh), "qemu:///system", timeout=0.3) == (
        None, "virsh -c qemu:///system version --daemon: no answer within 0.3s")
