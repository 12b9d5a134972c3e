#!/usr/bin/env bash
# Log-ins per second against a key server started here on loopback (stopped
# by its own pid), beside bare Argon2id verifications per second on as many
# threads as its --argon-workers; then key-release latency (p50, p99) alone
# and while other clients keep logging in: with the JSON log-in, then with
# the sign-in page's form (POST /signin).  Correct passwords and one
# account per client, so the failure throttle never engages (its limits are
# raised anyway).  BENCH_ARGON_WORKERS (2, the key server's default),
# BENCH_CLIENTS (8), BENCH_SECONDS (5 per figure) tune the run.
set -euo pipefail
cd "$(dirname "$0")/.."
workers=${BENCH_ARGON_WORKERS:-2}
clients=${BENCH_CLIENTS:-8}
seconds=${BENCH_SECONDS:-5}
pw='bench password 2026 long enough'
. bench/lib/keyd.sh
keyd_start --argon-workers "$workers" --login-free 1000 --login-free-ip 100000 --max-connections-per-client 1000
token=$(keyd_org "Bench Clinic" clinic.example)
printf '%s\n' "$pw" > "$dir/pw"
# the first receives the envelope released; one more per log-in client
emails=(pat@example.org)
for i in $(seq 1 "$clients"); do emails+=("login$i@example.org"); done
for e in "${emails[@]}"; do
	bin/sealpost --data-dir "$dir/keyd" recipient add "$e" --password-file "$dir/pw" >/dev/null
done
build/bench/bench_login "$url" "$token" "$pw" "$workers" "$clients" "$seconds" "${emails[@]}"
