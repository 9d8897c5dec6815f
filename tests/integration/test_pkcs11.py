# SPDX-License-Identifier: Apache-2.0
"""libhsmsh-pkcs11.so driven by pkcs11-tool (OpenSC), a tool nobody here
wrote: one slot per configured cluster, a crypto user's login, its keys as
objects, signatures that plain openssl verifies."""
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, ClusterTestCase  # noqa: E402
from p11_tools import MODULE, have, tool_env  # noqa: E402

PIN = "alice:alice-pw-1"
DATA = b"signed through PKCS#11"


@unittest.skipUnless(have("pkcs11-tool"), "pkcs11-tool (opensc) is not installed")
class Pkcs11ToolTests(ClusterTestCase):
    CLUSTER = {"peers": True}
    ACTIVATE = True
    # bob makes keys through the module; alice's stay as the shell made them.
    USERS = (("CU", "alice", "alice-pw-1"), ("CU", "bob", "bob-pw-123"))
    SHARED = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other = Cluster(nodes=1, cluster_id="cluster-other")
        cls.addClassCleanup(cls.other.stop)
        r = cls.c.shell(input="loginHSM CU alice alice-pw-1\ngenerateKey ec:p256 signer 01\n"
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

    def tool(self, *args):
        return subprocess.run(["pkcs11-tool", "--module", MODULE, *args], capture_output=True,
                              text=True, env=tool_env(self.c.env()), timeout=120)

    def bob(self, *args, check=True):
        r = self.tool("--login", "--pin", "bob:bob-pw-123", *args)
        if check:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def keys_on(self, i, user, password):
        """The keys node i lists for a crypto user, by label and class."""
        w = self.c.wire_client(i)
        self.addCleanup(w.close)
        status, _ = w.call("login", type="CU", name=user, password=password)
        self.assertEqual(status, "RET_OK")
        status, f = w.call("list_keys", after=0)
        self.assertEqual(status, "RET_OK")
        return {(k["label"], k["class"]): k for k in f["keys"]}

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
        # Handles are the nodes' (random): the public halves found by label.
        keys = self.keys_on(1, "alice", "alice-pw-1")
        cases = [("01", "ECDSA-SHA256", ["--signature-format", "openssl"], "signer", ["-sha256"]),
                 ("02", "SHA256-RSA-PKCS", [], "rsasigner", ["-sha256"])]
        for key_id, mechanism, fmt, label, options in cases:
            public_handle = keys[(label, "public")]["handle"]
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

    def test_key_pairs_made_through_the_module_are_on_every_node_and_sign(self):
        self.bob("--keypairgen", "--key-type", "EC:prime256v1", "--label", "bob-ec", "--id", "a1")
        self.bob("--keypairgen", "--key-type", "rsa:2048", "--label", "bob-rsa", "--id", "a2")
        # One cluster-wide change: every node holds both pairs, alike.
        held = [self.keys_on(i, "bob", "bob-pw-123") for i in range(3)]
        for label in ("bob-ec", "bob-rsa"):
            for cls in ("private", "public"):
                digests = {h[(label, cls)]["digest"] for h in held}
                self.assertEqual(len(digests), 1, (label, cls))
        pub = {}
        for label in ("bob-ec", "bob-rsa"):
            pub[label] = self.c.path(f"{label}.der")
            with open(pub[label], "wb") as f:
                f.write(bytes.fromhex(held[0][(label, "public")]["public"]))
        cases = [("a1", "bob-ec", "ECDSA-SHA256", ["--signature-format", "openssl"], ["-sha256"]),
                 ("a2", "bob-rsa", "SHA256-RSA-PKCS", [], ["-sha256"]),
                 ("a2", "bob-rsa", "SHA256-RSA-PKCS-PSS", [],
                  ["-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt",
                   "rsa_pss_saltlen:32"])]
        for key_id, label, mechanism, fmt, options in cases:
            signature = self.c.path(f"sig-{mechanism}")
            self.bob("--sign", "--id", key_id, "-m", mechanism, "-i", self.data, "-o", signature,
                     *fmt)
            self.assertTrue(self.verify(pub[label], signature, *options), mechanism)
            # The module verifies its own signatures too (with the public key).
            if not fmt:
                r = self.bob("--verify", "--id", key_id, "-m", mechanism, "-i", self.data,
                             "--signature-file", signature)
                self.assertIn("Signature is valid", r.stdout)
        # pkcs11-tool makes token keys (CKA_TOKEN true), which are sensitive here.
        r = self.bob("--keygen", "--key-type", "AES:32", "--label", "bob-aes", check=False)
        self.assertIn("CKR_TEMPLATE_INCONSISTENT", r.stderr)  # pkcs11-tool asks non-sensitive
        self.bob("--keygen", "--key-type", "AES:32", "--sensitive", "--label", "bob-aes")
        self.assertIn(("bob-aes", "secret"), self.keys_on(2, "bob", "bob-pw-123"))
        # Destroyed through the module: gone from every node.
        self.bob("--delete-object", "--type", "secrkey", "--label", "bob-aes")
        for i in range(3):
            self.assertNotIn(("bob-aes", "secret"), self.keys_on(i, "bob", "bob-pw-123"))

    def test_keys_from_outside_enter_by_write_object_and_sign(self):
        # Keys openssl made, written by pkcs11-tool (which reads the file and
        # sends the key's parts): on every node alike, marked as brought in
        # (CKA_LOCAL false), and they sign what openssl verifies.
        cases = [("rsa", ["RSA", "rsa_keygen_bits:2048"], "c1", "SHA256-RSA-PKCS", [], ["-sha256"]),
                 ("ec", ["EC", "ec_paramgen_curve:P-256"], "c2", "ECDSA-SHA256",
                  ["--signature-format", "openssl"], ["-sha256"])]
        for name, (algorithm, option), key_id, mechanism, fmt, options in cases:
            label = f"outside-{name}"
            key, pub = self.outside_key(label, algorithm, option)
            self.bob("--write-object", key, "--type", "privkey", "--id", key_id, "--label", label,
                     "--usage-sign")
            self.bob("--write-object", pub, "--type", "pubkey", "--id", key_id, "--label", label)
            held = [self.keys_on(i, "bob", "bob-pw-123") for i in range(3)]
            for cls in ("private", "public"):
                self.assertEqual(len({h[(label, cls)]["digest"] for h in held}), 1, (label, cls))
            flags = held[0][(label, "private")]["flags"]
            self.assertEqual((flags["local"], flags["never_extractable"], flags["sensitive"]),
                             (False, False, True), label)
            signature = self.c.path(f"sig-{label}")
            self.bob("--sign", "--id", key_id, "-m", mechanism, "-i", self.data, "-o", signature,
                     *fmt)
            self.assertTrue(self.verify(pub, signature, *options), mechanism)
            # The public key reads back as openssl wrote it. RSA only:
            # pkcs11-tool 0.23 rebuilds an EC one from parameters it has
            # already freed (valgrind shows the reads, with SoftHSM2 too),
            # and the freed bytes here are often overwritten.
            if name == "rsa":
                read = self.c.path(f"read-{label}.der")
                self.bob("--read-object", "--type", "pubkey", "--id", key_id, "-o", read)
                with open(read, "rb") as a, open(pub, "rb") as b:
                    self.assertEqual(a.read(), b.read(), label)
        # A key the nodes would not make is refused, and nothing is left of it.
        key, _ = self.outside_key("outside-small", "RSA", "rsa_keygen_bits:1024")
        r = self.bob("--write-object", key, "--type", "privkey", "--label", "outside-small",
                     check=False)
        self.assertIn("CKR_ATTRIBUTE_VALUE_INVALID", r.stderr)
        self.assertNotIn(("outside-small", "private"), self.keys_on(0, "bob", "bob-pw-123"))

    def test_a_certificate_lives_beside_its_key(self):
        # openssl makes a key and its self-signed certificate; pkcs11-tool
        # writes both (sending the subject, issuer and serial it reads from
        # the certificate, which the module checks against the DER).
        key, _ = self.outside_key("certified", "EC", "ec_paramgen_curve:P-256")
        cert = self.c.path("certified.crt.der")
        subprocess.run(["openssl", "req", "-new", "-x509", "-key", key, "-keyform", "DER",
                        "-subj", "/CN=hsmsh certificate test", "-days", "30", "-outform", "DER",
                        "-out", cert], check=True, capture_output=True)
        self.bob("--write-object", key, "--type", "privkey", "--id", "e1", "--label",
                 "certified", "--usage-sign")
        self.bob("--write-object", cert, "--type", "cert", "--id", "e1", "--label", "certified")
        # On every node alike, and read back as written.
        held = [self.keys_on(i, "bob", "bob-pw-123") for i in range(3)]
        self.assertEqual(len({h[("certified", "certificate")]["digest"] for h in held}), 1)
        read = self.c.path("certified-read.der")
        self.bob("--read-object", "--type", "cert", "--id", "e1", "-o", read)
        with open(read, "rb") as a, open(cert, "rb") as b:
            self.assertEqual(a.read(), b.read())
        r = self.bob("--list-objects", "--type", "cert")
        self.assertIn("Certificate Object; type = X.509 cert", r.stdout)
        self.assertIn("subject:    DN: CN=hsmsh certificate test", r.stdout)
        # GnuTLS finds it as a certificate of the token.
        if have("p11tool"):
            r = subprocess.run(["p11tool", "--provider", MODULE, "--login", "--list-all-certs",
                                f"pkcs11:token={self.c.cluster_id}"], capture_output=True,
                               text=True, env=tool_env(self.c.env(GNUTLS_PIN="bob:bob-pw-123")),
                               timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("Label: certified", r.stdout)
            self.assertIn("Type: X.509 Certificate", r.stdout)
        # Destroyed like a key, on every node.
        self.bob("--delete-object", "--type", "cert", "--id", "e1")
        for i in range(3):
            self.assertNotIn(("certified", "certificate"), self.keys_on(i, "bob", "bob-pw-123"))

    def test_a_data_object_is_written_and_read_back(self):
        # pkcs11-tool 0.23 writes at most 5000 bytes of a file (and says
        # nothing of the rest): test_pkcs11_semantics writes the largest.
        data = self.c.path("app.bin")
        with open(data, "wb") as f:
            f.write(os.urandom(5000))
        self.bob("--write-object", data, "--type", "data", "--label", "app-data",
                 "--application-label", "hsmsh-test")
        read = self.c.path("app-read.bin")
        self.bob("--read-object", "--type", "data", "--label", "app-data", "-o", read)
        with open(read, "rb") as a, open(data, "rb") as b:
            self.assertEqual(a.read(), b.read())
        held = [self.keys_on(i, "bob", "bob-pw-123") for i in range(3)]
        self.assertEqual(len({h[("app-data", "data")]["digest"] for h in held}), 1)
        self.bob("--delete-object", "--type", "data", "--label", "app-data")
        self.assertNotIn(("app-data", "data"), self.keys_on(0, "bob", "bob-pw-123"))

    def outside_key(self, label, algorithm, option):
        """A private key openssl makes, and its public key, as DER files."""
        key, pub = self.c.path(f"{label}.der"), self.c.path(f"{label}.pub.der")
        subprocess.run(["openssl", "genpkey", "-algorithm", algorithm, "-pkeyopt", option,
                        "-outform", "DER", "-out", key], check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-inform", "DER", "-in", key, "-pubout", "-outform",
                        "DER", "-out", pub], check=True, capture_output=True)
        return key, pub

    def test_pkcs11_tool_makes_ed25519_pairs_whose_signatures_openssl_verifies(self):
        # OpenSC's own EC:edwards25519 and -m EDDSA (PKCS#11 3.0 numbers).
        r = self.bob("--keypairgen", "--key-type", "EC:edwards25519", "--label", "bob-ed",
                     "--id", "ed01")
        self.assertIn("EC_EDWARDS", r.stdout)
        self.assertIn("06032b6570 (OID 1.3.101.112)", r.stdout)
        point = re.search(r"EC_POINT:\s+0420([0-9a-f]{64})", r.stdout).group(1)
        signature = self.c.path("ed.sig")
        self.bob("--sign", "-m", "EDDSA", "--id", "ed01", "-i", self.data, "-o", signature)
        r = self.bob("--verify", "-m", "EDDSA", "--id", "ed01", "-i", self.data,
                     "--signature-file", signature)
        self.assertIn("Signature is valid", r.stdout)
        # openssl, from the public key's 32 bytes (RFC 8410's SubjectPublicKeyInfo).
        public = self.c.path("ed.pub.der")
        with open(public, "wb") as f:
            f.write(bytes.fromhex("302a300506032b6570032100" + point))
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER",
                            "-inkey", public, "-rawin", "-in", self.data, "-sigfile", signature],
                           capture_output=True, text=True)
        self.assertIn("Signature Verified Successfully", r.stdout, r.stderr)

    def test_pkcs11_tool_wraps_and_unwraps_a_key(self):
        # OpenSC's own --wrap and --unwrap, with RFC 3394: the key unwrapped
        # encrypts as the one wrapped; the wrapping key encrypts nothing and
        # a key not extractable does not leave.
        # --sensitive: pkcs11-tool asks CKA_SENSITIVE false unless told, and
        # no secret key is readable here.
        self.bob("--keygen", "--key-type", "AES:32", "--id", "0a", "--label", "kek",
                 "--usage-wrap", "--sensitive")
        self.bob("--keygen", "--key-type", "AES:16", "--id", "0b", "--label", "leaving",
                 "--extractable", "--sensitive")
        wrapped = self.c.path("wrapped.bin")
        self.bob("--wrap", "-m", "AES-KEY-WRAP", "--id", "0a", "--application-id", "0b",
                 "-o", wrapped)
        self.assertEqual(os.path.getsize(wrapped), 24)  # 16 bytes and the 8 of RFC 3394
        self.bob("--unwrap", "-m", "AES-KEY-WRAP", "--id", "0a", "-i", wrapped,
                 "--key-type", "AES:", "--application-id", "0c", "--application-label", "arrived",
                 "--sensitive")
        block = self.c.path("block.bin")
        with open(block, "wb") as f:
            f.write(bytes(range(16)))
        ciphertexts = []
        for key in ("0b", "0c"):
            out = self.c.path(f"block-{key}.bin")
            self.bob("--encrypt", "--id", key, "-m", "AES-CBC", "--iv", "00" * 16, "-i", block,
                     "-o", out)
            with open(out, "rb") as f:
                ciphertexts.append(f.read())
        self.assertEqual(len(ciphertexts[0]), 16)
        self.assertEqual(ciphertexts[0], ciphertexts[1])
        r = self.bob("--encrypt", "--id", "0a", "-m", "AES-CBC", "--iv", "00" * 16, "-i", block,
                     "-o", self.c.path("refused.bin"), check=False)
        self.assertNotEqual(r.returncode, 0)
        r = self.bob("--wrap", "-m", "AES-KEY-WRAP", "--id", "0a", "--application-id", "0a",
                     "-o", wrapped, check=False)
        self.assertIn("CKR_KEY_UNEXTRACTABLE", r.stdout + r.stderr)

    def test_pkcs11_tool_self_tests_pass(self):
        r = self.bob("--test")
        self.assertIn("No errors", r.stdout + r.stderr)
        # An EC pair made, renamed, used and deleted (in a read-write
        # session: a token key is refused in a read-only one, as SoftHSM2
        # refuses it; a public key's CKA_SUBJECT is not kept, a warning).
        r = self.bob("--session-rw", "--test-ec", "--id", "ec01", "--key-type", "EC:prime256v1")
        self.assertIn("==> OK", r.stdout + r.stderr)
        r = self.tool("--test-fork")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Calling C_Initialize in forked child", r.stdout + r.stderr)
        # Threads that each initialise (with CKF_OS_LOCKING_OK), list and read slots.
        r = self.tool("--use-locking", "--test-threads", "ILGISLT0", "--test-threads", "ILGISLT0")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("all threads have ended with CKR_OK", r.stdout + r.stderr)

    @unittest.skipUnless(have("p11tool"), "p11tool (gnutls-bin) is not installed")
    def test_p11tool_lists_generates_and_signs(self):
        def p11tool(*args):
            # --provider loads the module directly: p11-kit's registry is not touched.
            return subprocess.run(["p11tool", "--provider", MODULE, *args], capture_output=True,
                                  text=True, env=tool_env(self.c.env(GNUTLS_PIN="bob:bob-pw-123")),
                                  timeout=120)
        r = p11tool("--list-tokens")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"Label: {self.c.cluster_id}", r.stdout)
        self.assertIn("Label: cluster-other", r.stdout)
        token = f"pkcs11:token={self.c.cluster_id}"
        r = p11tool("--login", "--generate-privkey", "ECDSA", "--curve", "secp256r1", "--label",
                    "gnutls-ec", token)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("BEGIN PUBLIC KEY", r.stdout)
        r = p11tool("--login", "--test-sign", f"{token};object=gnutls-ec")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Verifying against public key in the token... ok", r.stdout + r.stderr)
        # GnuTLS writes a certificate (PEM, which it puts in DER) and finds it.
        key, cert = self.c.path("gnutls.key"), self.c.path("gnutls.crt")
        subprocess.run(["openssl", "req", "-new", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj",
                        "/CN=written by p11tool", "-days", "3", "-out", cert],
                       check=True, capture_output=True)
        r = p11tool("--login", "--write", "--load-certificate", cert, "--label", "gnutls-cert",
                    token)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # It reads every private key (bob-degraded too, on two nodes of three).
        self.assertNotIn("cannot import key", r.stderr)
        r = p11tool("--login", "--list-all-certs", token)
        self.assertIn("Label: gnutls-cert", r.stdout)

    @unittest.skipUnless(os.path.exists("/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so") or
                         have("dpkg") and subprocess.run(["dpkg", "-s", "libengine-pkcs11-openssl"],
                                                         capture_output=True).returncode == 0,
                         "the OpenSSL pkcs11 engine (libengine-pkcs11-openssl) is not installed")
    def test_the_openssl_engine_signs_a_certificate_request(self):
        csr = self.c.path("request.pem")
        key = (f"pkcs11:token={self.c.cluster_id};object=signer;type=private;"
               "pin-value=alice:alice-pw-1")
        r = subprocess.run(["openssl", "req", "-new", "-engine", "pkcs11", "-keyform", "engine",
                            "-key", key, "-subj", "/CN=hsmsh engine test", "-out", csr],
                           capture_output=True, text=True, timeout=120,
                           env=tool_env(self.c.env(PKCS11_MODULE_PATH=MODULE)))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = subprocess.run(["openssl", "req", "-in", csr, "-verify", "-noout", "-text"],
                           capture_output=True, text=True)
        self.assertIn("verify OK", r.stdout + r.stderr)
        self.assertIn("id-ecPublicKey", r.stdout)

    def test_configure_pkcs11_adds_and_removes_slots(self):
        # CloudHSM's configuration name for the same program: `hsmsh configure`.
        tool = self.c.path("configure-pkcs11")
        if not os.path.exists(tool):
            os.symlink(os.environ["HSMSH"], tool)
        config = self.c.path("slots.json")
        env = self.c.env(HSMSH_CONFIG=config)
        add = [tool, "add-cluster", "--cluster-id", self.c.cluster_id, "--region", "us-east-1",
               "--endpoint", f"127.0.0.1:{self.c.ports[0]}",
               "--hsm-ca-cert", self.c.path("customerCA.crt"),
               "--server-client-cert-file", self.c.path("client.crt"),
               "--server-client-key-file", self.c.path("client.key")]
        r = subprocess.run(add, capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        listed = subprocess.run(["pkcs11-tool", "--module", MODULE, "--list-slots"],
                                capture_output=True, text=True, env=tool_env(env), timeout=60)
        self.assertEqual(listed.stdout.count("token label"), 1, listed.stdout)
        self.assertIn(f"token label        : {self.c.cluster_id}", listed.stdout)
        r = subprocess.run([tool, "remove-cluster", "--cluster-id", self.c.cluster_id],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        listed = subprocess.run(["pkcs11-tool", "--module", MODULE, "--list-slots"],
                                capture_output=True, text=True, env=tool_env(env), timeout=60)
        self.assertNotIn("token label", listed.stdout)

    def test_a_degraded_cluster_still_makes_keys(self):
        """Issue 27: with one node of three hung (SIGSTOP), a key generation
        commits on the two that answer (the nodes' own availability rule),
        the module's log names the silent node, and the key signs."""
        import signal
        config = self.c.path("hsmsh.json")
        with open(config) as f:
            doc = json.load(f)
        doc["pkcs11"] = {"request_timeout_s": 3, "connect_timeout_s": 3}
        with open(config, "w") as f:
            json.dump(doc, f)
        self.c.signal(2, signal.SIGSTOP)
        try:
            r = self.bob("--keypairgen", "--key-type", "EC:prime256v1", "--label", "bob-degraded",
                         "--id", "d1")
            self.assertIn(f"127.0.0.1:{self.c.ports[2]} did not answer", r.stderr)
            for i in (0, 1):
                self.assertIn(("bob-degraded", "private"),
                              self.keys_on(i, "bob", "bob-pw-123"))
            self.bob("--sign", "--mechanism", "ECDSA-SHA256", "--label", "bob-degraded",
                     "--input-file", self.data, "--output-file", self.c.path("degraded.sig"))
        finally:
            self.c.signal(2, signal.SIGCONT)
            del doc["pkcs11"]
            with open(config, "w") as f:
                json.dump(doc, f)
        self.assertNotIn(("bob-degraded", "private"), self.keys_on(2, "bob", "bob-pw-123"))

    def test_an_application_environment_naming_a_shell_failpoint_changes_nothing(self):
        """Issue 33 item 6: the test shell's failpoints (HSMSH_FAILPOINT) are
        not in the module; a variable of that name in an application's
        environment must not kill it between the phases of a key insertion."""
        for i, point in enumerate(("after-prepare", "after-first-commit")):
            env = tool_env(self.c.env())
            env["HSMSH_FAILPOINT"] = point
            label = f"bob-fp{i}"
            r = subprocess.run(["pkcs11-tool", "--module", MODULE, "--login", "--pin",
                                "bob:bob-pw-123", "--keypairgen", "--key-type", "EC:prime256v1",
                                "--label", label, "--id", f"f{i}"],
                               capture_output=True, text=True, env=env, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            for node in range(3):
                self.assertIn((label, "private"), self.keys_on(node, "bob", "bob-pw-123"))

    def test_random_bytes_come_from_the_nodes(self):
        out = self.c.path("random.bin")
        r = self.tool("--login", "--pin", PIN, "--generate-random", "5000", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.path.getsize(out), 5000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
