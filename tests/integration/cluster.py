# SPDX-License-Identifier: Apache-2.0
"""A throwaway 3-node cluster built with the real commands, for shell tests.

The PKI is made with the openssl command line, as an operator would; the
nodes are real `hsmd serve` processes on 127.0.0.1 ephemeral ports.
"""
import fcntl
import json
import os
import pty
import queue
import re
import select
import signal
import socket
import struct
import subprocess
import tempfile
import termios
import threading
import time
import unittest

HSMD = os.environ["HSMD"]
HSMSH = os.environ["HSMSH"]
CLUSTER = "cluster-shell"
# An activated cluster's first officer (Cluster.activate) and its login line.
OFFICER_PASSWORD = "officer-pw1"
LOGIN = f"loginHSM CO admin {OFFICER_PASSWORD}\n"


def run(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kw)


def openssl(*args):
    run("openssl", *args)


def reserve_port():
    """A socket holding a port of 127.0.0.1 the kernel handed out, and the
    port. Bound with SO_REUSEADDR and never listening, it keeps the port out
    of every other bind to port 0 and every outgoing connection on the
    machine (other suites run beside this one), while a server that sets
    SO_REUSEADDR too (hsmd, openssl s_server) can listen on it. Close it when
    the server is done with the port."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def proc_status_kib(pid, field):
    """A memory field of /proc/PID/status (VmRSS, VmHWM, ...) in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def sanitized(pid):
    """A sanitizer's shadow memory and quarantine make RSS meaningless."""
    with open(f"/proc/{pid}/maps") as f:
        return any(n in f.read() for n in ("libasan", "libtsan"))


def node_pids(data_dir):
    """The hsmd processes serving the data directories under `data_dir`."""
    pids = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and b"--data" in argv:
            data = argv[argv.index(b"--data") + 1].decode()
            if data.startswith(data_dir):
                pids[os.path.basename(data)] = int(pid)
    return pids


# What ASan, LSan, UBSan and TSan print when they find something.
SANITIZER_REPORT = re.compile(r"ERROR: (Address|Leak|Memory)Sanitizer|WARNING: ThreadSanitizer|"
                              r"runtime error:|SUMMARY: \w+Sanitizer")
# A node stops within this on SIGTERM (generous: sanitized builds are slow).
STOP_SECONDS = 60


def wait_for(predicate, seconds=30):
    """Polls `predicate` (bounded) until it holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def listed_users(stdout):
    """Each server's users, by name, from a shell's `listUsers` under --json
    (the last line of its output): None for a server that listed none."""
    doc = json.loads(stdout.splitlines()[-1])
    return [{u["name"]: u for u in s["users"]} if "users" in s else None for s in doc["servers"]]


class ShellOnPipes:
    """An hsmsh process on pipes whose standard output is read, a line at a
    time, by a thread into a queue (None at its end), so that a test can wait,
    bounded, for what the shell says while it types on."""

    def __init__(self, args, env, stderr):
        self.p = subprocess.Popen([HSMSH, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=stderr, text=True, env=env)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, text):
        self.p.stdin.write(text)
        self.p.stdin.flush()


class Session:
    """One hsmsh process fed line by line: quorum tokens live as long as its
    logins, so getToken, the offline signing and the command that uses the
    token happen while it runs."""

    def __init__(self, cluster, *args, cwd=None):
        self.p = subprocess.Popen([HSMSH, "--keep-going", *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=cluster.env(), cwd=cwd)

    def send(self, text):
        self.p.stdin.write(text)
        self.p.stdin.flush()

    def wait_for(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if time.monotonic() > deadline or self.p.poll() is not None:
                raise AssertionError(f"{path} was not written")
            time.sleep(0.05)

    def close(self):
        out, err = self.p.communicate(timeout=120)
        return self.p.returncode, out, err


class Terminal:
    """A child on a pty, read with bounded waits."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.buf = ""
        self.seen = ""

    def send(self, text):
        os.write(self.fd, text.encode())

    def expect(self, pattern, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.buf)
            if m:
                chunk, self.buf = self.buf[:m.end()], self.buf[m.end():]
                return chunk
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} within {timeout}s; screen: {self.buf!r}; "
                                     f"before: {self.seen[-600:]!r}; {self.diagnosis()}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    data = b""
                if not data:
                    raise AssertionError(f"EOF before {pattern!r}; screen: {self.buf!r}")
                text = data.decode(errors="replace")
                self.buf += text
                self.seen += text

    def wait_for_the_editor(self, timeout=60):
        """Until the line editor holds the terminal (raw: no ISIG, no
        ICANON): keys typed before that are the kernel's to echo, and a
        Ctrl-C then is a signal, not the editor's key."""
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.fd)[3] & (termios.ISIG | termios.ICANON):
            if time.monotonic() > deadline:
                raise AssertionError(f"the editor never took the terminal; {self.diagnosis()}")
            time.sleep(0.02)

    def type_half_a_line(self, text):
        """Types `text` at the prompt once the editor holds the terminal,
        and waits until the editor has echoed it."""
        self.wait_for_the_editor()
        self.send(text)
        self.expect(re.escape(text))

    def diagnosis(self):
        """Where the shell's threads wait and the terminal's mode: what a
        failure under load needs to be explained."""
        parts = []
        try:
            lflag = termios.tcgetattr(self.fd)[3]
            parts.append("terminal " + " ".join(
                name for name in ("ICANON", "ISIG", "ECHO") if lflag & getattr(termios, name)))
            for task in sorted(os.listdir(f"/proc/{self.pid}/task")):
                with open(f"/proc/{self.pid}/task/{task}/wchan") as f:
                    wchan = f.read()
                with open(f"/proc/{self.pid}/task/{task}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                parts.append(f"thread {task} {state} {wchan}")
        except OSError as e:
            parts.append(str(e))
        return "; ".join(parts)

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.fd)

    def wait(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:
                os.read(self.fd, 4096)
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("the shell did not exit")


class Cluster:
    def __init__(self, nodes=3, cluster_id=CLUSTER, peers=False, node_args=(),
                 kdf_iterations=1000):
        """With `peers`, the nodes listen on fixed free ports and know each other.
        Cheap password derivation by default: tests exercise rules, not PBKDF2."""
        self.cluster_id = cluster_id
        self.kdf_iterations = str(kdf_iterations)
        self.node_args = list(node_args)
        # Held until stop(): a node restarted on its port finds it still free.
        self.reservations = [reserve_port() for _ in range(nodes)] if peers else []
        self.fixed_ports = [port for _, port in self.reservations] if peers else None
        self.tmp = tempfile.TemporaryDirectory(prefix="hsmsh-shell-")
        self.dir = self.tmp.name
        self.nodes = []
        self.stopped = False
        self.ports = []
        self._make_pki()
        self._make_nodes(nodes)
        self.start()

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def _make_pki(self):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", self.path("ca.key"), "-out", self.path("customerCA.crt"),
                "-subj", "/CN=test customer CA", "-days", "30")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", self.path("client.key"), "-out", self.path("client.csr"),
                "-subj", "/CN=test client")
        openssl("x509", "-req", "-in", self.path("client.csr"), "-CA",
                self.path("customerCA.crt"), "-CAkey", self.path("ca.key"),
                "-CAcreateserial", "-out", self.path("client.crt"), "-days", "30")

    def issue_certificate(self, name, subject, server=False):
        """A certificate the customer CA issues (`name`.crt and `name`.key):
        a server's names serverAuth, an application's names no usage."""
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", self.path(f"{name}.key"), "-out", self.path(f"{name}.csr"), "-utf8",
                "-subj", subject)
        usage = ["-extfile", self.path("node.ext")] if server else []
        openssl("x509", "-req", "-in", self.path(f"{name}.csr"), "-CA",
                self.path("customerCA.crt"), "-CAkey", self.path("ca.key"), "-CAcreateserial",
                "-out", self.path(f"{name}.crt"), "-days", "1", *usage)
        return self.path(f"{name}.crt"), self.path(f"{name}.key")

    def revocation_list(self, certificates, issuer=("customerCA.crt", "ca.key"), name="crl",
                        extension=None):
        """The customer CA's CRL naming `certificates` (openssl ca -revoke,
        then -gencrl, as an operator runs them); its path. Another `issuer`
        (certificate, key) makes a list the nodes do not trust; `extension`
        is one line of openssl's extension syntax added to the list."""
        work = self.path(f"{name}.d")
        os.makedirs(work, exist_ok=True)
        open(os.path.join(work, "index.txt"), "w").close()
        with open(os.path.join(work, "crlnumber"), "w") as f:
            f.write("01\n")
        with open(os.path.join(work, "ca.cnf"), "w") as f:
            f.write(f"[ca]\ndefault_ca = crl\n[crl]\ndatabase = {work}/index.txt\n"
                    f"crlnumber = {work}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n")
            if extension:
                f.write(f"crl_extensions = more\n[more]\n{extension}\n")
        ca = ["-config", os.path.join(work, "ca.cnf"), "-cert", self.path(issuer[0]),
              "-keyfile", self.path(issuer[1])]
        for cert in certificates:
            openssl("ca", *ca, "-revoke", cert)
        out = self.path(f"{name}.pem")
        openssl("ca", *ca, "-gencrl", "-out", out)
        return out

    def _make_nodes(self, count):
        node0 = self.path("node0")
        run(HSMD, "create-cluster", "--data", node0, "--cluster-id", self.cluster_id)
        # A node's certificate names serverAuth (hsmd refuses one that does not).
        with open(self.path("node.ext"), "w") as f:
            f.write("extendedKeyUsage=serverAuth,clientAuth\n")
        openssl("x509", "-req", "-in", os.path.join(node0, "cluster.csr"), "-CA",
                self.path("customerCA.crt"), "-CAkey", self.path("ca.key"),
                "-CAcreateserial", "-out", self.path("cluster.crt"), "-days", "30",
                "-extfile", self.path("node.ext"))
        run(HSMD, "initialize-cluster", "--data", node0, "--cluster-id", self.cluster_id,
            "--signed-cert", self.path("cluster.crt"), "--trust-anchor",
            self.path("customerCA.crt"), "--kdf-iterations", self.kdf_iterations)
        for i in range(1, count):
            run(HSMD, "clone", "--from", node0, "--data", self.path(f"node{i}"))
        for i in range(count):
            self.certify_node(i)
        self.count = count

    def certify_node(self, i):
        """Each node's own certificate (its node.csr signed by the CA, as an
        operator does): only that node's word moves its peer entry."""
        data = self.path(f"node{i}")
        openssl("x509", "-req", "-in", os.path.join(data, "node.csr"), "-CA",
                self.path("customerCA.crt"), "-CAkey", self.path("ca.key"), "-CAcreateserial",
                "-out", os.path.join(data, "signed-node.crt"), "-days", "30",
                "-extfile", self.path("node.ext"))
        run(HSMD, "install-node-certificate", "--data", data, "--signed-cert",
            os.path.join(data, "signed-node.crt"))

    def start_node(self, i, extra=(), wrap=()):
        """`wrap` is a command that runs the node (it must exec it, keeping its pid)."""
        listen, peers = "127.0.0.1:0", []
        if self.fixed_ports and i < len(self.fixed_ports):
            listen = f"127.0.0.1:{self.fixed_ports[i]}"
            peers = [a for j, p in enumerate(self.fixed_ports) if j != i
                     for a in ("--peer", f"127.0.0.1:{p}")]
        with open(self.path(f"node{i}.log"), "ab") as log:
            p = subprocess.Popen([*wrap, HSMD, "serve", "--data", self.path(f"node{i}"), "--listen",
                                  listen, "--kdf-iterations", self.kdf_iterations,
                                  *self.node_args, *peers,
                                  *extra],
                                 stdout=subprocess.PIPE, stderr=log, text=True)
        line = p.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"node{i} did not start")
        return p, int(line.rsplit(":", 1)[1])

    def start(self):
        for i in range(self.count):
            p, port = self.start_node(i)
            self.nodes.append(p)
            self.ports.append(port)
        self.write_config()

    def restart_node(self, i, extra=(), wrap=()):
        old = self.nodes[i]
        running = old.poll() is None
        old.terminate()
        old.wait(timeout=STOP_SECONDS)
        old.stdout.close()
        if running and old.returncode != 0:
            raise AssertionError(f"node{i} exited with status {old.returncode} on SIGTERM\n"
                                 + self.node_log(i))
        self.nodes[i], self.ports[i] = self.start_node(i, extra, wrap)
        self.write_config()

    def wire_client(self, i=0, timeout=5):
        """A raw protocol client of node i, with the cluster's client certificate."""
        from wire_client import WireClient
        return WireClient(self.ports[i], self.path("client.crt"), self.path("client.key"),
                          self.path("customerCA.crt"), timeout=timeout)

    def write_config(self, servers=None, name="hsmsh.json"):
        servers = servers if servers is not None else [
            {"name": f"127.0.0.1:{p}", "hostname": "127.0.0.1", "port": p} for p in self.ports]
        config = {"default_cluster": self.cluster_id,
                  "clusters": [{"cluster_id": self.cluster_id, "hsm_ca_cert": "customerCA.crt",
                                "client_cert": "client.crt", "client_key": "client.key",
                                "servers": servers}]}
        with open(self.path(name), "w") as f:
            json.dump(config, f)
        return self.path(name)

    def label(self, i):
        return f"server {i}(127.0.0.1:{self.ports[i]})"

    def env(self, **extra):
        env = dict(os.environ)
        env.update({"HSMSH_CONFIG": self.path("hsmsh.json"), "XDG_STATE_HOME": self.path("state"),
                    "NO_COLOR": "1"})
        env.update(extra)
        return env

    def shell(self, *args, input="", timeout=60, env=None, program=HSMSH):
        return subprocess.run([program, *args], input=input, capture_output=True, text=True,
                              timeout=timeout, env=env or self.env())

    def activate(self):
        r = self.shell(input="loginHSM PRECO admin password\n"
                             f"changePswd PRECO admin {OFFICER_PASSWORD}\ny\n")
        assert r.returncode == 0, r.stdout + r.stderr

    def users(self, *args, env=None):
        """What `listUsers` under --json says of each server (listed_users)."""
        return listed_users(self.shell("--json", *args, input="listUsers\n", env=env).stdout)

    def login(self, i, name="admin", password=OFFICER_PASSWORD, type="CO", timeout=5):
        """A raw protocol client of node i, logged in (by default as the
        first officer); the login must succeed."""
        w = self.wire_client(i, timeout=timeout)
        status, _ = w.call("login", type=type, name=name, password=password)
        assert status == "RET_OK", (name, status)
        return w

    def signal(self, i, signo):
        self.nodes[i].send_signal(signo)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """Stops every node and fails the test that owns the cluster when a
        node it did not stop itself exits other than 0 on SIGTERM, or when
        any node's log holds a sanitizer report (printing the log): a leak or
        a data race found at exit is a failure, not noise."""
        if self.stopped:
            return
        self.stopped = True
        running = [p.poll() is None for p in self.nodes]
        for p in self.nodes:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for p in self.nodes:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout:
                p.stdout.close()
        problems = [f"node{i} exited with status {p.returncode} on SIGTERM"
                    for i, (p, was) in enumerate(zip(self.nodes, running))
                    if was and p.returncode != 0]
        problems += [f"node{i}'s log holds a sanitizer report" for i in range(self.count)
                     if SANITIZER_REPORT.search(self.node_log(i))]
        logs = "".join(f"\n--- node{i}.log\n{self.node_log(i)}" for i in range(self.count))
        self.tmp.cleanup()
        for s, _ in self.reservations:
            s.close()
        if problems:
            raise AssertionError("; ".join(problems) + logs)

    def node_log(self, i):
        try:
            with open(self.path(f"node{i}.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


class ClusterTestCase(unittest.TestCase):
    """A test case with its own cluster `c`: a fresh one for each test, or
    with SHARED one for all the tests of the class. CLUSTER is Cluster's
    keyword arguments; ACTIVATE activates it (the officer admin, LOGIN), and
    admin then creates USERS, (type, name, password) each. The cluster is
    stopped after the test (or the class) even when the set-up fails part
    way; a node that did not stop cleanly fails it (Cluster.stop)."""

    CLUSTER = {}
    ACTIVATE = False
    USERS = ()
    SHARED = False

    @classmethod
    def make_cluster(cls):
        c = Cluster(**cls.CLUSTER)
        try:
            if cls.ACTIVATE:
                c.activate()
            if cls.USERS:
                r = c.shell(input=LOGIN + "".join(f"createUser {kind} {name} {password}\ny\n"
                                                  for kind, name, password in cls.USERS))
                assert r.returncode == 0, r.stdout + r.stderr
        except BaseException:
            c.stop()
            raise
        return c

    @classmethod
    def setUpClass(cls):
        if cls.SHARED:
            cls.c = cls.make_cluster()
            cls.addClassCleanup(cls.c.stop)

    def setUp(self):
        if not self.SHARED:
            self.c = self.make_cluster()
            self.addCleanup(self.c.stop)

    def users(self):
        """The names of each server's users (listUsers --json), sorted."""
        return [sorted(names or {}) for names in self.c.users()]

    def login(self, i, **kw):
        """Cluster.login's client of node i, closed after the test."""
        w = self.c.login(i, **kw)
        self.addCleanup(w.close)
        return w


class QuorumKeys(ClusterTestCase):
    """Three peered nodes shared by the class, activated (admin, LOGIN), with
    officers officer2 and officer3 and the crypto user app; files in the
    cluster's directory, and officers' RSA keys and signatures made by the
    openssl command line."""

    CLUSTER = {"peers": True}
    ACTIVATE = True
    USERS = (("CO", "officer2", "officer-pw2"), ("CO", "officer3", "officer-pw3"),
             ("CU", "app", "app-pass-1"))
    SHARED = True

    @classmethod
    def path(cls, name):
        return cls.c.path(name)

    @classmethod
    def make_key(cls, name, bits=2048):
        openssl("genrsa", "-out", cls.path(f"{name}.key"), str(bits))
        openssl("rsa", "-in", cls.path(f"{name}.key"), "-pubout", "-out", cls.path(f"{name}.pub"))

    @classmethod
    def sign(cls, key, data, out):
        openssl("dgst", "-sha256", "-sign", cls.path(f"{key}.key"), "-out", cls.path(out),
                cls.path(data))
