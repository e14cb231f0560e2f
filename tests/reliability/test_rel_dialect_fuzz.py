"""Property-based tests of the reply parsers: dialects.read_host_props driven by a fake client serving generated
replies (well-formed and malformed), and the cache format's round trip of generated facts.

Contract under test (docs/architecture.md): whatever a monitor answers, read_host_props gives a HostProps whose fact
is valid against docs/schemas/arm_cpu_props.schema.json, or raises a qmp.QMPError for a fault (a command error or the
wire); never any other exception, and never a DialectError: a reply of the wrong shape is read where it can be and
otherwise makes the reader fall back to the next dialect, each time with a warning naming the command.
"""

import json
import math
import random

import pytest
from hypothesis import given, strategies as st

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._host import cache, dialects, props, qmp
from rel_helpers import EXAMPLES, SETTINGS, assert_ran, count, fact_errors, fact_validator

# ------------------------------------------------------------------------------------------------ strategies

# Characters that broke parsers somewhere: NUL, C0 controls, CR/LF, lone surrogates (json.loads makes them from
# "\udc80"), BOM, non-characters, the Kelvin sign (lower() gives ASCII "k"), XML and -cpu metacharacters.
NASTY = ["\x00", "\x01", "\x07", "\x1b", "\x7f", "\n", "\r", "\t", "\ud800", "\udfff", "\udc80", "\ufeff", "\uffff",
         "\ufffe", "\U0010ffff", "\u212a", "\u0130", "\u2028", "'", '"', "<", ">", "&", ",", "=", " ", "]", "é",
         "中", "🙂", "\\", "{", "}"]
NASTY_STRINGS = ["]]>", "&amp;", "<!DOCTYPE x>", "a\r\nb", "\x00\x00", "", " ", "on,x=y", "1'\"<&"]


def _pool_text(rng):
    """One string: ASCII word characters mostly, with nasty and random code points (surrogates included)."""
    chars = []
    for _unused in range(rng.choice([0, 1, 2, 3, 5, 8, 16])):
        roll = rng.random()
        if roll < 0.55:
            chars.append(rng.choice("abcdefXYZ0123456789._-"))
        elif roll < 0.8:
            chars.append(rng.choice(NASTY))
        else:
            chars.append(chr(rng.randrange(0x110000)))
    return "".join(chars)


def _pool_junk(rng, depth=0):
    roll = rng.random()
    if depth >= 3 or roll < 0.55:
        return rng.choice([None, True, False, 0, -1, 1, 2 ** 64, -2 ** 70, 2 ** 70, 0.5, -0.0, 1e308,
                           float("nan"), float("inf"), float("-inf"), _pool_text(rng), _pool_text(rng)])
    if roll < 0.8:
        return [_pool_junk(rng, depth + 1) for _unused in range(rng.randrange(5))]
    return {_pool_text(rng): _pool_junk(rng, depth + 1) for _unused in range(rng.randrange(5))}


def _nested(depth):
    value = "bottom"
    for _unused in range(depth):
        value = [value]
    return value


# Values come from fixed pools built once from a fixed seed: hypothesis then only picks and combines, which is
# about ten times cheaper than drawing every character, so the suite can afford thousands of examples.
_RNG = random.Random(20260101)
TEXT_POOL = sorted(set(_pool_text(_RNG) for _unused in range(4000)) | set(NASTY_STRINGS) | set(NASTY))
JUNK_POOL = [_pool_junk(_RNG) for _unused in range(1500)] + [
    _nested(900), {"a": _nested(500)}, list(range(20000)), "x" * 100000, {"k%d" % i: i for i in range(5000)}]
TOKEN_POOL = sorted(set("".join(_RNG.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
                                for _unused in range(_RNG.randrange(1, 21))) for _unused in range(3000)))
TEXT = st.sampled_from(TEXT_POOL)
JUNK = st.sampled_from(JUNK_POOL)
TOKEN = st.sampled_from(TOKEN_POOL)


def weighted(*pairs):
    """one_of with weights (one_of itself picks uniformly and merges equal branches)."""
    total = sum(weight for weight, _unused in pairs)

    @st.composite
    def pick(draw):
        roll = draw(st.integers(0, total - 1))
        for weight, strategy in pairs:
            if roll < weight:
                return draw(strategy)
            roll -= weight
    return pick()


# Names: mostly valid (so parsing goes deep), sometimes hostile: a trailing newline passes a "^...$" regex.
NAME = weighted((30, TOKEN), (1, TEXT), (1, TOKEN.map(lambda name: name + "\n")),
                (1, st.sampled_from(["", "a,b", "a=b", "sve\x00"])))
INTS = st.one_of(st.integers(-3, 70), st.integers(-2 ** 70, 2 ** 70))
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
SCALARS = st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXT)
TYPES = st.one_of(st.sampled_from(["number", "string", "bool", "u64", "uint8", "", "Number"]), TEXT)
VALUE = st.one_of(st.sampled_from(["0", "0-3", "1.1_base", "off", "on", "0x10-0x1f", "010", " 2 - 5 ", "5-1"]), TEXT)
# Nutanix's v3 shape: inclusive {min, max} ranges (sometimes reversed, negative, huge or with a stray member) and
# JSON booleans among the supported values
RANGE = st.fixed_dictionaries({"min": st.integers(-2, 2 ** 64), "max": st.integers(-2, 2 ** 64)},
                              optional={"step": st.integers(0, 3)})
SUPPORTED = weighted((6, VALUE), (3, RANGE), (1, st.booleans()))
# the dialects' commands in the readers' order (sysreg is read from the expansion's command)
DIALECT_COMMANDS = [dialects.COMMANDS[name] for name in names.DIALECTS if name != names.SYSREG]
COMMANDS = DIALECT_COMMANDS + ["qmp_capabilities", "query-version", "query-commands", "quit", "query-kvm"]
# SYSREG_ names: real fields of the table, fields it lacks, and malformed ones
SYSREG_NAMES = st.sampled_from(["SYSREG_ID_AA64ISAR0_EL1_AES", "SYSREG_ID_AA64PFR0_EL1_FP", "SYSREG_CTR_EL0_CWG",
                                "SYSREG_MIDR_EL1_PartNum", "SYSREG_ID_AA64PFR0_EL1_GIC", "SYSREG_ID_AA64ISAR2_EL1_MOPS",
                                "SYSREG_ID_AA64DFR0_EL1_DebugVer", "SYSREG_ID_AA64MMFR0_EL1_ASIDBits",
                                "SYSREG_ID_AA64ZZZ0_EL1_NEW", "SYSREG_", "SYSREG_CTR_EL0_", "SYSREG_X"])


# Strategies are made once, here, and drawn from many times: making one (st.integers(...), a composite's call)
# costs hypothesis more than drawing from it, and the replies below draw thousands of times per example.
BOOLEANS = st.booleans()
KIND_40, KIND_60, KIND_30, KIND_20, KIND_4, KIND_3, KIND_100 = (st.integers(0, n - 1)
                                                                for n in (40, 60, 30, 20, 4, 3, 100))
U64 = st.integers(0, 2 ** 64)
ELEMENT_NAME = weighted((8, NAME), (1, SYSREG_NAMES))
SUPPORTED_LIST = st.lists(SUPPORTED, max_size=6)
DEFAULT = weighted((12, st.one_of(st.booleans(), INTS, TEXT)), (1, SCALARS))
ELEMENT_EXTRA = st.dictionaries(st.one_of(TEXT, st.sampled_from(["field", "why", "min", "max"])), JUNK, max_size=2)
RENAMED_KEY = st.sampled_from(["supported_values", "supported-values", "name", "type"])


@st.composite
def element(draw, bounds):
    """One element of a props-info reply: mostly well-formed, then mutated."""
    elem = {"name": draw(ELEMENT_NAME), "type": draw(TYPES)}
    if draw(KIND_60):
        elem["supported-values"] = draw(SUPPORTED_LIST)
    if bounds and draw(BOOLEANS):
        low = draw(U64)
        elem["min"], elem["max"] = low, draw(st.one_of(st.integers(low, 2 ** 64), U64))
    if draw(KIND_4) == 0:
        elem["default"] = draw(DEFAULT)
    elem.update(draw(ELEMENT_EXTRA))
    mutation = draw(KIND_100)
    if mutation == 0:
        elem.pop(draw(st.sampled_from(sorted(elem))))
    elif mutation == 1:
        elem[draw(st.sampled_from(sorted(elem)))] = draw(JUNK)
    elif mutation == 2:
        elem[draw(RENAMED_KEY)] = draw(JUNK)
    elif mutation == 3 and isinstance(elem.get("supported-values"), list):
        elem["supported-values"].append(draw(JUNK))
    elif mutation == 4:
        return draw(JUNK)
    return elem


ELEMENTS = {bounds: element(bounds) for bounds in (False, True)}


def _name_key(elem):
    return repr(elem.get("name")) if isinstance(elem, dict) else repr(elem)


HUGE_SIZE = st.sampled_from([1000, 2000])
ELEMENT_LISTS = {bounds: st.lists(ELEMENTS[bounds], max_size=8, unique_by=_name_key) for bounds in (False, True)}
MODEL = st.one_of(st.just({"name": "host"}), TEXT, JUNK)


def huge_list(size, bounds):
    """A long, valid reply built directly (hypothesis lists of thousands are slow to generate)."""
    elems = [{"name": "p%d" % index, "type": "number", "supported-values": ["0-%d" % index, "off"]}
             for index in range(size)]
    if bounds:
        elems[0] = {"name": "p0", "type": "number", "supported-values": [], "min": 0, "max": 2 ** 63}
    return elems


@st.composite
def props_reply(draw, bounds):
    kind = draw(KIND_60)
    if kind == 0:
        return draw(JUNK)
    if kind == 1:
        elems = huge_list(draw(HUGE_SIZE), bounds)
        if draw(BOOLEANS):
            elems[draw(st.integers(0, len(elems) - 1))] = draw(ELEMENTS[bounds])
        return elems
    elems = draw(ELEMENT_LISTS[bounds])
    if kind == 2 and elems:
        elems.append(dict(elems[0]) if isinstance(elems[0], dict) else elems[0])  # a duplicate name
    if bounds and kind in (3, 4):
        wrapped = {"props": elems}
        if kind == 3:
            wrapped["model"] = draw(MODEL)
        return wrapped
    return elems


VERSION_PART = st.integers(0, 99)
VERSION_KEY = st.sampled_from(["major", "micro", "minor"])   # sorted(qemu)
BAD_VERSION_PART = st.one_of(SCALARS, st.integers(-5, -1))
PACKAGE = st.one_of(TEXT, st.just("Debian 1:9.2+ds-1"))


@st.composite
def version_reply(draw):
    kind = draw(KIND_40)
    if kind == 0:
        return draw(JUNK)
    qemu = {key: draw(VERSION_PART) for key in ("major", "minor", "micro")}
    if kind == 1:
        qemu[draw(VERSION_KEY)] = draw(BAD_VERSION_PART)
    if kind == 2:
        qemu.pop(draw(VERSION_KEY))
    reply = {"qemu": qemu, "package": draw(PACKAGE)}
    if kind == 3:
        reply["package"] = draw(JUNK)
    if kind == 4:
        reply.pop("package")
    return reply


COMMAND_NAMES = st.lists(st.sampled_from(COMMANDS), unique=True, max_size=len(COMMANDS))
ONE_TO_THREE = st.integers(1, 3)


@st.composite
def commands_reply(draw):
    kind = draw(KIND_30)
    if kind == 0:
        return draw(JUNK)
    names = draw(COMMAND_NAMES)
    if draw(BOOLEANS):
        names += DIALECT_COMMANDS[:draw(ONE_TO_THREE)]
    reply = [{"name": name} for name in names]
    if kind == 1:
        reply.append(draw(JUNK))
    if kind == 2:
        reply.append({"name": draw(JUNK)})
    return reply


EXPANSION_VALUES = st.dictionaries(
    NAME, weighted((12, st.booleans()), (3, st.integers(0, 2 ** 64)), (3, TEXT), (1, SCALARS), (1, JUNK)), max_size=10)
SYSREG_VALUES = st.dictionaries(SYSREG_NAMES, weighted((6, st.integers(0, 15)), (1, INTS), (1, SCALARS)), max_size=5)


@st.composite
def expansion_props(draw):
    if draw(KIND_20) == 0:
        return {"sve%d" % (128 * index): index % 3 != 0 for index in range(1, 200)}  # 200 flips
    found = draw(EXPANSION_VALUES)
    if draw(KIND_3) == 0:   # the sysreg dialect: u64 fields, in and out of their width
        found.update(draw(SYSREG_VALUES))
    return found


VERSION_REPLY, COMMANDS_REPLY, EXPANSION_PROPS = version_reply(), commands_reply(), expansion_props()
PROPS_REPLIES = {bounds: props_reply(bounds) for bounds in (False, True)}
FLIP = st.sampled_from(["accept", "accept", "ignore", "refuse", "junk", "drop"])


def command_error(command, model_hint=False):
    desc = "Parameter 'model' is missing" if model_hint else "The command %s has not been found" % command
    return qmp.QMPCommandError(command, "GenericError" if model_hint else "CommandNotFound", desc)


FAULTS = [lambda command: qmp.QMPTimeoutError("timed out waiting for %s" % command),
          lambda command: qmp.QMPProtocolError("monitor closed the connection while waiting for %s" % command)]
FAULT = st.sampled_from(FAULTS)


class FakeClient(object):
    """The client interface read_host_props uses (execute(command, arguments=None)), answering with replies drawn
    from hypothesis as each command comes: well-formed, malformed, command errors and wire faults."""

    def __init__(self, data, focus=None):
        self.data, self.focus = data, focus
        self.replies = 0
        self.base = None

    def _draw(self, strategy, label):
        return self.data.draw(strategy, label=label)

    def execute(self, command, arguments=None):
        self.replies += 1
        outcome = self._draw(KIND_40, command + " outcome")
        if outcome == 0:
            raise self._draw(FAULT, command + " fault")(command)
        if outcome == 1:
            raise command_error(command)
        if command == "query-version":
            return self._draw(VERSION_REPLY, command)
        if command == "query-commands":
            if self.focus and outcome > 4:  # mostly offer the dialect under test
                return [{"name": name} for name in ("query-version", "query-commands", dialects.COMMANDS[self.focus])]
            return self._draw(COMMANDS_REPLY, command)
        if command == DIALECT_COMMANDS[0]:
            return self._draw(PROPS_REPLIES[False], command)
        if command == DIALECT_COMMANDS[1]:
            if arguments is None and outcome in (2, 3, 4):
                raise command_error(command, model_hint=True)
            return self._draw(PROPS_REPLIES[True], command)
        if command == names.EXPANSION:
            return self._expansion(arguments, outcome)
        raise AssertionError("read_host_props sent an unexpected command %r" % command)

    def _expansion(self, arguments, outcome):
        model = arguments["model"]
        if outcome == 2:
            return self._draw(JUNK, "expansion junk")
        flip = model.get("props")
        if flip is None or self.base is None:
            self.base = self._draw(EXPANSION_PROPS, "expansion props")
            return {"model": {"name": model["name"], "props": dict(self.base)}}
        how = self._draw(FLIP, "flip")
        if how == "refuse":
            raise qmp.QMPCommandError(names.EXPANSION, "GenericError", "cannot disable %s" % sorted(flip)[0])
        if how == "junk":
            return {"model": {"name": model["name"], "props": self._draw(JUNK, "flip junk")}}
        result = dict(self.base)
        if how == "accept":
            result.update(flip)
        if how == "drop":
            result = {}
        return {"model": {"name": model["name"], "props": result}}


def check_outcome(client, accel, label):
    """Run read_host_props and check the contract; returns a short outcome name."""
    count(label)
    try:
        host = dialects.read_host_props(client, accel)
    except qmp.QMPError as exc:
        assert not isinstance(exc, dialects.DialectError), str(exc)
        assert str(exc)
        return type(exc).__name__
    finally:
        EXAMPLES["replies"] = EXAMPLES.get("replies", 0) + client.replies
    fact = host.to_fact(accel, "/usr/bin/qemu-system-aarch64", "probe")
    errors = fact_errors(fact)
    assert not errors, errors[:5]
    assert host.supported == bool(host.properties)
    if host.supported:
        assert host.dialect in names.DIALECTS
    else:
        assert host.reason
    commands = set(dialects.COMMANDS.values()) | {"query-version", "query-commands"}
    for warning in host.warnings:
        assert warning.split(": ", 1)[0] in commands and warning.split(": ", 1)[1], warning
    for name, prop in host.properties.items():
        # the schema's "^...$" lets a trailing newline through in Python's re (jsonschema uses re.search): be strict
        assert dialects._NAME_RE.pattern == r"^[A-Za-z0-9._-]+$" and name == prop.name
        assert all(char.isascii() and (char.isalnum() or char in "._-") for char in name), repr(name)
        assert all(isinstance(value, str) for value in prop.supported_values)
        assert prop.default is None or isinstance(prop.default, str)
        assert not set(prop.extra) & {"type", "supported_values", "default"}
        assert not dialects._too_deep(list(prop.extra.values()), dialects.MAX_EXTRA_DEPTH + 1)
    if any("falling back to the next dialect" in warning for warning in host.warnings):
        return "fell back"
    if host.warnings:
        return "read with warnings"
    return "supported" if host.supported else "unsupported"


# ------------------------------------------------------------------------------------------------ tests

N_MIXED, N_DIALECT, N_ROUND_TRIP = 2000, 1800, 1000
OUTCOMES = {}


@SETTINGS(N_MIXED)
@given(st.data(), st.sampled_from(["kvm", "tcg"]))
def test_any_host_gives_facts_or_a_qmp_error(data, accel):
    """Every command's reply drawn at random: all dialects, version/commands junk, faults, command errors."""
    outcome = check_outcome(FakeClient(data), accel, "mixed")
    OUTCOMES.setdefault("mixed", {}).setdefault(outcome, 0)
    OUTCOMES["mixed"][outcome] += 1


@pytest.mark.parametrize("dialect", [name for name in names.DIALECTS if name != names.SYSREG])
def test_each_dialect_gives_facts_or_a_qmp_error(dialect):
    """query-commands offers the dialect under test most of the time, so its parser sees most examples (the sysreg
    dialect is the expansion's: its examples carry SYSREG_ fields a third of the time)."""
    label = "dialect " + dialect

    @SETTINGS(N_DIALECT)
    @given(st.data(), st.sampled_from(["kvm", "tcg"]))
    def run(data, accel):
        outcome = check_outcome(FakeClient(data, focus=dialect), accel, label)
        OUTCOMES.setdefault(label, {}).setdefault(outcome, 0)
        OUTCOMES[label][outcome] += 1

    run()
    assert_ran(label, N_DIALECT)
    # both ends of the contract are exercised, not just errors
    assert OUTCOMES[label].get("supported", 0) + OUTCOMES[label].get("read with warnings", 0) > N_DIALECT // 20, \
        OUTCOMES[label]
    unexpected = OUTCOMES[label].get("fell back", 0) + OUTCOMES[label].get("read with warnings", 0)
    assert unexpected > N_DIALECT // 10, OUTCOMES[label]


def test_mixed_run_count_and_spread():
    assert_ran("mixed", N_MIXED)
    spread = OUTCOMES["mixed"]
    for outcome in ("supported", "unsupported", "fell back", "read with warnings", "QMPCommandError"):
        assert spread.get(outcome, 0) > 0, spread


def test_name_with_trailing_newline_never_reaches_the_fact():
    """Python's "$" matches before a final newline; a property name "sve\n" must not reach the fact: the reply is
    unreadable, so the reader warns and falls back (here to nothing)."""
    class Client(object):
        def execute(self, command, arguments=None):
            return {"query-version": {"qemu": {"major": 9, "minor": 2, "micro": 0}},
                    "query-commands": [{"name": names.ARM_PROPS_INFO}],
                    names.ARM_PROPS_INFO: [{"name": "sve\n", "type": "bool", "supported-values": ["on"]}]}[command]
    host = dialects.read_host_props(Client(), "kvm")
    assert not host.supported and not host.properties
    assert "not made of letters" in host.warnings[0] and "falling back" in host.warnings[0]


# ------------------------------------------------------------------------------------------------ cache round trip

FP_KEYS = sorted(cache.fingerprint("/nonexistent/qemu", "kvm"))


def _finite(value):
    if isinstance(value, float):
        return not math.isnan(value) and not math.isinf(value)
    if isinstance(value, list):
        return all(_finite(item) for item in value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    return True


# extras as QEMU could send them (JSON has no NaN/Infinity; the cache refuses them, see test_nan_extra_...)
JSON_VALUES = st.sampled_from([value for value in JUNK_POOL[:1500] if _finite(value)])  # not the deep ones


FACT_NAMES = st.lists(TOKEN, unique=True, max_size=8)
FACT_TYPE = weighted((8, st.sampled_from(["number", "string", "bool", "u64"])), (1, TEXT))
FACT_VALUES = st.lists(VALUE, max_size=5)
NONE_OR_TEXT = st.one_of(st.none(), TEXT)
FACT_EXTRA = st.dictionaries(weighted((8, TOKEN), (1, TEXT)).filter(
    lambda key: key not in ("type", "supported_values", "default")), JSON_VALUES, max_size=2)
KIND_6 = st.integers(0, 5)
DIALECT = st.sampled_from(names.DIALECTS)
ACCEL = st.sampled_from(["kvm", "tcg"])
QEMU_VERSION = st.one_of(st.none(), st.from_regex(r"\A[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\Z"))


@st.composite
def valid_fact(draw):
    names = draw(FACT_NAMES)
    properties = {}
    for name in names:
        prop = {"type": draw(FACT_TYPE), "supported_values": draw(FACT_VALUES)}
        if draw(BOOLEANS):
            prop["default"] = draw(NONE_OR_TEXT)
        prop.update(draw(FACT_EXTRA))
        properties[name] = prop
    supported = bool(properties) and draw(KIND_6) > 0
    return {"supported": supported, "dialect": draw(DIALECT) if supported else None,
            "accel": draw(ACCEL), "emulator": "/usr/bin/qemu-system-aarch64",
            "qemu_version": draw(QEMU_VERSION),
            "qemu_package": draw(NONE_OR_TEXT), "cpu_model": draw(NONE_OR_TEXT),
            "source": "probe", "reason": None if supported else draw(TEXT),
            "properties": properties if supported else {}}


def _attr_safe(text):
    return not cache._ATTR_UNSAFE.search(text)


@SETTINGS(N_ROUND_TRIP)
@given(valid_fact(), st.dictionaries(st.sampled_from(FP_KEYS), TEXT, min_size=len(FP_KEYS)))
def test_cache_round_trip_of_valid_facts(fact, fp):
    count("round trip")
    # Facts exist only as JSON (QMP replies, module results): pass the generated one through JSON as they do. This
    # joins a generated lone high+low surrogate pair into one character, which json.loads never leaves apart.
    fact, fp = json.loads(json.dumps(fact)), json.loads(json.dumps(fp))
    assert not list(fact_validator().iter_errors(fact))
    host = props.HostProps.from_fact(fact)
    storable = all(_attr_safe(prop.type) and all(_attr_safe(key) for key in prop.extra)
                   for prop in host.properties.values())
    try:
        data = cache.dumps(host, fp)
    except ValueError as exc:
        # XML attributes cannot carry a type or extra name with control characters losslessly: refused, named
        assert not storable, exc
        EXAMPLES["round trip refused"] = EXAMPLES.get("round trip refused", 0) + 1
        return
    assert storable
    got, why = cache.loads(data, fp)
    assert why == "valid"
    assert got == host
    expected = dict(fact, source="cache", properties={
        name: {key: value for key, value in prop.items() if not (key == "default" and value is None)}
        for name, prop in fact["properties"].items()})  # a null default is no default
    assert got.to_fact(fact["accel"], fact["emulator"], "cache") == expected
    assert cache.dumps(got, fp) == data  # deterministic: the next write sees "unchanged"


def test_round_trip_count():
    assert_ran("round trip", N_ROUND_TRIP)
    assert EXAMPLES.get("round trip refused", 0) < N_ROUND_TRIP // 3


def test_total_generated_replies_over_ten_thousand():
    """The numbers docs/reliability.md quotes; printed with -s."""
    if "mixed" not in EXAMPLES or not all("dialect " + name in EXAMPLES for name in DIALECT_COMMANDS):
        pytest.skip("the totals need the whole file to run")
    total = sum(EXAMPLES.get(label, 0) for label in EXAMPLES if label == "mixed" or label.startswith("dialect "))
    print("\nreliability parser fuzz: examples %r, fake-client replies %d, outcomes %r"
          % (dict(EXAMPLES), EXAMPLES.get("replies", 0), OUTCOMES))
    assert total >= 0.9 * (N_MIXED + len(DIALECT_COMMANDS) * N_DIALECT)
    assert EXAMPLES.get("replies", 0) >= 10000
