# SPDX-License-Identifier: Apache-2.0
"""hsmsh at a real pseudo-terminal: prompt, hidden passwords, completion,
Ctrl-C, the y/n loop and the history file."""
import os
import re
import signal
import stat
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import HSMSH, ClusterTestCase, Terminal, node_pids  # noqa: E402


PROMPT = r"hsmsh[^\n]*> $"


class TerminalTests(ClusterTestCase):
    def setUp(self):
        super().setUp()
        self.t = Terminal([HSMSH, "--timeout", "30"], self.c.env(TERM="xterm"))
        self.t.expect(r"Connected to server '127\.0\.0\.1:%d'.*\n" % self.c.ports[2])
        self.t.expect(r"hsmsh> ")
        # A key sent the instant the first prompt shows, before the editor
        # holds the terminal, was once lost under load: wait for the editor.
        self.t.wait_for_the_editor()

    def tearDown(self):
        self.t.close()

    def activate(self):
        self.t.send("loginHSM PRECO admin\r")
        self.t.expect("Enter password:")
        self.t.send("password\r")
        after = self.t.expect(r"loginHSM success on server 2.*\n")
        self.assertNotIn("password", after)
        self.t.expect(r"hsmsh:admin\(PRECO\)> ")
        self.t.send("changePswd PRECO admin\r")
        self.t.expect("Enter password:")
        self.t.send("officer-pw1\r")
        self.t.expect("Re-enter password:")
        self.t.send("officer-pw1\r")
        self.t.expect(r"Do you want to continue\(y/n\)\?")
        self.t.send("maybe\r")
        self.t.expect("Invalid option, please type 'y' or 'n'")
        self.t.expect(r"Do you want to continue\(y/n\)\?")
        self.t.send("y\r")
        self.t.expect(r"changePswd success on server 2.*\n")
        self.t.expect(r"hsmsh:admin\(CO\)> ")

    def test_prompt_hidden_password_and_y_n_loop(self):
        self.activate()
        self.assertNotIn("officer-pw1", self.t.seen)

    def test_tab_completion(self):
        # "PR" is no user type: only a completed "PRECO" gets to the password.
        self.t.send("loginHSM PR\tadmin\r")
        self.t.expect("Enter password:")
        self.t.send("password\r")
        self.t.expect(r"loginHSM success on server 2.*\n")
        self.t.expect(PROMPT)
        self.t.send("lo\t")
        self.t.expect("loginHSM")
        self.t.expect("logoutHSM")
        self.t.send("gou\t\r")
        self.t.expect(r"logoutHSM success on server 2.*\n")
        self.assertNotIn("unknown user type", self.t.seen)
        # User names as last listed, and cluster ids.
        self.t.expect(PROMPT)
        self.t.send("listUsers\r")
        self.t.expect(r"Users on server 2")
        self.t.expect(PROMPT)
        self.t.send("changePswd PRECO ad\t")
        self.t.expect(r"changePswd PRECO ad.*min ")  # libedit may redraw the tail
        self.t.send("\x03")
        self.t.expect(PROMPT)
        self.t.send("useCluster cl\t")
        self.t.expect(r"useCluster cl.*uster-shell ")
        self.t.send("\x03")
        self.t.expect(PROMPT)

    def test_tab_lists_the_commands_in_columns(self):
        self.t.wait_for_the_editor()
        self.t.send("\t")
        listing = self.t.expect(r"hsmsh> ")  # the prompt, drawn again below the list
        rows = [line for line in listing.replace("\r", "").split("\n")[:-1] if line.strip()]
        self.assertIn("useCluster", listing)
        self.assertGreater(len(rows), 1)
        self.assertTrue(all(len(row) <= 120 for row in rows), rows)
        # Filled down then across: each column starts where the first row's does.
        starts = [m.start() for m in re.finditer(r"\S+", rows[0])]
        for row in rows[1:]:
            self.assertEqual([m.start() for m in re.finditer(r"\S+", row)],
                             starts[:len(row.split())], rows)
        self.t.send("\x03")
        self.t.expect(PROMPT)

    def test_ctrl_c_at_the_prompt_clears_the_line(self):
        self.t.wait_for_the_editor()
        self.t.send("bogus words here\x03")
        self.t.expect(r"hsmsh> ")
        self.t.send("listUsers\r")
        self.t.expect(r"Users on server 0")
        self.t.expect(PROMPT)
        self.assertNotIn("unknown command", self.t.seen)

    def test_ctrl_c_cancels_a_stalled_command(self):
        self.c.signal(1, signal.SIGSTOP)
        try:
            self.t.send("listUsers\r")
            # Server 0 has answered when the shell waits for server 1 alone.
            self.t.expect(r"hsmsh: waiting for server 1\(127\.0\.0\.1:\d+\) \(", timeout=25)
            self.t.send("\x03")
            self.t.expect(r"listUsers failed on server 1\(127\.0\.0\.1:\d+\): CANCELLED")
            self.t.expect(PROMPT)
        finally:
            self.c.signal(1, signal.SIGCONT)
        self.assertIn("Users on server 0", self.t.seen)

    def test_a_stopped_node_is_named_while_the_shell_waits(self):
        """Issue 28, item 5: a stopped (not dead) node is named on the
        terminal after a moment, not only when --timeout (30 s) passes;
        a script's standard error (not a terminal) is not told."""
        self.c.signal(1, signal.SIGSTOP)
        try:
            self.t.send("listUsers\r")
            self.t.expect(r"hsmsh: waiting for server 1\(127\.0\.0\.1:%d\) \(the request "
                          r"gives up after 30 s: --timeout; Ctrl-C stops waiting\)"
                          % self.c.ports[1], timeout=25)
            self.t.send("\x03")
            self.t.expect(r"listUsers failed on server 1\(127\.0\.0\.1:\d+\): CANCELLED")
            self.t.expect(PROMPT)
            r = self.c.shell("--timeout", "3", input="listUsers\n")
            self.assertRegex(r.stdout, r"listUsers failed on server 1\(127\.0\.0\.1:\d+\): "
                                       r"(TIMEOUT|NOT_CONNECTED)")
            self.assertNotIn("waiting for", r.stderr)
            # A server that did not answer is no disagreement (item 7).
            self.assertIn("Not every server answered; the users' coverage is unknown:", r.stdout)
            self.assertNotIn("Servers disagree", r.stdout)
        finally:
            self.c.signal(1, signal.SIGCONT)
        self.assertEqual(self.t.seen.count("waiting for"), 1)
        self.assertNotIn("server 0(", self.t.seen.split("waiting for")[1].split("\n")[0])

    def test_history_keeps_no_secret_and_has_mode_0600(self):
        self.activate()
        self.t.send("createUser CU bob bob-pass-1\r")
        self.t.expect(r"Do you want to continue\(y/n\)\?")
        self.t.send("y\r")
        self.t.expect(PROMPT)
        self.t.send(" listUsers\r")
        self.t.expect(PROMPT)
        # A line that did not parse is kept for correction, masked; a word
        # that is no command (a password typed at the prompt) is not kept.
        self.t.send("creatUser CU carol carol-pass-1\r")
        self.t.expect(r"did you mean createUser\?")
        self.t.expect(PROMPT)
        self.t.send("Tr0ub4dor-3\r")
        self.t.expect("unknown command")
        self.t.expect(PROMPT)
        self.t.send("quit\r")
        self.t.expect("disconnecting from servers, please wait...")
        self.assertEqual(self.t.wait(), 0)
        history = self.c.path("state", "hsmsh", "history")
        self.assertEqual(stat.S_IMODE(os.stat(history).st_mode), 0o600)
        with open(history) as f:
            text = f.read().replace("\\040", " ")  # libedit's vis(3) encoding
        self.assertIn("createUser CU bob -hpswd", text)
        self.assertIn("changePswd PRECO admin -hpswd", text)
        self.assertIn("creatUser CU carol -hpswd", text)
        for secret in ("bob-pass-1", "officer-pw1", "password\n", "carol-pass-1", "Tr0ub4dor"):
            self.assertNotIn(secret, text)
        self.assertNotIn(" listUsers", text)

    def test_retry_ignore_abort_when_a_server_stalls(self):
        self.activate()
        t = Terminal([HSMSH, "--timeout", "2"], self.c.env(TERM="xterm"))
        try:
            t.expect(r"hsmsh> ")
            t.wait_for_the_editor()
            t.send("loginHSM CO admin officer-pw1\r")
            t.expect(r"loginHSM success on server 2.*\n")
            t.expect(PROMPT)
            self.c.signal(2, signal.SIGSTOP)
            t.send("createUser CU zed zed-pass-1\r")
            t.expect(r"Do you want to continue\(y/n\)\?")
            t.send("y\r")
            t.expect(r"preparing on server 2\(127\.0\.0\.1:\d+\) failed")
            t.expect(r"Retry/Ignore/Abort\?\(R/I/A\):")
            t.send("X\r")
            t.expect("Invalid option")
            t.expect(r"Retry/Ignore/Abort\?\(R/I/A\):")
            t.send("R\r")
            t.expect(r"Retry/Ignore/Abort\?\(R/I/A\):")
            t.send("A\r")
            t.expect(r"No server was changed")
            t.expect(PROMPT)
            t.send("createUser CU zed zed-pass-1\r")
            t.expect(r"Do you want to continue\(y/n\)\?")
            t.send("y\r")
            t.expect(r"Retry/Ignore/Abort\?\(R/I/A\):")
            t.send("I\r")
            t.expect(r"createUser success on server 1")
            t.expect(r"Changed on 2 of 3 servers; server 2\(127\.0\.0\.1:\d+\) was left behind")
            t.expect(PROMPT)
        finally:
            self.c.signal(2, signal.SIGCONT)
            t.close()
        self.assertIn("WARNING: server 2", t.seen)

    def test_a_ctrl_c_come_as_a_signal_abandons_the_line(self):
        """A Ctrl-C typed while the terminal is cooked (between two lines,
        before the editor takes it) reaches the shell as SIGINT, not as the
        editor's key: it too abandons the line for a fresh prompt, and it
        answers no later question."""
        self.activate()
        self.t.type_half_a_line("createUser CU bo")
        os.kill(self.t.pid, signal.SIGINT)
        self.t.expect(r"^\r\nhsmsh:admin\(CO\)> ")
        self.t.send("createUser CU bob bob-pass-1\r")
        self.t.expect(r"Do you want to continue\(y/n\)\?")
        self.t.send("y\r")
        self.t.expect(r"Created User bob\(CU\)|createUser success on server 0")
        self.t.expect(PROMPT)
        self.assertNotIn("Nothing was changed", self.t.seen)
        self.assertNotIn("createUser CU bocreateUser", self.t.seen)

    def test_ctrl_c_means_no_abort_and_a_fresh_line(self):
        self.activate()
        # A half-typed line: ^C after it, and the next prompt on a line of its own.
        # The text is seen echoed (by the line editor) before Ctrl-C is typed.
        self.t.type_half_a_line("createUser CU bo")
        self.t.send("\x03")
        self.t.expect(r"^\^C\r\nhsmsh:admin\(CO\)> ")
        # At y/n, Ctrl-C is no.
        self.t.send("createUser CU bob bob-pass-1\r")
        self.t.expect(r"Do you want to continue\(y/n\)\?")
        self.t.send("\x03")
        self.t.expect("Nothing was changed.")
        self.t.expect(PROMPT)
        # During a change: aborted where it was prepared, those servers keep
        # their connection and login; the one that did not answer is named.
        self.c.signal(2, signal.SIGSTOP)
        try:
            self.t.send("createUser CU bob bob-pass-1\r")
            self.t.expect(r"Do you want to continue\(y/n\)\?")
            self.t.send("y\r")
            self.t.expect(r"Creating User bob\(CU\) on 3 nodes")
            # Servers 0 and 1 hold the change prepared when the shell waits
            # for server 2 alone.
            self.t.expect(r"hsmsh: waiting for server 2\(127\.0\.0\.1:\d+\) \(", timeout=25)
            self.t.send("\x03")
            self.t.expect(r"Interrupted: nothing was changed\. The change was aborted on "
                          r"server 0\(127\.0\.0\.1:\d+\), server 1\(127\.0\.0\.1:\d+\), "
                          r"which stay connected and logged in\. server 2\(127\.0\.0\.1:\d+\) "
                          r"had not answered")
            self.t.expect(r"hsmsh:admin\(CO\)> ")
        finally:
            self.c.signal(2, signal.SIGCONT)
        # Still logged in on servers 0 and 1, with nothing left prepared there.
        self.t.send("listPrepared\r")
        self.t.expect(r"Prepared changes on server 0\(127\.0\.0\.1:\d+\): 0")
        self.t.expect(r"Prepared changes on server 1\(127\.0\.0\.1:\d+\): 0")
        self.t.expect(PROMPT)
        # At Retry/Ignore/Abort (server 2 lost its login), Ctrl-C is Abort.
        self.t.send("createUser CU bob bob-pass-1\r")
        self.t.expect(r"Do you want to continue\(y/n\)\?")
        self.t.send("y\r")
        self.t.expect(r"Retry/Ignore/Abort\?\(R/I/A\):")
        self.t.send("\x03")
        self.t.expect(r"createUser aborted on server 1\(127\.0\.0\.1:\d+\): nothing changed")
        self.t.expect(r"No server was changed")
        self.t.expect(PROMPT)
        self.t.send("listUsers\r")
        self.t.expect(r"Users on server 1")
        self.t.expect(PROMPT)
        self.assertNotRegex(self.t.seen, r"\d+ +CU +bob +NO")  # no table row

    def test_a_refusal_every_server_gives_asks_nothing_more(self):
        self.activate()
        # Not known to the shell (nothing listed yet): the servers refuse alike.
        self.t.send("createUser CU admin admin-pass-2\r")
        self.t.expect(r"Do you want to continue\(y/n\)\?")
        self.t.send("y\r")
        self.t.expect(r"No server was changed: server 0\(127\.0\.0\.1:\d+\) refused: "
                      r"RET_USER_EXISTS")
        self.t.expect(PROMPT)
        # Once listed, the shell refuses before the banner.
        self.t.send("listUsers\r")
        self.t.expect(PROMPT)
        self.t.send("deleteUser CU nobody\r")
        self.t.expect(r"deleteUser refused for server 2\(127\.0\.0\.1:\d+\): "
                      r"RET_USER_NOT_FOUND: no nobody there \(as last listed\)")
        self.t.expect(PROMPT)
        self.assertNotIn("Retry/Ignore/Abort", self.t.seen)
        self.assertNotIn("syncUser", self.t.seen)
        self.assertEqual(self.t.seen.count("CAUTION"), 2)  # activate's and the first createUser's

    def test_ctrl_d_leaves(self):
        self.t.send("\x04")
        self.t.expect("disconnecting from servers, please wait...")
        self.assertEqual(self.t.wait(), 0)






class ColourTests(ClusterTestCase):
    """Colour at a terminal: plain hsmsh colours its results unless told
    not to (NO_COLOR, TERM=dumb, --color never); CMU mode never does."""

    GREEN = "\x1b[32msuccess\x1b[0m"
    SHARED = True

    def login_at_a_terminal(self, *args, **env):
        """`loginHSM PRECO admin` by -e at a pty (the password from
        HSMSH_PASSWORD); what the terminal showed."""
        environment = self.c.env(TERM="xterm", HSMSH_PASSWORD="password")
        del environment["NO_COLOR"]
        environment.update(env)
        t = Terminal([HSMSH, *args, "-e", "loginHSM PRECO admin"], environment)
        try:
            t.expect(r"loginHSM \S+ on server 2.*\n")
            self.assertEqual(t.wait(), 0, t.seen)
            return t.seen
        finally:
            t.close()

    def test_plain_hsmsh_colours_at_a_terminal(self):
        self.assertIn("loginHSM " + self.GREEN + " on server 0", self.login_at_a_terminal())

    def test_no_color_term_dumb_and_color_never_are_honoured(self):
        for args, env in (((), {"NO_COLOR": "1"}), ((), {"TERM": "dumb"}),
                          (("--color", "never"), {})):
            with self.subTest(args=args, env=env):
                seen = self.login_at_a_terminal(*args, **env)
                self.assertIn("loginHSM success on server 0", seen)
                self.assertNotIn("\x1b[3", seen)

    def test_cmu_mode_never_colours(self):
        seen = self.login_at_a_terminal("--cmu-compat")
        self.assertIn("loginHSM success on server 0", seen)
        self.assertNotIn("\x1b[3", seen)


class DemoTerminalTests(unittest.TestCase):
    """hsmsh demo at a terminal: the terminal's Ctrl-C is the shell's alone."""

    def setUp(self):
        import tempfile
        self.tmp = tempfile.TemporaryDirectory(prefix="hsmsh-demo-pty-")
        self.dir = os.path.join(self.tmp.name, "demo")
        env = dict(os.environ, XDG_STATE_HOME=self.tmp.name, NO_COLOR="1", TERM="xterm")
        self.t = Terminal([HSMSH, "demo", "--dir", self.dir, "--kdf-iterations", "1000"], env)
        self.t.expect(r"Connected to server .*\n.*\n.*Connected to server .*\n", timeout=120)
        self.t.expect(r"hsmsh> ")
        self.t.wait_for_the_editor()

    def tearDown(self):
        self.t.close()
        for pid in node_pids(self.dir).values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.tmp.cleanup()

    def test_ctrl_c_leaves_the_demo_nodes_running(self):
        before = node_pids(self.dir)
        self.assertEqual(len(before), 3)
        # Ctrl-C at the password prompt, then on a half-typed line.
        self.t.send("loginHSM PRECO admin\r")
        self.t.expect("Enter password:")
        self.t.send("\x03")
        self.t.expect(r"hsmsh> ")
        self.t.wait_for_the_editor()
        self.t.send("listU\x03")
        self.t.expect(r"hsmsh> ")
        self.t.send("loginHSM PRECO admin\r")
        self.t.expect("Enter password:")
        self.t.send("password\r")
        self.t.expect(r"loginHSM success on server 2.*\n")
        self.t.expect(r"hsmsh:admin\(PRECO\)> ")
        self.t.send("listUsers\r")
        self.t.expect(r"Users on server 2")
        self.t.expect(PROMPT)
        self.assertNotIn("CONNECTION_LOST", self.t.seen)
        self.assertEqual(node_pids(self.dir), before)
        for i in range(3):
            with open(os.path.join(self.tmp.name, "demo", f"node{i}.log")) as f:
                self.assertNotIn("signal 2", f.read())

    def test_the_nodes_stop_when_the_shell_is_killed(self):
        pids = node_pids(self.dir)
        self.assertEqual(len(pids), 3)
        os.kill(self.t.pid, signal.SIGKILL)  # no destructor runs: the nodes must notice

        def running(pid):
            try:
                with open(f"/proc/{pid}/status") as f:
                    return "\nState:\tZ" not in f.read()
            except OSError:
                return False
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(running(p) for p in pids.values()):
            time.sleep(0.1)
        self.assertFalse([n for n, p in pids.items() if running(p)])

    def test_a_node_that_exits_is_reported_and_its_login_not_shown(self):
        self.t.send("loginHSM PRECO admin\r")
        self.t.expect("Enter password:")
        self.t.send("password\r")
        self.t.expect(r"hsmsh:admin\(PRECO\)> ")
        pids = node_pids(self.dir)
        for pid in pids.values():
            os.kill(pid, signal.SIGKILL)
        self.t.expect(r"hsmsh demo: node\d stopped \(exit status 137\)", timeout=10)
        self.t.send("listUsers\r")
        self.t.expect(r"listUsers failed on server 2.*\n")
        # No server holds the login any more: the prompt does not claim one.
        self.t.expect(r"hsmsh> $")


if __name__ == "__main__":
    unittest.main(verbosity=2)
