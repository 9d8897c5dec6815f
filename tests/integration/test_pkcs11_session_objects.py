# SPDX-License-Identifier: Apache-2.0
"""Red team of the module's session objects (CKA_TOKEN false, issue 30) in a
real PyKCS11 host against real nodes: a session object made while its maker
closes on another thread, used after the login changes hands (C_Logout, then
C_Login as another user), after C_Finalize and C_Initialize, and from a
forked child."""
import ctypes
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from p11_tools import MODULE, aes_key, raw_function, sanitizer_runtimes, tool_env  # noqa: E402

if sanitizer_runtimes() and "LD_PRELOAD" not in os.environ:
    os.execve(sys.executable, [sys.executable, *sys.argv], tool_env(dict(os.environ)))

try:
    import PyKCS11
    from PyKCS11 import PyKCS11Error
    from PyKCS11.LowLevel import (CKA_LABEL, CKA_TOKEN, CKF_RW_SESSION, CKF_SERIAL_SESSION)
except ImportError:
    PyKCS11 = None

from cluster import ClusterTestCase  # noqa: E402

DATA = b"what a session key encrypts"

CKA_MODULUS_BITS = 0x121
CKA_SIGN = 0x108
CKA_VERIFY = 0x10A
CKM_RSA_PKCS_KEY_PAIR_GEN = 0


class Attribute(ctypes.Structure):
    _fields_ = [("type", ctypes.c_ulong), ("value", ctypes.c_void_p), ("len", ctypes.c_ulong)]


class Mechanism(ctypes.Structure):
    _fields_ = [("mechanism", ctypes.c_ulong), ("parameter", ctypes.c_void_p),
                ("len", ctypes.c_ulong)]


def code(error):
    return PyKCS11.CKR[error.value]


def template(*pairs):
    """A CK_ATTRIBUTE array of (type, ctypes value) pairs, and what keeps them alive."""
    arr = (Attribute * len(pairs))()
    keep = []
    for i, (t, v) in enumerate(pairs):
        keep.append(v)
        arr[i] = Attribute(t, ctypes.cast(ctypes.byref(v), ctypes.c_void_p), ctypes.sizeof(v))
    return arr, keep


@unittest.skipIf(PyKCS11 is None, "python3-pykcs11 is not installed")
class SessionObjects(ClusterTestCase):
    CLUSTER = {"peers": True}
    ACTIVATE = True
    USERS = (("CU", "carol", "carol-pw-1"), ("CU", "dave", "dave-pw-12"))

    def setUp(self):
        super().setUp()
        os.environ["HSMSH_CONFIG"] = self.c.write_config()
        self.lib = PyKCS11.PyKCS11Lib()
        self.lib.load(MODULE)
        self.slot = self.lib.getSlotList(tokenPresent=True)[0]
        self.addCleanup(self.unload)

    def unload(self):
        try:
            self.lib.closeAllSessions(self.slot)
        except PyKCS11Error:
            pass
        self.lib.lib.Unload()

    def session(self, rw=False):
        return self.lib.openSession(self.slot, CKF_SERIAL_SESSION | (CKF_RW_SESSION if rw else 0))

    def session_aes(self, s, label):
        return aes_key(s, label, token=False)

    def encrypt(self, s, key):
        return bytes(s.encrypt(key, DATA, PyKCS11.AES_GCM_Mechanism(bytes(12), b"", 128)))

    def refused(self, expected, f, *args):
        with self.assertRaises(PyKCS11Error) as caught:
            f(*args)
        self.assertIn(code(caught.exception), expected)

    def session_objects(self, s):
        return [o.value() for o in s.findObjects([(CKA_TOKEN, False)])]

    def test_a_session_object_made_while_its_maker_closes_does_not_outlive_it(self):
        """C_GenerateKeyPair (RSA-4096, slow) on one thread; its session
        closed on another meanwhile. Either the generation fails, or what it
        made goes with its session, as every other object that session made.
        FAILS at 4074dba (red team finding R2): generate_in_session adds the
        keys with maker = the closed handle after close_session's
        destroy_made_by ran; they stay visible and usable, and held on the
        node, until the login ends."""
        keeper = self.session()
        keeper.login("carol:carol-pw-1")
        generate = raw_function(MODULE, "GenerateKeyPair", ctypes.c_ulong,
                                ctypes.POINTER(Mechanism), ctypes.POINTER(Attribute),
                                ctypes.c_ulong, ctypes.POINTER(Attribute), ctypes.c_ulong,
                                ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_ulong))
        close = raw_function(MODULE, "CloseSession", ctypes.c_ulong)
        false, true = ctypes.c_ubyte(0), ctypes.c_ubyte(1)
        public, keep_public = template((CKA_TOKEN, false), (CKA_VERIFY, true),
                                       (CKA_MODULUS_BITS, ctypes.c_ulong(4096)))
        private, keep_private = template((CKA_TOKEN, false), (CKA_SIGN, true))
        mechanism = Mechanism(CKM_RSA_PKCS_KEY_PAIR_GEN, None, 0)
        for _attempt in range(4):
            maker = self.session()
            pub, priv = ctypes.c_ulong(0), ctypes.c_ulong(0)
            outcome = {}

            def run(h=maker.session.value()):
                outcome["rv"] = generate(h, ctypes.byref(mechanism), public, 3, private, 2,
                                         ctypes.byref(pub), ctypes.byref(priv))
                outcome["done"] = time.monotonic()

            t = threading.Thread(target=run)
            t.start()
            time.sleep(0.05)
            closed_at = time.monotonic()
            self.assertEqual(close(maker.session.value()), 0)
            t.join()
            if outcome["done"] > closed_at:
                break  # the close came while the generation ran
        else:
            self.skipTest("every generation ended before its session closed")
        if outcome["rv"] != 0:
            return  # refused: nothing made, nothing left over
        left = self.session_objects(keeper)
        self.assertEqual(left, [], f"{len(left)} session objects of a closed session outlive it "
                                   f"(rv {outcome['rv']}, handles {pub.value}, {priv.value})")

    def test_another_users_login_finds_none_of_the_last_ones_session_objects(self):
        s, other = self.session(rw=True), self.session()
        s.login("carol:carol-pw-1")
        key = self.session_aes(s, "carols")
        ciphertext = self.encrypt(other, key)
        self.assertEqual(len(ciphertext), len(DATA) + 16)
        s.logout()
        s.login("dave:dave-pw-12")
        self.assertEqual(self.session_objects(other), [])
        self.assertEqual(s.findObjects([(CKA_LABEL, "carols")]), [])
        self.refused({"CKR_KEY_HANDLE_INVALID", "CKR_OBJECT_HANDLE_INVALID"},
                     self.encrypt, other, key)
        self.refused({"CKR_OBJECT_HANDLE_INVALID"}, s.getAttributeValue, key, [CKA_LABEL])
        self.refused({"CKR_OBJECT_HANDLE_INVALID"}, s.destroyObject, key)
        # dave's own session object is his, and carol's handle still names nothing.
        mine = self.session_aes(s, "daves")
        self.assertNotEqual(mine.value(), key.value())
        self.assertEqual(len(self.encrypt(other, mine)), len(DATA) + 16)
        s.logout()
        s.login("carol:carol-pw-1")
        self.assertEqual(self.session_objects(other), [])
        self.refused({"CKR_KEY_HANDLE_INVALID", "CKR_OBJECT_HANDLE_INVALID"},
                     self.encrypt, other, mine)

    def test_finalize_and_initialize_forget_the_session_objects(self):
        s = self.session()
        s.login("carol:carol-pw-1")
        key = self.session_aes(s, "before-finalize")
        handle = key.value()
        self.lib.lib.Unload()
        self.lib = PyKCS11.PyKCS11Lib()
        self.lib.load(MODULE)
        self.slot = self.lib.getSlotList(tokenPresent=True)[0]
        s = self.session()
        s.login("carol:carol-pw-1")
        self.assertEqual(self.session_objects(s), [])
        stale = PyKCS11.CK_OBJECT_HANDLE(s)
        stale.assign(handle)
        self.refused({"CKR_OBJECT_HANDLE_INVALID"}, s.getAttributeValue, stale, [CKA_LABEL])
        self.refused({"CKR_KEY_HANDLE_INVALID", "CKR_OBJECT_HANDLE_INVALID"},
                     self.encrypt, s, stale)

    def test_a_forked_child_neither_uses_nor_ends_its_parents_session_objects(self):
        s = self.session()
        s.login("carol:carol-pw-1")
        key = self.session_aes(s, "parents")
        before = self.encrypt(s, key)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: its own C_Initialize, its own login
            os.close(r)
            result = "?"
            try:
                try:
                    self.encrypt(s, key)
                    result = "used the parent's session"
                except PyKCS11Error as e:
                    result = code(e)
                lib = PyKCS11.PyKCS11Lib()
                lib.load(MODULE)
                slot = lib.getSlotList(tokenPresent=True)[0]
                cs = lib.openSession(slot, CKF_SERIAL_SESSION)
                cs.login("carol:carol-pw-1")
                stale = PyKCS11.CK_OBJECT_HANDLE(cs)
                stale.assign(key.value())
                try:
                    self.encrypt(cs, stale)
                    result += " / used the parent's key"
                except PyKCS11Error as e:
                    result += " / " + code(e)
                result += f" / {len(cs.findObjects([(CKA_TOKEN, False)]))}"
                cs.logout()
                lib.lib.Unload()
            except BaseException as e:  # noqa: BLE001
                result += f" / {e!r}"
            os.write(w, result.encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            result = f.read()
        os.waitpid(pid, 0)
        self.assertIn(result, ("CKR_CRYPTOKI_NOT_INITIALIZED / CKR_OBJECT_HANDLE_INVALID / 0",
                               "CKR_CRYPTOKI_NOT_INITIALIZED / CKR_KEY_HANDLE_INVALID / 0"))
        # The parent's key is still its own.
        self.assertEqual(len(self.encrypt(s, key)), len(before))
        self.assertEqual(self.session_objects(s), [key.value()])


if __name__ == "__main__":
    unittest.main(verbosity=2)
