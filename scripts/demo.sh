#!/usr/bin/env bash
# make demo: runs the whole system on the embedded defaults (SQLite, mail to
# an outbox directory, key server on 127.0.0.1), seals a sample message with
# an attachment, prints what to open, and stays in the foreground until
# Ctrl-C.  DEMO_PORT (default 8080) and DEMO_DIR (default ./demo-data) can be
# set.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
port=${DEMO_PORT:-8080}
dir=${DEMO_DIR:-$root/demo-data}
url="http://127.0.0.1:$port"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
	echo "demo: port $port is already in use; run with DEMO_PORT=another port" >&2
	exit 1
fi

# --allow-root: the demo and benches run as root in containers; in production
# keyd runs with --user (docs/keyholder.md)
bin/sealpost-keyd --data-dir "$dir/keyd" --listen "127.0.0.1:$port" --public-url "$url" --allow-root \
	2>>"$dir/keyd.log" &
keyd=$!
trap 'kill "$keyd" 2>/dev/null; wait "$keyd" 2>/dev/null; echo; echo "demo: key server stopped"' EXIT
trap 'exit 0' INT TERM
for _ in $(seq 1 100); do
	curl -fsS "$url/healthz" >/dev/null 2>&1 && break
	kill -0 "$keyd" 2>/dev/null || { echo "demo: the key server did not start; see $dir/keyd.log" >&2; exit 1; }
	sleep 0.1
done

if [[ ! -s $dir/org.token ]]; then
	rm -f "$dir/org-sign.pem"
	bin/sealpost --data-dir "$dir/keyd" org add "Demo Clinic" --domain clinic.example \
		--key-out "$dir/org-sign.pem" > "$dir/org.token"
	printf 'violet trumpet winter 2026\n' > "$dir/demo-password.txt"
	chmod 600 "$dir/org.token" "$dir/demo-password.txt"
	bin/sealpost --data-dir "$dir/keyd" recipient add demo@example.org \
		--password-file "$dir/demo-password.txt" >/dev/null
fi

# a sample message: text, HTML and a small attachment
report=$(printf 'Patient: Demo Patient\nResult: all values in the normal range.\n' | base64 -w 76)
cat > "$dir/sample.eml" <<MAIL
From: Dr Alice Example <alice@clinic.example>
To: patient@example.org, demo@example.org
Subject: Your test results
Date: $(LC_ALL=C date -R)
Message-ID: <demo-$(date +%s)@clinic.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="demo-boundary"

--demo-boundary
Content-Type: text/plain; charset=utf-8

Dear patient,

your test results are attached. Everything looks fine.

Dr Alice Example, Demo Clinic
--demo-boundary
Content-Type: text/plain; name="results.txt"
Content-Disposition: attachment; filename="results.txt"
Content-Transfer-Encoding: base64

$report
--demo-boundary--
MAIL

# signed (format 2) with the organisation's key; a demo directory made
# before organisations had keys has none and seals format 1
sign=()
[[ -s $dir/org-sign.pem ]] && sign=(--sign-key "$dir/org-sign.pem")
mkdir -p "$dir/sealed"
bin/sealpost seal --keyd "$url" --token-file "$dir/org.token" "${sign[@]}" -i "$dir/sample.eml" \
	-o "$dir/sealed/notification.eml" --html "$dir/sealed/securedoc.html"

cat <<EOF2

  sealpost demo is running.

  Key server:         $url   (log: $dir/keyd.log)
  Sealed mail:        $dir/sealed/notification.eml
  Signing key:        $dir/org-sign.pem   (the organisation's; keep it secret)
  Open in a browser:  file://$dir/sealed/securedoc.html
  Outbox (mail that the key server sends, e.g. activation links):
                      $dir/keyd/outbox/

  Two ways in:
   1. New recipient: click "Register" as patient@example.org, then open the
      activation mail in the outbox and follow its link, then "Open".
   2. Pre-registered: demo@example.org with the password in
      $dir/demo-password.txt

  From the terminal:
      bin/sealpost open --keyd $url --email demo@example.org \\
          --password-file $dir/demo-password.txt $dir/sealed/securedoc.html

  Press Ctrl-C to stop.
EOF2
wait "$keyd"
