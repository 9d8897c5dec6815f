# SPDX-License-Identifier: Apache-2.0
"""Sixteen application threads signing through one slot at once, each in its
own session (bench/pkcs11_sign, a C loop): every signature is made; under
CI's ThreadSanitizer stage, with the module and the loop instrumented, no
data race."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster  # noqa: E402
from p11_tools import MODULE, tool_env  # noqa: E402

DRIVER = os.environ["PKCS11_SIGN"]


class ThreadedSigning(unittest.TestCase):
    def test_sixteen_threads_sign_on_every_node(self):
        with Cluster(peers=True) as c:
            c.activate()
            r = c.shell(input="loginHSM CO admin officer-pw1\ncreateUser CU app app-pw-123\ny\n")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            env = tool_env(c.env(HSMSH_CONFIG=c.write_config()))
            for algorithm in ("ec", "rsa"):
                r = subprocess.run([DRIVER, MODULE, "app:app-pw-123", f"threads-{algorithm}",
                                    algorithm, "16", "10"], capture_output=True, text=True,
                                   env=env, timeout=300)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn('"signatures": 160,', r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
