# SPDX-License-Identifier: Apache-2.0
"""The key side against a hostile crypto user (issue 26), replayed as the
attacker would run it: the wire protocol from Python against three real
nodes, with the victim using the real hsmsh. Each test asserts what the
victim sees: her key stays hers, her ciphertext stays unreadable, she can
still make keys."""
import json
import os
import re
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from cluster import LOGIN, ClusterTestCase  # noqa: E402

PASSWORDS = {"alice": "alice-pw-1", "mallory": "mallory-pw1", "bob": "bob-pass-1",
             "quincy": "quincy-pw-1"}
SECRET = b"4111 1111 1111 1111".hex()


class HostileUserTests(ClusterTestCase):
    CLUSTER = {"peers": True, "node_args": ["--key-quota", "6"]}
    ACTIVATE = True
    USERS = [("CU", name, password) for name, password in PASSWORDS.items()]
    SHARED = True

    def wire(self, i, user):
        return self.login(i, name=user, password=PASSWORDS[user], type="CU")

    def generate(self, user, spec, label=""):
        r = self.c.shell(input=f"loginHSM CU {user} {PASSWORDS[user]}\n"
                         f"generateKey {spec} {label}\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return [int(h) for h in re.findall(r"key handle (\d+)", r.stdout.splitlines()[-1])]

    def everywhere(self, nodes, op, **fields):
        return [w.call(op, **fields)[0] for w in nodes]

    def test_a_crypto_user_cannot_take_another_users_key(self):
        """Finding 1: mallory runs node 2's handles ahead, then syncs her
        blob over the handle alice's key gets; alice's ciphertext stays hers."""
        mallory = [self.wire(i, "mallory") for i in range(3)]
        blobs = []
        for _ in range(4):
            status, f = mallory[2].call("generate_key", spec="aes:256", label="card")
            self.assertEqual(status, "RET_OK")
            blobs += f["keys"]
        handle = self.generate("alice", "aes:256", "card")[0]
        self.assertNotIn(handle, [b["handle"] for b in blobs])
        for blob in blobs:
            for forged in (blob, dict(blob, handle=handle)):
                txid = uuid.uuid4().hex
                answers = self.everywhere(mallory, "prepare", txid=txid, change="sync_key",
                                          keys=[forged])
                self.assertNotIn("RET_OK", answers, forged["handle"])
                self.everywhere(mallory, "commit", txid=txid)
        # Alice's application keeps using her handle; mallory cannot read it.
        alice = self.wire(0, "alice")
        status, f = alice.call("encrypt", handle=handle, mechanism="aes-gcm", data=SECRET)
        self.assertEqual(status, "RET_OK")
        for w in mallory:
            status, _ = w.call("decrypt", handle=handle, mechanism="aes-gcm", data=f["data"])
            self.assertNotEqual(status, "RET_OK")
        for i in range(3):
            status, k = self.wire(i, "alice").call("get_key", handle=handle)
            self.assertEqual((status, k["owner_name"]), ("RET_OK", "alice"))

    def test_a_caller_never_chooses_an_encryption_iv(self):
        """Finding 9: bob may encrypt with alice's shared key but not
        decrypt; re-using a ciphertext's IV would give him the plaintext."""
        handle = self.generate("alice", "aes:128")[0]
        r = self.c.shell(input=f"loginHSM CU alice {PASSWORDS['alice']}\n"
                         f"shareKey {handle} {self.ids()['bob']} 1\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        alice, bob = self.wire(0, "alice"), self.wire(0, "bob")
        status, f = alice.call("encrypt", handle=handle, mechanism="aes-gcm", data=SECRET)
        self.assertEqual(status, "RET_OK")
        iv = f["data"][:24]
        status, g = bob.call("encrypt", handle=handle, mechanism="aes-gcm", data="00" * 19, iv=iv)
        self.assertEqual(status, "RET_BAD_REQUEST")
        status, g = bob.call("encrypt", handle=handle, mechanism="aes-gcm", data="00" * 19)
        self.assertEqual(status, "RET_OK")
        self.assertNotEqual(g["data"][:24], iv)

    def test_availability_is_decided_by_the_nodes(self):
        """Finding 10: an insertion prepared on one node, committed there with
        holders 3, exists nowhere."""
        mallory = self.wire(0, "mallory")
        status, f = mallory.call("generate_key", spec="aes:128", label="lonely")
        self.assertEqual(status, "RET_OK")
        txid = uuid.uuid4().hex
        self.assertEqual(mallory.call("prepare", txid=txid, change="insert_keys",
                                      keys=f["keys"])[0], "RET_OK")
        self.assertEqual(mallory.call("commit", txid=txid, holders=3)[0], "RET_KEY_UNAVAILABLE")
        status, _ = mallory.call("get_key", handle=f["keys"][0]["handle"])
        self.assertEqual(status, "RET_INVALID_HANDLE")

    def test_a_commit_counts_only_peers_holding_the_same_change(self):
        """Red team on finding 10: prepared on nodes 0 and 1, committed on 0,
        then aborted on 1 (the key would be on node 0 alone); and one txid
        prepared with different keys on two nodes."""
        mallory = [self.wire(i, "mallory") for i in range(3)]

        def generated(i):
            status, f = mallory[i].call("generate_key", spec="aes:128")
            self.assertEqual(status, "RET_OK")
            return f["keys"]

        def holders(handle):
            return [w.call("get_key", handle=handle)[0] == "RET_OK" for w in mallory]
        keys = generated(0)
        txid = uuid.uuid4().hex
        for w in mallory[:2]:
            self.assertEqual(w.call("prepare", txid=txid, change="insert_keys", keys=keys)[0],
                             "RET_OK")
        self.assertEqual(mallory[0].call("commit", txid=txid)[0], "RET_OK")
        # Node 1 asks node 0: committed, so its abort commits instead.
        self.assertEqual(mallory[1].call("abort", txid=txid)[0], "RET_TX_COMMITTED")
        self.assertEqual(holders(keys[0]["handle"]), [True, True, False])
        first, second = generated(1), generated(2)
        txid = uuid.uuid4().hex
        self.assertEqual(mallory[1].call("prepare", txid=txid, change="insert_keys",
                                         keys=first)[0], "RET_OK")
        self.assertEqual(mallory[2].call("prepare", txid=txid, change="insert_keys",
                                         keys=second)[0], "RET_OK")
        for w in mallory[1:]:
            self.assertEqual(w.call("commit", txid=txid)[0], "RET_KEY_UNAVAILABLE")
        self.assertEqual(holders(first[0]["handle"]), [False, False, False])
        self.assertEqual(holders(second[0]["handle"]), [False, False, False])

    def test_one_user_at_her_quota_leaves_places_for_others(self):
        """Finding 7: mallory makes keys until the nodes refuse; alice still can."""
        refused = None
        for _ in range(10):  # the quota is 6 objects: at most 6 more keys
            r = self.c.shell(input=f"loginHSM CU mallory {PASSWORDS['mallory']}\n"
                             "generateKey aes:128\n")
            if r.returncode != 0:
                refused = r.stdout
                break
        self.assertIsNotNone(refused)
        self.assertIn("RET_KEY_QUOTA_EXCEEDED", refused)
        self.assertEqual(len(self.generate("alice", "ec:p256")), 2)

    def quotas(self):
        r = self.c.shell("--json", input=LOGIN + "listUsers\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        docs = [json.loads(line) for line in r.stdout.splitlines()]
        listed = [d for d in docs if d.get("command") == "listUsers"]
        self.assertEqual(len(listed), 1, r.stdout)
        return [{u["name"]: u.get("key_quota") for u in s["users"]} for s in listed[0]["servers"]]

    def test_an_officer_sets_one_users_key_quota_on_every_node(self):
        """Issue 26: key quotas per user, officer-set; the others keep the
        node's --key-quota (6 here)."""
        r = self.c.shell(input=LOGIN + "setKeyQuota quincy 1\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Setting the key quota of quincy(CU) on 3 nodes", r.stdout)
        self.assertEqual(r.stdout.count("setKeyQuota success on server"), 3, r.stdout)
        for server in self.quotas():
            self.assertEqual((server["quincy"], server["alice"], server["admin"]), (1, 6, None))
        self.assertEqual(len(self.generate("quincy", "aes:128")), 1)
        r = self.c.shell(input=f"loginHSM CU quincy {PASSWORDS['quincy']}\ngenerateKey aes:128\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("RET_KEY_QUOTA_EXCEEDED", r.stdout + r.stderr)
        # A crypto user sets no quota, not even her own; an officer's is no
        # quota at all; a number beyond a node's capacity is a usage error.
        r = self.c.shell(input=f"loginHSM CU quincy {PASSWORDS['quincy']}\n"
                         "setKeyQuota quincy 100\ny\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("may not setKeyQuota", r.stdout + r.stderr)
        r = self.c.shell(input=LOGIN + "setKeyQuota admin 5\ny\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("RET_INVALID_USER_TYPE", r.stdout + r.stderr)
        r = self.c.shell(input=LOGIN + "setKeyQuota quincy 3301\n")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("a number from 0 to 3300", r.stderr)
        self.assertEqual(self.quotas()[0]["quincy"], 1)
        # Back to the node's default: she makes keys again.
        r = self.c.shell(input=LOGIN + "setKeyQuota quincy default\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual([s["quincy"] for s in self.quotas()], [6, 6, 6])
        self.assertEqual(len(self.generate("quincy", "aes:128")), 1)

    def test_key_work_of_one_user_leaves_room_for_others(self):
        """Finding 6: mallory generates RSA-4096 on 8 connections in a loop;
        alice's signatures and an officer's login go on. The latencies are
        printed, not asserted (shared machines); what is asserted is that
        every one of them is served, and that mallory gets answers only."""
        handle = self.generate("alice", "ec:p256")[0]
        stop = threading.Event()
        seen = []

        # Each waits its turn behind the others' RSA-4096 generations: a
        # client's 5 s default would give up (a timeout, no answer) on a
        # loaded machine, and then the test would see none.
        loops = [self.login(0, name="mallory", password=PASSWORDS["mallory"], type="CU",
                            timeout=120) for _ in range(8)]

        def generate(w):
            for _ in range(20):  # bounded; stopped sooner
                if stop.is_set():
                    break
                try:
                    seen.append(w.call("generate_key", spec="rsa:4096")[0])
                except (OSError, ConnectionError):
                    break  # closed by the test once it has measured
        w_timeout = [threading.Thread(target=generate, args=(w,)) for w in loops]
        for t in w_timeout:
            t.start()
        try:
            for _ in range(100):  # bounded: wait until her work is under way
                if seen:
                    break
                time.sleep(0.1)
            alice = self.login(0, name="alice", password=PASSWORDS["alice"], type="CU",
                               timeout=60)
            signatures = []
            for _ in range(10):
                started = time.monotonic()
                status, _ = alice.call("sign", handle=handle, mechanism="ecdsa-sha256",
                                       data="00" * 32)
                self.assertEqual(status, "RET_OK")
                signatures.append(time.monotonic() - started)
            started = time.monotonic()
            self.login(0, timeout=60)
            login = time.monotonic() - started
            print(f"\nunder 8 RSA-4096 generation loops: alice's ECDSA signature "
                  f"max {max(signatures):.3f} s, median {sorted(signatures)[5]:.3f} s; "
                  f"officer login {login:.3f} s", file=sys.stderr)
            # Her first answer, however long a loaded machine takes to make
            # an RSA-4096 key (bounded): then what she got can be judged.
            for _ in range(1800):
                if seen:
                    break
                time.sleep(0.1)
        finally:
            stop.set()
            for w in loops:  # her work in flight is not waited for
                w.close()
            for t in w_timeout:
                t.join(timeout=120)
        self.assertTrue(seen)
        self.assertLessEqual(set(seen), {"RET_OK", "RET_BUSY"})

    def test_an_officer_revokes_a_user_who_stays_connected(self):
        """Finding 7: mallory stays logged in everywhere; an officer resets
        her password: her sessions end on every node and her old password no
        longer logs in (a crypto user's password rotates under its sessions,
        issue 28 item 8; -revoke says so explicitly). Without -revoke she is
        not deleted while she is logged in (CMU's rule)."""
        PASSWORDS["eve"] = "eve-pass-01"
        r = self.c.shell(input=LOGIN + "createUser CU eve eve-pass-01\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        eve = [self.wire(i, "eve") for i in range(3)]
        r = self.c.shell(input=LOGIN + "deleteUser CU eve\ny\n")
        self.assertIn("RET_USER_LOGGED_IN", r.stdout)
        r = self.c.shell(input=LOGIN + "changePswd CU eve new-pass-01 -revoke\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for i in range(3):
            self.assertIn(f"changePswd success on {self.c.label(i)}", r.stdout)
        for w in eve:
            status, _ = w.call("list_keys")
            self.assertEqual(status, "RET_NOT_LOGGED_IN")
            self.assertEqual(w.call("login", type="CU", name="eve",
                                    password="eve-pass-01")[0], "RET_USER_LOGIN_FAILURE")
        # Revocation is an officer's: a crypto user cannot end another's sessions.
        alice = self.wire(0, "alice")
        status, _ = alice.call("delete_user", type="CU", name="mallory", revoke=True)
        self.assertNotEqual(status, "RET_OK")

    def ids(self):
        doc = json.loads(self.c.shell("--json", input="listUsers\n").stdout.splitlines()[-1])
        return {u["name"]: u["id"] for u in doc["servers"][0]["users"]}


if __name__ == "__main__":
    unittest.main(verbosity=2)
