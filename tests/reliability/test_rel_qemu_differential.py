"""Differential test: the collection's verdict on a CPU request against the real qemu-system-aarch64's.

The fact is what the collection's own probe reports for Debian's QEMU (TCG, model ``max``). Thousands of generated
requests over its boolean properties (biased towards the families that interact: SVE and its vector lengths, pointer
authentication, PMU) are judged twice: by ``validate.check_features`` / ``qemu_cpu_arg`` with that fact, and by QEMU
itself through ``query-cpu-model-expansion`` of ``max`` with the request's properties (the same ``-cpu`` values the
collection builds). A sample is also started for real (``-S``, machine ``virt``) with the generated ``-cpu``. QEMU's
own cases from ``tests/qtest/arm-cpu-features.c`` that apply to TCG are among the cases. Any disagreement, either way,
fails the test. The seed is printed; ``ARMVIRT_DIFF_SEED=<n>`` reproduces a run.

``forbid`` is left out of the generated policies: libvirt itself refuses to start a guest that forbids a feature the
host offers (validate's ``forbid-offered``), a decision above QEMU's, so QEMU is no judge of it.
"""

import json
import os
import random
import re
import subprocess

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
from ansible_collections.armvirt.cpu.plugins.module_utils._host import dialects, probe, qmp, vocabulary

pytestmark = pytest.mark.real_qemu

N_GENERATED = 2400
N_STARTED = 120   # paused starts per QEMU of the matrix (each about 0.25 s)
FORMS = (
    {},                       # require: name=on
    {"policy": "force"},      # name=on
    {"policy": "disable"},    # name=off
    {"policy": "optional"},   # left out
    {"value": "on"},
    {"value": "off"},
)

# tests/qtest/arm-cpu-features.c (QEMU 7.2 and 10.0), the TCG cases for model max: (props, None or a pattern of
# QEMU's error). The verdict is the point, and the property the refusal names; the rest of the wording changes
# between versions (10.0: "cannot enable pauth-impdef, pauth-qarma3 or pauth-qarma5 without pauth").
QTEST_CASES = (
    ({"sve": False}, None),
    ({"sve128": False}, "cannot disable sve128"),
    ({"sve384": True}, None),
    ({"sve384": False}, None),
    ({"sve1024": True, "sve384": False}, None),
    ({"sve1024": True, "sve384": True}, None),
    ({"sve1024": True, "sve256": True}, None),
    ({"sve1024": True, "sve256": False}, "cannot disable sve256"),
    ({"sve384": True, "sve512": False, "sve640": True}, "cannot disable sve512"),
    ({"sve512": False}, None),
    ({"sve384": True, "sve512": True, "sve640": True}, None),
    ({"sve384": True, "sve512": True, "sve640": False}, None),
    ({"pauth": False}, None),
    ({"pauth": True}, None),
    ({"pauth-impdef": True}, None),
    ({"pauth-impdef": False}, None),
    ({"pauth": False, "pauth-impdef": True}, r"cannot enable pauth-impdef\b.* without pauth"),
    ({"aarch64": False}, "'aarch64' feature cannot be disabled"),
    ({"sve": False, "sve128": True}, "cannot enable sve128"),
    ({"pmu": False}, None),
)


@pytest.fixture(scope="module")
def qemu_fact_and_monitor(matrix_qemu):
    """The collection's fact for the real QEMU, and a negotiated monitor of the same emulator to judge requests."""
    with probe.spawned_qemu(matrix_qemu, "tcg", timeout=20.0) as client:
        fact = dialects.read_host_props(client, "tcg").to_fact("tcg", matrix_qemu, "probe")
        yield fact, client


def _seed():
    return int(os.environ.get("ARMVIRT_DIFF_SEED") or random.SystemRandom().randrange(1 << 31))


def _families(fact):
    names = sorted(fact["properties"])
    sve = [name for name in names if name.startswith("sve")]
    pauth = [name for name in names if name.startswith("pauth")]
    return {"sve": sve, "pauth": pauth, "pmu": ["pmu", "sve", "pauth"], "all": names}


def generate(rng, fact, count):
    """``count`` requests: lists of features, biased towards the interacting families, no name twice."""
    families = _families(fact)
    weights = (("sve", 55), ("pauth", 20), ("pmu", 5), ("all", 20))
    requests = []
    for _index in range(count):
        family = rng.choices([name for name, _w in weights], [w for _n, w in weights])[0]
        pool = families[family]
        names = rng.sample(pool, rng.randint(1, min(6, len(pool))))
        requests.append([dict(FORMS[rng.randrange(len(FORMS))], name=name) for name in names])
    return requests


def cpu_props(arg):
    """QMP expansion props for a ``-cpu`` value the collection built: ``max,a=on,b=off`` -> {a: True, b: False}."""
    settings = {}
    for part in arg.split(",")[1:]:
        name, value = part.split("=", 1)
        settings[name] = {"on": True, "off": False}[value]
    return settings


def qemu_expansion_verdict(client, settings):
    """None when QEMU expands model max with ``settings``, else its error text."""
    try:
        client.execute("query-cpu-model-expansion", {"type": "full", "model": {"name": "max", "props": settings}})
    except qmp.QMPCommandError as err:
        return err.desc
    return None


def qemu_start_verdict(emulator, arg, tmp_path):
    """None when QEMU starts (paused, machine virt) with ``-cpu arg``, else the first line it wrote to stderr."""
    proc = subprocess.run(
        [emulator, "-S", "-no-user-config", "-nodefaults", "-nographic", "-machine", "virt,accel=tcg",
         "-cpu", arg, "-qmp", "stdio", "-monitor", "none", "-serial", "none"],
        input='{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n', capture_output=True, text=True, timeout=30,
        cwd=str(tmp_path), check=False)
    if proc.returncode == 0:
        return None
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return (lines[0] if lines else "exit %d" % proc.returncode).split(": ", 1)[-1]


def collection_verdict(features, fact):
    """(errors as records, -cpu value or None); both entry points must agree with each other."""
    errors = validate.check_features(features, fact, "qemu")[1]
    try:
        arg = validate.qemu_cpu_arg(features, "maximum", fact, "qemu")
    except validate.FeatureRequestError as exc:
        assert errors and [e.rule for e in exc.errors] == [e.rule for e in errors], (features, errors, exc.errors)
        return errors, None
    assert not errors, (features, errors)
    return errors, arg


def test_fact_lists_values_possible_only_together(qemu_fact_and_monitor):
    """sve128=off is refused alone but accepted with sve=off: the fact lists it, saying with what."""
    fact, _client = qemu_fact_and_monitor
    sve128 = fact["properties"]["sve128"]
    assert sve128["supported_values"] == ["on", "off"]
    assert sve128["conditional_values"] == {"off": {"with": {"sve": "off"}, "rule": "sve-no-length"}}
    assert fact["properties"]["aarch64"]["supported_values"] == ["on"]
    assert "conditional_values" not in fact["properties"]["sve256"]


def test_qtest_cases_agree(qemu_fact_and_monitor):
    """QEMU's own TCG cases: QEMU still says what its qtest expects, and the collection says the same."""
    fact, client = qemu_fact_and_monitor
    for settings, error in QTEST_CASES:
        said = qemu_expansion_verdict(client, settings)
        assert (said is None) == (error is None) and (error is None or re.match(error, said)), (settings, said)
        features = [{"name": name, "value": "on" if value else "off"} for name, value in settings.items()]
        errors, _arg = collection_verdict(features, fact)
        assert bool(errors) == (error is not None), (settings, error, [e.message for e in errors])


def test_generated_requests_agree_with_qemu(qemu_fact_and_monitor, matrix_qemu, tmp_path, report_line):
    fact, client = qemu_fact_and_monitor
    seed = _seed()
    print("differential seed: %d (ARMVIRT_DIFF_SEED=%d reproduces)" % (seed, seed))
    rng = random.Random(seed)
    requests = generate(rng, fact, N_GENERATED)
    started = set(rng.sample(range(len(requests)), N_STARTED))
    disagreements, tally = [], {"valid": 0, "refused": 0, "started": 0, "start_refused": 0}
    start_verdicts = {}   # -cpu value -> QEMU's verdict: a value started once is not started again (same QEMU)
    for index, features in enumerate(requests):
        errors, arg = collection_verdict(features, fact)
        shape_arg = validate.qemu_cpu_arg(features, "maximum")   # what QEMU is asked, valid or not
        qemu_says = qemu_expansion_verdict(client, cpu_props(shape_arg))
        tally["valid" if qemu_says is None else "refused"] += 1
        if (qemu_says is None) != (not errors):
            disagreements.append({"request": features, "cpu": shape_arg, "qemu": qemu_says,
                                  "collection": [e.message for e in errors]})
        if arg is not None:
            assert arg == shape_arg, (features, arg, shape_arg)
        if index in started:
            if shape_arg not in start_verdicts:
                start_verdicts[shape_arg] = qemu_start_verdict(matrix_qemu, shape_arg, tmp_path)
            start_says = start_verdicts[shape_arg]
            tally["started"] += 1
            tally["start_refused"] += start_says is not None
            if (start_says is None) != (qemu_says is None) or (start_says is None) != (not errors):
                disagreements.append({"request": features, "cpu": shape_arg, "qemu_start": start_says,
                                      "qemu": qemu_says, "collection": [e.message for e in errors]})
    summary = dict(tally, seed=seed, cases=len(requests), disagreements=len(disagreements),
                   distinct_started=len(start_verdicts))
    print("differential summary: %s" % json.dumps(summary, sort_keys=True))
    report_line("differential test, QEMU %s (%s): %s" % (fact.get("qemu_version"), matrix_qemu,
                                                         json.dumps(summary, sort_keys=True)))
    assert tally["refused"] >= len(requests) // 10 and tally["valid"] >= len(requests) // 10, summary
    assert not disagreements, "seed %d: %d disagreements, first: %s" % (
        seed, len(disagreements), json.dumps(disagreements[:5], indent=1))


def _boolean_part(policy, fact):
    """The -cpu value real QEMU (model max) is given for a policy's boolean properties that it has, in its own names
    (a recommendation names canonical fields: ID_AA64PFR0_EL1.SVE 0 is sve=off there)."""
    features = [feature for feature in vocabulary.to_host(policy["features"], fact, "real-qemu")[0]
                if fact["properties"].get(feature["name"], {}).get("type") == "bool"]
    return validate.qemu_cpu_arg(features, "maximum")


def test_recommendations_hold_on_every_member_and_start_on_real_qemu(qemu_fact_and_monitor, matrix_qemu, tmp_path):
    """Every pool of the simulated fleet (each class, and the whole fleet) and the real QEMU's own: the recommended
    policy passes the full validation on every member, and its boolean part starts on the real QEMU."""
    from rel_helpers import profile_facts
    from ansible_collections.armvirt.cpu.plugins.module_utils._fleet import classes, recommend
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import rules

    real_fact, client = qemu_fact_and_monitor
    facts = {name: fact for name, fact in profile_facts(str(tmp_path)).items() if fact["supported"]}
    facts["real-qemu"] = real_fact
    pools = {"fleet": sorted(facts)}
    pools.update(("class " + cid, info["hosts"]) for cid, info in classes.classes(facts)["classes"].items())
    assert len(pools) >= 6, pools
    started = {}   # boolean part -> QEMU's start verdict: pools with the same part start QEMU once
    for pool, members in sorted(pools.items()):
        policy = recommend.recommend({host: facts[host] for host in members})
        assert policy["features"], pool
        assert not [feature for feature in policy["features"] if rules.is_vm_switch(feature["name"])], pool
        for host in members:
            errors = validate.check_features(policy["features"], facts[host], host)[1]
            assert errors == [], (pool, [error.message for error in errors])
        arg = _boolean_part(policy, real_fact)
        assert qemu_expansion_verdict(client, cpu_props(arg)) is None, (pool, arg)
        if arg not in started:
            started[arg] = qemu_start_verdict(matrix_qemu, arg, tmp_path)
        assert started[arg] is None, (pool, arg)


def test_gated_fields_on_every_simulated_profile(tmp_path):
    """On every simulated host, each ID field gated by a switch (SVE, PMU, pointer authentication fields, under
    their valued or SYSREG_ names): showing the feature with the switch off breaks the gate's rule, hiding it with
    the switch off does not. Judged against each profile's own fact, as a user's request would be."""
    from rel_helpers import profile_facts
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import rules

    checked = 0
    for name, fact in sorted(profile_facts(str(tmp_path)).items()):
        props = fact["properties"]
        for rule in (rule for rule in rules.RULES if rule.kind == "gate"):
            switch = rule.params["switch"]
            if "off" not in props.get(switch, {}).get("supported_values", ()):
                continue
            for field, absent in sorted(rule.params["fields"].items()):
                if field not in props:
                    continue
                values = props[field]["supported_values"]
                shown = [value.split("-")[-1] for value in values if value.lower() not in absent + ("0x0",)]
                if shown:
                    request = [{"name": switch, "policy": "disable"}, {"name": field, "value": shown[-1]}]
                    rules_broken = [e.rule for e in validate.check_features(request, fact, name)[1]]
                    assert rule.id in rules_broken, (name, request, rules_broken)
                    checked += 1
                hidden = [value for value in absent if props_match(fact, field, value)]
                if hidden:
                    request = [{"name": switch, "policy": "disable"}, {"name": field, "value": hidden[0]}]
                    assert validate.check_features(request, fact, name)[1] == [], (name, request)
                    checked += 1
    print("gated fields checked on the simulated profiles: %d cases" % checked)
    assert checked >= 10, checked


def props_match(fact, field, value):
    from ansible_collections.armvirt.cpu.plugins.module_utils._host import props as propmodel
    prop = fact["properties"][field]
    return propmodel.Property(field, prop["type"], prop["supported_values"]).match(value) is not None
