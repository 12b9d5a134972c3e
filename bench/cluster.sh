#!/usr/bin/env bash
# Key releases per second in three set-ups, measured in this one run on
# loopback with build/bench/bench_release: one key server on SQLite, one on
# PostgreSQL, and two on PostgreSQL behind HAProxy (the defaults, frontend
# and backend sections of etc/haproxy.cfg).  Prints each figure, its bare
# /healthz rate through the same path, and the ratios.  A throwaway
# PostgreSQL comes from tests/lib/pg.sh; every process is stopped by its
# own pid.  BENCH_SECONDS (5 per figure) and BENCH_THREADS (32) tune it.
# On a small machine all of it (client, proxy, key servers, database)
# shares the same cores: the two-server figure then shows what the proxy
# and a second server cost, not how far more machines would carry.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${BENCH_SECONDS:-5}
threads=${BENCH_THREADS:-32}
pw='bench password 2026 long enough'

if ! command -v /usr/sbin/haproxy >/dev/null || ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
	echo "bench: cluster.sh needs the Debian packages haproxy and postgresql; skipped"
	exit 0
fi

work=$(mktemp -d)
pids=()
pgdir=
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[[ -z $pgdir ]] || bash tests/lib/pg.sh destroy "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

freeport() {
	node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# wait_ok URL PID LOG: until URL answers 2xx, at most 10 s
wait_ok() {
	for _ in $(seq 1 100); do
		curl -fsS "$1" >/dev/null 2>&1 && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench: nothing healthy at $1:" >&2
	cat "$3" >&2
	return 1
}

# start_keyd NAME PORT PUBLIC_URL [OPTIONS...]
start_keyd() {
	local name=$1 port=$2 public=$3
	shift 3
	# --allow-root: benches run as root in containers (docs/keyholder.md);
	# one benchmarking client: lift the per-client connection limit
	bin/sealpost-keyd --data-dir "$work/$name" --listen "127.0.0.1:$port" --public-url "$public" \
		--allow-root --max-connections-per-client 1000 "$@" 2>"$work/$name.log" &
	pids+=($!)
	wait_ok "http://127.0.0.1:$port/healthz" "$!" "$work/$name.log"
}

# setup DATA_DIR [--db URL]: an organisation and a recipient; prints the token
setup() {
	local data=$1 token
	shift
	token=$(bin/sealpost --data-dir "$data" "$@" org add "Bench Clinic" --domain clinic.example \
		--key-out "$data.sign.pem")
	printf '%s\n' "$pw" >"$work/pw"
	bin/sealpost --data-dir "$data" "$@" recipient add pat@example.org --password-file "$work/pw" >/dev/null
	echo "$token"
}

# measure LABEL URL TOKEN: runs bench_release, prints its line, sets rate
measure() {
	local out
	out=$(build/bench/bench_release "$2" "$3" pat@example.org "$pw" "$threads" "$seconds")
	printf '%-46s %s\n' "$1:" "$out"
	rate=$(sed -n 's/^key releases: \([0-9]*\)\/s.*/\1/p' <<<"$out")
	[[ -n $rate && $rate -gt 0 ]] || { echo "bench: no rate from bench_release" >&2; return 1; }
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

# 1. one key server, SQLite
port=$(freeport)
start_keyd sqlite "$port" "http://127.0.0.1:$port"
token=$(setup "$work/sqlite")
measure "one key server, SQLite" "http://127.0.0.1:$port" "$token"
r_sqlite=$rate

# 2. one key server, PostgreSQL
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/sealpost-pg.XXXXXX")
pgurl=$(bash tests/lib/pg.sh start "$pgdir")
for name in single cluster; do
	psql -X -q -v ON_ERROR_STOP=1 -d "$pgurl" -c "CREATE DATABASE $name"
done
single=${pgurl%/postgres}/single
cluster=${pgurl%/postgres}/cluster
port=$(freeport)
start_keyd pg1 "$port" "http://127.0.0.1:$port" --db "$single"
token=$(setup "$work/pg1" --db "$single")
measure "one key server, PostgreSQL" "http://127.0.0.1:$port" "$token"
r_pg=$rate

# 3. two key servers on PostgreSQL behind HAProxy, one master key
hport=$(freeport)
purl="http://127.0.0.1:$hport"
p1=$(freeport)
p2=$(freeport)
start_keyd node1 "$p1" "$purl" --db "$cluster" --trusted-proxy 127.0.0.1
mkdir -m 700 "$work/node2"
cp -a "$work/node1/keys" "$work/node2/keys"
start_keyd node2 "$p2" "$purl" --db "$cluster" --trusted-proxy 127.0.0.1
# etc/haproxy.cfg from its defaults section on, with our addresses
{
	printf 'global\n\tmaxconn 4000\n\n'
	sed -n '/^defaults/,$p' etc/haproxy.cfg |
		sed -e "s/^\tbind 127\.0\.0\.1:8443$/\tbind 127.0.0.1:$hport/" \
			-e "s/^\tserver keyd1 .*/\tserver keyd1 127.0.0.1:$p1/" \
			-e "s/^\tserver keyd2 .*/\tserver keyd2 127.0.0.1:$p2/" \
			-e 's/inter 2s fall 3 rise 2/inter 500ms fall 2 rise 1/'
} >"$work/haproxy.cfg"
grep -q "127.0.0.1:$p2" "$work/haproxy.cfg" || { echo "bench: etc/haproxy.cfg changed shape" >&2; exit 1; }
/usr/sbin/haproxy -f "$work/haproxy.cfg" -db 2>"$work/haproxy.log" &
pids+=($!)
wait_ok "$purl/healthz" "$!" "$work/haproxy.log"
sleep 1	# both servers' first health checks
token=$(setup "$work/node1" --db "$cluster")
measure "two key servers, PostgreSQL, HAProxy" "$purl" "$token"
r_two=$rate
for n in node1 node2; do
	printf '  %s served %s releases\n' "$n" "$(grep -c ' keyd release ' "$work/$n.log" || true)"
done

echo "ratios: PostgreSQL / SQLite $(ratio "$r_pg" "$r_sqlite")," \
	"two behind HAProxy / one on PostgreSQL $(ratio "$r_two" "$r_pg")" \
	"($(nproc) cores shared by the client, the proxy, the key servers and the database)"
