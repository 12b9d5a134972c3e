#!/usr/bin/env bash
# Messages per second through a real Postfix (its own config_directory on
# loopback, see docs/postfix.md) with sealpost-milter sealing every message,
# divided by messages per second through the same Postfix without the
# milter: smtp-source to smtp-sink, same run.  Needs root and the postfix
# package.  BENCH_MESSAGES, BENCH_SIZE, BENCH_CONNECTIONS tune the run;
# BENCH_PASS=1 sends a subject the policy lets pass, so that the milter
# reads every message and seals none (what Postfix pays for a milter).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]] || [[ ! -x /usr/sbin/smtp-source ]]; then
	echo "postfix: needs root and the postfix package (smtp-source, smtp-sink)" >&2
	exit 1
fi
SEALPOST_BIN=${SEALPOST_BIN:-$PWD/bin} exec node tests/integration/postfix/bench.mjs
