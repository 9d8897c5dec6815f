# SPDX-License-Identifier: Apache-2.0
"""Load: 32 shells in batch mode against a 3-node cluster, mixed commands, for
a bounded time. No error but the expected conflicts, no divergence afterwards,
node memory flat. Prints the throughput and the p99 latency it saw."""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import LOGIN, SANITIZER_REPORT, Cluster, ShellOnPipes, proc_status_kib, sanitized  # noqa: E402

SHELLS = 32
SECONDS = float(os.environ.get("HSMSH_LOAD_SECONDS", "15"))
MAX_ROUNDS = 500  # per shell, so the loop is bounded whatever the machine
# What two shells racing for the same user may see, and nothing else.
EXPECTED = {"RET_CONFLICT", "RET_USER_EXISTS", "RET_USER_NOT_FOUND", "RET_USER_LOGGED_IN",
            "ABORTED"}


class Shell(ShellOnPipes):
    """One hsmsh --json process, driven a command at a time."""

    def __init__(self, env):
        # Standard error in a file (a pipe nobody reads could fill and stall
        # the shell): read at the end, for crashes and sanitizer reports.
        self.err = tempfile.TemporaryFile(mode="w+")
        super().__init__(["--json", "--keep-going"], env, self.err)

    def run(self, text, timeout=60):
        """Sends one command (and its y/n answer); returns its JSON result."""
        self.send(text)
        line = self.lines.get(timeout=timeout)
        if line is None:
            raise AssertionError(f"the shell ended during {text.split()[0]}")
        return json.loads(line)

    def close(self):
        """Ends the shell; returns what is wrong with how it ended ("" when
        nothing): a status other than 0 or 1 (1: a command failed somewhere,
        as expected conflicts do), or a sanitizer report."""
        try:
            self.p.stdin.close()
            self.p.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()
        self.p.stdout.close()
        self.err.seek(0)
        err = self.err.read()
        self.err.close()
        if self.p.returncode not in (0, 1) or SANITIZER_REPORT.search(err):
            return f"shell exited {self.p.returncode}: {err[-2000:]}"
        return ""


class LoadTests(unittest.TestCase):
    def test_32_shells_mixed_commands(self):
        with Cluster(nodes=3, node_args=["--max-connections", "128"]) as c:
            c.activate()
            self.run_load(c)

    def run_load(self, c):
        latencies, unexpected, counts = [], [], {"ok": 0, "expected": 0}
        lock = threading.Lock()
        start_barrier = threading.Barrier(SHELLS + 1)
        stop_at = [time.monotonic() + 3600]  # set for real once all are logged in

        def worker(i):
            try:
                work(i)
            except Exception:  # a worker's failure is the test's, never swallowed
                with lock:
                    unexpected.append(("worker", traceback.format_exc()))
                start_barrier.abort()

        def work(i):
            sh = Shell(c.env())
            try:
                result = sh.run(LOGIN)
                if not result["ok"]:
                    unexpected.append(("login", result))
                start_barrier.wait(timeout=120)
                for k in range(MAX_ROUNDS):
                    if time.monotonic() >= stop_at[0]:
                        break
                    own, shared = f"u{i}_{k}", f"shared{k % 4}"
                    for text in ("listUsers\n",
                                 f"createUser CU {own} pass-{k}-word\ny\n",
                                 f"changePswd CU {own} word-{k}-pass\ny\n",
                                 f"createUser CU {shared} shared-password\ny\n",
                                 f"deleteUser CU {shared}\ny\n",
                                 f"deleteUser CU {own}\ny\n"):
                        t0 = time.monotonic()
                        result = sh.run(text)
                        elapsed = time.monotonic() - t0
                        codes = {s.get("code") for s in result["servers"]} - {None}
                        with lock:
                            latencies.append(elapsed)
                            if result["ok"]:
                                counts["ok"] += 1
                            elif codes <= EXPECTED and shared in text:
                                counts["expected"] += 1
                            else:
                                unexpected.append((text.split("\n")[0], result))
            finally:
                ended = sh.close()
                if ended:
                    with lock:
                        unexpected.append(("shell", ended))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(SHELLS)]
        for t in threads:
            t.start()
        start_barrier.wait(timeout=120)
        began = time.monotonic()
        stop_at[0] = began + SECONDS
        time.sleep(SECONDS / 4)
        warm = [proc_status_kib(p.pid, "VmRSS") for p in c.nodes]
        for t in threads:
            t.join(timeout=SECONDS + 300)
        self.assertFalse(any(t.is_alive() for t in threads), "a shell hung")
        elapsed = time.monotonic() - began
        end = [proc_status_kib(p.pid, "VmRSS") for p in c.nodes]

        self.assertEqual(unexpected[:3], [], f"{len(unexpected)} unexpected errors")
        self.assertGreater(counts["ok"], SHELLS)

        # No divergence: every node holds the same users with the same digests.
        r = c.shell("--json", input="listUsers\n")
        doc = json.loads(r.stdout.splitlines()[-1])
        self.assertTrue(doc["ok"], r.stdout)
        bad = [u for u in doc["summary"]
               if u["consistency"] != "consistent" or u["coverage"] != "full"]
        self.assertEqual(bad, [], "the nodes diverged")
        left = {u["name"] for u in doc["summary"]} - {"admin"}
        self.assertEqual({n for n in left if not n.startswith("shared")}, set(),
                         "a shell's own user survived its deleteUser")

        if not sanitized(c.nodes[0].pid):
            for before, after in zip(warm, end):
                # Flat: growth after warm-up within 16 MiB, whatever ran.
                self.assertLess(after - before, 16 * 1024, f"node RSS {before} -> {after} KiB")

        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        p50 = latencies[len(latencies) // 2]
        print(f"\nload: {SHELLS} shells, 3 nodes, {elapsed:.1f} s: {len(latencies)} commands "
              f"({counts['ok']} ok, {counts['expected']} expected conflicts), "
              f"{len(latencies) / elapsed:.0f} commands/s, p50 {p50 * 1000:.1f} ms, "
              f"p99 {p99 * 1000:.1f} ms; node RSS KiB warm {warm} end {end}", flush=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
