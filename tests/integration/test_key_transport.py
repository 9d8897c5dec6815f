# SPDX-License-Identifier: Apache-2.0
"""Keys that move (issue 31) on three real nodes, over the wire protocol:
a key wrapped by its owner and unwrapped into a new key signs alike; and
the wrap policy against the Tookan attacks, replayed as an attacker who
owns every key involved would run them. Each test asserts what that user
sees: the key material never reaches her in the clear."""
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from p11_tools import MODULE, sanitizer_runtimes, tool_env  # noqa: E402

# A sanitized module runs in this (unsanitized) interpreter with its runtime preloaded.
if sanitizer_runtimes() and "LD_PRELOAD" not in os.environ:
    os.execve(sys.executable, [sys.executable, *sys.argv], tool_env(dict(os.environ)))

from cluster import LOGIN, Cluster, ClusterTestCase  # noqa: E402

try:
    import PyKCS11
    from PyKCS11.LowLevel import (CKA_CLASS, CKA_EXTRACTABLE, CKA_KEY_TYPE, CKA_LABEL, CKA_LOCAL,
                                  CKA_MODULUS, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT, CKA_SIGN,
                                  CKA_TOKEN, CKA_UNWRAP, CKA_VALUE, CKA_VERIFY, CKA_WRAP,
                                  CKF_RW_SESSION, CKF_SERIAL_SESSION, CKK_AES, CKK_GENERIC_SECRET,
                                  CKK_RSA, CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_SHA256_HMAC,
                                  CKM_SHA256_RSA_PKCS, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY,
                                  CKO_SECRET_KEY)
except ImportError:
    PyKCS11 = None

PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pass-1"}
DATA = b"the data a crypto user signs".hex()
KEK = {"wrap": True, "unwrap": True, "encrypt": False, "decrypt": False}
SET = {"label": 3, "trusted": 134, "encrypt": 260, "decrypt": 261, "wrap": 262, "unwrap": 263,
       "extractable": 354}


class KeyTransportTests(ClusterTestCase):
    CLUSTER = {"peers": True}
    ACTIVATE = True
    USERS = [("CU", name, password) for name, password in PASSWORDS.items()]
    SHARED = True

    def setUp(self):
        super().setUp()
        self.nodes = {u: [self.login(i, name=u, password=p, type="CU") for i in range(3)]
                      for u, p in PASSWORDS.items()}

    def insert(self, user, keys):
        """Prepares and commits the insertion of sealed keys on every node."""
        txid = uuid.uuid4().hex
        nodes = self.nodes[user]
        for w in nodes:
            self.assertEqual(w.call("prepare", txid=txid, change="insert_keys", keys=keys)[0],
                             "RET_OK")
        for w in nodes:
            self.assertEqual(w.call("commit", txid=txid)[0], "RET_OK")
        return [k["handle"] for k in keys]

    def make(self, user, spec, **attributes):
        status, f = self.nodes[user][0].call("generate_key", spec=spec, attributes=attributes)
        self.assertEqual(status, "RET_OK", f)
        return self.insert(user, f["keys"])[0]

    def set_attribute(self, user, handle, name, value):
        """The owner's attribute change, prepared and committed everywhere."""
        txid = uuid.uuid4().hex
        answers = [w.call("prepare", txid=txid, change="set_attribute", handle=handle,
                          attribute=SET[name], value=value)[0] for w in self.nodes[user]]
        for w in self.nodes[user]:
            w.call("commit" if answers == ["RET_OK"] * 3 else "abort", txid=txid)
        return answers[0]

    def wrap(self, user, kek, key, mechanism="aes-key-wrap-pad", node=0):
        return self.nodes[user][node].call("wrap_key", handle=kek, key=key, mechanism=mechanism)

    def unwrap(self, user, kek, blob, node=1, mechanism="aes-key-wrap-pad", **template):
        fields = {"class": "secret", "type": "generic_secret", "label": "copy",
                  "attributes": {"sign": True, "verify": True}}
        fields.update(template)
        return self.nodes[user][node].call("unwrap_key", handle=kek, mechanism=mechanism,
                                           data=blob, **fields)

    def test_a_wrapped_key_unwraps_into_a_key_that_signs_alike(self):
        kek = self.make("alice", "aes:256", **KEK)
        mac_key = self.make("alice", "hmac:256", extractable=True)
        for mechanism in ("aes-key-wrap", "aes-key-wrap-pad", "aes-gcm"):
            status, f = self.wrap("alice", kek, mac_key, mechanism)
            self.assertEqual(status, "RET_OK", mechanism)
            self.assertGreaterEqual(len(f["data"]), 2 * 40)
            status, g = self.unwrap("alice", kek, f["data"], mechanism=mechanism)
            self.assertEqual(status, "RET_OK", g)
            copy = self.insert("alice", g["keys"])[0]
            macs = [self.nodes["alice"][i].call("sign", handle=h, mechanism="hmac-sha256",
                                                data=DATA)
                    for i, h in ((0, mac_key), (2, copy))]
            self.assertEqual(macs[0][0], "RET_OK")
            self.assertEqual(macs[0], macs[1])
            status, k = self.nodes["alice"][2].call("get_key", handle=copy)
            flags = k["flags"]
            self.assertEqual((flags["local"], flags["always_sensitive"],
                              flags["never_extractable"], flags["extractable"],
                              flags["sensitive"]), (False, False, False, False, True))
        # A tampered blob is no key.
        status, f = self.wrap("alice", kek, mac_key)
        tampered = f["data"][:-2] + ("00" if f["data"][-2:] != "00" else "01")
        self.assertEqual(self.unwrap("alice", kek, tampered)[0], "RET_WRAPPED_KEY_INVALID")

    def test_private_keys_travel_as_pkcs8(self):
        kek = self.make("alice", "aes:128", **KEK)
        private = self.make("alice", "ec:p256", extractable=True)
        status, f = self.wrap("alice", kek, private)
        self.assertEqual(status, "RET_OK", f)
        status, g = self.unwrap("alice", kek, f["data"], **{"class": "private", "type": "ec",
                                                            "attributes": {"sign": True}})
        self.assertEqual(status, "RET_OK", g)
        copy = self.insert("alice", g["keys"])[0]
        _, original = self.nodes["alice"][0].call("get_key", handle=private)
        _, unwrapped = self.nodes["alice"][0].call("get_key", handle=copy)
        self.assertEqual(original["public"], unwrapped["public"])

    def test_only_an_extractable_key_leaves_and_only_its_owner_takes_it(self):
        kek = self.make("alice", "aes:256", **KEK)
        kept = self.make("alice", "hmac:256")
        self.assertEqual(self.wrap("alice", kek, kept)[0], "RET_KEY_UNEXTRACTABLE")
        # Extractable only ever becomes stricter.
        key = self.make("alice", "aes:128", extractable=True)
        self.assertEqual(self.set_attribute("alice", key, "extractable", "0"), "RET_OK")
        self.assertEqual(self.set_attribute("alice", key, "extractable", "1"),
                         "RET_ATTRIBUTE_READ_ONLY")
        self.assertEqual(self.wrap("alice", kek, key)[0], "RET_KEY_UNEXTRACTABLE")
        # Bob may use a key shared with him, not carry it away under his own key.
        shared = self.make("alice", "hmac:256", extractable=True)
        bobs_kek = self.make("bob", "aes:256", **KEK)
        txid = uuid.uuid4().hex
        ids = [w.call("list_users")[1] for w in self.nodes["alice"]]
        bob_ids = [next(u["id"] for u in i["users"] if u["name"] == "bob") for i in ids]
        for w, bob_id in zip(self.nodes["alice"], bob_ids):
            self.assertEqual(w.call("prepare", txid=txid, change="share_key", handle=shared,
                                    share=True, users=[bob_id])[0], "RET_OK")
        for w in self.nodes["alice"]:
            self.assertEqual(w.call("commit", txid=txid)[0], "RET_OK")
        self.assertEqual(self.nodes["bob"][0].call("sign", handle=shared,
                                                   mechanism="hmac-sha256", data=DATA)[0],
                         "RET_OK")
        self.assertEqual(self.wrap("bob", bobs_kek, shared)[0], "RET_KEY_NOT_WRAPPABLE")
        # Wrapped with trusted keys only: no key is trusted but by an officer.
        guarded = self.make("alice", "hmac:256", extractable=True, wrap_with_trusted=True)
        self.assertEqual(self.wrap("alice", kek, guarded)[0], "RET_KEY_NOT_WRAPPABLE")
        self.assertEqual(self.set_attribute("alice", kek, "trusted", "1"),
                         "RET_ATTRIBUTE_READ_ONLY")
        # The officer trusts the key-encryption key from the shell (CKA_TRUSTED,
        # 134) and changes nothing else of it.
        r = self.c.shell(input=LOGIN + f"setAttribute {kek} 134 1\ny\n"
                                       f"setAttribute {kek} 3 officers\ny\n")
        self.assertEqual(r.stdout.count("setAttribute success on"), 3, r.stdout)
        self.assertEqual(len(re.findall(r"setAttribute failed on .*: RET_PERMISSION_DENIED",
                                        r.stdout)), 3, r.stdout)
        self.assertEqual(r.returncode, 1)
        for node in range(3):
            self.assertEqual(self.wrap("alice", kek, guarded, node=node)[0], "RET_OK")
        # Nor does the officer's trust reach a key that does not wrap.
        r = self.c.shell(input=LOGIN + f"setAttribute {guarded} 134 1\ny\n")
        self.assertEqual(len(re.findall(r"failed on .*: RET_KEY_FUNCTION_NOT_PERMITTED",
                                        r.stdout)), 3, r.stdout)
        # Its owner may not take the trust back (she could then unwrap what
        # left under trust into a key that no longer asks for it); the officer may.
        self.assertEqual(self.set_attribute("alice", kek, "trusted", "0"),
                         "RET_ATTRIBUTE_READ_ONLY")
        r = self.c.shell(input=LOGIN + f"setAttribute {kek} 134 0\ny\n")
        self.assertEqual(r.stdout.count("setAttribute success on"), 3, r.stdout)
        self.assertEqual(self.wrap("alice", kek, guarded)[0], "RET_KEY_NOT_WRAPPABLE")

    def test_the_tookan_attacks_are_refused(self):
        # 1. Wrap, then decrypt the blob with the wrapping key: no key wraps
        # and decrypts, nor unwraps and encrypts (2: encrypt a key chosen,
        # then unwrap it), made so or changed so, at once or in turns.
        for flags in ({"wrap": True, "decrypt": True}, {"unwrap": True, "encrypt": True},
                      {"wrap": True, "encrypt": True}, {"unwrap": True, "decrypt": True}):
            status, _ = self.nodes["alice"][0].call("generate_key", spec="aes:256",
                                                    attributes=flags)
            self.assertEqual(status, "RET_ATTRIBUTE_INVALID", flags)
        kek = self.make("alice", "aes:256", **KEK)
        for name in ("encrypt", "decrypt"):
            self.assertEqual(self.set_attribute("alice", kek, name, "1"),
                             "RET_ATTRIBUTE_READ_ONLY")
        # 4. Attributes changed between operations: wrap turned off, then a
        # cipher turned on, is still refused (cipher and wrap uses only narrow).
        self.assertEqual(self.set_attribute("alice", kek, "wrap", "0"), "RET_OK")
        self.assertEqual(self.set_attribute("alice", kek, "unwrap", "0"), "RET_OK")
        self.assertEqual(self.set_attribute("alice", kek, "decrypt", "1"),
                         "RET_ATTRIBUTE_READ_ONLY")
        self.assertEqual(self.set_attribute("alice", kek, "wrap", "1"),
                         "RET_ATTRIBUTE_READ_ONLY")
        # A cipher key does not wrap: its blob would decrypt under it.
        cipher = self.make("alice", "aes:256")
        key = self.make("alice", "hmac:256", extractable=True)
        for mechanism in ("aes-key-wrap-pad", "aes-gcm"):
            self.assertEqual(self.wrap("alice", cipher, key, mechanism)[0],
                             "RET_KEY_FUNCTION_NOT_PERMITTED")
        # 3. Re-import with weaker attributes: what a key unwraps comes in
        # as no more than an imported key (not local, never trusted).
        kek = self.make("alice", "aes:256", **KEK)
        status, f = self.wrap("alice", kek, key)
        self.assertEqual(status, "RET_OK")
        for claim in ({"local": True}, {"never_extractable": True}, {"trusted": True},
                      {"always_sensitive": True}, {"sign": True, "sensitive": False}):
            status, _ = self.unwrap("alice", kek, f["data"], attributes=claim)
            self.assertEqual(status, "RET_ATTRIBUTE_INVALID", claim)

    def test_an_old_copy_never_undoes_a_narrowing(self):
        """Red team (session 20): a share on one node alone put that node's
        version ahead; its copy, taken before extractable was turned off,
        synced onto another node made the key extractable there again."""
        alice = self.nodes["alice"]
        key = self.make("alice", "aes:256", extractable=True)
        bob = [next(u["id"] for u in w.call("list_users")[1]["users"] if u["name"] == "bob")
               for w in alice]
        for share in (True, False):
            txid = uuid.uuid4().hex
            self.assertEqual(alice[0].call("prepare", txid=txid, change="share_key", handle=key,
                                           share=share, users=[bob[0]])[0], "RET_OK")
            self.assertEqual(alice[0].call("commit", txid=txid)[0], "RET_OK")
        status, copy = alice[0].call("get_sealed_key", handle=key)
        self.assertEqual(status, "RET_OK")
        self.assertEqual(self.set_attribute("alice", key, "extractable", "0"), "RET_OK")
        txid = uuid.uuid4().hex
        self.assertEqual(alice[1].call("prepare", txid=txid, change="sync_key",
                                       keys=copy["keys"])[0], "RET_ATTRIBUTE_READ_ONLY")
        flags = [w.call("get_key", handle=key)[1]["flags"]["extractable"] for w in alice]
        self.assertEqual(flags, [False, False, False])

    def test_a_key_encryption_key_is_its_owners_alone(self):
        """Red team (session 20): bob, with alice's key-encryption key shared,
        unwrapped her blobs into extractable keys of his own."""
        kek = self.make("alice", "aes:256", **KEK)
        key = self.make("alice", "hmac:256", extractable=True)
        status, f = self.wrap("alice", kek, key)
        self.assertEqual(status, "RET_OK")
        alice = self.nodes["alice"]
        bob = [next(u["id"] for u in w.call("list_users")[1]["users"] if u["name"] == "bob")
               for w in alice]
        txid = uuid.uuid4().hex
        for w, bob_id in zip(alice, bob):
            self.assertEqual(w.call("prepare", txid=txid, change="share_key", handle=kek,
                                    share=True, users=[bob_id])[0], "RET_OK")
        for w in alice:
            self.assertEqual(w.call("commit", txid=txid)[0], "RET_OK")
        self.assertEqual(self.unwrap("bob", kek, f["data"], attributes={"extractable": True})[0],
                         "RET_KEY_FUNCTION_NOT_PERMITTED")
        bobs = self.make("bob", "hmac:256", extractable=True)
        self.assertEqual(self.wrap("bob", kek, bobs)[0], "RET_KEY_FUNCTION_NOT_PERMITTED")

    def openssl_wrap(self, kek, data, decrypt=False):
        return subprocess.run(["openssl", "enc", "-id-aes256-wrap-pad", "-K", kek.hex(),
                               "-iv", "A65959A6", *(["-d"] if decrypt else [])], input=data,
                              check=True, capture_output=True).stdout

    @unittest.skipIf(PyKCS11 is None, "python3-pykcs11 is not installed")
    def test_the_shell_wraps_what_openssl_unwraps_and_the_reverse(self):
        # The KEK's value is known to openssl: brought in through the module.
        os.environ["HSMSH_CONFIG"] = self.c.write_config()
        lib = PyKCS11.PyKCS11Lib()
        lib.load(MODULE)
        self.addCleanup(lib.lib.Unload)
        s = lib.openSession(lib.getSlotList(tokenPresent=True)[0],
                            CKF_SERIAL_SESSION | CKF_RW_SESSION)
        self.addCleanup(s.closeSession)
        s.login(f"alice:{PASSWORDS['alice']}")
        kek_value, value = os.urandom(32), os.urandom(32)
        kek = s.createObject([(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES),
                              (CKA_TOKEN, True), (CKA_VALUE, kek_value), (CKA_WRAP, True),
                              (CKA_UNWRAP, True)])
        key = s.createObject([(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_GENERIC_SECRET),
                              (CKA_TOKEN, True), (CKA_VALUE, value), (CKA_SIGN, True),
                              (CKA_EXTRACTABLE, True)])
        login = f"loginHSM CU alice {PASSWORDS['alice']}\n"
        wrapped = self.c.path("key.kwp")
        r = self.c.shell(input=login + f"wrapKey {key.value()} {kek.value()} aes-key-wrap-pad "
                                       f"{wrapped}\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(os.stat(wrapped).st_mode & 0o777, 0o600)
        with open(wrapped, "rb") as f:
            self.assertEqual(self.openssl_wrap(kek_value, f.read(), decrypt=True), value)
        # The reverse: openssl wraps a key of its own; the shell brings it in.
        theirs = os.urandom(32)
        with open(wrapped, "wb") as f:
            f.write(self.openssl_wrap(kek_value, theirs))
        r = self.c.shell(input=login + f"unwrapKey {kek.value()} aes-key-wrap-pad {wrapped} "
                                       "hmac from-openssl\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        handle = int(re.findall(r"secret key handle (\d+)", r.stdout)[-1])
        found = s.findObjects([(CKA_LABEL, "from-openssl")])
        self.assertEqual([h.value() for h in found], [handle])
        mac = bytes(s.sign(found[0], b"data", PyKCS11.Mechanism(CKM_SHA256_HMAC, None)))
        self.assertEqual(mac, hmac.new(theirs, b"data", hashlib.sha256).digest())
        # A key that may not leave, and a spoiled file, are refused by name.
        r = self.c.shell(input=login + f"wrapKey {kek.value()} {kek.value()} aes-key-wrap-pad "
                                       f"{wrapped}\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("RET_KEY_UNEXTRACTABLE", r.stdout + r.stderr)
        with open(wrapped, "wb") as f:
            f.write(bytes(40))
        r = self.c.shell(input=login + f"unwrapKey {kek.value()} aes-key-wrap-pad {wrapped} aes\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("RET_WRAPPED_KEY_INVALID", r.stdout + r.stderr)


@unittest.skipUnless(PyKCS11, "PyKCS11 (python3-pykcs11) is not installed")
class TwoClusters(ClusterTestCase):
    """Issue 31's backups and transport: a key wrapped in one cluster is
    unwrapped in another, through the module (one slot per cluster), and
    signs there byte for byte as it did at home."""

    CLUSTER = {"peers": True}
    ACTIVATE = True
    USERS = (("CU", "alice", PASSWORDS["alice"]),)
    SHARED = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        other = Cluster(nodes=1, cluster_id="cluster-two")
        cls.addClassCleanup(other.stop)
        other.activate()
        r = other.shell(input=LOGIN + "createUser CU carol carol-pw-12\ny\n")
        assert r.returncode == 0, r.stdout + r.stderr
        config = cls.c.write_config()
        with open(config) as f:
            doc = json.load(f)
        with open(other.write_config()) as f:
            theirs = json.load(f)["clusters"][0]
        for field in ("hsm_ca_cert", "client_cert", "client_key"):
            theirs[field] = other.path(theirs[field])
        doc["clusters"].append(theirs)
        with open(config, "w") as f:
            json.dump(doc, f)
        cls.config = config

    def session(self, lib, token, pin):
        slot = next(s for s in lib.getSlotList(tokenPresent=True)
                    if lib.getTokenInfo(s).label.strip() == token)
        s = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        self.addCleanup(s.closeSession)
        s.login(pin)
        return s

    def test_a_key_wrapped_in_one_cluster_signs_alike_in_another(self):
        os.environ["HSMSH_CONFIG"] = self.config
        lib = PyKCS11.PyKCS11Lib()
        lib.load(MODULE)
        self.addCleanup(lib.lib.Unload)
        home = self.session(lib, self.c.cluster_id, f"alice:{PASSWORDS['alice']}")
        away = self.session(lib, "cluster-two", "carol:carol-pw-12")
        # The transport key: the same value brought into both clusters.
        kek_value = os.urandom(32)
        keks = [s.createObject([(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES),
                                (CKA_TOKEN, True), (CKA_VALUE, kek_value), (CKA_WRAP, True),
                                (CKA_UNWRAP, True), (CKA_LABEL, "transport")])
                for s in (home, away)]
        public, private = home.generateKeyPair(
            [(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_KEY_TYPE, CKK_RSA), (CKA_TOKEN, True),
             (CKA_VERIFY, True), (CKA_MODULUS_BITS, 2048),
             (CKA_PUBLIC_EXPONENT, (0x01, 0x00, 0x01)), (CKA_LABEL, "travels")],
            [(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_KEY_TYPE, CKK_RSA), (CKA_TOKEN, True),
             (CKA_SIGN, True), (CKA_EXTRACTABLE, True), (CKA_LABEL, "travels")],
            mecha=PyKCS11.Mechanism(CKM_RSA_PKCS_KEY_PAIR_GEN, None))
        # RFC 5649: a PKCS#8 RSA key is no multiple of 8 bytes.
        kwp = PyKCS11.Mechanism(0x210B, None)
        blob = bytes(home.wrapKey(keks[0], private, kwp))
        copy = away.unwrapKey(keks[1], blob, [(CKA_CLASS, CKO_PRIVATE_KEY),
                                              (CKA_KEY_TYPE, CKK_RSA), (CKA_TOKEN, True),
                                              (CKA_SIGN, True), (CKA_LABEL, "arrived")], kwp)
        self.assertEqual(bytes(away.getAttributeValue(copy, [CKA_MODULUS])[0]),
                         bytes(home.getAttributeValue(public, [CKA_MODULUS])[0]))
        # PKCS#1 v1.5 signatures are deterministic: the same key signs the same bytes.
        pkcs1 = PyKCS11.Mechanism(CKM_SHA256_RSA_PKCS, None)
        data = b"signed in two clusters"
        signature = bytes(away.sign(copy, data, pkcs1))
        self.assertEqual(signature, bytes(home.sign(private, data, pkcs1)))
        self.assertTrue(home.verify(public, data, signature, pkcs1))
        # What arrived stays in its new cluster: not extractable, and not local.
        self.assertEqual(list(away.getAttributeValue(copy, [CKA_EXTRACTABLE, CKA_LOCAL])),
                         [False, False])
        self.assertEqual(len(home.findObjects([(CKA_LABEL, "arrived")])), 0)

if __name__ == "__main__":
    unittest.main(verbosity=2)
