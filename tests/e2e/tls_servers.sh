# shellcheck shell=bash
# tls_servers.sh - shared set-up for the suites that run several
# examples/tls_server processes under a client load (tests/e2e/tls_load.c).
# Source it after lib.sh and servers.sh (wait_exit, stop_all, SPIDS); it
# defines functions only. They read the test's $T and $KMC_BUILD.

SRV="$KMC_BUILD/examples/tls_server"
LOADER=$T/tls_load

# start_tls_server NAME ARGS...: run tls_server ARGS in the background, its
# stdout in $T/NAME.stdout and its log in $T/NAME.log; set SPID, SLOG and
# PORT from its "listening on" line (and keep them in $T/NAME.pid and
# $T/NAME.port). The server prints that line before it logs what it
# serves (bundle, certificate, client certificates and ciphers): this
# returns once the last of those is logged too, so that a check of them
# does not race the server. Fails if it exits first or has not said both
# in 60 s.
start_tls_server() {
	local name=$1 end
	shift
	SLOG=$T/$name.log
	PORT=
	"$SRV" "$@" >"$T/$name.stdout" 2>"$SLOG" </dev/null &
	SPID=$!
	SPIDS+=("$SPID")
	echo "$SPID" >"$T/$name.pid"
	end=$((SECONDS + 60))
	while :; do
		[ -n "$PORT" ] || PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]\+\)$/\1/p' \
			"$T/$name.stdout")
		if [ -n "$PORT" ] && grep -q '^tls_server: client certificates ' "$SLOG"; then
			echo "$PORT" >"$T/$name.port"
			return 0
		fi
		kill -0 "$SPID" 2>/dev/null ||
			{ echo "tls_server $name ended before it was listening and logged" >&2; return 1; }
		[ "$SECONDS" -lt "$end" ] ||
			{ echo "tls_server $name: not listening and logged in 60 s" >&2; return 1; }
		sleep 0.1
	done
}
pid_of() { cat "$T/$1.pid"; }
port_of() { cat "$T/$1.port"; }

# log_count NAME REGEX: how many lines of server NAME's log match REGEX.
log_count() { grep -Ec -- "$2" "$T/$1.log"; }
# log_none NAME REGEX: no line of server NAME's log matches REGEX; else
# the lines that do, with the two before each, to the report.
log_none() {
	! grep -Eq -- "$2" "$T/$1.log" ||
		{ grep -E -B2 -- "$2" "$T/$1.log" | head -30 >&2; false; }
}

# await_log NAME REGEX [N]: poll (30 s) until server NAME's log has more
# than N (default 0) lines matching REGEX; fails if it does not, or if
# the server ended first without logging it.
await_log() {
	local name=$1 re=$2 n=${3:-0} pid _
	pid=$(pid_of "$name")
	for _ in $(seq 300); do
		[ "$(log_count "$name" "$re")" -gt "$n" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	[ "$(log_count "$name" "$re")" -gt "$n" ]
}

# ---- the client load -------------------------------------------------------

# build_tls_load: compile tests/e2e/tls_load.c into $LOADER.
build_tls_load() { kmc_cc "$LOADER" "$KMC_TOP/tests/e2e/tls_load.c"; }

# start_load NAME ARGS...: tls_load ARGS in the background; its status
# file $T/NAME.status, stdout $T/NAME.out, failures in $T/NAME.err; LPID.
LPID=
start_load() {
	local name=$1
	shift
	"$LOADER" --status "$T/$name.status" "$@" >"$T/$name.out" \
		2>"$T/$name.err" </dev/null &
	LPID=$!
	SPIDS+=("$LPID")
}

# load_field NAME FIELD: a count from load NAME's status line (requests,
# ok, handshake_failed, other_failed); 0 before the first.
load_field() {
	local v
	v=$(awk -v f="$2" '{ for (i = 1; i < NF; i += 2) if ($i == f) print $(i + 1) }' \
		"$T/$1.status" 2>/dev/null)
	echo "${v:-0}"
}

# await_load NAME N: poll (60 s) until load NAME has made N more requests
# than when called, so that every step of a test runs under load; fails if
# the load ends first.
await_load() {
	local want _
	want=$(($(load_field "$1" requests) + $2))
	for _ in $(seq 600); do
		[ "$(load_field "$1" requests)" -ge "$want" ] && return 0
		kill -0 "$LPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# stop_load NAME: SIGTERM the load and wait for it: its exit status (0:
# no request failed); if not 0, its failures on stderr.
stop_load() {
	local rc
	kill -TERM "$LPID" 2>/dev/null
	wait_exit "$LPID"
	rc=$?
	[ "$rc" = 0 ] || cat "$T/$1.err" >&2
	return "$rc"
}

# A change to the vault may be more than one commit (an intent journal
# first), and the example server reloads at each generation it sees: a
# reload at the first commit still reads what was there before, and a
# count of reloads can grow before the change has landed. A wait for a
# reload therefore waits for one at the vault's generation after the
# change: the server reads the generation before the material, so what
# it loaded then is at least that new.
# last_reload_gen [LOG]: the generation of the server's last reload.
last_reload_gen() {
	grep -oE 'reloaded: generation [0-9]+' "${1:-$SLOG}" | tail -n 1 | grep -oE '[0-9]+$'
}
# last_refused_gen [LOG]: the generation of its last refused reload.
last_refused_gen() {
	sed -n 's/^tls_server: reload of generation \([0-9]\+\) refused: .*/\1/p' \
		"${1:-$SLOG}" | tail -n 1
}
# vault_generation VAULT: the item store's generation now.
vault_generation() { "$KMC" --vault "$1" status --json 2>/dev/null | jq -r .store_generation; }
# await_gen WHAT VAULT PID LOG: until the server PID logging to LOG has
# reloaded (WHAT reload) or refused to reload (WHAT refused) at VAULT's
# generation now or a later one; at most 60 s. Fails, saying what it
# waited for, if that does not come, or PID (if not empty) ends first.
await_gen() {
	local what=$1 vault=$2 pid=$3 log=$4 g end did
	did=$([ "$what" = reload ] && echo reloaded || echo 'refused a reload')
	g=$(vault_generation "$vault")
	[[ $g =~ ^[0-9]+$ ]] || { echo "no generation of $vault: '$g'" >&2; return 1; }
	end=$((SECONDS + 60))
	while :; do
		[ "$("last_${what}_gen" "$log")" -ge "$g" ] 2>/dev/null && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			# Its last words may have come after the look above.
			[ "$("last_${what}_gen" "$log")" -ge "$g" ] 2>/dev/null && return 0
			echo "the server ($pid) ended before it $did at generation $g of $vault" >&2
			return 1
		fi
		[ "$SECONDS" -lt "$end" ] || break
		sleep 0.1
	done
	echo "the server ($pid) has not $did at generation $g of $vault in 60 s; its last: '$("last_${what}_gen" "$log")' ($log)" >&2
	return 1
}
# await_reload_at VAULT [PID]: until the server logging to $SLOG reloaded
# at VAULT's generation now (60 s), or PID is gone.
await_reload_at() { await_gen reload "$1" "${2:-}" "$SLOG"; }
# await_reloaded NAME VAULT: until server NAME (start_tls_server NAME)
# has reloaded at VAULT's generation now (60 s), or has ended.
await_reloaded() { await_gen reload "$2" "$(pid_of "$1")" "$T/$1.log"; }
# await_refused NAME VAULT: until server NAME has refused a reload at
# VAULT's generation now (60 s), or has ended.
await_refused() { await_gen refused "$2" "$(pid_of "$1")" "$T/$1.log"; }
