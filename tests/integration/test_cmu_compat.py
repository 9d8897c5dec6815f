# SPDX-License-Identifier: Apache-2.0
"""hsmsh as a drop-in for CMU: invoked as cloudhsm_mgmt_util with a
cloudhsm_mgmt_util.cfg in CMU's own shape, here-documents and expect scripts
written for CMU run to the end and change every node; the same scripts
through plain hsmsh fail the way hsmsh(1) says."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import HSMSH, LOGIN, ClusterTestCase, listed_users  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def cmu_config(c, path, extra_servers=()):
    """CMU's cloudhsm_mgmt_util.cfg, as `configure -a` writes it."""
    servers = []
    for port in c.ports:
        servers.append({
            "CAfile": "", "CApath": "/opt/cloudhsm/etc/certs",
            "certificate": c.path("client.crt"),
            "e2e_encryption": {"enable": "yes", "owner_cert_path": c.path("customerCA.crt")},
            "enable": "yes", "hostname": "127.0.0.1", "name": f"127.0.0.1:{port}",
            "pkey": c.path("client.key"), "port": port, "server_ssl": "yes", "ssl_ciphers": ""})
    servers[1:1] = list(extra_servers)
    doc = {"scard": {"certificate": "cert-sc", "enable": "no", "pkey": "pkey-sc", "port": 2225},
           "servers": servers}
    with open(path, "w") as f:
        json.dump(doc, f, indent=4)
    return path


class CmuCompatTests(ClusterTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.TemporaryDirectory(prefix="hsmsh-cmu-")
        # What `meson install` makes: the same binary under CMU's name.
        self.cmu = os.path.join(self.tmp.name, "cloudhsm_mgmt_util")
        os.symlink(HSMSH, self.cmu)
        # A disabled server between the others: CMU skips it, so must we.
        disabled = {"hostname": "127.0.0.1", "name": "disabled", "port": 1, "enable": "no",
                    "certificate": "x", "pkey": "y",
                    "e2e_encryption": {"enable": "yes", "owner_cert_path": "z"}}
        self.cfg = cmu_config(self.c, os.path.join(self.tmp.name, "cloudhsm_mgmt_util.cfg"),
                              [disabled])
        self.env = dict(self.c.env(), HSMSH_CONFIG="/nonexistent/hsmsh.json")

    def tearDown(self):
        self.tmp.cleanup()

    def run_tool(self, program, script, *args):
        return subprocess.run([program, self.cfg, *args], input=script, capture_output=True,
                              text=True, timeout=120, env=self.env)

    def users(self):
        r = subprocess.run([HSMSH, self.cfg, "--json", "-e", "listUsers"], capture_output=True,
                           text=True, timeout=60, env=self.env)
        return [sorted(names or {}) for names in listed_users(r.stdout)]

    # A here-document in the style of public CMU scripts: \r\n line ends,
    # blank lines, a y after createUser and changePswd only.
    HEREDOC = ("loginHSM PRECO admin password\r\n"
               "changePswd PRECO admin officer-pw1\r\n"
               "y\r\n"
               "\r\n"
               "createUser CU app_user app-pw-123\r\n"
               "\r\n"
               "y\r\n"
               "createUser CU gone_user gone-pw-123\r\n"
               "y\r\n"
               "deleteUser CU gone_user\r\n"
               "listUsers\r\n"
               "quit\r\n")

    def test_a_cmu_here_document_runs_unchanged(self):
        r = self.run_tool(self.cmu, self.HEREDOC)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout
        # CMU's start-up, per server, on standard output; the disabled one skipped.
        self.assertIn("Connecting to the server(s), it may take time\n"
                      "depending on the server(s) load, please wait...\n", out)
        for i, port in enumerate(self.c.ports):
            self.assertIn(f"Connected to server '127.0.0.1:{port}': hostname '127.0.0.1', "
                          f"port {port}.\nE2E enabled on server {i}(127.0.0.1:{port})\n", out)
        self.assertNotIn("disabled", out + r.stderr)
        # CMU's banner, its lead lines, one line per server.
        self.assertIn("This is a CRITICAL operation, should be done on all nodes in the\n"
                      "cluster. AWS does NOT synchronize", out)
        self.assertIn("Creating User app_user(CU) on 3 nodes", out)
        self.assertIn("Deleting user gone_user(CU) on 3 nodes", out)
        self.assertIn(f"deleteUser success on server 2(127.0.0.1:{self.c.ports[2]})", out)
        # Not for deleteUser; asked again after the blank line, as CMU does.
        self.assertEqual(out.count("Do you want to continue(y/n)?"), 4)
        self.assertIn("Invalid option, please type 'y' or 'n'", out)
        self.assertTrue(out.endswith("\ndisconnecting from servers, please wait...\n"), out[-200:])
        self.assertEqual(self.users(), [["admin", "app_user"]] * 3)

    def test_the_same_scripts_through_plain_hsmsh_stop_where_hsmsh_1_says(self):
        # A blank line is no answer to hsmsh: the script stops there.
        r = self.run_tool(HSMSH, self.HEREDOC)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("line 6: createUser expects a line 'y' or 'n' to confirm", r.stderr)
        self.assertNotIn("aws-cloudhsm", r.stdout)
        self.assertEqual(self.users(), [["admin"]] * 3)
        # hsmsh asks before deleteUser too: the next line is no answer.
        script = (LOGIN + "createUser CU gone_user gone-pw-123\ny\n"
                  "deleteUser CU gone_user\nlistUsers\n")
        r = self.run_tool(HSMSH, script)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("deleteUser expects a line 'y' or 'n' to confirm", r.stderr)
        self.assertEqual(self.users(), [["admin", "gone_user"]] * 3)
        # --cmu-compat is the same mode as the name.
        r = self.run_tool(HSMSH, LOGIN + "deleteUser CU gone_user\n",
                          "--cmu-compat")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Deleting user gone_user(CU) on 3 nodes", r.stdout)
        self.assertEqual(self.users(), [["admin"]] * 3)

    def expect(self, program, user, timeout=180):
        return subprocess.run(["expect", "-f", os.path.join(HERE, "cmu", "activate_and_create.exp"),
                               program, self.cfg, user], capture_output=True, text=True,
                              timeout=timeout, env=self.env)

    def test_an_expect_script_written_for_cmu(self):
        r = self.expect(self.cmu, "exp_user")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.users(), [["admin", "exp_user"]] * 3)

    def test_an_expect_script_at_a_colour_terminal_sees_cmu_s_bytes(self):
        # An xterm without NO_COLOR: plain hsmsh would colour "success";
        # CMU never does, and the script waits for its plain bytes.
        self.env = dict(self.env, TERM="xterm")
        del self.env["NO_COLOR"]
        r = self.expect(self.cmu, "exp_user")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("createUser success on server 2(", r.stdout)
        self.assertNotIn("\x1b[3", r.stdout)

    def test_deleteUser_offers_cmu_s_rollback(self):
        self.c.activate()
        r = subprocess.run(["expect", "-f", os.path.join(HERE, "cmu", "rollback.exp"), self.cmu,
                            self.cfg], capture_output=True, text=True, timeout=180, env=self.env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Rolled back: still on server 0 alone, as before the deleteUser.
        self.assertEqual(self.users(), [["admin", "solo"], ["admin"], ["admin"]])

    def test_the_expect_script_through_plain_hsmsh_waits_in_vain(self):
        # The prompt is hsmsh's own: a script waiting for aws-cloudhsm> times out.
        script = os.path.join(self.tmp.name, "short.exp")
        with open(os.path.join(HERE, "cmu", "activate_and_create.exp")) as f:
            text = f.read().replace("set timeout 20", "set timeout 3")
        with open(script, "w") as f:
            f.write(text)
        r = subprocess.run(["expect", "-f", script, HSMSH, self.cfg, "none"],
                           capture_output=True, text=True, timeout=60, env=self.env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("TIMEOUT waiting for: aws-cloudhsm>", r.stderr)

    def test_getMValue_prints_cmu_lines(self):
        self.c.activate()
        r = self.run_tool(self.cmu, LOGIN + "getMValue 3\ngetMValue 4\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for i in range(len(self.c.ports)):
            self.assertIn(f"MValue of service 3[USER_MGMT] on server {i} : [1]", r.stdout)
            self.assertIn(f"MValue of service 4[MISC_CO] on server {i} : [1]", r.stdout)

    def test_getCert_writes_the_node_certificate_and_the_anchor(self):
        node = os.path.join(self.tmp.name, "node.pem")
        anchor = os.path.join(self.tmp.name, "anchor.pem")
        r = self.run_tool(self.cmu, f"server 0\ngetCert {node} 8\ngetCert {anchor} 4\nexit\n"
                                    "getCert\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("getCert Success"), 2)
        with open(node) as f, open(self.c.path("cluster.crt")) as g:
            self.assertEqual(f.read().strip(), g.read().strip())
        with open(anchor) as f, open(self.c.path("customerCA.crt")) as g:
            self.assertEqual(f.read(), g.read())
        self.assertEqual(r.stdout.count("-----BEGIN CERTIFICATE-----"), 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
