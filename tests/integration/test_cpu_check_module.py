"""armvirt.cpu.cpu_check documents itself. What it does against Debian's real QEMU and a simulated KVM host is the
integration target tests/integration/targets/cpu_check (ansible-test integration, scripts/integration)."""

import os
import subprocess


def test_the_module_documents_itself():
    proc = subprocess.run(["ansible-doc", "-t", "module", "armvirt.cpu.cpu_check"], capture_output=True, text=True,
                          timeout=60, check=False, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    assert proc.returncode == 0, proc.stderr
    for text in ("cpu_arg", "features", "accepted", "expanded", "method", "cached", "paused start"):
        assert text in proc.stdout, text
