"""Helpers for the armsim tests: an in-thread server and a raw-socket client that reads CRLF-ended lines."""

import json
import socket
import time

import pytest

from armsim import QMPServer, load_profile


class RawClient:
    """Bytes in, raw lines out: for wire details (CRLF, ids, parse errors) that a QMP library would hide."""

    def __init__(self, address, timeout=2.0):
        if isinstance(address, str):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(timeout)
            self.sock.connect(address)
        else:
            self.sock = socket.create_connection(address, timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self, timeout=2.0):
        """One server message, raw, CRLF included. Raises TimeoutError when nothing complete arrives."""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError(self.buf)
            self.buf += data
        line, _separator, self.buf = self.buf.partition(b"\r\n")
        return line + b"\r\n"

    def msg(self, timeout=2.0):
        return json.loads(self.line(timeout))

    def silent(self, seconds=0.2):
        """True when the server sends nothing for ``seconds``."""
        try:
            self.line(seconds)
        except (TimeoutError, socket.timeout):
            return True
        return False

    def negotiate(self):
        self.msg()  # greeting
        self.send('{"execute": "qmp_capabilities"}')
        assert self.msg() == {"return": {}}
        return self

    def close(self):
        self.sock.close()


@pytest.fixture
def rawclient():
    """The RawClient class (conftest modules are not importable by name)."""
    return RawClient


@pytest.fixture
def serve():
    """serve(profile, accel=None, faults=None) -> a running QMPServer on 127.0.0.1 (stopped after the test)."""
    servers = []

    def start(profile="neoverse-n1", accel=None, faults=None):
        prof = load_profile(profile)
        server = QMPServer(prof, accel or ("kvm" if prof.kvm else "tcg"), faults).start()
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def raw(serve):
    """raw(profile=..., faults=..., negotiate=True) -> RawClient connected to a fresh server."""
    clients = []

    def connect(profile="neoverse-n1", accel=None, faults=None, negotiate=True):
        client = RawClient(serve(profile, accel, faults).address)
        clients.append(client)
        return client.negotiate() if negotiate else client
    yield connect
    for client in clients:
        client.close()
