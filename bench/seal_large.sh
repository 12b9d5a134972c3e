#!/usr/bin/env bash
# The seal of a message with a 10 MB attachment as a whole process
# (`sealpost seal --sign-key`, against a key server started here on
# loopback) beside coreutils `base64` over the same file in the same run:
# wall time of each (median of BENCH_RUNS, default 3), their ratio, and the
# seal's peak resident memory against the message size.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/keyd.sh
runs=${BENCH_RUNS:-3}
# SEALPOST: the sealpost binary measured (default bin/sealpost)
keyd_start
token=$(keyd_org "Bench Clinic" clinic.example)
printf '%s\n' "$token" > "$dir/token"
# 10 MiB of random bytes as base64 in 76-character CRLF lines
node -e '
const fs = require("fs"), crypto = require("crypto");
const b = crypto.randomBytes(10 << 20).toString("base64").replace(/.{76}/g, "$&\r\n");
fs.writeFileSync(process.argv[1], "From: Dr Alice <alice@clinic.example>\r\nTo: pat@example.org\r\n" +
  "Subject: results\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
  "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n" +
  "Content-Type: text/plain\r\n\r\nYour results are attached.\r\n--b\r\n" +
  "Content-Type: application/octet-stream; name=\"data.bin\"\r\n" +
  "Content-Transfer-Encoding: base64\r\n\r\n" + b + (b.endsWith("\n") ? "" : "\r\n") + "--b--\r\n");
' "$dir/big.eml"
size=$(stat -c %s "$dir/big.eml")
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: > "$dir/seal.t"; : > "$dir/b64.t"; : > "$dir/rss"
# wall time in nanoseconds (date), peak memory from /usr/bin/time
ns() { date +%s%N; }
for _ in $(seq 1 "$runs"); do
	# each seal writes a new file, as in use: replacing the last run's
	# output would add the freeing of its blocks to the seal's rename
	rm -f "$dir/out.eml"
	t0=$(ns)
	/usr/bin/time -f '%M' -o "$dir/one" "${SEALPOST:-bin/sealpost}" seal --keyd "$url" --token-file "$dir/token" \
		--sign-key "$dir/clinic.example.pem" -i "$dir/big.eml" -o "$dir/out.eml" 2>/dev/null
	t1=$(ns)
	base64 "$dir/big.eml" > /dev/null
	t2=$(ns)
	echo $(( (t1 - t0) / 1000 )) >> "$dir/seal.t"
	echo $(( (t2 - t1) / 1000 )) >> "$dir/b64.t"
	cat "$dir/one" >> "$dir/rss"
done
st=$(median < "$dir/seal.t"); bt=$(median < "$dir/b64.t"); kb=$(median < "$dir/rss")
awk -v s="$st" -v b="$bt" -v kb="$kb" -v size="$size" -v runs="$runs" 'BEGIN {
	s /= 1e6; b /= 1e6	# microseconds
	printf "seal 10MB-attachment (%d bytes), median of %d: sealpost seal %.3f s   base64 %.3f s   ratio %.1f (goal <= 3)\n", size, runs, s, b, s / b
	mb = kb / 1024; msg = size / 1048576
	printf "seal 10MB-attachment: peak RSS %.1f MB = %.2f x message (%.1f MB); goal <= 3 x message + 32 MB = %.1f MB\n", mb, mb / msg, msg, 3 * msg + 32
}'
