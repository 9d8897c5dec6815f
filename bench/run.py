#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""hsmsh benchmarks, side by side in one run (these machines are shared and
noisy: ratios, not absolute times):

1. fan-out: time per listUsers and per mutation with N nodes, each behind a
   20 ms loopback delay proxy (bench/delay_proxy, C++), as T(N)/T(1);
2. start-up with the same N;
3. batch throughput of listUsers on 3 nodes next to a bare TLS round trip;
4. password-bound throughput (createUser/deleteUser at 600,000 iterations)
   next to the bound the machine allows, cores / (nodes x one derivation);
5. memory: hsmsh with N nodes, hsmd holding 1,024 users with 32 clients;
6. node concurrency: 32 clients with mixed commands against one node;
7. key use: one sign on a node through the protocol (ECDSA P-256 with
   SHA-256, RSA-2048 PKCS#1 v1.5 with SHA-256), median and p99, next to
   `openssl speed` for the same algorithm and to a bare protocol round trip;
8. PKCS#11: signatures per second through libhsmsh-pkcs11.so on 3 nodes with
   1 and 16 application threads, next to SoftHSM2 in the same C loop
   (bench/pkcs11_sign) and `openssl speed`; p50/p99, CPU per signature in
   the application and in the nodes.

Prints a table, writes JSON and, with gnuplot, the fan-out chart (SVG).

    python3 bench/run.py --build build [--smoke] [--out bench/results.json]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DELAY_MS = 20


def setup_env(build):
    os.environ["HSMD"] = os.path.join(build, "src", "hsmd", "hsmd")
    os.environ["HSMSH"] = os.path.join(build, "src", "hsmsh", "hsmsh")
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


def tool(build, name):
    return os.path.join(build, "bench", name)


class DelayProxy:
    """bench/delay_proxy in front of every node; it exits when we close its stdin."""

    def __init__(self, build, ports, delay_ms):
        self.p = subprocess.Popen([tool(build, "delay_proxy"), str(delay_ms),
                                   *map(str, ports)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ports = [int(self.p.stdout.readline()) for _ in ports]

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=10)
        self.p.stdout.close()


def timed_shell(cluster, script, *args, cpu=None, shell=None):
    """Runs hsmsh (or `shell`) on a script; returns (seconds, peak RSS in
    KiB). With a `cpu` list, appends the CPU seconds the shell used."""
    start = time.perf_counter()
    p = subprocess.Popen([shell or os.environ["HSMSH"], *args], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=cluster.env())
    p.stdin.write(script.encode())
    p.stdin.close()
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    if cpu is not None:
        cpu.append(usage.ru_utime + usage.ru_stime)
    err = p.stderr.read().decode()
    p.stderr.close()
    if p.returncode != 0:
        raise RuntimeError(f"hsmsh failed ({p.returncode}): {err[-500:]}")
    return elapsed, usage.ru_maxrss


def median_time(cluster, script, repeats, *args):
    return statistics.median(timed_shell(cluster, script, *args)[0] for _ in range(repeats))


LOGIN = "loginHSM CO admin officer-pw1\n"


def pairs(count, prefix="bench"):
    return "".join(f"createUser CU {prefix}{i} {prefix}-pass-{i}\ndeleteUser CU {prefix}{i}\n"
                   for i in range(count))


def fan_out(build, sizes, commands, repeats):
    from cluster import Cluster
    rows = []
    for n in sizes:
        c = Cluster(nodes=n)
        proxy = None
        try:
            c.activate()
            proxy = DelayProxy(build, c.ports, DELAY_MS)
            c.write_config([{"name": f"node{i}", "hostname": "127.0.0.1", "port": p}
                            for i, p in enumerate(proxy.ports)])
            startup = median_time(c, "", repeats)
            lists = median_time(c, "listUsers\n" * commands, repeats)
            mutations = median_time(c, LOGIN + pairs(commands // 2), repeats, "-y")
            login_only = median_time(c, LOGIN, repeats)
            _, rss = timed_shell(c, "listUsers\n")
            rows.append({"nodes": n, "startup_s": startup,
                         "list_users_s": (lists - startup) / commands,
                         "mutation_s": (mutations - login_only) / (2 * (commands // 2)),
                         "shell_peak_rss_kib": rss})
        finally:
            if proxy:
                proxy.close()
            c.stop()
    base = rows[0]
    for r in rows:
        for key in ("startup_s", "list_users_s", "mutation_s"):
            r[key.replace("_s", "_ratio")] = r[key] / base[key]
        # A model, not a measurement: a sequential fan-out, as CMU's, would pay
        # every server's round trip in turn, N x T(1).
        r["sequential_list_users_model_s"] = base["list_users_s"] * r["nodes"]
    return rows


def throughput(build, commands):
    from cluster import Cluster
    with Cluster(nodes=3) as c:
        c.activate()
        users = "".join(f"createUser CU user{i} user-pass-{i}\n" for i in range(9))
        timed_shell(c, LOGIN + users, "-y")
        startup = median_time(c, "", 3)
        shell_cpu, nodes_before = [], [cpu_seconds(p.pid) for p in c.nodes]
        total, _ = timed_shell(c, "listUsers\n" * commands, cpu=shell_cpu)
        nodes_cpu = sum(cpu_seconds(p.pid) for p in c.nodes) - sum(nodes_before)
        per_command = (total - startup) / commands
        # The machine's bound for this work: all cores busy with what one
        # command costs in CPU (shell and nodes), nothing else.
        cpu_per_command = (shell_cpu[0] + nodes_cpu) / commands
        rt = subprocess.run([tool(build, "roundtrip"), c.path("client.crt"),
                             c.path("client.key"), c.path("customerCA.crt"), str(c.ports[0]),
                             c.cluster_id, str(commands)],
                            capture_output=True, text=True, check=True)
        bare = float(rt.stdout.strip())
        return {"commands": commands, "nodes": 3, "users": 10,
                "commands_per_s": 1 / per_command, "per_command_s": per_command,
                "bare_round_trip_s": bare, "overhead_ratio": per_command / bare,
                "shell_cpu_per_command_s": shell_cpu[0] / commands,
                "nodes_cpu_per_command_s": nodes_cpu / commands,
                "cpu_bound_commands_per_s": os.cpu_count() / cpu_per_command}


def per_server_cpu(sizes, commands, repeats, shell=None):
    """The shell's CPU per command for each extra server, straight to the
    nodes (no proxy): (CPU with N servers - CPU with 1) / (N - 1), where each
    CPU per command is (CPU of the script - CPU of an empty script) /
    commands, the median of `repeats` runs. For listUsers and for a mutation
    (a createUser/deleteUser pair: two rounds each)."""
    from cluster import Cluster
    biggest = max(sizes)
    with Cluster(nodes=biggest) as c:
        c.activate()
        per = {}
        for n in sizes:
            c.write_config([{"name": f"node{i}", "hostname": "127.0.0.1", "port": p}
                            for i, p in enumerate(c.ports[:n])])

            def cpu(script, *args):
                runs = []
                for _ in range(repeats):
                    timed_shell(c, script, *args, cpu=runs, shell=shell)
                return statistics.median(runs)
            idle, login = cpu(""), cpu(LOGIN, "-y")
            per[n] = {"list_users_cpu_s": (cpu("listUsers\n" * commands) - idle) / commands,
                      "mutation_cpu_s": (cpu(LOGIN + pairs(commands // 2), "-y") - login)
                      / (2 * (commands // 2))}
        c.write_config()
    one, many = per[min(sizes)], per[biggest]
    extra = biggest - min(sizes)
    return {"sizes": sizes, "commands": commands, "per_command": per,
            "list_users_cpu_per_extra_server_s":
                (many["list_users_cpu_s"] - one["list_users_cpu_s"]) / extra,
            "mutation_cpu_per_extra_server_s":
                (many["mutation_cpu_s"] - one["mutation_cpu_s"]) / extra}


def against_baseline(baseline, smoke):
    """per_server_cpu for a baseline shell and ours, alternately, twice each
    (the same nodes' build): docs/performance.md's before/after table."""
    if not baseline:
        return []
    sizes, commands, repeats = ([1, 3], 20, 1) if smoke else ([1, 28], 300, 3)
    runs = []
    for _ in range(2):
        for label, shell in (("baseline", os.path.abspath(baseline)), ("ours", None)):
            r = per_server_cpu(sizes, commands, repeats, shell=shell)
            runs.append({"shell": label, **r})
    return runs


def password_bound(build, iterations, count):
    """createUser/deleteUser pairs at `iterations` on 3 nodes against the bound:
    each createUser costs one derivation on every node (the shell sends the
    salt; deleteUser derives nothing), so pairs/s <= cores / (nodes x t)."""
    from cluster import Cluster
    nodes, cores = 3, os.cpu_count()
    t_kdf = float(subprocess.run([tool(build, "kdf_time"), str(iterations), "5"],
                                 capture_output=True, text=True, check=True).stdout)
    with Cluster(nodes=nodes, kdf_iterations=iterations) as c:
        c.activate()
        login_only = median_time(c, LOGIN, 3)
        bound = cores / (nodes * t_kdf)
        out = {"iterations": iterations, "nodes": nodes, "cores": cores, "pairs": count,
               "kdf_s": t_kdf, "bound_pairs_per_s": bound}
        # One shell leaves a core idle whenever 3 derivations meet 2 cores;
        # two shells keep both busy. Both are reported.
        for shells in (1, 2):
            times = [0.0] * shells

            def one(k):
                times[k], _ = timed_shell(c, LOGIN + pairs(count // shells, f"kdf{shells}_{k}_"),
                                          "-y")
            threads = [threading.Thread(target=one, args=(k,)) for k in range(shells)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rate = shells * (count // shells) / (max(times) - login_only)
            out[f"pairs_per_s_{shells}_shell"] = rate
            out[f"fraction_of_bound_{shells}_shell"] = rate / bound
        return out


def node_load(build, cluster, clients, seconds, mode="mixed"):
    r = subprocess.run([tool(build, "node_load"), cluster.path("client.crt"),
                        cluster.path("client.key"), cluster.path("customerCA.crt"),
                        str(cluster.ports[0]), cluster.cluster_id, str(clients), str(seconds),
                        mode],
                       input="officer-pw1\n", capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"node_load failed: {r.stdout} {r.stderr[-500:]}")
    return json.loads(r.stdout)


def machine_cpu():
    """(busy, steal) seconds of the whole machine so far, from /proc/stat:
    steal is time the hypervisor gave our virtual CPUs to someone else."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq) / tick, steal / tick


def cpu_seconds(pid):
    """User + system CPU time of a running process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def node_concurrency(build, clients, seconds):
    from cluster import Cluster
    with Cluster(nodes=1, node_args=["--max-connections", str(clients * 2)]) as c:
        c.activate()
        return node_load(build, c, clients, seconds)


def node_memory(build, users, clients, seconds):
    """Peak RSS of one hsmd holding `users` users (admin included) while
    `clients` connections list them all, over and over."""
    from cluster import Cluster, proc_status_kib
    with Cluster(nodes=1, node_args=["--max-connections", str(clients * 2)]) as c:
        c.activate()
        fill = "".join(f"createUser CU mem{i} mem-pass-{i}\n" for i in range(users - 1))
        timed_shell(c, LOGIN + fill, "-y")
        load = node_load(build, c, clients, seconds, "list")
        return {"users": users, "clients": clients, "requests": load["requests"],
                "hsmd_peak_rss_kib": proc_status_kib(c.nodes[0].pid, "VmHWM")}


def openssl_sign_s():
    """Seconds per sign that `openssl speed` measures here, now."""
    import re
    r = subprocess.run(["openssl", "speed", "-seconds", "1", "ecdsap256", "rsa2048"],
                       capture_output=True, text=True, timeout=120)
    ec = re.search(r"ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)", r.stdout)
    rsa = re.search(r"rsa 2048 bits\s+\S+s\s+\S+s\s+([\d.]+)", r.stdout)
    return {"ecdsa-sha256": 1 / float(ec.group(1)), "rsa-pkcs1-sha256": 1 / float(rsa.group(1))}


def key_sign(count):
    """One crypto user signing on one node, one request at a time, then with
    16 in flight on the same connection."""
    from cluster import Cluster

    def quantiles(samples):
        samples = sorted(samples)
        return statistics.median(samples), samples[min(len(samples) - 1, len(samples) * 99 // 100)]

    def ok(reply, what):
        """A reply's fields; a refusal ends the benchmark (a refused sign is
        fast, and timing refusals would measure nothing)."""
        status, fields = reply
        if status != "RET_OK":
            raise RuntimeError(f"key_sign: {what} answered {status}")
        return fields

    with Cluster(nodes=1) as c:
        c.activate()
        timed_shell(c, LOGIN + "createUser CU signer signer-pw-1\n", "-y")
        w = c.wire_client(0)
        ok(w.call("login", type="CU", name="signer", password="signer-pw-1"), "login")
        out = {"count": count}
        data = os.urandom(64).hex()
        rounds = []
        for _ in range(count):
            t = time.perf_counter()
            reply = w.call("hello")
            rounds.append(time.perf_counter() - t)
            ok(reply, "hello")
        out["round_trip_p50_s"], out["round_trip_p99_s"] = quantiles(rounds)
        speed = openssl_sign_s()
        for spec, mechanism in (("ec:p256", "ecdsa-sha256"), ("rsa:2048", "rsa-pkcs1-sha256")):
            made = ok(w.call("generate_key", spec=spec), "generate_key")
            txid = os.urandom(16).hex()
            ok(w.call("prepare", txid=txid, change="insert_keys", keys=made["keys"]), "prepare")
            ok(w.call("commit", txid=txid), "commit")
            handle = made["keys"][0]["handle"]
            times = []
            for _ in range(count):
                t = time.perf_counter()
                reply = w.call("sign", handle=handle, mechanism=mechanism, data=data)
                times.append(time.perf_counter() - t)
                ok(reply, f"sign ({mechanism})")
            p50, p99 = quantiles(times)
            # The same signatures with 16 in flight on the one connection
            # (the node reads ahead): sent, then their replies read, in rounds.
            depth, done, began = 16, 0, time.perf_counter()
            while done < count:
                batch = min(depth, count - done)
                for _ in range(batch):
                    w.send("sign", handle=handle, mechanism=mechanism, data=data)
                for _ in range(batch):
                    _, status, fields = w.receive()
                    ok((status, fields), f"pipelined sign ({mechanism})")
                done += batch
            pipelined = count / (time.perf_counter() - began)
            out[mechanism] = {"p50_s": p50, "p99_s": p99, "openssl_speed_s": speed[mechanism],
                              "signatures_ok": count, "per_s": count / sum(times),
                              "pipelined_16_per_s": pipelined}
        w.close()
        return out


def pkcs11_sign(build, per_thread, baseline_hsmd=None):
    """The same C loop through our module (3 nodes) and through SoftHSM2; with
    `baseline_hsmd`, through our module on nodes of that hsmd too (module
    "baseline": another commit's node, measured in the same run)."""
    import tempfile
    import cluster
    driver = tool(build, "pkcs11_sign")
    module = os.path.join(build, "src", "pkcs11", "libhsmsh-pkcs11.so")
    softhsm = "/usr/lib/softhsm/libsofthsm2.so"
    speed = openssl_sign_s()
    out = {"openssl_speed_per_s": {"ec": 1 / speed["ecdsa-sha256"],
                                   "rsa": 1 / speed["rsa-pkcs1-sha256"]}, "runs": []}

    def run(lib, pin, algorithm, threads, env, pids=()):
        before = sum(cpu_seconds(p) for p in pids)
        r = subprocess.run([driver, lib, pin, f"bench-{algorithm}", algorithm, str(threads),
                            str(per_thread[threads])], capture_output=True, text=True,
                           timeout=1200, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"pkcs11_sign: {r.stderr[-500:]}")
        row = json.loads(r.stdout)
        if pids:
            row["node_cpu_per_signature_s"] = (sum(cpu_seconds(p) for p in pids) -
                                               before) / row["signatures"]
        return row

    ours = cluster.HSMD
    for name, hsmd in [("hsmsh", ours)] + ([("baseline", baseline_hsmd)] if baseline_hsmd else []):
        cluster.HSMD = hsmd
        try:
            with cluster.Cluster(nodes=3, peers=True) as c:
                c.activate()
                timed_shell(c, LOGIN + "createUser CU bench bench-pw-1\n", "-y")
                env = dict(os.environ, HSMSH_CONFIG=c.write_config())
                pids = [p.pid for p in c.nodes]
                for algorithm in ("ec", "rsa"):
                    # The first run makes the key and warms up.
                    run(module, "bench:bench-pw-1", algorithm, 1, env, pids)
                    for threads in per_thread:
                        out["runs"].append({"module": name, "algorithm": algorithm,
                                            "threads": threads,
                                            **run(module, "bench:bench-pw-1", algorithm,
                                                  threads, env, pids)})
        finally:
            cluster.HSMD = ours
    if os.path.exists(softhsm) and shutil.which("softhsm2-util"):
        with tempfile.TemporaryDirectory() as tmp:
            os.mkdir(os.path.join(tmp, "tokens"))
            conf = os.path.join(tmp, "softhsm2.conf")
            with open(conf, "w") as f:
                f.write(f"directories.tokendir = {tmp}/tokens\nobjectstore.backend = file\n")
            env = dict(os.environ, SOFTHSM2_CONF=conf)
            subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench",
                            "--so-pin", "12345678", "--pin", "bench-pin"], check=True, env=env,
                           capture_output=True)
            for algorithm in ("ec", "rsa"):
                run(softhsm, "bench-pin", algorithm, 1, env)
                for threads in per_thread:
                    out["runs"].append({"module": "softhsm2", "algorithm": algorithm,
                                        "threads": threads,
                                        **run(softhsm, "bench-pin", algorithm, threads, env)})
    return out


def chart(results, path):
    """Time per listUsers against N, ours next to a sequential fan-out's."""
    if not shutil.which("gnuplot"):
        print("(gnuplot not found: no chart)")
        return None
    data = path + ".dat"
    with open(data, "w") as f:
        f.write("# nodes ours_ms sequential_model_ms mutation_ms\n")
        for r in results["fan_out"]:
            f.write(f"{r['nodes']} {r['list_users_s'] * 1e3:.3f} "
                    f"{r['sequential_list_users_model_s'] * 1e3:.3f} "
                    f"{r['mutation_s'] * 1e3:.3f}\n")
    script = f"""
set terminal svg size 720,440 dynamic font "sans,12"
set output "{path}"
set title "Time per command with a {DELAY_MS} ms delay to every node"
set xlabel "nodes (N)"
set ylabel "ms per command"
set logscale y
set key top left
set grid
plot "{data}" using 1:2 with linespoints lw 2 title "hsmsh listUsers (parallel fan-out)", \\
     "{data}" using 1:4 with linespoints lw 2 title "hsmsh createUser/deleteUser", \\
     "{data}" using 1:3 with lines dt 2 lw 2 title "sequential fan-out, a model: N x T(1)"
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    os.remove(data)
    return path


def report_pkcs11_sign(ps):
    """pkcs11_sign's rows, and the ratios of this run's rows."""
    print("PKCS#11 signatures (the same C loop; ECDSA P-256 over a digest, RSA-2048 with "
          "SHA-256):")
    print(f"  {'module':<9} {'alg':<4} {'threads':>7} {'sig/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'app CPU ms/sig':>15} {'node CPU ms/sig':>16}")
    for r in ps["runs"]:
        node = r.get("node_cpu_per_signature_s")
        print(f"  {r['module']:<9} {r['algorithm']:<4} {r['threads']:>7} {r['per_s']:>8.0f} "
              f"{r['p50_s'] * 1e3:>8.3f} {r['p99_s'] * 1e3:>8.3f} "
              f"{r['cpu_per_signature_s'] * 1e3:>15.3f} "
              f"{(node * 1e3 if node is not None else float('nan')):>16.3f}")
    # Ratios of this run's rows: ours over SoftHSM2's at the same thread
    # count, and ours over `openssl speed` (one core signing in a loop).
    for algorithm in ("ec", "rsa"):
        speed = ps["openssl_speed_per_s"][algorithm]
        for r in ps["runs"]:
            if r["module"] == "softhsm2" or r["algorithm"] != algorithm:
                continue
            soft = [x for x in ps["runs"] if x["module"] == "softhsm2" and
                    x["algorithm"] == algorithm and x["threads"] == r["threads"]]
            against = f"hsmsh/softhsm2 = {r['per_s'] / soft[0]['per_s']:.2f}, " if soft else ""
            print(f"  {algorithm}: {r['module']:<8} {r['threads']:>2} threads, "
                  f"{against.replace('hsmsh', r['module'])}"
                  f"{r['module']}/openssl speed = {r['per_s'] / speed:.2f} "
                  f"({speed:.0f}/s on one core)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--chart", default=None, help="SVG path (default: next to --out)")
    ap.add_argument("--baseline-shell", default=None,
                    help="an hsmsh of another commit: its CPU per extra server is measured "
                         "too, alternating with ours, twice each (docs/performance.md)")
    ap.add_argument("--baseline-hsmd", default=None,
                    help="an hsmd of another commit: the PKCS#11 rows are measured on its "
                         "nodes too, in the same run (docs/performance.md, signing)")
    ap.add_argument("--pkcs11-only", action="store_true",
                    help="the PKCS#11 signature rows alone (docs/performance.md, signing)")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    # `meson test` builds only what the tests need: build the benchmark's tools too.
    subprocess.run(["meson", "compile", "-C", build], check=True, stdout=subprocess.DEVNULL)
    setup_env(build)
    smoke = args.smoke
    per_thread = {1: 10, 16: 2, 64: 1} if smoke else {1: 5000, 16: 1000, 64: 250}
    if args.pkcs11_only:
        report_pkcs11_sign(pkcs11_sign(build, per_thread, args.baseline_hsmd))
        return
    began, (busy0, steal0) = time.monotonic(), machine_cpu()
    sizes = [1, 2] if smoke else [1, 4, 16, 28]
    results = {
        "fan_out": fan_out(build, sizes, 4 if smoke else 20, 1 if smoke else 3),
        "throughput": throughput(build, 200 if smoke else 5000),
        "per_server_cpu": per_server_cpu([1, 3] if smoke else [1, 28], 20 if smoke else 300,
                                         1 if smoke else 3),
        "password_bound": password_bound(build, 10_000 if smoke else 600_000,
                                         2 if smoke else 12),
        "node_concurrency": node_concurrency(build, 4 if smoke else 32, 1 if smoke else 10),
        "node_memory": node_memory(build, 20 if smoke else 1024, 4 if smoke else 32,
                                   1 if smoke else 5),
        "key_sign": key_sign(20 if smoke else 2000),
        "per_server_cpu_against_baseline": against_baseline(args.baseline_shell, smoke),
        "pkcs11_sign": pkcs11_sign(build, per_thread, args.baseline_hsmd),
        "delay_ms": DELAY_MS, "kernel": os.uname().release, "cores": os.cpu_count(),
        "smoke": smoke,
    }
    busy1, steal1 = machine_cpu()
    results["machine"] = {"wall_s": time.monotonic() - began, "busy_cpu_s": busy1 - busy0,
                          "steal_cpu_s": steal1 - steal0}
    print(f"{'nodes':>5} {'startup s':>10} {'ratio':>6} {'listUsers s':>12} {'ratio':>6} "
          f"{'mutation s':>11} {'ratio':>6} {'model N x T(1)':>14} {'hsmsh RSS MiB':>14}")
    for r in results["fan_out"]:
        print(f"{r['nodes']:>5} {r['startup_s']:>10.3f} {r['startup_ratio']:>6.2f} "
              f"{r['list_users_s']:>12.4f} {r['list_users_ratio']:>6.2f} "
              f"{r['mutation_s']:>11.4f} {r['mutation_ratio']:>6.2f} {r['nodes']:>14} "
              f"{r['shell_peak_rss_kib'] / 1024:>14.1f}")
    tp = results["throughput"]
    print(f"\nbatch throughput: {tp['commands_per_s']:.0f} listUsers/s over {tp['commands']} "
          f"commands on {tp['nodes']} nodes; per command {tp['per_command_s'] * 1e3:.3f} ms, "
          f"bare TLS round trip {tp['bare_round_trip_s'] * 1e3:.3f} ms, "
          f"ratio {tp['overhead_ratio']:.2f}")
    print(f"  CPU per command: shell {tp['shell_cpu_per_command_s'] * 1e3:.3f} ms, 3 nodes "
          f"{tp['nodes_cpu_per_command_s'] * 1e3:.3f} ms: the {os.cpu_count()} cores allow at "
          f"most {tp['cpu_bound_commands_per_s']:.0f} commands/s")
    ps = results["per_server_cpu"]
    print(f"shell CPU per extra server ({ps['sizes'][0]} to {ps['sizes'][-1]} servers, "
          f"{ps['commands']} commands): listUsers "
          f"{ps['list_users_cpu_per_extra_server_s'] * 1e3:.4f} ms, mutation "
          f"{ps['mutation_cpu_per_extra_server_s'] * 1e3:.4f} ms")
    for r in results["per_server_cpu_against_baseline"]:
        print(f"  {r['shell']:<8} listUsers {r['list_users_cpu_per_extra_server_s'] * 1e3:.4f} ms, "
              f"mutation {r['mutation_cpu_per_extra_server_s'] * 1e3:.4f} ms per extra server")
    pb = results["password_bound"]
    print(f"password-bound: createUser/deleteUser pairs at {pb['iterations']} iterations on "
          f"{pb['nodes']} nodes; one derivation {pb['kdf_s'] * 1e3:.1f} ms, bound "
          f"{pb['bound_pairs_per_s']:.2f} pairs/s ({pb['cores']} cores); one shell "
          f"{pb['pairs_per_s_1_shell']:.2f} pairs/s ({pb['fraction_of_bound_1_shell'] * 100:.0f}%),"
          f" two shells {pb['pairs_per_s_2_shell']:.2f} pairs/s "
          f"({pb['fraction_of_bound_2_shell'] * 100:.0f}%)")
    nc = results["node_concurrency"]
    print(f"node concurrency: {nc['clients']} clients, {nc['requests']} requests in "
          f"{nc['seconds']:.1f} s: {nc['per_s']:.0f} requests/s, p50 {nc['p50_s'] * 1e3:.2f} ms, "
          f"p99 {nc['p99_s'] * 1e3:.2f} ms; statuses {nc['statuses']}")
    nm = results["node_memory"]
    print(f"hsmd memory: {nm['users']} users, {nm['clients']} clients listing them "
          f"({nm['requests']} requests): peak RSS {nm['hsmd_peak_rss_kib'] / 1024:.1f} MiB")
    ks = results["key_sign"]
    print(f"key use ({ks['count']} requests each; bare round trip p50 "
          f"{ks['round_trip_p50_s'] * 1e3:.3f} ms):")
    for mechanism in ("ecdsa-sha256", "rsa-pkcs1-sha256"):
        k = ks[mechanism]
        print(f"  {mechanism}: sign on a node p50 {k['p50_s'] * 1e3:.3f} ms, p99 "
              f"{k['p99_s'] * 1e3:.3f} ms; openssl speed {k['openssl_speed_s'] * 1e3:.3f} ms "
              f"(ratio {k['p50_s'] / k['openssl_speed_s']:.1f}); {k['signatures_ok']} RET_OK")
        print(f"    one connection: {k['per_s']:.0f} sig/s one at a time, "
              f"{k['pipelined_16_per_s']:.0f} with 16 in flight "
              f"(ratio {k['pipelined_16_per_s'] / k['per_s']:.2f})")
    report_pkcs11_sign(results["pkcs11_sign"])
    m = results["machine"]
    print(f"machine: {m['wall_s']:.0f} s of wall time, {m['busy_cpu_s']:.0f} CPU-s busy, "
          f"{m['steal_cpu_s']:.1f} CPU-s stolen by the hypervisor")
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwrote {args.out}")
    svg = chart(results, args.chart or os.path.splitext(args.out)[0] + ".svg")
    if svg:
        print(f"wrote {svg}")


if __name__ == "__main__":
    main()
