#!/usr/bin/env bash
# Key server hot paths, against a key server started here on loopback:
# key releases per second with a recipient's session under 32 keep-alive
# clients, beside a minimal libmicrohttpd handler (bench/bench_mhd_min.c,
# keyd's threading mode and connection settings) measured with the same
# client in the same run, and deposits per second with 1 and 8 parallel
# clients.  Three runs; the median of each figure and the ratio.
#   RELEASE_SECONDS (default 3) per measurement, RELEASE_CLIENTS (32)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/keyd.sh
secs=${RELEASE_SECONDS:-3}
clients=${RELEASE_CLIENTS:-32}
# One client process stands in for many: lift the per-client connection limit.
keyd_start --max-connections-per-client 1000
token=$(keyd_org "Bench Clinic" clinic.example)
printf 'bench password 2026 long enough\n' > "$dir/pw"
bin/sealpost --data-dir "$dir/keyd" recipient add pat@example.org --password-file "$dir/pw" >/dev/null

# the baseline server, stopped by its own pid with the key server
mkfifo "$dir/min.out"
build/bench/bench_mhd_min 0 4 >"$dir/min.out" &
minpid=$!
trap 'kill "$minpid" 2>/dev/null || true; wait "$minpid" 2>/dev/null || true; keyd_stop' EXIT
read -r ready minport <"$dir/min.out"
[[ $ready == ready ]] || { echo "bench: the minimal handler did not start" >&2; exit 1; }
minurl="http://127.0.0.1:$minport"

for run in 1 2 3; do
	build/bench/bench_release "$url" "$token" pat@example.org 'bench password 2026 long enough' \
		"$clients" "$secs" "$minurl" | grep -v '^#' >"$dir/run$run"
done
median() {
	grep -h "^$1 " "$dir"/run[123] | awk '{print $2}' | sort -n | sed -n 2p
}
rel=$(median release_per_s)
min=$(median minimal_per_s)
d1=$(median deposit1_per_s)
d8=$(median deposit8_per_s)
printf 'key releases (session, %d keep-alive clients): %s/s   minimal libmicrohttpd handler: %s/s   ratio %s (goal >= 0.3)\n' \
	"$clients" "$rel" "$min" "$(awk -v a="$rel" -v b="$min" 'BEGIN{printf "%.3f", a/b}')"
printf 'deposits: %s/s with 1 client, %s/s with 8 parallel clients (x%s)\n' \
	"$d1" "$d8" "$(awk -v a="$d8" -v b="$d1" 'BEGIN{printf "%.2f", a/b}')"
printf 'runs (release, minimal, deposit 1, deposit 8):'
for run in 1 2 3; do
	printf ' [%s]' "$(awk '{print $2}' "$dir/run$run" | paste -sd ' ')"
done
printf '\n'
