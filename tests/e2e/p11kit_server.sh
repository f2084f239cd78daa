# shellcheck shell=bash
# p11kit_server.sh - a `p11-kit server` exporting one SoftHSM2 token on a
# unix socket in the test's temp dir, for the suites that reach a token
# through p11-kit's client module (the network token). Source it after
# lib.sh with MOD set to the module it exports; it exports
# P11_KIT_SERVER_ADDRESS, for the client module.
#
#   p11kit_up LABEL   start the server for token LABEL in a session of its
#                     own (stopping it stops the process it forks for each
#                     client too); P11KIT_PID is its PID and process group;
#                     its output in $T/p11kit.out, $T/p11kit.err
#   p11kit_down       stop it (TERM, then KILL after 10 s) and wait until
#                     every process of its group has exited

SOCK=$T/p11kit.sock
P11KIT_PID=
export P11_KIT_SERVER_ADDRESS="unix:path=$SOCK"

# group_alive PGID: a process of the group has not exited.
group_alive() {
	ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'
}

p11kit_up() {
	local _
	rm -f "$SOCK"
	setsid p11-kit server -f --provider "$MOD" -n "$SOCK" "pkcs11:token=$1" \
		>"$T/p11kit.out" 2>"$T/p11kit.err" </dev/null &
	P11KIT_PID=$!
	for _ in $(seq 100); do
		[ -S "$SOCK" ] && break
		kill -0 "$P11KIT_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! [ -S "$SOCK" ]; then
		echo "# p11-kit server did not come up: $(cat "$T/p11kit.err")"
		return 1
	fi
	# The socket is bound before the server prints its address: a
	# suite that reads the address waits for the line too (bounded).
	for _ in $(seq 100); do
		grep -q 'P11_KIT_SERVER_ADDRESS=' "$T/p11kit.out" 2>/dev/null && break
		kill -0 "$P11KIT_PID" 2>/dev/null || break
		sleep 0.1
	done
	return 0
}

p11kit_down() {
	local _
	[ -n "$P11KIT_PID" ] || return 0
	kill -TERM -- "-$P11KIT_PID" 2>/dev/null
	for _ in $(seq 100); do
		group_alive "$P11KIT_PID" || break
		sleep 0.1
	done
	kill -KILL -- "-$P11KIT_PID" 2>/dev/null
	wait "$P11KIT_PID" 2>/dev/null
	P11KIT_PID=
	rm -f "$SOCK"
}
