#!/usr/bin/env bash
# Opening a large envelope in Debian's Chromium against a key server on
# loopback (bench/open.mjs), beside the browser's bare decode + decrypt of
# the same bytes in the same run.  Usage: bash bench/open.sh [MB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SEALPOST_BIN=$PWD/bin node bench/open.mjs "${1:-18}" "${2:-3}"
