# -*- coding: utf-8 -*-
"""QMP client against scripted monitors: real sockets and threads replaying QEMU 7.2 transcripts, no mocks."""

import json
import os
import pathlib
import shutil
import socket
import tempfile
import threading
import time
import tracemalloc

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._host.qmp import (
    PROPERTY_CAP, REPLY_CAPS, QMPClient, QMPCommandError, QMPConnectError, QMPError, QMPProtocolError,
    QMPReplyTooLargeError, QMPTimeoutError, ReplyCap)

TRANSCRIPTS = pathlib.Path(__file__).resolve().parents[4] / "fixtures" / "qemu-7.2-tcg-transcripts"
MARGIN = 1.0  # slack for a loaded CI machine; deadlines are checked, speed is not


def recv_lines(name):
    """The server's messages in a transcript, as sent on the wire (the files keep the CR and drop the LF)."""
    log = json.loads((TRANSCRIPTS / name).read_text())
    return [(entry["raw"] + "\n").encode("utf-8") for entry in log if entry["dir"] == "recv"]


GREETING = recv_lines("00_greeting.json")[0]
VERSION = json.loads(recv_lines("05_query-version.json")[0])["return"]


def with_id(raw, command):
    """A recorded reply answering ``command``: QEMU echoes the command's id into it."""
    msg = json.loads(raw)
    msg["id"] = command["id"]
    return (json.dumps(msg) + "\r\n").encode("utf-8")


class Peer(object):
    """The server side of one connection, as a handler sees it."""

    def __init__(self, conn, server):
        self.conn = conn
        self.server = server
        self._rfile = conn.makefile("rb")

    def send(self, data):
        self.conn.sendall(data)

    def read_command(self):
        line = self._rfile.readline()
        if not line:
            return None
        command = json.loads(line)
        self.server.commands.append(command)
        return command

    def greet_and_negotiate(self):
        self.send(GREETING)
        command = self.read_command()
        assert command["execute"] == "qmp_capabilities"
        self.send(with_id(recv_lines("03_qmp_capabilities.json")[0], command))

    def hold(self):
        """Keep the connection open without a word, like a monitor that never answers."""
        self.server.release.wait(30)


class ScriptedServer(object):
    """A one-connection QMP monitor in a thread, on a real unix or TCP socket, driven by ``handler(peer)``."""

    def __init__(self, handler, tcp=False):
        self.handler = handler
        self.commands = []
        self.error = None
        self.release = threading.Event()
        self.tmpdir = None
        if tcp:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.bind(("127.0.0.1", 0))
            self.address = self.sock.getsockname()
        else:
            self.tmpdir = tempfile.mkdtemp(prefix="qmpt-")  # short: unix socket paths are limited to 107 bytes
            self.address = os.path.join(self.tmpdir, "qmp.sock")
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(self.address)
        self.sock.listen(1)
        self.sock.settimeout(10)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            conn, _address = self.sock.accept()
            conn.settimeout(10)
            with conn:
                self.handler(Peer(conn, self))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first: that is what several tests provoke
        except Exception as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc

    def stop(self):
        self.release.set()
        self.sock.close()
        self.thread.join(10)
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        assert not self.thread.is_alive(), "scripted server thread did not finish"
        if self.error is not None:
            raise self.error


@pytest.fixture
def serve():
    """serve(handler, tcp=False) -> the address of a scripted monitor running ``handler``."""
    servers = []

    def start(handler, tcp=False):
        server = ScriptedServer(handler, tcp)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def qemu_like(peer):
    """Answer like QEMU 7.2 from the transcripts, until the client hangs up."""
    answers = {
        "query-version": "05_query-version.json",
        "query-arm-cpu-props-info": "08_query-arm-cpu-props-info.json",
        "query-commands": "07_query-commands.json",
    }
    peer.greet_and_negotiate()
    while True:
        command = peer.read_command()
        if command is None:
            return
        if command["execute"] == "query-cpu-model-expansion":
            name = "10_query-cpu-model-expansion_full_max.json"
            if command["arguments"]["model"]["name"] != "max":
                name = "20_query-cpu-model-expansion_full_nosuchcpu.json"
        else:
            name = answers.get(command["execute"], "31_unknown_command.json")
        peer.send(with_id(recv_lines(name)[0], command))


def answer_once(reply_frames):
    """A handler: negotiate, read one command, send the frames ``reply_frames(command)`` returns, then hold."""
    def handler(peer):
        peer.greet_and_negotiate()
        command = peer.read_command()
        for frame in reply_frames(command):
            peer.send(frame)
        peer.hold()
    return handler


def greet_then_answer(transcript):
    """A handler: greet without waiting for negotiation, answer the first command with the transcript's reply."""
    def handler(peer):
        peer.send(GREETING)
        peer.send(with_id(recv_lines(transcript)[0], peer.read_command()))
        peer.hold()
    return handler


# --- handshake and plain commands -------------------------------------------------------------------------------

def test_handshake_and_query_version(serve):
    server = serve(qemu_like)
    with QMPClient(server.address, timeout=5) as client:
        assert client.greeting["QMP"]["version"]["qemu"] == {"micro": 22, "minor": 2, "major": 7}
        assert client.execute("query-version") == VERSION
        assert client.execute("query-cpu-model-expansion",
                              {"type": "full", "model": {"name": "max"}})["model"]["props"]["sve"] is True
    assert [c["execute"] for c in server.commands] == ["qmp_capabilities", "query-version",
                                                       "query-cpu-model-expansion"]
    ids = [c["id"] for c in server.commands]
    assert len(set(ids)) == len(ids), "every command carries its own id"
    assert "arguments" not in server.commands[1]


def test_error_reply_raises_command_error(serve):
    server = serve(qemu_like)
    with QMPClient(server.address, timeout=5) as client:
        with pytest.raises(QMPCommandError) as err:
            client.execute("query-arm-cpu-props-info")
        assert (err.value.command, err.value.error_class) == ("query-arm-cpu-props-info", "CommandNotFound")
        assert err.value.desc == "The command query-arm-cpu-props-info has not been found"
        with pytest.raises(QMPCommandError) as err:
            client.execute("query-cpu-model-expansion", {"type": "full", "model": {"name": "nosuchcpu"}})
        assert err.value.error_class == "GenericError"
        assert client.execute("query-version") == VERSION, "an error reply leaves the connection usable"


def test_error_reply_with_id_first(serve):
    """QEMU may put "id" before "error" (edge case arm_props_info_with_id)."""
    def reply(command):
        return [b'{"id": %s, "error": {"class": "CommandNotFound", "desc": "gone"}}\r\n'
                % json.dumps(command["id"]).encode()]
    server = serve(answer_once(reply))
    with QMPClient(server.address, timeout=5) as client:
        with pytest.raises(QMPCommandError, match="CommandNotFound: gone"):
            client.execute("query-arm-cpu-props-info")


def test_command_before_negotiation_is_refused(serve):
    server = serve(greet_then_answer("01_before_caps_query-version.json"))
    client = QMPClient(server.address, timeout=5)
    assert client.connect(negotiate=False)["QMP"]["capabilities"] == ["oob"]
    with pytest.raises(QMPCommandError) as err:
        client.execute("query-version")
    assert err.value.error_class == "CommandNotFound"
    assert "Expecting capabilities negotiation" in err.value.desc
    client.close()


def test_second_negotiation_error_fails_connect(serve):
    """A monitor that refuses qmp_capabilities (CommandNotFound, as for a second negotiation) fails connect()."""
    server = serve(greet_then_answer("04_qmp_capabilities_again.json"))
    client = QMPClient(server.address, timeout=5)
    with pytest.raises(QMPCommandError) as err:
        client.connect()
    assert (err.value.command, err.value.error_class) == ("qmp_capabilities", "CommandNotFound")
    assert "already complete" in err.value.desc
    with pytest.raises(QMPError, match="not connected"):
        client.execute("query-version")


@pytest.mark.parametrize("greeting", [b'{"return": {}}\r\n', b'{"QMP": "7.2"}\r\n', b'[1, 2]\r\n'])
def test_bad_greeting(serve, greeting):
    def handler(peer):
        peer.send(greeting)
        peer.hold()
    server = serve(handler)
    with pytest.raises(QMPProtocolError):
        QMPClient(server.address, timeout=5).connect()


def test_tcp_address(serve):
    server = serve(qemu_like, tcp=True)
    assert isinstance(server.address, tuple)
    with QMPClient(server.address, timeout=5) as client:
        assert client.execute("query-version") == VERSION


def test_close_is_idempotent_and_context_manager(serve):
    server = serve(qemu_like)
    client = QMPClient(server.address, timeout=5)
    with client as entered:
        assert entered is client and client.greeting is not None
        assert client.execute("query-version") == VERSION
    client.close()
    client.close()
    with pytest.raises(QMPError, match="not connected"):
        client.execute("query-version")


# --- framing ----------------------------------------------------------------------------------------------------

def test_messages_end_with_crlf_and_blank_lines_are_skipped(serve):
    def reply(command):
        return [b"\r\n\r\n", with_id(recv_lines("05_query-version.json")[0], command)]
    server = serve(answer_once(reply))
    with QMPClient(server.address, timeout=5) as client:
        assert client.execute("query-version") == VERSION


def test_reply_split_byte_by_byte(serve):
    def handler(peer):
        for byte in GREETING:
            peer.send(bytes([byte]))
        command = peer.read_command()
        for byte in with_id(recv_lines("03_qmp_capabilities.json")[0], command):
            peer.send(bytes([byte]))
            time.sleep(0.0002)  # separate segments, so the client sees many partial reads
        command = peer.read_command()
        for byte in with_id(recv_lines("05_query-version.json")[0], command):
            peer.send(bytes([byte]))
        peer.hold()
    server = serve(handler)
    with QMPClient(server.address, timeout=5) as client:
        assert client.execute("query-version") == VERSION


def test_two_messages_in_one_write(serve):
    """The greeting and an event in one write; then an event and the reply in one write (39_quit.json)."""
    shutdown, quit_return = recv_lines("39_quit.json")

    def handler(peer):
        peer.send(GREETING + b'{"event": "RESUME", "timestamp": {"seconds": 1, "microseconds": 2}}\r\n')
        peer.send(with_id(recv_lines("03_qmp_capabilities.json")[0], peer.read_command()))
        peer.send(shutdown + with_id(quit_return, peer.read_command()))
        peer.hold()
    server = serve(handler)
    with QMPClient(server.address, timeout=5) as client:
        assert client.execute("quit") == {}
        assert [e["event"] for e in client.events] == ["RESUME", "SHUTDOWN"]
        assert client.events[1]["data"]["reason"] == "host-qmp-quit"


def test_events_before_reply_are_kept_and_bounded(serve):
    from ansible_collections.armvirt.cpu.plugins.module_utils._host.qmp import EVENTS_KEPT
    flood = EVENTS_KEPT + 1500

    def reply(command):
        events = b"".join(b'{"event": "TICK", "data": {"n": %d}}\r\n' % n for n in range(flood))
        return [events, with_id(recv_lines("05_query-version.json")[0], command)]
    server = serve(answer_once(reply))
    with QMPClient(server.address, timeout=5) as client:
        assert client.execute("query-version") == VERSION
        assert len(client.events) == EVENTS_KEPT
        assert client.events_dropped == flood - EVENTS_KEPT
        assert client.events[-1]["data"]["n"] == flood - 1
        assert client.events[0]["data"]["n"] == flood - EVENTS_KEPT


def test_replies_without_id_are_never_matched(serve):
    """Parse-error replies carry no id (35_malformed_json_garbage.json): skipped, counted, last one kept."""
    def reply(command):
        version = with_id(recv_lines("05_query-version.json")[0], command)
        return recv_lines("35_malformed_json_garbage.json") + [version]
    server = serve(answer_once(reply))
    with QMPClient(server.address, timeout=5) as client:
        assert client.execute("query-version") == VERSION
        assert client.unmatched == 2
        assert client.last_unmatched["error"]["desc"] == "JSON parse error, invalid keyword 'world'"


def test_id_mismatched_replies_are_skipped(serve):
    def reply(command):
        stale_error = json.loads(recv_lines("08_query-arm-cpu-props-info.json")[0])
        frames = []
        for other in ("someone-else", 1, True, None, {"a": [1, 2]}):
            stale_error["id"] = other
            frames.append((json.dumps(stale_error) + "\r\n").encode())
        return frames + [with_id(recv_lines("05_query-version.json")[0], command)]
    server = serve(answer_once(reply))
    with QMPClient(server.address, timeout=5) as client:
        assert client.execute("query-version") == VERSION
        assert client.unmatched == 5


def test_late_reply_after_a_timeout_is_not_taken_for_the_next_one(serve):
    def handler(peer):
        peer.greet_and_negotiate()
        slow = peer.read_command()
        fast = peer.read_command()  # sent after the client gave up on `slow`
        peer.send(with_id(b'{"return": "stale"}\r\n', slow))
        peer.send(with_id(recv_lines("05_query-version.json")[0], fast))
        peer.hold()
    server = serve(handler)
    with QMPClient(server.address, timeout=5) as client:
        with pytest.raises(QMPTimeoutError):
            client.execute("query-qmp-schema", timeout=0.2)
        assert client.execute("query-version") == VERSION
        assert client.last_unmatched["return"] == "stale"


def test_five_megabyte_reply(serve):
    schema = json.loads(recv_lines("29_query-qmp-schema.json")[0])["return"]
    big = schema * (5 * 1024 * 1024 // len(json.dumps(schema)) + 1)

    def reply(command):
        frame = (json.dumps({"return": big, "id": command["id"]}) + "\r\n").encode()
        assert len(frame) > 5 * 1024 * 1024
        return [frame[i:i + 4096] for i in range(0, len(frame), 4096)]
    server = serve(answer_once(reply))
    with QMPClient(server.address, timeout=30) as client:
        assert client.execute("query-qmp-schema") == big


def test_message_size_bound_is_exact(serve):
    """A message of exactly max_message_size bytes (CRLF included) passes; one byte more does not."""
    bound = 4096

    def frame(command, size):
        head = b'{"return": "'
        tail = b'", "id": %s}\r\n' % json.dumps(command["id"]).encode()
        return head + b"x" * (size - len(head) - len(tail)) + tail

    def handler(peer):
        peer.greet_and_negotiate()
        peer.send(frame(peer.read_command(), bound))
        peer.send(frame(peer.read_command(), bound + 1))
        peer.hold()
    server = serve(handler)
    with QMPClient(server.address, timeout=5, max_message_size=bound) as client:
        assert set(client.execute("query-version")) == {"x"}
        with pytest.raises(QMPProtocolError, match="exceeds 4096 bytes"):
            client.execute("query-version")


def test_oversized_reply_is_refused_without_reading_it_all(serve):
    sent = []

    def handler(peer):
        peer.greet_and_negotiate()
        peer.read_command()
        chunk = b"x" * 65536
        total = 0
        try:
            while total < 200 * 1024 * 1024:  # no newline: one endless message
                total += peer.conn.send(chunk)
        except OSError:
            pass
        sent.append(total)
    server = serve(handler)
    with QMPClient(server.address, timeout=10, max_message_size=1024 * 1024) as client:
        with pytest.raises(QMPProtocolError, match="exceeds"):
            client.execute("query-qmp-schema")
    server.thread.join(10)
    assert sent and sent[0] < 50 * 1024 * 1024, "the client stopped reading at the bound"


def lists_frames(command, count):
    """A reply whose return is ``count`` empty lists, ``[[],[],...]``: 3 bytes and 2 counted JSON values (a bracket
    and a comma) each, made 60 KiB at a time (the server never holds more)."""
    yield b'{"id": %s, "return": [' % json.dumps(command["id"]).encode()
    step = 20 * 1024
    for start in range(0, count - 1, step):
        yield b"[]," * min(step, count - 1 - start)
    yield b"[]]}\r\n"


@pytest.mark.parametrize("command", sorted(REPLY_CAPS))
def test_sixty_megabyte_lists_reply_to_a_property_command_is_refused_undecoded(serve, command):
    """60 MB of [[],[],...] (1.6 GB once decoded) against a property command: refused at its 1 MiB cap, the client
    allocates little more than the cap, and the connection is closed, not left mid-message."""
    server = serve(answer_once(lambda cmd: lists_frames(cmd, 20 * 1000 * 1000)))
    with QMPClient(server.address, timeout=30) as client:
        tracemalloc.start()
        try:
            with pytest.raises(QMPReplyTooLargeError) as err:
                client.execute(command)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert str(err.value) == ("a QMP message while waiting for %s exceeds 1048576 bytes (the cap for that reply); "
                                  "the connection was closed without decoding it" % command)
        assert (err.value.command, err.value.cap, err.value.unit) == (command, PROPERTY_CAP.size, "bytes")
        assert isinstance(err.value, QMPProtocolError)
        assert peak < 4 * PROPERTY_CAP.size, peak  # the buffer and one copy of the line at most
        with pytest.raises(QMPError, match="not connected"):
            client.execute("query-version")


def test_reply_with_too_many_values_is_refused_before_decoding(serve):
    """Under the byte cap but over the value count: 120 KB of [[],...] holds 80,000 values (64 Ki allowed)."""
    server = serve(answer_once(lambda cmd: [b"".join(lists_frames(cmd, 40000))]))
    with QMPClient(server.address, timeout=10) as client:
        with pytest.raises(QMPReplyTooLargeError,
                           match=r"query-cpu-props-info holds more than 65536 JSON values \(the cap for that reply\)"):
            client.execute("query-cpu-props-info")
        assert client._sock is None


def test_property_reply_within_its_cap_and_larger_replies_elsewhere(serve):
    """32,000 empty lists (64,000 values, 96 KB) are read for a property command; a 2 MB reply that a property
    command refuses is read for a command under the default cap (query-qmp-schema is 205 KB in QEMU 7.2)."""
    def big(command):
        return (json.dumps({"return": "x" * 2000000, "id": command["id"]}) + "\r\n").encode()

    def handler(peer):
        peer.greet_and_negotiate()
        peer.send(b"".join(lists_frames(peer.read_command(), 32000)))
        peer.send(big(peer.read_command()))
        try:
            peer.send(big(peer.read_command()))
        except OSError:
            pass  # the client hung up at its cap
        peer.hold()
    server = serve(handler)
    with QMPClient(server.address, timeout=10) as client:
        assert client.execute("query-arm-cpu-props-info") == [[]] * 32000
        assert len(client.execute("query-qmp-schema")) == 2000000
        with pytest.raises(QMPReplyTooLargeError, match="query-cpu-model-expansion exceeds 1048576 bytes"):
            client.execute("query-cpu-model-expansion")


def test_message_buffered_under_a_larger_cap_is_held_to_the_cap_in_force(serve):
    """An event read along with the previous reply is complete in the buffer; it still may not pass the cap of the
    command the client now waits for."""
    event = (json.dumps({"event": "RTC_CHANGE", "data": {"pad": "x" * 2000}}) + "\r\n").encode()

    def handler(peer):
        peer.send(GREETING)
        command = peer.read_command()
        peer.send(with_id(recv_lines("03_qmp_capabilities.json")[0], command) + event)
        peer.read_command()
        peer.hold()
    server = serve(handler)
    client = QMPClient(server.address, timeout=5)
    client.reply_caps["query-version"] = ReplyCap(1000, 100)
    with client:
        assert len(client._buf) == len(event)
        with pytest.raises(QMPReplyTooLargeError, match="query-version exceeds 1000 bytes"):
            client.execute("query-version")


@pytest.mark.parametrize("garbage", [b"hello world\r\n", b'{"return": \r\n', b"[1, 2, 3]\r\n",
                                     b'{"return": "\xff\xfe"}\r\n'])
def test_garbage_from_the_server(serve, garbage):
    server = serve(answer_once(lambda command: [garbage]))
    with QMPClient(server.address, timeout=5) as client:
        with pytest.raises(QMPProtocolError, match="query-version"):
            client.execute("query-version")


def test_disconnect_mid_reply(serve):
    def handler(peer):
        peer.greet_and_negotiate()
        peer.send(with_id(recv_lines("05_query-version.json")[0], peer.read_command())[:40])
    server = serve(handler)
    with QMPClient(server.address, timeout=5) as client:
        with pytest.raises(QMPProtocolError,
                           match="monitor closed the connection while waiting for query-version"):
            client.execute("query-version")


def test_disconnect_before_greeting(serve):
    server = serve(lambda peer: None)
    with pytest.raises(QMPProtocolError, match="closed the connection while waiting for the QMP greeting"):
        QMPClient(server.address, timeout=5).connect()


# --- deadlines --------------------------------------------------------------------------------------------------

def test_never_answering_monitor_honours_the_deadline(serve):
    def handler(peer):
        peer.greet_and_negotiate()
        peer.read_command()
        peer.hold()
    server = serve(handler)
    with QMPClient(server.address, timeout=5) as client:
        start = time.monotonic()
        with pytest.raises(QMPTimeoutError) as err:
            client.execute("query-cpu-model-expansion", {"type": "full", "model": {"name": "max"}}, timeout=0.3)
        elapsed = time.monotonic() - start
    assert 0.3 <= elapsed < 0.3 + MARGIN
    message = str(err.value)
    assert "query-cpu-model-expansion" in message and "0.3 s" in message
    assert "one QMP client at a time" in message and "libvirt" in message


def test_deadline_covers_the_whole_command_not_each_read(serve):
    """A monitor that trickles a byte every 50 ms never resets the clock."""
    def handler(peer):
        peer.greet_and_negotiate()
        peer.read_command()
        for _attempt in range(200):
            if peer.server.release.wait(0.05):
                return
            peer.send(b" ")
    server = serve(handler)
    with QMPClient(server.address, timeout=5) as client:
        start = time.monotonic()
        with pytest.raises(QMPTimeoutError):
            client.execute("query-version", timeout=0.4)
        assert time.monotonic() - start < 0.4 + MARGIN


def test_greeting_never_comes(serve):
    """What a monitor held by another client looks like: accepted, never greeted."""
    server = serve(lambda peer: peer.hold())
    client = QMPClient(server.address, timeout=0.3)
    start = time.monotonic()
    with pytest.raises(QMPTimeoutError, match="QMP greeting.*libvirt"):
        client.connect()
    assert time.monotonic() - start < 0.3 + MARGIN
    assert client.greeting is None


# --- connecting -------------------------------------------------------------------------------------------------

def test_connect_to_missing_socket(tmp_path):
    path = str(tmp_path / "nothing.sock")
    with pytest.raises(QMPConnectError) as err:
        QMPClient(path, timeout=1).connect()
    assert path in str(err.value)


def test_connect_refused_unix_and_tcp():
    tmpdir = tempfile.mkdtemp(prefix="qmpt-")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        path = os.path.join(tmpdir, "qmp.sock")
        unix.bind(path)  # bound, never listening: ECONNREFUSED
        tcp.bind(("127.0.0.1", 0))
        with pytest.raises(QMPConnectError, match=path):
            QMPClient(path, timeout=1).connect()
        host, port = tcp.getsockname()
        with pytest.raises(QMPConnectError, match="127.0.0.1:%d" % port):
            QMPClient((host, port), timeout=1).connect()
    finally:
        unix.close()
        tcp.close()
        shutil.rmtree(tmpdir)
