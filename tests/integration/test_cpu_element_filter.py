"""The filter plugin armvirt.cpu.cpu_element: the role's template renders under ansible.builtin.template, to the same
document as the guest_domains action's own rendering, and a request that is not a plan's fails with its reason."""

import json
import os
import pathlib
import subprocess
import sys

import yaml

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import delivery, domain_xml
from ansible_collections.armvirt.cpu.plugins.plugin_utils import domains

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "roles" / "guest_cpu" / "templates" / "domain.xml.j2"
V1 = json.loads((ROOT / "tests" / "fixtures" / "facts" / "neoverse-v1.json").read_text())


def test_the_roles_template_renders_under_ansible_builtin_template(tmp_path):
    plan = delivery.plan([{"name": "sve128", "value": "on"}, {"name": "pmu", "policy": "disable"},
                          {"name": "hw_prop_WRPs", "value": "0x2"}], V1, "maximum", "v1-01",
                         delivery.LibvirtView(None, False, "v1-01", names.FEATURE_VALUE))
    assert plan.errors == []
    variables = dict(name="vm01", memory=2048, vcpus=2, mode="maximum", cpu_features=plan.cpu_features,
                     qemu_cpu_arg=plan.arg, request_cpu_arg=plan.arg, delivery=names.FEATURE_VALUE,
                     qemu_commandline=False, host="v1-01", guest={}, mark_ns=domain_xml.MARK_NS, domain_type="kvm",
                     emulator="/usr/libexec/qemu-kvm")
    expected = domains.load_template().render(**variables)   # the action's own environment
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    dest = tmp_path / "vm01.xml"
    play = [{"name": "render the role's template outside the role", "hosts": "localhost", "gather_facts": False,
             "tasks": [
                 {"name": "render", "ansible.builtin.template": {"src": str(TEMPLATE), "dest": str(dest),
                                                                 "mode": "0644"}},
                 {"name": "not a plan's features", "register": "refused", "ignore_errors": True,
                  "ansible.builtin.debug": {"msg": "{{ [{'name': 'sve'}] | armvirt.cpu.cpu_element('maximum') }}"}},
                 {"name": "report the refusal", "ansible.builtin.debug": {"msg": "REFUSED={{ refused.msg }}"}},
             ]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local",
                           "-e", "@%s" % (tmp_path / "vars.json"),
                           "-e", "ansible_python_interpreter=%s" % sys.executable, str(tmp_path / "play.yml")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    rendered = dest.read_text()
    assert rendered == expected
    assert ("  <cpu mode='maximum'>\n    <feature policy='require' name='sve128' value='on'/>\n"
            "    <feature policy='disable' name='pmu'/>\n"
            "    <feature policy='require' name='hw_prop_WRPs' value='2'/>\n  </cpu>\n") in rendered
    assert "<emulator>/usr/libexec/qemu-kvm</emulator>" in rendered
    assert "cpu_element takes a plan's cpu_features" in output and "Traceback" not in output
