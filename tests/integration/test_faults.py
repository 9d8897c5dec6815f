# SPDX-License-Identifier: Apache-2.0
"""Faults: a node killed at random moments loses nothing it acknowledged."""
import os
import random
import signal
import sqlite3
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster  # noqa: E402
from wire_client import WireClient  # noqa: E402


class CrashLoopTests(unittest.TestCase):
    KILLS = 20

    def test_acknowledged_changes_survive_sigkill(self):
        c = Cluster(nodes=1)
        c.activate()
        lock = threading.Lock()
        done = threading.Event()
        kills = []

        def killer():
            rng = random.Random(11)
            for _ in range(self.KILLS):
                time.sleep(rng.uniform(0.05, 0.3))
                with lock:
                    c.nodes[0].send_signal(signal.SIGKILL)
                    c.nodes[0].wait(timeout=10)
                    c.nodes[0].stdout.close()
                    c.nodes[0], c.ports[0] = c.start_node(0)
                    kills.append(time.monotonic())
            done.set()

        def connect():
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    with lock:
                        port = c.ports[0]
                    client = WireClient(port, c.path("client.crt"), c.path("client.key"),
                                        c.path("customerCA.crt"))
                    status, _ = client.call("login", type="CO", name="admin",
                                            password="officer-pw1")
                    if status == "RET_OK":
                        return client
                    client.close()
                except (OSError, ConnectionError, ValueError):
                    time.sleep(0.02)
            raise AssertionError("could not reconnect within 20 s")

        # Each user is created, then deleted: the store stays small, and both
        # kinds of change are interrupted at random moments.
        created, deleted, unknown, refused = set(), set(), set(), set()
        thread = threading.Thread(target=killer)
        thread.start()
        client = connect()
        i = 0

        def attempt(op, name, **fields):
            nonlocal client
            try:
                status, _ = client.call(op, type="CU", name=name, **fields)
                return status
            except (OSError, ConnectionError, ValueError):
                unknown.add(name)
                client.close()
                client = connect()
                return None

        try:
            while not done.is_set() and i < 100000:
                name = f"crash_{i}"
                i += 1
                status = attempt("create_user", name, password="crash-pw-1")
                if status is None:
                    continue
                if status != "RET_OK":
                    refused.add((name, status))
                    continue
                created.add(name)
                status = attempt("delete_user", name)
                if status == "RET_OK":
                    deleted.add(name)
                elif status is not None:
                    refused.add((name, status))
        finally:
            thread.join(timeout=60)
            client.close()
        self.assertEqual(len(kills), self.KILLS)
        self.assertGreater(len(created), 0)
        self.assertEqual(refused, set())

        client = connect()
        _, fields = client.call("list_users")
        client.close()
        present = {u["name"] for u in fields["users"]} - {"admin"}
        self.assertEqual((created - deleted - unknown) - present, set(),
                         "acknowledged creations were lost")
        self.assertEqual(present & (deleted - unknown), set(), "acknowledged deletions were lost")
        self.assertEqual(present - created - unknown, set(), "users nobody asked for appeared")

        c.nodes[0].terminate()
        c.nodes[0].wait(timeout=10)
        db = sqlite3.connect(c.path("node0", "hsm.db"))
        self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        def audited(op):
            rows = db.execute("SELECT target FROM audit WHERE operation = ? AND result = 'RET_OK'",
                              (op,)).fetchall()
            return [t for (t,) in rows if t.startswith("crash_")]
        creates, deletes = audited("create_user"), audited("delete_user")
        db.close()
        # One audit row per change that happened, no more, no fewer.
        self.assertEqual(len(creates), len(set(creates)))
        self.assertEqual(len(deletes), len(set(deletes)))
        self.assertEqual(set(creates) - set(deletes), present,
                         "audit rows do not match the changes one to one")
        self.assertTrue(created <= set(creates))
        self.assertTrue(deleted <= set(deletes))
        c.stop()


class MisbehavingNodeTests(unittest.TestCase):
    """A node that answers garbage or drops mid-frame: reported per server,
    the others answer, and the shell stays usable."""

    def test_garbage_and_dropped_frames_are_reported_per_server(self):
        from rogue_node import RogueNode
        c = Cluster(nodes=1)
        rogues = []
        try:
            for behaviour in ("garbage", "drop"):
                rogues.append(RogueNode(c.path("node0", "cluster.crt"),
                                        c.path("node0", "cluster.key"),
                                        c.path("customerCA.crt"), c.cluster_id, behaviour))
            servers = [{"name": "good", "hostname": "127.0.0.1", "port": c.ports[0]},
                       {"name": "garbage", "hostname": "127.0.0.1", "port": rogues[0].port},
                       {"name": "drop", "hostname": "127.0.0.1", "port": rogues[1].port}]
            cfg = c.write_config(servers, "rogues.json")
            r = c.shell("--keep-going", "--timeout", "5",
                        input="listUsers\nlistUsers\n", env=c.env(HSMSH_CONFIG=cfg))
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("Connected to server 'garbage'", r.stdout)
            self.assertEqual(r.stdout.count("Users on server 0(good):"), 2)
            self.assertIn("listUsers failed on server 1(garbage): PROTOCOL_ERROR", r.stdout)
            self.assertIn("listUsers failed on server 2(drop): CONNECTION_LOST", r.stdout)
        finally:
            for rogue in rogues:
                rogue.stop()
            c.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
