#!/usr/bin/env bash
# Runs every fuzz target built by fuzz/build.sh for SECONDS seconds each
# (default 20) on a scratch copy of its seed corpus fuzz/corpus/NAME/ (NAME is
# the target without its fuzz_ prefix).  Crash inputs are kept in
# build-fuzz/artifacts/.  Runs as many targets at once as there are cores
# (FUZZ_JOBS to change it).  Prints one line per target and a summary line;
# exits 1 when any target crashed (or could not run).
# Usage: bash fuzz/run.sh [SECONDS]
set -uo pipefail
cd "$(dirname "$0")/.."

secs=${1:-20}
[[ $secs =~ ^[0-9]+$ && $secs -gt 0 ]] || { echo "usage: fuzz/run.sh [SECONDS]" >&2; exit 2; }
out=${FUZZ_BUILD:-build-fuzz}
mkdir -p "$out/artifacts"
work=$(mktemp -d "${TMPDIR:-/tmp}/sealpost-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# One target per core at a time: each run is one process on one core, so
# every target still gets its SECONDS of a whole core.
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
[[ $jobs =~ ^[0-9]+$ && $jobs -gt 0 ]] || jobs=1

# run_one TARGET: one fuzz run; its exit status goes to $work/TARGET.rc
run_one() {
	local bin=$1 target name corpus log
	target=$(basename "$bin")
	name=${target#fuzz_}
	corpus="$work/$name"
	mkdir -p "$corpus"
	if [[ -d fuzz/corpus/$name ]]; then
		cp -R "fuzz/corpus/$name/." "$corpus/"
	fi
	log="$out/artifacts/$target.log"
	# A hard bound beyond libFuzzer's own, in case a run hangs.
	timeout --signal=KILL $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=20 \
		-rss_limit_mb=2560 -max_len=262144 -print_final_stats=1 \
		-artifact_prefix="$out/artifacts/$target-" "$corpus" >"$log" 2>&1
	echo $? >"$work/$target.rc"
}

targets=()
for bin in "$out"/fuzz_*; do
	[[ -f $bin && -x $bin ]] || continue
	targets+=("$bin")
	while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do
		wait -n
	done
	run_one "$bin" &
done
wait

pass=0 fail=0
for bin in "${targets[@]}"; do
	target=$(basename "$bin")
	log="$out/artifacts/$target.log"
	rc=$(cat "$work/$target.rc" 2>/dev/null || echo 1)
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
	if [[ $rc -eq 0 ]]; then
		pass=$((pass + 1))
		echo "fuzz $target: ok, ${runs:-?} runs in ${secs}s"
	else
		fail=$((fail + 1))
		echo "fuzz $target: FAILED (exit $rc); log $log; last lines:"
		tail -n 30 "$log"
	fi
done
if [[ $((pass + fail)) -eq 0 ]]; then
	echo "fuzz: no targets in $out (run bash fuzz/build.sh first)"
	exit 1
fi
echo "fuzz: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
