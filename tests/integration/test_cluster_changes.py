# SPDX-License-Identifier: Apache-2.0
"""Cluster-wide changes that never leave HSMs divergent: prepare/commit,
refusals, shells dying between the phases, concurrent shells, stalled nodes,
divergence shown by listUsers and repaired by syncUser."""
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import HSMSH, LOGIN, ClusterTestCase, ShellOnPipes, wait_for  # noqa: E402

# The test build of the shell: it dies between the phases when
# HSMSH_FAILPOINT names the point (the shipped one never reads it).
FAILPOINTS = os.environ["HSMSH_FAILPOINTS"]


class PipedShell(ShellOnPipes):
    """A shell on pipes whose output is read as it comes, so that a test can
    wait (bounded) for what the shell said before typing on."""

    def __init__(self, env):
        super().__init__([], env, subprocess.STDOUT)
        self.seen = []

    def _next(self, deadline):
        try:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError("the shell said nothing more: " + "".join(self.seen))
        if line is None:
            raise AssertionError("the shell ended: " + "".join(self.seen))
        self.seen.append(line)
        return line

    def wait_for_lines(self, text, count, seconds=60):
        deadline = time.monotonic() + seconds
        found = 0
        while found < count:
            found += text in self._next(deadline)

    def finish(self, seconds=60):
        """Closes the input; the exit status and everything the shell said."""
        self.p.stdin.close()
        self.p.wait(timeout=seconds)
        self.reader.join(timeout=seconds)
        while not self.lines.empty():
            line = self.lines.get_nowait()
            if line is not None:
                self.seen.append(line)
        return self.p.returncode, "".join(self.seen)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=10)


class ClusterChangeTests(ClusterTestCase):
    # A prepared change resolves itself after 10 s: long enough that no
    # running shell's commit (under TSan too) comes after it.
    CLUSTER = {"peers": True, "node_args": ["--prepare-timeout", "10"]}
    ACTIVATE = True

    def sh(self, script, *args, env=None, program=HSMSH):
        return self.c.shell(*args, input=LOGIN + script, env=env, program=program)

    def dies_at(self, point, script):
        """The test shell, told to die at `point` (_exit(70))."""
        return self.sh(script, env=self.c.env(HSMSH_FAILPOINT=point), program=FAILPOINTS)

    def test_a_refusal_on_one_node_changes_no_node(self):
        r = self.sh("server 1\ncreateUser CU alice alice-pw-1\ny\nexit\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.sh("createUser CU alice alice-pw-2\ny\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"createUser failed on {self.c.label(1)}: RET_USER_EXISTS", r.stdout)
        self.assertIn(f"createUser aborted on {self.c.label(0)}: nothing changed there", r.stdout)
        self.assertIn(f"No server was changed: {self.c.label(1)} refused: RET_USER_EXISTS",
                      r.stdout)
        self.assertEqual(self.users(), [["admin"], ["admin", "alice"], ["admin"]])
        r = self.c.shell(input="listUsers\n")
        self.assertIn("Servers disagree:", r.stdout)
        self.assertRegex(r.stdout, r"alice\s+partial\s+consistent\s+missing on server 0")

    def test_divergence_is_repaired_by_sync_user_idempotently(self):
        r = self.sh("server 1\ncreateUser CU bob bob-pass-1\ny\nsyncUser bob 0\ny\n"
                    "syncUser bob 0\ny\nexit\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"syncUser success on {self.c.label(0)}", r.stdout)
        r = self.c.shell(input="listUsers --summary\n")
        self.assertRegex(r.stdout, r"bob\s+partial\s+consistent\s+missing on server 2")
        r = self.sh("syncUser bob --all\ny\nsyncUser bob --all\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"syncUser success on {self.c.label(2)}", r.stdout)
        self.assertIn("bob is the same on every server; nothing to do", r.stdout)
        r = self.c.shell(input="listUsers --summary\n")
        self.assertRegex(r.stdout, r"bob\s+full\s+consistent")
        self.assertNotIn("Servers disagree", self.c.shell(input="listUsers\n").stdout)
        # The copied credentials are the real ones: bob logs in on the copy.
        r = self.c.shell(input="server 2\nloginHSM CU bob bob-pass-1\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # A newer record is not overwritten unless forced.
        r = self.sh("server 0\nchangePswd CU bob bob-pass-2\ny\nexit\nserver 1\n"
                    "syncUser bob 0\ny\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("RET_VERSION_NEWER", r.stdout)
        r = self.c.shell(input="listUsers --summary\n")
        self.assertRegex(r.stdout, r"bob\s+full\s+inconsistent\s+differs on server 1")
        r = self.sh("server 1\nsyncUser bob 0 --force\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("bob-pass", r.stdout + r.stderr)

    def test_syncUser_all_after_a_node_restart_is_partial_not_nothing_to_do(self):
        """Issue 28, item 3: the shell's login on a restarted node is lost;
        syncUser --all cannot look there, so it says so and fails, where it
        said "the same on every server; nothing to do"."""
        r = self.sh("createUser CU henry henry-pw-1\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        shell = subprocess.Popen([HSMSH], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=self.c.env())
        try:
            shell.stdin.write(LOGIN + "server 2\ndeleteUser CU henry\ny\nexit\n")
            shell.stdin.flush()
            seen = ""
            while "deleteUser success on" not in seen:
                line = shell.stdout.readline()
                self.assertTrue(line, seen)
                seen += line
            self.c.restart_node(2)
            out, err = shell.communicate("syncUser henry --all\n", timeout=120)
        finally:
            if shell.poll() is None:
                shell.kill()
                shell.communicate()
        self.assertEqual(shell.returncode, 1, out + err)
        self.assertNotIn("nothing to do", out + err)
        self.assertRegex(out + err, r"syncUser: partial: could not look at henry on "
                                    r"server 2\(127\.0\.0\.1:\d+\): [A-Z_]+ \(")
        self.assertEqual(self.users(), [["admin", "henry"], ["admin", "henry"], ["admin"]])
        # The next step it names: logged in there, syncUser --all repairs it.
        r = self.sh("syncUser henry --all\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.users(), [["admin", "henry"]] * 3)
        # Its banner: one server of three, and no "server mode" (item 7).
        self.assertIn("Only 1 of the 3 configured servers are addressed.\n", r.stdout)
        self.assertNotIn("server mode", r.stdout)

    def test_shell_killed_after_prepare_then_nodes_abort_by_themselves(self):
        r = self.dies_at("after-prepare", "createUser CU carol carol-pw-1\ny\n")
        self.assertEqual(r.returncode, 70)
        # Meanwhile the user is reserved: a second change conflicts.
        r = self.sh("createUser CU carol carol-pw-2\ny\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("RET_CONFLICT", r.stdout)
        self.assertIn("No server was changed", r.stdout)
        # Never an unexplained conflict: which change holds the user, and until when.
        for i in range(3):
            self.assertRegex(r.stdout, re.escape(self.c.label(i)) +
                             r": another change of carol is pending there \(create_user by "
                             r"admin, transaction [0-9a-f]{32}\): the server resolves it by "
                             r"itself in \d+ s, or abortPrepared [0-9a-f]{32} ends it now\.")
        # After the deadline the nodes ask each other; nobody committed: abort.
        def free():
            r = self.sh("createUser CU carol carol-pw-3\ny\n")
            return r.returncode == 0
        self.assertTrue(wait_for(free, 90), "the reservation was never released")
        self.assertEqual(self.users(), [["admin", "carol"]] * 3)

    def test_shell_killed_after_first_commit_then_nodes_commit_by_themselves(self):
        r = self.dies_at("after-first-commit", "createUser CU dave dave-pass-1\ny\n")
        self.assertEqual(r.returncode, 70)
        self.assertTrue(wait_for(lambda: self.users() == [["admin", "dave"]] * 3, 90),
                        f"did not converge: {self.users()}")
        r = self.c.shell(input="server 2\nloginHSM CU dave dave-pass-1\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_node_killed_between_prepare_and_commit_resolves_after_restart(self):
        r = self.dies_at("after-first-commit", "createUser CU erin erin-pass-1\ny\n")
        self.assertEqual(r.returncode, 70)
        self.c.nodes[2].send_signal(signal.SIGKILL)
        self.c.nodes[2].wait(timeout=10)
        self.c.nodes[2].stdout.close()
        self.c.nodes[2], self.c.ports[2] = self.c.start_node(2)
        self.assertTrue(wait_for(lambda: self.users() == [["admin", "erin"]] * 3, 90),
                        f"did not converge: {self.users()}")

    def test_the_shipped_shell_ignores_failpoints(self):
        # HSMSH_FAILPOINT in an application's environment kills nothing: only
        # the test build reads it.
        for name, point in (("gina", "after-prepare"), ("hank", "after-first-commit")):
            r = self.sh(f"createUser CU {name} {name}-pass-1\ny\n",
                        env=self.c.env(HSMSH_FAILPOINT=point))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.users(), [["admin", "gina", "hank"]] * 3)

    def test_two_shells_racing_for_one_user_leave_one_frank_or_none(self):
        # Both log in, then both are sent the same createUser at once, each
        # with its own password. Whichever wins: at most one succeeds, a loser
        # changed nothing, and every node holds the winner's frank or none.
        shells = [PipedShell(self.c.env()) for _ in range(2)]
        try:
            for s in shells:
                s.send(LOGIN)
            for s in shells:
                s.wait_for_lines("loginHSM success on", 3)
            for i, s in enumerate(shells):
                s.send(f"createUser CU frank frank-pw-{i}\ny\n")
            results = [s.finish() for s in shells]
        finally:
            for s in shells:
                s.kill()
        winners = [i for i, (code, _) in enumerate(results) if code == 0]
        self.assertLessEqual(len(winners), 1, results)
        for i, (code, out) in enumerate(results):
            if i not in winners:
                self.assertEqual(code, 1, out)
                self.assertRegex(out, r"RET_CONFLICT|RET_USER_EXISTS")
                self.assertIn("No server was changed", out)
        expected = ["admin", "frank"] if winners else ["admin"]
        self.assertEqual(self.users(), [expected] * 3, results)
        for i in range(2):
            r = self.c.shell(input=f"loginHSM CU frank frank-pw-{i}\n")
            logged_in = r.stdout.count("loginHSM success on")
            self.assertEqual(logged_in, 3 if i in winners else 0, r.stdout + r.stderr)

    def test_stalled_node_batch_aborts_unless_allow_partial(self):
        self.c.signal(2, signal.SIGSTOP)
        try:
            # The stopped node alone misses the deadline: the running ones answer
            # well inside 10 s, under TSan too.
            args = ("--timeout", "10", "--connect-timeout", "10", "--keep-going")
            r = self.sh("createUser CU gina gina-pass-1\ny\n", *args)
            self.assertEqual(r.returncode, 1)
            self.assertIn(f"createUser failed on {self.c.label(2)}: NOT_CONNECTED", r.stdout)
            self.assertIn("No server was changed", r.stdout)
            r = self.sh("createUser CU gina gina-pass-1\ny\n", *args, "--allow-partial", "--json")
            self.assertEqual(r.returncode, 1)
            doc = json.loads(r.stdout.splitlines()[-1])
            self.assertEqual([s["outcome"] for s in doc["servers"]],
                             ["committed", "committed", "left_behind"])
            self.assertEqual(doc["servers"][2]["phase"], "prepare")
        finally:
            self.c.signal(2, signal.SIGCONT)
        self.assertEqual(self.users(), [["admin", "gina"], ["admin", "gina"], ["admin"]])
        r = self.sh("syncUser gina --all\ny\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.users(), [["admin", "gina"]] * 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
