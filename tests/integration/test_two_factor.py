# SPDX-License-Identifier: Apache-2.0
"""Two-factor login on three real nodes: the authdata file hsmsh writes is
signed by the openssl command line (pkeyutl over each decoded Digest) and
filled in by Python's json module; logins go through a pseudo-terminal and
through standard input. Turning 2FA on (changePswd, createUser), a login
that needs it, every way the second step fails, and turning it off."""
import base64
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import HSMSH, LOGIN, QuorumKeys, Session, Terminal  # noqa: E402



class TwoFactorTests(QuorumKeys):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for name in ("officer2", "officer3", "officer4", "stranger"):
            cls.make_key(name)

    def sign_authdata(self, path, key, public_key=None, digest_of=None, rewrite=False):
        """Signs every Digest of the authdata file with `key` as CloudHSM's
        guide says (openssl pkeyutl -pkeyopt digest:sha256 over the decoded
        digest) and adds `public_key`'s PEM when given."""
        with open(path) as f:
            doc = json.load(f)
        self.assertEqual(doc["Version"], "1.0")
        self.assertEqual(len(doc["Data"]), 3)
        for entry in doc["Data"]:
            digest = base64.b64decode(digest_of or entry["Digest"])
            self.assertEqual(len(digest), 32)
            sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey",
                                  self.path(f"{key}.key"), "-pkeyopt", "digest:sha256"],
                                 input=digest, capture_output=True, check=True).stdout
            entry["Signature"] = base64.b64encode(sig).decode()
            if rewrite:
                entry["Digest"] = digest_of
        if public_key:
            with open(self.path(f"{public_key}.pub")) as f:
                doc["PublicKey"] = f.read()
        with open(path, "w") as f:
            json.dump(doc, f)

    def enroll(self, line, key, answers="y\n"):
        """Runs createUser/changePswd with -2fa as admin, signing the
        enrollment challenges with `key` and adding its public key."""
        authdata = self.path(f"enroll-{key}.json")
        if os.path.exists(authdata):
            os.unlink(authdata)
        s = Session(self.c)
        s.send(LOGIN + f"{line} -2fa {authdata}\n" + answers)
        s.wait_for(authdata)
        self.sign_authdata(authdata, key, public_key=key)
        s.send("\n")
        return s.close()

    def login_via_stdin(self, name, password, key, **sign):
        authdata = self.path(f"login-{name}.json")
        if os.path.exists(authdata):
            os.unlink(authdata)
        s = Session(self.c)
        s.send(f"loginHSM CO {name} {password} -2fa {authdata}\n")
        s.wait_for(authdata)
        self.sign_authdata(authdata, key, **sign)
        s.send("\nlistTokens\n")
        return s.close()

    def test_1_turned_on_by_changePswd(self):
        code, out, err = self.enroll("changePswd CO officer2 officer-pw2b", "officer2")
        self.assertEqual(code, 0, out + err)
        self.assertIn("Wrote 3 challenges to", err + out)
        for i in range(3):
            self.assertIn(f"changePswd success on {self.c.label(i)}", out)
        for server in self.c.users():
            self.assertTrue(server["officer2"]["two_fa"])
            self.assertTrue(server["officer2"]["mofn"])  # one key for 2FA and quorum
        r = self.c.shell(input="listUsers\n")
        self.assertRegex(r.stdout, r"CO\s+officer2\s+YES\s+0\s+YES")

    def test_2_password_alone_is_not_enough(self):
        r = self.c.shell(input="loginHSM CO officer2 officer-pw2b\n")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        for i in range(3):
            self.assertIn(f"loginHSM failed on {self.c.label(i)}: RET_2FA_REQUIRED", r.stdout)
        # A wrong password says nothing of 2FA.
        r = self.c.shell(input="loginHSM CO officer2 wrong-pass-1\n")
        self.assertIn("RET_USER_LOGIN_FAILURE", r.stdout)
        self.assertNotIn("2FA", r.stdout)
        # Not logged in: a command that needs a login is refused.
        r = self.c.shell(input="loginHSM CO officer2 officer-pw2b\ngetToken 3 officer2 "
                         f"{self.path('t')}\n")
        self.assertNotIn("getToken success", r.stdout)

    def test_3_login_at_a_terminal(self):
        authdata = self.path("pty-login.json")
        t = Terminal([HSMSH], self.c.env())
        try:
            t.expect(r"hsmsh> ")
            t.send(f"loginHSM CO officer2 -2fa {authdata}\r")
            t.expect("Enter password:")
            t.send("officer-pw2b\r")
            t.expect("Press Enter once the file is signed")
            self.sign_authdata(authdata, "officer2")
            t.send("\r")
            out = t.expect(r"hsmsh:officer2\(CO\)> ")
            for i in range(3):
                self.assertIn(f"loginHSM success on {self.c.label(i)}", out)
            t.send("quit\r")
        finally:
            t.close()
        self.assertEqual(os.stat(authdata).st_mode & 0o777, 0o600)

    def test_4_login_from_a_script(self):
        code, out, err = self.login_via_stdin("officer2", "officer-pw2b", "officer2")
        self.assertEqual(code, 0, out + err)
        for i in range(3):
            self.assertIn(f"loginHSM success on {self.c.label(i)}", out)
        self.assertIn("listTokens success", out)

    def test_5_wrong_key_counts_as_a_failed_login(self):
        before = [s["officer2"]["failures"] for s in self.c.users()]
        code, out, err = self.login_via_stdin("officer2", "officer-pw2b", "stranger")
        self.assertEqual(code, 1, out + err)
        for i in range(3):
            self.assertIn(f"loginHSM failed on {self.c.label(i)}: RET_USER_LOGIN_FAILURE", out)
        self.assertEqual([s["officer2"]["failures"] for s in self.c.users()],
                         [n + 1 for n in before])
        # The right key resets the count.
        code, out, err = self.login_via_stdin("officer2", "officer-pw2b", "officer2")
        self.assertEqual(code, 0, out + err)
        self.assertEqual([s["officer2"]["failures"] for s in self.c.users()], [0, 0, 0])

    def test_6_an_old_signature_or_a_changed_digest_does_not_pass(self):
        # A signature of another digest (another login's), with the right
        # key: the nodes refuse it, and count a failed login.
        old = base64.b64encode(b"\x01" * 32).decode()
        code, out, err = self.login_via_stdin("officer2", "officer-pw2b", "officer2",
                                              digest_of=old)
        self.assertEqual(code, 1, out + err)
        for i in range(3):
            self.assertIn(f"loginHSM failed on {self.c.label(i)}: RET_USER_LOGIN_FAILURE", out)
        # The Digest itself changed in the file: the shell sees that the file
        # no longer holds what it asked, and sends nothing.
        code, out, err = self.login_via_stdin("officer2", "officer-pw2b", "officer2",
                                              digest_of=old, rewrite=True)
        self.assertNotEqual(code, 0, out + err)
        self.assertIn("the Digest of HSM", err)
        self.assertIn("is not the one asked", err)
        self.assertNotIn("loginHSM success", out)

    def test_6b_a_rogue_node_relaying_the_login_gets_nothing(self):
        """Issue 26, finding 2: a rogue node in the officer's configuration
        (it holds the cluster certificate) relays his login to an honest
        node and his signature of the challenge back: the honest node
        refuses it, since the officer signed for the rogue's connection."""
        from relay_node import RelayNode
        relay = RelayNode(self.c.path("node0", "cluster.crt"), self.c.path("node0", "cluster.key"),
                          self.c.path("customerCA.crt"), self.c.path("client.crt"),
                          self.c.path("client.key"), self.c.ports[0])
        self.addCleanup(relay.stop)
        config = self.c.write_config([{"name": "rogue", "hostname": "127.0.0.1",
                                       "port": relay.port}], name="relay.json")
        authdata = self.path("relayed.json")
        p = subprocess.Popen([HSMSH, "--keep-going"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=self.c.env(HSMSH_CONFIG=config))
        p.stdin.write(f"loginHSM CO officer2 officer-pw2b -2fa {authdata}\n")
        p.stdin.flush()
        for _ in range(600):  # bounded: 30 s
            if os.path.exists(authdata) or p.poll() is not None:
                break
            time.sleep(0.05)
        with open(authdata) as f:
            doc = json.load(f)
        for entry in doc["Data"]:
            digest = base64.b64decode(entry["Digest"])
            sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey",
                                  self.path("officer2.key"), "-pkeyopt", "digest:sha256"],
                                 input=digest, capture_output=True, check=True).stdout
            entry["Signature"] = base64.b64encode(sig).decode()
        with open(authdata, "w") as f:
            json.dump(doc, f)
        out, err = p.communicate("\ncreateUser CO mole mole-pass-1\ny\n", timeout=60)
        self.assertNotIn("loginHSM success", out, out + err)
        self.assertIn("RET_USER_LOGIN_FAILURE", out)
        self.assertNotIn("createUser success", out)
        self.assertTrue(any(b'"login_2fa"' in body for body in relay.relayed))
        for server in self.c.users():
            self.assertNotIn("mole", server)
        # The wrong answer counted as a failed login; the right key resets it.
        code, out, err = self.login_via_stdin("officer2", "officer-pw2b", "officer2")
        self.assertEqual(code, 0, out + err)

    def test_7_a_2fa_key_changes_only_with_changePswd(self):
        with open(self.path("reg"), "w") as f:
            f.write("registration\n")
        self.sign("officer3", "reg", "reg.sig")
        authdata = self.path("login-reg.json")
        s = Session(self.c)
        s.send(f"loginHSM CO officer2 officer-pw2b -2fa {authdata}\n")
        s.wait_for(authdata)
        self.sign_authdata(authdata, "officer2")
        s.send(f"\nregisterQuorumPubKey CO officer2 {self.path('reg')} {self.path('reg.sig')} "
               f"{self.path('officer3.pub')}\ny\n")
        code, out, err = s.close()
        self.assertIn("RET_2FA_INVALID", out)
        for server in self.c.users():
            self.assertTrue(server["officer2"]["two_fa"])

    def test_8_createUser_with_2fa_and_a_key_in_use(self):
        code, out, err = self.enroll("createUser CO officer4 officer-pw4", "officer4")
        self.assertEqual(code, 0, out + err)
        for server in self.c.users():
            self.assertTrue(server["officer4"]["two_fa"])
        code, out, err = self.login_via_stdin("officer4", "officer-pw4", "officer4")
        self.assertEqual(code, 0, out + err)
        # officer2's key for officer3: one key, one officer.
        code, out, err = self.enroll("changePswd CO officer3 officer-pw3b", "officer2")
        self.assertEqual(code, 1, out + err)
        self.assertIn("RET_QUORUM_KEY_IN_USE", out)
        # Crypto users have no second factor.
        r = self.c.shell(input=LOGIN + f"createUser CU app2 app-pass-2 -2fa {self.path('x')}\n")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("only crypto officers", r.stderr)

    def test_9_changePswd_without_2fa_turns_it_off(self):
        r = self.c.shell(input=LOGIN + "changePswd CO officer2 officer-pw2c\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("turns it off and removes officer2's quorum key", r.stdout + r.stderr)
        for server in self.c.users():
            self.assertFalse(server["officer2"]["two_fa"])
            self.assertFalse(server["officer2"]["mofn"])
        r = self.c.shell(input="loginHSM CO officer2 officer-pw2c\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # -2fa for a user without 2FA: the password is enough, no file is asked for.
        r = self.c.shell(input=f"loginHSM CO officer3 officer-pw3 -2fa {self.path('none')}\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse(os.path.exists(self.path("none")))


    def help_example(self, command):
        r = self.c.shell(input=f"help {command}\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        example = [line[2:] for line in r.stdout.split("Example:\n")[1].splitlines()]
        return [line for line in example if line and not line.startswith("#")]

    def system(self, line):
        """A line of help's example, run in a system shell (officer5 as officer1)."""
        subprocess.run(["bash", "-c", line.replace("officer1", "officer5")], check=True,
                       cwd=self.path(""), timeout=60)

    def test_9b_the_examples_of_help_work_as_printed(self):
        sign = self.help_example("loginHSM")
        enroll = self.help_example("changePswd")
        self.assertEqual(len(sign), 1)
        self.assertEqual(len(enroll), 3)
        self.assertEqual(self.help_example("createUser"), enroll)
        authdata = self.path("authdata.json")
        for line in enroll[:2]:  # the key pair
            self.system(line)
        s = Session(self.c, cwd=self.path(""))
        s.send(LOGIN + "changePswd CO officer3 officer-pw3c -2fa authdata.json\ny\n")
        s.wait_for(authdata)
        self.system(sign[0])
        self.system(enroll[2])
        s.send("\n")
        code, out, err = s.close()
        self.assertEqual(code, 0, out + err)
        self.assertIn(f"changePswd success on {self.c.label(2)}", out)
        os.unlink(authdata)
        s = Session(self.c, cwd=self.path(""))
        s.send("loginHSM CO officer3 officer-pw3c -2fa authdata.json\n")
        s.wait_for(authdata)
        self.system(sign[0])
        s.send("\n")
        code, out, err = s.close()
        self.assertEqual(code, 0, out + err)
        for i in range(3):
            self.assertIn(f"loginHSM success on {self.c.label(i)}", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
