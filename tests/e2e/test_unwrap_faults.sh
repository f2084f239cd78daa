#!/usr/bin/env bash
# test_unwrap_faults.sh - kmc unwrap --out, which writes a plaintext key,
# with each of its steps failing and then killed at each step (faults.sh):
# afterwards the --out path holds the whole key or nothing, never part
# of it, and nothing else is left in its folder (no temporary file with
# part of the key under another name either, where the file system has
# O_TMPFILE; see sweep below for the way without it).
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"

UV=$T/uv
P=$T/pki
KP='server-key-password'
secret_file "$T/kp" "$KP"
check "mkpki.sh makes a key and certificate" bash "$KMC_TOP/tools/mkpki.sh" "$P" "$KP"
check "a vault" "$KMC" --vault "$UV" init
check "... holding the key" "$KMC" --vault "$UV" import -c "$P/ca.crt" \
	-s "$P/server.crt" -k "$P/server.key" --password-file "$T/kp"
"$KMC" --vault "$UV" unwrap server >"$T/key.pem" 2>/dev/null
check "unwrap to a pipe gives the key to compare with" grep -q 'PRIVATE KEY' "$T/key.pem"

OD=$T/out	# the folder of --out: it must end up empty or hold the key
KEY=$OD/key.pem
mkdir -m 700 "$OD"
whole_key() { # the whole key, mode 0600, and nothing else in the folder
	cmp -s "$KEY" "$T/key.pem" || { echo "$KEY is not the whole key: $(wc -c <"$KEY") bytes" >&2; return 1; }
	[ "$(stat -c %a "$KEY")" = 600 ] || { echo "$KEY has mode $(stat -c %a "$KEY")" >&2; return 1; }
	[ "$(ls -A "$OD")" = key.pem ] || { echo "left in $OD: $(ls -A "$OD" | tr '\n' ' ')" >&2; false; }
}
left_nothing() {
	[ -z "$(ls -A "$OD")" ] || { echo "left in $OD: $(ls -A "$OD" | tr '\n' ' ')" >&2; false; }
}
unwrap() { faulty "$1" "$KMC" --vault "$UV" unwrap server --out "$KEY"; }

# sweep HOW: every step failing, then killed at every step. HOW "nameless"
# is the way taken where the file system has O_TMPFILE (the key has no
# name until it is whole); "named" forces the other (the shim fails
# O_TMPFILE as such a file system would): a .key.pem.tmp-* that a
# killed run leaves there is counted, never found under the --out name.
sweep() {
	local how=$1 n at total none=0 whole=0 temps=0
	rm -rf "$OD" && mkdir -m 700 "$OD"
	unwrap 0
	check "unwrap --out ($how) under the shim without a fault succeeds" test "$rc" = 0
	check "... and writes the whole key" whole_key
	check "the shim counted the steps of unwrap --out ($how)" test "$steps" -gt 2
	total=$steps
	for ((n = 1; n <= total; n++)); do
		at="unwrap --out ($how), step $n of $total failing"
		rm -rf "$OD" && mkdir -m 700 "$OD"
		unwrap "$n"
		if [ "$rc" != 0 ]; then
			check "$at: exits non-zero without a crash" no_crash
			check "$at: the message names the fault" names_fault
			check "$at: no file, no temporary left" left_nothing
		else
			check "$at yet exit 0: the whole key" whole_key
		fi
	done
	kills_wanted || { skip_kills "unwrap --out ($how)"; total=0; }
	for ((n = 1; n <= total; n++)); do
		at="unwrap --out ($how), killed at step $n of $total"
		rm -rf "$OD" && mkdir -m 700 "$OD"
		FAULT_KILL=1 unwrap "$n"
		check "$at: the shim killed it" killed
		if [ "$how" = named ] && [ "$(count_temp_files "$OD")" != 0 ]; then
			temps=$((temps + 1))
			rm -f "$OD"/.key.pem.tmp-*
		fi
		if [ -e "$KEY" ]; then
			whole=$((whole + 1))
			check "$at: the file left is the whole key, alone in its folder" whole_key
		else
			none=$((none + 1))
			check "$at: no file, and no temporary left" left_nothing
		fi
	done
	echo "# unwrap --out ($how), killed at each step: no file $none times," \
		"the whole key $whole times (a temporary left $temps times)"
}
sweep nameless
KMC_FAULT_NO_TMPFILE=1 sweep named
done_testing
