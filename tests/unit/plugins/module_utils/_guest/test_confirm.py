# -*- coding: utf-8 -*-
"""confirm: the host's own QEMU accepts or refuses a guest CPU request, in its own words; accepted requests are kept
against the property cache's fingerprint.

Against Debian's real QEMU 7.2 (TCG: the expansion for boolean requests, the paused start for the valued
``sve-max-vq``) and against simulated KVM hosts (tools/armsim: the paused start judged from the host profile).
"""

import json
import os
import re
import stat
import time

import pytest

from armsim import write_wrapper

from ansible_collections.armvirt.cpu.plugins.module_utils._guest import confirm, validate
from ansible_collections.armvirt.cpu.plugins.module_utils._host import cache, collect, probe


@pytest.fixture
def cache_dir(tmp_path):
    return str(tmp_path / "cache")


def maximum(*pairs):
    """A maximum-mode request from "name=value" pairs."""
    return confirm.request([dict(zip(("name", "value"), pair.split("="))) for pair in pairs], "maximum")


def forbid_qemu(monkeypatch):
    """Make any attempt to start QEMU fail the test: the answer must come from the results file."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("QEMU was started")
    monkeypatch.setattr(probe, "spawned_qemu", refuse)


# --- the request ----------------------------------------------------------------------------------------------

def test_request_uses_the_collections_cpu_builder_and_types_the_expansion_props():
    req = confirm.request([{"name": "sve", "policy": "disable"}, {"name": "sve256"}, {"name": "pmu", "policy":
                           "optional"}, {"name": "hw_prop_WRPs", "value": "2"}, {"name": "feat_RAS", "value": "1.0"},
                           {"name": "hw_prop_BS", "value": "0x4"}], "host-passthrough")
    assert req.cpu_arg == validate.qemu_cpu_arg([{"name": "sve", "policy": "disable"}, {"name": "sve256"},
                                                 {"name": "hw_prop_WRPs", "value": "2"},
                                                 {"name": "feat_RAS", "value": "1.0"},
                                                 {"name": "hw_prop_BS", "value": "0x4"}], "host-passthrough")
    assert req.cpu_arg == "host,sve=off,sve256=on,hw_prop_WRPs=2,feat_RAS=1.0,hw_prop_BS=0x4"   # optional left out
    assert req.props == {"sve": False, "sve256": True, "hw_prop_WRPs": 2, "feat_RAS": "1.0", "hw_prop_BS": 4}
    assert list(req.props) == ["sve", "sve256", "hw_prop_WRPs", "feat_RAS", "hw_prop_BS"]
    assert req.key == "host-passthrough " + req.cpu_arg
    assert req.model == "host" and req.mode == "host-passthrough"


def test_a_cpu_value_and_the_same_features_are_one_request():
    by_features = confirm.request([{"name": "sve", "policy": "disable"}, {"name": "sve128", "value": "off"}], "maximum")
    by_value = confirm.parse_cpu_arg("max,sve=off,sve128=off")
    assert (by_value.key, by_value.props, by_value.mode) == (by_features.key, by_features.props, "maximum")
    assert confirm.parse_cpu_arg("cortex-a57,pmu=off", "custom").key == "custom cortex-a57,pmu=off"


@pytest.mark.parametrize("arg, mode, words", [
    ("", None, "non-empty string"),
    ("max,sve", None, "sve in the -cpu value max,sve is not name=value"),
    ("max,sve=on,sve=off", None, "sve is requested more than once"),
    ("cortex-a57,pmu=on", None, "give mode custom"),
    ("max,sve=on", "host-passthrough", "is model max, not the host of mode host-passthrough"),
    ("max,s ve=on", None, "not a plain token"),
    ("max,sve=o'n", None, "not a plain token"),
])
def test_malformed_cpu_values_are_refused_before_qemu(arg, mode, words):
    with pytest.raises(validate.FeatureRequestError) as err:
        confirm.parse_cpu_arg(arg, mode)
    assert words in str(err.value)


def test_the_method_follows_the_accelerator_and_the_property_types():
    assert maximum("sve=off", "sve128=off").method("tcg") == confirm.EXPANSION
    assert maximum("sve=off", "sve128=off").method("kvm") == confirm.START      # only the vCPU init can tell
    assert maximum("sve-max-vq=2").method("tcg") == confirm.START               # a valued property
    assert confirm.request([], "maximum").method("tcg") == confirm.EXPANSION


# --- real QEMU ------------------------------------------------------------------------------------------------

@pytest.mark.real_qemu
def test_real_qemu_accepts_by_expansion_and_gives_the_expanded_cpu(emulator):
    result = confirm.check(emulator, "tcg", maximum("sve=off", "sve128=off"))
    assert result["accepted"] is True and result["error"] is None
    assert result["method"] == "expansion" and result["cpu_arg"] == "max,sve=off,sve128=off"
    assert result["expanded"]["sve"] is False and result["expanded"]["sve128"] is False
    assert result["expanded"]["pauth"] is True and result["expanded"]["aarch64"] is True


@pytest.mark.real_qemu
# QEMU's words as patterns: 10.0 names the qarma selectors in the pauth refusal and the member's path in the other
@pytest.mark.parametrize("pairs, words", [
    (("sve=off", "sve256=on"), r"cannot enable sve256"),
    (("pauth=off", "pauth-impdef=on"), r"cannot enable pauth-impdef(, pauth-qarma3 or pauth-qarma5)? without pauth"),
    (("sve128=off",), r"cannot disable sve128"),
    (("nosuchprop=on",), r"Parameter '(model\.props\.)?nosuchprop' is unexpected"),
])
def test_real_qemu_refuses_by_expansion_in_its_own_words(emulator, pairs, words):
    result = confirm.check(emulator, "tcg", maximum(*pairs))
    assert re.fullmatch(words, result.pop("error") or ""), result
    assert result == {"accepted": False, "expanded": None, "method": "expansion",
                      "mode": "maximum", "cpu_arg": ",".join(("max",) + pairs)}


@pytest.mark.real_qemu
def test_real_qemu_refuses_host_under_tcg(emulator):
    result = confirm.check(emulator, "tcg", confirm.request([], "host-passthrough"))
    assert (result["accepted"], result["error"]) == (False, "The CPU type 'host' requires KVM")


@pytest.mark.real_qemu
def test_real_qemu_paused_start_accepts_a_valued_property(emulator):
    result = confirm.check(emulator, "tcg", maximum("sve-max-vq=2"))
    assert result["method"] == "start" and result["accepted"] is True and result["error"] is None
    # the vCPU exists with 256-bit vectors at most; the expansion of the boolean part comes from the same QEMU
    assert result["expanded"]["sve256"] is True and result["expanded"]["sve384"] is False


@pytest.mark.real_qemu
@pytest.mark.parametrize("pairs, words", [
    (("sve-max-vq=0",), "qemu-system-aarch64: can't apply global max-arm-cpu.sve-max-vq=0: unsupported SVE vector "
                        "length\nValid sve-max-vq in range [1-16]"),
    (("sve=off", "sve-max-vq=2"), "qemu-system-aarch64: cannot enable sve256\nSVE must be enabled to enable vector "
                                  "lengths.\nAdd sve=on to the CPU property list."),
    (("feat_RAS=1.0",), "qemu-system-aarch64: can't apply global max-arm-cpu.feat_RAS=1.0: Property "
                        "'max-arm-cpu.feat_RAS' not found"),
])
def test_real_qemu_paused_start_refuses_with_its_stderr(emulator, pairs, words):
    result = confirm.check(emulator, "tcg", maximum(*pairs))
    assert (result["method"], result["accepted"], result["error"], result["expanded"]) == ("start", False, words, None)


@pytest.mark.real_qemu
def test_accepted_requests_are_cached_and_checked_again_after_a_fingerprint_change(emulator, cache_dir,
                                                                                   monkeypatch):
    req = maximum("sve=off", "sve128=off")
    first = confirm.confirm(emulator, "tcg", req, cache_dir=cache_dir)
    assert first["accepted"] and first["cached"] is False
    assert first["cache"] == {"path": confirm.checks_path(cache_dir, emulator, "tcg"), "status": "missing",
                              "written": True}
    path = first["cache"]["path"]
    assert path.endswith("-tcg.checks.json") and os.path.isfile(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    stored = json.loads(open(path).read())
    assert stored["fingerprint"] == cache.fingerprint(emulator, "tcg")
    assert list(stored["accepted"]) == ["maximum max,sve=off,sve128=off"]

    with monkeypatch.context() as patch:
        forbid_qemu(patch)
        second = confirm.confirm(emulator, "tcg", req, cache_dir=cache_dir)
    assert second["cached"] is True and second["cache"]["status"] == "valid"
    assert {key: second[key] for key in ("accepted", "error", "expanded", "method", "cpu_arg", "mode")} == \
        {key: first[key] for key in ("accepted", "error", "expanded", "method", "cpu_arg", "mode")}

    time.sleep(0.01)
    os.chmod(emulator, 0o755)   # a replaced or re-permissioned binary: its ctime changes, so does the fingerprint
    third = confirm.confirm(emulator, "tcg", req, cache_dir=cache_dir)
    assert third["cached"] is False and third["cache"]["status"] == "emulator changed"
    assert third["accepted"] and third["cache"]["written"] is True
    assert json.loads(open(path).read())["fingerprint"] == cache.fingerprint(emulator, "tcg")


@pytest.mark.real_qemu
def test_a_refusal_is_not_kept_and_is_asked_again(emulator, cache_dir):
    req = maximum("sve128=off")
    for _run in range(2):
        result = confirm.confirm(emulator, "tcg", req, cache_dir=cache_dir)
        assert (result["accepted"], result["cached"], result["error"]) == (False, False, "cannot disable sve128")
        assert result["cache"]["written"] is False
    assert not os.path.exists(confirm.checks_path(cache_dir, emulator, "tcg"))


@pytest.mark.real_qemu
def test_several_requests_share_the_file_and_check_mode_writes_nothing(emulator, cache_dir, monkeypatch):
    dry = confirm.confirm(emulator, "tcg", maximum("pmu=off"), cache_dir=cache_dir, write=False)
    assert dry["accepted"] and dry["cache"]["written"] is False
    assert not os.path.exists(cache_dir)
    for pairs in (("pmu=off",), ("sve=off", "sve128=off")):
        assert confirm.confirm(emulator, "tcg", maximum(*pairs), cache_dir=cache_dir)["cache"]["written"]
    with monkeypatch.context() as patch:
        forbid_qemu(patch)
        for pairs in (("pmu=off",), ("sve=off", "sve128=off")):
            assert confirm.confirm(emulator, "tcg", maximum(*pairs), cache_dir=cache_dir)["cached"] is True
    refreshed = confirm.confirm(emulator, "tcg", maximum("pmu=off"), cache_dir=cache_dir, cache_mode="refresh")
    assert refreshed["cached"] is False and refreshed["cache"]["status"] == "refresh requested"
    ignored = confirm.confirm(emulator, "tcg", maximum("pmu=off"), cache_dir=cache_dir, cache_mode="ignore")
    assert ignored["cached"] is False and ignored["cache"] == {"path": None, "status": "not used", "written": False}


@pytest.mark.real_qemu
@pytest.mark.parametrize("content, status", [
    (b"{not json", "corrupt"),
    (b'{"format": 99}', "format version 99"),
    (b'{"format": 1, "fingerprint": {}, "accepted": {}}',
     "cache format changed, the collection's field rules changed, emulator changed"),
])
def test_a_bad_results_file_is_asked_past_and_rewritten(emulator, cache_dir, content, status):
    path = confirm.checks_path(cache_dir, emulator, "tcg")
    os.makedirs(cache_dir)
    with open(path, "wb") as handle:
        handle.write(content)
    result = confirm.confirm(emulator, "tcg", maximum("pmu=off"), cache_dir=cache_dir)
    assert result["accepted"] and result["cached"] is False and result["cache"]["status"].startswith(status)
    assert list(json.loads(open(path).read())["accepted"]) == ["maximum max,pmu=off"]


def test_an_entry_that_does_not_match_its_key_is_not_trusted(tmp_path):
    fp = {"format": "1", "emulator": "/x"}
    path = str(tmp_path / "x.checks.json")
    entry = {"mode": "maximum", "cpu_arg": "max,pmu=on", "method": "expansion", "expanded": None}
    confirm.store(path, fp, "maximum max,pmu=off", entry)   # the key says pmu=off, the entry pmu=on
    assert confirm.lookup(path, fp, "maximum max,pmu=off") == (None, "valid, request not in it")


def test_the_results_file_keeps_the_newest_entries(tmp_path, monkeypatch):
    monkeypatch.setattr(confirm, "MAX_ENTRIES", 3)
    fp, path = {"k": "v"}, str(tmp_path / "x.checks.json")
    for number in range(5):
        arg = "max,sve-max-vq=%d" % (number + 1)
        entry = {"mode": "maximum", "cpu_arg": arg, "method": "start", "expanded": None}
        confirm.store(path, fp, "maximum " + arg, entry)
    kept = list(json.loads(open(path).read())["accepted"])
    assert kept == ["maximum max,sve-max-vq=3", "maximum max,sve-max-vq=4", "maximum max,sve-max-vq=5"]


def test_a_world_writable_results_file_is_refused(tmp_path):
    path = tmp_path / "x.checks.json"
    path.write_text("{}")
    path.chmod(0o666)
    with pytest.raises(confirm.ConfirmError, match="world-writable"):
        confirm.lookup(str(path), {}, "maximum max")


def test_no_emulator_is_an_error_not_a_refusal(tmp_path):
    with pytest.raises(confirm.ConfirmError, match="does not exist"):
        confirm.confirm(str(tmp_path / "nope"), "tcg", maximum("pmu=off"), cache_dir=str(tmp_path / "c"))


def test_domain_target_reads_the_domains_emulator_and_accelerator():
    xml = "<domain type='%s'><name>a</name><devices><emulator>/opt/q</emulator></devices></domain>"
    assert confirm.domain_target(xml % "kvm") == ("/opt/q", "kvm", "kvm")
    assert confirm.domain_target(xml % "qemu") == ("/opt/q", "tcg", "qemu")
    assert confirm.domain_target(xml % "hvf") == ("/opt/q", None, "hvf")
    assert confirm.domain_target("<domain type='kvm'/>") == ("/usr/bin/qemu-system-aarch64", "kvm", "kvm")
    with pytest.raises(confirm.ConfirmError):
        confirm.domain_target("<domain")


# --- simulated KVM hosts (tools/armsim) -------------------------------------------------------------------------

@pytest.fixture
def simulated(tmp_path):
    """Factory: the stand-in emulator of an armsim host profile, as its own path."""
    def make(profile, faults=None):
        path = tmp_path / ("sim-" + profile)
        if not path.exists():
            write_wrapper(str(path), profile, faults=faults)
        return str(path)
    return make


def test_simulated_kvm_host_accepts_by_a_paused_start(simulated, cache_dir):
    emulator = simulated("neoverse-v1")
    req = confirm.parse_cpu_arg("host,sve=on,sve256=off,pmu=off,hw_prop_WRPs=2,feat_RAS=1.1_base")
    result = confirm.confirm(emulator, "kvm", req, cache_dir=cache_dir)
    assert (result["method"], result["accepted"], result["error"], result["cached"]) == ("start", True, None, False)
    assert result["expanded"]["sve256"] is False and result["expanded"]["pmu"] is False   # booleans only
    assert "hw_prop_WRPs" not in result["expanded"]
    assert confirm.confirm(emulator, "kvm", req, cache_dir=cache_dir)["cached"] is True


@pytest.mark.parametrize("profile, arg, words", [
    # the profile's words for a boolean it cannot change, or a vector length without SVE
    ("neoverse-v1", "host,sve=off,sve256=on", "qemu-system-aarch64: cannot enable sve256"),
    ("neoverse-n1", "host,sve=on", "qemu-system-aarch64: 'sve' feature not supported by KVM on this host"),
    # KVM refusing an ID register value at vCPU init: Linux 5.15 takes only the host's watchpoint count
    ("neoverse-n1-oldkernel", "host,hw_prop_WRPs=2",
     "qemu-system-aarch64: hw_prop_WRPs=2: KVM refused the ID register value (KVM_SET_ONE_REG: Invalid argument)\n"
     "qemu-system-aarch64: kvm_init_vcpu: kvm_arch_init_vcpu failed (0): Invalid argument"),
    ("neoverse-v1", "host,nosuch=on",
     "qemu-system-aarch64: can't apply global host-arm-cpu.nosuch=on: Property 'host-arm-cpu.nosuch' not found"),
])
def test_simulated_kvm_host_refuses_at_the_start_in_the_profiles_words(simulated, cache_dir, profile, arg, words):
    result = confirm.confirm(simulated(profile), "kvm", confirm.parse_cpu_arg(arg), cache_dir=cache_dir)
    assert (result["method"], result["accepted"], result["error"]) == ("start", False, words)
    assert result["cache"]["written"] is False


@pytest.mark.parametrize("profile, arg, spelled", [
    # the query-arm-cpu-props-info dialect lists feat_AES in decimal; the sysreg dialect lists its fields in hex
    ("neoverse-n1", "host,feat_AES=0x1,hw_prop_WRPs=0x2", "host,feat_AES=1,hw_prop_WRPs=2"),
    ("neoverse-n1-sysreg", "host,SYSREG_ID_AA64ISAR0_EL1_AES=1", "host,SYSREG_ID_AA64ISAR0_EL1_AES=0x1"),
    ("neoverse-n1-sysreg", "host,SYSREG_ID_AA64ISAR0_EL1_AES=0x1", "host,SYSREG_ID_AA64ISAR0_EL1_AES=0x1"),
    # another dialect's names (or the canonical ones) become the host's own, as validation renders them
    ("neoverse-n1-sysreg", "host,hw_prop_WRPs=2,feat_AES=1", "host,SYSREG_ID_AA64DFR0_EL1_WRPs=0x2,"
                                                             "SYSREG_ID_AA64ISAR0_EL1_AES=0x1"),
    ("neoverse-n1", "host,SYSREG_ID_AA64DFR0_EL1_WRPs=0x2,SYSREG_ID_AA64PFR0_EL1_SVE=0",
     "host,hw_prop_WRPs=2,feat_SVE=0"),
])
def test_a_request_is_asked_about_and_kept_in_the_hosts_spelling(simulated, cache_dir, profile, arg, spelled):
    emulator = simulated(profile)
    host_props = collect.collect(emulator, "kvm", 10.0, cache_dir, collect.CACHE_IGNORE)[0]
    fact = host_props.to_fact("kvm", emulator, "probe")
    features = [dict(zip(("name", "value"), pair.split("="))) for pair in arg.split(",")[1:]]
    # exactly what validation (the role, domain_cpu) renders for this host
    assert validate.qemu_cpu_arg(features, "host-passthrough", fact) == spelled
    req = confirm.in_host_spelling(confirm.parse_cpu_arg(arg), host_props, "hv1")
    assert (req.cpu_arg, req.key) == (spelled, "host-passthrough " + spelled)
    first = confirm.confirm(emulator, "kvm", req, cache_dir=cache_dir)
    assert (first["accepted"], first["cpu_arg"], first["cached"]) == (True, spelled, False)
    # the results file is keyed by the rendered form: either spelling finds it
    again = confirm.in_host_spelling(confirm.parse_cpu_arg(spelled), host_props, "hv1")
    assert confirm.confirm(emulator, "kvm", again, cache_dir=cache_dir)["cached"] is True
    with open(confirm.checks_path(cache_dir, emulator, "kvm")) as handle:
        assert list(json.load(handle)["accepted"]) == ["host-passthrough " + spelled]


def test_the_hosts_spelling_refuses_a_leading_zero_and_keeps_what_the_host_does_not_report(simulated, cache_dir):
    host_props = collect.collect(simulated("neoverse-n1"), "kvm", 10.0, cache_dir, collect.CACHE_IGNORE)[0]
    with pytest.raises(validate.FeatureRequestError, match="hv1: hw_prop_WRPs=02 is refused: .*leading zero") as raised:
        confirm.in_host_spelling(confirm.parse_cpu_arg("host,hw_prop_WRPs=02"), host_props, "hv1")
    assert raised.value.errors[0].rule == "leading-zero"
    # a boolean word is on/off; a property this host does not report stays as written, for QEMU to judge
    req = confirm.in_host_spelling(confirm.parse_cpu_arg("host,nosuch=0x1,sve=TRUE"), host_props, "hv1")
    assert req.cpu_arg == "host,nosuch=0x1,sve=on"
    assert confirm.in_host_spelling(req, None, "hv1") is req


def test_the_newer_kernel_takes_what_the_old_one_refuses(simulated, cache_dir):
    req = confirm.parse_cpu_arg("host,hw_prop_WRPs=2")
    assert confirm.confirm(simulated("neoverse-n1"), "kvm", req, cache_dir=cache_dir)["accepted"] is True
    assert confirm.confirm(simulated("neoverse-n1-oldkernel"), "kvm", req, cache_dir=cache_dir)["accepted"] is False


def test_simulated_tcg_only_host_refuses_host_by_expansion(simulated):
    result = confirm.check(simulated("qemu-7.2-released"), "tcg", confirm.request([], "host-passthrough"))
    assert (result["method"], result["accepted"]) == ("expansion", False)
    assert result["error"] == "The CPU type 'host' requires KVM"


def test_a_qemu_that_never_answers_is_an_error_and_leaves_nothing(simulated, cache_dir):
    emulator = simulated("neoverse-v1", faults={"hang_at_start": True})
    with pytest.raises(confirm.ConfirmError, match="no QMP monitor within 0.5 s"):
        confirm.confirm(emulator, "kvm", confirm.parse_cpu_arg("host,pmu=on"), timeout=0.5, cache_dir=cache_dir)
    assert not os.path.exists(confirm.checks_path(cache_dir, emulator, "kvm"))
