#!/usr/bin/env bash
# Installs what sealpost needs to build and test, when it is missing:
# Debian packages (as root, with apt-get) and the npm packages of the browser
# tests (from the committed package-lock.json).  Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(build-essential pkg-config clang libclang-rt-14-dev
      libmicrohttpd-dev libgmime-3.0-dev libmilter-dev libssl-dev libsodium-dev
      libsqlite3-dev libcurl4-openssl-dev libhyperscan-dev libjansson-dev zlib1g-dev
      libfido2-dev libcbor-dev libqrencode-dev libpq-dev
      sqlite3 postgresql haproxy curl chromium nodejs npm postfix)

missing=()
for p in "${DEBS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from elsewhere than Debian on some machines
if command -v node >/dev/null && command -v npm >/dev/null; then
	tmp=()
	for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
	missing=("${tmp[@]+"${tmp[@]}"}")
fi
if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}"
	if [[ $(id -u) -ne 0 ]]; then
		echo "install-deps: missing Debian packages and not root: ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	# postfix asks questions at install time unless told otherwise
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [[ ! -d node_modules/playwright-core ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
	npm ci --no-audit --no-fund
fi
echo "install-deps: ok"
