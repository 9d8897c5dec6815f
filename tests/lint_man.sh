#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Lints a man page: groff must say nothing; mandoc, when installed, too.
set -u
page="$1"
out=$(groff -man -ww -z "$page" 2>&1)
if [ -n "$out" ]; then
    echo "groff: $out"
    exit 1
fi
if command -v mandoc >/dev/null 2>&1; then
    out=$(mandoc -T lint -W warning "$page" 2>&1)
    if [ -n "$out" ]; then
        echo "mandoc: $out"
        exit 1
    fi
fi
echo "$page: clean"
