#!/usr/bin/env bash
# Starts (or reuses) a throw-away PostgreSQL server on loopback for the tests and for trying
# `store = postgres` locally, and prints its URL on stdout (everything else goes to stderr):
#
#   export SSP_TEST_PG_URL="$(scripts/start-postgres.sh)"
#
# Idempotent: a server already running from the same data folder is reused. Nothing is
# installed here (scripts/test.sh installs the `postgresql` package when it is missing).
# The role gets CREATEDB and CREATEROLE (a test creates a throw-away role to try wrong
# credentials); the server runs with fsync=off: it is for tests, not for data you keep.
#
# Environment (all optional):
#   SSP_PG_DIR       data folder             (default /tmp/ssp-test-pg)
#   SSP_PG_PORT      TCP port on 127.0.0.1   (default: the first free port from 55432)
#   SSP_PG_USER      role created for tests  (default ssp)
#   SSP_PG_PASSWORD  its password            (default ssp)
#   SSP_PG_DB        database created        (default ssp_test)
#   SSP_PG_BIN       PostgreSQL bin folder   (default: newest /usr/lib/postgresql/*/bin)
#
# `scripts/start-postgres.sh stop` stops the server of SSP_PG_DIR.
# The server also takes TLS (ssl=on) with a certificate for localhost / 127.0.0.1 signed by a
# throw-away authority (openssl); `scripts/start-postgres.sh ca` prints that authority's PEM
# file (for `[postgresql] sslmode = verify-full`, `sslrootcert`).
set -euo pipefail

DIR="${SSP_PG_DIR:-/tmp/ssp-test-pg}"
DATA="$DIR/data"
SOCK="$DIR/sock"
USER_NAME="${SSP_PG_USER:-ssp}"
PASSWORD="${SSP_PG_PASSWORD:-ssp}"
DB="${SSP_PG_DB:-ssp_test}"

say() { printf 'start-postgres: %s\n' "$*" >&2; }

find_bin() {
    if [ -n "${SSP_PG_BIN:-}" ]; then
        echo "$SSP_PG_BIN"
        return
    fi
    local best=""
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] && best="$d"
    done
    if [ -z "$best" ] && command -v pg_ctl >/dev/null 2>&1; then
        best="$(dirname "$(command -v pg_ctl)")"
    fi
    if [ -z "$best" ]; then
        say "no PostgreSQL server binaries found (apt-get install -y postgresql)"
        exit 1
    fi
    echo "$best"
}
BIN="$(find_bin)"

# initdb refuses to run as root: run the server as the `postgres` user then.
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    OWNER=postgres
    as_owner() { runuser -u postgres -- "$@"; }
else
    OWNER="$(id -un)"
    as_owner() { "$@"; }
fi

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

running() {
    [ -f "$DATA/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

TLS="$DIR/tls"
if [ "${1:-}" = "ca" ]; then
    echo "$TLS/ca.crt"
    exit 0
fi

# The authority and the server's certificate (localhost and 127.0.0.1), made once.
make_tls() {
    [ -f "$TLS/server.crt" ] && return
    mkdir -p "$TLS"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ssp-tui test CA" \
        -keyout "$TLS/ca.key" -out "$TLS/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$TLS/server.key" -out "$TLS/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$TLS/ext.cnf"
    openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" \
        -CAcreateserial -days 3650 -extfile "$TLS/ext.cnf" -out "$TLS/server.crt" 2>/dev/null
    chmod 600 "$TLS/server.key" "$TLS/ca.key"
    chmod 644 "$TLS/ca.crt" "$TLS/server.crt"
}

if [ "${1:-}" = "stop" ]; then
    if running; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
    fi
    exit 0
fi

mkdir -p "$DIR" "$SOCK"
chmod 755 "$DIR"
make_tls
if [ "$OWNER" = postgres ]; then
    chown postgres: "$DIR" "$SOCK"
    chown -R postgres: "$TLS"
fi

if [ ! -f "$DATA/PG_VERSION" ]; then
    say "initdb in $DATA"
    rm -rf "$DATA"
    as_owner mkdir -p "$DATA"
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 || {
        cat "$DIR/initdb.log" >&2
        exit 1
    }
fi

if running; then
    PORT="$(cat "$DIR/port")"
    say "reusing the server on 127.0.0.1:$PORT ($DATA)"
else
    PORT="${SSP_PG_PORT:-}"
    if [ -z "$PORT" ]; then
        PORT=55432
        while ! port_free "$PORT"; do PORT=$((PORT + 1)); done
    fi
    echo "$PORT" >"$DIR/port"
    say "starting PostgreSQL ($BIN) on 127.0.0.1:$PORT"
    as_owner "$BIN/pg_ctl" -D "$DATA" -w -t 60 -l "$DIR/server.log" \
        -o "-p $PORT -k $SOCK -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c ssl=on -c ssl_cert_file=$TLS/server.crt -c ssl_key_file=$TLS/server.key" \
        start >&2 || {
        tail -n 30 "$DIR/server.log" >&2 || true
        exit 1
    }
fi

# psql interpolates :'var' / :"var" only in scripts read from stdin, not in -c.
psql_admin() {
    as_owner "$BIN/psql" -h "$SOCK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"
}

# Role and database (values quoted by psql itself).
roles="$(echo "select count(*) from pg_roles where rolname = :'u';" | psql_admin -v u="$USER_NAME")"
if [ "$roles" = 0 ]; then
    echo "create role :\"u\" login createdb createrole password :'p';" |
        psql_admin -v u="$USER_NAME" -v p="$PASSWORD" >&2
else
    echo "alter role :\"u\" login createdb createrole password :'p';" |
        psql_admin -v u="$USER_NAME" -v p="$PASSWORD" >&2
fi
dbs="$(echo "select count(*) from pg_database where datname = :'d';" | psql_admin -v d="$DB")"
if [ "$dbs" = 0 ]; then
    echo "create database :\"d\" owner :\"u\";" | psql_admin -v d="$DB" -v u="$USER_NAME" >&2
fi

echo "postgres://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/$DB"
