# SPDX-License-Identifier: Apache-2.0
"""Keys on three real nodes: crypto users generate them through the shell,
every node holds the same key under the same handle, signatures verify with
plain openssl, sharing lets another user sign, officers find and describe
keys, owners cannot be deleted, and a node stopped during a key creation
leaves the key on no node."""
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from cluster import HSMSH, LOGIN, ClusterTestCase, wait_for  # noqa: E402

DATA = b"the data a crypto user signs"
PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-01", "carol": "carol-pw-1",
             "dave": "dave-pw-01"}


class KeyTests(ClusterTestCase):
    CLUSTER = {"peers": True, "node_args": ["--prepare-timeout", "10"]}
    ACTIVATE = True
    USERS = [("CU", name, password) for name, password in PASSWORDS.items()]
    SHARED = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ids = {}
        doc = json.loads(cls.c.shell("--json", input="listUsers\n").stdout.splitlines()[-1])
        for u in doc["servers"][0]["users"]:
            cls.ids[u["name"]] = u["id"]

    def as_user(self, name, script, *args):
        return self.c.shell(*args, input=f"loginHSM CU {name} {PASSWORDS[name]}\n" + script)

    def generate(self, user, spec, label=""):
        r = self.as_user(user, f"generateKey {spec} {label}\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        last = r.stdout.strip().splitlines()[-1]
        return [int(h) for h in re.findall(r"key handle (\d+)", last)]

    def wire(self, i, user):
        return self.login(i, name=user, password=PASSWORDS[user], type="CU")

    def verify_with_openssl(self, public_hex, signature_hex, *options):
        pub = self.c.path("pub.der")
        sig = self.c.path("sig.bin")
        data = self.c.path("data.bin")
        for path, content in ((pub, bytes.fromhex(public_hex)),
                              (sig, bytes.fromhex(signature_hex)), (data, DATA)):
            with open(path, "wb") as f:
                f.write(content)
        r = subprocess.run(["openssl", "dgst", *options, "-verify", pub, "-keyform", "DER",
                            "-signature", sig, data], capture_output=True, text=True)
        return r.returncode == 0 and "Verified OK" in r.stdout

    def test_keys_are_on_every_node_and_their_signatures_verify_with_openssl(self):
        ec = self.generate("alice", "ec:p256", "signer")
        rsa = self.generate("alice", "rsa:2048")
        aes = self.generate("alice", "aes:256")
        self.assertEqual((len(ec), len(rsa), len(aes)), (2, 2, 1))
        nodes = [self.wire(i, "alice") for i in range(3)]
        for handle in ec + rsa + aes:
            described = [n.call("get_key", handle=handle) for n in nodes]
            self.assertEqual([s for s, _ in described], ["RET_OK"] * 3)
            self.assertEqual(len({f["digest"] for _, f in described}), 1, handle)
            self.assertNotIn("material", json.dumps(described))
        status, f = nodes[0].call("get_key", handle=ec[0])
        self.assertEqual((f["class"], f["label"], f["flags"]["extractable"]),
                         ("private", "signer", False))
        cases = [(ec, "ecdsa-sha256", ["-sha256"]),
                 (rsa, "rsa-pkcs1-sha256", ["-sha256"]),
                 (rsa, "rsa-pss-sha384", ["-sha384", "-sigopt", "rsa_padding_mode:pss",
                                          "-sigopt", "rsa_pss_saltlen:-1"])]
        for (private, public), mechanism, options in cases:
            # Signed on one node, verified by openssl against the public key another exports.
            status, signed = nodes[0].call("sign", handle=private, mechanism=mechanism,
                                           data=DATA.hex())
            self.assertEqual(status, "RET_OK", mechanism)
            _, pub = nodes[2].call("get_key", handle=public)
            self.assertTrue(self.verify_with_openssl(pub["public"], signed["data"], *options),
                            mechanism)
            status, _ = nodes[1].call("verify", handle=public, mechanism=mechanism,
                                      data=DATA.hex(), signature=signed["data"])
            self.assertEqual(status, "RET_OK")
        # Encrypted on one node, decrypted on another: the same key everywhere.
        status, sealed = nodes[0].call("encrypt", handle=aes[0], mechanism="aes-gcm",
                                       data=DATA.hex())
        self.assertEqual(status, "RET_OK")
        status, plain = nodes[2].call("decrypt", handle=aes[0], mechanism="aes-gcm",
                                      data=sealed["data"])
        self.assertEqual((status, bytes.fromhex(plain["data"])), ("RET_OK", DATA))

    def test_key_uses_sent_back_to_back_are_each_answered_once(self):
        # Signatures and verifications sent without waiting, as a pipelining
        # client does: every one answered once, under its own id, and each
        # signature good (the node reads ahead and answers each as it is
        # done; what it reads next may not wait for what it started).
        ec = self.generate("alice", "ec:p256")
        rsa = self.generate("alice", "rsa:2048")
        node = self.wire(0, "alice")
        sent = {}
        for k in range(40):
            private, public = ec if k % 2 == 0 else rsa
            mechanism = "ecdsa-sha256" if k % 2 == 0 else "rsa-pkcs1-sha256"
            data = bytes([k]) * (k + 1)
            sent[node.send("sign", handle=private, mechanism=mechanism, data=data.hex())] = (
                public, mechanism, data)
        replies = {}
        for _ in sent:
            rid, status, fields = node.receive()
            self.assertNotIn(rid, replies)
            replies[rid] = (status, fields)
        self.assertEqual(set(replies), set(sent))
        self.assertEqual({s for s, _ in replies.values()}, {"RET_OK"})
        checks = {node.send("verify", handle=public, mechanism=mechanism, data=data.hex(),
                            signature=replies[rid][1]["data"]): rid
                  for rid, (public, mechanism, data) in sent.items()}
        verdicts = dict((rid, status) for rid, status, _ in (node.receive() for _ in checks))
        self.assertEqual(set(verdicts), set(checks))
        self.assertEqual(set(verdicts.values()), {"RET_OK"})
        # Anything but a key use runs alone and in order: a logout sent
        # after two signatures is answered after them, and the signatures
        # sent after it are refused.
        order = [node.send("sign", handle=ec[0], mechanism="ecdsa-sha256", data="00"),
                 node.send("sign", handle=rsa[0], mechanism="rsa-pkcs1-sha256", data="00"),
                 node.send("logout"),
                 node.send("sign", handle=ec[0], mechanism="ecdsa-sha256", data="00"),
                 node.send("sign", handle=rsa[0], mechanism="rsa-pkcs1-sha256", data="00")]
        heard = [node.receive() for _ in order]
        statuses = dict((rid, status) for rid, status, _ in heard)
        self.assertEqual([statuses[rid] for rid in order],
                         ["RET_OK", "RET_OK", "RET_OK", "RET_NOT_LOGGED_IN", "RET_NOT_LOGGED_IN"])
        self.assertEqual(sorted(rid for rid, _, _ in heard[:2]), order[:2])
        self.assertEqual(heard[2][0], order[2])

    def test_a_quick_key_use_is_not_held_behind_a_slow_one(self):
        # Three RSA-4096 signatures (about 4 ms each here, on the key-work
        # threads, one at a time for one user) and then eight P-256 ones
        # (tens of microseconds, on the network thread), sent back to back:
        # a node that reads ahead answers a P-256 one before the last RSA
        # one. A node answering one request at a time answers the RSA ones
        # first; here the margin is the whole 12 ms of RSA work.
        rsa = self.generate("alice", "rsa:4096")
        ec = self.generate("alice", "ec:p256")
        node = self.wire(0, "alice")
        slow = [node.send("sign", handle=rsa[0], mechanism="rsa-pkcs1-sha256", data="00")
                for _ in range(3)]
        quick = [node.send("sign", handle=ec[0], mechanism="ecdsa-sha256", data="00")
                 for _ in range(8)]
        heard = [node.receive() for _ in slow + quick]
        self.assertEqual({status for _, status, _ in heard}, {"RET_OK"})
        arrived = [rid for rid, _, _ in heard]
        self.assertEqual(sorted(arrived), slow + quick)
        self.assertLess(min(arrived.index(rid) for rid in quick), arrived.index(slow[-1]),
                        arrived)

    def test_a_reload_ends_a_connection_once_its_uses_in_flight_are_answered(self):
        # Sixteen RSA-4096 signatures in flight (tens of milliseconds) when
        # the node reloads its client credentials (SIGHUP): they are
        # answered, and then the connection ends, as an idle one does at
        # once, without waiting for the client's next request (the node
        # used to keep reading ahead until then, or the idle timeout).
        rsa = self.generate("alice", "rsa:4096")
        node = self.wire(0, "alice")
        for _ in range(16):
            node.send("sign", handle=rsa[0], mechanism="rsa-pkcs1-sha256", data="00")
        heard = [node.receive()[1]]  # the node is at work: the reload comes now
        os.kill(self.c.nodes[0].pid, signal.SIGHUP)
        # The uses the node had read are answered (it reads ahead; one it
        # had not read yet is not), then the stream ends.
        try:
            for _ in range(16):
                heard.append(node.receive()[1])
            ended = "a reply more"
        except OSError as e:  # the end of the stream, or the client's 5 s time-out
            ended = "a time-out" if isinstance(e, TimeoutError) else "closed"
        self.assertEqual((set(heard), ended), ({"RET_OK"}, "closed"), len(heard))

    def test_a_client_that_does_not_read_holds_little_of_the_nodes_memory(self):
        # Encryptions of 16 KiB sent without ever reading a reply: the node
        # reads ahead only while fewer than 16 requests are unanswered, so
        # the client soon blocks on its own send. (A node that counted a
        # request done when its reply was queued rather than written grew
        # by 120 MiB in a red team's run of 4,000 of them.)
        aes = self.generate("alice", "aes:256")
        node = self.c.login(0, name="alice", password=PASSWORDS["alice"], type="CU", timeout=3)

        def peak():
            with open(f"/proc/{self.c.nodes[0].pid}/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

        before = peak()
        data = os.urandom(16 * 1024).hex()
        sent = 0
        try:
            for _ in range(4000):
                node.send("encrypt", handle=aes[0], mechanism="aes-gcm", data=data)
                sent += 1
        except OSError:  # a time-out: the node stopped reading, as it should
            pass
        grown_kib = peak() - before
        node.close()
        self.assertLess(sent, 4000)
        # Under ASan (freed memory held in quarantine) or TSan (shadow
        # memory) the peak says nothing of what the node holds: 101 MiB
        # with 223 sent under ASan. That the sender blocked is the test there.
        with open(f"/proc/{self.c.nodes[0].pid}/maps") as f:
            sanitized = any(lib in f.read() for lib in ("libasan", "libtsan"))
        if not sanitized:
            self.assertLess(grown_kib, 32 * 1024, f"{sent} sent")
        # The node serves the next client.
        status, _ = self.wire(0, "alice").call("encrypt", handle=aes[0], mechanism="aes-gcm",
                                               data="00")
        self.assertEqual(status, "RET_OK")

    def test_sharing_lets_another_user_sign_until_unshared(self):
        private, _ = self.generate("alice", "ec:p384")
        bob = self.wire(1, "bob")
        sign = lambda: bob.call("sign", handle=private, mechanism="ecdsa-sha384",
                                data=DATA.hex())[0]
        self.assertEqual(sign(), "RET_INVALID_HANDLE")
        r = self.as_user("alice", f"shareKey {private} {self.ids['bob']} 1\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for i in range(3):
            self.assertIn(f"shareKey success on {self.c.label(i)}", r.stdout)
        self.assertEqual(sign(), "RET_OK")
        # bob may use it, not pass it on.
        r = self.as_user("bob", f"shareKey {private} {self.ids['carol']} 1\ny\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("RET_PERMISSION_DENIED", r.stdout)
        r = self.c.shell(input=LOGIN + f"getKeyInfo -k {private}\n")
        self.assertEqual(r.stdout.count("also, shared to following 1 user(s):"), 3, r.stdout)
        self.assertEqual(r.stdout.count(f"Owned by user {self.ids['alice']}"), 3)
        r = self.as_user("alice", f"shareKey {private} {self.ids['bob']} 0\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(sign(), "RET_INVALID_HANDLE")

    def test_officers_find_keys_and_agree_servers_hold_the_same(self):
        handles = self.generate("carol", "hmac:256", "mac")
        r = self.c.shell(input=LOGIN + f"findAllKeys {self.ids['carol']} 1\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("Number of keys found 1"), 3, r.stdout)
        self.assertEqual(r.stdout.count(f"{handles[0]}(o)"), 3)
        hashes = re.findall(r"Key Hash:\n([0-9a-f]{64})", r.stdout)
        self.assertEqual(len(hashes), 3)
        self.assertEqual(len(set(hashes)), 1)
        self.assertNotIn("disagree", r.stdout)
        r = self.c.shell("--json", input=LOGIN + f"getAttribute {handles[0]} 512\n")
        doc = json.loads(r.stdout.splitlines()[-1])
        attributes = doc["servers"][0]["attributes"]
        self.assertEqual(attributes["OBJ_ATTR_LABEL"], "mac")
        self.assertEqual(attributes["OBJ_ATTR_SIGN"], "0x00000001")
        self.assertEqual(attributes["OBJ_ATTR_EXTRACTABLE"], "0x00000000")
        self.assertEqual(attributes["OBJ_ATTR_KEY_TYPE"], "0x00000010")
        # Officers describe keys and never use them; the owner cannot be deleted.
        w = self.login(0)
        self.assertEqual(w.call("sign", handle=handles[0], mechanism="hmac-sha256",
                                data=DATA.hex())[0], "RET_PERMISSION_DENIED")
        r = self.c.shell(input=LOGIN + "deleteUser CU carol\ny\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("RET_USER_OWNS_KEYS (a crypto user who owns keys cannot be deleted: ",
                      r.stdout)
        self.assertRegex(r.stdout, r"cannot be deleted: \d+ key\(s\) \(findAllKeys lists them\)")
        r = self.c.shell(input=LOGIN + "listUsers\n")
        self.assertIn("carol", r.stdout)

    def test_a_pem_certificate_and_public_key_come_in_from_the_shell(self):
        key, cert, pub = (self.c.path(n) for n in ("pem.key", "pem.crt", "pem.pub"))
        subprocess.run(["openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-subj", "/CN=pem import", "-days", "30", "-out", cert],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True,
                       capture_output=True)
        r = self.as_user("alice", f"importPem {cert} pem-cert 0b\nimportPem {pub} pem-pub 0b\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        cert_handle, pub_handle = (int(h) for h in
                                   re.findall(r"importPem: \w+ key handle (\d+)", r.stdout))
        self.assertIn(f"importPem: certificate key handle {cert_handle}", r.stdout)
        # On every node alike, kept as openssl wrote them, and marked as brought in.
        w = [self.wire(i, "alice") for i in range(3)]
        for handle, der_of in ((cert_handle, ["x509", "-in", cert]),
                               (pub_handle, ["pkey", "-pubin", "-in", pub])):
            der = subprocess.run(["openssl", *der_of, "-outform", "DER"], check=True,
                                 capture_output=True).stdout
            found = [w[i].call("get_key", handle=handle) for i in range(3)]
            self.assertEqual({f["digest"] for _, f in found}, {found[0][1]["digest"]})
            self.assertEqual(bytes.fromhex(found[0][1]["public"]), der)
            self.assertFalse(found[0][1]["flags"]["local"])
        r = self.c.shell("--json", input=LOGIN + f"getAttribute {cert_handle} 512\n")
        attributes = json.loads(r.stdout.splitlines()[-1])["servers"][0]["attributes"]
        self.assertEqual(attributes["OBJ_ATTR_CLASS"], "0x00000001")
        self.assertEqual(attributes["OBJ_ATTR_LOCAL"], "0x00000000")
        self.assertNotIn("OBJ_ATTR_KEY_TYPE", attributes)
        self.assertNotIn("OBJ_ATTR_SIGN", attributes)  # a certificate is no key
        # A private key never comes in from a terminal; nothing was sent.
        r = self.as_user("alice", f"importPem {key}\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("a private key is never brought in from the shell", r.stderr)
        # An officer brings nothing in.
        r = self.c.shell(input=LOGIN + f"importPem {cert}\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("RET_PERMISSION_DENIED", r.stdout + r.stderr)

    def test_a_node_stopped_during_a_key_creation_leaves_the_key_nowhere(self):
        before = [self.wire(i, "bob").call("find_keys", user=self.ids["bob"])
                  for i in range(1)]
        self.assertEqual(before[0][0], "RET_PERMISSION_DENIED")  # a CU does not list keys
        # Only the stopped node misses a 10 s deadline (TSan included).
        shell = subprocess.Popen([HSMSH, "--timeout", "10"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 env=self.c.env())
        try:
            shell.stdin.write(b"loginHSM CU bob bob-pw-01\n")
            shell.stdin.flush()
            seen = b""
            deadline = time.monotonic() + 30
            while seen.count(b"loginHSM success") < 3 and time.monotonic() < deadline:
                ready, _, _ = select.select([shell.stdout], [], [], 1)
                if ready:
                    seen += os.read(shell.stdout.fileno(), 4096)
            self.assertEqual(seen.count(b"loginHSM success"), 3, seen)
            self.c.signal(2, signal.SIGSTOP)
            out, _ = shell.communicate(b"generateKey aes:128\n", timeout=60)
        finally:
            self.c.signal(2, signal.SIGCONT)
            if shell.poll() is None:
                shell.kill()
        out = out.decode()
        self.assertEqual(shell.returncode, 1, out)
        self.assertIn("No server was changed", out)
        officer = [self.login(i) for i in range(3)]

        def settled():
            keys = [w.call("find_keys", user=self.ids["bob"])[1].get("keys") for w in officer]
            pending = [w.call("list_prepared")[1].get("prepared") for w in officer]
            return keys == [[], [], []] and pending == [[], [], []]
        self.assertTrue(wait_for(settled, 90), [w.call("list_prepared") for w in officer])

    def test_servers_that_disagree_on_keys_are_named(self):
        handles = self.generate("bob", "aes:192")
        # Remove the key by hand from node 2's database, as damage would.
        import sqlite3
        db = sqlite3.connect(os.path.join(self.c.path("node2"), "hsm.db"))
        db.execute("DELETE FROM keys WHERE handle = ?", (handles[0],))
        db.commit()
        db.close()
        r = self.c.shell(input=LOGIN + f"findAllKeys {self.ids['bob']} 1\n")
        self.assertIn(f"Servers disagree on the keys of user {self.ids['bob']}:", r.stdout)
        self.assertIn(f"{self.c.label(2)} differs from 2 other server(s)", r.stdout)
        # syncKey copies it back, sealed, from a server that holds it; twice changes nothing.
        for _ in range(2):
            r = self.c.shell(input=LOGIN + f"server 0\nsyncKey {handles[0]} 2\ny\nexit\n")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn(f"syncKey success on {self.c.label(2)}", r.stdout)
        r = self.c.shell(input=LOGIN + f"findAllKeys {self.ids['bob']} 1\n")
        self.assertNotIn("disagree", r.stdout)
        self.assertEqual(len(set(re.findall(r"Key Hash:\n([0-9a-f]{64})", r.stdout))), 1)

    def test_a_new_key_is_committed_on_two_nodes_or_none(self):
        # In server mode one server would hold it: CloudHSM's availability
        # rule (two HSMs) refuses that, and the key is nowhere.
        r = self.as_user("carol", "server 1\ngenerateKey aes:128 lonely\nexit\n")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("RET_KEY_UNAVAILABLE", r.stdout)
        doc = json.loads(self.c.shell("--json", input=LOGIN + f"findAllKeys {self.ids['carol']} 0\n")
                         .stdout.splitlines()[-1])
        for server in doc["servers"]:
            for key in server["keys"]:
                status, f = self.wire(1, "carol").call("get_key", handle=key["handle"])
                self.assertNotEqual(f.get("label"), "lonely")

    def test_the_owner_sets_attributes_on_every_server(self):
        private, public = self.generate("carol", "ec:p256", "before")
        r = self.as_user("carol", f"setAttribute {private} 3 after\ny\n"
                                  f"setAttribute {private} 264 0\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("setAttribute success on"), 6, r.stdout)
        r = self.as_user("carol", f"getAttribute {private} 3\ngetAttribute {private} 264\n")
        self.assertEqual(r.stdout.count("OBJ_ATTR_LABEL\nafter"), 3, r.stdout)
        self.assertEqual(r.stdout.count("OBJ_ATTR_SIGN\n0x00000000"), 3, r.stdout)
        carol = self.wire(2, "carol")
        self.assertEqual(carol.call("sign", handle=private, mechanism="ecdsa-sha256",
                                    data=DATA.hex())[0], "RET_KEY_FUNCTION_NOT_PERMITTED")
        # In server mode one server would change: it finds its peers without it.
        r = self.as_user("carol", f"server 1\nsetAttribute {private} 3 alone\ny\nexit\n")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("RET_NOT_ON_EVERY_NODE", r.stdout)
        # Read-only attributes, and uses that only narrow turned on, are
        # refused before anything is sent.
        r = self.as_user("carol", f"setAttribute {private} 259 0\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("OBJ_ATTR_SENSITIVE cannot be changed", r.stderr)
        r = self.as_user("carol", f"setAttribute {private} 354 1\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("OBJ_ATTR_EXTRACTABLE is only turned off (0)", r.stderr)

    def test_a_keys_attributes_change_on_every_node_or_none(self):
        """Red team (session 19): committed node by node, a key's flags
        could differ between nodes, so that it MACs on one and encrypts on
        another, each node's flags fitting alone. A node commits an
        attribute change only where every node holds it; it follows a
        peer's commit of the very change, not of another under its txid."""
        handle = self.generate("dave", "aes:256")[0]
        dave = [self.wire(i, "dave") for i in range(3)]

        def described(what):
            keys = [w.call("get_key", handle=handle) for w in dave]
            return [f["flags"][what] if what != "label" else f["label"] for _, f in keys]

        def prepare(nodes, txid, **change):
            for w in nodes:
                self.assertEqual(w.call("prepare", txid=txid, **change)[0], "RET_OK")
        no_decrypt = {"change": "set_attribute", "handle": handle, "attribute": 261, "value": "0"}
        txid = uuid.uuid4().hex
        prepare(dave[:2], txid, **no_decrypt)
        for w in dave[:2]:
            self.assertEqual(w.call("commit", txid=txid)[0], "RET_NOT_ON_EVERY_NODE")
        self.assertEqual(described("decrypt"), [True, True, True])
        # Prepared everywhere, committed on node 0: the others' aborts commit.
        txid = uuid.uuid4().hex
        prepare(dave, txid, **no_decrypt)
        self.assertEqual(dave[0].call("commit", txid=txid)[0], "RET_OK")
        for w in dave[1:]:
            self.assertEqual(w.call("abort", txid=txid)[0], "RET_TX_COMMITTED")
        self.assertEqual(described("decrypt"), [False, False, False])
        # An unsharing committed on node 0 alone under txid X, a relabelling
        # prepared under X on node 1 alone and left to its resolver, which
        # asks node 0: committed, but not this change, so it is aborted.
        txid = uuid.uuid4().hex
        prepare(dave[:1], txid, change="share_key", handle=handle, share=False,
                users=[self.ids["carol"]])
        self.assertEqual(dave[0].call("commit", txid=txid)[0], "RET_OK")
        prepare(dave[1:2], txid, change="set_attribute", handle=handle, attribute=3,
                value="lonely")
        # Nor a sharing under X on node 2 (red team, session 22: a share's
        # users and direction were not part of what identifies it).
        prepare(dave[2:], txid, change="share_key", handle=handle, share=True,
                users=[self.ids["bob"]])
        officer = self.login(1)
        self.assertTrue(wait_for(lambda: officer.call("list_prepared")[1]["prepared"] == [], 60))
        self.assertEqual(described("label"), ["", "", ""])
        self.assertEqual([w.call("get_key", handle=handle)[1]["shared"] for w in dave],
                         [[], [], []])

    def test_a_change_committed_on_one_node_is_not_undone_by_its_actors_new_password(self):
        """Red team (session 22): a change committed on node 0 alone, then
        its actor's password changed before the other nodes' resolvers ran:
        they found the actor changed since the prepare and aborted, and the
        key stayed extractable on two nodes of three. A change a peer
        committed is decided: the actor's own change since does not undo it."""
        r = self.c.shell(input=LOGIN + "createUser CU erin erin-pw-01\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        erin = [self.login(i, name="erin", password="erin-pw-01", type="CU") for i in range(3)]
        status, f = erin[0].call("generate_key", spec="aes:256", attributes={"extractable": True})
        self.assertEqual(status, "RET_OK", f)
        txid = uuid.uuid4().hex
        for w in erin:
            self.assertEqual(w.call("prepare", txid=txid, change="insert_keys",
                                    keys=f["keys"])[0], "RET_OK")
        for w in erin:
            self.assertEqual(w.call("commit", txid=txid)[0], "RET_OK")
        handle = f["keys"][0]["handle"]
        txid = uuid.uuid4().hex
        for w in erin:
            self.assertEqual(w.call("prepare", txid=txid, change="set_attribute", handle=handle,
                                    attribute=354, value="0")[0], "RET_OK")
        self.assertEqual(erin[0].call("commit", txid=txid)[0], "RET_OK")
        r = self.c.shell(input="loginHSM CU erin erin-pw-01\nchangePswd CU erin erin-pw-02\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Each node's resolver in its own time (under the sanitizers, a while).
        for officer in [self.login(i) for i in (1, 2)]:
            self.assertTrue(wait_for(lambda: officer.call("list_prepared")[1]["prepared"] == [],
                                     60))
        erin = [self.login(i, name="erin", password="erin-pw-02", type="CU") for i in range(3)]
        self.assertEqual([w.call("get_key", handle=handle)[1]["flags"]["extractable"]
                          for w in erin], [False, False, False])

    def test_a_commit_and_an_abort_at_once_leave_the_nodes_agreed(self):
        """Red team (session 20): commit sent to node 0 and abort to node 1 at
        the same instant, each node asking the other while both held the
        change prepared: node 0 committed, node 1 aborted. A node that told
        a committing peer it holds the change no longer aborts it."""
        import threading
        handle = self.generate("dave", "aes:128")[0]
        dave = [self.wire(i, "dave") for i in range(3)]
        racers = [self.wire(i, "dave") for i in range(2)]
        officer = [self.login(i) for i in range(3)]
        for attempt in range(3):
            txid = uuid.uuid4().hex
            for w in dave:
                self.assertEqual(w.call("prepare", txid=txid, change="set_attribute",
                                        handle=handle, attribute=3, value=f"race{attempt}")[0],
                                 "RET_OK")
            go = threading.Barrier(2)

            def send(w, op):
                go.wait()
                w.call(op, txid=txid)
            threads = [threading.Thread(target=send, args=(racers[0], "commit")),
                       threading.Thread(target=send, args=(racers[1], "abort"))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            dave[2].call("commit", txid=txid)

            def settled():
                pending = [w.call("list_prepared")[1]["prepared"] for w in officer]
                return pending == [[], [], []]
            self.assertTrue(wait_for(settled, 60))
            labels = [w.call("get_key", handle=handle)[1]["label"] for w in dave]
            self.assertEqual(len(set(labels)), 1, labels)


if __name__ == "__main__":
    unittest.main(verbosity=2)
