"""Every policy file the collection writes is taken by every reader of policies.

The files come from the real writer (plugin_utils._artifacts.write_artifacts: policies/fleet.yml and one file per
compatibility class) run on the fleet fixture; the readers are the role's and guest_domains' loader, the
cpu_policy_errors filter (the apply playbook's check), fleet_placement, cpu_feature_check and qemu_cpu_arg on its
features, and the modules domain_cpu_info (policy) and domain_cpu (the policy's keys as options, as the apply
playbook passes them), run on libvirt's test driver.
"""

import datetime
import json
import pathlib

import pytest
import yaml

from ansible.module_utils.testing import patch_module_args
from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.filter import (
    cpu_feature_check, cpu_policy_errors, fleet_placement, qemu_cpu_arg)
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import policy
from ansible_collections.armvirt.cpu.plugins.modules import domain_cpu, domain_cpu_info
from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, _fleet_view, policy_files

ROOT = pathlib.Path(__file__).resolve().parents[3]
FACTS = json.loads((ROOT / "tests" / "fixtures" / "fleet" / "small-fleet.json").read_text())
HOSTS = ("a1", "a2", "b1", "t1")
TEST_DRIVER = "test:///default"   # libvirt's built-in test driver: one running domain, "test"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """``{pool: (path, document)}`` of the policy files the fleet fixture gets, and the state they came from."""
    directory = tmp_path_factory.mktemp("artifacts")
    hostvars = {host: {"ansible_facts": {"arm_cpu_props": FACTS[host]},
                       "armvirt_cpu_gather": {"status": "ok", "error": "", "gathered_at": "2026-11-29T16:00:00Z"}}
                for host in HOSTS}
    now = datetime.datetime(2026, 11, 29, 16, 14, tzinfo=datetime.timezone.utc)
    state = _fleet_view.view(hostvars, list(HOSTS), 0, now=now)
    paths = _artifacts.write_artifacts(str(directory), state)[0]["policies"]
    assert _fleet_view.FLEET_POOL in paths and len(paths) > 2   # the fleet and several classes
    return {pool: (path, yaml.safe_load(pathlib.Path(path).read_text())) for pool, path in paths.items()}, state


def pool_hosts(pool, state):
    if pool == _fleet_view.FLEET_POOL:
        return state["baseline"]["members"]
    return state["classes"]["classes"][pool]["hosts"]


def run_module(module, args, capsys):
    with patch_module_args(dict(args, _ansible_check_mode=True)):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def test_the_writer_writes_what_the_definition_calls_a_policy(written):
    for _pool, (path, document) in written[0].items():
        assert document["description"] and policy.check(document, path) == []


def test_the_roles_loader_and_the_apply_playbooks_check_take_them(written):
    for _pool, (path, document) in written[0].items():
        loaded = policy_files.load(path, modes=("host-passthrough", "maximum"))
        assert (loaded.mode, loaded.features) == (document["mode"], document["features"])
        assert cpu_policy_errors.cpu_policy_errors(document, path) == []


def test_fleet_placement_takes_them_and_places_each_on_its_pool(written):
    documents, state = written
    for pool, (_path, document) in documents.items():
        placed = fleet_placement.fleet_placement(document, {host: FACTS[host] for host in HOSTS})
        assert set(pool_hosts(pool, state)) <= set(placed["ok"]), placed["hosts"]


def test_the_feature_filters_take_their_features(written):
    documents, state = written
    for pool, (_path, document) in documents.items():
        for host in pool_hosts(pool, state):
            assert cpu_feature_check.cpu_feature_check(document["features"], FACTS[host], host) == []
            assert qemu_cpu_arg.qemu_cpu_arg(document["features"], document["mode"], FACTS[host], host)


def test_domain_cpu_info_takes_them_as_its_policy(written, capsys):
    documents, state = written
    for pool, (_path, document) in documents.items():
        host = pool_hosts(pool, state)[0]
        result = run_module(domain_cpu_info, {"uri": TEST_DRIVER, "host": host, "props": FACTS[host],
                                              "policy": document}, capsys)
        assert not result.get("failed"), result["msg"]
        assert [entry["name"] for entry in result["domains"]] == ["test"]


def test_domain_cpu_takes_their_keys_as_options(written, capsys):
    documents, state = written
    for pool, (_path, document) in documents.items():
        host = pool_hosts(pool, state)[0]
        options = {key: document[key] for key in ("mode", "model", "features", "delivery") if key in document}
        result = run_module(domain_cpu, dict(options, name="test", uri=TEST_DRIVER, host=host, props=FACTS[host],
                                             libvirt_check=False, confirm=False), capsys)
        assert not result.get("failed"), result["msg"]
        assert result["qemu_cpu_arg"].split(",")[0] == names.CPU_MODELS[document["mode"]]
