# SPDX-License-Identifier: Apache-2.0
"""hsmsh in batch mode against 3 real nodes: the CMU tour, failures, exit codes."""
import json
import os
import select
import time
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import HSMSH, LOGIN, ClusterTestCase, node_pids  # noqa: E402


class BatchTests(ClusterTestCase):
    ACTIVATE = True
    SHARED = True

    def sh(self, script, *args, **kw):
        return self.c.shell(*args, input=script, **kw)

    def run_file(self, name, script, stdin):
        """hsmsh -f with `script` written to `name`; `stdin` holds the passwords."""
        path = self.c.path(name)
        with open(path, "w") as f:
            f.write(script)
        return self.c.shell("-f", path, input=stdin)

    def test_connect_lines_name_every_server_in_order(self):
        r = self.sh("listUsers\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        for i, port in enumerate(self.c.ports):
            self.assertIn(f"Connecting to server '127.0.0.1:{port}': hostname '127.0.0.1', "
                          f"port {port}...", r.stderr)
            self.assertIn(f"Connected to server '127.0.0.1:{port}'", r.stderr)
            self.assertIn(f"Users on {self.c.label(i)}:", r.stdout)
        # Standard output holds results alone; --quiet drops the chatter.
        self.assertNotIn("Connect", r.stdout)
        r = self.sh("listUsers\n", "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertIn(f"Users on {self.c.label(2)}:", r.stdout)
        self.assertLess(r.stdout.index(self.c.label(0)), r.stdout.index(self.c.label(2)))

    def test_loginHSM_where_the_login_is_still_held_is_a_no_op(self):
        # Server 2 lost the login (here: logoutHSM there); loginHSM again
        # logs in there and leaves servers 0 and 1, still logged in, alone.
        login = LOGIN
        r = self.sh(login + "server 2\nlogoutHSM\nexit\n" + login + "listPrepared\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("RET_ALREADY_LOGGED_IN", r.stdout)
        for i in range(3):
            self.assertEqual(r.stdout.count(f"loginHSM success on {self.c.label(i)}"), 2)
            self.assertIn(f"Prepared changes on {self.c.label(i)}: 0", r.stdout)
        self.assertIn("admin(CO) was still logged in on 2 of 3 servers: nothing sent there",
                      r.stdout)

    def test_scripts_name_where_a_line_came_from_and_what_was_left(self):
        """Issue 28, item 7: with -e, an answer read from standard input is
        named there; lines no command asked for are reported; a typo in a -f
        script after a password line gets 'did you mean', not the
        stray-password hint."""
        r = self.c.shell("-e", "loginHSM CO admin -hpswd", "-e", "createUser CU bob -hpswd",
                         input="officer-pw1\nbob-pass-1\nmaybe\n")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("hsmsh: -e 2, standard input line 3: createUser expects a line 'y' or 'n' "
                      "to confirm", r.stderr)
        r = self.c.shell("-e", "loginHSM CO admin -hpswd", input="officer-pw1\nextra\nlines\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("hsmsh: standard input: 2 line(s) left unread (answers or passwords that "
                      "no command asked for)", r.stderr)
        r = self.c.shell("-e", "loginHSM CO admin -hpswd", input="officer-pw1\n")
        self.assertNotIn("left unread", r.stderr)
        r = self.run_file("typo.hsmsh", "loginHSM CO admin -hpswd\ncreatUser CU bob -hpswd\n"
                          "y\n", "officer-pw1\nbob-pass-1\n")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("line 2: unknown command 'creatUser': did you mean createUser?", r.stderr)
        self.assertNotIn("passwords come from standard input", r.stderr)

    def test_cmu_user_management_tour(self):
        script = """loginHSM CO admin officer-pw1
createUser CO officer2 officer2-pw
y
createUser CU app_user1 app-user-pw
y
listUsers
changePswd CU app_user1 app-user-pw2
y
changePswd CO admin officer-pw1
y
deleteUser CO officer2
y
logoutHSM
loginHSM CU app_user1 app-user-pw2
changePswd CU app_user1 app-user-pw3
y
logoutHSM
loginHSM CO admin officer-pw1
deleteUser CU app_user1
y
"""
        r = self.sh(script)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout
        self.assertIn("Creating User officer2(CO) on 3 nodes", out)
        self.assertIn("Creating User app_user1(CU) on 3 nodes", out)
        self.assertIn("Changing password for app_user1(CU) on 3 nodes", out)
        self.assertIn("Deleting user officer2(CO) on 3 nodes", out)
        for i in range(3):
            self.assertIn(f"createUser success on {self.c.label(i)}", out)
            self.assertIn(f"changePswd success on {self.c.label(i)}", out)
            self.assertIn(f"deleteUser success on {self.c.label(i)}", out)
            self.assertIn(f"loginHSM success on {self.c.label(i)}", out)
        self.assertIn("Number of users found:3", out)
        self.assertRegex(out, r"\n\s+\d+\s+CU\s+app_user1\s+NO\s+0\s+NO\n")
        self.assertNotIn("app-user-pw", out + r.stderr)

    def test_node_refusals_in_text_and_json(self):
        r = self.sh("createUser CU nobody_here nobody-pw1\ny\n")
        self.assertEqual(r.returncode, 1)
        # Known before anything is sent: one line per server, no banner.
        self.assertIn(f"createUser refused for {self.c.label(0)}: RET_NOT_LOGGED_IN", r.stdout)
        self.assertNotIn("CAUTION", r.stdout)
        r = self.sh(LOGIN + "createUser CU dup_user dup-user-pw\ny\n"
                    "createUser CU dup_user dup-user-pw\ny\n", "--json")
        self.assertEqual(r.returncode, 1)
        lines = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual([d["command"] for d in lines], ["loginHSM", "createUser", "createUser"])
        self.assertTrue(lines[1]["ok"])
        last = lines[2]
        self.assertFalse(last["ok"])
        self.assertEqual([s["code"] for s in last["servers"]], ["RET_USER_EXISTS"] * 3)
        self.assertEqual([s["index"] for s in last["servers"]], [0, 1, 2])
        r = self.sh("loginHSM CU dup_user dup-user-pw\ncreateUser CU x_user x-user-pw1\ny\n"
                    "deleteUser CO admin\ny\n", "--keep-going")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"createUser refused for {self.c.label(1)}: RET_PERMISSION_DENIED: CU may "
                      "not createUser x_user", r.stdout)
        self.assertIn(f"deleteUser refused for {self.c.label(2)}: RET_PERMISSION_DENIED", r.stdout)
        r = self.sh("loginHSM CU dup_user wrong-password\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("RET_USER_LOGIN_FAILURE", r.stdout)
        self.assertNotIn("wrong-password", r.stdout + r.stderr)

    def test_confirmation_lines_in_scripts(self):
        r = self.sh(LOGIN + "createUser CU declined_1 declined-pw\nn\n"
                    "listUsers\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Nothing was changed.", r.stdout)
        self.assertNotIn("declined_1", r.stdout.split("Nothing was changed.")[1])
        r = self.sh(LOGIN + "createUser CU missing_1 missing-pw\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("line 2: createUser expects a line 'y' or 'n'", r.stderr)
        r = self.sh(LOGIN + "createUser CU maybe_1 maybe-pw1\nmaybe\n"
                    "listUsers\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("expects a line 'y' or 'n'", r.stderr)
        self.assertNotIn("Users on", r.stdout)
        r = self.sh(LOGIN + "createUser CU yes_1 yes-user-pw\nlistUsers\n",
                    "-y")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("CAUTION", r.stdout)
        self.assertIn("yes_1", r.stdout)

    def test_a_script_file_holds_no_secret_and_is_checked_first(self):
        login = "loginHSM CO admin -hpswd\n"
        r = self.run_file("officer.hsmsh", login + "createUser CU scripted_1 -hpswd\ny\n"
                          "listUsers\n", "officer-pw1\nscripted-pw-1\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("createUser success on", r.stdout)
        self.assertEqual(r.stdout.split("Users on")[-1].count("scripted_1"), 1)
        # A typo on line 4 stops the run before line 2 changes anything.
        r = self.run_file("officer.hsmsh", login + "createUser CU scripted_2 -hpswd\ny\n"
                          "lstUsers\n", "officer-pw1\nscripted-pw-2\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("line 4: unknown command 'lstUsers'", r.stderr)
        self.assertNotIn("Connecting", r.stdout + r.stderr)
        r = self.sh("listUsers\n")
        self.assertNotIn("scripted_2", r.stdout)
        # An old-style script with its password inline after -hpswd: refused,
        # and the password is not repeated.
        r = self.run_file("officer.hsmsh", login + "officer-pw1\nlistUsers\n", "")
        self.assertEqual(r.returncode, 2)
        self.assertIn("line 2: not a command (with -f, passwords come from standard input",
                      r.stderr)
        self.assertNotIn("officer-pw1", r.stdout + r.stderr)
        self.sh(LOGIN + "deleteUser CU scripted_1\n", "-y")

    def test_json_for_a_declined_change_and_locked_users(self):
        r = self.sh(LOGIN + "createUser CU json_no no-pass-word\nn\n"
                    "listUsers\n", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        # Standard output is JSON alone, each object naming its arguments
        # and never a password.
        docs = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertIn({"command": "createUser", "declined": True, "args": ["CU", "json_no"]}, docs)
        self.assertEqual(docs[0]["args"], ["CO", "admin"])
        self.assertNotIn("no-pass-word", r.stdout + r.stderr)
        self.assertNotIn("officer-pw1", r.stdout + r.stderr)
        listing = [d for d in docs if d.get("command") == "listUsers"][0]
        for server in listing["servers"]:
            for user in server["users"]:
                self.assertIs(user["locked"], user["failures"] >= 5)
                self.assertNotEqual(user["name"], "json_no")

    def test_forgiving_answers_and_command_names(self):
        r = self.sh("LOGINHSM CO admin officer-pw1\ncreateuser CU forgive_1 forgive-pw1\nYes\n"
                    "deleteUser CU forgive_1\nN\nlistusers\nlstUsers\n", "--keep-going")
        self.assertEqual(r.returncode, 2, r.stderr)  # the typo, reported and skipped
        self.assertIn("createUser success on", r.stdout)
        self.assertIn("Nothing was changed.", r.stdout)
        listing = r.stdout.split("Nothing was changed.")[1]
        self.assertEqual(listing.count("forgive_1"), 3, r.stdout)  # still on every server
        self.assertIn("unknown command 'lstUsers': did you mean listUsers?", r.stderr)
        self.sh(LOGIN + "deleteUser CU forgive_1\n", "-y")

    def test_cmu_compat_asks_only_where_cmu_does(self):
        # A CMU script: 'y' after createUser and changePswd, none after deleteUser.
        script = (LOGIN + "createUser CU cmu_1 cmu-user-pw1\ny\n"
                  "changePswd CU cmu_1 cmu-user-pw2\ny\ndeleteUser CU cmu_1\nlistUsers\n")
        r = self.sh(script, "--cmu-compat")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("Do you want to continue(y/n)?"), 2, r.stdout)
        self.assertIn("deleteUser success on", r.stdout)
        self.assertNotIn("cmu_1", r.stdout.split("Users on")[-1])
        # Without it, deleteUser asks, and the script's next line is no answer.
        r = self.sh(LOGIN + "createUser CU cmu_2 cmu-user-pw1\ny\n"
                    "deleteUser CU cmu_2\nlistUsers\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("line 5: deleteUser expects a line 'y' or 'n'", r.stderr)
        self.sh(LOGIN + "deleteUser CU cmu_2\n", "-y")

    def test_passwords_from_the_next_line(self):
        r = self.sh("loginHSM CO admin -hpswd\nofficer-pw1\ncreateUser CU hidden_1\n"
                    "hidden-pw-1\ny\nlogoutHSM\nloginHSM CU hidden_1\nhidden-pw-1\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("hidden-pw-1", r.stdout + r.stderr)

    def test_usage_errors_name_the_line(self):
        r = self.sh("# a comment\n\nlistUsers\nfrobnicate\nlistUsers\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("hsmsh: line 4: unknown command 'frobnicate'", r.stderr)
        self.assertEqual(r.stdout.count("Users on server 0"), 1)
        r = self.sh("log\n")
        self.assertIn("ambiguous command 'log': loginHSM, logoutHSM", r.stderr)
        r = self.sh("listU\ncreateUser XX bob bob-pass1\nlistUsers", "--keep-going")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout.count("Users on server 0"), 2)
        r = self.sh("createUser CU 'unterminated\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unterminated single quote", r.stderr)

    def test_input_at_and_past_every_limit(self):
        """Each script line: what the shell must do with it, in a table."""
        login = b"loginHSM CO admin officer-pw1\n"
        secret = b"Sentinel-Secret-77"
        cases = [
            # (script after the login, exit status, in stdout, in stderr)
            (b"createUser CU " + b"a" * 31 + b" pass-word-1\ny\n", 0,
             b"createUser success", b""),
            (b"createUser CU " + b"b" * 32 + b" pass-word-1\ny\n", 2, b"",
             b"line 2: user names are 1 to 31"),
            (b"createUser CU pw_short pw3456\ny\n", 2, b"", b"line 2: passwords are 7 to 128"),
            (b"createUser CU pw_long " + b"p" * 129 + b"\ny\n", 2, b"",
             b"line 2: passwords are 7 to 128"),
            (b"createUser CU pw_max " + b"p" * 128 + b"\ny\n", 0, b"createUser success", b""),
            (b"createUser CU pw_ctl pass\x01word\ny\n", 2, b"", b"without control characters"),
            (b"createUser CU \xff\xfe pass-word-1\ny\n", 2, b"", b"user names are 1 to 31"),
            (b"createUser CU \"open pass-word-1\ny\n", 2, b"", b"unterminated double quote"),
            (b"x" * 5000 + b"\nlistUsers\n", 2, b"Users on server 2",
             b"line 2: line longer than 4096 bytes"),
            (b"x" * (2 << 20) + b"\nlistUsers\n", 2, b"Users on server 2",
             b"line 2: line longer than 4096 bytes"),
            (b"listUsers\x00 extra\n", 2, b"", b"unknown command 'listUsers\\x00'"),
            (b"\x1b[31mlistUsers\n", 2, b"", b"unknown command '\\x1b[31mlistUsers'"),
            (b"createUser CU no_answer pass-word-1\n", 2, b"", b"expects a line 'y' or 'n'"),
            (b"createUser CU no_newline pass-word-1\ny", 0, b"createUser success", b""),
            (b"createUser CU no_pw_line -hpswd\n", 2, b"", b"expects a password line"),
            # A refused command's password line is skipped, never repeated.
            (b"createUser XX bad_type -hpswd\n" + secret + b"\ny\nlistUsers\n", 2,
             b"Users on server 2", b"line 3: skipped, not a command"),
            (b"createUser CU " + b"c" * 40 + b"\n" + secret + b"\ny\n", 2, b"",
             b"line 4: skipped, not a command"),
        ]
        for script, status, out, err in cases:
            with self.subTest(script=script[:50]):
                r = subprocess.run([os.environ["HSMSH"], "--keep-going"], input=login + script,
                                   capture_output=True, timeout=60, env=self.c.env())
                self.assertEqual(r.returncode, status, r.stderr)
                self.assertIn(out, r.stdout)
                self.assertIn(err, r.stderr)
                self.assertNotIn(secret, r.stdout + r.stderr)
                self.assertNotIn(b"\x1b", r.stdout + r.stderr)
                self.assertLess(len(r.stderr), 2000, "an error repeated the long line")
        r = self.sh(LOGIN + "deleteUser CU " + "a" * 31 + "\ny\n"
                    "deleteUser CU pw_max\ny\ndeleteUser CU no_newline\ny\n")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_commands_from_arguments(self):
        r = self.c.shell("-e", "listUsers", "-e", "getHSMInfo")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Getting HSM Info on 3 nodes", r.stdout)
        r = self.c.shell("-e", "loginHSM CO admin officer-pw1")
        self.assertEqual(r.returncode, 2)
        self.assertIn("not accepted on the command line", r.stderr)
        self.assertNotIn("officer-pw1", r.stderr)
        r = self.c.shell("-e", "loginHSM CO admin -hpswd", input="officer-pw1\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        # The whole list is checked before any server is contacted.
        r = self.c.shell("-e", "listUsers", "-e", "creatUser CU nobody_e")
        self.assertEqual(r.returncode, 2)
        self.assertIn("-e 2: unknown command 'creatUser'", r.stderr)
        self.assertNotIn("Connecting", r.stdout + r.stderr)

    def test_passwords_from_a_descriptor_or_the_environment(self):
        # --password-fd: the script on standard input holds no secret.
        read_end, write_end = os.pipe()
        os.write(write_end, b"officer-pw1\nfd-user-pw-1\n")
        os.close(write_end)
        try:
            r = subprocess.run(
                [HSMSH, "--password-fd", str(read_end)],
                input="loginHSM CO admin -hpswd\ncreateUser CU fd_user -hpswd\ny\nlistUsers\n",
                capture_output=True, text=True, timeout=60, env=self.c.env(),
                pass_fds=(read_end,))
        finally:
            os.close(read_end)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.split("Users on")[-1].count("fd_user"), 1)
        r = self.c.shell("--password-fd", "99", "-e", "listUsers")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--password-fd 99: not an open file descriptor", r.stderr)
        # HSMSH_PASSWORD: the login's password alone; no other prompt takes it.
        env = self.c.env(HSMSH_PASSWORD="officer-pw1")
        r = self.c.shell("-e", "loginHSM CO admin", "-e", "deleteUser CU fd_user", "-y", env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("deleteUser success on", r.stdout)
        r = self.c.shell("-e", "loginHSM CO admin", "-e", "changePswd CU nobody_here -hpswd",
                         "-y", env=env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("changePswd expects a password line", r.stderr)
        self.assertNotIn("officer-pw1", r.stdout + r.stderr)

    def test_server_mode_and_info(self):
        r = self.sh("server 1\nlistUsers\ninfo server 1\nexit\nserver 9\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("Server is in 'E2' mode...", r.stdout)
        self.assertIn(f"Users on {self.c.label(1)}:", r.stdout)
        self.assertNotIn(f"Users on {self.c.label(0)}:", r.stdout)
        self.assertIn("Connected\tNot logged in", r.stdout)
        self.assertIn("no server 9", r.stderr)

    def test_config_errors_exit_3(self):
        r = self.c.shell(input="", env=self.c.env(HSMSH_CONFIG=self.c.path("missing.json")))
        self.assertEqual(r.returncode, 3)
        self.assertIn("missing.json", r.stderr)
        # A first run says what to do next.
        self.assertIn("hsmsh demo", r.stderr)
        self.assertIn("hsmsh configure add-cluster --cluster-id", r.stderr)
        bad = self.c.path("bad.json")
        with open(bad, "w") as f:
            json.dump({"clusters": [{"cluster_id": "x", "hsm_ca_cert": "customerCA.crt",
                                     "client_cert": "client.crt", "servers": []}]}, f)
        r = self.c.shell("-c", bad, input="")
        self.assertEqual(r.returncode, 3)
        self.assertIn("clusters[0].client_key: missing", r.stderr)
        dead = self.c.write_config([{"hostname": "127.0.0.1", "port": 1}], "dead.json")
        r = self.c.shell("-c", dead, input="listUsers\n")
        self.assertEqual(r.returncode, 3)
        self.assertIn("Connection to server '127.0.0.1'", r.stderr)

    def test_wrong_cluster_id_is_refused_with_its_cause(self):
        path = self.c.write_config(name="other.json")
        with open(path) as f:
            doc = json.load(f)
        doc["clusters"][0]["cluster_id"] = doc["default_cluster"] = "cluster-other"
        with open(path, "w") as f:
            json.dump(doc, f)
        r = self.c.shell("-c", path, input="listUsers\n")
        self.assertEqual(r.returncode, 3)
        self.assertIn("names cluster 'cluster-shell', expected 'cluster-other'", r.stderr)

    def test_node_from_another_ca_is_refused_even_if_the_environment_trusts_it(self):
        from cluster import openssl
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", self.c.path("other.key"), "-out",
                self.c.path("otherCA.crt"), "-subj", "/CN=another CA", "-days", "30")
        path = self.c.write_config(name="other-ca.json")
        with open(path) as f:
            doc = json.load(f)
        doc["clusters"][0]["hsm_ca_cert"] = "otherCA.crt"
        with open(path, "w") as f:
            json.dump(doc, f)
        # OpenSSL's default paths name the nodes' real CA: they must not count.
        env = self.c.env(SSL_CERT_FILE=self.c.path("customerCA.crt"), SSL_CERT_DIR=self.c.dir)
        r = self.c.shell("-c", path, input="listUsers\n", env=env)
        self.assertEqual(r.returncode, 3)
        for port in self.c.ports:
            self.assertRegex(r.stderr, rf"Connection to server '127.0.0.1:{port}': .* failed: "
                                       r"untrusted server certificate: [^\n]+\n")
        self.assertNotIn("Users on", r.stdout)

    def test_versions_and_usage_errors(self):
        import subprocess
        for program in (os.environ["HSMSH"], os.environ["HSMD"]):
            r = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"^\d+\.\d+\.\d+\n$")
            r = subprocess.run([program, "--no-such-option"], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 2, program)
        r = subprocess.run([os.environ["HSMSH"], "--help"], capture_output=True, text=True,
                           timeout=30)
        self.assertIn("--color auto|always|never", r.stdout)

    def test_help_lists_every_command_and_the_man_page_documents_it(self):
        r = self.sh("help\nhelp createUser\n")
        self.assertEqual(r.returncode, 0)
        listing = r.stdout.split("Commands")[1].split("\nhelp <command>")[0].splitlines()[2:]
        names = [line.split()[0] for line in listing if line.startswith("  ") and line[2] != " "]
        self.assertGreaterEqual(len(names), 12)
        # In columns (issue 28, item 7): every summary, and every wrapped
        # line of one, starts in one column; nothing passes 80 (not a terminal).
        self.assertIn("registerQuorumPubKey", names)
        starts = {len(line) - len(line.split(None, 1)[1]) if line[2] != " " else
                  len(line) - len(line.lstrip()) for line in listing if line.strip()}
        self.assertEqual(len(starts), 1, listing)
        self.assertLessEqual(max(len(line) for line in listing), 80)
        self.assertIn("createUser <user-type> <user-name>", r.stdout)
        man = os.environ.get("HSMSH_MAN")
        if man:
            with open(man) as f:
                text = f.read()
            missing = [name for name in names if f".B {name}" not in text]
            self.assertEqual(missing, [], "commands missing from the man page")


class DemoTests(unittest.TestCase):
    """hsmsh demo builds a real cluster once and reuses it."""

    def test_demo_in_a_relative_directory(self):
        """`hsmsh demo --dir mydemo` from any directory: the configuration
        names absolute paths, so the first run and another terminal's
        `hsmsh -c` both read it."""
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory(prefix="hsmsh-demo-rel-") as d:
            env = dict(os.environ, XDG_STATE_HOME=d, NO_COLOR="1")
            r = subprocess.run([os.environ["HSMSH"], "demo", "--dir", "mydemo",
                                "--kdf-iterations", "1000"], input="listUsers\n",
                               capture_output=True, text=True, timeout=120, env=env, cwd=d)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(r.stdout.count("Users on server"), 3, r.stdout)
            config = os.path.join(d, "mydemo", "hsmsh.json")
            self.assertIn("hsmsh -c " + config, r.stdout)
            with open(config) as f:
                cluster = json.load(f)["clusters"][0]
            for field in ("hsm_ca_cert", "client_cert", "client_key"):
                self.assertEqual(cluster[field], os.path.join(d, "mydemo", os.path.basename(
                    cluster[field])))

    def test_two_demos_with_their_own_cluster_ids(self):
        """hsmsh demo --cluster-id (issue 28, item 7): a second demo is a
        second cluster; a directory keeps the id it was built with."""
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory(prefix="hsmsh-demo-id-") as d:
            env = dict(os.environ, XDG_STATE_HOME=d, NO_COLOR="1")

            def demo(name, *args):
                return subprocess.run([os.environ["HSMSH"], "demo", "--nodes", "1", "--dir",
                                       os.path.join(d, name), "--kdf-iterations", "1000", *args],
                                      input="listUsers\n", capture_output=True, text=True,
                                      timeout=120, env=env)

            first, second = demo("one"), demo("two", "--cluster-id", "cluster-two")
            for r in (first, second):
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("Users on server 0", r.stdout)
            ids = []
            for name in ("one", "two"):
                with open(os.path.join(d, name, "hsmsh.json")) as f:
                    ids.append(json.load(f)["clusters"][0]["cluster_id"])
            self.assertEqual(ids, ["cluster-demo", "cluster-two"])
            again = demo("two")
            self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
            self.assertIn("Reusing the demo cluster cluster-two in", again.stdout)
            refused = demo("two", "--cluster-id", "cluster-three")
            self.assertEqual(refused.returncode, 3)
            self.assertIn("holds cluster 'cluster-two', not 'cluster-three': give another "
                          "cluster its own --dir", refused.stderr)

    def test_the_docs_give_the_demo_s_real_configuration_path(self):
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory(prefix="hsmsh-demo-home-") as home:
            env = {k: v for k, v in os.environ.items() if k != "XDG_STATE_HOME"}
            env.update(HOME=home, NO_COLOR="1")
            r = subprocess.run([os.environ["HSMSH"], "demo", "--nodes", "1",
                                "--kdf-iterations", "1000"], input="", capture_output=True,
                               text=True, timeout=120, env=env)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn(f"Configuration {home}/.local/state/hsmsh/demo/hsmsh.json", r.stdout)
        root = os.path.dirname(os.path.dirname(os.environ["HSMSH_MAN"]))
        for doc in ("README.md", "man/hsmsh-pkcs11.7"):
            with open(os.path.join(root, doc)) as f:
                text = f.read()
            self.assertIn("~/.local/state/hsmsh/demo/hsmsh.json", text, doc)
            self.assertIn("HSMSH_CONFIG", text, doc)
            self.assertNotIn("/tmp/hsmsh-demo", text, doc)

    def test_demo_builds_then_reuses_the_cluster(self):
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory(prefix="hsmsh-demo-") as d:
            env = dict(os.environ, XDG_STATE_HOME=d, NO_COLOR="1")
            args = [os.environ["HSMSH"], "demo", "--dir", os.path.join(d, "demo"),
                    "--kdf-iterations", "1000", "--echo"]
            first = subprocess.run(args, input="loginHSM PRECO admin password\n"
                                   "changePswd PRECO admin officer-pw1\ny\n"
                                   "createUser CU demo_user demo-user-pw\ny\n",
                                   capture_output=True, text=True, timeout=120, env=env)
            self.assertEqual(first.returncode, 0, first.stdout + first.stderr)
            self.assertIn("Building a demo cluster of 3 nodes", first.stdout)
            # Where it lives, and how another terminal reaches it.
            self.assertIn("hsmsh -c " + os.path.join(d, "demo", "hsmsh.json"), first.stdout)
            self.assertIn("loginHSM PRECO admin password", first.stdout)  # the hint
            self.assertIn("createUser CU demo_user -hpswd", first.stdout)  # --echo, no secret
            self.assertNotIn("officer-pw1", first.stdout)
            second = subprocess.run(args, input="listUsers\n", capture_output=True, text=True,
                                    timeout=120, env=env)
            self.assertEqual(second.returncode, 0, second.stderr)
            self.assertIn("Reusing the demo cluster", second.stdout)
            self.assertEqual(second.stdout.count("demo_user"), 3)
            # The demo pins its cluster's certificate (issue 26, finding 8).
            with open(os.path.join(d, "demo", "hsmsh.json")) as f:
                pin = json.load(f)["clusters"][0]["cluster_cert_sha256"]
            self.assertRegex(pin, r"^SHA256:([0-9A-F]{2}:){31}[0-9A-F]{2}$")
            # HSMSH_PASSWORD logs in, and neither the nodes nor the shell's
            # environment block keep it.
            env["HSMSH_PASSWORD"] = "officer-pw1"
            shell = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env)
            try:
                shell.stdin.write(b"loginHSM CO admin\n")
                shell.stdin.flush()
                seen = b""
                deadline = time.monotonic() + 60
                while seen.count(b"loginHSM success") < 3 and time.monotonic() < deadline:
                    ready, _, _ = select.select([shell.stdout], [], [], 1)
                    if ready:
                        chunk = os.read(shell.stdout.fileno(), 4096)
                        if not chunk:
                            break
                        seen += chunk
                self.assertEqual(seen.count(b"loginHSM success"), 3, seen)
                environments = [f"/proc/{pid}/environ" for pid in
                                [shell.pid, *node_pids(os.path.join(d, "demo")).values()]]
                self.assertEqual(len(environments), 4)
                for path in environments:
                    with open(path, "rb") as f:
                        self.assertNotIn(b"officer-pw1", f.read(), path)
                # The demo's nodes know each other: discovery from the last
                # one (which was started naming only the first) finds all.
                demo = os.path.join(d, "demo")
                with open(os.path.join(demo, "hsmsh.json")) as f:
                    servers = json.load(f)["clusters"][0]["servers"]
                fresh = os.path.join(d, "fresh", "hsmsh.json")
                found = []
                deadline = time.monotonic() + 30
                while len(found) < 3 and time.monotonic() < deadline:
                    r = subprocess.run(
                        [os.environ["HSMSH"], "-c", fresh, "configure", "--cmu",
                         servers[2]["name"], "--prune", "--hsm-ca-cert",
                         os.path.join(demo, "customerCA.crt"), "--server-client-cert-file",
                         os.path.join(demo, "client.crt"), "--server-client-key-file",
                         os.path.join(demo, "client.key")],
                        capture_output=True, text=True, timeout=60, env=env)
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                    with open(fresh) as f:
                        found = json.load(f)["clusters"][0]["servers"]
                    time.sleep(0.2)
                self.assertEqual(sorted(s["port"] for s in found),
                                 sorted(s["port"] for s in servers))
            finally:
                shell.stdin.close()
                shell.wait(timeout=60)
                shell.stdout.close()


class DegradedClusterTests(ClusterTestCase):
    """One node stopped, one stalled: the others answer, exit status 1."""

    def test_one_node_stopped(self):
        self.c.signal(1, signal.SIGTERM)
        self.c.nodes[1].wait(timeout=10)
        r = self.c.shell(input="listUsers\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("only 2 of 3 servers connected", r.stderr)
        self.assertIn(f"Users on {self.c.label(0)}:", r.stdout)
        self.assertIn(f"Users on {self.c.label(2)}:", r.stdout)

    def test_a_silent_server_makes_the_summary_unknown(self):
        r = self.c.shell("-e", "listUsers --check")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"admin\s+full\s+consistent")
        self.c.signal(1, signal.SIGTERM)
        self.c.nodes[1].wait(timeout=10)
        r = self.c.shell("-e", "listUsers --summary")
        self.assertIn("Users across 3 servers (2 of 3 answered):", r.stdout)
        self.assertRegex(r.stdout, r"admin\s+unknown\s+consistent\s+no answer from server 1")
        self.assertNotRegex(r.stdout, r"admin\s+full")
        r = self.c.shell("-e", "listUsers --check")
        self.assertEqual(r.returncode, 1)
        r = self.c.shell("--json", "-e", "listUsers")
        doc = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertEqual(doc["covered"], {"answered": 2, "servers": 3})
        self.assertEqual(doc["summary"][0]["coverage"], "unknown")
        self.assertEqual(doc["summary"][0]["unknown"], [1])

    def test_node_stopped_after_connecting_and_one_stalled(self):
        self.c.signal(2, signal.SIGSTOP)
        try:
            # Only the stopped node misses a 10 s deadline (TSan included).
            r = self.c.shell("--timeout", "10", "--connect-timeout", "10", input="listUsers\n")
        finally:
            self.c.signal(2, signal.SIGCONT)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"Users on {self.c.label(0)}:", r.stdout)
        self.assertIn(f"Users on {self.c.label(1)}:", r.stdout)
        self.assertIn("Connection to server '127.0.0.1:%d'" % self.c.ports[2], r.stderr)
        self.assertIn("no answer before the deadline", r.stderr)

    def test_node_stalled_after_connecting_times_out_alone(self):
        """A node stalled mid-session times out alone; once it runs again
        the same shell reaches it on the next command."""
        import queue
        import subprocess
        import threading
        p = subprocess.Popen([os.environ["HSMSH"], "--timeout", "10", "--keep-going"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=self.c.env())
        lines = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(l) for l in p.stdout], daemon=True)
        reader.start()

        transcript = []

        def command(text, until, times=1):
            """Send a line; read until `until` has been printed `times` in all."""
            p.stdin.write(text + "\n")
            p.stdin.flush()
            deadline = time.monotonic() + 30
            while "".join(transcript).count(until) < times:
                self.assertLess(time.monotonic(), deadline, "".join(transcript))
                try:
                    transcript.append(lines.get(timeout=1))
                except queue.Empty:
                    pass

        users = [f"Users on {self.c.label(i)}:" for i in range(3)]
        try:
            command("listUsers", users[0])
            self.c.signal(0, signal.SIGSTOP)
            command("listUsers", f"listUsers failed on {self.c.label(0)}: TIMEOUT")
            self.c.signal(0, signal.SIGCONT)
            command("listUsers", users[0], times=2)
            p.stdin.close()
            p.wait(timeout=30)
            reader.join(timeout=10)
            transcript.extend(lines.get() for _ in range(lines.qsize()))
        finally:
            self.c.signal(0, signal.SIGCONT)
            if p.poll() is None:
                p.kill()
                p.wait()
            err = p.stderr.read()
            p.stdout.close()
            p.stderr.close()
        self.assertEqual(p.returncode, 1, err)
        out = "".join(transcript)
        self.assertEqual([out.count(u) for u in users], [2, 3, 3], out)
        self.assertEqual(out.count("TIMEOUT"), 1, out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
