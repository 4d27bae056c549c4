#!/usr/bin/env bash
# Runs the third-party RFC 7643/7644 checker scim2-tester against a live
# scimgate: on a fresh SQLite database, and also on a fresh PostgreSQL
# database when SCIMGATE_TEST_POSTGRES_URL is set. Exits non-zero if any
# check fails. See docs/conformance.md.
#
# Environment:
#   SCIMGATE_VENV               virtualenv for the checker (default ~/.cache/scimgate-venv)
#   SCIMGATE_TEST_POSTGRES_URL  admin URL of a PostgreSQL server, e.g.
#                               postgres://postgres@127.0.0.1:5432/postgres
#   CONFORMANCE_VERBOSE=1       also print the data of passing checks
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SCIMGATE_VENV:-${HOME:-/tmp}/.cache/scimgate-venv}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/scimgate-conformance.XXXXXX")"
BIN="$ROOT/target/debug/scimgate"
SERVER_PID=""
PG_ADMIN_URL=""
PG_DB=""

log() { printf 'conformance.sh: %s\n' "$*" >&2; }

stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

cleanup() {
    stop_server
    if [[ -n "$PG_DB" ]]; then
        psql "$PG_ADMIN_URL" -q -v ON_ERROR_STOP=1 \
            -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop PostgreSQL database $PG_DB; drop it by hand"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The checker, pinned. pip does not touch the network when every pin is
# already installed.
if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating virtualenv $VENV"
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
    -r "$ROOT/scripts/conformance-requirements.txt"

# The debug build: CI's cargo test has already compiled its dependencies, so
# it costs seconds, and the checker takes the same time against either build.
(cd "$ROOT" && cargo build --quiet --bin scimgate)

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run_backend LABEL DATABASE_URL: mint a token, serve, check, stop.
run_backend() {
    local label="$1" db_url="$2"
    local port base token_json token rc=0 code i

    "$BIN" --database-url "$db_url" tenant create conformance >/dev/null
    token_json="$("$BIN" --database-url "$db_url" token create \
        --tenant conformance --name checker --json)"
    token="$(printf '%s' "$token_json" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')"

    port="$(free_port)"
    base="http://127.0.0.1:$port/scim/v2"
    # The checker sends its requests as fast as it can and does not wait
    # out a 429, unlike an identity provider: no tenant rate limit here.
    env -u SCIMGATE_PUBLIC_URL -u SCIMGATE_BIND "$BIN" serve \
        --database-url "$db_url" --bind "127.0.0.1:$port" --tenant-rate-limit 0 \
        >"$WORK/server-$label.log" 2>&1 &
    SERVER_PID=$!

    # Any HTTP answer (even 401) means the server is listening.
    for ((i = 0; i < 300; i++)); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "scimgate exited before it answered ($label); its log:"
            cat "$WORK/server-$label.log" >&2
            SERVER_PID=""
            return 1
        fi
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/ServiceProviderConfig" || true)"
        [[ "$code" != "000" ]] && break
        sleep 0.1
    done
    if [[ "$code" == "000" ]]; then
        log "scimgate did not answer on port $port within 30 s ($label); its log:"
        cat "$WORK/server-$label.log" >&2
        return 1
    fi

    echo "=== scim2-tester against scimgate on $label ($base)"
    SCIMGATE_CONFORMANCE_TOKEN="$token" "$VENV/bin/python" \
        "$ROOT/scripts/conformance_check.py" --url "$base" --label "$label" \
        --counts-file "$WORK/counts-$label" \
        ${CONFORMANCE_VERBOSE:+--verbose} || rc=$?
    stop_server
    if [[ ! -s "$WORK/counts-$label" ]]; then
        # The checker crashed before counting: that is a failure too.
        printf '0 1 0\nscim2-tester [%s] crashed before it counted (exit %s)\n' "$label" "$rc" >"$WORK/counts-$label"
    fi
    if ((rc != 0)); then
        log "checks failed on $label (exit $rc); server log: last 40 lines"
        tail -n 40 "$WORK/server-$label.log" >&2 || true
    fi
    return 0
}

LABELS=(sqlite)
run_backend sqlite "sqlite://$WORK/conformance.db"

if [[ -n "${SCIMGATE_TEST_POSTGRES_URL:-}" ]]; then
    PG_ADMIN_URL="$SCIMGATE_TEST_POSTGRES_URL"
    PG_DB="scimgate_conformance_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
    psql "$PG_ADMIN_URL" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PG_DB" >/dev/null
    pg_url="$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' \
        "$PG_ADMIN_URL" "$PG_DB")"
    LABELS+=(postgres)
    run_backend postgres "$pg_url"
else
    log "SCIMGATE_TEST_POSTGRES_URL is not set: PostgreSQL run skipped"
fi

passed=0
failed=0
skipped=0
for label in "${LABELS[@]}"; do
    f="$WORK/counts-$label"
    read -r p fl s <"$f"
    passed=$((passed + p))
    failed=$((failed + fl))
    skipped=$((skipped + s))
    sed -n 2p "$f"
done

line="conformance: $passed passed, $failed failed"
((skipped > 0)) && line+=", $skipped skipped"
echo "$line"
((failed == 0))
