# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the fleet view's facts come from: hostvars read raw give what templated hostvars give, the fact cache read
directly gives what hostvars give, auto splits a play's own hosts from the others, and facts arrive as plain data."""

import datetime
import json
import pathlib

import pytest

from ansible_collections.armvirt.cpu.plugins.plugin_utils import _fact_sources, _fleet_view

ROOT = pathlib.Path(__file__).resolve().parents[4]
FACTS = json.loads((ROOT / "tests" / "fixtures" / "fleet" / "small-fleet.json").read_text())
NOW = datetime.datetime(2026, 11, 29, 16, 14, tzinfo=datetime.timezone.utc)


def state(hosts):
    """The fleet view of ``hosts`` from the fixture, through hostvars."""
    hostvars = {host: {"ansible_facts": {"arm_cpu_props": FACTS[host]},
                       "armvirt_cpu_gather": {"status": "ok", "error": "", "gathered_at": "2026-11-29T16:00:00Z"}}
                for host in hosts}
    return _fleet_view.view(hostvars, list(hosts), 0, now=NOW)


def jsonfile_cache(tmp_path, hosts):
    """A jsonfile fact cache holding ``hosts``' facts and gather records, written by Ansible's own plugin."""
    from ansible.plugins.loader import cache_loader
    plugin = cache_loader.get("ansible.builtin.jsonfile", _uri=str(tmp_path / "facts"))
    for host in hosts:
        plugin.set(host, {"arm_cpu_props": dict(FACTS[host], source="cache"), "armvirt_cpu_gather": {
            "status": "ok", "error": "", "gathered_at": "2026-11-29T16:00:00Z"}})
    return str(tmp_path / "facts")


def test_the_fact_cache_read_directly_gives_the_view_hostvars_give(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", jsonfile_cache(tmp_path, ("a1", "a2", "b1")))
    sources = _fact_sources.FactSources({}, "cache", cache_plugin="ansible.builtin.jsonfile")
    direct = _fleet_view.view(sources, ["a1", "a2", "b1", "gone"], 0, now=NOW)
    through_hostvars = state(("a1", "a2", "b1"))
    assert direct["facts"]["gone"] is None and direct["hosts"]["gone"]["status"] == _fleet_view.NO_FACTS
    assert {host: direct["facts"][host] for host in ("a1", "a2", "b1")} == through_hostvars["facts"]
    assert direct["baseline"]["properties"] == through_hostvars["baseline"]["properties"]
    gone = "no arm_cpu_props fact (not gathered, or the host was unreachable)"
    assert direct["baseline"]["excluded"] == [{"host": "gone", "reason": gone}]
    assert sources.counts == {"cache": 4, "hostvars": 0}
    assert sources.describe() == "facts: 4 read from the ansible.builtin.jsonfile fact cache directly"


def test_auto_reads_the_plays_own_hosts_from_hostvars_and_the_others_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", jsonfile_cache(tmp_path, ("a1", "a2")))
    # b1 is this play's host: its fact is this run's (not cached); a1's hostvars would say otherwise, but a1 is
    # outside the play, so its fact comes from the cache
    hostvars = {"b1": {"arm_cpu_props": FACTS["b1"], "armvirt_cpu_gather": {"status": "ok"}},
                "a1": {"ansible_facts": {}}}
    sources = _fact_sources.FactSources(hostvars, "auto", ["b1"], "jsonfile")
    view = _fleet_view.view(sources, ["a1", "a2", "b1"], 0, now=NOW)
    assert all(view["hosts"][host]["usable"] for host in ("a1", "a2", "b1"))
    assert sources.counts == {"cache": 2, "hostvars": 1}


@pytest.mark.parametrize("plugin", [None, "memory", "ansible.builtin.memory"])
def test_without_a_persistent_fact_cache_auto_uses_hostvars_and_cache_is_refused(plugin):
    sources = _fact_sources.FactSources({"b1": {"arm_cpu_props": FACTS["b1"]}}, "auto", [], plugin)
    assert _fleet_view.view(sources, ["b1"], 0, now=NOW)["hosts"]["b1"]["usable"]
    assert sources.counts == {"cache": 0, "hostvars": 1}
    with pytest.raises(ValueError, match="configure a persistent cache"):
        _fact_sources.FactSources({}, "cache", [], plugin)


def test_facts_are_plain_data_whatever_hostvars_hand_in():
    class Proxy(dict):
        """What Ansible hands in: a dict subclass (lazy templating), not a dict."""
    fact = Proxy(FACTS["a1"], properties=Proxy(FACTS["a1"]["properties"]))
    plain = _fact_sources.plain(fact)
    assert plain == FACTS["a1"] and {type(plain), type(plain["properties"])} == {dict}
    already = json.loads(json.dumps(FACTS["a1"]))
    assert _fact_sources.plain(already) is already


def ansible_hostvars(tmp_path, inventory_text, facts, this_run=None):
    """Ansible's own HostVars over an INI inventory: ``facts`` as a fact cache holds them (set_host_facts) and
    ``this_run`` as a set_fact without cacheable leaves them (set_nonpersistent_facts), per host."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.hostvars import HostVars
    from ansible.vars.manager import VariableManager
    inventory_file = tmp_path / "inventory.ini"
    inventory_file.write_text(inventory_text)
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(inventory_file)])
    variables = VariableManager(loader=loader, inventory=inventory)
    for host, host_facts in facts.items():
        variables.set_host_facts(host, host_facts)
    for host, host_facts in (this_run or {}).items():
        variables.set_nonpersistent_facts(host, host_facts)
    return HostVars(inventory=inventory, variable_manager=variables, loader=loader)


def test_hostvars_are_read_raw_and_give_what_templated_hostvars_give(tmp_path):
    """Ansible's own HostVars: raw_get (no templating pass) and hostvars[host] agree on facts, records and host
    variables, including a host without facts and one outside the inventory."""
    hostvars = ansible_hostvars(
        tmp_path, "a1\na2\nb1 arm_cpu_props='{\"supported\": false, \"reason\": \"set in inventory\"}'\n",
        {"a1": {"arm_cpu_props": FACTS["a1"], "armvirt_cpu_gather": {"status": "ok"}}})
    raw = _fact_sources.read_hostvars(hostvars)

    def templated(host):
        found = _fact_sources.host_vars_facts(hostvars[host] if host in hostvars else None)
        return _fact_sources.plain(found[_fact_sources.FACT]), _fact_sources.plain(found[_fact_sources.RECORD])
    for host in ("a1", "a2", "b1", "elsewhere"):
        assert raw(host) == templated(host)
    assert raw("a1") == (FACTS["a1"], {"status": "ok"}) and raw("a2") == (None, None)


def test_this_runs_record_outranks_the_cached_one(tmp_path):
    """gather --check records the probe's outcome as a plain host variable (nothing reaches the fact cache): the
    fleet view must judge the host by it, not by the record of the last real run that the cache still holds."""
    hostvars = ansible_hostvars(
        tmp_path, "a1\n",
        {"a1": {"arm_cpu_props": FACTS["a1"], "armvirt_cpu_gather": {
            "status": "ok", "error": "", "gathered_at": "2026-11-29T16:00:00Z"}}},
        this_run={"a1": {"armvirt_cpu_gather": {
            "status": "failed", "error": "emulator gone", "gathered_at": "2026-11-29T16:00:00Z"}}})
    view = _fleet_view.view(_fact_sources.read_hostvars(hostvars), ["a1"], 0, now=NOW)
    assert view["hosts"]["a1"]["status"] == _fleet_view.PROBE_FAILED and "emulator gone" in view["hosts"]["a1"]["reason"]
