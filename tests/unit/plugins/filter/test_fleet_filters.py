"""The fleet filters: called directly, then through a real ansible-playbook run over several inventory hosts."""

import json
import pathlib

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.armvirt.cpu.plugins.filter import (
    fleet_baseline, fleet_classes, fleet_facts, fleet_placement, fleet_recommend)
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import baseline, classes, grouping

ROOT = pathlib.Path(__file__).resolve().parents[4]
FLEET_JSON = ROOT / "tests" / "fixtures" / "fleet" / "small-fleet.json"
SMALL = json.loads(FLEET_JSON.read_text())
MODULES = (fleet_baseline, fleet_classes, fleet_placement, fleet_recommend, fleet_facts)
FILTERS = tuple(module.__name__.rsplit(".", 1)[1] for module in MODULES)


# direct calls

def test_each_file_registers_its_own_filter():
    for module, name in zip(MODULES, FILTERS):
        assert list(module.FilterModule().filters()) == [name]


EXPECTS_HOSTS = "expected a mapping of host name to arm_cpu_props fact, got "


@pytest.mark.parametrize("call, message", [
    (lambda: fleet_baseline.fleet_baseline(["a1"]), "fleet_baseline: " + EXPECTS_HOSTS + "a list"),
    (lambda: fleet_classes.fleet_classes("a1"), "fleet_classes: " + EXPECTS_HOSTS + "a string"),
    (lambda: fleet_placement.fleet_placement({"mode": "maxi", "features": []}, SMALL),
     "fleet_placement: policy: at mode: 'maxi' is not one of host-passthrough, maximum"),
    (lambda: fleet_placement.fleet_placement({"features": []}, None), "fleet_placement: " + EXPECTS_HOSTS + "null"),
    (lambda: fleet_recommend.fleet_recommend({"u1": SMALL["u1"]}),
     "fleet_recommend: fleet: nothing to recommend: no supported host among 1"),
    (lambda: fleet_facts.fleet_facts(["a1"]), "fleet_facts: expected hostvars, got list"),
])
def test_errors_are_ansible_filter_errors(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()


def test_fleet_facts_gives_null_for_hosts_without_the_fact():
    hostvars = {"a1": {"ansible_facts": {"arm_cpu_props": SMALL["a1"]}}, "s1": {"arm_cpu_props": SMALL["b1"]},
                "bare": {"ansible_facts": {}}, "odd": {"ansible_facts": {"arm_cpu_props": "text"}}}
    assert fleet_facts.fleet_facts(hostvars, ["a1", "s1", "bare", "odd", "unknown"]) == {
        "a1": SMALL["a1"], "s1": SMALL["b1"], "bare": None, "odd": None, "unknown": None}
    assert list(fleet_facts.fleet_facts(hostvars)) == ["a1", "s1", "bare", "odd"]
    assert fleet_facts.fleet_facts(hostvars, "a1") == {"a1": SMALL["a1"]}


# through Ansible: seven local hosts, facts delivered the way a module delivers them (ansible_facts)

FACT_MODULE = '''#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule
module = AnsibleModule(argument_spec={"fact": {"type": "dict", "required": True}})
module.exit_json(changed=False, ansible_facts={"arm_cpu_props": module.params["fact"]})
'''

INVENTORY = """
[arm]
a1
a2
b1
t1
u1
s1
gone
[arm:vars]
ansible_connection=local
"""

PLAYBOOK = """
- hosts: arm
  gather_facts: false
  vars:
    fleet: "{{ lookup('file', fleet_json) | from_json }}"
  tasks:
    - name: Deliver each host's fact as a module result (gone gets none)
      fixture_fact:
        fact: "{{ fleet[inventory_hostname] }}"
      when: inventory_hostname in fleet

    - name: s1 gets a1's fact as a plain host variable instead
      ansible.builtin.set_fact:
        arm_cpu_props: "{{ fleet['a1'] }}"
      when: inventory_hostname == 's1'

    - name: Collect once
      ansible.builtin.set_fact:
        arm_facts: "{{ hostvars | armvirt.cpu.fleet_facts(ansible_play_hosts_all) }}"
      run_once: true

    - name: Everything the fleet filters say
      ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ result | to_json }}"
      run_once: true
      delegate_to: localhost
      vars:
        baseline: "{{ arm_facts | armvirt.cpu.fleet_baseline('rack7') }}"
        policy: "{{ baseline | armvirt.cpu.fleet_recommend }}"
        with_facts: "{{ ['a1', 'a2', 'b1'] }}"
        result:
          facts: "{{ arm_facts }}"
          baseline: "{{ baseline }}"
          baseline_zip_default: >-
            {{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, ['ansible_facts'])
                    | map(attribute='arm_cpu_props', default={}))) | armvirt.cpu.fleet_baseline(label='rack7') }}
          baseline_extract: >-
            {{ dict(with_facts | zip(with_facts | map('extract', hostvars, ['ansible_facts', 'arm_cpu_props'])))
               | armvirt.cpu.fleet_baseline }}
          classes: "{{ arm_facts | armvirt.cpu.fleet_classes }}"
          placement: >-
            {{ {'features': [{'name': 'hw_prop_WRPs', 'value': '5'}, {'name': 'hw_prop_API', 'value': 'pauth'}]}
               | armvirt.cpu.fleet_placement(arm_facts) }}
          policy: "{{ policy }}"
          policy_errors: "{{ policy.features | armvirt.cpu.cpu_feature_errors(baseline) }}"
          cpu_arg: "{{ policy.features | armvirt.cpu.qemu_cpu_arg(policy.mode, baseline) }}"
"""


@pytest.fixture(scope="module")
def play(tmp_path_factory, playbook_out):
    files = {"play.yml": PLAYBOOK, "inventory.ini": INVENTORY, "library/fixture_fact.py": FACT_MODULE}
    return playbook_out(tmp_path_factory.mktemp("fleet_play"), files, "-i", "inventory.ini",
                        "-e", "fleet_json=%s" % FLEET_JSON)


EXPECTED_FACTS = dict(SMALL, s1=SMALL["a1"], gone=None)


def test_playbook_collects_facts_with_null_for_the_host_without(play):
    assert play["facts"] == EXPECTED_FACTS


def test_playbook_baseline_equals_the_direct_call(play):
    expected = baseline.baseline(EXPECTED_FACTS, "rack7")
    assert play["baseline"] == expected
    # the zip/extract form only sees ansible_facts: s1's fact is a plain host variable, so s1 has none there
    assert play["baseline_zip_default"] == baseline.baseline(dict(EXPECTED_FACTS, s1=None), "rack7")
    assert expected["members"] == ["a1", "a2", "b1", "s1", "t1"]
    assert expected["excluded"][0] == {"host": "gone", "reason": grouping.NO_FACT}
    # t1 has only the boolean fallback: sve is the field ID_AA64PFR0_EL1.SVE; pmu=on gives the host's own PMUVer,
    # which no host here reports, so that field is unknown (with the reason) and not in the baseline
    assert sorted(expected["properties"]) == ["SYSREG_ID_AA64PFR0_EL1_SVE", "sve"]    # the switch said by its field
    assert sorted(expected["unknown"]["SYSREG_ID_AA64DFR0_EL1_PMUVer"]) == ["a1", "a2", "b1", "s1", "t1"]
    assert play["baseline_extract"] == baseline.baseline({host: SMALL[host] for host in ("a1", "a2", "b1")})
    assert play["baseline_extract"]["properties"]["SYSREG_ID_AA64DFR0_EL1_WRPs"]["supported_values"] == [
        "0x2-0x3", "0x5"]


def test_playbook_classes_placement_and_policy(play):
    assert play["classes"] == classes.classes(EXPECTED_FACTS)
    assert play["classes"]["hosts"]["s1"] == play["classes"]["hosts"]["a1"] == play["classes"]["hosts"]["a2"]
    placement = play["placement"]
    assert placement["ok"] == ["a1", "a2", "b1", "s1"] and placement["failed"] == ["gone", "t1", "u1"]
    assert placement["hosts"]["s1"]["ok"] is True
    assert [error["rule"] for error in placement["hosts"]["t1"]["errors"]] == ["unknown-property", "untranslatable"]
    # in canonical names: sve off is ID_AA64PFR0_EL1.SVE 0 (b1 has no SVE); the baseline renders them as they are
    assert play["policy"] == {"mode": "host-passthrough", "features": [
        {"name": "SYSREG_ID_AA64PFR0_EL1_SVE", "policy": "require", "value": "0x0"}]}
    assert play["policy_errors"] == [] and play["cpu_arg"] == "host,SYSREG_ID_AA64PFR0_EL1_SVE=0x0"


def test_adhoc_bad_input_fails_with_a_message_and_no_traceback(ansible_cli):
    done = ansible_cli("ansible", "localhost", "-m", "debug", "-a", "msg={{ ['a1'] | armvirt.cpu.fleet_baseline }}")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "fleet_baseline: expected a mapping of host name to arm_cpu_props fact, got a list" in output
    assert "Traceback" not in output
