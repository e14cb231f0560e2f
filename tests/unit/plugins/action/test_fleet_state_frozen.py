"""fleet_state's baseline_file: a frozen baseline is read, never recomputed, and named by the sha256 of its bytes."""

import hashlib
import json
import pathlib

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.armvirt.cpu.plugins.action import fleet_state as action
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import baseline as fleet_baseline
from ansible_collections.armvirt.cpu.plugins.plugin_utils import _artifacts, _fact_sources, _fleet_view

ROOT = pathlib.Path(__file__).resolve().parents[4]
FACTS = json.loads((ROOT / "tests" / "fixtures" / "fleet" / "small-fleet.json").read_text())


def hostvars(hosts):
    return {host: {"ansible_facts": {"arm_cpu_props": FACTS[host]},
                   "armvirt_cpu_gather": {"status": "ok", "error": "", "gathered_at": "2026-11-29T16:00:00Z"}}
            for host in hosts}


def frozen(tmp_path, hosts=("a1", "a2", "b1")):
    state = _fleet_view.view(hostvars(hosts), list(hosts), 0)
    path = tmp_path / "baseline.json"
    path.write_text(_artifacts.dump_json(state["baseline"]))
    return path, state["baseline"]


def test_the_frozen_baseline_is_the_file_and_its_digest_the_files_bytes(tmp_path):
    path, baseline = frozen(tmp_path)
    read, digest = action.read_baseline(str(path))
    assert read == json.loads(json.dumps(baseline))
    assert digest == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_slice_sees_the_whole_baseline_and_computes_none(tmp_path, monkeypatch):
    path, baseline = frozen(tmp_path)
    monkeypatch.setattr(fleet_baseline, "baseline", lambda *args, **kwargs: pytest.fail("recomputed"))
    read = action.read_baseline(str(path))[0]
    view = action.frozen_view(_fact_sources.read_hostvars(hostvars(["b1"])), ["b1", "c9"], 0, read, str(path))
    assert view["baseline"]["members"] == baseline["members"] == ["a1", "a2", "b1"]
    assert view["hosts"]["b1"]["usable"] is True
    assert view["hosts"]["c9"]["usable"] is False and view["hosts"]["c9"]["status"] == "no-facts"


def test_a_host_outside_the_frozen_baseline_is_not_usable_and_says_why(tmp_path):
    path = frozen(tmp_path, ("a1", "a2"))[0]
    read = action.read_baseline(str(path))[0]
    entry = action.frozen_view(_fact_sources.read_hostvars(hostvars(["b1"])), ["b1"], 0, read, str(path))["hosts"]["b1"]
    assert entry["status"] == "ok" and entry["usable"] is False
    assert "not a member of the frozen baseline" in entry["reason"]


@pytest.mark.parametrize("text", ["not json", "[]", '{"members": ["a1"]}', '{"members": [1], "properties": {}}',
                                  '{"members": ["a1"], "properties": {}, "classes": ["cpu-1"]}'])
def test_a_file_that_is_no_baseline_is_refused(tmp_path, text):
    path = tmp_path / "baseline.json"
    path.write_text(text)
    with pytest.raises(AnsibleActionFail, match="baseline"):
        action.read_baseline(str(path))
