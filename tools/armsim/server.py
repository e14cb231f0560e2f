"""A QMP server that plays the QEMU of one simulated ARM host.

It copies what real QEMU 7.2 does on the wire (see tests/fixtures/qemu-7.2-tcg-transcripts/), so that a client
which works here works against QEMU: a streaming JSON reader (no newline needed, several objects per write, parse
errors answered without an id), CRLF after every message, ids echoed verbatim, capability negotiation, QEMU's error
classes and texts, one client at a time. What the host answers comes from a profile (``profiles.Profile``); fault
switches (``Faults``) make it misbehave on purpose for reliability tests.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import select
import socket
import sys
import threading
import time

CRLF = b"\r\n"
NEGOTIATE_FIRST = "Expecting capabilities negotiation with 'qmp_capabilities'"
GARBAGE = b"\xff\xfe<armsim garbage: this is not JSON>\x00" + CRLF
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_WORD = re.compile(r"[A-Za-z0-9+\-.]")
_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$")


class QMPFailure(Exception):
    """A command's error reply: QEMU's error class and description."""

    def __init__(self, desc, error_class="GenericError"):
        super().__init__(desc)
        self.desc, self.error_class = desc, error_class


class CloseClient(Exception):
    """Drop the current connection (a fault, or quit)."""


# --------------------------------------------------------------------------- encoding and framing


def encode(message):
    """Serialise one server message as QEMU does: ", "/": " separators, non-ASCII as \\uXXXX (upper case), CRLF."""
    text = json.dumps(message, ensure_ascii=False)
    text = _NON_ASCII.sub(lambda m: _uescape(m.group()), text)
    return text.encode("ascii") + CRLF


def _uescape(char):
    code = ord(char)
    if code < 0x10000:
        return "\\u%04X" % code
    code -= 0x10000
    return "\\u%04X\\u%04X" % (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF))


class JSONFramer:
    """Cut a byte stream into JSON messages the way QEMU's json-streamer does.

    QEMU counts braces and brackets over lexer tokens and parses as soon as both counts are back to zero (or one
    went negative), so no newline is needed, "{}{}" is two messages, a stray "}" is its own (failed) message and
    "hello world" is two bad keywords. Each complete message is then parsed with the json module (single-quoted
    strings, a QEMU extension, are rewritten first). ``feed`` returns a list of (value, error_desc) pairs; exactly
    one of the two is None.
    """

    def __init__(self):
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")  # bad bytes become U+FFFD, as QEMU's stray
        self._buf = ""

    def feed(self, data):
        self._buf += self._decoder.decode(data)
        out, buf, i, start, braces, brackets = [], self._buf, 0, None, 0, 0
        while i < len(buf):
            char, token_start = buf[i], i
            if char in " \t\r\n":
                i += 1
                continue
            if char in "\"'":
                end = _string_end(buf, i)
                if end < 0:
                    break
                i = end
            elif char in "{[":
                braces, brackets = braces + (char == "{"), brackets + (char == "[")
                i += 1
            elif char in "}]":
                braces, brackets = braces - (char == "}"), brackets - (char == "]")
                i += 1
            elif char in ":,":
                i += 1
            elif _WORD.match(char):
                while i < len(buf) and _WORD.match(buf[i]):
                    i += 1
                if i == len(buf):
                    i = token_start  # a keyword or number may go on in the next write
                    break
            else:
                out.append((None, "JSON parse error, stray '%s'" % char))  # QEMU drops the tokens so far
                start, braces, brackets, i = None, 0, 0, i + 1
                continue
            if start is None:
                start = token_start
            if (braces > 0 or brackets > 0) and braces >= 0 and brackets >= 0:
                continue
            out.append(_parse(buf[start:i]))
            start, braces, brackets = None, 0, 0
        self._buf = buf[start if start is not None else i:]
        return out


def _string_end(buf, i):
    """Index after the string starting at buf[i], or -1 when it is not complete yet."""
    quote, i = buf[i], i + 1
    while i < len(buf):
        if buf[i] == "\\":
            i += 2
        elif buf[i] == quote:
            return i + 1
        else:
            i += 1
    return -1


def _requote(text):
    """Rewrite QEMU's single-quoted strings as JSON double-quoted ones."""
    out, i = [], 0
    while i < len(text):
        if text[i] not in "\"'":
            out.append(text[i])
            i += 1
            continue
        end = _string_end(text, i)
        body = text[i + 1:end - 1]
        if text[i] == "'":
            body = re.sub(r'\\(.)|"', lambda m: '\\"' if m.group() == '"' else ("'" if m.group(1) == "'" else m.group()),
                          body)
        out.append('"' + body + '"')
        i = end
    return "".join(out)


def _parse(text):
    """Parse one framed message; map failures to QEMU's json-parser wording."""
    for word in re.findall(r"[A-Za-z0-9+\-.]+", _strip_strings(text)):
        if word not in ("true", "false", "null") and not _NUMBER.match(word):
            return None, "JSON parse error, invalid keyword '%s'" % word
    try:
        return json.loads(_requote(text), parse_constant=_reject, parse_float=_number), None
    except ValueError as exc:
        msg, pos = getattr(exc, "msg", ""), getattr(exc, "pos", 0)
        if msg == "Expecting ':' delimiter":
            return None, "JSON parse error, missing : in object pair"
        if msg == "Expecting ',' delimiter":
            return None, "JSON parse error, expected separator in %s" % ("dict" if text.lstrip()[:1] == "{" else "list")
        if msg.startswith("Expecting property name") and text[pos:pos + 1] != "}":
            return None, "JSON parse error, key is not a string in object"
        return None, "JSON parse error, expecting value"


def _strip_strings(text):
    out, i = [], 0
    while i < len(text):
        if text[i] in "\"'":
            i = _string_end(text, i)
            out.append(" ")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _number(text):
    """QEMU prints numbers with %.17g, so an integral 1.5e3 comes back as 1500."""
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 1e17 else value


def _reject(word):
    raise ValueError("not JSON: " + word)


# --------------------------------------------------------------------------- faults


class Faults:
    """Fault switches, read from a dict (the ARMSIM_FAULTS JSON, CLI flags, or a profile's "faults").

    Command lists name commands; "*" means every command except qmp_capabilities (to break negotiation, name it).
    """

    NUMBERS = {"delay": 0.0, "events_before_reply": 0, "oversized_mib": 2.0, "event_interval": 0.005}
    COMMAND_LISTS = ("no_reply", "disconnect_mid_reply", "garbage_reply", "events_forever", "oversized_reply",
                     "lists_reply")
    START = ("crash_at_start", "hang_at_start")

    def __init__(self, spec=None):
        spec = dict(spec or {})
        unknown = set(spec) - set(self.NUMBERS) - set(self.COMMAND_LISTS) - set(self.START)
        if unknown:
            raise ValueError("unknown fault switch(es): %s" % ", ".join(sorted(unknown)))
        for name, default in self.NUMBERS.items():
            setattr(self, name, type(default)(spec.get(name, default)))
        for name in self.COMMAND_LISTS:
            value = spec.get(name) or []
            setattr(self, name, frozenset([value] if isinstance(value, str) else value))
        self.crash_at_start = spec.get("crash_at_start") or None
        self.hang_at_start = bool(spec.get("hang_at_start"))
        self.spec = spec

    def hits(self, switch, command):
        names = getattr(self, switch)
        return command in names or ("*" in names and command != "qmp_capabilities")


# --------------------------------------------------------------------------- the server


class QMPServer:
    """Serve QMP for one profile on a unix or TCP socket, one client at a time, until quit or ``stop()``.

    ``accel`` is "kvm" or "tcg" as on QEMU's command line. Use ``serve_forever()`` in a process (the stand-in
    emulator) or ``start()``/``stop()`` to run it in a thread (tests).
    """

    def __init__(self, profile, accel="tcg", faults=None, unix_path=None, tcp=None):
        self.profile, self.accel = profile, accel
        self.faults = faults if isinstance(faults, Faults) else Faults(faults)
        self.unix_path = unix_path
        self._stop = threading.Event()
        self.quit_requested = False
        self._thread = None
        if unix_path:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            if os.path.exists(unix_path):
                os.unlink(unix_path)
            self.listener.bind(unix_path)
        else:
            self.listener = socket.create_server(tcp or ("127.0.0.1", 0))
        self.listener.listen(1)  # QEMU accepts the next client only after the current one is gone
        self.address = unix_path or self.listener.getsockname()[:2]

    # lifecycle -----------------------------------------------------------
    def start(self):
        self._thread = threading.Thread(target=self.serve_forever, name="armsim-qmp", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def serve_forever(self):
        try:
            while not self._stop.is_set():
                if select.select([self.listener], [], [], 0.05)[0]:
                    conn, _address = self.listener.accept()
                    with conn:
                        Session(self, conn).run()
        finally:
            self.listener.close()
            if self.unix_path and os.path.exists(self.unix_path):
                os.unlink(self.unix_path)

    @property
    def stopping(self):
        return self._stop.is_set()

    def request_quit(self):
        self.quit_requested = True
        self._stop.set()


def timestamp():
    now = time.time()
    return {"seconds": int(now), "microseconds": int((now % 1) * 1e6)}


def event(name, data=None):
    message = {"timestamp": timestamp(), "event": name}
    if data is not None:
        message["data"] = data
    return message


def lists_reply(reply, mib):
    """``reply`` with its return replaced by ``[[],[],...]`` of ``mib`` MiB: cheap to send, while a JSON decoder
    spends about 25 times its size on it (one list object per three bytes)."""
    count = max(int(mib * 2 ** 20) // 3, 1)
    head = b'{"return": [' + b"[]," * (count - 1) + b"[]]"
    return head + (b', "id": ' + encode(reply["id"])[:-len(CRLF)] if "id" in reply else b"") + b"}" + CRLF


NOISE_EVENT = ("RTC_CHANGE", {"offset": 0, "qom-path": "/machine/unattached/device[0]"})


class Session:
    """One client connection: greeting, negotiation state, dispatch, fault injection."""

    def __init__(self, server, conn):
        self.server, self.conn, self.profile = server, conn, server.profile
        self.faults = server.faults
        self.negotiated = self.oob = False
        self.framer = JSONFramer()

    def send(self, message):
        self.conn.sendall(message if isinstance(message, bytes) else encode(message))

    def run(self):
        try:
            self.send({"QMP": {"version": self.profile.version_info(), "capabilities": ["oob"]}})
            while not self.server.stopping:
                if not select.select([self.conn], [], [], 0.05)[0]:
                    continue
                data = self.conn.recv(65536)
                if not data:
                    return
                for value, error in self.framer.feed(data):
                    self.handle(value, error)
        except (CloseClient, OSError):
            return
        finally:
            if self.server.stopping and self.negotiated and not self.server.quit_requested:
                self._try_send(event("SHUTDOWN", {"guest": False, "reason": "host-signal"}))

    def _try_send(self, message):
        try:
            self.send(message)
        except OSError:
            pass

    def handle(self, value, parse_error):
        """Answer one framed message the way QEMU's monitor_qmp_dispatch/qmp_dispatch would."""
        request = value if isinstance(value, dict) else {}
        command = request.get("execute", request.get("exec-oob"))
        command = command if isinstance(command, str) else None
        if command and self.faults.hits("no_reply", command):
            return
        if command and self.faults.hits("events_forever", command):
            while not self.server.stopping:
                self.send(event(*NOISE_EVENT))
                time.sleep(self.faults.event_interval)
            raise CloseClient()
        in_command_mode = self.negotiated  # QEMU sends events only after negotiation
        try:
            if parse_error:
                raise QMPFailure(parse_error)
            result, events = self.dispatch(value)
            reply = {"return": result}
            if "id" in request:
                reply["id"] = request["id"]
        except QMPFailure as failure:
            events = []
            reply = {"error": {"class": failure.error_class, "desc": failure.desc}}
            if "id" in request:
                reply = {"id": request["id"], **reply}  # QEMU happens to print the id first in error replies
        self.reply(command, reply, events, in_command_mode)

    def reply(self, command, reply, events, noise=True):
        faults = self.faults
        if faults.delay:
            time.sleep(faults.delay)
        for _event in range(faults.events_before_reply if noise else 0):
            self.send(event(*NOISE_EVENT))
        for message in events:
            self.send(message)
        if command and faults.hits("garbage_reply", command):
            return self.send(GARBAGE)
        if command and faults.hits("oversized_reply", command):
            reply = {"return": reply.get("return"), "x-armsim-padding": "A" * int(faults.oversized_mib * 2 ** 20),
                     **{k: v for k, v in reply.items() if k != "return"}}
        data = encode(reply)
        if command and faults.hits("lists_reply", command):
            data = lists_reply(reply, faults.oversized_mib)
        if command and faults.hits("disconnect_mid_reply", command):
            self.conn.sendall(data[:len(data) // 2])
            raise CloseClient()
        self.send(data)
        if self.server.quit_requested:
            raise CloseClient()

    def dispatch(self, request):
        """Check the request's members, find the command, run it. Returns (result, events to send first)."""
        if not isinstance(request, dict):
            raise QMPFailure("QMP input must be a JSON object")
        has_exec = False
        for key, member in request.items():
            if key == "execute" or (key == "exec-oob" and self.oob):
                if not isinstance(member, str):
                    raise QMPFailure("QMP input member '%s' must be a string" % key)
                if has_exec:
                    raise QMPFailure("QMP input member 'execute' clashes with 'exec-oob'")
                has_exec = True
            elif key == "arguments":
                if not isinstance(member, dict):
                    raise QMPFailure("QMP input member 'arguments' must be an object")
            elif key != "id":
                raise QMPFailure("QMP input member '%s' is unexpected" % key)
        if not has_exec:
            raise QMPFailure("QMP input lacks member 'execute'")
        name = request.get("execute") or request["exec-oob"]
        args = request.get("arguments", {})
        available = ("qmp_capabilities",) if not self.negotiated else self.profile.commands
        if name not in available or (name == "qmp_capabilities" and self.negotiated):
            if not self.negotiated:
                raise QMPFailure(NEGOTIATE_FIRST, "CommandNotFound")
            if name == "qmp_capabilities":
                raise QMPFailure("Capabilities negotiation is already complete, command ignored", "CommandNotFound")
            raise QMPFailure("The command %s has not been found" % name, "CommandNotFound")
        if "exec-oob" in request:
            raise QMPFailure("The command %s does not support OOB" % name)
        handler = getattr(self, "cmd_" + name.replace("-", "_"), None) or self.profile_command(name)
        return handler(args)

    def profile_command(self, name):
        """A props-info command (its reply comes from the profile), or any other command the profile lists."""
        def run(args):
            no_arguments(args)
            if name in ("query-arm-cpu-props-info", "query-cpu-props-info"):
                return self.profile.props_info(name), []
            raise QMPFailure("The command %s has not been found" % name, "CommandNotFound")
        return run

    # commands ---------------------------------------------------------------
    def cmd_qmp_capabilities(self, args):
        enable = args.get("enable", [])
        check_members(args, ("enable",))
        if not isinstance(enable, list):
            raise QMPFailure("Invalid parameter type for 'enable', expected: array")
        for item in enable:
            if item != "oob":
                raise QMPFailure("Parameter 'null' does not accept value '%s'" % item)  # sic, QEMU 7.2
        self.negotiated, self.oob = True, "oob" in enable
        return {}, []

    def cmd_query_version(self, args):
        no_arguments(args)
        return self.profile.version_info(), []

    def cmd_query_commands(self, args):
        no_arguments(args)
        return [{"name": name} for name in self.profile.commands], []

    def cmd_query_cpu_definitions(self, args):
        no_arguments(args)
        return self.profile.cpu_definitions(), []

    def cmd_query_kvm(self, args):
        no_arguments(args)
        return {"enabled": self.server.accel == "kvm", "present": self.profile.kvm}, []

    def cmd_query_target(self, args):
        no_arguments(args)
        return {"arch": "aarch64"}, []

    def cmd_quit(self, args):
        no_arguments(args)
        self.server.request_quit()
        return {}, [event("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})]

    def cmd_query_cpu_model_expansion(self, args):
        kind = required(args, "type", str, "string")
        model = required(args, "model", dict, "object")
        name = required(model, "name", str, "string", "model.")
        check_members(model, ("name", "props"), "model.")
        check_members(args, ("type", "model"))
        if kind not in ("static", "full"):
            raise QMPFailure("Parameter 'type' does not accept value '%s'" % kind)
        props = model.get("props", {})
        if not isinstance(props, dict):
            raise QMPFailure("Invalid parameter type for 'props', expected: dict")
        if kind != "full" and not self.profile.expansion_validates:
            raise QMPFailure("The requested expansion type is not supported")
        return {"model": {"name": name, "props": self.profile.expand(name, self.server.accel, props, kind)}}, []


def no_arguments(args):
    check_members(args, ())


def check_members(args, allowed, prefix=""):
    for key in args:
        if key not in allowed:
            raise QMPFailure("Parameter '%s%s' is unexpected" % (prefix, key))


def required(args, key, kind, kind_name, prefix=""):
    if key not in args:
        raise QMPFailure("Parameter '%s%s' is missing" % (prefix, key))
    if not isinstance(args[key], kind):
        raise QMPFailure("Invalid parameter type for '%s%s', expected: %s" % (prefix, key, kind_name))
    return args[key]


def log(message):
    """QEMU-style stderr line."""
    sys.stderr.write("qemu-system-aarch64: %s\n" % message)
    sys.stderr.flush()
