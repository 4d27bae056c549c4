#!/bin/bash
# The server's own memory (RssAnon) while eight unindexed filters and sorts
# run at once on a tenant of USERS (20,000) users. Release build; run from
# the repository root. See BENCHMARKS.md, "Hostile and oversized requests".

BIN=${BIN:-target/release/scimgate}
D=$(mktemp -d); export SCIMGATE_DATABASE_URL="sqlite://$D/db"
$BIN tenant create acme --name Acme >/dev/null
TOKEN=$($BIN token create --tenant acme --name bench --json | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
SCIMGATE_TENANT_RATE_LIMIT=0 RUST_LOG=warn $BIN serve --bind 127.0.0.1:18080 > $D/log 2>&1 &
PID=$!
sleep 1
$BIN simulate --base-url http://127.0.0.1:18080/scim/v2 --auth secret-token --token "$TOKEN" --users ${USERS:-20000} --groups 0 --incremental-fraction 0 --no-progress 2>&1 | tail -2
rss() { grep RssAnon /proc/$PID/status | awk '{print $2}'; }
echo "RssAnon after seeding: $(( $(rss) / 1024 )) MiB"
run8() {
  local q=$1; local peak=0
  : > $D/out
  ( for i in 1 2 3 4 5 6 7 8; do curl -s -o /dev/null -w "%{http_code} %{time_total}s %{size_download}B\n" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:18080/scim/v2/Users?$q" >> $D/out & done; wait ) &
  local W=$!
  while kill -0 $W 2>/dev/null; do r=$(rss); if [ $r -gt $peak ]; then peak=$r; fi; sleep 0.02; done
  wait $W
  cat $D/out | awk '{print "   ", $0}' | sort | head -8
  echo "  peak RssAnon during 8 x '$q': $(( peak / 1024 )) MiB; after: $(( $(rss) / 1024 )) MiB"
}
base=$(rss)
run8 'filter=title%20eq%20%22x%22'
run8 'filter=title%20eq%20%22x%22&sortBy=title'
run8 'sortBy=title&count=100'
run8 'filter=name.givenName%20sw%20%22A%22&sortBy=name.familyName&startIndex=500&count=100'
kill $PID; wait $PID 2>/dev/null || true
rm -rf $D
