#!/usr/bin/env bash
# pg.sh - a throwaway PostgreSQL server for tests, on 127.0.0.1 and a socket
# in its own directory, with trust authentication for the user "sealpost".
#
#   bash tests/lib/pg.sh start [DIR]   start a server in DIR (a new temporary
#                                      directory when omitted; initdb when DIR
#                                      holds none yet, else the same port as
#                                      before) and print its URI:
#                                      postgresql://sealpost@127.0.0.1:PORT/postgres
#   bash tests/lib/pg.sh stop DIR|URI  stop it (pg_ctl stop -m fast, by its own
#                                      postmaster.pid); DIR stays
#   bash tests/lib/pg.sh destroy DIR|URI   stop it and remove DIR
#   bash tests/lib/pg.sh have          exit 0 when the server binaries are
#                                      installed, else 1
#   bash tests/lib/pg.sh run CMD [ARG...]  start one, run CMD with
#                                      SEALPOST_TEST_PG (the URI) and
#                                      SEALPOST_TEST_PG_DIR set, destroy it,
#                                      exit with CMD's status
#
# As root, the server runs as the "postgres" system user (initdb refuses
# root), which then owns DIR.  The binaries are the newest
# /usr/lib/postgresql/*/bin unless PG_BINDIR says otherwise.  Without them,
# `run` says so and exits 0 (nothing to test against); the other verbs fail.
set -euo pipefail

tmp=${TMPDIR:-/tmp}

bindir() {
	if [[ -n ${PG_BINDIR:-} ]]; then
		echo "$PG_BINDIR"
		return
	fi
	local d v best= bestv=-1
	for d in /usr/lib/postgresql/*/bin; do
		[[ -x $d/pg_ctl ]] || continue
		v=${d#/usr/lib/postgresql/}
		v=${v%%/*}
		[[ $v =~ ^[0-9]+$ ]] || continue
		if ((v > bestv)); then
			best=$d
			bestv=$v
		fi
	done
	[[ -n $best ]] || return 1
	echo "$best"
}

# Run a server program as the owner of the data (postgres when we are root).
as_owner() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

die() {
	echo "pg.sh: $*" >&2
	exit 1
}

# DIR from a directory or a URI (found by the port in DIR/port).
find_dir() {
	local arg=$1 port d
	if [[ $arg == postgres://* || $arg == postgresql://* ]]; then
		port=${arg#*://}
		port=${port##*@}
		port=${port%%/*}
		port=${port##*:}
		[[ $port =~ ^[0-9]+$ ]] || die "no port in $arg"
		for d in "$tmp"/sealpost-pg.*; do
			if [[ -f $d/port && $(<"$d/port") == "$port" ]]; then
				echo "$d"
				return
			fi
		done
		die "no server of this script on port $port"
	fi
	[[ -d $arg ]] || die "$arg: no such directory"
	(cd "$arg" && pwd)
}

start() {
	local dir=${1:-} bin port try log
	bin=$(bindir) || die "no PostgreSQL server binaries (Debian package postgresql)"
	if [[ -z $dir ]]; then
		dir=$(mktemp -d "$tmp/sealpost-pg.XXXXXX")
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [[ $(id -u) -eq 0 ]]; then
		id postgres >/dev/null 2>&1 || die "no postgres system user"
		chown postgres: "$dir"
	fi
	chmod 700 "$dir"
	if [[ ! -f $dir/data/PG_VERSION ]]; then
		as_owner "$bin/initdb" -D "$dir/data" -A trust -U sealpost -E UTF8 --locale=C \
			--no-sync --no-instructions >"$dir/initdb.log" 2>&1 ||
			die "initdb failed: $(tail -n 5 "$dir/initdb.log")"
	fi
	log=$dir/log
	for try in 1 2 3 4 5 6 7 8 9 10; do
		if [[ -f $dir/port && $try -eq 1 ]]; then
			port=$(<"$dir/port")
		else
			port=$((20000 + RANDOM % 30000))
		fi
		if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on" \
			start >/dev/null 2>&1; then
			echo "$port" >"$dir/port"
			echo "postgresql://sealpost@127.0.0.1:$port/postgres"
			return
		fi
		# a port taken by someone else: try another; any other failure: stop
		grep -q "could not bind\|could not create any TCP/IP sockets" "$log" 2>/dev/null ||
			die "pg_ctl start failed: $(tail -n 5 "$log" 2>/dev/null)"
		[[ -f $dir/port && $try -eq 1 ]] && die "port $port of $dir is taken"
	done
	die "no free port found"
}

stop() {
	local dir bin
	dir=$(find_dir "$1")
	bin=$(bindir) || die "no PostgreSQL server binaries"
	if as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
	fi
}

destroy() {
	local dir
	dir=$(find_dir "$1")
	stop "$dir"
	[[ -n ${KEEP_TMP:-} ]] && { echo "pg.sh: kept $dir" >&2; return; }
	rm -rf "$dir"
}

run_dir=
run() {
	local url rc=0
	if ! bindir >/dev/null; then
		echo "pg.sh: no PostgreSQL server binaries, skipping: $*"
		return 0
	fi
	run_dir=$(mktemp -d "$tmp/sealpost-pg.XXXXXX")
	trap '[[ -z $run_dir ]] || destroy "$run_dir"' EXIT
	url=$(start "$run_dir")
	SEALPOST_TEST_PG=$url SEALPOST_TEST_PG_DIR=$run_dir "$@" || rc=$?
	destroy "$run_dir"
	run_dir=
	return "$rc"
}

cmd=${1:-}
shift || true
case $cmd in
have) bindir >/dev/null ;;
start) start "$@" ;;
stop) [[ $# -eq 1 ]] || die "usage: pg.sh stop DIR|URI"; stop "$1" ;;
destroy) [[ $# -eq 1 ]] || die "usage: pg.sh destroy DIR|URI"; destroy "$1" ;;
run) [[ $# -ge 1 ]] || die "usage: pg.sh run CMD [ARG...]"; run "$@" ;;
*) die "usage: pg.sh have | start [DIR] | stop DIR|URI | destroy DIR|URI | run CMD [ARG...]" ;;
esac
