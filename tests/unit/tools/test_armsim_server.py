"""armsim's QMP server speaks QMP: a real client library works against it, and the wire matches QEMU 7.2's."""

import contextlib
import json
import time

import pytest
from qemu.qmp import ExecuteError
from qemu.qmp.legacy import QEMUMonitorProtocol

from armsim import Faults, available_profiles, load_profile
from armsim.profiles import EXPANSION_ONLY

PATCHED = [name for name in available_profiles() if load_profile(name).dialect not in EXPANSION_ONLY]


@pytest.fixture
def qmp(serve):
    """qmp(profile, faults=None) -> a negotiated qemu.qmp legacy client."""
    clients = []

    def connect(profile="neoverse-n1", faults=None, accel=None):
        client = QEMUMonitorProtocol(serve(profile, accel, faults).address)
        client.connect()
        clients.append(client)
        return client
    yield connect
    for client in clients:
        client.close()


# --------------------------------------------------------------------------- through the qemu.qmp library


@pytest.mark.parametrize("name", available_profiles())
def test_library_client_negotiates_and_runs_every_command_of_the_profile(qmp, name):
    profile = load_profile(name)
    client = qmp(name)
    assert client.cmd("query-version") == profile.version_info()
    assert [c["name"] for c in client.cmd("query-commands")] == list(profile.commands)
    assert client.cmd("query-kvm") == {"enabled": profile.kvm, "present": profile.kvm}
    assert client.cmd("query-target") == {"arch": "aarch64"}
    model = "host" if profile.kvm else "max"
    expansion = client.cmd("query-cpu-model-expansion", type="full", model={"name": model})
    assert expansion["model"]["name"] == model
    assert expansion["model"]["props"] == {p["name"]: p["default"] for p in profile.data["expansion"]["props"]}
    for command in ("query-arm-cpu-props-info", "query-cpu-props-info"):
        if command in profile.commands:
            reply = client.cmd(command)
            assert [item["name"] for item in reply] == [p["name"] for p in profile.data["properties"]]
            assert all(isinstance(v, str) for item in reply for v in item["supported-values"])
        else:
            with pytest.raises(ExecuteError) as err:
                client.cmd(command)
            assert err.value.error_class == "CommandNotFound"


@pytest.mark.parametrize("name", PATCHED)
def test_props_info_elements_have_the_rfc_shape(qmp, name):
    profile = load_profile(name)
    reply = qmp(name).cmd(profile.dialect)
    for item in reply:
        assert set(item) - {"min", "max"} == {"name", "supported-values", "type"}
        if "min" in item:
            assert profile.dialect == "query-cpu-props-info" and item["type"] == "number"
            assert isinstance(item["min"], int) and item["min"] <= item["max"]


def test_dialect_2_gives_a_single_range_as_min_max_and_keeps_other_values(qmp):
    reply = {item["name"]: item for item in qmp("neoverse-v2").cmd("query-cpu-props-info")}
    assert reply["hw_prop_WRPs"] == {"name": "hw_prop_WRPs", "supported-values": [], "type": "number", "min": 0, "max": 3}
    assert reply["hw_prop_SVEver"]["supported-values"] == ["off"] and reply["hw_prop_SVEver"]["max"] == 1
    assert reply["hw_prop_PMUVer"]["supported-values"] == ["0-1", "4-6", "off"] and "min" not in reply["hw_prop_PMUVer"]


@pytest.mark.parametrize("command, args, error_class, desc", [
    ("no-such-command", {}, "CommandNotFound", "The command no-such-command has not been found"),
    ("query-version", {"bogus": 1}, "GenericError", "Parameter 'bogus' is unexpected"),
    ("query-cpu-model-expansion", {"type": "full"}, "GenericError", "Parameter 'model' is missing"),
    ("query-cpu-model-expansion", {"type": "bogus", "model": {"name": "host"}}, "GenericError",
     "Parameter 'type' does not accept value 'bogus'"),
    ("query-cpu-model-expansion", {"type": "static", "model": {"name": "host"}}, "GenericError",
     "The requested expansion type is not supported"),
    ("query-cpu-model-expansion", {"type": "full", "model": {"name": "host", "props": {"feat_RAS": True}}},
     "GenericError", "Parameter 'feat_RAS' is unexpected"),
    ("query-cpu-model-expansion", {"type": "full", "model": {"name": "host", "props": {"sve": True}}},
     "GenericError", "'sve' feature not supported by KVM on this host"),
    ("query-cpu-model-expansion", {"type": "full", "model": {"name": "host", "props": {"aarch64": False}}},
     "GenericError", "'aarch64' feature cannot be disabled unless KVM is enabled and 32-bit EL1 is supported"),
    ("query-cpu-model-expansion", {"type": "full", "model": {"name": "cortex-a57"}}, "GenericError",
     "We cannot guarantee the CPU type 'cortex-a57' works with KVM on this host"),
    ("query-cpu-props-info", {}, "CommandNotFound", "The command query-cpu-props-info has not been found"),
])
def test_error_classes_and_texts(qmp, command, args, error_class, desc):
    with pytest.raises(ExecuteError) as err:
        qmp("neoverse-n1").cmd(command, **args)
    assert (err.value.error_class, err.value.error.error.desc) == (error_class, desc)


def test_expansion_flips_what_the_host_allows_and_dependants_follow(qmp):
    client = qmp("neoverse-v1")
    props = client.cmd("query-cpu-model-expansion", type="full", model={"name": "host", "props": {"sve": False}})
    props = props["model"]["props"]
    assert props["sve"] is False and props["sve128"] is False and props["pauth"] is True
    with pytest.raises(ExecuteError, match="cannot enable sve512"):
        client.cmd("query-cpu-model-expansion", type="full", model={"name": "host", "props": {"sve512": True}})


@pytest.mark.parametrize("name", ["neoverse-v1", "neoverse-v2", "neoverse-v2-sysreg"])
def test_expansion_under_kvm_keeps_a_vector_length_as_qemu_does(qmp, name):
    """QEMU's arm_cpu_sve_finalize under KVM: sve128 is the smallest length every SVE host has, so turning it off
    alone (or below an enabled longer length) leaves none; with sve=off it is accepted."""
    client = qmp(name)
    for props in ({"sve128": False}, {"sve128": False, "sve256": True}):
        with pytest.raises(ExecuteError) as err:
            client.cmd("query-cpu-model-expansion", type="full", model={"name": "host", "props": props})
        assert err.value.error.error.desc == ("cannot disable sve128" if name == "neoverse-v1" or "sve256" not in props
                                              else "cannot enable sve256")
    props = client.cmd("query-cpu-model-expansion", type="full",
                       model={"name": "host", "props": {"sve": False, "sve128": False}})["model"]["props"]
    assert props["sve"] is False and props["sve128"] is False


def test_expansion_under_kvm_disabling_the_longest_length_keeps_the_shorter(qmp):
    client = qmp("neoverse-v1")   # 128 and 256-bit vectors
    props = client.cmd("query-cpu-model-expansion", type="full",
                       model={"name": "host", "props": {"sve256": False}})["model"]["props"]
    assert (props["sve128"], props["sve256"]) == (True, False)
    props = client.cmd("query-cpu-model-expansion", type="full",
                       model={"name": "host", "props": {"sve128": True}})["model"]["props"]
    assert (props["sve128"], props["sve256"]) == (True, False)   # the longest length asked for is the maximum


def test_sysreg_expansion_lists_integers_and_takes_a_uint64_for_them(qmp):
    client = qmp("neoverse-v2-sysreg")
    props = client.cmd("query-cpu-model-expansion", type="full", model={"name": "host"})["model"]["props"]
    assert props["SYSREG_ID_AA64ISAR0_EL1_AES"] == 2 and props["SYSREG_ID_AA64PFR0_EL1_SVE"] == 1
    assert props["SYSREG_ID_AA64MMFR0_EL1_PARange"] == 5 and props["SYSREG_ID_AA64DFR0_EL1_WRPs"] == 3
    assert "SYSREG_ID_AA64MMFR0_EL1_ASIDBits" not in props and "SYSREG_ID_AA64MMFR1_EL1_VMIDBits" not in props
    lowered = client.cmd("query-cpu-model-expansion", type="full", model={
        "name": "host", "props": {"SYSREG_ID_AA64ISAR0_EL1_AES": 1}})["model"]["props"]
    assert lowered["SYSREG_ID_AA64ISAR0_EL1_AES"] == 1   # KVM judges it at vCPU init, not the expansion
    with pytest.raises(ExecuteError) as err:
        client.cmd("query-cpu-model-expansion", type="full", model={
            "name": "host", "props": {"SYSREG_ID_AA64ISAR0_EL1_AES": True}})
    assert err.value.error.error.desc == "Parameter 'SYSREG_ID_AA64ISAR0_EL1_AES' expects uint64"


def test_host_needs_kvm_and_tcg_expands_max(qmp):
    client = qmp("qemu-7.2-released")
    with pytest.raises(ExecuteError, match="The CPU type 'host' requires KVM"):
        client.cmd("query-cpu-model-expansion", type="full", model={"name": "host"})
    a57 = client.cmd("query-cpu-model-expansion", type="full", model={"name": "cortex-a57"})
    assert a57 == {"model": {"name": "cortex-a57", "props": {"aarch64": True, "pmu": True}}}


def test_quit_sends_shutdown_then_return_and_the_server_stops(serve):
    server = serve("neoverse-n1")
    client = QEMUMonitorProtocol(server.address)
    client.connect()
    assert client.cmd_raw("quit") == {"return": {}}
    assert client.get_events()[0]["event"] == "SHUTDOWN"
    with contextlib.suppress(EOFError):  # qemu.qmp reports the peer's close after quit, as with real QEMU
        client.close()
    server._thread.join(2)
    assert not server._thread.is_alive() and server.quit_requested


# --------------------------------------------------------------------------- raw wire (transcript behaviours)


def test_greeting_shape_and_crlf(raw):
    client = raw("neoverse-v2", negotiate=False)
    line = client.line()
    assert line.endswith(b"}\r\n")
    assert json.loads(line) == {"QMP": {"version": {"qemu": {"micro": 50, "minor": 2, "major": 9},
                                                    "package": load_profile("neoverse-v2").data["qemu"]["package"]},
                                        "capabilities": ["oob"]}}


def test_commands_before_negotiation_get_command_not_found(raw):
    client = raw(negotiate=False)
    client.msg()
    for command in ("query-version", "query-arm-cpu-props-info", "no-such-command"):
        client.send('{"execute": "%s", "id": 1}' % command)
        assert client.msg() == {"id": 1, "error": {"class": "CommandNotFound", "desc": NEGOTIATE}}


NEGOTIATE = "Expecting capabilities negotiation with 'qmp_capabilities'"


def test_second_negotiation_is_refused(raw):
    client = raw()
    client.send('{"execute": "qmp_capabilities"}\n')
    assert client.line() == (b'{"error": {"class": "CommandNotFound", "desc": '
                             b'"Capabilities negotiation is already complete, command ignored"}}\r\n')


def test_streaming_reader_two_objects_one_write_no_newline_and_split_writes(raw):
    client = raw()
    client.send('{"execute":"query-kvm","id":1}{"execute":"query-target","id":2}')
    assert client.line() == b'{"return": {"enabled": true, "present": true}, "id": 1}\r\n'
    assert client.line() == b'{"return": {"arch": "aarch64"}, "id": 2}\r\n'
    client.send('{"execute": "query-')
    assert client.silent(0.15)
    client.send('target", "id": 7}')
    assert client.msg() == {"return": {"arch": "aarch64"}, "id": 7}


@pytest.mark.parametrize("ident", ["abc-1", 7, -1.5, None, True, [1, "x"], {"a": [1, 2]}, "\u00e9"])
def test_ids_are_echoed_verbatim(raw, ident):
    client = raw()
    client.send(json.dumps({"execute": "query-target", "id": ident}))
    assert client.msg() == {"return": {"arch": "aarch64"}, "id": ident}
    client.send(json.dumps({"execute": "nope", "id": ident}))
    reply = client.msg()
    assert list(reply) == ["id", "error"] and reply["id"] == ident


@pytest.mark.parametrize("data, descs", [
    ('{"execute": "query-version"}}', [None, "JSON parse error, expecting value"]),
    ("hello world\n", ["JSON parse error, invalid keyword 'hello'", "JSON parse error, invalid keyword 'world'"]),
    ('{"a": @}', ["JSON parse error, stray '@'", "JSON parse error, expecting value"]),
    ('{"execute": "query-version" "x"}', ["JSON parse error, expected separator in dict"]),
    ("[1,2,3]\n", ["QMP input must be a JSON object"]),
    ('{"arguments": {}, "id": 3}', ["QMP input lacks member 'execute'"]),
    ('{"execute":"query-kvm","foo":1}', ["QMP input member 'foo' is unexpected"]),
    ('{"execute":"query-kvm","arguments":[1]}', ["QMP input member 'arguments' must be an object"]),
    ('{"execute":5}', ["QMP input member 'execute' must be a string"]),
    (b"\xff\n", ["JSON parse error, stray '\ufffd'"]),
])
def test_malformed_input_gets_generic_errors_like_qemu(raw, data, descs):
    client = raw()
    client.send(data)
    for desc in descs:
        reply = client.msg()
        if desc is None:
            assert "return" in reply
            continue
        assert reply["error"] == {"class": "GenericError", "desc": desc}
        assert ("id" in reply) == ('"id"' in str(data))  # parse errors have none; a bad object keeps its id
    assert client.silent(0.05)


def test_malformed_json_reply_has_no_id(raw):
    client = raw()
    client.send('{"execute": "query-version", "id": 5}}')
    assert client.msg()["id"] == 5
    assert client.line() == b'{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}\r\n'


def test_single_quotes_and_oob(raw):
    client = raw(negotiate=False)
    client.msg()
    client.send('{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}')
    assert client.msg() == {"return": {}}
    client.send("{'execute':'query-target','id':'q'}")
    assert client.msg() == {"return": {"arch": "aarch64"}, "id": "q"}
    client.send('{"exec-oob":"query-kvm","id":"o1"}')
    assert client.msg() == {"id": "o1", "error": {"class": "GenericError",
                                                  "desc": "The command query-kvm does not support OOB"}}


def test_one_client_at_a_time(serve, rawclient):
    server = serve("neoverse-n1")
    first = rawclient(server.address).negotiate()
    second = rawclient(server.address)
    assert second.silent(0.2)  # connected (queued) but no greeting, like QEMU
    first.close()
    assert "QMP" in second.msg()
    second.close()


# --------------------------------------------------------------------------- fault switches


def test_unknown_fault_switch_is_refused():
    with pytest.raises(ValueError, match="unknown fault"):
        Faults({"explode": True})


def test_fault_delay(raw):
    client = raw(faults={"delay": 0.2})
    start = time.monotonic()
    client.send('{"execute": "query-target"}')
    client.msg()
    assert time.monotonic() - start >= 0.2


def test_fault_no_reply_swallows_only_that_command(raw):
    client = raw(faults={"no_reply": ["query-arm-cpu-props-info"]})
    client.send('{"execute": "query-arm-cpu-props-info", "id": 1}')
    assert client.silent(0.2)
    client.send('{"execute": "query-target", "id": 2}')
    assert client.msg()["id"] == 2


def test_fault_disconnect_mid_reply(raw):
    client = raw(faults={"disconnect_mid_reply": ["query-version"]})
    client.send('{"execute": "query-version"}')
    with pytest.raises(EOFError) as err:
        client.line()
    assert err.value.args[0].startswith(b'{"return": ') and len(err.value.args[0]) > 10


def test_fault_garbage_reply(raw):
    client = raw(faults={"garbage_reply": "*"})
    client.send('{"execute": "query-kvm"}')
    with pytest.raises(ValueError):
        client.msg()


def test_fault_events_before_each_reply(raw):
    client = raw(faults={"events_before_reply": 3})
    client.send('{"execute": "query-target", "id": 1}')
    messages = [client.msg() for _index in range(4)]
    assert [m.get("event") for m in messages[:3]] == ["RTC_CHANGE"] * 3
    assert messages[3] == {"return": {"arch": "aarch64"}, "id": 1}


def test_fault_events_forever_never_replies(raw):
    client = raw(faults={"events_forever": ["query-cpu-model-expansion"], "event_interval": 0.001})
    client.send('{"execute": "query-cpu-model-expansion", "arguments": {"type": "full", "model": {"name": "host"}}}')
    messages = [client.msg() for _index in range(50)]
    assert all(m["event"] == "RTC_CHANGE" for m in messages)


def test_fault_oversized_reply(raw):
    client = raw(faults={"oversized_reply": ["query-commands"], "oversized_mib": 1.5})
    client.send('{"execute": "query-commands", "id": 4}')
    line = client.line()
    assert len(line) > 1.5 * 2 ** 20
    reply = json.loads(line)
    assert reply["id"] == 4 and {"name": "quit"} in reply["return"]


def test_fault_lists_reply(raw):
    client = raw(faults={"lists_reply": ["query-commands"], "oversized_mib": 0.5})
    client.send('{"execute": "query-commands", "id": "x-1"}')
    line = client.line()
    assert 0.5 * 2 ** 20 - 3 <= len(line) <= 0.5 * 2 ** 20 + 64
    reply = json.loads(line)
    assert reply["id"] == "x-1" and reply["return"] == [[]] * (2 ** 19 // 3)


def test_fault_star_spares_negotiation(raw):
    client = raw(faults={"no_reply": "*"})  # negotiate() inside raw() succeeded
    client.send('{"execute": "query-target"}')
    assert client.silent(0.1)
