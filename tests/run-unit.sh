#!/usr/bin/env bash
# Runs every unit test binary under BUILD/tests (default build) from the
# repository root; prints one summary line.
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
pass=0 fail=0
for t in "$build"/tests/*_test; do
	[[ -x $t ]] || continue
	if out=$("$t" 2>&1); then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "--- $t failed:"
	fi
	echo "$out" | tail -n 40
done
echo "unit: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
