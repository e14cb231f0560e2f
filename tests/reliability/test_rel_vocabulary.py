"""One vocabulary across dialects: a request valid on one simulated host, written in its names, translated into
every other host's names (vocabulary.translate through validate.check_features).

Contract: never raises; a problem is a record with a rule from validate.ALL_RULE_IDS and a message that starts with
the host it is about; a request in a host's own names is itself; whatever is translated means the same field values
on both hosts (each value decoded through the table gives the same integers); and a translated request that
validates renders in the target host's names only.
"""

import collections

import pytest
from hypothesis import given, strategies as st

from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
from ansible_collections.armvirt.cpu.plugins.module_utils._host import vocabulary
from ansible_collections.armvirt.cpu.plugins.module_utils._host.props import split_number_values
from rel_helpers import SETTINGS, assert_ran, count, profile_facts

N_PAIRS = 2000
OUTCOMES = collections.Counter()
TRANSLATED = collections.Counter()


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    found = profile_facts(str(tmp_path_factory.mktemp("vocabulary-hosts")))
    assert len({fact["dialect"] for fact in found.values()}) == 4
    return found


def _values(prop):
    """Every value a property offers, as a request would write it: each integer of a range, each name."""
    if prop["type"] == "number":
        ranges, names = split_number_values(prop["supported_values"])
        hexa = any(value.startswith("0x") for value in prop["supported_values"])
        return [("0x%x" if hexa else "%d") % number for low, high in ranges
                for number in range(low, min(high, low + 16) + 1)] + names
    return list(prop["supported_values"])


def _meaning(name, value):
    """``{field label: integer}`` a feature stands for, or None when the table gives it no exact value."""
    entry = vocabulary.TABLE.get(name)
    labels = entry.fields if entry is not None else vocabulary.canonical_name(name)
    numbers = vocabulary.decode(name, value)
    if numbers is None:
        return None
    return dict(zip(labels, numbers))


@st.composite
def cross_request(draw, facts):
    # hypothesis leans towards the first of a list; a seeded Random spreads the hosts and names evenly
    rnd = draw(st.randoms(use_true_random=False))
    source, target = rnd.choice(sorted(facts)), rnd.choice(sorted(facts))
    props = facts[source]["properties"]
    request = []
    for name in rnd.sample(sorted(props), rnd.randint(1, 4)):
        values = _values(props[name])
        if values and rnd.randint(0, 4):
            request.append({"name": name, "value": rnd.choice(values)})
        else:
            request.append({"name": name, "policy": rnd.choice(["require", "disable", "optional"])})
    return source, target, request


def test_requests_cross_every_pair_of_dialects(facts):
    @SETTINGS(N_PAIRS)
    @given(st.data())
    def run(data):
        source, target, request = data.draw(cross_request(facts))
        count("vocabulary")
        fact = facts[target]
        translated, problems, renamed = vocabulary.translate(request, fact, target)
        TRANSLATED["features"] += len(renamed)
        TRANSLATED["problems"] += len(problems)
        assert all(problem.rule in validate.ALL_RULE_IDS for problem in problems)
        assert all(problem.message.startswith(target + ":") for problem in problems)
        if source == target:
            assert (translated, problems) == (request, [])
        asked = {item["name"]: item for item in request}
        for feature in translated:
            if feature["name"] in asked:
                assert feature == asked[feature["name"]]   # a name the host speaks, or one no entry knows
                continue
            assert feature["name"] in fact["properties"]
            if "value" in feature:
                meaning = _meaning(feature["name"], feature["value"])
                wanted = {}
                for name in renamed[feature["name"]].split(" and "):
                    wanted.update(_meaning(name, asked[name]["value"]) or {})
                assert meaning is not None and all(wanted[label] == number for label, number in meaning.items()
                                                   if label in wanted), (feature, renamed)
        normalised, errors = validate.check_features(request, fact, target)
        assert all(error.rule in validate.ALL_RULE_IDS and error.message.startswith(target + ":") for error in errors)
        if not errors:
            assert all(feature["name"] in fact["properties"] for feature in normalised)
            validate.qemu_cpu_arg(normalised, "host-passthrough", fact, target)
        kind = "same host" if source == target else (
            "accepted" if not errors else "refused " + ",".join(sorted({error.rule for error in errors})))
        OUTCOMES[kind] += 1

    run()
    assert_ran("vocabulary", N_PAIRS)
    print("vocabulary outcomes:", dict(OUTCOMES.most_common()), dict(TRANSLATED))
    assert OUTCOMES["accepted"] > N_PAIRS // 20
