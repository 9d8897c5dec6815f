# SPDX-License-Identifier: Apache-2.0
"""libhsmsh-pkcs11.so driven by pkcs11-tool (OpenSC), a tool nobody here
wrote: one slot per configured cluster, a crypto user's login, its keys as
objects, signatures that plain openssl verifies."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster  # noqa: E402

MODULE = os.environ["HSMSH_PKCS11"]
PIN = "alice:alice-pw-1"
DATA = b"signed through PKCS#11"


def tool_env(env):
    """A sanitized build of the module (CI's ASan stage) runs inside tools that
    are not: its runtime is preloaded, and the tool's own leaks are not ours."""
    ldd = subprocess.run(["ldd", MODULE], capture_output=True, text=True).stdout
    runtimes = [line.split("=>")[1].split()[0] for line in ldd.splitlines()
                if "=>" in line and ("libasan" in line or "libubsan" in line)]
    if runtimes:
        env["LD_PRELOAD"] = " ".join(runtimes)
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return env


@unittest.skipUnless(subprocess.run(["which", "pkcs11-tool"], capture_output=True).returncode == 0,
                     "pkcs11-tool (opensc) is not installed")
class Pkcs11ToolTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(peers=True)
        cls.other = Cluster(nodes=1, cluster_id="cluster-other")
        cls.c.activate()
        r = cls.c.shell(input="loginHSM CO admin officer-pw1\ncreateUser CU alice alice-pw-1\ny\n")
        assert r.returncode == 0, r.stdout + r.stderr
        r = cls.c.shell(input=f"loginHSM CU alice alice-pw-1\ngenerateKey ec:p256 signer 01\n"
                              "generateKey rsa:2048 rsasigner 02\n")
        assert r.returncode == 0, r.stdout + r.stderr
        # Two clusters in one configuration file: two slots.
        config = cls.c.write_config()
        with open(config) as f:
            doc = json.load(f)
        with open(cls.other.write_config()) as f:
            other = json.load(f)["clusters"][0]
        for field in ("hsm_ca_cert", "client_cert", "client_key"):
            other[field] = cls.other.path(other[field])
        doc["clusters"].append(other)
        with open(config, "w") as f:
            json.dump(doc, f)
        cls.data = cls.c.path("data.bin")
        with open(cls.data, "wb") as f:
            f.write(DATA)

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()
        cls.other.stop()

    def tool(self, *args):
        return subprocess.run(["pkcs11-tool", "--module", MODULE, *args], capture_output=True,
                              text=True, env=tool_env(self.c.env()), timeout=120)

    def public_key(self, handle):
        w = self.c.wire_client(1)
        self.addCleanup(w.close)
        w.call("login", type="CU", name="alice", password="alice-pw-1")
        status, f = w.call("get_key", handle=handle)
        self.assertEqual(status, "RET_OK")
        path = self.c.path(f"pub{handle}.der")
        with open(path, "wb") as out:
            out.write(bytes.fromhex(f["public"]))
        return path

    def verify(self, public, signature, *options):
        r = subprocess.run(["openssl", "dgst", *options, "-verify", public, "-keyform", "DER",
                            "-signature", signature, self.data], capture_output=True, text=True)
        return r.returncode == 0 and "Verified OK" in r.stdout

    def test_one_slot_per_cluster_with_the_cluster_as_token_label(self):
        r = self.tool("--list-slots")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"token label        : {self.c.cluster_id}", r.stdout)
        self.assertIn("token label        : cluster-other", r.stdout)
        self.assertIn("login required, rng, token initialized, PIN initialized", r.stdout)
        r = self.tool("-M")
        self.assertIn("ECDSA-SHA256", r.stdout)
        self.assertIn("hw, sign", r.stdout)

    def test_a_crypto_user_sees_its_keys_and_signs_with_them(self):
        r = self.tool("--login", "--pin", PIN, "--list-objects")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("Private Key Object"), 2, r.stdout)
        self.assertIn("label:      signer", r.stdout)
        self.assertIn("never extractable", r.stdout)
        cases = [("01", "ECDSA-SHA256", ["--signature-format", "openssl"], 2, ["-sha256"]),
                 ("02", "SHA256-RSA-PKCS", [], 4, ["-sha256"])]
        for key_id, mechanism, fmt, public_handle, options in cases:
            signature = self.c.path(f"sig-{key_id}")
            r = self.tool("--login", "--pin", PIN, "--sign", "--id", key_id, "-m", mechanism,
                          "-i", self.data, "-o", signature, *fmt)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(self.verify(self.public_key(public_handle), signature, *options),
                            mechanism)

    def test_wrong_pins_and_officers_are_refused(self):
        r = self.tool("--login", "--pin", "alice:wrong-pw-1", "--list-objects")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("CKR_PIN_INCORRECT", r.stderr)
        r = self.tool("--login", "--login-type", "so", "--so-pin", "admin:officer-pw1",
                      "--list-objects")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("CKR_USER_TYPE_INVALID", r.stderr)
        # Before login the token shows nothing: every key belongs to a user.
        r = self.tool("--list-objects")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("Key Object", r.stdout)

    def test_random_bytes_come_from_the_nodes(self):
        out = self.c.path("random.bin")
        r = self.tool("--login", "--pin", PIN, "--generate-random", "5000", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.path.getsize(out), 5000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
