# SPDX-License-Identifier: Apache-2.0
"""Faults: a node killed at random moments loses nothing it acknowledged; a
full disk refuses the change that does not fit and nothing else."""
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import LOGIN, Cluster, proc_status_kib, sanitized  # noqa: E402
from wire_client import WireClient  # noqa: E402


class HarnessTests(unittest.TestCase):
    """Issue 33, item 2: what a node leaves at exit fails the test that owned it."""

    def test_a_sanitizer_report_in_a_node_log_fails_the_owner(self):
        c = Cluster(nodes=2)
        with open(c.path("node1.log"), "a") as f:
            f.write("src/node/x.cpp:1:2: runtime error: signed integer overflow\n")
        with self.assertRaises(AssertionError) as caught:
            c.stop()
        self.assertIn("node1's log holds a sanitizer report", str(caught.exception))
        self.assertIn("signed integer overflow", str(caught.exception))

    def test_a_node_stopped_uncleanly_fails_the_owner(self):
        c = Cluster(nodes=1)
        # A node that exits 3 on SIGTERM (as a leak report at exit makes it).
        exits_3 = ("import os, signal, subprocess, sys\n"
                   "node = subprocess.Popen(sys.argv[1:])\n"
                   "signal.signal(signal.SIGTERM,"
                   " lambda *_: (node.terminate(), os._exit(3)))\n"
                   "node.wait()\n")
        c.restart_node(0, wrap=(sys.executable, "-c", exits_3))
        with self.assertRaises(AssertionError) as caught:
            c.stop()
        self.assertIn("node0 exited with status 3 on SIGTERM", str(caught.exception))

    def test_nodes_that_stop_cleanly_pass(self):
        c = Cluster(nodes=2)
        c.stop()
        c.stop()  # once is enough


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
            self.assertIn("Connected to server 'garbage'", r.stderr)
            self.assertEqual(r.stdout.count("Users on server 0(good):"), 2)
            self.assertIn("listUsers failed on server 1(garbage): PROTOCOL_ERROR", r.stdout)
            self.assertIn("listUsers failed on server 2(drop): CONNECTION_LOST", r.stdout)
        finally:
            for rogue in rogues:
                rogue.stop()
            c.stop()


    def test_quorum_status_shows_the_typed_reply(self):
        """Issue 29: quorum status --json renders the tokens it read, not
        what a node sent: a field no node sends is not echoed."""
        from rogue_node import RogueNode
        c = Cluster(nodes=1)
        rogue = RogueNode(c.path("node0", "cluster.crt"), c.path("node0", "cluster.key"),
                          c.path("customerCA.crt"), c.cluster_id, "extra")
        try:
            cfg = c.write_config([{"name": "extra", "hostname": "127.0.0.1", "port": rogue.port}],
                                 "extra.json")
            r = c.shell("--json", input="quorum status\n", env=c.env(HSMSH_CONFIG=cfg))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            server = json.loads(r.stdout.splitlines()[-1])["servers"][0]
            self.assertEqual(server["m"], {"3": 2, "4": 2})
            self.assertEqual(server["tokens"], [RogueNode.TOKEN])
        finally:
            rogue.stop()
            c.stop()


class FullDiskTests(unittest.TestCase):
    """A change that does not fit is refused with a clear error; what was
    there stays, reads go on, and writes work again once space returns."""

    MAX_ATTEMPTS = 3000

    def login(self, c):
        client = c.wire_client()
        status, _ = client.call("login", type="CO", name="admin", password="officer-pw1")
        self.assertEqual(status, "RET_OK")
        return client

    def fill_and_recover(self, c, fill, make_room, run_in_node_ns=()):
        client = self.login(c)
        fill()
        created, failed = [], None
        for i in range(self.MAX_ATTEMPTS):
            name = f"fill_{i}"
            status, _ = client.call("create_user", type="CU", name=name, password="fill-pw-1")
            if status != "RET_OK":
                failed = (name, status)
                break
            created.append(name)
        self.assertIsNotNone(failed, f"the store never filled in {self.MAX_ATTEMPTS} creations")
        self.assertEqual(failed[1], "RET_STORAGE_FAILURE")
        self.assertGreater(len(created), 0)

        # Reads go on, on this connection and on a new one; nothing is lost
        # and the refused change is not half there.
        fresh = c.wire_client()
        for reader in (client, fresh):
            status, fields = reader.call("list_users")
            self.assertEqual(status, "RET_OK")
            names = {u["name"] for u in fields["users"]}
            self.assertTrue(set(created) <= names, "a change made before the disk filled is lost")
            self.assertNotIn(failed[0], names)
        # A login must be audited and counted. Smaller than a creation, a few
        # may still fit; once its audit row cannot be written it is refused
        # (fail closed), never let through unrecorded.
        logins = 2  # activation's and ours
        for _ in range(500):
            status, _ = fresh.call("login", type="CO", name="admin", password="officer-pw1")
            if status != "RET_OK":
                break
            logins += 1
            fresh.call("logout")
        self.assertEqual(status, "RET_STORAGE_FAILURE")
        fresh.close()

        # The shell says what happened, in one line per server.
        r = c.shell("--keep-going", input="listUsers\nloginHSM CO admin officer-pw1\n"
                                          "createUser CU shell_full shell-pw-1\ny\n")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"Users on {c.label(0)}:", r.stdout)
        self.assertRegex(r.stdout, rf"(loginHSM|createUser) failed on "
                                   rf"{re.escape(c.label(0))}: RET_STORAGE_FAILURE")
        logins += r.stdout.count("loginHSM success")

        make_room()
        status, _ = client.call("create_user", type="CU", name=failed[0], password="fill-pw-1")
        self.assertEqual(status, "RET_OK")
        r = c.shell(input=LOGIN + "createUser CU shell_full shell-pw-1\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        logins += 1
        client.close()

        # The store is sound and its audit chain unbroken, seen from the node's view of the disk.
        data = c.path("node0")
        check = subprocess.run([*run_in_node_ns, sys.executable, "-c",
                                "import sqlite3,sys; d=sqlite3.connect(sys.argv[1]);"
                                "print(d.execute('PRAGMA integrity_check').fetchone()[0]);"
                                "print(d.execute(\"SELECT count(*) FROM audit WHERE operation"
                                " = 'login' AND result = 'RET_OK'\").fetchone()[0])",
                                os.path.join(data, "hsm.db")],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(check.stdout.split(), ["ok", str(logins)],
                         "integrity, then one audit row per accepted login: " + check.stderr)
        audit = subprocess.run([*run_in_node_ns, os.path.abspath(os.environ["HSMD"]), "audit", "verify",
                                "--data", data], capture_output=True, text=True, timeout=60)
        self.assertEqual(audit.returncode, 0, audit.stdout + audit.stderr)

    def test_file_size_limit(self):
        """RLIMIT_FSIZE set on the running node: writes past it fail with EFBIG."""
        import resource
        with Cluster(nodes=1) as c:
            c.activate()
            pid = c.nodes[0].pid

            def limit():
                largest = max(os.path.getsize(os.path.join(c.path("node0"), f))
                              for f in os.listdir(c.path("node0")))
                room = largest + 64 * 1024
                # Soft limit only: raising it again needs no privilege.
                resource.prlimit(pid, resource.RLIMIT_FSIZE, (room, resource.RLIM_INFINITY))

            def unlimit():
                infinity = resource.RLIM_INFINITY
                resource.prlimit(pid, resource.RLIMIT_FSIZE, (infinity, infinity))
            self.fill_and_recover(c, limit, unlimit)
            self.assertIsNone(c.nodes[0].poll(), "the node died")

    def test_tiny_tmpfs(self):
        """The data directory on a 1 MiB tmpfs in the node's own mount namespace:
        writes past it fail with ENOSPC; the tmpfs is grown to make room."""
        # A mount namespace of our own needs CAP_SYS_ADMIN; without it (CI's
        # container may lack it), one inside a new user namespace, where
        # tmpfs may be mounted unprivileged.
        for own, enter in ((["-m"], ["-m"]), (["-U", "-r", "-m"], ["-U", "-m"])):
            probe = subprocess.run(["unshare", *own, "--propagation", "private", "sh", "-c",
                                    "mount -t tmpfs -o size=64k probe /mnt"],
                                   capture_output=True, timeout=30)
            if probe.returncode == 0:
                break
        else:
            self.skipTest("no mount namespace here, private or in a user namespace "
                          f"(needs CAP_SYS_ADMIN or user namespaces): {probe.stderr!r}")
        with Cluster(nodes=1) as c:
            c.activate()
            data = c.path("node0")
            script = ('set -e; cp -a "$0" "$0.disk"; mount -t tmpfs -o size=1m,mode=0700 hsmsh "$0";'
                      ' cp -a "$0.disk/." "$0/"; exec "$@"')
            c.restart_node(0, wrap=["unshare", *own, "--propagation", "private", "sh", "-c",
                                    script, data])
            ns = ["nsenter", "-t", str(c.nodes[0].pid), *enter]

            def grow():
                subprocess.run([*ns, "mount", "-o", "remount,size=16m", data], check=True,
                               timeout=30)
            self.fill_and_recover(c, lambda: None, grow, ns)
            self.assertIsNone(c.nodes[0].poll(), "the node died")


class HostilePeerTests(unittest.TestCase):
    """Bad frames, unknown operations, wrong types, slow senders, a flood of
    connections: each is cut off within its deadline and audited, while a
    well-behaved client goes on being served and the node's memory stays
    bounded."""

    ROUNDS = 6

    def test_hostile_clients_cost_a_bystander_nothing(self):
        with Cluster(nodes=1, node_args=["--frame-timeout", "1", "--idle-timeout", "5",
                                         "--max-connections", "24"]) as c:
            c.activate()
            self.run_hostile(c)

    def run_hostile(self, c):
        import struct
        frame = lambda body: struct.pack(">I", len(body)) + body  # noqa: E731
        hostile = {
            "oversize header": b"\xff\xff\xff\xff",
            "zero-length frame": b"\x00\x00\x00\x00",
            "garbage body": frame(b"\x01\x02not json"),
            "unknown operation": frame(b'{"v":1,"id":1,"op":"frobnicate","f":{}}'),
            "truncated frame": b"\x00\x00\x00\x64" + b'{"v":1',
        }
        bystander = c.wire_client(timeout=15)
        served, violations = 0, 0
        stop = threading.Event()
        errors = []

        def keep_asking():
            nonlocal served
            while not stop.is_set():
                try:
                    status, _ = bystander.call("list_users")
                    if status != "RET_OK":
                        errors.append(status)
                    served += 1
                except (OSError, ConnectionError) as e:
                    errors.append(repr(e))
                    return
                time.sleep(0.05)

        asker = threading.Thread(target=keep_asking)
        asker.start()

        def attack(kind, payload):
            # A node that hangs is told from one that hangs up: only the
            # hang-up (EOF or a reset) counts; the bound is generous (TSan).
            s = c.wire_client(timeout=60)
            try:
                if kind == "slow sender":
                    for b in b"\x00\x00\x00\x20":
                        s.sock.sendall(bytes([b]))
                        time.sleep(0.4)
                else:
                    s.sock.sendall(payload)
                closed = "hung up" if s.sock.recv(16) == b"" else "answered"
            except TimeoutError:
                closed = "no answer in 60 s"
            except (OSError, ConnectionError):
                closed = "hung up"
            finally:
                s.close()
            return kind, closed

        results = []
        try:
            for _ in range(self.ROUNDS):
                batch = [threading.Thread(target=lambda k=k, p=p: results.append(attack(k, p)))
                         for k, p in [*hostile.items(), ("slow sender", b"")]]
                for t in batch:
                    t.start()
                for t in batch:
                    t.join(timeout=60)
                # Wrong field types get an answer, not a disconnection.
                s = c.wire_client(timeout=15)
                status, _ = s.call("login", type=5, name=[], password={})
                self.assertIn(status, ("RET_INVALID_USER_TYPE", "RET_BAD_REQUEST"))
                s.close()
        finally:
            stop.set()
            asker.join(timeout=30)
        bystander.close()

        self.assertEqual(errors, [], "the bystander was disturbed")
        self.assertGreater(served, self.ROUNDS)
        self.assertEqual(len(results), self.ROUNDS * (len(hostile) + 1))
        for kind, closed in results:
            self.assertEqual(closed, "hung up", f"{kind}: the node did not hang up")
        if not sanitized(c.nodes[0].pid):
            self.assertLess(proc_status_kib(c.nodes[0].pid, "VmHWM"), 64 * 1024,
                            "node memory grew")

        c.nodes[0].terminate()
        c.nodes[0].wait(timeout=10)
        db = sqlite3.connect(c.path("node0", "hsm.db"))
        violations = db.execute("SELECT count(*) FROM audit WHERE operation = "
                                "'protocol_violation'").fetchone()[0]
        db.close()
        # Every hostile connection proved its certificate, so each is audited.
        self.assertEqual(violations, len(results))


if __name__ == "__main__":
    unittest.main(verbosity=2)
