#!/usr/bin/env bash
# Everything `make test` runs, in order: build, unit tests, the integration
# suite on PostgreSQL, the sanitizer build with the unit tests again and
# the integration and browser suites on SQLite, fuzz smoke runs.  Each
# suite runs once per store backend: on SQLite with the sanitizer build
# (AddressSanitizer and UndefinedBehaviorSanitizer), on PostgreSQL with the
# normal build; the few tests that the sanitizer run skips (timings, peak
# memory, the demo) run in the PostgreSQL run.  Stops at the first failing
# stage and says which.
set -u
cd "$(dirname "$0")/.."
# Builds use every core (the tests themselves run one at a time); each
# stage's start and length are printed, for the 30-minute budget.
stages=(all check-banned unit integration-pgsql asan-test fuzz-smoke)
jobs=$(nproc 2>/dev/null || echo 2)
passed=0
t0=$(date +%s)

# The sanitizer and fuzz builds start with the integration stage, at a
# lower priority: its tests run one at a time and leave a core mostly idle.
# Their own stages then find them built (or build again, and show a failed
# compile there). The early build is stopped by its own process group when
# this script ends first.
early_pid=
early_log=$(mktemp)
early_stop() {
	if [[ -n $early_pid ]]; then
		kill -- -"$early_pid" 2>/dev/null || true
		wait "$early_pid" 2>/dev/null || true
		early_pid=
	fi
	rm -f "$early_log"
}
trap early_stop EXIT
early_start() {
	setsid nice -n 10 bash -c "make -j$jobs --no-print-directory asan && bash fuzz/build.sh" \
		>"$early_log" 2>&1 &
	early_pid=$!
}
early_wait() {
	local ts=$(date +%s) rc=0
	[[ -n $early_pid ]] || return 0
	wait "$early_pid" || rc=$?
	early_pid=
	echo "=== early sanitizer and fuzz builds: exit $rc, waited $(($(date +%s) - ts)) s"
}

for s in "${stages[@]}"; do
	case $s in
	integration-pgsql) early_start ;;
	asan-test) early_wait ;;
	esac
	ts=$(date +%s)
	echo "=== make $s ($(date -u +%T))"
	if ! make -j"$jobs" --no-print-directory "$s"; then
		echo "=== stage '$s' failed"
		echo "stages: $passed passed, 1 failed"
		exit 1
	fi
	echo "=== make $s: $(($(date +%s) - ts)) s"
	passed=$((passed + 1))
done
echo "stages: $passed passed, 0 failed in $(($(date +%s) - t0)) s"
