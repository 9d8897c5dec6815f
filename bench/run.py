#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""hsmsh benchmarks: fan-out scaling behind a 20 ms delay proxy, start-up,
batch throughput next to a bare TLS round trip, and the shell's memory.

Prints a table and writes JSON. Ratios only mean something within one run:
these machines are shared and noisy.

    python3 bench/run.py --build build [--smoke] [--out bench/results.json]
"""
import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def setup_env(build):
    os.environ["HSMD"] = os.path.join(build, "src", "hsmd", "hsmd")
    os.environ["HSMSH"] = os.path.join(build, "src", "hsmsh", "hsmsh")
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
    sys.path.insert(0, HERE)


class ProxyLoop:
    """Delay proxies served by one asyncio loop on a background thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers = []

    def add(self, upstream_port, delay):
        from delay_proxy import start_proxy
        server, port = asyncio.run_coroutine_threadsafe(
            start_proxy(upstream_port, delay), self.loop).result()
        self.servers.append(server)
        return port

    def close(self):
        for s in self.servers:
            self.loop.call_soon_threadsafe(s.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def timed_shell(cluster, script, *args):
    """Runs hsmsh on a script; returns (seconds, peak RSS in KiB)."""
    start = time.perf_counter()
    p = subprocess.Popen([os.environ["HSMSH"], *args], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=cluster.env())
    p.stdin.write(script.encode())
    p.stdin.close()
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode()
    p.stderr.close()
    if p.returncode != 0:
        raise RuntimeError(f"hsmsh failed ({p.returncode}): {err[-500:]}")
    return elapsed, usage.ru_maxrss


def median_time(cluster, script, repeats, *args):
    return statistics.median(timed_shell(cluster, script, *args)[0] for _ in range(repeats))


def fan_out(sizes, commands, repeats, delay):
    from cluster import Cluster
    rows = []
    for n in sizes:
        c = Cluster(nodes=n)
        proxies = ProxyLoop()
        try:
            c.activate()
            ports = [proxies.add(p, delay) for p in c.ports]
            c.write_config([{"name": f"node{i}", "hostname": "127.0.0.1", "port": p}
                            for i, p in enumerate(ports)])
            startup = median_time(c, "", repeats)
            lists = median_time(c, "listUsers\n" * commands, repeats)
            login = "loginHSM CO admin officer-pw1\n"
            pairs = "".join(f"createUser CU bench{i} bench-pass-{i}\ndeleteUser CU bench{i}\n"
                            for i in range(commands // 2))
            mutations = median_time(c, login + pairs, repeats, "-y")
            login_only = median_time(c, login, repeats)
            _, rss = timed_shell(c, "listUsers\n")
            rows.append({"nodes": n, "startup_s": startup,
                         "list_users_s": (lists - startup) / commands,
                         "mutation_s": (mutations - login_only) / (2 * (commands // 2)),
                         "shell_peak_rss_kib": rss})
        finally:
            proxies.close()
            c.stop()
    base = rows[0]
    for r in rows:
        for key in ("startup_s", "list_users_s", "mutation_s"):
            r[key.replace("_s", "_ratio")] = r[key] / base[key]
    return rows


def throughput(commands, build):
    from cluster import Cluster
    c = Cluster(nodes=3)
    try:
        c.activate()
        users = "".join(f"createUser CU user{i} user-pass-{i}\n" for i in range(9))
        timed_shell(c, "loginHSM CO admin officer-pw1\n" + users, "-y")
        startup = median_time(c, "", 3)
        total, _ = timed_shell(c, "listUsers\n" * commands)
        per_command = (total - startup) / commands
        rt = subprocess.run([os.path.join(build, "bench", "roundtrip"), c.path("client.crt"),
                             c.path("client.key"), c.path("customerCA.crt"), str(c.ports[0]),
                             c.cluster_id, str(commands)],
                            capture_output=True, text=True, check=True)
        bare = float(rt.stdout.strip())
        return {"commands": commands, "nodes": 3, "users": 10,
                "commands_per_s": 1 / per_command, "per_command_s": per_command,
                "bare_round_trip_s": bare, "overhead_ratio": per_command / bare}
    finally:
        c.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    # `meson test` builds only what the tests need: build the benchmark's tools too.
    subprocess.run(["meson", "compile", "-C", build], check=True, stdout=subprocess.DEVNULL)
    setup_env(build)
    sizes = [1, 2] if args.smoke else [1, 4, 16, 28]
    commands = 4 if args.smoke else 20
    repeats = 1 if args.smoke else 3
    fan = fan_out(sizes, commands, repeats, delay=0.020)
    tp = throughput(200 if args.smoke else 5000, build)
    print(f"{'nodes':>5} {'startup s':>10} {'ratio':>6} {'listUsers s':>12} {'ratio':>6} "
          f"{'mutation s':>11} {'ratio':>6} {'seq. ratio':>10} {'hsmsh RSS MiB':>14}")
    for r in fan:
        print(f"{r['nodes']:>5} {r['startup_s']:>10.3f} {r['startup_ratio']:>6.2f} "
              f"{r['list_users_s']:>12.4f} {r['list_users_ratio']:>6.2f} "
              f"{r['mutation_s']:>11.4f} {r['mutation_ratio']:>6.2f} {r['nodes']:>10} "
              f"{r['shell_peak_rss_kib'] / 1024:>14.1f}")
    print(f"\nbatch throughput: {tp['commands_per_s']:.0f} listUsers/s over {tp['commands']} "
          f"commands on {tp['nodes']} nodes; per command {tp['per_command_s'] * 1e3:.3f} ms, "
          f"bare TLS round trip {tp['bare_round_trip_s'] * 1e3:.3f} ms, "
          f"ratio {tp['overhead_ratio']:.2f}")
    with open(args.out, "w") as f:
        json.dump({"fan_out": fan, "throughput": tp, "delay_s": 0.020,
                   "machine": os.uname().release, "cores": os.cpu_count()}, f, indent=2)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
