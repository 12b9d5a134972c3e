# keyd.sh - sourced by the bench scripts (bench/run.sh does not run it):
# starts a key server on 127.0.0.1 on a free port with its own temporary
# data dir; it is stopped by its own pid, and the directory removed, when
# the script exits.
#   keyd_start [KEYD OPTIONS...]  sets dir, url and pid; waits for /healthz
#   keyd_org NAME DOMAIN          prints the new organisation's token; its
#                                 signing key goes to $dir/DOMAIN.pem

keyd_stop() {
	# a key server that died early makes kill or wait fail: under set -e
	# that would end the trap before the directory is removed
	if [[ -n ${pid:-} ]]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}

keyd_start() {
	local port
	pid=
	dir=$(mktemp -d)
	trap keyd_stop EXIT
	port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
	url="http://127.0.0.1:$port"
	# --allow-root: the demo and benches run as root in containers; in production
	# keyd runs with --user (docs/keyholder.md)
	bin/sealpost-keyd --data-dir "$dir/keyd" --listen "127.0.0.1:$port" --public-url "$url" --allow-root \
		"$@" 2>"$dir/keyd.log" &
	pid=$!
	for _ in $(seq 1 100); do
		curl -fsS "$url/healthz" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench: the key server did not start:" >&2
	cat "$dir/keyd.log" >&2
	return 1
}

keyd_org() {
	bin/sealpost --data-dir "$dir/keyd" org add "$1" --domain "$2" --key-out "$dir/$2.pem"
}
