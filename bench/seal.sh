#!/usr/bin/env bash
# Seal throughput, sealed size ratio and key releases per second, against a
# key server started here on loopback (stopped by its own pid).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/keyd.sh
# One client process stands in for many: lift the per-client connection limit.
keyd_start --max-connections-per-client 1000
token=$(keyd_org "Bench Clinic" clinic.example)
printf 'bench password 2026 long enough\n' > "$dir/pw"
bin/sealpost --data-dir "$dir/keyd" recipient add pat@example.org --password-file "$dir/pw" >/dev/null
build/bench/bench_seal "$url" "$token" "$dir/clinic.example.pem"
build/bench/bench_release "$url" "$token" pat@example.org 'bench password 2026 long enough' 32 5
