#!/usr/bin/env bash
# test_file_attacks.sh - file-system attacks that race kmc, beyond the
# static ones of test_perms.sh: a vault file swapped for a symbolic link
# (or given a second name) over and over while kmc reads and writes; a
# hard link to the item store or its lock file; a vault directory that is
# itself a symbolic link; import inputs reached through linked directory
# components, and one swapped while imports run.
#
# The swaps are atomic (renameat2 RENAME_EXCHANGE, by conc_reader swap), so
# the real file is never missing, only sometimes a link. The attacker's
# files come from ANOTHER vault made with the same host key: a kmc that
# followed a link would not just fail, it would fail as a foreign vault
# fails (exit 4, "belongs to another vault") or read the other value
# ("wrong"). The tests run as root, so the attacker's copies have the
# user's owner and mode: only the link checks stand in the way.
#
# Every outcome must be: exit 0 with the right value, or exit 5 with a
# message naming the file. Never another exit code, never a crash (exit
# 128 and above), and nothing written through a link. Loops are bounded
# by counts.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
A=$T/attacker
kmc() { "$KMC" --vault "$V" "$@"; }
HELPER=$T/conc_reader
NOBODY=$(id -u nobody)
STOP=$T/stop

# ---- background processes: every one is killed on the way out -----------------------

BG=()
bg_kill() {
	local p
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
	BG=()
}
trap 'bg_kill; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

build_helper() {
	if declare -F kmc_cc >/dev/null; then
		kmc_cc "$HELPER" "$KMC_TOP/tests/e2e/conc_reader.c"
	else
		# shellcheck disable=SC2046
		cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$KMC_TOP/include" \
			-o "$HELPER" "$KMC_TOP/tests/e2e/conc_reader.c" "$KMC_BUILD/libkmcvault.a" \
			-lsodium -llmdb -lssl -lcrypto $(pkg-config --libs p11-kit-1) -lpthread
	fi
}
check "the conc_reader helper builds" build_helper
[ -x "$HELPER" ] || { done_testing; exit 1; }

# attacker MODE A B [US1 US2]: start exchanging (swap) or hard-linking
# (hardlink) A and B in the background: the link stays US1 microseconds
# (default 300), the real state US2 (default US1). attacker_stop: stop it;
# the names are as they were (swap exchanges twice per round).
attacker() {
	rm -f "$STOP"
	"$HELPER" "$1" "$2" "$3" 100000 "$STOP" "${4:-300}" "${5:-${4:-300}}" >"$T/attacker.out" 2>&1 &
	ATT_PID=$!
	BG+=("$ATT_PID")
}
attacker_stop() {
	local rc
	touch "$STOP"
	wait "$ATT_PID"
	rc=$?
	BG=()
	check "$1: the attacker loop ran and stopped cleanly" \
		bash -c '[ "$1" = 0 ] && grep -q "^rounds [1-9]" "$2"' _ "$rc" "$T/attacker.out"
}

# race NAME N WANT REFUSED CMD...: run CMD N times and sort each outcome:
# exit 0 with stdout WANT, or exit 5 with stderr matching REFUSED; anything
# else goes to $T/NAME.other. The counts go to OK[NAME] and REFUSED[NAME].
declare -A OK REFUSED
race() {
	local name=$1 n=$2 want=$3 re=$4 i rc out ok=0 refused=0
	shift 4
	: >"$T/$name.other"
	for ((i = 1; i <= n; i++)); do
		"$@" >"$T/.rout" 2>"$T/.rerr" </dev/null
		rc=$?
		out=
		IFS= read -r -d '' out <"$T/.rout"
		if [ "$rc" = 0 ] && [ "$out" = "$want" ]; then
			ok=$((ok + 1))
		elif [ "$rc" = 5 ] && grep -Eq -- "$re" "$T/.rerr"; then
			refused=$((refused + 1))
		else
			echo "run $i: exit $rc: stdout '$(head -c 200 "$T/.rout")' stderr '$(head -c 300 "$T/.rerr")'" \
				>>"$T/$name.other"
		fi
	done
	OK[$name]=$ok
	REFUSED[$name]=$refused
	echo "# $name: $ok succeeded, $refused refused, $(wc -l <"$T/$name.other") otherwise"
}
none_other() { [ ! -s "$1" ] || { head -5 "$1"; false; }; }
no_crash() { ! grep -E '^run [0-9]+: exit (1(2[89]|[3-9][0-9])|2[0-9][0-9])' "$1"; }
# race_checks NAME LABEL WHAT: the assertions every race makes.
race_checks() {
	check "$2: every run succeeded right or was refused with exit 5 naming $3" \
		none_other "$T/$1.other"
	check "$2: no run crashed (exit 128 or above)" no_crash "$T/$1.other"
	check "$2: the race went both ways (some runs succeeded, some were refused)" \
		test "${OK[$1]}" -gt 0 -a "${REFUSED[$1]}" -gt 0
}

secret_file "$T/right" 'right'
secret_file "$T/wrong" 'wrong'
fresh() {
	rm -rf "$V"
	kmc init 2>/dev/null && kmc password set db --password-file "$T/right" 2>/dev/null
}
"$KMC" --vault "$A" init 2>/dev/null
"$KMC" --vault "$A" password set db --password-file "$T/wrong" 2>/dev/null
t_out "the attacker's vault (same host key) holds db = wrong" 'wrong' "$KMC" --vault "$A" password get db
att_before=$(snapshot "$A")
att_unchanged() { test "$att_before" = "$(snapshot "$A")"; }

# ---- kmc.ks swapped for a link to the attacker's keystore ------------------------------------

fresh
t_out "the vault holds db = right" 'right' kmc password get db
# What following the link would look like: the attacker's keystore as the
# file itself is foreign (items.mdb records another vault id), so it is
# passed over for the standby and never read from.
cp -p "$V/kmc.ks" "$T/kmc.ks.saved"
cp -p "$A/kmc.ks" "$V/kmc.ks"
t_out "control: the attacker's keystore in place of kmc.ks is passed over; db reads right" \
	'right' kmc password get db
t_rc 4 "control: status names it foreign (exit 4)" kmc status
cp "$OUT" "$T/status.out"
check "control: status says kmc.ks is foreign" grep -Eq '^kmc\.ks +foreign' "$T/status.out"
cp -p "$T/kmc.ks.saved" "$V/kmc.ks"
t_out "control: with kmc.ks back, db reads right" 'right' kmc password get db

ln -s "$A/kmc.ks" "$T/link.ks"
attacker swap "$V/kmc.ks" "$T/link.ks"
race ks-get 80 'right' 'kmc\.ks is a symbolic link' kmc password get db
race ks-set 30 '' 'kmc\.ks is a symbolic link' kmc password set db --password-file "$T/right"
attacker_stop "kmc.ks swaps"
set_ok=${OK[ks-set]}
race_checks ks-get "kmc.ks swapped for a link, password get" "kmc.ks as a symbolic link"
race_checks ks-set "kmc.ks swapped for a link, password set" "kmc.ks as a symbolic link"
check "kmc.ks is the vault's own regular file again" bash -c '[ -f "$1" ] && [ ! -L "$1" ]' _ "$V/kmc.ks"
check "the attacker's vault was never written" att_unchanged
t "the vault is healthy" kmc status
t_out "db still reads right" 'right' kmc password get db
kmc list --json >"$T/l.json" 2>/dev/null
check "every set that succeeded landed (version 1 + $set_ok)" \
	jq -e --argjson n "$((set_ok + 1))" '.[] | select(.name == "db") | .version == $n' "$T/l.json"

# ---- items.mdb swapped for a link ------------------------------------------------------------------

fresh
cp -p "$V/items.mdb" "$T/items.saved"
cp -p "$A/items.mdb" "$V/items.mdb"
t_err 4 "control: the attacker's item store in place of items.mdb is another vault's (exit 4)" \
	'items\.mdb belongs to another vault' kmc password get db
cp -p "$T/items.saved" "$V/items.mdb"
t_out "control: with items.mdb back, db reads right" 'right' kmc password get db

ln -s "$A/items.mdb" "$T/link.mdb"
attacker swap "$V/items.mdb" "$T/link.mdb"
race mdb-get 80 'right' "$V/items\.mdb( is a symbolic link|: | was replaced)" kmc password get db
attacker_stop "items.mdb swaps"
race_checks mdb-get "items.mdb swapped for a link to the attacker's store" "items.mdb"
check "the attacker's item store was never written" att_unchanged
t_out "db still reads right" 'right' kmc password get db

# LMDB opens items.mdb and items.mdb-lock by name, and opens the data
# file twice (data, and the meta page it writes at commit). kmc checks
# both before, pins the folder by its descriptor and compares the inode
# LMDB opened with the one it checked, so a swap is refused, as above;
# but a link that wins the race between a check and one of LMDB's own
# opens can still point LMDB's writes (or a file it creates, or its lock)
# elsewhere. Only the vault's owner can rename entries in its 0700
# folder, so docs/threat-model.md lists this as out of scope rather than
# these tests asserting what LMDB cannot promise.

# ---- hard links from elsewhere ----------------------------------------------------------------------

fresh
mkdir -m 700 "$T/elsewhere"
attacker hardlink "$V/kmc.ks" "$T/elsewhere/kmc.ks"
race hl-get 80 'right' 'kmc\.ks has 2 hard links' kmc password get db
attacker_stop "a hard link to kmc.ks made and removed"
race_checks hl-get "a hard link to kmc.ks coming and going" "kmc.ks's 2 hard links"
check "no hard link is left" bash -c '[ "$(stat -c %h "$1")" = 1 ]' _ "$V/kmc.ks"

fresh
before=$(snapshot "$V")
ln "$V/items.mdb" "$T/elsewhere/items.mdb"
t_err 5 "a hard link to items.mdb from elsewhere: get is refused (exit 5)" \
	'items\.mdb has 2 hard links' kmc password get db
t_err 5 "a hard link to items.mdb from elsewhere: set is refused (exit 5)" \
	'items\.mdb has 2 hard links' kmc password set db --password-file "$T/wrong"
t_err 5 "a hard link to items.mdb from elsewhere: status is refused (exit 5)" \
	'items\.mdb has 2 hard links' kmc status
rm "$T/elsewhere/items.mdb"
check "a hard link to items.mdb: nothing changed" test "$before" = "$(snapshot "$V")"

ln "$V/items.mdb-lock" "$T/elsewhere/items.mdb-lock"
t_err 5 "a hard link to items.mdb-lock from elsewhere: get is refused (exit 5)" \
	'items\.mdb-lock has 2 hard links' kmc password get db
t_err 5 "a hard link to items.mdb-lock from elsewhere: set is refused (exit 5)" \
	'items\.mdb-lock has 2 hard links' kmc password set db --password-file "$T/wrong"
rm "$T/elsewhere/items.mdb-lock"
check "a hard link to items.mdb-lock: nothing changed" test "$before" = "$(snapshot "$V")"
t_out "without the links, db reads right" 'right' kmc password get db

# ---- the vault directory as a symbolic link -------------------------------------------------------

fresh
L=$T/vlink
ln -s "$V" "$L"
kl() { "$KMC" --vault "$L" "$@"; }
t_out "a vault reached through a link to the user's directory opens" 'right' kl password get db
secret_file "$T/right2" 'right 2'
t "... takes writes" kl password set db2 --password-file "$T/right2"
t_out "... which the real path reads" 'right 2' kmc password get db2
t "... and reports healthy" kl status
before=$(snapshot "$V")
chmod 770 "$V"
t_err 5 "through the link, a group-writable target is refused: get (exit 5)" \
	"$L has mode 0770.*chmod 700" kl password get db
t_err 5 "through the link, a group-writable target is refused: set (exit 5)" \
	"$L has mode 0770.*chmod 700" kl password set db --password-file "$T/wrong"
t_err 5 "through the link, a group-writable target is refused: status (exit 5)" \
	"$L has mode 0770" kl status
chmod 702 "$V"
t_err 5 "through the link, a world-writable target is refused (exit 5)" "$L has mode 0702" \
	kl password get db
chmod 700 "$V"
chown nobody "$V"
t_err 5 "through the link, a target owned by nobody is refused (exit 5)" "$L belongs to uid $NOBODY" \
	kl password get db
chown root "$V"
check "the refused commands changed nothing" test "$before" = "$(snapshot "$V")"
# The link's own mode and owner do not matter (Linux ignores both).
chown -h nobody "$L"
t_out "a link owned by nobody to the user's vault still opens it" 'right' kl password get db
chown -h root "$L"

# The link re-pointed between two of the user's vaults (an operator
# switching vaults with ln -sfn while servers start): each open must read
# one vault whole - this one's value or the other's - never a mix of the
# keystore of one with the item store of the other.
ln -s "$V" "$T/cur"
ln -s "$A" "$T/next"
attacker swap "$T/cur" "$T/next"
race flip 80 'right' 'no refusal is expected here' "$KMC" --vault "$T/cur" password get db
attacker_stop "the vault link re-pointed back and forth"
# Both values are right here: sort the attacker vault's "wrong" back in.
grep -v "exit 0: stdout 'wrong' stderr ''" "$T/flip.other" >"$T/flip.mixed"
check "a re-pointed vault link: every get read one vault whole (exit 0, right or the other's value)" \
	none_other "$T/flip.mixed"
check "a re-pointed vault link: no get crashed" no_crash "$T/flip.other"

# ---- import inputs through linked directories ----------------------------------------------------

KP='server-key-password'
secret_file "$T/kp" "$KP"
mkdir -m 700 "$T/in" "$T/att"
check "mkpki.sh makes the real PKI" bash "$KMC_TOP/tools/mkpki.sh" "$T/in/pki" "$KP"
check "mkpki.sh makes the attacker's PKI" bash "$KMC_TOP/tools/mkpki.sh" "$T/att/pki" "$KP"
fresh
imp() { # imp DIR [ARGS...]: import srv from DIR/{ca.crt,server.crt,server.key}
	kmc import --name srv -c "$1/ca.crt" -s "$1/server.crt" -k "$1/server.key" \
		--password-file "$T/kp" "${@:2}"
}
fp() { "$KMC" cert info "$@" --json 2>/dev/null | jq -r '.[0].sha256'; }
real_fp=$(fp "$T/in/pki/server.crt")
att_fp=$(fp "$T/att/pki/server.crt")
check "the two server certificates differ" test -n "$real_fp" -a "$real_fp" != "$att_fp"
t "srv imports from the real folder" imp "$T/in/pki"
state() { snapshot "$V"; }
before=$(state)

mkdir -m 700 "$T/deep"
ln -s "$T/in" "$T/deep/mid"
t_err 5 "a certificate under a linked middle folder (deep/mid/pki/server.crt) is refused (exit 5)" \
	'deep/mid/pki/server\.crt is reached through a symbolic link' \
	kmc import --name srv --replace -c "$T/in/pki/ca.crt" -s "$T/deep/mid/pki/server.crt" \
	-k "$T/in/pki/server.key" --password-file "$T/kp"
t_err 5 "a CA certificate under a linked middle folder is refused (exit 5)" \
	'deep/mid/pki/ca\.crt is reached through a symbolic link' \
	kmc import --name srv --replace -c "$T/deep/mid/pki/ca.crt" -s "$T/in/pki/server.crt" \
	-k "$T/in/pki/server.key" --password-file "$T/kp"
t_err 5 "a key under a linked middle folder is refused (exit 5)" \
	'deep/mid/pki/server\.key is reached through a symbolic link' \
	kmc import --name srv --replace -c "$T/in/pki/ca.crt" -s "$T/in/pki/server.crt" \
	-k "$T/deep/mid/pki/server.key" --password-file "$T/kp"
t_err 5 "a link passed and left again with .. is still refused (exit 5)" \
	'mid/\.\./mid/pki/server\.crt is reached through a symbolic link' \
	kmc import --name srv --replace -c "$T/in/pki/ca.crt" -s "$T/deep/mid/../mid/pki/server.crt" \
	-k "$T/in/pki/server.key" --password-file "$T/kp"
t_err 5 "/proc/self/cwd (a kernel link) in the path is refused (exit 5)" \
	'/proc/self/cwd/pki/server\.crt is reached through a symbolic link' \
	bash -c 'cd "$1/in" && "$2" --vault "$3" import --name srv --replace -c pki/ca.crt \
		-s /proc/self/cwd/pki/server.crt -k pki/server.key --password-file "$4"' \
	_ "$T" "$KMC" "$V" "$T/kp"
t_err 5 "a certificate given as /dev/fd/N (process substitution) is refused (exit 5)" \
	'/dev/fd/[0-9]+ is reached through a symbolic link' \
	bash -c '"$1" --vault "$2" import --name srv --replace -c "$3/ca.crt" -s <(cat "$3/server.crt") \
		-k "$3/server.key" --password-file "$4"' _ "$KMC" "$V" "$T/in/pki" "$T/kp"
check "the refused imports changed nothing" test "$before" = "$(state)"
t "a relative path from a folder entered through a link is fine (cd resolved the link, not kmc)" \
	bash -c 'cd "$1" && "$2" --vault "$3" import --name srv --replace -c pki/ca.crt -s pki/server.crt \
		-k pki/server.key --password-file "$4"' _ "$T/deep/mid" "$KMC" "$V" "$T/kp"
check "... and imported the real certificate" test "$(fp srv --vault "$V")" = "$real_fp"

# The input folder swapped for a link to the attacker's PKI while imports
# run: each import reads the real files or is refused, and what it stored is
# the real certificate, never the attacker's.
ln -s "$T/att" "$T/inlink"
imp_check() { # one import, then the stored certificate must be the real one
	local rc
	imp "$T/in/pki" --replace
	rc=$?
	if [ "$rc" = 0 ] && [ "$(fp srv --vault "$V")" != "$real_fp" ]; then
		echo "imported a certificate that is not the real one: $(fp srv --vault "$V")" >&2
		return 9
	fi
	return "$rc"
}
# An import opens four files (the key twice): the link stays in place for
# short spells only, so that some imports get through.
attacker swap "$T/in" "$T/inlink" 300 800
race imp 30 '' 'in/pki/(ca\.crt|server\.crt|server\.key) is reached through a symbolic link' imp_check
attacker_stop "the input folder swapped for a link"
race_checks imp "imports while their folder is swapped for a link" "the input file"
check "the folder is the real one again" bash -c '[ -d "$1" ] && [ ! -L "$1" ]' _ "$T/in"
t "the vault is healthy after the imports" kmc status
check "srv holds the real certificate" test "$(fp srv --vault "$V")" = "$real_fp"
t "the key of srv is the real one: its public half is the real certificate's" \
	bash -c 'cmp <("$1" --vault "$2" unwrap srv --format der | openssl pkey -inform DER -pubout) \
		<(openssl x509 -in "$3" -noout -pubkey)' _ "$KMC" "$V" "$T/in/pki/server.crt"

done_testing
