"""A fleet that mixes the three QMP dialects for the same CPUs: Ampere Altra (Neoverse N1) and NVIDIA Grace
(Neoverse V2), each behind a QEMU with the seed's feat_/hw_prop_ names, one with SYSREG_ properties and a released
one with booleans only (armsim's derived profiles, docs/simulator.md).

The fleet logic works on canonical fields (``SYSREG_<REG>_<FIELD>``); each host is spoken to in its own names. What
each host calls a field, and what value a name stands for, is read here from the simulator's own data (a profile
property's ``field``, a SYSREG_ prop's ``field``, the vCPU flag ``kvmrules`` says gates it), never from the
collection's translation table, and each host's stand-in emulator judges the ``-cpu`` at a paused start.
"""

import concurrent.futures

import pytest

from armsim import kvmrules, load_profile, write_wrapper
from armsim.profiles import field_value, host_tree

from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import baseline as fleet_baseline
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import classes as fleet_classes
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import recommend as fleet_recommend
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import confirm, validate
from ansible_collections.armvirt.cpu.plugins.module_utils._host import collect, hostid, vocabulary

HOSTS = {"altra-v2": "neoverse-n1", "altra-sr": "neoverse-n1@sysreg", "altra-rel": "neoverse-n1@released",
         "grace-v2": "neoverse-v2", "grace-sr": "neoverse-v2@sysreg", "grace-rel": "neoverse-v2@released"}
VALUED = sorted(host for host in HOSTS if not host.endswith("-rel"))
MODE = "host-passthrough"


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """``{host: (emulator, fact)}``: each host probed through its own stand-in the way props_facts does, with the
    host identity of its recorded tree."""
    where = tmp_path_factory.mktemp("mixed")

    def gather(host):
        emulator = write_wrapper(str(where / ("qemu-" + host)), HOSTS[host])
        fact = collect.probe_host(emulator, "kvm", 20.0).to_fact("kvm", emulator, "probe")
        fact["host_cpu"] = hostid.read(*host_tree(load_profile(HOSTS[host]).data))
        return host, (emulator, fact)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return dict(pool.map(gather, sorted(HOSTS)))


@pytest.fixture(scope="module")
def starts(hosts):
    """starts([(host, cpu), ...]) -> {(host, cpu): QEMU's refusal, or None when the host's stand-in starts the vCPU
    (paused)}: armvirt.cpu.cpu_check's paused start, two at a time, once per distinct -cpu."""
    seen = {}

    def paused_start(pair):
        host, cpu = pair
        result = confirm.check(hosts[host][0], "kvm", confirm.parse_cpu_arg(cpu, MODE, host))
        return pair, None if result["accepted"] else result["error"]

    def run(pairs):
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            seen.update(pool.map(paused_start, sorted(set(pairs) - set(seen))))
        return {pair: seen[pair] for pair in pairs}
    return run


def facts_of(hosts, names=None):
    return {host: hosts[host][1] for host in (names or hosts)}


def simulator_names(host):
    """What the host's QEMU calls each field, from the simulator's data: ``{name: ([fields], decode)}``, decode
    turning a -cpu value back into the fields' integer. A boolean (sve, pmu, pauth) is the vCPU flag that hides
    every field it gates (off: all 0)."""
    profile = load_profile(HOSTS[host])
    names = {}
    for prop in profile.data["properties"]:
        if prop.get("field") and prop["type"] == "number":
            names[prop["name"]] = ([prop["field"]], lambda value: 0 if value == "off" else int(value, 0))
    for prop in profile.data["expansion"]["props"]:
        if prop.get("field"):
            names[prop["name"]] = ([prop["field"]], lambda value: int(value, 0))
    for ref, rule in sorted(kvmrules.RULES.items()):
        if rule.gate in profile.expansion_props:
            names.setdefault(rule.gate, ([], lambda value: {"off": 0}[value]))[0].append(ref)
    return names


def cited(host):
    return {ref for refs, _decode in simulator_names(host).values() for ref in refs}


def rolled_out(hosts, host, features):
    """The request in the host's own names, validated on its fact and rendered as its -cpu; or the problems."""
    fact = hosts[host][1]
    own, problems = vocabulary.to_host(features, fact, host)
    errors = problems + [error.message for error in validate.check_features(own, fact, host)[1]]
    return (None, errors) if errors else (validate.qemu_cpu_arg(own, MODE, fact, host), [])


def as_fields(host, cpu):
    """The -cpu items read back by the simulator's names: ``{field: integer}`` and the items without a field."""
    names = simulator_names(host)
    fields, others = {}, {}
    for item in cpu.split(",")[1:]:
        name, _equals, value = item.partition("=")
        if name in names:
            fields.update((ref, names[name][1](value)) for ref in names[name][0])
        else:
            others[name] = value
    return fields, others


# (a) the baseline holds the fields the hosts share, valued ones included

def test_the_fleet_baseline_holds_the_fields_every_dialect_shares(hosts):
    baseline = fleet_baseline.baseline(facts_of(hosts), "mixed")
    assert baseline["members"] == sorted(HOSTS) and baseline["dialect"] is None
    # ID_AA64PFR0_EL1.SVE: feat_SVE on the seed's QEMU, a SYSREG_ prop or sve, and released QEMU's sve; Altra has
    # no SVE, so the fleet meets at 0
    sve = baseline["properties"]["SYSREG_ID_AA64PFR0_EL1_SVE"]
    assert sve["type"] == "number" and sve["supported_values"] == ["0x0"] and sve["field"] == "ID_AA64PFR0_EL1.SVE"
    assert {"aarch64", "sve256", "kvm-steal-time"} <= set(baseline["properties"])       # no field: own names
    # a released QEMU's pmu=on gives the host's own PMUVer, which it does not tell: unknown there, with the reason
    unknown = baseline["unknown"]["SYSREG_ID_AA64DFR0_EL1_PMUVer"]
    assert sorted(unknown) == ["altra-rel", "grace-rel"] and "pmu=on" in unknown["grace-rel"]
    assert baseline["missing"]["SYSREG_ID_AA64DFR0_EL1_PMUVer"] == ["altra-rel", "grace-rel"]
    # WRPs is hw_prop_WRPs on two hosts and SYSREG_ID_AA64DFR0_EL1_WRPs on two: one field, missing only where
    # booleans cannot say it
    assert baseline["missing"]["SYSREG_ID_AA64DFR0_EL1_WRPs"] == ["altra-rel", "grace-rel"]


def test_the_valued_dialects_share_their_fields_at_the_lowest_host_value(hosts):
    """The seed's names on two hosts, SYSREG_ on two: every field both CPUs' QEMUs offer is one property, and a
    lower-safe field KVM lets a VMM write tops out at the lower of the two CPUs' own values (their ID registers)."""
    baseline = fleet_baseline.baseline(facts_of(hosts, VALUED), "valued")
    assert baseline["members"] == VALUED
    # Grace's pointer authentication: a SYSREG_ QEMU offers only the pauth switch (KVM keeps the fields from a VMM)
    # and the seed's QEMU lists no GPA3; Altra has none (pauth only off, which is exact)
    assert {kvmrules.RULES[name[len("SYSREG_"):].replace("_EL1_", "_EL1.", 1)].gate
            for name in baseline["unknown"]} == {"pauth"}
    assert sorted(baseline["unknown"]["SYSREG_ID_AA64ISAR1_EL1_APA"]) == ["grace-sr"]
    assert {host for reasons in baseline["unknown"].values() for host in reasons} == {"grace-sr", "grace-v2"}
    # what only the seed's QEMU lists: fields KVM keeps from a VMM, which no SYSREG_ QEMU offers (or that a host
    # gives only as a boolean, unknown there with the reason)
    fields = {"SYSREG_" + ref.replace(".", "_"): ref for ref in kvmrules.RULES}
    for name, lacking in baseline["missing"].items():
        # the seed's QEMU lists three vector lengths; feat_NV's minor half is in a register (ID_AA64MMFR4_EL1) no
        # simulated host's id_registers carry, so no SYSREG_ QEMU derived from them offers it, writable or not
        if name not in fields or name == "SYSREG_ID_AA64MMFR4_EL1_NV_frac":
            assert lacking == (["altra-v2", "grace-v2"] if name.startswith("sve")
                               else ["altra-sr", "grace-sr"] if name == "SYSREG_ID_AA64MMFR4_EL1_NV_frac" else None)
            continue
        assert set(lacking) - set(baseline["unknown"].get(name, ())) <= {"altra-sr", "grace-sr"}, name
        assert not kvmrules.writable(fields[name]), name
    registers = {cpu: load_profile(cpu).data["id_registers"] for cpu in ("neoverse-n1", "neoverse-v2")}
    checked = 0
    for ref in sorted(cited("altra-v2") & cited("altra-sr")):
        rule = kvmrules.RULES[ref]
        if rule.kind != kvmrules.LOWER or rule.signed or rule.hidden or rule.gate or not kvmrules.writable(ref):
            continue
        prop = baseline["properties"]["SYSREG_" + ref.replace(".", "_")]
        top = max(int(value.rpartition("-")[2], 16) for value in prop["supported_values"])
        assert top == min(field_value(regs, ref) for regs in registers.values()), ref
        checked += 1
    assert checked >= 30
    assert baseline["properties"]["SYSREG_ID_AA64DFR0_EL1_WRPs"]["supported_values"][-1].endswith("0x3")


# (b) a policy in canonical names and one in the seed's names, each in every host's own names

FLEET_WIDE = {
    "canonical": [{"name": "SYSREG_ID_AA64PFR0_EL1_SVE", "value": "0x0"},
                  {"name": "SYSREG_ID_AA64DFR0_EL1_PMUVer", "value": "0x0"}, {"name": "sve256", "value": "off"}],
    "v2 names": [{"name": "hw_prop_PMUVer", "value": "off"}, {"name": "sve256", "value": "off"}],
}
VALUED_POLICIES = {
    "canonical": [{"name": "SYSREG_ID_AA64DFR0_EL1_WRPs", "value": "0x2"},
                  {"name": "SYSREG_ID_AA64ISAR0_EL1_AES", "value": "0x1"}],
    "v2 names": [{"name": "hw_prop_WRPs", "value": "2"}, {"name": "feat_AES", "value": "1"}],
}


RELEASED_CPU = {"canonical": "host,sve=off,pmu=off,sve256=off", "v2 names": "host,pmu=off,sve256=off"}
SYSREG_CPU = {"canonical": "host,sve=off,SYSREG_ID_AA64DFR0_EL1_PMUVer=0x0,sve256=off",
              "v2 names": "host,SYSREG_ID_AA64DFR0_EL1_PMUVer=0x0,sve256=off"}


def wanted(policy):
    """The field values a policy asks for, by the simulator's names (SYSREG_ ones, the seed's names of altra-v2)."""
    names = simulator_names("altra-v2")
    out = {}
    for feature in policy:
        if feature["name"].startswith("SYSREG_"):
            ref = next(ref for ref in kvmrules.RULES if "SYSREG_" + ref.replace(".", "_") == feature["name"])
            out[ref] = int(feature["value"], 0)
        elif feature["name"] in names and names[feature["name"]][0]:
            out[names[feature["name"]][0][0]] = names[feature["name"]][1](feature["value"])
    return out


def agrees(fields, asked):
    """The -cpu gives every field asked its value; anything more is a field the same vCPU flag hides, at 0 (sve=off
    for ID_AA64PFR0_EL1.SVE 0 also hides ID_AA64ZFR0_EL1)."""
    gates = {kvmrules.RULES[ref].gate for ref in asked} - {None}
    return all(fields.get(ref) == value for ref, value in asked.items()) and all(
        fields[ref] == 0 and kvmrules.RULES[ref].gate in gates for ref in set(fields) - set(asked))


@pytest.mark.parametrize("language", sorted(FLEET_WIDE))
def test_a_fleet_wide_policy_rolls_out_to_every_host_in_its_own_names(hosts, starts, language):
    policy = FLEET_WIDE[language]
    cpus = {}
    for host in sorted(HOSTS):
        cpu, problems = rolled_out(hosts, host, policy)
        assert problems == [], host
        fields, others = as_fields(host, cpu)
        assert agrees(fields, wanted(policy)) and others == {"sve256": "off"}, (host, cpu)
        assert fields["ID_AA64DFR0_EL1.PMUVer"] == 0
        cpus[host] = cpu
    assert starts(cpus.items()) == dict.fromkeys(cpus.items())
    # what two of the hosts were told, in their own words
    assert rolled_out(hosts, "altra-rel", policy)[0] == RELEASED_CPU[language]
    assert rolled_out(hosts, "grace-sr", policy)[0] == SYSREG_CPU[language]


@pytest.mark.parametrize("language", sorted(VALUED_POLICIES))
def test_a_valued_policy_rolls_out_in_each_hosts_names_and_booleans_say_why_not(hosts, starts, language):
    policy = VALUED_POLICIES[language]
    wanted = {"ID_AA64DFR0_EL1.WRPs": 2, "ID_AA64ISAR0_EL1.AES": 1}
    cpus = {}
    for host in VALUED:
        cpu, problems = rolled_out(hosts, host, policy)
        assert problems == [], host
        assert as_fields(host, cpu) == (wanted, {}), (host, cpu)
        cpus[host] = cpu
    assert cpus["grace-v2"] == "host,hw_prop_WRPs=2,feat_AES=1"
    assert cpus["grace-sr"] == "host,SYSREG_ID_AA64DFR0_EL1_WRPs=0x2,SYSREG_ID_AA64ISAR0_EL1_AES=0x1"
    # each host's own names are not found on the other's QEMU: the translation is what makes them start
    wrong = ("grace-sr", cpus["grace-v2"])
    verdicts = starts(list(cpus.items()) + [wrong])
    assert "Property 'host-arm-cpu.hw_prop_WRPs' not found" in verdicts.pop(wrong)
    assert verdicts == dict.fromkeys(cpus.items())
    for host in ("altra-rel", "grace-rel"):
        cpu, problems = rolled_out(hosts, host, policy)
        assert cpu is None and len(problems) == 2
        assert problems[0].startswith(host + ": ") and "%s speaks released QEMU's booleans: " % host in problems[0]
        assert "is SYSREG_ID_AA64DFR0_EL1_WRPs there, and it offers no property for it" in problems[0]


# (c) every recommendation validates on every member

def test_every_recommendation_validates_on_every_member(hosts, starts):
    facts = facts_of(hosts)
    classes = fleet_classes.classes(facts)
    pools = {"fleet": sorted(HOSTS), "valued": VALUED}
    pools.update((cid, info["hosts"]) for cid, info in classes["classes"].items())
    assert len(classes["classes"]) == 6                   # each host its own class: dialects differ in what they give
    fleet_cpus = []
    for pool, members in sorted(pools.items()):
        pool_facts = facts_of(hosts, members)
        policy = fleet_recommend.recommend(pool_facts)
        assert policy["mode"] == MODE
        baseline = fleet_baseline.baseline(pool_facts, "fleet")
        # judged on the members, or on the baseline alone (as fleet_state asks): the same policy
        assert (policy == fleet_recommend.recommend(baseline, members=pool_facts)
                == fleet_recommend.recommend(baseline)), pool
        names = [feature["name"] for feature in policy["features"]]
        assert names == sorted(names) and not any(name.startswith(("feat_", "hw_prop_")) for name in names)
        for host in members:
            cpu, problems = rolled_out(hosts, host, policy["features"])
            assert problems == [], (pool, host)
            if pool == "fleet":
                fleet_cpus.append((host, cpu))
        if pool == "valued":     # valued fields in canonical names, not only booleans
            assert {"SYSREG_ID_AA64DFR0_EL1_WRPs", "SYSREG_ID_AA64ISAR0_EL1_AES"} <= set(names)
    # and the fleet's recommendation starts on every host's QEMU, in its own names
    assert len(fleet_cpus) == 6 and starts(fleet_cpus) == dict.fromkeys(fleet_cpus)
