#!/usr/bin/env bash
# Builds every fuzz/fuzz_*.c into build-fuzz/NAME with clang and libFuzzer
# (-fsanitize=fuzzer,address,undefined), linked with all of src/lib/*.c and
# the embedded web assets.  Usage: bash fuzz/build.sh  (from anywhere).
# Environment: CLANG (default clang, then clang-14), FUZZ_BUILD (default
# build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."

cc=${CLANG:-}
if [[ -z $cc ]]; then
	for c in clang clang-14; do
		if command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
	done
fi
[[ -n $cc ]] || { echo "fuzz/build.sh: clang not found" >&2; exit 1; }
out=${FUZZ_BUILD:-build-fuzz}
pkgs="gmime-3.0 libmicrohttpd jansson libsodium sqlite3 libcurl libhs libcrypto zlib libfido2 libqrencode libcbor libpq"
read -r -a pkg_cflags <<<"$(pkg-config --cflags $pkgs)"
read -r -a pkg_libs <<<"$(pkg-config --libs $pkgs)"

make -s build/gen/web_assets.c

san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
cflags=(-std=c17 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Wno-unused-parameter
	-Isrc/lib -Ibuild/gen "${pkg_cflags[@]}")
mkdir -p "$out/obj"

jobs=$(nproc 2>/dev/null || echo 2)
failed="$out/.failed"
rm -f "$failed"
# wait_slot: returns once fewer than $jobs compiles run
wait_slot() {
	while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do
		wait -n || true
	done
}
# wait_all: every compile done; fails the build when one failed
wait_all() {
	wait
	[[ ! -e $failed ]] || { echo "fuzz/build.sh: a compile failed" >&2; exit 1; }
}

# The library, instrumented for coverage but without libFuzzer's main; as
# many compiles at once as there are cores.
objs=()
for src in src/lib/*.c build/gen/web_assets.c; do
	obj="$out/obj/$(basename "${src%.c}").o"
	if [[ ! -e $obj || $src -nt $obj || $0 -nt $obj ]] || \
	   [[ -n $(find src/lib -name '*.h' -newer "$obj" -print -quit) ]]; then
		wait_slot
		"$cc" "${cflags[@]}" "${san[@]}" -fsanitize=fuzzer-no-link -c -o "$obj" "$src" || touch "$failed" &
	fi
	objs+=("$obj")
done
wait_all

n=0
for target in fuzz/fuzz_*.c; do
	[[ -e $target ]] || continue
	name=$(basename "${target%.c}")
	wait_slot
	{ "$cc" "${cflags[@]}" "${san[@]}" -fsanitize=fuzzer -o "$out/$name" "$target" \
		"${objs[@]}" "${pkg_libs[@]}" -lmilter -lpthread -lm -lstdc++ &&
		echo "built $out/$name" || touch "$failed"; } &
	n=$((n + 1))
done
wait_all
echo "fuzz: built $n target(s) into $out"
