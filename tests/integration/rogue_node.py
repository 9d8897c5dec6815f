# SPDX-License-Identifier: Apache-2.0
"""A node that misbehaves after a correct hello: it answers garbage, or drops
the connection in the middle of a frame. It proves the cluster's identity
with a real node's certificate, so the shell connects to it."""
import json
import socket
import ssl
import struct
import threading


def read_frame(conn):
    """One whole frame (length prefix and body) from `conn`; None at its end."""
    header = b""
    while len(header) < 4:
        chunk = conn.recv(4 - len(header))
        if not chunk:
            return None
        header += chunk
    size = struct.unpack(">I", header)[0]
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            return None
        body += chunk
    return header + body


def accept_loop(sock, stopped, handle):
    """Hands each accepted socket to `handle` on a thread of its own until
    `stopped` is set or the listening socket closes (it has a timeout)."""
    while not stopped.is_set():
        try:
            raw, _ = sock.accept()
        except socket.timeout:
            continue
        except OSError:
            break
        threading.Thread(target=handle, args=(raw,), daemon=True).start()


class RogueNode:
    # "extra": well-formed quorum replies, each with a field no node sends.
    TOKEN = {"id": 9, "service": 3, "user": "admin", "validity": 60, "required": 2,
             "approvals": 1, "approvers": ["officer2"]}
    EXTRA = {"get_m_value": {"m": 2, "smuggled": 1},
             "list_users": {"users": []},
             "list_tokens": {"tokens": [dict(TOKEN, smuggled="x")], "smuggled": 1}}

    def __init__(self, cert, key, client_ca, cluster_id, behaviour):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.ctx.load_cert_chain(cert, key)
        self.ctx.load_verify_locations(client_ca)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.cluster_id = cluster_id
        self.behaviour = behaviour  # "garbage", "drop", "deep", "escapes" or "extra"
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _read_frame(self, conn):
        frame = read_frame(conn)
        return None if frame is None else json.loads(frame[4:])

    def _send(self, conn, payload):
        conn.sendall(struct.pack(">I", len(payload)) + payload)

    def _handle(self, raw):
        try:
            conn = self.ctx.wrap_socket(raw, server_side=True)
            conn.settimeout(10)
            while not self.stopped.is_set():
                req = self._read_frame(conn)
                if req is None:
                    break
                if req["op"] == "hello":
                    reply = {"id": req["id"], "status": "RET_OK",
                             "f": {"version": 1, "cluster_id": self.cluster_id,
                                   "hsm_id": "hsm-rogue", "state": "ACTIVE"}}
                    self._send(conn, json.dumps(reply).encode())
                elif self.behaviour == "deep":
                    depth = 70_000
                    self._send(conn, b'{"id":%d,"status":"RET_OK","f":{"x":' % req["id"] +
                               b"[" * depth + b"]" * depth + b"}}")
                elif self.behaviour == "escapes":
                    evil = "\x1b]0;pwned\x07\x1b[2J"
                    reply = {"id": req["id"], "status": "RET_OK",
                             "f": {"hsm_id": evil, "model": evil, "state": evil, "peers": [evil],
                                   "users": [{"id": 1, "type": evil, "name": evil,
                                              "version": 1, "digest": evil}]}}
                    self._send(conn, json.dumps(reply).encode())
                elif self.behaviour == "extra":
                    self._send(conn, json.dumps({"id": req["id"], "status": "RET_OK",
                                                 "f": self.EXTRA.get(req["op"], {})}).encode())
                elif self.behaviour == "garbage":
                    self._send(conn, b"\x00\xffthis is not a reply")
                else:  # announce 100 bytes, send 5, hang up
                    conn.sendall(struct.pack(">I", 100) + b'{"id"')
                    break
            conn.close()
        except (OSError, ValueError, KeyError):
            pass

    def _serve(self):
        accept_loop(self.sock, self.stopped, self._handle)

    def stop(self):
        self.stopped.set()
        self.sock.close()
        self.thread.join(timeout=5)
