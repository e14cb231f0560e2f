# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to the collection: not public API, and it may change in any release.

A small synchronous QMP client (standard library only).

Modelled on QEMU's python/qemu/qmp, minus asyncio: a probe runs a handful of commands once, and a blocking
socket with one deadline per call is all it needs (and imports in a fraction of the time).

Wire facts this relies on (see the QEMU 7.2 transcripts in tests/fixtures/qemu-7.2-tcg-transcripts):
- every server message is one JSON object ended by CRLF, so framing is "split on \\n";
- QEMU echoes any JSON ``id`` verbatim, while its parse-error replies carry none, so only an ``id`` ties a reply
  to the command that caused it;
- events may arrive at any time, including between a command and its reply;
- QEMU serves one monitor client at a time: a second client is accepted by the kernel but never greeted.

Reply caps. A JSON decoder spends up to ~30 times a message's size on it (``[[],[],...]``: one list object per three
bytes), so a 60 MB reply cost 1.6 GB before any shape check could refuse it. Every message is therefore checked on
the raw line, before decoding, against the cap of the command it answers (``REPLY_CAPS``, else ``DEFAULT_CAP``): a
size in bytes (CRLF included; the client never buffers more) and a count of JSON values (commas plus opening brackets
and braces, an upper bound on the values and members the decoder creates, which cost at most ~100 bytes each).
Measured replies (the QEMU 7.2 transcripts, every armsim profile): a props-info reply is at most 5.6 KB and 443
values (neoverse-v2, dialect 2), an expansion at most 3.2 KB and 106 values (ampereone-sysreg);
``query-qmp-schema``, the largest real reply, is 205 KB and 15823 values. The property commands' cap (1 MiB,
65536 values) is ~150 times the largest, the default (8 MiB, 524288 values) ~33 times the schema's; decoding a reply
within them costs at most ~8 MB and ~60 MB. A message over its cap raises ``QMPReplyTooLargeError`` naming the
command and the cap, and the connection is closed (the rest of the message is never read, so it cannot be resumed).
"""

from __future__ import annotations

import collections
import json
import os
import socket
import time

# The types are for the checker only: a fresh process that talks QMP pays for every module it imports (row
# fresh_process of the benchmarks), and typing is the largest of them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, NamedTuple, Tuple, Union

    JSONObject = Dict[str, Any]   # a QMP message or reply member: free-form JSON as QEMU sent it
    Address = Union[str, "os.PathLike[str]", Tuple[str, int]]   # a unix socket path or (host, port)

    class ReplyCap(NamedTuple):
        """The cap on one message: its size in bytes (CRLF included) and its count of JSON values."""

        size: int
        values: int
else:   # the same tuple, without typing
    ReplyCap = collections.namedtuple("ReplyCap", "size values")

DEFAULT_CAP = ReplyCap(8 * 1024 * 1024, 512 * 1024)
PROPERTY_CAP = ReplyCap(1024 * 1024, 64 * 1024)
REPLY_CAPS = {"query-arm-cpu-props-info": PROPERTY_CAP, "query-cpu-props-info": PROPERTY_CAP,
              "query-cpu-model-expansion": PROPERTY_CAP}
DEFAULT_MAX_MESSAGE_SIZE = DEFAULT_CAP.size
EVENTS_KEPT = 1000
_RECV_SIZE = 256 * 1024
_BUSY_HINT = ("QEMU serves one QMP client at a time, so a monitor held by another client "
              "(e.g. libvirt) never answers")


class QMPError(Exception):
    """Base of every failure raised by this module."""


class QMPConnectError(QMPError):
    """The monitor could not be reached."""


class QMPTimeoutError(QMPError):
    """A deadline passed: connecting, waiting for the greeting, or one command."""


class QMPProtocolError(QMPError):
    """The peer broke the protocol: garbage, a bad greeting, or it closed mid-reply."""


class QMPReplyTooLargeError(QMPProtocolError):
    """A message exceeded the cap of the command it answers (``.command``; ``.cap``, ``.unit``): refused undecoded."""

    def __init__(self, command: str, cap: int, unit: str) -> None:
        super(QMPReplyTooLargeError, self).__init__(
            "a QMP message while waiting for %s %s %d %s (the cap for that reply); the connection was closed "
            "without decoding it" % (command, "exceeds" if unit == "bytes" else "holds more than", cap, unit))
        self.command = command
        self.cap = cap
        self.unit = unit


class QMPCommandError(QMPError):
    """QEMU answered a command with an error reply."""

    def __init__(self, command: str, error_class: Any, desc: Any) -> None:
        super(QMPCommandError, self).__init__("%s failed: %s: %s" % (command, error_class, desc))
        self.command = command
        self.error_class = error_class
        self.desc = desc


class QMPClient(object):
    """One QMP connection. Not thread-safe: a probe talks to its monitor from one thread.

    ``events`` keeps the last ``EVENTS_KEPT`` events (``events_dropped`` counts older ones) so an event flood cannot
    exhaust memory. Replies without a matching ``id`` are never taken as an answer; ``unmatched`` counts them and
    ``last_unmatched`` keeps the latest one for debugging. ``max_message_size`` bounds every server message (CRLF
    included); ``reply_caps`` (default ``REPLY_CAPS``) lowers it per command, for every message read while waiting
    for that command's reply. The client never buffers more than the cap in force, so a runaway monitor costs at
    most that much memory, and never decodes a message over it.
    """

    timeout_hint = _BUSY_HINT  # what a timeout most likely means for a monitor someone else started

    def __init__(self, address: Address, timeout: float = 10.0,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self.address = address
        self.timeout = timeout
        self.max_message_size = max_message_size
        self.reply_caps = dict(REPLY_CAPS)
        self.greeting: JSONObject | None = None
        self.events: list[JSONObject] = []
        self.events_dropped = 0
        self.unmatched = 0
        self.last_unmatched: JSONObject | None = None
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf already searched for b"\n": keeps framing linear in the reply size
        self._last_id = 0

    def __enter__(self) -> QMPClient:
        if self._sock is None:
            self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _where(self) -> str:
        if isinstance(self.address, tuple):
            return "%s:%s" % self.address[:2]
        return os.fspath(self.address)

    def connect(self, negotiate: bool = True) -> JSONObject:
        """Connect, read the greeting and (by default) negotiate capabilities, all within one ``timeout``.

        Returns the greeting. Negotiation is required before QEMU accepts any other command.
        """
        self.close()
        deadline = time.monotonic() + self.timeout
        try:
            self._sock = self._open(deadline)
            greeting = self._read_message(deadline, "the QMP greeting")
            if not isinstance(greeting.get("QMP"), dict):
                raise QMPProtocolError("%s: expected a QMP greeting, got %.200r" % (self._where(), greeting))
            self.greeting = greeting
            if negotiate:
                self._command("qmp_capabilities", None, deadline)
        except BaseException:
            self.close()
            raise
        return greeting

    def _open(self, deadline: float) -> socket.socket:
        remaining = max(deadline - time.monotonic(), 0.001)
        try:
            if isinstance(self.address, tuple):
                return socket.create_connection(self.address, timeout=remaining)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(remaining)
                sock.connect(os.fspath(self.address))
            except BaseException:
                sock.close()
                raise
            return sock
        except socket.timeout:
            raise QMPTimeoutError("connecting to QMP monitor %s timed out after %g s" % (self._where(), self.timeout))
        except OSError as exc:
            raise QMPConnectError("cannot connect to QMP monitor %s: %s" % (self._where(), exc.strerror or exc))

    def execute(self, command: str, arguments: JSONObject | None = None, timeout: float | None = None) -> Any:
        """Run one command and return its "return" member; ``timeout`` (default: the client's) covers all of it."""
        self._connected(command)
        limit = self.timeout if timeout is None else timeout
        return self._command(command, arguments, time.monotonic() + limit, limit)

    def _command(self, command: str, arguments: JSONObject | None, deadline: float,
                 limit: float | None = None) -> Any:
        self._last_id += 1
        cmd_id = "armvirt-%d" % self._last_id  # a string: JSON true/1.0 never compare equal to it
        msg: JSONObject = {"execute": command, "id": cmd_id}
        if arguments is not None:
            msg["arguments"] = arguments
        self._send(json.dumps(msg).encode("utf-8") + b"\n", deadline, command, limit)
        while True:
            reply = self._read_message(deadline, command, limit)
            if "event" in reply:
                self._keep_event(reply)
            elif reply.get("id") != cmd_id:
                self.unmatched += 1
                self.last_unmatched = reply
            elif "error" in reply:
                error = reply["error"] if isinstance(reply["error"], dict) else {}
                raise QMPCommandError(command, error.get("class"), error.get("desc"))
            elif "return" in reply:
                return reply["return"]
            else:
                raise QMPProtocolError("reply to %s has neither return nor error: %.200r" % (command, reply))

    def _connected(self, what: str) -> socket.socket:
        """The open socket; a command on a closed client fails with QMPError."""
        if self._sock is None:
            raise QMPError("%s: not connected to %s" % (what, self._where()))
        return self._sock

    def _keep_event(self, event: JSONObject) -> None:
        self.events.append(event)
        excess = len(self.events) - EVENTS_KEPT
        if excess > 0:
            del self.events[:excess]
            self.events_dropped += excess

    def _timeout(self, what: str, limit: float | None) -> QMPTimeoutError:
        hint = "; " + self.timeout_hint if self.timeout_hint else ""
        return QMPTimeoutError("timed out after %g s waiting for %s from %s%s"
                               % (self.timeout if limit is None else limit, what, self._where(), hint))

    def _closed(self, what: str) -> QMPProtocolError:
        self.close()
        return QMPProtocolError("monitor closed the connection while waiting for %s" % what)

    def _send(self, data: bytes, deadline: float, what: str, limit: float | None) -> None:
        sock = self._connected(what)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._timeout(what, limit)
        sock.settimeout(remaining)
        try:
            sock.sendall(data)  # since Python 3.5 the socket timeout bounds the whole sendall
        except socket.timeout:
            raise self._timeout(what, limit)
        except OSError:  # EPIPE, ECONNRESET
            raise self._closed(what)

    def _cap(self, what: str) -> tuple[int, int]:
        """The cap for messages read while waiting for ``what`` (a command, or "the QMP greeting")."""
        size, values = self.reply_caps.get(what, DEFAULT_CAP)
        return min(size, self.max_message_size), values

    def _read_message(self, deadline: float, what: str, limit: float | None = None) -> JSONObject:
        """Return the next server message as a dict, reading as needed until ``deadline``."""
        size, values = self._cap(what)
        while True:
            end = self._buf.find(b"\n", self._scanned)
            if end >= 0:
                if end + 1 > size:  # buffered while waiting for a command with a larger cap
                    raise self._oversized(what, size, "bytes")
                line = bytes(self._buf[:end])
                del self._buf[:end + 1]  # deleting a bytearray's head is cheap in CPython
                self._scanned = 0
                if not line.strip():
                    continue
                if line.count(b",") + line.count(b"[") + line.count(b"{") > values:
                    raise self._oversized(what, values, "JSON values")
                return self._decode(line, what)
            self._scanned = len(self._buf)
            room = size - len(self._buf)  # never read past the cap
            if room <= 0:
                raise self._oversized(what, size, "bytes")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout(what, limit)
            sock = self._connected(what)
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(min(_RECV_SIZE, room))
            except socket.timeout:
                raise self._timeout(what, limit)
            except OSError:
                raise self._closed(what)
            if not chunk:
                raise self._closed(what)
            self._buf += chunk

    def _oversized(self, what: str, cap: int, unit: str) -> QMPReplyTooLargeError:
        self.close()
        return QMPReplyTooLargeError(what, cap, unit)

    def _decode(self, line: bytes, what: str) -> JSONObject:
        try:
            msg = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError; deep nesting recurses
            self.close()
            raise QMPProtocolError("invalid JSON from the monitor while waiting for %s: %s: %.200r" % (what, exc, line))
        if not isinstance(msg, dict):
            self.close()
            raise QMPProtocolError("non-object message from the monitor while waiting for %s: %.200r" % (what, msg))
        return msg

    def close(self) -> None:
        """Drop the connection; safe to call any number of times."""
        sock, self._sock = self._sock, None
        self._buf = bytearray()
        self._scanned = 0
        if sock is not None:
            sock.close()
