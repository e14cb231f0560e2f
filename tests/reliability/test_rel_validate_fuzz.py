"""Guest side: validate.check_features and qemu_cpu_arg against real host facts (every armsim profile probed through
the stand-in emulator, plus tests/fixtures/facts), with fuzzed requests and with XML / -cpu metacharacters.

Contract: never raises; every error is a FeatureError record (host, feature, value, allowed, rule, message) with a
known rule; what is accepted contains only [A-Za-z0-9._-] (plus "," and "=" as separators on the -cpu line) and
re-validates to itself.
"""

import random
import re
from collections.abc import Mapping

import pytest
from hypothesis import given, strategies as st

from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
from ansible_collections.armvirt.cpu.plugins.module_utils._guest.validate import (
    FeatureError, FeatureRequestError, check_features, qemu_cpu_arg)
from rel_helpers import SETTINGS, assert_ran, count, fixture_facts, profile_facts

N_REAL, N_HOSTILE = 3000, 1000
SAFE_TOKEN = re.compile(r"[A-Za-z0-9._-]+")
SAFE_CPU_ARG = re.compile(r"[A-Za-z0-9._-]+(,[A-Za-z0-9._-]+=[A-Za-z0-9._-]+)*")
METACHARS = ["'", '"', "<", ">", "&", ",", "=", "\n", "\r", "\x00", " ", "\t", ";", "$(", "`", "/", "\\", "]]>"]


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    found = {"profile " + name: fact
             for name, fact in profile_facts(str(tmp_path_factory.mktemp("validate-hosts"))).items()}
    found.update(("fixture " + name, fact) for name, fact in fixture_facts().items())
    assert len(found) >= 10
    return found


_RNG = random.Random(4242)
JUNK_VALUES = [None, True, False, 0, 1, 10, -1, 1.1, 1.10, [], {}, ["on"], {"value": "on"}, b"on", 2 ** 70]


def _variants(text):
    """Spellings a user might try for a host value or name: case, hex, leading zeros, padding, metacharacters."""
    out = {text, text.upper(), text.lower(), text.swapcase(), " " + text, text + " ", text + "\n"}
    if text.isdigit():
        out |= {hex(int(text)), "0" + text, "0x" + text, str(int(text) + 1)}
    for char in METACHARS[:8]:
        out.add(text + char + "x")
    return sorted(out)


@st.composite
def request(draw, fact):
    props = fact.get("properties") or {}
    names = sorted(props)
    shape = draw(st.integers(0, 29))
    if shape == 0:
        return draw(st.sampled_from(["feat_RAS", "", None, 3, {"name": "pmu"}, b"pmu", ("pmu",)]))
    items = []
    for _unused in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 19))
        if kind == 0:
            items.append(draw(st.sampled_from([None, "pmu", 1, ["pmu"], ("name", "pmu")])))
            continue
        item = {}
        if kind != 1:
            if names and kind > 5:
                name = draw(st.sampled_from(names))
            elif names and kind > 3:
                name = draw(st.sampled_from(_variants(draw(st.sampled_from(names)))))
            else:
                name = draw(st.sampled_from(["pmu", "sve", "feat_X", "a" * 300, "", "fé", "\u212aVM", 7, None,
                                             "sve,pmu=off", "x'><y", "a\x00b"] + METACHARS))
            item["name"] = name
        if draw(st.integers(0, 3)):
            item["policy"] = draw(st.sampled_from(list(validate.POLICIES) * 3 + ["", "Require", None, 1, "allow"]))
        if draw(st.integers(0, 2)):
            prop = props.get(item.get("name")) if isinstance(item.get("name"), str) else None
            pool = list(prop["supported_values"]) if prop else []
            pool += [variant for value in pool[:3] for variant in _variants(value)]
            pool += ["on", "off", "yes", "TRUE", "0", "3", "0x3", "010", "1.1_base"]
            roll = draw(st.integers(0, 9))
            if roll == 0:
                item["value"] = draw(st.sampled_from(JUNK_VALUES))
            elif roll == 1:
                item["value"] = draw(st.sampled_from(["on" + char + "x" for char in METACHARS]))
            else:
                item["value"] = draw(st.sampled_from(pool))
        if kind == 2:
            item[draw(st.sampled_from(["values", "Name", "", 3]))] = "x"
        items.append(item)
    if shape == 1 and items:
        items.append(dict(items[0]) if isinstance(items[0], Mapping) else items[0])  # a duplicate
    return items


def check_contract(features, fact, host):
    normalised, errors = check_features(features, fact, host)
    for error in errors:
        assert isinstance(error, FeatureError), error
        assert error.rule in validate.ALL_RULE_IDS, error.rule
        assert isinstance(error.message, str) and error.message, error
        assert isinstance(error.host, str) and error.host
        assert isinstance(error.allowed, list) and all(isinstance(value, str) for value in error.allowed)
        record = error.as_dict()
        assert set(record) == {"host", "feature", "value", "allowed", "rule", "message"}
        if host is not None:
            assert error.message.startswith(str(host) + ":"), error.message
    for feature in normalised:
        assert SAFE_TOKEN.fullmatch(feature["name"]), feature
        assert feature["policy"] in validate.POLICIES
        if "value" in feature:
            assert SAFE_TOKEN.fullmatch(feature["value"]), feature
    try:
        arg = qemu_cpu_arg(features, "host-passthrough", fact, host)
    except FeatureRequestError as exc:
        assert exc.errors and all(isinstance(error, FeatureError) for error in exc.errors)
        assert errors, "qemu_cpu_arg refused what check_features accepted: %s" % exc
        return "refused"
    assert not errors, "qemu_cpu_arg accepted what check_features refused"
    assert SAFE_CPU_ARG.fullmatch(arg), arg
    # idempotence: the normalised request is valid and normalises to itself, with the same -cpu line
    again, again_errors = check_features(normalised, fact, host)
    assert (again, again_errors) == (normalised, [])
    assert qemu_cpu_arg(normalised, "host-passthrough", fact, host) == arg
    return "accepted"


SEEN = {}


def test_fuzzed_requests_against_real_host_facts(facts):
    labels = sorted(facts)

    @SETTINGS(N_REAL)
    @given(st.data())
    def run(data):
        label = data.draw(st.sampled_from(labels), label="host fact")
        fact = facts[label]
        features = data.draw(request(fact), label="features")
        host = data.draw(st.sampled_from([None, "hv-01", "rack 3/hv<2>"]), label="host")
        count("validate real")
        outcome = check_contract(features, fact, host)
        SEEN[outcome] = SEEN.get(outcome, 0) + 1

    run()
    assert_ran("validate real", N_REAL)
    assert SEEN.get("accepted", 0) > N_REAL // 30 and SEEN.get("refused", 0) > N_REAL // 10, SEEN
    print("\nvalidator fuzz (real facts): %r" % SEEN)


def hostile_fact(rng):
    """A host whose QEMU reports values with metacharacters and look-alikes: what the validator lets through must
    still be safe, since the host's spelling is what gets rendered."""
    tricky = ["a,b", "x=y", "1'", '"q"', "<v>", "a&b", "on\n", "\u212a", "\u212aB", "s\u017f", "ﬁ", "\x00", "ok"]
    props = {}
    for index in range(12):
        type_ = rng.choice(["string", "number", "bool", "u64"])
        values = rng.sample(tricky, 4) + rng.sample(["0-3", "on", "off", "1.0", "k", "kb", "st", "fi"], 2)
        props["p%d" % index] = {"type": type_, "supported_values": values}
    return {"supported": True, "dialect": "query-arm-cpu-props-info", "accel": "kvm", "emulator": None,
            "qemu_version": "9.2.0", "source": "probe", "reason": None, "properties": props}


HOSTILE = [hostile_fact(random.Random(seed)) for seed in range(20)]


@SETTINGS(N_HOSTILE)
@given(st.sampled_from(HOSTILE), st.data())
def test_values_from_a_hostile_host_never_render_unsafe(fact, data):
    count("validate hostile")
    features = data.draw(request(fact), label="features")
    extra = data.draw(st.sampled_from(["k", "K", "kb", "KB", "st", "ST", "fi", "FI", "ok", "OK"]))
    features = (features if isinstance(features, list) else []) + [
        {"name": "p%d" % data.draw(st.integers(0, 11)), "value": extra}]
    check_contract(features, fact, None)


def test_hostile_count():
    assert_ran("validate hostile", N_HOSTILE)


# ------------------------------------------------------------------------------------------------ metacharacters


@pytest.mark.parametrize("char", METACHARS, ids=[repr(char) for char in METACHARS])
@pytest.mark.parametrize("where", ["name", "value"])
def test_metacharacters_in_names_and_values_are_refused_with_a_clear_message(facts, char, where):
    fact = facts["profile neoverse-v1"]
    feature = {"name": "feat_RAS", "value": "1.0"}
    feature[where] = feature[where] + char + "x"
    normalised, errors = check_features([feature], fact, "hv-01")
    assert normalised == []
    bad = [error for error in errors if error.rule == "bad-token"]
    assert bad, errors
    assert "not a plain token" in bad[0].message and repr(feature[where]) in bad[0].message, bad[0].message
    assert bad[0].host == "hv-01" and bad[0].feature == feature["name"]
    with pytest.raises(FeatureRequestError, match="not a plain token"):
        qemu_cpu_arg([feature], "host-passthrough", fact, "hv-01")
    with pytest.raises(FeatureRequestError, match="not a plain token"):
        qemu_cpu_arg([feature])  # without host facts the token rule still holds


def test_case_insensitive_match_cannot_render_a_non_token_host_value():
    """Found by the hostile-host fuzz: "k" matched a listed KELVIN SIGN (U+212A lower() is "k") and the host's
    spelling, not a token, went into the normalised request and the -cpu line."""
    fact = {"supported": True, "properties": {"p": {"type": "string", "supported_values": ["\u212a", "x"]},
                                              "q": {"type": "number", "supported_values": ["0-3", "\u212aB"]}}}
    normalised, errors = check_features([{"name": "p", "value": "k"}, {"name": "q", "value": "KB"}], fact, "hv-01")
    assert normalised == []
    assert [error.rule for error in errors] == ["bad-token", "bad-token"]
    assert "not a plain token" in errors[0].message
    with pytest.raises(FeatureRequestError):
        qemu_cpu_arg([{"name": "p", "value": "k"}], props_fact=fact)
