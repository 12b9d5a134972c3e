#!/usr/bin/env bash
# Scanner throughput: builds bench/bench_scan.c (with bench/common.c)
# against libsealpost with the Makefile's own package flags into
# build/bench/, and runs it on a 200 MB in-memory text corpus (full
# default policy beside memchr in the same run).
# Usage: bash bench/scan.sh [MEGABYTES]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build/libsealpost.a
pkgs=$(sed -n 's/^PKGS *= *//p' Makefile)
mkdir -p build/bench
cc -std=c17 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Isrc/lib $(pkg-config --cflags $pkgs) \
	-o build/bench/bench_scan bench/bench_scan.c bench/common.c build/libsealpost.a \
	$(pkg-config --libs $pkgs) -lmilter -lpthread -lm
build/bench/bench_scan "${1:-200}"
