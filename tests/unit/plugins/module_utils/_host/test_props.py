"""The property model's interpretation rules: integers, ranges, case, booleans, intersections."""

import json
import pathlib

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._host.props import (
    HostProps, Property, bool_word, parse_int, split_number_values)

FACTS = pathlib.Path(__file__).resolve().parents[4] / "fixtures" / "facts"


@pytest.mark.parametrize("text, number", [("0", 0), ("3", 3), ("17", 17), ("0x2", 2), ("0X1f", 31), (" 4 ", 4)])
def test_parse_int_reads_decimal_and_hex(text, number):
    assert parse_int(text) == number


@pytest.mark.parametrize("text", ["010", "00", "07"])
def test_parse_int_refuses_leading_zero_because_qemu_reads_octal(text):
    with pytest.raises(ValueError, match="leading zero"):
        parse_int(text)


@pytest.mark.parametrize("text", ["", "x", "1.0", "-1", "0x", "3-4", "0b1"])
def test_parse_int_refuses_non_integers(text):
    with pytest.raises(ValueError, match="not an integer"):
        parse_int(text)


def test_split_number_values_ranges_singletons_and_names():
    assert split_number_values(["0-3", "5", "0x8-0xa", "off", "7-2"]) == ([(0, 3), (5, 5), (8, 10)], ["off", "7-2"])


def test_split_number_values_reads_a_zero_padded_bound_as_decimal():
    assert split_number_values(["00-010"]) == ([(0, 10)], [])


@pytest.mark.parametrize("text, word", [("on", "on"), ("TRUE", "on"), ("yes", "on"), ("Off", "off"),
                                        ("false", "off"), ("no", "off"), ("1", None), ("", None)])
def test_bool_word(text, word):
    assert bool_word(text) == word


WRPS = Property("hw_prop_WRPs", "number", ["0-3"])
PMUVER = Property("hw_prop_PMUVer", "number", ["1", "4", "off"])
RAS = Property("feat_RAS", "string", ["0.0", "1.0", "1.1", "1.1_base"])
API = Property("hw_prop_API", "string", ["PAuth", "off"])
SVE = Property("sve", "bool", ["on", "off"])
SVE_OFF = Property("sve512", "bool", ["off"])
MIDR = Property("hw_prop_MIDR", "uint64", ["0x411fd401"])


@pytest.mark.parametrize("prop, value, spelled", [
    (WRPS, "0", "0"), (WRPS, "3", "3"), (WRPS, "0x2", "2"), (WRPS, "4", None), (WRPS, "off", None),
    (PMUVER, "4", "4"), (PMUVER, "0x4", "4"), (PMUVER, "2", None), (PMUVER, "OFF", "off"),
    (RAS, "1.1_BASE", "1.1_base"), (RAS, "1.0", "1.0"), (RAS, "2.0", None), (RAS, "1", None),
    (API, "pauth", "PAuth"), (API, "Off", "off"),
    (SVE, "on", "on"), (SVE, "true", "on"), (SVE, "FALSE", "off"), (SVE, "1", None),
    (SVE_OFF, "on", None), (SVE_OFF, "off", "off"),
    (MIDR, "0x411fd401", "0x411fd401"), (MIDR, "0x411FD401", None), (MIDR, "1092605953", None),
])
def test_match_gives_the_host_spelling(prop, value, spelled):
    assert prop.match(value) == spelled


AES_FIELD = Property("SYSREG_ID_AA64ISAR0_EL1_AES", "number", ["0x0-0x2"])


@pytest.mark.parametrize("prop, value, spelled", [
    # one rendering, accepted or not: what validation writes and what cpu_check asks QEMU about
    (WRPS, "0x2", "2"), (WRPS, "0x9", "9"), (WRPS, "off", "off"), (PMUVER, "OFF", "off"), (PMUVER, "max", "max"),
    (AES_FIELD, "1", "0x1"), (AES_FIELD, "0x1", "0x1"), (AES_FIELD, "0X7", "0x7"),
    (RAS, "1.1_BASE", "1.1_base"), (RAS, "9.9", "9.9"), (SVE, "TRUE", "on"), (SVE, "maybe", "maybe"),
    (MIDR, "0x411FD401", "0x411FD401"),
])
def test_spelling_renders_without_judging(prop, value, spelled):
    assert prop.spelling(value) == spelled
    assert prop.match(value) in (spelled, None)   # match accepts or refuses that same rendering


def test_match_raises_for_a_leading_zero_on_a_number_only():
    with pytest.raises(ValueError, match="leading zero"):
        WRPS.match("02")
    assert Property("x", "string", ["02"]).match("02") == "02"


@pytest.mark.parametrize("prop, on, off", [
    (WRPS, False, False), (PMUVER, False, True), (RAS, False, False), (API, False, True),
    (SVE, True, True), (SVE_OFF, False, True), (Property("pmu", "bool", ["on"]), True, False),
    (Property("x", "number", ["0-1", "ON"]), True, False),
])
def test_allows_on_and_off(prop, on, off):
    assert (prop.allows_on(), prop.allows_off()) == (on, off)


def test_intersect_numbers_intersects_ranges_and_keeps_common_names_case_insensitively():
    mine = Property("n", "number", ["0-5", "8", "off"], default="3")
    theirs = Property("n", "number", ["2-9", "OFF"], default="3")
    both = mine.intersect(theirs)
    assert both.supported_values == ("2-5", "8", "off")
    assert both.default == "3"


def test_intersect_strings_fold_case_and_keep_this_spelling():
    theirs = Property("feat_RAS", "string", ["0.0", "1.1_BASE"])
    assert RAS.intersect(theirs).supported_values == ("0.0", "1.1_base")


def test_intersect_bools_by_meaning_and_unknown_types_exactly():
    assert SVE.intersect(Property("sve", "bool", ["false"])).supported_values == ("off",)
    assert MIDR.intersect(Property("hw_prop_MIDR", "uint64", ["0x411FD401"])).supported_values == ()


def test_intersect_of_different_types_is_none_and_defaults_must_agree():
    assert WRPS.intersect(Property("hw_prop_WRPs", "string", ["0-3"])) is None
    assert Property("a", "bool", ["on"], "on").intersect(Property("a", "bool", ["on"], "off")).default is None


def test_host_props_round_trip_through_the_fact():
    fact = json.loads((FACTS / "neoverse-v1.json").read_text())
    host = HostProps.from_fact(fact)
    assert host.supported and host.properties["feat_RAS"] == RAS
    assert host.to_fact(fact["accel"], fact["emulator"], fact["source"]) == fact
