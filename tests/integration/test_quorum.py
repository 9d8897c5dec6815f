# SPDX-License-Identifier: Apache-2.0
"""Quorum keys on three real nodes, made and signed with the openssl command
line only: an officer registers its own RSA-2048 key with CMU's
registerQuorumPubKey, every node shows MofnPubKey YES, and every refusal (a
signature by another key, a key that is not RSA-2048, another officer's
key replayed, another officer's account, a crypto user) leaves every node
as it was."""
import json
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import LOGIN, QuorumKeys, openssl  # noqa: E402

OFFICER2 = "loginHSM CO officer2 officer-pw2\n"


class QuorumKeyTests(QuorumKeys):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The officers' keys, a registration token and its signatures: what
        # CloudHSM's guide has an officer run.
        for name, bits in (("admin", 2048), ("officer2", 2048), ("officer3", 2048),
                           ("big", 3072)):
            cls.make_key(name, bits)
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", cls.path("ec.key"))
        openssl("ec", "-in", cls.path("ec.key"), "-pubout", "-out", cls.path("ec.pub"))
        with open(cls.path("token"), "w") as f:
            f.write("token to be signed\n")
        for name in ("admin", "officer2", "officer3", "big"):
            cls.sign(name, "token", f"token.{name}.sig")

    def register(self, login, user, signature, public_key, *args, token="token"):
        line = (f"registerQuorumPubKey CO {user} {self.path(token)} {self.path(signature)} "
                f"{self.path(public_key)}\ny\n")
        return self.c.shell(*args, input=login + line)

    def mofn(self):
        """Each server's MofnPubKey column, by user name."""
        r = self.c.shell("--json", input="listUsers\n")
        doc = json.loads(r.stdout.splitlines()[-1])
        return [{u["name"]: u["mofn"] for u in s["users"]} for s in doc["servers"]]

    def assert_registered(self, *names):
        for server in self.mofn():
            self.assertEqual(sorted(n for n, yes in server.items() if yes), sorted(names))

    def test_1_an_officer_registers_its_own_key_on_every_node(self):
        r = self.register(LOGIN, "admin", "token.admin.sig", "admin.pub")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for i in range(3):
            self.assertIn(f"registerQuorumPubKey success on {self.c.label(i)}", r.stdout)
        self.assert_registered("admin")
        r = self.c.shell(input="listUsers\n")
        self.assertRegex(r.stdout, r"CO\s+admin\s+YES\s+0\s+NO")
        self.assertRegex(r.stdout, r"CO\s+officer2\s+NO\s+0\s+NO")

    def test_2_refusals_change_nothing_anywhere(self):
        cases = [
            # A signature by another key proves nothing of this one.
            ("token.officer3.sig", "officer2.pub", "RET_SIGNATURE_INVALID"),
            # Only RSA-2048 keys: not 3072 bits, not EC.
            ("token.officer2.sig", "big.pub", "RET_QUORUM_KEY_INVALID"),
            ("token.officer2.sig", "ec.pub", "RET_QUORUM_KEY_INVALID"),
        ]
        for signature, key, code in cases:
            with self.subTest(key=key):
                r = self.register(OFFICER2, "officer2", signature, key)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                for i in range(3):
                    self.assertIn(f"registerQuorumPubKey failed on {self.c.label(i)}: {code}",
                                  r.stdout)
                self.assertIn("No server was changed", r.stdout)
        # A registration replayed by another officer: admin's key, token and
        # signature (anyone who saw them has them) do not make admin's key
        # officer2's, which would let one signature approve twice.
        r = self.register(OFFICER2, "officer2", "token.admin.sig", "admin.pub")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        for i in range(3):
            self.assertIn(f"registerQuorumPubKey failed on {self.c.label(i)}: "
                          "RET_QUORUM_KEY_IN_USE", r.stdout)
        # A signed token that is not the token.
        with open(self.path("other-token"), "w") as f:
            f.write("another token\n")
        r = self.register(OFFICER2, "officer2", "token.officer2.sig", "officer2.pub",
                          token="other-token")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("RET_SIGNATURE_INVALID", r.stdout)
        self.assertNotIn("officer2", [n for s in self.mofn() for n, yes in s.items() if yes])

    def test_3_no_officer_registers_a_key_for_another_and_no_crypto_user_does(self):
        r = self.register(LOGIN, "officer2", "token.admin.sig", "admin.pub")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("RET_PERMISSION_DENIED", r.stdout)
        self.assertIn("Nothing was sent or changed", r.stdout)
        # Past the shell, the nodes refuse it too.
        w = self.login(0)
        with open(self.path("admin.pub")) as f:
            pem = f.read()
        der = openssl_der(pem, self.path)
        with open(self.path("token"), "rb") as f:
            token = f.read()
        with open(self.path("token.admin.sig"), "rb") as f:
            sig = f.read()
        status, _ = w.call("register_quorum_key", type="CO", name="officer2",
                           quorum_key=der.hex(), token=token.hex(), signature=sig.hex())
        self.assertEqual(status, "RET_PERMISSION_DENIED")
        r = self.c.shell(input="loginHSM CU app app-pass-1\n"
                         "registerQuorumPubKey CO app x y z\ny\n")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)  # app is no officer: usage
        self.assert_registered("admin")

    def test_4_bad_files_are_usage_errors_before_anything_is_sent(self):
        with open(self.path("short.sig"), "wb") as f:
            f.write(b"\x01" * 100)
        with open(self.path("not-a-key.pub"), "w") as f:
            f.write("not a key\n")
        with open(self.path("long-token"), "w") as f:
            f.write("x" * 246)
        cases = [("token", "short.sig", "officer2.pub", "100 bytes, not the 256"),
                 ("token", "token.officer2.sig", "not-a-key.pub", "not a PEM public key"),
                 ("token", "token.officer2.sig", "missing.pub", "public key:"),
                 ("long-token", "token.officer2.sig", "officer2.pub", "registration token:")]
        for token, sig, key, message in cases:
            with self.subTest(sig=sig, key=key, token=token):
                r = self.register(OFFICER2, "officer2", sig, key, token=token)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn(message, r.stderr)
                self.assertNotIn("CAUTION", r.stdout + r.stderr)

    def test_5_a_registration_keeps_the_officer_logged_in_elsewhere(self):
        w = self.c.wire_client(1)
        self.addCleanup(w.close)
        self.assertEqual(w.call("login", type="CO", name="officer3", password="officer-pw3")[0],
                         "RET_OK")
        r = self.register("loginHSM CO officer3 officer-pw3\n", "officer3", "token.officer3.sig",
                          "officer3.pub")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Not a credential: the other session goes on.
        self.assertEqual(w.call("list_prepared")[0], "RET_OK")
        self.assertIn("officer3", [n for n, yes in self.mofn()[0].items() if yes])

    def test_6_a_node_left_behind_gets_the_key_from_syncUser(self):
        self.c.signal(2, signal.SIGSTOP)
        try:
            r = self.register(OFFICER2, "officer2", "token.officer2.sig", "officer2.pub",
                              "--timeout", "2", "--connect-timeout", "2", "--keep-going",
                              "--allow-partial")
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        finally:
            self.c.signal(2, signal.SIGCONT)
        servers = self.mofn()
        self.assertTrue(servers[0]["officer2"])
        self.assertFalse(servers[2]["officer2"])
        r = self.c.shell(input="listUsers\n")
        self.assertIn("differ", r.stdout + r.stderr)
        r = self.c.shell(input=LOGIN + "syncUser officer2 --all\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(all(s["officer2"] for s in self.mofn()))


def openssl_der(pem, path):
    """The PEM public key as DER, by openssl."""
    with open(path("tmp.pub"), "w") as f:
        f.write(pem)
    openssl("pkey", "-pubin", "-in", path("tmp.pub"), "-outform", "DER", "-out", path("tmp.der"))
    with open(path("tmp.der"), "rb") as f:
        return f.read()


if __name__ == "__main__":
    unittest.main(verbosity=2)
