"""vocabulary: the one translation table, held to the simulator's own register data, and translation of requests.

The simulator's profiles name each property's field and carry the raw ID registers (tools/armsim/profiles/*.json,
their values recomputed by its own kernel rules, tools/armsim/kvmrules.py): an independent truth the table is checked
against, never derived from.
"""

import functools
import json
import pathlib

import jsonschema
import pytest
import yaml
from armsim import available_profiles, kvmrules, load_profile, write_wrapper
from armsim import profiles as simprofiles

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import baseline
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import delivery, validate
from ansible_collections.armvirt.cpu.plugins.module_utils._host import collect, vocabulary
from ansible_collections.armvirt.cpu.plugins.module_utils._host.props import split_number_values

ROOT = pathlib.Path(__file__).resolve().parents[5]
PROFILES = [load_profile(name) for name in sorted(available_profiles())]
PROPS_INFO = [(profile, prop) for profile in PROFILES for prop in profile.data["properties"] if prop.get("field")]
SYSREG_PROPS = [(profile, prop) for profile in PROFILES for prop in profile.data["expansion"]["props"]
                if prop.get("field")]


def _id(pair):
    return "%s:%s" % (pair[0].name, pair[1]["name"])


def test_the_simulator_has_what_the_table_is_checked_against():
    assert len(PROPS_INFO) > 200 and len(SYSREG_PROPS) > 200
    dialects = {profile.dialect for profile in PROFILES}
    assert dialects >= {"query-arm-cpu-props-info", "query-cpu-props-info", "sysreg", "query-cpu-model-expansion"}


@pytest.mark.parametrize("pair", PROPS_INFO, ids=_id)
def test_every_props_info_name_maps_to_the_field_the_simulator_gives(pair):
    _profile, prop = pair
    names = vocabulary.canonical_name(prop["name"])
    assert names[0] == "SYSREG_" + prop["field"].replace(".", "_")
    entry = vocabulary.TABLE[prop["name"]]
    assert "nutanix" in entry.source
    assert set(entry.dialects) == {"query-arm-cpu-props-info", "query-cpu-props-info"}


@pytest.mark.parametrize("pair", [pair for pair in PROPS_INFO if pair[1]["type"] == "number"], ids=_id)
def test_every_number_value_a_profile_offers_is_its_integer(pair):
    profile, prop = pair
    registers = profile.data["id_registers"]
    rule = kvmrules.RULES[prop["field"]]
    for value in prop["supported-values"]:
        if value == "off":
            assert rule.gate, "only a gated field offers off"
            assert vocabulary.decode(prop["name"], value) == (0,)
            continue
        for number in simprofiles.numbers_in([value]):
            assert vocabulary.decode(prop["name"], str(number)) == (number,)
    if not rule.hidden:
        host = simprofiles.field_value(registers, prop["field"])
        offered = {vocabulary.decode(prop["name"], str(n))[0] for n in simprofiles.numbers_in(prop["supported-values"])}
        assert host in offered, "the host's own %s=%d is among what the property offers" % (prop["field"], host)


@pytest.mark.parametrize("pair", [pair for pair in PROPS_INFO if pair[1]["type"] == "string"], ids=_id)
def test_every_combined_label_a_profile_offers_is_the_register_pair(pair):
    profile, prop = pair
    registers = profile.data["id_registers"]
    major, minor = prop["field"], simprofiles.COMBINED[prop["field"]]
    names = vocabulary.canonical_name(prop["name"])
    assert names[0] == "SYSREG_" + major.replace(".", "_")
    if minor:
        assert names[1] == "SYSREG_" + minor.replace(".", "_")
    pairs = [vocabulary.decode(prop["name"], label) for label in prop["supported-values"]]
    assert None not in pairs, prop["supported-values"]
    if kvmrules.RULES[major].hidden:
        assert pairs == [(0, 0)]
        return
    host = (simprofiles.field_value(registers, major), simprofiles.field_value(registers, minor) if minor else 0)
    assert host in pairs, "the host's own %s is among the labels %s" % (host, prop["supported-values"])
    for pair_ in pairs:
        assert pair_[0] in kvmrules.listed(major, host[0], "writable")


@pytest.mark.parametrize("pair", SYSREG_PROPS, ids=_id)
def test_sysreg_names_are_themselves_and_their_values_the_registers(pair):
    profile, prop = pair
    assert vocabulary.canonical_name(prop["name"]) == ("SYSREG_" + prop["field"].replace(".", "_"),)
    host = simprofiles.field_value(profile.data["id_registers"], prop["field"])
    assert vocabulary.decode(prop["name"], "0x%x" % prop["default"]) == (host,)


@pytest.mark.parametrize("name", ["sve128", "kvm-steal-time", "aarch64", "kvm-no-adjvtime", "not_a_field"])
def test_names_with_no_field_keep_their_names(name):
    assert vocabulary.canonical_name(name) == (name,)


def test_booleans_and_non_obvious_names():
    assert vocabulary.canonical_name("sve") == ("SYSREG_ID_AA64PFR0_EL1_SVE",)
    assert vocabulary.canonical_name("pmu") == ("SYSREG_ID_AA64DFR0_EL1_PMUVer",)
    assert len(vocabulary.canonical_name("pauth")) == 6
    for name, field in (("feat_FlagM", "ID_AA64ISAR0_EL1_TS"), ("feat_DotProd", "ID_AA64ISAR0_EL1_DP"),
                        ("feat_LOR", "ID_AA64MMFR1_EL1_LO"), ("feat_TTCNP", "ID_AA64MMFR2_EL1_CnP"),
                        ("feat_RNG", "ID_AA64ISAR0_EL1_RNDR"), ("feat_SPE", "ID_AA64DFR0_EL1_PMSVer"),
                        ("feat_AMUv1", "ID_AA64PFR0_EL1_AMU"), ("feat_BTI", "ID_AA64PFR1_EL1_BT")):
        assert vocabulary.canonical_name(name) == ("SYSREG_" + field,)
    assert vocabulary.canonical_name("feat_NV") == ("SYSREG_ID_AA64MMFR2_EL1_NV", "SYSREG_ID_AA64MMFR4_EL1_NV_frac")
    assert vocabulary.decode("feat_AES", "PMULL") == (2,) and vocabulary.decode("feat_AES", "aes") == (1,)
    assert vocabulary.decode("feat_CSV2", "1.2") == (1, 2) and vocabulary.decode("feat_MPAM", "0.1") == (0, 1)
    assert vocabulary.decode("feat_RAS", "1.1_base") == (2, 0) and vocabulary.decode("feat_RAS", "1.1") == (1, 1)
    assert vocabulary.decode("feat_NV", "2.1") is None   # no source gives its encoding: never guessed
    assert vocabulary.decode("pmu", "on") is None and vocabulary.decode("pmu", "off") == (0,)
    assert vocabulary.decode("sve", "on") == (1,)
    assert vocabulary.decode("SYSREG_ID_AA64DFR0_EL1_WRPs", "0x3") == (3,)


def test_every_entry_cites_its_sources():
    for name, entry in vocabulary.TABLE.items():
        assert entry.fields and "arm" in entry.source and set(entry.source) <= set(vocabulary.SOURCES), name
        assert ("nutanix" in entry.source) == name.startswith(("feat_", "hw_prop_")), name


def _values_text(entry):
    off = "; off: 0" if entry.gated and entry.kind != vocabulary.BOOLEAN else ""
    if entry.kind == vocabulary.NUMBER:
        return "integers" + off
    if entry.kind == vocabulary.NAMED:
        return "integers, " + ", ".join("%s: %d" % item for item in sorted(entry.values.items(), key=lambda i: i[1]))
    if entry.kind == vocabulary.COMBINED:
        return ", ".join("%s: %d, %d" % (label, *pair) for label, pair in sorted(entry.values.items()))
    if entry.name in ("pauth-impdef", "pauth-qarma3", "pauth-qarma5"):
        return "none exact (selects an algorithm)"
    return "off: 0; on: %s" % (entry.values if entry.values is not None else "the host's own value")


def markdown_table():
    """docs/dialects.md's translation table, from the module's TABLE."""
    lines = ["| name | dialects | canonical field(s) | values | sources |", "|---|---|---|---|---|"]
    for name in sorted(vocabulary.TABLE, key=lambda key: (not key.startswith("feat_"), key.lower())):
        entry = vocabulary.TABLE[name]
        lines.append("| `%s` | %s | %s | %s | %s |" % (
            name, ", ".join(entry.dialects), ", ".join("`%s`" % vocabulary.canonical(label) for label in entry.fields),
            _values_text(entry), ", ".join(entry.source)))
    return "\n".join(lines)


def test_the_dialects_guide_holds_the_table_and_its_sources():
    text = (ROOT / "docs" / "dialects.md").read_text()
    assert markdown_table() in text
    for key, source in vocabulary.SOURCES.items():
        assert "- `%s`: %s" % (key, source) in text, key


# ---- facts probed from the simulated hosts through their stand-in emulators ---------------------------------------

@functools.lru_cache(maxsize=None)
def _facts(tmpdir):
    facts = {}
    for profile in PROFILES:
        accel = "kvm" if profile.kvm else "tcg"
        emulator = write_wrapper("%s/qemu-%s" % (tmpdir, profile.name), profile.name)
        facts[profile.name] = collect.probe_host(emulator, accel, 20.0).to_fact(accel, emulator, "probe")
    return facts


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    return _facts(str(tmp_path_factory.mktemp("vocab")))


def test_canonical_fact_values_are_the_registers(facts):
    """A field's default in the canonical fact is the host's register field, for every profile that has them."""
    checked = 0
    for profile in PROFILES:
        registers = profile.data.get("id_registers")
        canonical = vocabulary.canonical_fact(facts[profile.name])
        assert canonical["dialect"] == facts[profile.name]["dialect"]
        for name, prop in canonical["properties"].items():
            if "field" not in prop:
                assert name in facts[profile.name]["properties"] and prop == facts[profile.name]["properties"][name]
                continue
            assert name == "SYSREG_" + prop["field"].replace(".", "_") and prop["host_names"]
            assert all(host_name in facts[profile.name]["properties"] for host_name in prop["host_names"])
            if registers and "default" in prop and prop["field"].split(".")[0] in registers:
                try:
                    host = simprofiles.field_value(registers, prop["field"])
                except KeyError:
                    continue
                assert int(prop["default"], 16) in (host, 0), (profile.name, name)
                checked += 1
    assert checked > 150


def test_one_cpu_two_dialects_share_its_fields(facts):
    """neoverse-v2 (feat_/hw_prop_) and neoverse-v2-sysreg (SYSREG_) are one CPU: every field both give exactly has
    the host's value among both hosts' values."""
    v2, sysreg_ = (vocabulary.canonical_fact(facts[name]) for name in ("neoverse-v2", "neoverse-v2-sysreg"))
    shared = set(v2["properties"]) & set(sysreg_["properties"])
    fields = [name for name in shared if "field" in v2["properties"][name]]
    assert len(fields) > 30
    assert "SYSREG_ID_AA64DFR0_EL1_WRPs" in fields and "SYSREG_ID_AA64ISAR0_EL1_AES" in fields


def test_booleans_only_host(facts):
    fact = vocabulary.canonical_fact(facts["qemu-7.2-released"])
    assert fact["properties"]["SYSREG_ID_AA64PFR0_EL1_SVE"]["supported_values"] == ["0x0-0x1"]
    assert fact["properties"]["SYSREG_ID_AA64PFR0_EL1_SVE"]["host_names"] == ["sve"]
    assert "pmu=on" in fact["unknown_fields"]["SYSREG_ID_AA64DFR0_EL1_PMUVer"]
    assert "SYSREG_ID_AA64DFR0_EL1_PMUVer" not in fact["properties"]
    assert "sve128" in fact["properties"] and "aarch64" in fact["properties"]


def test_coupled_halves_carry_each_other(facts):
    ras = vocabulary.canonical_fact(facts["neoverse-v2"])["properties"]["SYSREG_ID_AA64PFR0_EL1_RAS"]
    assert ras["coupled_with"] == "SYSREG_ID_AA64PFR1_EL1_RAS_frac" and ras["host_names"] == ["feat_RAS"]
    assert ras["coupled_values"] == [["0x2", "0x0"]]


def _supported_value(prop):
    ranges, names = split_number_values(prop["supported_values"]) if prop["type"] == "number" else ([], [])
    if ranges:
        return ("0x%x" if prop["supported_values"][0].startswith("0x") else "%d") % ranges[0][0]
    return (names or prop["supported_values"])[0]


def test_a_name_the_host_speaks_is_itself(facts):
    for name, fact in facts.items():
        request = [{"name": prop_name, "value": _supported_value(prop)} for prop_name, prop in
                   sorted(fact["properties"].items()) if prop["supported_values"]]
        assert vocabulary.to_host(request, fact, name) == (request, [])


def test_a_request_in_canonical_names_in_each_dialect(facts):
    request = [{"name": "SYSREG_ID_AA64DFR0_EL1_WRPs", "value": "0x2"}, {"name": "SYSREG_ID_AA64ISAR0_EL1_AES",
                                                                         "value": "1"}]
    v2, problems = vocabulary.to_host(request, facts["neoverse-v2"], "grace-v2-01")
    assert problems == [] and v2 == [{"name": "hw_prop_WRPs", "value": "2"}, {"name": "feat_AES", "value": "1"}]
    sr, problems = vocabulary.to_host([{"name": "hw_prop_WRPs", "value": "2"}], facts["neoverse-v2-sysreg"], "sr")
    assert problems == [] and sr == [{"name": "SYSREG_ID_AA64DFR0_EL1_WRPs", "value": "0x2"}]
    # the rest of a feature goes with it, for validation to judge in the host's names
    forced = [{"name": "hw_prop_WRPs", "value": "2", "policy": "force"}, {"name": "feat_SHA1", "policy": "disable"}]
    assert vocabulary.to_host(forced, facts["neoverse-v2-sysreg"], "sr") == ([
        {"name": "SYSREG_ID_AA64DFR0_EL1_WRPs", "value": "0x2", "policy": "force"},
        {"name": "SYSREG_ID_AA64ISAR0_EL1_SHA1", "policy": "disable"}], [])


def test_a_field_the_host_cannot_give_is_said_in_its_terms(facts):
    _features, problems = vocabulary.to_host([{"name": "feat_RAS", "value": "1.1"}], facts["neoverse-v2-sysreg"],
                                             "grace-sr-01")
    assert problems == ["grace-sr-01: feat_RAS is not among the 102 properties reported. grace-sr-01 speaks SYSREG_: "
                        "feat_RAS is SYSREG_ID_AA64PFR0_EL1_RAS with SYSREG_ID_AA64PFR1_EL1_RAS_frac there, and it "
                        "offers neither."]


def test_half_of_a_coupled_value_is_refused_and_both_halves_join(facts):
    half = [{"name": "SYSREG_ID_AA64PFR0_EL1_RAS", "value": "0x2"}]
    features, problems = vocabulary.to_host(half, facts["neoverse-v2"], "v2")
    assert features == [] and len(problems) == 1
    assert "feat_RAS" in problems[0] and "not SYSREG_ID_AA64PFR1_EL1_RAS_frac" in problems[0]
    both = half + [{"name": "SYSREG_ID_AA64PFR1_EL1_RAS_frac", "value": "0"}]
    assert vocabulary.to_host(both, facts["neoverse-v2"], "v2") == (
        [{"name": "feat_RAS", "value": "1.1_base"}], [])


def test_booleans_translate_only_exact_values(facts):
    fact = facts["qemu-7.2-released"]
    assert vocabulary.to_host([{"name": "SYSREG_ID_AA64ISAR1_EL1_APA", "value": "0"},
                               {"name": "hw_prop_GPA", "value": "off"}], fact, "old") == (
        [{"name": "pauth", "value": "off"}], [])
    assert vocabulary.to_host([{"name": "feat_SVE", "value": "1"}], fact, "old") == (
        [{"name": "sve", "value": "on"}], [])
    _features, problems = vocabulary.to_host([{"name": "hw_prop_PMUVer", "value": "4"}], fact, "old")
    assert len(problems) == 1 and "only 0 (pmu=off) is exact" in problems[0]


def test_a_sysreg_field_given_only_as_its_host_value_goes_through_the_boolean(facts):
    fact = facts["neoverse-v2-sysreg"]
    assert vocabulary.to_host([{"name": "SYSREG_ID_AA64PFR0_EL1_SVE", "value": "0x0"}], fact, "sr") == (
        [{"name": "sve", "value": "off"}], [])
    kept = [{"name": "SYSREG_ID_AA64PFR0_EL1_SVE", "value": "0x1"}]
    assert vocabulary.to_host(kept, fact, "sr") == (kept, [])


# ---- docs/guest-validation.md's table of a request in each dialect, executed -------------------------------------

DOC_HOSTS = ("neoverse-v2", "neoverse-v2-sysreg", "qemu-7.2-released")


def _doc_rows():
    text = (ROOT / "docs" / "guest-validation.md").read_text()
    section = text.split("### Names of any dialect", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in section.splitlines() if line.startswith("| `{")]
    assert len(rows) >= 6
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


@pytest.mark.parametrize("row", _doc_rows(), ids=lambda row: row[0])
def test_the_guide_s_table_of_dialects_is_what_validation_does(row, facts):
    request = [yaml.safe_load(row[0].split("`")[1])]
    for host, cell in zip(DOC_HOSTS, row[1:]):
        expected = cell.split("`")[1]
        normalised, errors = validate.check_features(request, facts[host], host)
        if "=" in expected:
            assert errors == [], (host, [error.message for error in errors])
            assert ",".join("%s=%s" % setting for setting in validate.cpu_settings(normalised)) == expected, host
        else:
            assert [error.rule for error in errors] == [expected], (host, [error.message for error in errors])


def test_a_props_info_fact_names_each_property_s_field(facts):
    """The facts module writes the field a props-info name stands for, as the simulator's profile names it, and the
    fact still fits its schema."""
    schema = json.loads((ROOT / "docs" / "schemas" / "arm_cpu_props.schema.json").read_text())
    checked = 0
    for profile, prop in PROPS_INFO:
        fact = facts[profile.name]
        assert fact["properties"][prop["name"]]["field"] == prop["field"]
        coupled = simprofiles.COMBINED.get(prop["field"]) if prop["type"] == "string" else None
        if coupled:   # the simulator models RAS_frac, CSV2_frac and MPAM_frac (not NV_frac)
            assert fact["properties"][prop["name"]]["coupled_field"] == coupled
        checked += 1
    for fact in facts.values():
        jsonschema.Draft202012Validator(schema).validate(fact)
    assert checked == len(PROPS_INFO)


def test_a_request_checked_against_a_baseline_is_rendered_in_each_host_s_names(facts):
    """A baseline of hosts of two dialects speaks canonical fields; each host's -cpu and <cpu> are in its own names,
    as its QEMU takes them (delivery.plan with the host's own fact), never in the baseline's."""
    pool = {"grace-v2-01": facts["neoverse-v2"], "grace-sr-01": facts["neoverse-v2-sysreg"]}
    base = baseline.baseline(pool)
    request = [{"name": "hw_prop_WRPs", "value": "2"}, {"name": "feat_AES", "value": "1"}]
    view = delivery.LibvirtView(None, False, "h", names.QEMU_COMMANDLINE)
    args = {}
    for host, fact in pool.items():
        entry = delivery.plan(request, base, "host-passthrough", host, view, own=fact)
        assert entry.errors == [], [error.message for error in entry.errors]
        args[host] = entry.arg
        # against the baseline alone the request is in canonical names, which only the SYSREG_ host speaks
        assert delivery.plan(request, base, "host-passthrough", host, view).arg == \
            "host,SYSREG_ID_AA64DFR0_EL1_WRPs=0x2,SYSREG_ID_AA64ISAR0_EL1_AES=0x1"
    assert args == {"grace-v2-01": "host,hw_prop_WRPs=2,feat_AES=1",
                    "grace-sr-01": "host,SYSREG_ID_AA64DFR0_EL1_WRPs=0x2,SYSREG_ID_AA64ISAR0_EL1_AES=0x1"}
    # a host's own fact is only used to translate a baseline's request; against its own fact nothing changes
    own = delivery.plan(request, facts["neoverse-v2"], "host-passthrough", "h", view, own=facts["neoverse-v2-sysreg"])
    assert own.arg == "host,hw_prop_WRPs=2,feat_AES=1"
