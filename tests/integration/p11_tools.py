# SPDX-License-Identifier: Apache-2.0
"""What the PKCS#11 tests share: the module under test, and the environment in
which tools nobody here wrote can load it."""
import os
import shutil
import subprocess

MODULE = os.environ["HSMSH_PKCS11"]


def sanitizer_runtimes():
    """The sanitizer runtimes a sanitized build of the module (CI's ASan stage)
    needs preloaded in a process that is not sanitized itself."""
    ldd = subprocess.run(["ldd", MODULE], capture_output=True, text=True).stdout
    return [line.split("=>")[1].split()[0] for line in ldd.splitlines()
            if "=>" in line and ("libasan" in line or "libubsan" in line)]


def tool_env(env):
    """`env` for a tool that loads the module: the runtimes preloaded, and the
    tool's own leaks (not ours) not reported."""
    runtimes = sanitizer_runtimes()
    if runtimes:
        env["LD_PRELOAD"] = " ".join(runtimes)
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return env


def have(tool):
    return shutil.which(tool) is not None


# The PKCS#11 v2.40 function list, in its order (pkcs11.h's CK_FUNCTION_LIST).
FUNCTIONS = (
    "Initialize Finalize GetInfo GetFunctionList GetSlotList GetSlotInfo GetTokenInfo "
    "GetMechanismList GetMechanismInfo InitToken InitPIN SetPIN OpenSession CloseSession "
    "CloseAllSessions GetSessionInfo GetOperationState SetOperationState Login Logout "
    "CreateObject CopyObject DestroyObject GetObjectSize GetAttributeValue SetAttributeValue "
    "FindObjectsInit FindObjects FindObjectsFinal EncryptInit Encrypt EncryptUpdate EncryptFinal "
    "DecryptInit Decrypt DecryptUpdate DecryptFinal DigestInit Digest DigestUpdate DigestKey "
    "DigestFinal SignInit Sign SignUpdate SignFinal SignRecoverInit SignRecover VerifyInit Verify "
    "VerifyUpdate VerifyFinal VerifyRecoverInit VerifyRecover DigestEncryptUpdate "
    "DecryptDigestUpdate SignEncryptUpdate DecryptVerifyUpdate GenerateKey GenerateKeyPair "
    "WrapKey UnwrapKey DeriveKey SeedRandom GenerateRandom GetFunctionStatus CancelFunction "
    "WaitForSlotEvent").split()


def raw_function(path, name, *argtypes):
    """C_`name` of the module at `path` (already loaded by PyKCS11: dlopen
    returns the same library), for the calls PyKCS11 does not wrap. Arguments
    are ctypes values; it returns the CK_RV."""
    import ctypes

    class FunctionList(ctypes.Structure):
        _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)] + [
            (f, ctypes.c_void_p) for f in FUNCTIONS]

    lib = ctypes.CDLL(path)
    table = ctypes.POINTER(FunctionList)()
    if lib.C_GetFunctionList(ctypes.byref(table)) != 0:
        raise RuntimeError("C_GetFunctionList failed")
    pointer = getattr(table.contents, name)
    return ctypes.CFUNCTYPE(ctypes.c_ulong, *argtypes)(pointer)


def aes_key(session, label, token=True):
    """A sensitive AES-256 key for encryption made through PyKCS11's
    `session`: a token object, or a session object (token=False)."""
    import PyKCS11
    from PyKCS11.LowLevel import (CKA_CLASS, CKA_DECRYPT, CKA_ENCRYPT, CKA_KEY_TYPE, CKA_LABEL,
                                  CKA_SENSITIVE, CKA_TOKEN, CKA_VALUE_LEN, CKK_AES, CKO_SECRET_KEY)
    return session.generateKey([(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES),
                                (CKA_TOKEN, token), (CKA_SENSITIVE, True), (CKA_ENCRYPT, True),
                                (CKA_DECRYPT, True), (CKA_VALUE_LEN, 32), (CKA_LABEL, label)],
                               mecha=PyKCS11.MechanismAESGENERATEKEY)
