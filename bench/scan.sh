#!/usr/bin/env bash
# Scanner throughput: builds bench/bench_scan.c (with bench/common.c)
# against libsealpost with the Makefile's own package flags into
# build/bench/, writes the default policy's lexicon (terms and context
# words of etc/lexicon-medical.txt, the built-in copy) one word a line, and
# runs the full default policy, `grep -c -i -w -F -f LEXICON`,
# `grep -c -F -f LEXICON` and memchr over the same corpus of mail text
# (built from tests/corpus/mail and tests/corpus/realmail, 200 MB by
# default), three rounds each, printing medians and ratios.
# With SCAN_MATCHERS=1 it then runs bench/lib/scan_matchers.c over the same
# corpus and lexicon (the matcher comparison of docs/decisions/0011).
# Usage: bash bench/scan.sh [MEGABYTES]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build/libsealpost.a
pkgs=$(sed -n 's/^PKGS *= *//p' Makefile)
mkdir -p build/bench
cc -std=c17 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Isrc/lib $(pkg-config --cflags $pkgs) \
	-o build/bench/bench_scan bench/bench_scan.c bench/common.c build/libsealpost.a \
	$(pkg-config --libs $pkgs) -lmilter -lpthread -lm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -n 's/^[0-9][0-9]* \(.*\)$/\1/p' etc/lexicon-medical.txt >"$tmp/lexicon.txt"
build/bench/bench_scan "${1:-200}" "$tmp/corpus.txt" "$tmp/lexicon.txt" \
	tests/corpus/mail tests/corpus/realmail
if [[ ${SCAN_MATCHERS:-0} == 1 ]]; then
	cc -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror $(pkg-config --cflags libhs) \
		-o build/bench/scan_matchers bench/lib/scan_matchers.c $(pkg-config --libs libhs)
	build/bench/scan_matchers "$tmp/corpus.txt" "$tmp/lexicon.txt"
fi
