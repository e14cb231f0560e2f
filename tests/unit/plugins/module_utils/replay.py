"""A fake QMP client that replays recorded replies, in the manner of libvirt's tests/qemucapabilitiesdata.

A replies file (tests/fixtures/replies/*.json) is ``{"description": ..., "exchanges": [...]}``; an exchange is
``{"execute": COMMAND, "arguments": {...}?, "return": ...}`` or ``{..., "error": {"class": ..., "desc": ...}}``.
Each exchange answers one call with the same command and arguments, once: a call nothing answers fails the test
(so redundant queries show), and ``assert_all_used`` catches queries the code no longer makes.
"""

import json
import pathlib

from ansible_collections.armvirt.cpu.plugins.module_utils._host import qmp

REPLIES = pathlib.Path(__file__).resolve().parents[3] / "fixtures" / "replies"


def _key(command, arguments):
    return command, json.dumps(arguments or {}, sort_keys=True)


def load(name):
    """The exchanges of tests/fixtures/replies/NAME.json."""
    with open(REPLIES / (name + ".json")) as stream:
        return json.load(stream)["exchanges"]


def save(name, exchanges):
    """Replace the exchanges of tests/fixtures/replies/NAME.json, keeping its other keys."""
    path = REPLIES / (name + ".json")
    with open(path) as stream:
        document = json.load(stream)
    document["exchanges"] = exchanges
    with open(path, "w") as stream:
        json.dump(document, stream, indent=1)
        stream.write("\n")


def from_transcript(path):
    """The exchanges in one of the reference transcripts (a list of {"dir": "send"|"recv", "raw": line})."""
    with open(path) as stream:
        log = json.load(stream)
    exchanges, pending = [], None
    for entry in log:
        message = json.loads(entry["raw"]) if entry["dir"] in ("send", "recv") else None
        if entry["dir"] == "send":
            pending = {"execute": message["execute"]}
            if "arguments" in message:
                pending["arguments"] = message["arguments"]
        elif entry["dir"] == "recv" and pending is not None and ("return" in message or "error" in message):
            pending.update((key, message[key]) for key in ("return", "error") if key in message)
            exchanges.append(pending)
            pending = None
    return exchanges


class ReplayClient(object):
    """``execute(command, arguments=None)`` answered from exchanges; error replies raise QMPCommandError."""

    def __init__(self, exchanges):
        self.calls = []
        self._unused = {}
        for exchange in exchanges:
            self._unused.setdefault(_key(exchange["execute"], exchange.get("arguments")), []).append(exchange)

    def execute(self, command, arguments=None):
        self.calls.append((command, arguments))
        answers = self._unused.get(_key(command, arguments))
        if not answers:
            raise AssertionError("no recorded reply (left) for %s %s" % (command, json.dumps(arguments)))
        exchange = answers.pop(0)
        if "error" in exchange:
            raise qmp.QMPCommandError(command, exchange["error"].get("class"), exchange["error"].get("desc"))
        return exchange["return"]

    def assert_all_used(self):
        left = [key for key, answers in self._unused.items() for _answer in answers]
        assert not left, "recorded replies never asked for: %s" % left


class RecordingClient(object):
    """Wraps a real client and records its exchanges in the replies-file form (to regenerate fixtures)."""

    def __init__(self, client):
        self.client = client
        self.exchanges = []

    def execute(self, command, arguments=None):
        exchange = {"execute": command}
        if arguments is not None:
            exchange["arguments"] = arguments
        self.exchanges.append(exchange)
        try:
            exchange["return"] = self.client.execute(command, arguments)
        except qmp.QMPCommandError as err:
            exchange["error"] = {"class": err.error_class, "desc": err.desc}
            raise
        return exchange["return"]
