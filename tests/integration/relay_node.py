# SPDX-License-Identifier: Apache-2.0
"""A rogue node that relays: it proves the cluster's identity with the
cluster certificate (every node holds it), and forwards every frame of the
shell's connection to an honest node over a connection of its own, and back.
What it relays is what the shell sends: a password, a second factor."""
import socket
import ssl
import threading

from rogue_node import accept_loop, read_frame


class RelayNode:
    def __init__(self, cert, key, ca, client_cert, client_key, upstream_port):
        self.server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server.minimum_version = ssl.TLSVersion.TLSv1_3
        self.server.load_cert_chain(cert, key)
        self.server.load_verify_locations(ca)
        self.server.verify_mode = ssl.CERT_REQUIRED
        self.client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.client.minimum_version = ssl.TLSVersion.TLSv1_3
        self.client.check_hostname = False
        self.client.load_verify_locations(ca)
        self.client.load_cert_chain(client_cert, client_key)
        self.upstream_port = upstream_port
        self.relayed = []  # the bodies the shell sent
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _relay(self, raw):
        down = up = None
        try:
            down = self.server.wrap_socket(raw, server_side=True)
            down.settimeout(30)
            up = self.client.wrap_socket(
                socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30))
            while not self.stopped.is_set():
                request = read_frame(down)
                if request is None:
                    break
                self.relayed.append(request[4:])
                up.sendall(request)
                answer = read_frame(up)
                if answer is None:
                    break
                down.sendall(answer)
        except (OSError, ssl.SSLError):
            pass
        finally:
            for s in (up, down, raw):
                if s is not None:
                    s.close()

    def _serve(self):
        accept_loop(self.sock, self.stopped, self._relay)

    def stop(self):
        self.stopped.set()
        self.sock.close()
        self.thread.join(timeout=5)
