#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The structure measures of issue 29, printed for the tree it runs in:
functions over 40 lines (per folder), member functions per class, and
string-keyed JSON reads outside the decoders. Needs Universal Ctags
(Debian: universal-ctags).

    tools/structure.py [--top N]

The figures are read from definitions (ctags) and text; they are for
comparing a tree before and after a change, not exact counts of a compiler.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE = ["src", "include"]
# A JSON field read by its name: field helpers, find/contains/at/operator[]
# with a string literal. Decoders (the files that turn JSON into types) are
# where such reads belong; everything else is counted.
READ = re.compile(r'(?:\b(?:string_field|integer_field|bool_field|field<[^>]*>)\s*\([^;]*?"'
                  r'|\.(?:find|contains|at|value)\s*\(\s*"'
                  r'|\[\s*"[a-z_0-9]+"\s*\](?!\s*=[^=]))')
DECODERS = re.compile(r"(payloads|wire|request_fields|planned_change|key_change|m_change|"
                      r"key_record|peer_list|approvers|config|authdata_file|protocol/)")


def tags():
    out = subprocess.run(["ctags", "--output-format=json", "--fields=+neKZs",
                          "--kinds-C++=+p", "--languages=C++", "-R", "-f", "-", *CODE],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        t = json.loads(line)
        if t.get("_type") == "tag":
            yield t


def measure():
    long_functions = []
    members = collections.defaultdict(set)
    for t in tags():
        kind, scope = t.get("kind"), t.get("scope", "")
        if kind not in ("function", "prototype") or t["name"].startswith("__anon"):
            continue
        if t.get("scopeKind") in ("class", "struct"):
            members[scope].add(t["name"])
        if kind == "function" and "end" in t and t["end"] - t["line"] + 1 > 40:
            long_functions.append((t["end"] - t["line"] + 1, t["path"], t["name"]))
    reads = collections.Counter()
    for folder in CODE:
        for base, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                if not name.endswith((".cpp", ".hpp")):
                    continue
                path = os.path.relpath(os.path.join(base, name), ROOT)
                if DECODERS.search(path):
                    continue
                with open(os.path.join(ROOT, path)) as f:
                    n = sum(len(READ.findall(line)) for line in f
                            if not line.lstrip().startswith("//"))
                if n:
                    reads[os.path.dirname(path)] += n
    return long_functions, members, reads


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=int, default=5)
    args = ap.parse_args()
    long_functions, members, reads = measure()
    print(f"functions over 40 lines: {len(long_functions)}")
    by_folder = collections.Counter(os.path.dirname(p) for _, p, _ in long_functions)
    for folder, n in by_folder.most_common():
        print(f"  {folder}: {n}")
    for lines, path, name in sorted(long_functions, reverse=True)[:args.top]:
        print(f"    {lines:4} {path} {name}")
    print("member functions of the largest classes:")
    for cls, names in sorted(members.items(), key=lambda kv: -len(kv[1]))[:args.top]:
        print(f"  {len(names):4} {cls}")
    print(f"string-keyed JSON reads outside the decoders: {sum(reads.values())}")
    for folder, n in reads.most_common():
        print(f"  {folder}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
