#!/usr/bin/env bash
# Everything `make test` runs, in order: build, unit, integration, browser,
# sanitizer build with unit and integration tests again, fuzz smoke runs.
# Stops at the first failing stage and says which.
set -u
cd "$(dirname "$0")/.."
# Builds use every core (the tests themselves run one at a time); each
# stage's start and length are printed, for the 30-minute budget.
stages=(all check-banned unit integration browser asan-test fuzz-smoke)
jobs=$(nproc 2>/dev/null || echo 2)
passed=0
t0=$(date +%s)
for s in "${stages[@]}"; do
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
