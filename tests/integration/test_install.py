# SPDX-License-Identifier: Apache-2.0
"""The installed tree: meson install into a DESTDIR puts every file where
Debian expects it, the installed programs run (the demo finds the installed
hsmd), the systemd unit verifies and rates as hardened, and hsmd speaks
systemd's readiness and journal protocols."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import HSMD, ClusterTestCase  # noqa: E402

BUILD = os.environ["BUILD_ROOT"]


class InstallTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="hsmsh-install-")
        cls.dest = os.path.join(cls.tmp.name, "root")
        r = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet",
                            "--destdir", cls.dest], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        options = json.loads(subprocess.run(["meson", "introspect", BUILD, "--buildoptions"],
                                            capture_output=True, text=True, timeout=60).stdout)
        option = {o["name"]: o["value"] for o in options}
        cls.prefix = option["prefix"]
        # meson's sysconfdir: /etc for prefix /usr, else relative to the prefix.
        cls.sysconfdir = os.path.join(cls.prefix, option["sysconfdir"])
        cls.root = cls.dest + cls.prefix

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def etc_installed(self, *parts):
        """Where a file of the configuration directory is once installed."""
        return os.path.join(self.sysconfdir, *parts)

    def etc(self, *parts):
        return self.dest + self.etc_installed(*parts)

    def test_the_tree(self):
        for f in ("bin/hsmsh", "sbin/hsmd", "share/man/man1/hsmsh.1", "share/man/man8/hsmd.8",
                  "share/man/man5/hsmsh.json.5", "lib/systemd/system/hsmd@.service",
                  "lib/sysusers.d/hsmd.conf"):
            self.assertTrue(os.path.isfile(self.path(f)), f)
        self.assertEqual(os.readlink(self.path("bin", "cloudhsm_mgmt_util")), "hsmsh")
        self.assertEqual(os.readlink(self.path("bin", "configure-pkcs11")), "hsmsh")
        # The PKCS#11 module, and the p11-kit module file that names where it is installed.
        modules = [os.path.join(d, f) for d, _, files in os.walk(self.root) for f in files
                   if f == "libhsmsh-pkcs11.so"]
        self.assertEqual(len(modules), 1, modules)
        self.assertEqual(os.path.basename(os.path.dirname(modules[0])), "pkcs11")
        with open(self.path("share/p11-kit/modules/hsmsh.module")) as f:
            self.assertIn(f"module: {self.prefix}/" + os.path.relpath(modules[0], self.root),
                          f.read())
        self.assertTrue(os.path.isfile(self.path("share/man/man7/hsmsh-pkcs11.7")))
        # The shell's other names have its page.
        for name in ("cloudhsm_mgmt_util", "configure-pkcs11"):
            self.assertEqual(os.readlink(self.path("share/man/man1", name + ".1")), "hsmsh.1")
        # The configuration directories with their examples; the unit reads its
        # instance's options from the same directory.
        self.assertTrue(os.path.isfile(self.etc("hsmd", "node.conf.example")))
        with open(self.path("lib/systemd/system/hsmd@.service")) as f:
            self.assertIn(f"EnvironmentFile=-{self.etc_installed('hsmd')}/%i.conf", f.read())
        with open(self.path("lib/systemd/system/hsmd@.service")) as f:
            self.assertIn(f"ExecStart={self.prefix}/sbin/hsmd serve --data /var/lib/hsmd/%i",
                          f.read())

    def test_the_example_configuration_is_read(self):
        # The shell reads the example as it is (a cluster with two servers):
        # what stops it is the certificate files the example names, not the file.
        env = dict(os.environ, NO_COLOR="1")
        r = subprocess.run([self.path("bin/hsmsh"), "-c", self.etc("hsmsh", "hsmsh.json.example")],
                           input="listUsers\n", capture_output=True, text=True, timeout=30,
                           env=env)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("client.crt: cannot open", r.stderr)
        self.assertNotIn("JSON", r.stderr)

    def test_the_installed_programs_run(self):
        for program in ("bin/hsmsh", "bin/cloudhsm_mgmt_util", "sbin/hsmd"):
            r = subprocess.run([self.path(program), "--version"], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"\d+\.\d+\.\d+")
        # The demo finds the installed hsmd beside it (../sbin), not the build's.
        env = {k: v for k, v in os.environ.items() if k != "HSMD"}
        env.update(XDG_STATE_HOME=self.tmp.name, NO_COLOR="1")
        r = subprocess.run([self.path("bin/hsmsh"), "demo", "--dir",
                            os.path.join(self.tmp.name, "demo"), "--kdf-iterations", "1000"],
                           input="listUsers\n", capture_output=True, text=True, timeout=180,
                           env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("Users on server"), 3)

    def test_the_unit_verifies_and_is_hardened(self):
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("systemd-analyze is not installed")
        units = os.path.join(self.tmp.name, "units")
        os.makedirs(units, exist_ok=True)
        # The unit as installed, its ExecStart pointed at the DESTDIR's hsmd
        # (verify checks that the program exists).
        with open(self.path("lib/systemd/system/hsmd@.service")) as f:
            text = f.read().replace(f"ExecStart={self.prefix}/sbin/hsmd",
                                    f"ExecStart={self.path('sbin/hsmd')}")
        with open(os.path.join(units, "hsmd@.service"), "w") as f:
            f.write(text)
        unit = os.path.join(units, "hsmd@test.service")
        r = subprocess.run([analyze, "verify", "--man=no", unit], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout + r.stderr, "")  # not even a warning
        r = subprocess.run([analyze, "security", "--offline=true", unit], capture_output=True,
                           text=True, timeout=60)
        score = re.search(r"Overall exposure level for hsmd@test.service: ([\d.]+)", r.stdout)
        self.assertIsNotNone(score, r.stdout + r.stderr)
        print(f"systemd-analyze security: {score.group(1)}", file=sys.stderr)
        self.assertLessEqual(float(score.group(1)), 2.0)


class SystemdProtocolTests(ClusterTestCase):
    CLUSTER = {"nodes": 1}

    def setUp(self):
        super().setUp()
        node = self.c.nodes[0]
        node.terminate()
        node.wait(timeout=10)
        node.stdout.close()

    def tearDown(self):
        self.c.nodes = []  # stopped by the set-up

    def test_readiness_and_stopping_are_notified(self):
        sock_path = self.c.path("notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(sock_path)
        notify.settimeout(30)
        env = dict(os.environ, NOTIFY_SOCKET=sock_path)
        p = subprocess.Popen([HSMD, "serve", "--data", self.c.path("node0"), "--listen",
                              "127.0.0.1:0", "--kdf-iterations", "1000"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            address = p.stdout.readline().strip()
            ready = notify.recv(4096).decode()
            self.assertIn("READY=1", ready)
            self.assertIn(f"STATUS=serving cluster {self.c.cluster_id} on {address}", ready)
            p.send_signal(signal.SIGTERM)
            self.assertIn("STOPPING=1", notify.recv(4096).decode())
            self.assertEqual(p.wait(timeout=30), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            notify.close()

    def test_journal_lines_carry_their_priority(self):
        log = self.c.path("journal.log")
        with open(log, "wb") as f:
            st = os.fstat(f.fileno())
            env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
            p = subprocess.Popen([HSMD, "serve", "--data", self.c.path("node0"), "--listen",
                                  "0.0.0.0:0", "--kdf-iterations", "1000"], env=env,
                                 stdout=subprocess.PIPE, stderr=f, text=True)
            p.stdout.readline()
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
            p.stdout.close()
            r = subprocess.run([HSMD, "serve", "--data", self.c.path("nowhere")], env=env,
                               stdout=subprocess.DEVNULL, stderr=f, timeout=30)
            self.assertEqual(r.returncode, 1)
        with open(log) as f:
            lines = f.read().splitlines()
        self.assertTrue(any(re.match(r"<6>serving cluster ", l) for l in lines), lines)
        self.assertTrue(any(re.match(r"<4>listening on a wildcard address", l) for l in lines),
                        lines)
        self.assertTrue(any(re.match(r"<3>hsmd: no node in ", l) for l in lines), lines)
        # Without the journal: the plain form, with the name and pid.
        for line in lines:
            self.assertNotRegex(line, r"^hsmd\[\d+\]")


if __name__ == "__main__":
    unittest.main(verbosity=2)
