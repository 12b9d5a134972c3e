#!/usr/bin/env bash
# Everything `make test` runs, in order: build, unit, integration, browser,
# sanitizer build with unit and integration tests again, fuzz smoke runs.
# Stops at the first failing stage and says which.
set -u
cd "$(dirname "$0")/.."
stages=(all check-banned unit integration browser asan-test fuzz-smoke)
passed=0
for s in "${stages[@]}"; do
	echo "=== make $s"
	if ! make --no-print-directory "$s"; then
		echo "=== stage '$s' failed"
		echo "stages: $passed passed, 1 failed"
		exit 1
	fi
	passed=$((passed + 1))
done
echo "stages: $passed passed, 0 failed"
