#!/usr/bin/env bash
# Seal throughput, sealed size ratio and key releases per second, against a
# key server started here on loopback (stopped by its own pid).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
url="http://127.0.0.1:$port"
bin/sealpost-keyd --data-dir "$dir/keyd" --listen "127.0.0.1:$port" --public-url "$url" 2>"$dir/keyd.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
token=$(bin/sealpost --data-dir "$dir/keyd" org add "Bench Clinic" --domain clinic.example)
printf 'bench password 2026 long enough\n' > "$dir/pw"
bin/sealpost --data-dir "$dir/keyd" recipient add pat@example.org --password-file "$dir/pw" >/dev/null
build/bench/bench_seal "$url" "$token"
build/bench/bench_release "$url" "$token" pat@example.org 'bench password 2026 long enough' 32 5
