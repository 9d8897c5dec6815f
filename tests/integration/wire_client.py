# SPDX-License-Identifier: Apache-2.0
"""A minimal client of the node protocol (TLS 1.3, length-prefixed JSON), for
tests that need to see every acknowledgement themselves."""
import json
import socket
import ssl
import struct


class WireClient:
    def __init__(self, port, cert, key, ca, timeout=5):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False
        ctx.load_verify_locations(ca)
        ctx.load_cert_chain(cert, key)
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        # As the project's own client: requests sent back to back leave at once.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(raw)
        self.next_id = 0

    def _recv(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def call(self, op, **fields):
        self.send(op, **fields)
        _, status, fields = self.receive()
        return status, fields

    def send(self, op, **fields):
        """Sends a request without waiting for its reply; returns its id."""
        self.next_id += 1
        body = json.dumps({"v": 1, "id": self.next_id, "op": op, "f": fields}).encode()
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        return self.next_id

    def receive(self):
        """The next reply to arrive: (id, status, fields)."""
        size = struct.unpack(">I", self._recv(4))[0]
        reply = json.loads(self._recv(size))
        return reply["id"], reply["status"], reply.get("f", {})

    def close(self):
        # shutdown first: it wakes a call of another thread blocked in recv.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
