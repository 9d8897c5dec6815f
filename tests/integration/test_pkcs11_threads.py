# SPDX-License-Identifier: Apache-2.0
"""Sixteen application threads signing through one slot at once, each in its
own session (bench/pkcs11_sign, a C loop): every signature is made; and
C_Finalize while four of them sign (tests/integration/pkcs11_finalize_race).
Under CI's ThreadSanitizer stage, with the module and the loops instrumented,
no data race."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import ClusterTestCase  # noqa: E402
from p11_tools import MODULE, tool_env  # noqa: E402

DRIVER = os.environ["PKCS11_SIGN"]
FINALIZE_RACE = os.environ.get("PKCS11_FINALIZE_RACE")


class ThreadedSigning(ClusterTestCase):
    CLUSTER = {"peers": True}
    ACTIVATE = True
    USERS = (("CU", "app", "app-pw-123"),)

    def setUp(self):
        super().setUp()
        self.env = tool_env(self.c.env(HSMSH_CONFIG=self.c.write_config()))

    def test_sixteen_threads_sign_on_every_node(self):
        for algorithm in ("ec", "rsa"):
            r = subprocess.run([DRIVER, MODULE, "app:app-pw-123", f"threads-{algorithm}",
                                algorithm, "16", "10"], capture_output=True, text=True,
                               env=self.env, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn('"signatures": 160,', r.stdout)

    @unittest.skipUnless(FINALIZE_RACE, "PKCS11_FINALIZE_RACE is not set")
    def test_finalize_while_four_threads_sign(self):
        # 20 rounds of C_Finalize arriving while 4 threads sign: calls in
        # flight finish, later ones hear CKR_CRYPTOKI_NOT_INITIALIZED, and
        # nothing in use is freed (ASan and TSan stages run this too).
        r = subprocess.run([FINALIZE_RACE, MODULE, "app:app-pw-123", "20", "4"],
                           capture_output=True, text=True, env=self.env, timeout=500)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('{"rounds": 20, "threads": 4}', r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
