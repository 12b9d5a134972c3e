#!/usr/bin/env bash
# make bench: runs every bench/*.sh (except this one) and prints their
# figures.  Each script measures its own baseline in the same run.
set -u
cd "$(dirname "$0")/.."
rc=0
for b in bench/*.sh; do
	[[ $b == bench/run.sh ]] && continue
	echo "=== $b"
	bash "$b" || { echo "bench: $b failed"; rc=1; }
done
exit $rc
