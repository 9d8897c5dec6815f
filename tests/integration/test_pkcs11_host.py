# SPDX-License-Identifier: Apache-2.0
"""The module is a library a host application can trust (issue 27): whatever
happens to the files it reads or the replies it gets, a PyKCS11 application
hears a CKR_ value and lives on; an object's description belongs to the login
that fetched it. Each risky call runs in a child application, so that a module
that kills its host fails the test with the child's exit status."""
import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from p11_tools import MODULE, aes_key, sanitizer_runtimes, tool_env  # noqa: E402

if sanitizer_runtimes() and "LD_PRELOAD" not in os.environ:
    os.execve(sys.executable, [sys.executable, *sys.argv], tool_env(dict(os.environ)))

try:
    import PyKCS11
    from PyKCS11 import PyKCS11Error
    from PyKCS11.LowLevel import (CKA_LABEL, CKF_RW_SESSION, CKF_SERIAL_SESSION)
except ImportError:
    PyKCS11 = None

from cluster import ClusterTestCase  # noqa: E402
from rogue_node import RogueNode  # noqa: E402

ALICE_AND_BOB = (("CU", "alice", "alice-pw-1"), ("CU", "bob", "bob-pw-12"))

# A host application: opens a session, lets the test break something, then
# logs in and makes the calls named on its command line. It prints each
# call's CKR_ name; its exit status is the module's verdict on its host.
HOST = r"""
import os, sys, PyKCS11
from PyKCS11.LowLevel import CKA_LABEL
lib = PyKCS11.PyKCS11Lib()
lib.load(os.environ["HSMSH_PKCS11"])
slot = lib.getSlotList(tokenPresent=True)[0]
s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
handle = PyKCS11.LowLevel.CK_OBJECT_HANDLE()
handle.assign(7)
if os.environ.get("REMOVE"):
    os.remove(os.environ["REMOVE"])
calls = {"login": lambda: s.login(os.environ["PIN"]),
         "random": lambda: s.generateRandom(16),
         "find": lambda: s.findObjects([]),
         "label": lambda: s.getAttributeValue(handle, [CKA_LABEL])}
for name in sys.argv[1:]:
    try:
        calls[name]()
        print(name, "CKR_OK", flush=True)
    except PyKCS11.PyKCS11Error as e:
        print(name, PyKCS11.CKR[e.value], flush=True)
lib.lib.Unload()
print("host alive", flush=True)
"""


def run_host(config, *calls, **env):
    e = tool_env(dict(os.environ, HSMSH_CONFIG=config, HSMSH_PKCS11=MODULE, **env))
    r = subprocess.run([sys.executable, "-c", HOST, *calls], capture_output=True, text=True,
                       env=e, timeout=120)
    answers = dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)
    return r, answers


class WrongTypes(RogueNode):
    """A node whose hello is right and whose every other reply is RET_OK with
    fields of the wrong type ({"data": 5}, "keys": 5, ...)."""

    def __init__(self, cert, key, client_ca, cluster_id):
        super().__init__(cert, key, client_ca, cluster_id, "wrong-types")

    def _handle(self, raw):
        try:
            conn = self.ctx.wrap_socket(raw, server_side=True)
            conn.settimeout(10)
            while not self.stopped.is_set():
                req = self._read_frame(conn)
                if req is None:
                    break
                f = {"data": 5, "keys": 5, "more": "yes", "handle": "x", "class": 7}
                if req["op"] == "hello":
                    f = {"version": 1, "cluster_id": self.cluster_id, "hsm_id": "hsm-rogue",
                         "state": "ACTIVE"}
                elif req["op"] == "login":
                    f = {}
                reply = {"id": req["id"], "status": "RET_OK", "f": f}
                self._send(conn, json.dumps(reply).encode())
            conn.close()
        except (OSError, ValueError, KeyError):
            pass


@unittest.skipIf(PyKCS11 is None, "python3-pykcs11 is not installed")
class HostSurvives(ClusterTestCase):
    ACTIVATE = True
    USERS = ALICE_AND_BOB
    SHARED = True

    def test_a_certificate_removed_before_login_is_a_device_error(self):
        # A copy of the configuration, whose client certificate goes (a rotation).
        rotated = self.c.path("rotated")
        os.makedirs(rotated, exist_ok=True)
        for name in ("customerCA.crt", "client.crt", "client.key"):
            shutil.copy(self.c.path(name), os.path.join(rotated, name))
        config = os.path.join(rotated, "hsmsh.json")
        shutil.copy(self.c.path("hsmsh.json"), config)
        r, answers = run_host(config, "login", "random", REMOVE=os.path.join(rotated, "client.crt"),
                              PIN="alice:alice-pw-1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(answers.get("login"), "CKR_DEVICE_ERROR", r.stdout + r.stderr)
        self.assertEqual(answers.get("random"), "CKR_USER_NOT_LOGGED_IN", r.stdout)
        self.assertIn("host alive", r.stdout)

    def test_the_log_says_what_failed_and_never_the_pin(self):
        with open(self.c.path("hsmsh.json")) as f:
            doc = json.load(f)
        doc["pkcs11"] = {"log_level": "info", "log": "stderr", "connect_timeout_s": 3,
                         "request_timeout_s": 5}
        config = self.c.path("logging.json")
        with open(config, "w") as f:
            json.dump(doc, f)
        r, answers = run_host(config, "login", PIN="alice:wrong-secret-77")
        self.assertEqual(answers.get("login"), "CKR_PIN_INCORRECT", r.stdout + r.stderr)
        self.assertIn("hsmsh-pkcs11[", r.stderr)
        self.assertIn("C_Login of alice on slot 0", r.stderr)
        self.assertIn("refused", r.stderr)
        self.assertNotIn("wrong-secret-77", r.stderr)
        # A wrong setting is said, and the defaults apply: the keys stay usable.
        doc["pkcs11"] = {"request_timeout_s": "soon"}
        with open(config, "w") as f:
            json.dump(doc, f)
        r, answers = run_host(config, "login", "random", PIN="alice:alice-pw-1")
        self.assertEqual(answers.get("random"), "CKR_OK", r.stdout + r.stderr)
        self.assertIn("pkcs11.request_timeout_s", r.stderr)

    def test_reply_fields_of_the_wrong_type_are_device_errors(self):
        rogue = WrongTypes(self.c.path("node0", "cluster.crt"), self.c.path("node0", "cluster.key"),
                           self.c.path("customerCA.crt"), self.c.cluster_id)
        self.addCleanup(rogue.stop)
        config = self.c.write_config([{"name": "rogue", "hostname": "127.0.0.1",
                                       "port": rogue.port}], "rogue.json")
        r, answers = run_host(config, "login", "random", "find", "label", PIN="alice:alice-pw-1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(answers.get("login"), "CKR_OK", r.stdout + r.stderr)
        for call in ("random", "find", "label"):
            self.assertEqual(answers.get(call), "CKR_DEVICE_ERROR", r.stdout + r.stderr)
        self.assertIn("host alive", r.stdout)


@unittest.skipIf(PyKCS11 is None, "python3-pykcs11 is not installed")
class DescriptionsBelongToTheirLogin(ClusterTestCase):
    ACTIVATE = True
    USERS = ALICE_AND_BOB

    def setUp(self):
        super().setUp()
        os.environ["HSMSH_CONFIG"] = self.c.write_config()
        self.lib = PyKCS11.PyKCS11Lib()
        self.lib.load(MODULE)
        self.addCleanup(self.lib.lib.Unload)
        self.slot = self.lib.getSlotList(tokenPresent=True)[0]
        self.s = self.lib.openSession(self.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        self.addCleanup(self.lib.closeAllSessions, self.slot)

    def label_of(self, key):
        try:
            return self.s.getAttributeValue(key, [CKA_LABEL])[0]
        except PyKCS11Error as e:
            return PyKCS11.CKR[e.value]

    def test_no_label_after_logout_nor_for_the_next_user(self):
        self.s.login("alice:alice-pw-1")
        key = aes_key(self.s, "alice-payroll")
        # A search fetches (and the module keeps) the descriptions of alice's keys.
        self.assertEqual([o.value() for o in self.s.findObjects([(CKA_LABEL, "alice-payroll")])],
                         [key.value()])
        self.assertEqual(self.label_of(key), "alice-payroll")
        self.s.logout()
        self.assertNotEqual(self.label_of(key), "alice-payroll")
        self.s.login("bob:bob-pw-12")
        self.assertNotEqual(self.label_of(key), "alice-payroll")
        self.assertEqual(self.s.findObjects([(CKA_LABEL, "alice-payroll")]), [])
        self.s.logout()
        self.s.login("alice:alice-pw-1")
        self.assertEqual(self.label_of(key), "alice-payroll")
        self.s.destroyObject(key)


if __name__ == "__main__":
    unittest.main(verbosity=2)
