#!/usr/bin/env bash
# Seal throughput and sealed size ratio, against a key server started here
# on loopback (stopped by its own pid).  Key releases and deposits per
# second: bench/release.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/keyd.sh
# One client process stands in for many: lift the per-client connection limit.
keyd_start --max-connections-per-client 1000
token=$(keyd_org "Bench Clinic" clinic.example)
build/bench/bench_seal "$url" "$token" "$dir/clinic.example.pem"
