# SPDX-License-Identifier: Apache-2.0
"""Cluster life cycle and client set-up: discovery, add/remove cluster,
switching clusters, client certificates, clone while serving, atomic writes."""
import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import HSMD, HSMSH, LOGIN, Cluster, ClusterTestCase, openssl, wait_for  # noqa: E402
from wire_client import WireClient  # noqa: E402


class PeerAnnouncementTests(ClusterTestCase):
    """Nodes started with one --peer each come to know every other node."""

    def peers_of(self, i):
        w = self.c.wire_client(i)
        try:
            status, fields = w.call("describe_cluster")
        finally:
            w.close()
        self.assertEqual(status, "RET_OK")
        return sorted(fields["peers"])

    def wait_for_peers(self, i, expected, limit=30):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.peers_of(i) == sorted(expected):
                return
            time.sleep(0.2)
        self.fail(f"node{i} knows {self.peers_of(i)}, expected {sorted(expected)}")

    def test_one_peer_each_is_enough_and_only_nodes_announce(self):
        c = self.c
        first = f"127.0.0.1:{c.ports[0]}"
        c.restart_node(1, ["--peer", first])
        c.restart_node(2, ["--peer", first])
        address = [f"127.0.0.1:{p}" for p in c.ports]
        # node1 learnt node2 (which never named it) through node0.
        self.wait_for_peers(0, [address[1], address[2]])
        self.wait_for_peers(1, [address[0], address[2]])
        self.wait_for_peers(2, [address[0], address[1]])
        # Discovery from any node finds the whole cluster.
        fresh = c.path("gossip", "hsmsh.json")
        env = dict(c.env(), HSMSH_CONFIG=fresh)
        r = subprocess.run([HSMSH, "configure", "--cmu", address[1], "--hsm-ca-cert",
                            c.path("customerCA.crt"), "--server-client-cert-file",
                            c.path("client.crt"), "--server-client-key-file",
                            c.path("client.key")], capture_output=True, text=True, timeout=60,
                           env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(fresh) as f:
            ports = [s["port"] for s in json.load(f)["clusters"][0]["servers"]]
        self.assertEqual(sorted(ports), sorted(c.ports))
        # A certified client is no node: it cannot point a node elsewhere.
        w = c.wire_client(1)
        try:
            status, _ = w.call("announce_peers", peers=["127.0.0.1:1", "evil.example:2225"])
        finally:
            w.close()
        self.assertEqual(status, "RET_PERMISSION_DENIED")
        self.assertEqual(self.peers_of(1), sorted([address[0], address[2]]))
        # An address nobody could reach is refused before the node serves.
        r = subprocess.run([HSMD, "serve", "--data", c.path("node1"), "--listen", "127.0.0.1:0",
                            "--advertise", "no-port-here"], capture_output=True, text=True,
                           timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--advertise no-port-here", r.stderr)


    def test_only_a_nodes_own_certificate_moves_its_entry(self):
        """Issue 26, finding 11's remainder: a rogue holding the cluster
        certificate announces node2's HSM id at an address of its own; node1
        keeps node2 where node2 said it is. node2 itself, restarted on a new
        port, moves its entry (its node certificate names its HSM id)."""
        from wire_client import WireClient
        c = self.c
        first = f"127.0.0.1:{c.ports[1]}"
        c.restart_node(2, ["--peer", first])
        self.wait_for_peers(1, [f"127.0.0.1:{c.ports[2]}"])
        described = subprocess.run([HSMD, "describe", "--data", c.path("node2")],
                                   capture_output=True, text=True, timeout=60)
        node2 = json.loads(described.stdout)["HsmId"]
        # Another node's certificate is heard as a relay, which moves nobody;
        # the shared cluster certificate is no peer at all once the nodes
        # have their own (a retired node keeps a copy of it).
        for cert, expected in (("node.crt", "RET_OK"), ("cluster.crt", "RET_PERMISSION_DENIED")):
            rogue = WireClient(c.ports[1], c.path("node0", cert),
                               c.path("node0", cert.replace(".crt", ".key")),
                               c.path("customerCA.crt"))
            try:
                status, _ = rogue.call("announce_peers", hsm_id=node2, address="127.0.0.1:1",
                                       since=int(time.time() * 1000), peers=[])
            finally:
                rogue.close()
            self.assertEqual(status, expected, cert)
        self.assertEqual(self.peers_of(1), [f"127.0.0.1:{c.ports[2]}"])
        old = c.ports[2]
        c.restart_node(2, ["--peer", first])
        self.assertNotEqual(c.ports[2], old)
        self.wait_for_peers(1, [f"127.0.0.1:{c.ports[2]}"])


class RevocationTests(unittest.TestCase):
    def test_a_revoked_node_certificate_loses_its_peer_rights(self):
        """Issue 26: node certificates (and applications') are revoked by the
        customer CA's list in a node's data directory (crl.pem), read at start
        and again on SIGHUP: a retired node's certificate is then refused at
        the handshake, so it announces nothing and resolves nothing. A list
        the trusted CA did not sign is refused, and the node keeps the one it
        had."""
        import shutil
        import ssl
        with Cluster() as c:
            node2 = (c.path("node2", "node.crt"), c.path("node2", "node.key"))
            app = c.issue_certificate("app", "/CN=an application")

            def answers(i, cert, key):
                try:
                    w = WireClient(c.ports[i], cert, key, c.path("customerCA.crt"))
                except (ssl.SSLError, ConnectionError, OSError):
                    return False
                try:
                    return w.call("hello")[0] == "RET_OK"
                except (ssl.SSLError, ConnectionError, OSError):
                    return False
                finally:
                    w.close()

            def install(i, crl):
                reloads = c.node_log(i).count("SIGHUP:")
                shutil.copy(crl, c.path(f"node{i}", "crl.pem"))
                c.signal(i, signal.SIGHUP)
                self.assertTrue(wait_for(lambda: c.node_log(i).count("SIGHUP:") > reloads, 60))

            self.assertTrue(answers(0, *node2))
            self.assertTrue(answers(0, *app))
            install(0, c.revocation_list([node2[0], app[0]]))
            self.assertIn("client credentials reloaded", c.node_log(0))
            self.assertFalse(answers(0, *node2))
            self.assertFalse(answers(0, *app))
            # What the list does not name, and a node without a list, go on.
            self.assertTrue(answers(0, c.path("client.crt"), c.path("client.key")))
            self.assertTrue(answers(1, *node2))
            r = c.shell(input="listUsers\n")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(r.stdout.count("Users on server"), 3, r.stdout)
            # A list signed by another CA: refused, and the old one stays.
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", c.path("other.key"), "-out", c.path("other.crt"),
                    "-subj", "/CN=test customer CA", "-days", "30")
            install(0, c.revocation_list([app[0]], issuer=("other.crt", "other.key"),
                                         name="forged"))
            self.assertIn("revocation list: not signed by a trusted CA", c.node_log(0))
            self.assertFalse(answers(0, *node2))

    def test_a_retired_node_keeps_no_peer_rights_and_lists_never_fail_open(self):
        """Red team on revocation: the retired node still holds the shared
        cluster certificate, which gives no peer rights once the nodes have
        their own; a list the node would apply only in part (a block that is
        not a list, a delta or scoped list) or that would refuse every client
        (an unknown critical extension) is refused whole, naming why, and the
        list before it stays."""
        import shutil
        with Cluster() as c:
            c.activate()
            node2 = (c.path("node2", "node.crt"), c.path("node2", "node.key"))
            app = c.issue_certificate("app", "/CN=an application")
            lists = {"good": c.revocation_list([node2[0]], name="good")}

            def install(text, expected):
                reloads = c.node_log(0).count("SIGHUP:")
                with open(c.path("node0", "crl.pem"), "w") as f:
                    f.write(text)
                c.signal(0, signal.SIGHUP)
                self.assertTrue(wait_for(lambda: c.node_log(0).count("SIGHUP:") > reloads, 60))
                self.assertIn(expected, c.node_log(0).splitlines()[-1])

            def read(path):
                with open(path) as f:
                    return f.read()

            def app_answers():
                try:
                    w = WireClient(c.ports[0], *app, c.path("customerCA.crt"))
                    try:
                        return w.call("hello")[0] == "RET_OK"
                    finally:
                        w.close()
                except (ConnectionError, OSError):
                    return False

            install(read(lists["good"]), "client credentials reloaded")
            # The shared certificate: a client like any other, never a peer.
            w = WireClient(c.ports[0], c.path("node2", "cluster.crt"),
                           c.path("node2", "cluster.key"), c.path("customerCA.crt"))
            try:
                self.assertEqual(w.call("tx_status", txid="ab" * 16)[0], "RET_NOT_LOGGED_IN")
                self.assertEqual(w.call("announce_peers", hsm_id="x", address="127.0.0.1:1",
                                        since=1, peers=[])[0], "RET_PERMISSION_DENIED")
            finally:
                w.close()
            newer = c.revocation_list([node2[0], app[0]], name="newer")
            corrupt = "-----BEGIN X509 CRL-----\nAAAAAAAA\n-----END X509 CRL-----\n"
            for name, text, why in (
                    ("corrupt", read(lists["good"]) + corrupt + read(newer),
                     "a block that does not read as a list"),
                    ("delta", read(c.revocation_list(
                        [app[0]], name="delta", extension="2.5.29.27 = critical,ASN1:INTEGER:1")),
                     "a delta list"),
                    ("critical", read(c.revocation_list([app[0]], name="critical",
                                                        extension="1.2.3.4 = critical,ASN1:NULL")),
                     "a critical extension")):
                install(text, "reload failed")
                self.assertIn(why, c.node_log(0).splitlines()[-1], name)
                self.assertTrue(app_answers(), name)  # the good list stays, and only it
            # Officers are still served all along.
            r = c.shell(input=LOGIN + "listUsers\n")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class LifecycleTests(ClusterTestCase):
    ACTIVATE = True
    SHARED = True

    def add_cluster(self, cfg, cluster_id, owner, port):
        """configure add-cluster of `owner`'s node on `port`, with its files."""
        return self.hsmsh("-c", cfg, "configure", "add-cluster", "--cluster-id", cluster_id,
                          "--endpoint", f"127.0.0.1:{port}",
                          "--hsm-ca-cert", owner.path("customerCA.crt"),
                          "--server-client-cert-file", owner.path("client.crt"),
                          "--server-client-key-file", owner.path("client.key"))

    def hsmsh(self, *args, input="", config=None):
        env = self.c.env()
        if config:
            env["HSMSH_CONFIG"] = config
        return subprocess.run([HSMSH, *args], input=input, capture_output=True, text=True,
                              timeout=60, env=env)

    def test_discovery_writes_every_member(self):
        peers = [a for i in (1, 2) for a in ("--peer", f"127.0.0.1:{self.c.ports[i]}")]
        self.c.restart_node(0, peers)
        cfg = self.c.write_config(servers=[{"name": "first", "hostname": "127.0.0.1",
                                            "port": self.c.ports[0]}], name="discover.json")
        r = self.hsmsh("configure", "--cmu", f"127.0.0.1:{self.c.ports[0]}", config=cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"Updating server config in {cfg}", r.stdout)
        self.assertIn(f"added   127.0.0.1:{self.c.ports[1]}", r.stdout)
        self.assertIn("removed first", r.stdout)
        with open(cfg) as f:
            doc = json.load(f)
        ports = [s["port"] for s in doc["clusters"][0]["servers"]]
        self.assertEqual(sorted(ports), sorted(self.c.ports))
        self.assertEqual(stat.S_IMODE(os.stat(cfg).st_mode), 0o600)
        r = self.hsmsh(input="listUsers\n", config=cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("Users on server"), 3)
        d = json.loads(subprocess.run([HSMD, "describe", "--data", self.c.path("node0")],
                                      capture_output=True, text=True).stdout)
        self.assertEqual(len(d["Peers"]), 2)

    def test_configure_cmu_on_a_fresh_machine(self):
        """No configuration yet: --cmu with the certificate files writes one,
        taking the cluster id from the node the trust anchor verified."""
        fresh = os.path.join(self.c.path("fresh-home"), "hsmsh", "hsmsh.json")
        self.assertFalse(os.path.exists(fresh))
        r = self.hsmsh("configure", "--cmu", f"127.0.0.1:{self.c.ports[2]}",
                       "--hsm-ca-cert", self.c.path("customerCA.crt"),
                       "--server-client-cert-file", self.c.path("client.crt"),
                       "--server-client-key-file", self.c.path("client.key"), config=fresh)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"Configured cluster '{self.c.cluster_id}'", r.stdout)
        with open(fresh) as f:
            doc = json.load(f)
        self.assertEqual(doc["default_cluster"], self.c.cluster_id)
        self.assertEqual(doc["clusters"][0]["cluster_id"], self.c.cluster_id)
        self.assertIn(self.c.ports[2], [s["port"] for s in doc["clusters"][0]["servers"]])
        r = self.hsmsh("-e", "listUsers", config=fresh)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # A missing file is named with the option that gives it.
        r = self.hsmsh("configure", "--cmu", f"127.0.0.1:{self.c.ports[2]}",
                       config=os.path.join(self.c.path("fresh-2"), "hsmsh.json"))
        self.assertEqual(r.returncode, 3)
        self.assertIn("customerCA.crt does not exist: give --hsm-ca-cert", r.stderr)

    def test_discovery_never_shrinks_the_cluster_unless_asked(self):
        """A node started without --peer names only itself: the other configured
        servers stay (marked), and only --prune drops them."""
        cfg = self.c.write_config(name="shrink.json")
        one = f"127.0.0.1:{self.c.ports[1]}"
        r = self.hsmsh("configure", "--cmu", one, config=cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("not named by the node: --prune removes it"), 2, r.stdout)
        self.assertIn("2 configured server(s) it does not name were kept", r.stdout)
        self.assertNotIn("removed", r.stdout)
        with open(cfg) as f:
            ports = [s["port"] for s in json.load(f)["clusters"][0]["servers"]]
        self.assertEqual(sorted(ports), sorted(self.c.ports))
        r = self.hsmsh("configure", "--cmu", one, "--prune", config=cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("  removed "), 2, r.stdout)
        with open(cfg) as f:
            ports = [s["port"] for s in json.load(f)["clusters"][0]["servers"]]
        self.assertEqual(ports, [self.c.ports[1]])

    def test_ipv6_endpoints(self):
        """A node listening on [::1], discovered and used through IPv6 literals."""
        c = self.c
        c.nodes[0].terminate()
        c.nodes[0].wait(timeout=10)
        c.nodes[0].stdout.close()
        p = subprocess.Popen([HSMD, "serve", "--data", c.path("node0"), "--listen", "[::1]:0",
                              "--kdf-iterations", c.kdf_iterations],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            address = p.stdout.readline().strip()
            self.assertRegex(address, r"^\[::1\]:\d+$")
            cfg = c.write_config(servers=[{"name": "old", "hostname": "127.0.0.1", "port": 1}],
                                 name="v6.json")
            r = self.hsmsh("configure", "--cmu", address, config=cfg)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(cfg) as f:
                servers = json.load(f)["clusters"][0]["servers"]
            self.assertIn({"name": address, "hostname": "::1", "port": int(address[6:])},
                          servers)
            r = self.hsmsh("-e", "listUsers", config=cfg)
            self.assertIn(f"Users on server 0({address}):", r.stdout)
        finally:
            p.terminate()
            p.wait(timeout=10)
            p.stdout.close()
            c.nodes[0], c.ports[0] = c.start_node(0)
            c.write_config()

    def test_add_remove_and_switch_clusters(self):
        other = Cluster(nodes=1, cluster_id="cluster-second")
        try:
            other.activate()
            cfg = self.c.path("multi.json")
            common = ["--hsm-ca-cert", self.c.path("customerCA.crt"),
                      "--server-client-cert-file", self.c.path("client.crt"),
                      "--server-client-key-file", self.c.path("client.key")]
            r = self.add_cluster(cfg, "cluster-shell", self.c, self.c.ports[1])
            self.assertEqual(r.returncode, 0, r.stderr)
            r = self.hsmsh("-c", cfg, "configure", "add-cluster", "--cluster-id", "cluster-bogus",
                           "--endpoint", f"127.0.0.1:{self.c.ports[1]}", *common)
            self.assertEqual(r.returncode, 3)
            self.assertIn("names cluster 'cluster-shell', expected 'cluster-bogus'", r.stderr)
            r = self.hsmsh("-c", cfg, "configure", "add-cluster", "--cluster-id",
                           "cluster-shell", "--endpoint", f"127.0.0.1:{self.c.ports[1]}", *common)
            self.assertIn("already configured", r.stderr)
            r = self.hsmsh("-c", cfg, "configure", "add-cluster", "--cluster-id", "cluster-x",
                           "--server-client-cert-file", self.c.path("client.crt"))
            self.assertEqual(r.returncode, 2)
            r = self.hsmsh("-c", cfg, "configure", "add-cluster", "--cluster-id",
                           "cluster-second", *common[:2],
                           "--server-client-cert-file", other.path("client.crt"),
                           "--server-client-key-file", other.path("client.key"))
            self.assertEqual(r.returncode, 3)
            self.assertIn("--endpoint HOST[:PORT]", r.stderr)
            r = self.add_cluster(cfg, "cluster-second", other, other.ports[0])
            self.assertEqual(r.returncode, 0, r.stderr)
            r = self.hsmsh("-c", cfg, input="listClusters\nuseCluster cluster-second\n"
                           "listUsers\nlistClusters\nuseCluster nowhere\n")
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("* cluster-shell", r.stdout)
            self.assertIn("* cluster-second", r.stdout, r.stderr)
            self.assertIn(f"Users on server 0(127.0.0.1:{other.ports[0]})", r.stdout)
            self.assertIn("no cluster 'nowhere'", r.stderr)
            r = self.hsmsh("-c", cfg, "--cluster", "cluster-second", input="listUsers\n")
            self.assertEqual(r.returncode, 0, r.stderr)
            r = self.hsmsh("-c", cfg, "configure", "remove-cluster", "--cluster-id",
                           "cluster-second")
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(cfg) as f:
                self.assertEqual([c["cluster_id"] for c in json.load(f)["clusters"]],
                                 ["cluster-shell"])
        finally:
            other.stop()

    def test_useCluster_sees_a_cluster_added_while_the_shell_runs(self):
        """configure add-cluster in another terminal, then useCluster in the
        shell that was already running: it reads the file again."""
        other = Cluster(nodes=1, cluster_id="cluster-second")
        try:
            cfg = self.c.path("running.json")
            r = self.add_cluster(cfg, "cluster-shell", self.c, self.c.ports[0])
            self.assertEqual(r.returncode, 0, r.stderr)
            shell = subprocess.Popen([HSMSH, "-c", cfg], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=self.c.env())
            try:
                shell.stdin.write("listClusters\n")
                shell.stdin.flush()
                self.assertIn("cluster-shell", shell.stdout.readline())  # it has read the file
                r = self.add_cluster(cfg, "cluster-second", other, other.ports[0])
                self.assertEqual(r.returncode, 0, r.stderr)
                out, err = shell.communicate("useCluster cluster-second\nlistUsers\n",
                                             timeout=60)
            finally:
                if shell.poll() is None:
                    shell.kill()
                    shell.communicate()
            self.assertEqual(shell.returncode, 0, out + err)
            self.assertIn(f"Users on server 0(127.0.0.1:{other.ports[0]})", out)
            self.assertNotIn("no cluster", err)
        finally:
            other.stop()

    def test_clone_while_serving_carries_the_users(self):
        r = self.c.shell("-y", input=LOGIN + "createUser CU clone_me clone-me-pw\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        new = self.c.path("node9")
        r = subprocess.run([HSMD, "clone", "--from", self.c.path("node0"), "--data", new],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        src = json.loads(subprocess.run([HSMD, "describe", "--data", self.c.path("node0")],
                                        capture_output=True, text=True).stdout)
        dst = json.loads(r.stdout)
        self.assertNotEqual(src["HsmId"], dst["HsmId"])
        self.assertEqual(src["ClusterId"], dst["ClusterId"])
        p, port = self.c.start_node(9)
        try:
            cfg = self.c.write_config([{"hostname": "127.0.0.1", "port": port}], "clone.json")
            r = self.hsmsh(input="listUsers\n", config=cfg)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("clone_me", r.stdout)
        finally:
            p.terminate()
            p.wait(timeout=10)
            p.stdout.close()

    def test_config_writes_survive_being_killed(self):
        cfg = self.c.path("killed.json")
        base = ["-c", cfg, "configure"]
        add = [*base, "add-cluster", "--cluster-id", "cluster-shell", "--endpoint",
               f"127.0.0.1:{self.c.ports[2]}", "--hsm-ca-cert", self.c.path("customerCA.crt"),
               "--server-client-cert-file", self.c.path("client.crt"),
               "--server-client-key-file", self.c.path("client.key")]
        remove = [*base, "remove-cluster", "--cluster-id", "cluster-shell"]
        self.assertEqual(self.hsmsh(*add).returncode, 0)
        rng = random.Random(7)
        for round in range(30):
            p = subprocess.Popen([HSMSH, *(remove if round % 2 == 0 else add)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 env=self.c.env())
            time.sleep(rng.uniform(0, 0.03))
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)
            with open(cfg) as f:
                doc = json.load(f)  # never half written
            self.assertIn("clusters", doc)
            self.assertEqual(stat.S_IMODE(os.stat(cfg).st_mode), 0o600)


class AuditTrailTests(unittest.TestCase):
    """The audit trail is a hash chain: hsmd audit verify names the first bad row."""

    def test_tampering_is_found(self):
        import sqlite3
        c = Cluster(nodes=1)
        try:
            c.activate()
            r = c.shell("-y", input=LOGIN + "createUser CU audited audited-pw1\n")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            data = c.path("node0")
            verify = [HSMD, "audit", "verify", "--data", data]
            ok = subprocess.run(verify, capture_output=True, text=True)
            self.assertEqual(ok.returncode, 0, ok.stdout)
            self.assertIn("audit trail intact", ok.stdout)
            db = sqlite3.connect(os.path.join(data, "hsm.db"))
            rows = db.execute("SELECT seq, operation FROM audit ORDER BY seq").fetchall()
            self.assertTrue(any("create_user" in op for _, op in rows), rows)
            text = "".join(str(r) for r in db.execute("SELECT * FROM audit").fetchall())
            self.assertNotIn("audited-pw1", text)
            self.assertNotIn("officer-pw1", text)
            target = rows[len(rows) // 2][0]
            db.execute("UPDATE audit SET result = 'RET_OK_FORGED' WHERE seq = ?", (target,))
            db.commit()
            db.close()
            bad = subprocess.run(verify, capture_output=True, text=True)
            self.assertEqual(bad.returncode, 1)
            self.assertIn(f"audit trail broken at row {target}", bad.stdout)
        finally:
            c.stop()


class SecretTests(unittest.TestCase):
    """A sentinel password never lands in a log, database, WAL, history or output."""

    SENTINEL = "Sentinel-Pw-7f3a9c"

    def forms(self):
        import base64
        raw = self.SENTINEL.encode()
        return [self.SENTINEL, raw.hex(), base64.b64encode(raw).decode().rstrip("="),
                base64.b64encode(raw).decode()]

    def test_sentinel_password_is_nowhere(self):
        c = Cluster()
        try:
            pw = self.SENTINEL
            outputs = []
            r = c.shell(input=f"loginHSM PRECO admin password\nchangePswd PRECO admin {pw}\ny\n")
            outputs.append(r.stdout + r.stderr)
            r = c.shell("-y", "--echo", input=f"loginHSM CO admin {pw}\ncreateUser CU sam -hpswd\n"
                                             f"{pw}\nloginHSM CO admin wrong-{pw}\n"
                                             f"changePswd CU sam {pw}x\n", env=c.env())
            outputs.append(r.stdout + r.stderr)
            r = c.shell("--json", input=f"loginHSM CU sam {pw}\nlistUsers\n")
            outputs.append(r.stdout + r.stderr)
            for text in outputs:
                for form in self.forms():
                    self.assertNotIn(form, text)
            for p in c.nodes:
                p.terminate()
                p.wait(timeout=10)
            for root, _, files in os.walk(c.dir):
                for name in files:
                    with open(os.path.join(root, name), "rb") as f:
                        data = f.read()
                    for form in self.forms():
                        self.assertNotIn(form.encode(), data, os.path.join(root, name))
        finally:
            c.stop()


class ClientCertificateTests(ClusterTestCase):
    """create-hsm-client-certificate, register on each node, use."""

    CLUSTER = {"nodes": 2}

    def test_without_a_configuration_the_pair_goes_to_the_user_s_directory(self):
        """Issue 28, item 7: run as root without -c or HSMSH_CONFIG, the
        pair goes under ~/.config/hsmsh, never into /etc/hsmsh unasked."""
        home = self.c.path("home")
        os.makedirs(home)
        env = {k: v for k, v in self.c.env(HOME=home).items()
               if k not in ("HSMSH_CONFIG", "XDG_CONFIG_HOME")}
        name = f"app-home-{os.getpid()}"
        r = subprocess.run([HSMSH, "create-hsm-client-certificate",
                            "--hsm-client-certificate-identifier", name],
                           capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        mine = os.path.join(home, ".config", "hsmsh", "client-certificates", name)
        self.assertIn(f"Wrote the certificate to {mine}.crt", r.stderr)
        self.assertTrue(os.path.exists(mine + ".key"))
        self.assertFalse(os.path.exists(f"/etc/hsmsh/client-certificates/{name}.crt"))
        # What to do next, as hsmd(8) and the README say it: SIGHUP, no restart.
        self.assertIn("then send each running node SIGHUP", r.stderr)
        with open(os.environ["HSMSH_MAN"]) as f:
            self.assertNotIn("restart the nodes", f.read())

    def test_create_register_use_and_remove(self):
        cfg_dir = self.c.path("cfg")
        os.makedirs(cfg_dir)
        cfg = os.path.join(cfg_dir, "hsmsh.json")
        env = self.c.env(HSMSH_CONFIG=cfg)

        def hsmsh(*args, input=""):
            return subprocess.run([HSMSH, *args], input=input, capture_output=True, text=True,
                                  timeout=60, env=env)

        r = hsmsh("create-hsm-client-certificate", "--hsm-client-certificate-identifier",
                  "app-1", "--tags", "Key=team,Value=payments", "Key=env,Value=test")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)["HsmClientCertificate"]
        self.assertEqual(doc["HsmClientCertificateIdentifier"], "app-1")
        self.assertTrue(doc["HsmClientCertificatePublicKey"].startswith("-----BEGIN CERTIFICATE"))
        self.assertEqual(doc["Tags"], [{"Key": "team", "Value": "payments"},
                                       {"Key": "env", "Value": "test"}])
        key = os.path.join(cfg_dir, "client-certificates", "app-1.key")
        crt = os.path.join(cfg_dir, "client-certificates", "app-1.crt")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        self.assertIn(f"Wrote the certificate to {crt[:-4]}.crt and its private key to "
                      f"{key}", r.stderr)
        again = hsmsh("create-hsm-client-certificate", "--hsm-client-certificate-identifier",
                      "app-1")
        self.assertEqual(again.returncode, 2)  # a usage error, as the issue asks
        self.assertIn("exists already", again.stderr)
        bad = hsmsh("create-hsm-client-certificate", "--hsm-client-certificate-identifier",
                    "app/2")
        self.assertEqual(bad.returncode, 2)

        config = {"default_cluster": "cluster-shell", "clusters": [{
            "cluster_id": "cluster-shell", "hsm_ca_cert": self.c.path("customerCA.crt"),
            "client_cert": crt, "client_key": key,
            "servers": [{"hostname": "127.0.0.1", "port": p} for p in self.c.ports]}]}
        with open(cfg, "w") as f:
            json.dump(config, f)
        r = hsmsh(input="listUsers\n")
        self.assertEqual(r.returncode, 3)
        self.assertIn("the node refused our client certificate", r.stderr)

        for i in range(2):
            r = subprocess.run([HSMD, "register-client-certificate", "--data",
                                self.c.path(f"node{i}"), "--cert", crt],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            # No restart: SIGHUP reloads the registrations.
            self.c.signal(i, signal.SIGHUP)

        def until(check, limit=20):
            deadline = time.monotonic() + limit
            while True:
                r = hsmsh(input="listUsers\n")
                if check(r) or time.monotonic() > deadline:
                    return r
                time.sleep(0.2)
        r = until(lambda r: r.returncode == 0)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # A connection the certificate holds while it is removed.
        held = WireClient(self.c.ports[0], crt, key, self.c.path("customerCA.crt"))
        self.assertEqual(held.call("hello")[0], "RET_OK")

        listing = subprocess.run([HSMD, "list-client-certificates", "--data",
                                  self.c.path("node0")], capture_output=True, text=True).stdout
        self.assertIn("pin SHA256:", listing)
        fingerprint = listing.split()[1]
        for ca in ("ca1", "ca2", "ca3"):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.c.path(ca + ".key"),
                            "-out", self.c.path(ca + ".crt"), "-subj", "/CN=" + ca, "-days", "5"],
                           check=True, capture_output=True)
        results = [subprocess.run([HSMD, "register-client-certificate", "--data",
                                   self.c.path("node0"), "--trust-anchor", self.c.path(ca + ".crt")],
                                  capture_output=True, text=True) for ca in ("ca1", "ca2", "ca3")]
        self.assertEqual([r.returncode for r in results], [0, 0, 1])
        self.assertIn("at most 2 client trust anchors", results[2].stderr)

        r = subprocess.run([HSMD, "remove-client-certificate", "--data", self.c.path("node0"),
                            "--fingerprint", fingerprint], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.c.signal(0, signal.SIGHUP)
        r = until(lambda r: r.returncode != 0)
        self.assertEqual(r.returncode, 1)
        self.assertIn("only 1 of 2 servers connected", r.stderr)
        # The removed certificate keeps no session: the held connection is closed.
        with self.assertRaises((ConnectionError, OSError)):
            held.call("hello")
        held.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
