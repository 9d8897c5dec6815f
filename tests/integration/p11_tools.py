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
