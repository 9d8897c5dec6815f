# SPDX-License-Identifier: Apache-2.0
"""Quorum (M of N) on three real nodes, every key, token signature and
approval file made by the openssl command line and a here-document: m values,
a protected command refused without a token and allowed once with one, and
every way a token fails (too few approvers, a signer without that key, a
tampered token file, a logout, another session, expiry)."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import HSMSH, LOGIN, QuorumKeys, Session, Terminal  # noqa: E402

OFFICERS = ("admin", "officer2", "officer3")


class QuorumTokenTests(QuorumKeys):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with open(cls.path("reg"), "w") as f:
            f.write("registration\n")
        for name in (*OFFICERS, "outsider"):
            cls.make_key(name)
            cls.sign(name, "reg", f"reg.{name}.sig")
        for i, name in enumerate(OFFICERS):
            r = cls.c.shell(input=f"loginHSM CO {name} officer-pw{i + 1}\n"
                            f"registerQuorumPubKey CO {name} {cls.path('reg')} "
                            f"{cls.path(f'reg.{name}.sig')} {cls.path(f'{name}.pub')}\ny\n")
            assert r.returncode == 0, r.stdout + r.stderr
        cls.files = 0

    def new_name(self, stem):
        type(self).files += 1
        return f"{stem}{self.files}"

    def approval_file(self, token, signers, names=None):
        """CMU's approval file for `token`, signed with each signer's key,
        each signature claimed by the matching name (default: the signer)."""
        names = names or signers
        lines = [f"Multi Token File Path = {self.path(token)};", "Token File Path = ;",
                 f"Number of Approvals = {len(signers)};"]
        for key, name in zip(signers, names):
            sig = f"{token}.{key}.sig"
            self.sign(key, token, sig)
            lines += ["Approver Type = 2; # 2 for CO, 1 for CU", f"Approver Name = {name};",
                      f"Approval File = {self.path(sig)};"]
        name = self.new_name("approval")
        with open(self.path(name), "w") as f:
            f.write("\n".join(lines) + "\n")
        return self.path(name)

    def get_token(self, s, service, user="admin"):
        token = self.new_name("token")
        s.send(f"getToken {service} {user} {self.path(token)}\n")
        s.wait_for(self.path(token))
        return token

    def m_values(self, service):
        r = self.c.shell(input=LOGIN + f"getMValue {service}\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return [int(line.rsplit("[", 1)[1].rstrip("]")) for line in r.stdout.splitlines()
                if line.startswith("MValue of service")]

    def assert_refused_before_the_banner(self, out, command, service, m=2):
        """The shell's one refusal of a change this login has no approved
        token for, with the next step (issue 28, item 4)."""
        name = {3: "USER_MGMT", 4: "MISC_CO"}[service]
        self.assertIn(f"{command} refused: RET_MXN_AUTH_FAILED: {name} (service {service}) "
                      f"needs {m} approvals on every server, and this login holds no approved "
                      "token for it. Nothing was sent or changed.\n"
                      f"  Next: getToken {service} admin FILE, {m} officers sign FILE, "
                      f"approveToken APPROVAL-FILE, then {command} again", out)
        self.assertNotIn(f"{command} failed on", out)

    def test_1_m_values_and_their_order(self):
        r = self.c.shell(input=LOGIN + "getMValue 3\ngetMValue 4\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for i in range(3):
            self.assertIn(f"MValue of service 3[USER_MGMT] on server {i} : [1]", r.stdout)
            self.assertIn(f"MValue of service 4[MISC_CO] on server {i} : [1]", r.stdout)
        # Service 3 may not ask more than service 4: one officer could lower it.
        r = self.c.shell(input=LOGIN + "setMValue 3 2\ny\n")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("Setting M Value(2) for 3 on 3 nodes", r.stdout)
        for i in range(3):
            self.assertIn(f"setMValue failed on {self.c.label(i)}: RET_M_VALUE_INVALID", r.stdout)
        # More than the officers, or out of range.
        r = self.c.shell(input=LOGIN + "setMValue 4 4\ny\n")
        self.assertIn("RET_M_VALUE_INVALID", r.stdout)
        for line in ("setMValue 4 9\n", "setMValue 5 2\n", "getMValue 2\n"):
            with self.subTest(line=line):
                r = self.c.shell(input=LOGIN + line)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertNotIn("CAUTION", r.stdout)
        # Service 4 first (no token while its m is 1), with CMU's banner and y/n.
        r = self.c.shell(input=LOGIN + "setMValue 4 2\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("CAUTION", r.stdout)
        for i in range(3):
            self.assertIn(f"setMValue success on {self.c.label(i)}", r.stdout)
        self.assertEqual(self.m_values(4), [2, 2, 2])
        self.assertEqual(self.m_values(3), [1, 1, 1])
        # The same for scripts, in JSON.
        r = self.c.shell("--json", input=LOGIN + "getMValue 4\nquorum status\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        m, status = [json.loads(line) for line in r.stdout.splitlines()[-2:]]
        self.assertEqual([s["result"]["m"] for s in m["servers"]], [2, 2, 2])
        self.assertTrue(status["agree"])
        self.assertEqual([(s["m"]["3"], s["m"]["4"], s["officers"], s["officers_with_keys"])
                          for s in status["servers"]], [(1, 2, 3, 3)] * 3)

    def test_2_service_3_needs_an_approved_service_4_token(self):
        s = Session(self.c)
        s.send(LOGIN + "setMValue 3 2\ny\n")
        token = self.get_token(s, 4)
        s.send(f"approveToken {self.approval_file(token, ['admin', 'officer2'])}\n"
               "setMValue 3 2\ny\n")
        rc, out, err = s.close()
        self.assertEqual(rc, 1, out + err)  # the first setMValue failed
        self.assert_refused_before_the_banner(out.split("getToken success")[0], "setMValue", 4)
        for i in range(3):
            self.assertIn(f"getToken success on {self.c.label(i)}", out)
            self.assertIn(f"approveToken success on {self.c.label(i)}", out)
            self.assertIn(f"setMValue success on {self.c.label(i)}", out)
        self.assertIn("Token:\nId:", out)
        self.assertIn("Service:4\n", out)
        self.assertIn("User:admin\n", out)
        with open(self.path(token), "rb") as f:
            self.assertEqual(len(f.read()), 3 * 80)  # one record per node
        self.assertEqual(self.m_values(3), [2, 2, 2])

    def test_3_a_protected_command_without_a_token_changes_nothing(self):
        r = self.c.shell("--keep-going", input=LOGIN + "createUser CU bob bob-pass-1\ny\n"
                         "changePswd CU app new-pass-1\ny\n")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assert_refused_before_the_banner(r.stdout, "createUser", 3)
        self.assert_refused_before_the_banner(r.stdout, "changePswd", 3)
        self.assertNotIn("CAUTION", r.stdout)
        self.assertTrue(all("bob" not in u for u in self.users()))
        # One's own password is no quorum matter.
        r = self.c.shell(input="loginHSM CO officer3 officer-pw3\n"
                         "changePswd CO officer3 officer-pw3\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_4_an_approved_token_allows_one_change(self):
        s = Session(self.c)
        s.send(LOGIN)
        token = self.get_token(s, 3)
        s.send(f"approveToken {self.approval_file(token, ['officer2', 'officer3'])}\n"
               "listTokens\nquorum status\n"
               "createUser CU bob bob-pass-1\ny\n"
               "createUser CU carol carol-pass-1\ny\n"
               "listTokens\n")
        rc, out, err = s.close()
        self.assertEqual(rc, 1, out + err)  # carol's
        self.assertIn("Required num of approvers : 2\nCurrent num of approvals : 2\n"
                      "Approver-0: officer2\nApprover-1: officer3\n", out)
        self.assertIn("Token Validity: ", out)
        for i in range(3):
            self.assertIn(f"createUser success on {self.c.label(i)}", out)
        self.assert_refused_before_the_banner(out, "createUser", 3)  # the token was spent
        self.assertEqual(out.count("Num of tokens = 1"), 3)
        self.assertEqual(out.count("Num of tokens = 0"), 3)
        self.assertIn("listTokens success", out)
        for i in range(3):
            self.assertIn(f"{self.c.label(i)}: USER_MGMT m=2, MISC_CO m=2; 3 officers, "
                          "3 with keys\n  token ", out)
        self.assertRegex(out, r"token \d+ \(USER_MGMT\): 2 of 2 approvals \(officer2, "
                              r"officer3\), expires in \d+ s")
        for users in self.users():
            self.assertIn("bob", users)
            self.assertNotIn("carol", users)

    def test_4b_one_signature_approves_one_token(self):
        """Issue 26, finding 3: a hostile officer puts several tokens (two of
        service 3, or one of each service) in one file and has it signed
        once: the nodes refuse the file, and m stays where it was."""
        s = Session(self.c)
        s.send(LOGIN)
        first, second, misc = (self.get_token(s, 3), self.get_token(s, 3), self.get_token(s, 4))
        # The same officer's second login: its token is another session's,
        # but one signature must still approve one token per node.
        other = Session(self.c)
        other.send(LOGIN)
        elsewhere = self.get_token(other, 4)
        for parts in ((first, second), (first, misc), (misc, elsewhere)):
            bundle = self.new_name("bundle")
            with open(self.path(bundle), "wb") as f:
                for part in parts:
                    with open(self.path(part), "rb") as g:
                        f.write(g.read())
            s.send(f"approveToken {self.approval_file(bundle, ['officer2', 'officer3'])}\n")
        s.send("setMValue 4 1\ny\nlistTokens\n")
        other.send("setMValue 3 1\ny\n")
        rc, out, err = s.close()
        other.close()
        self.assertEqual(rc, 1, out + err)
        for i in range(3):
            self.assertEqual(out.count(f"approveToken failed on {self.c.label(i)}: "
                                       "RET_TOKEN_FILE_INVALID"), 3, out)
        self.assert_refused_before_the_banner(out, "setMValue", 4)
        self.assertNotIn("Current num of approvals : 2", out)
        self.assertEqual(self.m_values(4), [2, 2, 2])
        # The shell says why, once per refused file.
        self.assertEqual(out.count("asked for by admin: the nodes take one officer's tokens of "
                                   "one service per file"), 1, out)
        self.assertIn("6 records of service(s) 3, 4 asked for by admin", out)
        # And an approver sees what a file asks before signing it.
        shown = subprocess.run([HSMSH, "show-token", self.path(bundle)], capture_output=True,
                               text=True, timeout=60)
        self.assertEqual(shown.returncode, 0, shown.stdout + shown.stderr)
        self.assertIn("Service:  4 (MISC_CO)", shown.stdout)
        mixed = self.new_name("mixed")
        with open(self.path(mixed), "wb") as f:
            for part in (first, misc):
                with open(self.path(part), "rb") as g:
                    f.write(g.read())
        shown = subprocess.run([HSMSH, "show-token", self.path(mixed)], capture_output=True,
                               text=True, timeout=60)
        self.assertEqual(shown.returncode, 1, shown.stdout + shown.stderr)
        self.assertIn("6 records of service(s) 3, 4 asked for by admin", shown.stderr)
        self.assertEqual(shown.stdout, "")

    def test_4c_an_approver_sees_what_a_token_file_asks(self):
        """Issue 26: the approver's tools show what they sign: getToken and
        hsmsh show-token (offline, no configuration) name the service, the
        officer, the count and the file's SHA-256 that openssl signs."""
        import hashlib
        s = Session(self.c)
        s.send(LOGIN)
        token = self.get_token(s, 3)
        rc, out, err = s.close()
        self.assertIn("Officer:  admin", out)
        with open(self.path(token), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        shown = subprocess.run([HSMSH, "show-token", self.path(token)], capture_output=True,
                               text=True, timeout=60, env={"PATH": os.environ["PATH"]})
        self.assertEqual(shown.returncode, 0, shown.stdout + shown.stderr)
        for line in ("Service:  3 (USER_MGMT)", "Officer:  admin",
                     "Tokens:   3 (one per HSM", f"SHA-256:  {digest}",
                     f"openssl dgst -sha256 -sign <your-key.pem> -out '{self.path(token)}.sig' "
                     f"'{self.path(token)}'"):
            self.assertIn(line, shown.stdout)
        self.assertIn(out[out.index("Token file"):out.index("(an approver")], shown.stdout)
        # The approver pastes the printed line: a file's name is never a command.
        hostile = self.path("tok$(touch PWNED)'; touch PWNED2 '")
        with open(self.path(token), "rb") as f, open(hostile, "wb") as g:
            g.write(f.read())
        shown = subprocess.run([HSMSH, "show-token", hostile], capture_output=True, text=True,
                               timeout=60)
        line = next(x for x in shown.stdout.splitlines() if "openssl dgst" in x)
        line = line.replace("openssl", "printf '%s|'", 1).replace("<your-key.pem>", "key.pem")
        echoed = subprocess.run(["sh", "-c", line],
                                capture_output=True, text=True, timeout=60, cwd=self.c.path())
        self.assertEqual(echoed.stdout.split("|")[-2], hostile)
        self.assertFalse(os.path.exists(self.path("PWNED")))
        self.assertFalse(os.path.exists(self.path("PWNED2")))

    def test_5_approvals_that_do_not_count(self):
        s = Session(self.c)
        s.send(LOGIN)
        token = self.get_token(s, 3)
        # One approver, named twice, counts once: 1 of 2.
        s.send(f"approveToken {self.approval_file(token, ['admin', 'admin'])}\n"
               "createUser CU carol carol-pass-1\ny\n")
        # A key officer3 never registered, claimed as officer3's: refused,
        # nothing recorded.
        s.send("approveToken "
               f"{self.approval_file(token, ['outsider'], names=['officer3'])}\n")
        # A token file changed after signing is no token of this session.
        with open(self.path(token), "rb") as f:
            data = bytearray(f.read())
        data[20] ^= 1  # a byte of the first record's random part
        tampered = self.new_name("tampered")
        with open(self.path(tampered), "wb") as f:
            f.write(data)
        s.send(f"approveToken {self.approval_file(tampered, ['officer2', 'officer3'])}\n"
               "listTokens\n")
        rc, out, err = s.close()
        self.assertEqual(rc, 1, out + err)
        self.assert_refused_before_the_banner(out, "createUser", 3)  # 1 of 2 approvals
        for i in range(3):
            self.assertIn(f"approveToken failed on {self.c.label(i)}: RET_SIGNATURE_INVALID",
                          out)
        self.assertIn("the signature of officer3 is not its registered key's", out)
        self.assertIn(f"approveToken failed on {self.c.label(0)}: RET_TOKEN_NOT_FOUND", out)
        # Nodes 1 and 2 have their own records, untouched: 1 of 2 still.
        self.assertIn(f"approveToken success on {self.c.label(1)}", out)
        self.assertIn("Current num of approvals : 1\nApprover-0: admin\n", out)
        self.assertNotIn("Current num of approvals : 2", out)
        self.assertTrue(all("carol" not in u for u in self.users()))

    def test_6_a_token_dies_with_its_login(self):
        s = Session(self.c)
        s.send(LOGIN)
        token = self.get_token(s, 3)
        s.send(f"logout\n{LOGIN}"
               f"approveToken {self.approval_file(token, ['officer2', 'officer3'])}\n"
               "listTokens\ncreateUser CU carol carol-pass-1\ny\n")
        rc, out, err = s.close()
        self.assertEqual(rc, 1, out + err)
        for i in range(3):
            self.assertIn(f"approveToken failed on {self.c.label(i)}: RET_TOKEN_NOT_FOUND", out)
        self.assert_refused_before_the_banner(out, "createUser", 3)
        self.assertEqual(out.count("Num of tokens = 0"), 3)

    def test_7_only_officers_and_only_their_own_tokens(self):
        r = self.c.shell("--keep-going", input="loginHSM CU app app-pass-1\n"
                         f"getToken 3 app {self.path('cu-token')}\nlistTokens\n")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"getToken failed on {self.c.label(0)}: RET_PERMISSION_DENIED", r.stdout)
        self.assertFalse(os.path.exists(self.path("cu-token")))
        r = self.c.shell(input=LOGIN + f"getToken 3 officer2 {self.path('x-token')}\n")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("logged in: admin", r.stderr)
        # Another session of the same officer cannot use, approve or delete it.
        a, b = self.login(0), self.login(0)
        status, f = a.call("get_token", service=3)
        self.assertEqual(status, "RET_OK")
        record = bytes.fromhex(f["record"])
        with open(self.path("wire-token"), "wb") as out:
            out.write(record)
        self.sign("officer2", "wire-token", "wire-token.sig2")
        self.sign("officer3", "wire-token", "wire-token.sig3")
        approvals = []
        for n in ("2", "3"):
            with open(self.path(f"wire-token.sig{n}"), "rb") as sig:
                approvals.append({"name": f"officer{n}", "signature": sig.read().hex()})
        self.assertEqual(b.call("approve_token", tokens=record.hex(), approvals=approvals)[0],
                         "RET_TOKEN_NOT_FOUND")
        self.assertEqual(b.call("delete_token", tokens=record.hex())[0], "RET_TOKEN_NOT_FOUND")
        status, f = a.call("approve_token", tokens=record.hex(), approvals=approvals)
        self.assertEqual(status, "RET_OK")
        self.assertEqual(f["token"]["approvals"], 2)
        self.assertEqual(b.call("create_user", type="CU", name="dave",
                                password="dave-pass-1")[0], "RET_MXN_AUTH_FAILED")
        self.assertEqual(b.call("list_tokens")[1], {"tokens": []})
        self.assertEqual(a.call("delete_token", tokens=record.hex())[0], "RET_OK")
        self.assertEqual(a.call("list_tokens")[1], {"tokens": []})

    def test_8_syncUser_that_writes_a_record_needs_a_token(self):
        # frank is created with quorum while server 2 is stopped: it misses him.
        self.c.signal(2, signal.SIGSTOP)
        try:
            s = Session(self.c, "--timeout", "2", "--connect-timeout", "2", "--allow-partial")
            s.send(LOGIN)
            token = self.get_token(s, 3)
            s.send(f"approveToken {self.approval_file(token, ['officer2', 'officer3'])}\n"
                   "createUser CU frank frank-pass-1\ny\n")
            rc, out, err = s.close()
        finally:
            self.c.signal(2, signal.SIGCONT)
        self.assertIn(f"createUser success on {self.c.label(1)}", out, out + err)
        self.assertEqual(["frank" in u for u in self.users()], [True, True, False])
        # Bringing him back to server 2 is user management: one officer alone
        # cannot.
        r = self.c.shell(input=LOGIN + "syncUser frank --all\ny\n")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("RET_MXN_AUTH_FAILED", r.stdout)
        self.assertEqual(["frank" in u for u in self.users()], [True, True, False])
        s = Session(self.c)
        s.send(LOGIN)
        token = self.get_token(s, 3)
        s.send(f"approveToken {self.approval_file(token, ['admin', 'officer3'])}\n"
               "syncUser frank --all\ny\n")
        rc, out, err = s.close()
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(["frank" in u for u in self.users()], [True, True, True])

    def test_8c_at_a_terminal_the_refusal_comes_before_the_banner(self):
        t = Terminal([HSMSH], self.c.env(TERM="xterm"))
        try:
            t.expect(r"hsmsh> ")
            time.sleep(0.2)
            t.send("loginHSM CO admin officer-pw1\r")
            t.expect(r"loginHSM success on server 2.*\n")
            t.expect(r"hsmsh:admin\(CO\)> ")
            t.send("createUser CU ivan ivan-pass-1\r")
            t.expect(r"Next: getToken 3 admin FILE, 2 officers sign FILE, approveToken "
                     r"APPROVAL-FILE, then createUser again \(quorum status shows your tokens\)")
            t.expect(r"hsmsh:admin\(CO\)> ")
        finally:
            t.close()
        self.assert_refused_before_the_banner(t.seen.replace("\r\n", "\n"), "createUser", 3)
        self.assertEqual(t.seen.count("refused"), 1)
        for never in ("CAUTION", "Do you want to continue", "Retry/Ignore/Abort"):
            self.assertNotIn(never, t.seen)
        self.assertTrue(all("ivan" not in u for u in self.users()))

    def test_8b_the_example_of_help_approveToken_works_as_printed(self):
        r = self.c.shell(input="help approveToken\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        example = [line[2:] for line in r.stdout.split("Example:\n")[1].splitlines()]
        system = [line for line in example[:-1] if not line.startswith("#")]
        self.assertEqual(example[-1], "approveToken approval.txt")
        s = Session(self.c, cwd=self.path(""))
        s.send(LOGIN + "getToken 3 admin t\n")
        s.wait_for(self.path("t"))
        for line in system:  # officer1 is admin here
            subprocess.run(["bash", "-c", line.replace("officer1", "admin")], check=True,
                           cwd=self.path(""), timeout=60)
        s.send("approveToken approval.txt\ncreateUser CU gina gina-pass-1\ny\n")
        rc, out, err = s.close()
        self.assertEqual(rc, 0, out + err)
        self.assertIn(f"createUser success on {self.c.label(2)}", out)

    def test_9_a_token_expires(self):
        self.c.restart_node(0, extra=["--token-timeout", "1"])
        w = self.login(0)
        status, f = w.call("get_token", service=3)
        self.assertEqual(status, "RET_OK")
        self.assertLessEqual(f["token"]["validity"], 1)
        record = f["record"]
        deadline = time.monotonic() + 10
        while w.call("list_tokens")[1]["tokens"] and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(w.call("list_tokens")[1], {"tokens": []})
        with open(self.path("late"), "wb") as out:
            out.write(bytes.fromhex(record))
        self.sign("officer2", "late", "late.sig")
        with open(self.path("late.sig"), "rb") as sig:
            approvals = [{"name": "officer2", "signature": sig.read().hex()}]
        self.assertEqual(w.call("approve_token", tokens=record, approvals=approvals)[0],
                         "RET_TOKEN_NOT_FOUND")


if __name__ == "__main__":
    unittest.main(verbosity=2)
