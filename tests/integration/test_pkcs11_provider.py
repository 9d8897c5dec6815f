# SPDX-License-Identifier: Apache-2.0
"""OpenSSL 3's pkcs11-provider (Debian: bookworm-backports) over the module,
configured in an openssl.cnf before OpenSSL's default provider (the usual
order) and after it: keys made with genpkey (EC and RSA), a self-signed
certificate, a signature plain openssl verifies, a public key exported, and
an s_server whose key lives in the cluster completing a TLS 1.3 handshake
that s_client verifies. Every command exits 0: none hangs on the module's
own TLS (it runs in an OpenSSL library context of its own) and none crashes
at exit (the module's state outlives the provider's clean-up).

The configuration blocks the provider's digests, as hsmsh-pkcs11(7) says to:
OpenSSL 3.0's TLS duplicates its handshake digest, which a PKCS#11 digest
cannot be without C_GetOperationState (pkcs11-provider issue 215); with the
provider first and digests not blocked, s_server fails in ssl_handshake_hash.
The module computes its digests with OpenSSL anyway."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import ClusterTestCase, reserve_port  # noqa: E402
from p11_tools import MODULE, have, sanitizer_runtimes, tool_env  # noqa: E402

PROVIDER = "/usr/lib/x86_64-linux-gnu/ossl-modules/pkcs11.so"
PIN = "carol:carol-pw-12"
DATA = b"signed through pkcs11-provider"

CONF = """openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
{first} = {first}_sect
{second} = {second}_sect
[pkcs11_sect]
module = {provider}
pkcs11-module-path = {module}
pkcs11-module-token-pin = file:{pin}
pkcs11-module-encode-provider-uri-to-pem = true
pkcs11-module-block-operations = digest
activate = 1
[default_sect]
activate = 1
"""


@unittest.skipUnless(os.path.exists(PROVIDER) and have("openssl"),
                     "pkcs11-provider is not installed (bookworm-backports)")
# pkcs11-provider loads its module with RTLD_DEEPBIND, which the sanitizer
# runtimes refuse to run (google/sanitizers#611): CI's ASan build skips this.
@unittest.skipIf(sanitizer_runtimes(), "a sanitized module cannot be loaded with RTLD_DEEPBIND")
class Provider:
    """The commands; a subclass gives the order of the providers."""

    first, second = "pkcs11", "default"
    CLUSTER = {"peers": True}
    ACTIVATE = True
    USERS = (("CU", "carol", "carol-pw-12"),)
    SHARED = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with open(cls.c.path("pin.txt"), "w") as f:
            f.write(PIN + "\n")
        with open(cls.c.path("openssl.cnf"), "w") as f:
            f.write(CONF.format(first=cls.first, second=cls.second, provider=PROVIDER,
                                module=MODULE, pin=cls.c.path("pin.txt")))
        with open(cls.c.path("data.bin"), "wb") as f:
            f.write(DATA)
        cls.env = tool_env(cls.c.env(HSMSH_CONFIG=cls.c.write_config(),
                                     OPENSSL_CONF=cls.c.path("openssl.cnf")))
        # Plain openssl, which checks what the provider made.
        cls.plain = dict(cls.env, OPENSSL_CONF="/dev/null")

    def openssl(self, *args, env=None):
        r = subprocess.run(["openssl", *args], capture_output=True, env=env or self.env,
                           timeout=120, cwd=self.c.dir)
        self.assertEqual(r.returncode, 0, f"openssl {' '.join(args)}: rc {r.returncode}\n"
                         + r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace"))
        return r

    def genpkey(self, label, *options):
        self.openssl("genpkey", "-propquery", "?provider=pkcs11", *options,
                     "-pkeyopt", f"pkcs11_uri:pkcs11:object={label}", "-out",
                     f"{label}.uri.pem")
        return f"pkcs11:object={label};type=private"

    def test_ec_key_certificate_signature_and_public_key(self):
        key = self.genpkey(f"ec-{self.first}", "-algorithm", "EC",
                           "-pkeyopt", "ec_paramgen_curve:P-256")
        self.openssl("pkey", "-in", key, "-pubout", "-out", "ec.pub")
        self.openssl("req", "-x509", "-new", "-key", key, "-subj", "/CN=provider ec",
                     "-days", "1", "-out", "ec.crt")
        self.openssl("verify", "-CAfile", "ec.crt", "ec.crt", env=self.plain)
        self.openssl("dgst", "-sha256", "-binary", "-out", "data.sha256", "data.bin")
        self.openssl("pkeyutl", "-sign", "-inkey", key, "-in", "data.sha256", "-out", "ec.sig")
        self.openssl("pkeyutl", "-verify", "-pubin", "-inkey", "ec.pub", "-in", "data.sha256",
                     "-sigfile", "ec.sig", env=self.plain)

    def test_rsa_key_signs(self):
        key = self.genpkey(f"rsa-{self.first}", "-algorithm", "RSA",
                           "-pkeyopt", "rsa_keygen_bits:2048")
        self.openssl("pkey", "-in", key, "-pubout", "-out", "rsa.pub")
        self.openssl("dgst", "-sha256", "-sign", key, "-out", "rsa.sig", "data.bin")
        self.openssl("dgst", "-sha256", "-verify", "rsa.pub", "-signature", "rsa.sig", "data.bin",
                     env=self.plain)

    def test_a_tls_server_whose_key_is_in_the_cluster(self):
        key = self.genpkey(f"tls-{self.first}", "-algorithm", "EC",
                           "-pkeyopt", "ec_paramgen_curve:P-256")
        self.openssl("req", "-x509", "-new", "-key", key, "-subj", "/CN=localhost",
                     "-days", "1", "-out", "tls.crt")
        reservation, port = reserve_port()  # openssl s_server listens with SO_REUSEADDR
        self.addCleanup(reservation.close)
        server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}",
                                   "-key", key, "-cert", "tls.crt", "-tls1_3", "-naccept", "1",
                                   "-quiet"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, env=self.env, cwd=self.c.dir)
        try:
            client = None
            for _ in range(100):  # bounded: until the server listens
                client = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                                         "-tls1_3", "-CAfile", "tls.crt",
                                         "-verify_return_error", "-verify_hostname", "localhost"],
                                        input=b"", capture_output=True, env=self.plain,
                                        timeout=60, cwd=self.c.dir)
                if b"Connection refused" not in client.stderr + client.stdout:
                    break
                server.poll()
                if server.returncode is not None:
                    break
                subprocess.run(["sleep", "0.2"])
            out = client.stdout.decode(errors="replace")
            self.assertEqual(client.returncode, 0, out + client.stderr.decode(errors="replace"))
            self.assertIn("TLSv1.3", out)
            self.assertIn("Verify return code: 0 (ok)", out)
            server.stdin.close()
            self.assertEqual(server.wait(timeout=60), 0, server.stdout.read().decode())
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
            server.stdout.close()


class ProviderFirst(Provider, ClusterTestCase):
    first, second = "pkcs11", "default"


class DefaultFirst(Provider, ClusterTestCase):
    first, second = "default", "pkcs11"


if __name__ == "__main__":
    unittest.main(verbosity=2)
