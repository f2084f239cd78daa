#!/usr/bin/env bash
# test_concurrency.sh - servers read while an operator changes the vault.
# Several processes (tests/e2e/conc_reader.c, and the kmc command) read a
# password and load a bundle's key in a loop while a writer replaces the
# password forty times, adds and removes a passphrase protector and
# re-imports the bundle: no reader ever fails or sees a value the writer
# did not write, or an older one after a newer. kmc status taken while
# protectors change finds a healthy vault. Read-only opens succeed while
# the library replaces the keystores hundreds of times. Two writers on
# different items serialize on the vault's lock and lose no write. A writer
# waits for the lock while readers do not, nor for a writer's open batch
# transaction. A reader meeting a restore's mark while the lock is held
# is told the restore is under way, not to repair it. A handle kept open
# sees each new value on its next get. Loops are bounded by counts; nothing asserts a
# duration.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
READER=$T/conc_reader

# ---- background processes: every one is killed on the way out ------------------

BG=()
bg_kill() {
	local p
	for p in "${BG[@]}"; do
		# A writer loop is a subshell: its current kmc goes first.
		pkill -P "$p" 2>/dev/null
		kill "$p" 2>/dev/null
	done
	BG=()
}
trap 'bg_kill; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
# reap PID: its exit status, once it has ended.
reap() { wait "$1"; }

# wait_for CMD...: run CMD, 0.05 s apart, until it succeeds; at most 60 s,
# then fail saying what it waited for.
wait_for() {
	local end=$((SECONDS + 60))
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || { echo "not so after 60 s: $*" >&2; return 1; }
		sleep 0.05
	done
}

# ---- the helper and the material ------------------------------------------------

build_reader() {
	if declare -F kmc_cc >/dev/null; then
		kmc_cc "$READER" "$KMC_TOP/tests/e2e/conc_reader.c"
	else
		# shellcheck disable=SC2046
		cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$KMC_TOP/include" \
			-o "$READER" "$KMC_TOP/tests/e2e/conc_reader.c" "$KMC_BUILD/libkmcvault.a" \
			-lsodium -llmdb -lssl -lcrypto $(pkg-config --libs p11-kit-1) -lpthread
	fi
}
check "the conc_reader helper builds" build_reader
[ -x "$READER" ] || { done_testing; exit 1; }

KP='server-key-password'
KPF=$T/kp
secret_file "$KPF" "$KP"
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$T/pki" "$KP"
check "mkpki.sh makes a second PKI (another key) for the re-imports" \
	bash "$KMC_TOP/tools/mkpki.sh" "$T/pki2" "$KP"
PP=$T/pp
secret_file "$PP" 'a passphrase of the moment'
W=$T/w
mkdir -m 700 "$W"
for k in $(seq 0 40); do secret_file "$W/p$k" "v-$k"; done

import_from() { # import_from PKI [--replace]
	kmc import --name srv -c "$1/ca.crt" -s "$1/server.crt" -k "$1/server.key" \
		--password-file "$KPF" "${@:2}"
}

kmc init 2>/dev/null
t "a host-protected vault with the password P = v-0" kmc password set P --password-file "$W/p0"
t "and the bundle srv imported" import_from "$T/pki"
t_out "P reads v-0" 'v-0' kmc password get P

# ---- readers against a writer ------------------------------------------------------

# The writer: P = v-1 .. v-40 in order; after v-8, v-20 and v-32 a passphrase
# protector comes and goes; after v-14 and v-27 srv is imported again
# (--replace), from the other PKI and then from the first one.
writer() {
	local k id
	for k in $(seq 1 40); do
		kmc password set P --password-file "$W/p$k" 2>>"$T/writer.err" ||
			{ echo "writer: set v-$k failed" >&2; return 1; }
		case $k in
		8 | 20 | 32)
			kmc protector add passphrase --passphrase-file "$PP" \
				--argon2-ops 1 --argon2-mem 8 2>"$T/add.err" ||
				{ cat "$T/add.err" >&2; echo "writer: protector add failed after v-$k" >&2; return 1; }
			id=$(sed -n 's/^kmc: added protector \([0-9]*\) .*/\1/p' "$T/add.err")
			[ -n "$id" ] && [ "$id" != 1 ] ||
				{ echo "writer: no protector id in: $(cat "$T/add.err")" >&2; return 1; }
			kmc protector remove "$id" 2>>"$T/writer.err" ||
				{ echo "writer: protector remove $id failed" >&2; return 1; }
			;;
		14) import_from "$T/pki2" --replace 2>>"$T/writer.err" ||
			{ echo "writer: import --replace (pki2) failed" >&2; return 1; } ;;
		27) import_from "$T/pki" --replace 2>>"$T/writer.err" ||
			{ echo "writer: import --replace (pki) failed" >&2; return 1; } ;;
		esac
	done
	echo "writer: done"
}

# A reader through the kmc command: one `password get` after another, at
# most 2000, until the stop file appears; every one exits 0 with v-<k>.
cli_reader() {
	local i out rc n=0
	for ((i = 0; i < 2000; i++)); do
		[ -e "$STOP" ] && break
		out=$(kmc password get P 2>&1)
		rc=$?
		if [ "$rc" -ne 0 ] || ! [[ $out =~ ^v-([0-9]|[1-3][0-9]|40)$ ]]; then
			echo "cli reader: get $i: exit $rc: $out"
			return 1
		fi
		n=$((n + 1))
	done
	echo "cli reader: $n gets"
}

STOP=$T/stop
rm -f "$STOP"
RPIDS=()
for r in 1 2 3 4; do
	"$READER" run "$V" P srv 40 300 50000 "$STOP" "$T/pki/server.crt" "$T/pki2/server.crt" \
		>"$T/reader$r.out" 2>"$T/reader$r.err" &
	RPIDS+=("$!")
	BG+=("$!")
done
all_ready() {
	local r
	for r in 1 2 3 4; do grep -qx ready "$T/reader$r.out" || return 1; done
}
check "the four readers have made their first round before the writer starts" \
	wait_for all_ready
cli_reader >"$T/cli-reader.out" 2>&1 &
CPID=$!
BG+=("$CPID")
writer >"$T/writer.out" 2>&1 &
WPID=$!
BG+=("$WPID")
reap "$WPID"
wrc=$?
touch "$STOP"
check "the writer made all 40 sets, 3 protector changes and 2 re-imports" \
	bash -c '[ "$1" = 0 ] && grep -qx "writer: done" "$2"' _ "$wrc" "$T/writer.out"
[ "$wrc" = 0 ] || sed 's/^/#   writer: /' "$T/writer.out" "$T/writer.err"
for r in 1 2 3 4; do
	reap "${RPIDS[$((r - 1))]}"
	rrc=$?
	check "reader $r exits 0: every get and key load succeeded with a value the writer wrote" \
		test "$rrc" = 0
	[ "$rrc" = 0 ] || sed 's/^/#   reader: /' "$T/reader$r.err" | head -5
	check "reader $r read v-0 first and v-40 last (it ran across the whole write)" \
		grep -Eq '^rounds [0-9]+ values [0-9]+ first 0 last 40$' "$T/reader$r.out"
	echo "# reader $r: $(tail -n1 "$T/reader$r.out")"
done
reap "$CPID"
check "the kmc command reader: every password get exited 0 with v-<k>" \
	bash -c '[ "$1" = 0 ]' _ $?
echo "# $(tail -n1 "$T/cli-reader.out")"
BG=()

t "afterwards kmc status is healthy" kmc status
t_out "the final value is v-40" 'v-40' kmc password get P
kmc list --json >"$T/list.json" 2>/dev/null
check "P is at version 41: none of the 40 sets was lost" \
	jq -e '.[] | select(.name == "P") | .version == 41' "$T/list.json"
check "srv/key was replaced twice (2 old versions kept)" \
	jq -e '.[] | select(.name == "srv/key") | .version == 3 and .old_versions == 2' "$T/list.json"
kmc protector list --json >"$T/prot.json" 2>/dev/null
check "only the host protector is left" jq -e 'length == 1 and .[0].id == 1 and .[0].type == "host"' \
	"$T/prot.json"
kmc status --json >"$T/st.json" 2>/dev/null
check "both keystores are ok and of one generation (1 + 6 protector changes)" \
	jq -e '.healthy and .keystores["kmc.ks"].generation == 7 and .keystores["StandbyKsf.ks"].generation == 7' \
	"$T/st.json"
t "the key of srv loads and is the first PKI's again" \
	bash -c '"$1" run "$2" P srv 40 1 1 /nonexistent "$3"' _ "$READER" "$V" "$T/pki/server.crt"

# ---- kmc status while the keystores change -------------------------------------------

# A protector change writes kmc.ks, then StandbyKsf.ks, each by rename. A
# status taken between the two renames finds the twin one generation
# behind; that is a change in progress, not a vault that needs repair.
# Three status loops (at most 1000 each) run while protectors come and go
# thirty times; every status must exit 0.
status_loop() {
	local i rc out n=0
	for ((i = 0; i < 1000; i++)); do
		[ -e "$STOP" ] && break
		out=$(kmc status 2>&1 >/dev/null)
		rc=$?
		n=$((n + 1))
		[ "$rc" = 0 ] || echo "status $i: exit $rc: $out"
	done
	echo "statuses: $n"
}
protector_churn() {
	local k id
	for k in $(seq 1 30); do
		kmc protector add passphrase --passphrase-file "$PP" --argon2-ops 1 \
			--argon2-mem 8 2>"$T/churn.err" || { cat "$T/churn.err"; return 1; }
		id=$(sed -n 's/^kmc: added protector \([0-9]*\) .*/\1/p' "$T/churn.err")
		kmc protector remove "$id" 2>/dev/null || { echo "remove $id failed"; return 1; }
	done
	echo "churn: done"
}
rm -f "$STOP"
SPIDS=()
for s in 1 2 3; do
	status_loop >"$T/status$s.out" 2>&1 &
	SPIDS+=("$!")
	BG+=("$!")
done
protector_churn >"$T/churn.out" 2>&1
crc=$?
touch "$STOP"
for p in "${SPIDS[@]}"; do reap "$p"; done
BG=()
check "30 protectors were added and removed" test "$crc" = 0
cat "$T"/status?.out >"$T/status.all"
echo "# $(grep -c '^status ' "$T/status.all") of $(awk '/^statuses:/ { n += $2 } END { print n }' "$T/status.all") statuses taken during the changes did not exit 0"
check "kmc status during protector changes never reports a vault that needs repair (every one exits 0)" \
	bash -c '! grep -m3 "^status " "$1"' _ "$T/status.all"
t "after the changes kmc status is healthy" kmc status

# ---- opens while the keystores change as fast as they can ----------------------------

# conc_reader churn adds and removes a host protector through the library,
# 300 times: 600 keystore changes, each replacing kmc.ks and StandbyKsf.ks
# by rename. Three processes open the vault read-only meanwhile, as fast as
# they go (at least 100 opens each, until the churn has ended). A keystore
# replaced between a reader's open and its checks is the old file under no
# name: still a whole, valid keystore, and no second name for it.
rm -f "$STOP"
OPIDS=()
for o in 1 2 3; do
	"$READER" open "$V" 100 1000000 "$STOP" >"$T/open$o.out" 2>"$T/open$o.err" &
	OPIDS+=("$!")
	BG+=("$!")
done
"$READER" churn "$V" 300 >"$T/churn2.out" 2>&1
crc=$?
touch "$STOP"
check "600 keystore changes were made" \
	bash -c '[ "$1" = 0 ] && grep -qx "changes 600" "$2"' _ "$crc" "$T/churn2.out"
: >"$T/open.failed"
for o in 1 2 3; do
	# Its exit status, not only its words: one killed says nothing.
	reap "${OPIDS[$((o - 1))]}" ||
		{ echo "opener $o: exit $?"; cat "$T/open$o.err"; } >>"$T/open.failed"
	echo "# opener $o: $(cat "$T/open$o.out" "$T/open$o.err")"
done
check "the three openers: every read-only open succeeded while the keystores were replaced" \
	bash -c '! grep . "$1"' _ "$T/open.failed"
BG=()
t "after 600 changes kmc status is healthy" kmc status
t_out "P still reads v-40" 'v-40' kmc password get P

# ---- two writers at once ----------------------------------------------------------

secret_file "$T/a-val" 'a value'
secret_file "$T/b-val" 'b value'
g0=$(kmc status --json 2>/dev/null | jq -r .store_generation)
# setter ITEM FILE: 30 sets of ITEM, each must exit 0.
setter() {
	local i
	for i in $(seq 1 30); do
		kmc password set "$1" --password-file "$2" 2>>"$T/setter-$1.err" ||
			{ echo "set $1 $i failed"; return 1; }
	done
	echo "$1: 30 sets"
}
setter A "$T/a-val" >"$T/setter-A.out" 2>&1 &
APID=$!
BG+=("$APID")
setter B "$T/b-val" >"$T/setter-B.out" 2>&1 &
BPID=$!
BG+=("$BPID")
reap "$APID"
arc=$?
reap "$BPID"
brc=$?
BG=()
check "writer A: all 30 sets succeeded (it waited for the lock, never refused)" test "$arc" = 0
check "writer B: all 30 sets succeeded" test "$brc" = 0
kmc list --json >"$T/list2.json" 2>/dev/null
check "A is at version 30" jq -e '.[] | select(.name == "A") | .version == 30' "$T/list2.json"
check "B is at version 30" jq -e '.[] | select(.name == "B") | .version == 30' "$T/list2.json"
g1=$(kmc status --json 2>/dev/null | jq -r .store_generation)
check "the store generation grew by exactly 60: every write landed, one at a time" \
	test "$((g1 - g0))" = 60
t "the vault is healthy after two writers" kmc status
t_out "A reads back" 'a value' kmc password get A
t_out "B reads back" 'b value' kmc password get B

# ---- a writer waits for the lock; a reader does not ------------------------------

# flock(1) takes the same flock() on the vault directory that kmc's writers
# take. While it is held, a writer blocks and a reader goes on.
rm -f "$T/held" "$T/release"
# It lets go when told, or after 120 s so that a test gone wrong still
# ends; its exit status says which (a holder that gave up early would
# make "still waiting" below mean nothing).
flock -x "$V" bash -c 'touch "$1"; end=$((SECONDS + 120))
	until [ -e "$2" ]; do [ "$SECONDS" -lt "$end" ] || exit 1; sleep 0.05; done' \
	_ "$T/held" "$T/release" &
HPID=$!
BG+=("$HPID")
check "another process holds the vault's writer lock" wait_for test -e "$T/held"
secret_file "$T/locked-val" 'set while locked'
kmc password set P --password-file "$T/locked-val" >"$T/locked.out" 2>&1 &
SPID=$!
BG+=("$SPID")
t_out "a reader is not blocked by the writer lock" 'v-40' timeout 30 "$KMC" --vault "$V" password get P
t "kmc status is not blocked either" timeout 30 "$KMC" --vault "$V" status
# The set cannot finish while the lock is held: it is still running after
# the reads above (a correct kmc blocks for as long as the lock is held).
check "the writer is still waiting for the lock" kill -0 "$SPID"
touch "$T/release"
reap "$HPID"
check "... it held the lock until told to let go" test "$?" = 0
reap "$SPID"
src=$?
BG=()
check "once the lock is released, the waiting writer finishes with exit 0" test "$src" = 0
t_out "... and its value is stored" 'set while locked' kmc password get P

# ---- a reader meets a restore's commit mark ---------------------------------------

# A restore writes its mark (.kmc-restore), swaps the files in and binds
# them, all under the writer lock; a reader that meets the mark then is
# refused (exit 6). It was told "a restore was cut off halfway; kmc
# repair finishes it" while the restore was still at work. The mark is
# made by hand here, with flock(1) holding the lock as the restore would;
# it never reaches a writer.
rm -f "$T/held" "$T/release"
flock -x "$V" bash -c 'touch "$1"; end=$((SECONDS + 120))
	until [ -e "$2" ]; do [ "$SECONDS" -lt "$end" ] || exit 1; sleep 0.05; done' \
	_ "$T/held" "$T/release" &
HPID=$!
BG+=("$HPID")
check "another process holds the vault's writer lock" wait_for test -e "$T/held"
(umask 077 && : >"$V/.kmc-restore")
t_rc 6 "a reader meeting a restore's mark while the lock is held is refused (exit 6)" \
	kmc password get P
check "... told the restore is under way and to try again" \
	grep -q 'a restore is under way; try again once it is done' "$LAST_ERR"
check "... not that it was cut off, nor to run kmc repair" \
	bash -c '! grep -q -e "cut off" -e "kmc repair" "$1"' _ "$LAST_ERR"
touch "$T/release"
reap "$HPID"
check "... the holder let go when told" test "$?" = 0
BG=()
t_rc 6 "with the mark and no one holding the lock, a reader is refused (exit 6)" \
	kmc password get P
check "... told the restore was cut off and kmc repair finishes it" \
	grep -q 'a restore was cut off halfway; kmc repair finishes it' "$LAST_ERR"
rm -f "$V/.kmc-restore"
t_out "without the mark the reader reads again" 'set while locked' kmc password get P

# ---- a reader does not wait for a writer's open transaction ----------------------

# A batch holds one LMDB write transaction from its begin to its commit
# (a million items: seconds). A process opening the vault meanwhile reads
# the vault as it was; it must not wait for the commit, which here comes
# only after the read.
coproc BATCH { "$READER" batch "$V" P 'set in a batch' 2>"$T/batch.err"; }
BATCHER=$!
BG+=("$BATCHER")
BATCH_IN=${BATCH[1]}
BATCH_OUT=${BATCH[0]}
line=
read -r -t 60 line <&"$BATCH_OUT"
check "a batch has begun and waits to commit" test "$line" = begun
t_out "a process opening the vault meanwhile is not blocked by it, and reads the value before the batch" \
	'set while locked' timeout 30 "$KMC" --vault "$V" password get P
# Its word to commit; bash closes a coprocess's pipes when it ends, so
# its exit status, not its last line, says the commit went through.
echo >&"$BATCH_IN"
reap "$BATCHER"
check "the batch then commits and exits 0" test "$?" = 0
[ -s "$T/batch.err" ] && sed 's/^/#   batch: /' "$T/batch.err"
BG=()
t_out "... and its value is read after" 'set in a batch' kmc password get P

# ---- a handle kept open sees new values -------------------------------------------

coproc HOLD { "$READER" hold "$V" P 2>"$T/hold.err"; }
HOLDER=$!
BG+=("$HOLDER")
HOLD_IN=${HOLD[1]}
HOLD_OUT=${HOLD[0]}
# ask: one get through the held handle; its "VALUE GENERATION" line.
ask() {
	local line
	echo >&"$HOLD_IN" || return 1
	read -r -t 30 line <&"$HOLD_OUT" || return 1
	echo "$line"
}
l1=$(ask)
check "the held handle reads the current value" test "${l1% *}" = 'set in a batch'
secret_file "$T/h1" 'held-1'
kmc password set P --password-file "$T/h1" 2>/dev/null
l2=$(ask)
check "after a set by another process, the same handle's next get sees it" test "${l2% *}" = 'held-1'
check "... and its generation grew" test "${l2##* }" -gt "${l1##* }"
kmc protector add passphrase --passphrase-file "$PP" --argon2-ops 1 --argon2-mem 8 2>"$T/add2.err"
id=$(sed -n 's/^kmc: added protector \([0-9]*\) .*/\1/p' "$T/add2.err")
kmc protector remove "$id" 2>/dev/null
secret_file "$T/h2" 'held-2'
kmc password set P --password-file "$T/h2" 2>/dev/null
l3=$(ask)
check "after a protector came and went and another set, the handle reads the new value" \
	test "${l3% *}" = 'held-2'
import_from "$T/pki2" --replace 2>/dev/null
l4=$(ask)
check "a re-import of another bundle leaves the held handle reading P" test "${l4% *}" = 'held-2'
check "... with a generation that grew again" test "${l4##* }" -gt "${l3##* }"
exec {HOLD_IN}>&-
reap "$HOLDER"
check "the holding reader exits 0" test $? = 0
[ -s "$T/hold.err" ] && sed 's/^/#   hold: /' "$T/hold.err"
BG=()

t "the vault is healthy at the end" kmc status

done_testing
