"""The filters: called directly, then through real ansible-playbook and ansible runs (tests/ecosystem renders their docs)."""

import json
import pathlib

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.armvirt.cpu.plugins.filter import cpu_feature_check, cpu_feature_errors, qemu_cpu_arg

ROOT = pathlib.Path(__file__).resolve().parents[4]
FACTS = ROOT / "tests" / "fixtures" / "facts"
V1 = json.loads((FACTS / "neoverse-v1.json").read_text())


# direct calls

def test_filter_modules_register_their_filter():
    for module in (qemu_cpu_arg, cpu_feature_check, cpu_feature_errors):
        name = module.__name__.rsplit(".", 1)[1]
        assert list(module.FilterModule().filters()) == [name]


def test_qemu_cpu_arg_filter_raises_ansible_filter_error_with_all_messages():
    with pytest.raises(AnsibleFilterError) as caught:
        qemu_cpu_arg.qemu_cpu_arg([{"name": "feat_RAS", "value": "3.0"}, {"name": "sve", "value": False}],
                                  "host-passthrough", V1, "v1-01")
    text = str(caught.value)
    assert "v1-01: feat_RAS=3.0 is not supported" in text and 'value: "off"' in text


def test_check_and_errors_filters_return_records_and_messages():
    features = [{"name": "feat_RAS", "value": "3.0"}]
    [record] = cpu_feature_check.cpu_feature_check(features, V1, "v1-01")
    assert set(record) == {"host", "feature", "value", "allowed", "rule", "message"}
    assert cpu_feature_errors.cpu_feature_errors(features, V1, "v1-01") == [record["message"]]
    assert cpu_feature_errors.cpu_feature_errors([{"name": "feat_RAS", "value": "1.0"}], V1) == []


# through Ansible

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    v1: "{{ lookup('file', facts_dir ~ '/neoverse-v1.json') | from_json }}"
    baseline: "{{ lookup('file', facts_dir ~ '/fleet-baseline.json') | from_json }}"
    good:
      - {name: feat_RAS, value: "1.1_BASE"}
      - {name: hw_prop_API, policy: disable}
      - {name: hw_prop_WRPs, value: "0x2"}
      - {name: pmu, policy: optional}
    trapped:
      - {name: sve, value: off}
      - {name: hw_prop_WRPs, value: 010}
  tasks:
    - ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ result | to_json }}"
      vars:
        result:
          plain: "{{ good | armvirt.cpu.qemu_cpu_arg }}"
          checked: "{{ good | armvirt.cpu.qemu_cpu_arg('host-passthrough', v1) }}"
          maximum: "{{ good | armvirt.cpu.qemu_cpu_arg(mode='maximum', props=v1, host='v1-01') }}"
          good_errors: "{{ good | armvirt.cpu.cpu_feature_errors(v1, 'v1-01') }}"
          trapped_errors: "{{ trapped | armvirt.cpu.cpu_feature_errors(v1, 'v1-01') }}"
          trapped_rules: "{{ trapped | armvirt.cpu.cpu_feature_check(v1) | map(attribute='rule') | list }}"
          fleet: "{{ [{'name': 'feat_RAS', 'value': '1.1'}] | armvirt.cpu.cpu_feature_check(baseline) }}"
"""


@pytest.fixture(scope="module")
def playbook_result(tmp_path_factory, playbook_out):
    return playbook_out(tmp_path_factory.mktemp("play"), {"play.yml": PLAYBOOK}, "-e", "facts_dir=%s" % FACTS)


def test_playbook_qemu_cpu_arg(playbook_result):
    assert playbook_result["plain"] == "host,feat_RAS=1.1_BASE,hw_prop_API=off,hw_prop_WRPs=0x2"
    assert playbook_result["checked"] == "host,feat_RAS=1.1_base,hw_prop_API=off,hw_prop_WRPs=2"
    assert playbook_result["maximum"] == "max,feat_RAS=1.1_base,hw_prop_API=off,hw_prop_WRPs=2"


def test_playbook_yaml_traps_come_back_with_the_quoted_form(playbook_result):
    assert playbook_result["good_errors"] == []
    assert playbook_result["trapped_rules"] == ["value-not-string", "value-not-string"]
    off, octal = playbook_result["trapped_errors"]
    assert off.startswith("v1-01: sve has value False") and 'value: "off"' in off
    assert 'value: "8"' in octal and "octal" in octal


def test_playbook_fleet_records(playbook_result):
    [record] = playbook_result["fleet"]
    assert record["host"] == "fleet-arm64" and record["allowed"] == ["0.0", "1.0"]
    assert record["rule"] == "value-not-supported" and record["value"] == "1.1"


def test_adhoc_debug_renders_the_cpu_arg(ansible_cli):
    expr = ("{{ [{'name': 'feat_RAS', 'value': '1.0'}, {'name': 'sve', 'policy': 'forbid'}]"
            " | armvirt.cpu.qemu_cpu_arg }}")
    done = ansible_cli("ansible", "localhost", "-m", "debug", "-a", "msg=" + expr)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"msg": "host,feat_RAS=1.0,sve=off"' in done.stdout


def test_adhoc_invalid_request_fails_with_every_message_and_no_traceback(ansible_cli):
    expr = ("{{ [{'name': 'feat_RAS', 'value': '1.0,sve=on'}, {'name': 'hw_prop_WRPs', 'value': '010'}]"
            " | armvirt.cpu.qemu_cpu_arg('host-passthrough', props) }}")
    props = json.loads((FACTS / "neoverse-n1.json").read_text())
    done = ansible_cli("ansible", "localhost", "-m", "debug", "-a", "msg=" + expr, "-e", json.dumps({"props": props}))
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "invalid guest CPU request" in output and "not a plain token" in output and "leading zero" in output
    assert "Traceback" not in output
