#!/usr/bin/env bash
# test_audit.sh - the audit log (docs/format.md): what each change and
# each read of a secret records (uid, user, pid, op, items and versions),
# kmc audit and its filters, kmc audit verify on an intact log and on one
# truncated, flipped, with a record deleted, reordered or edited; a log
# that is a link, another user's or a directory (the change is refused,
# exit 13, nothing changed); a log cut, put back from an older copy or
# deleted (changes refused until it is back or accepted); rotation
# keeping the chain, and readers that a rotation meets halfway; and the
# syslog path of a reader that may not write the log (a shim stands in
# for syslog: nothing here reaches the host's).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/v
LOG=$V/audit.log
PW=$T/pw
secret_file "$PW" 's3cret'
t "init" "$KMC" --vault "$V" init
check "init made audit.log 0600" test "$(stat -c %a "$LOG")" = 600
last() { "$KMC" --vault "$V" audit --json | tail -n "${1:-1}" | head -n 1; }
has() { # has JSON-LINE FIELD-TEXT: the record holds the text
	grep -qF -- "$2" <<<"$1" || { echo "record '$1' has no $2" >&2; false; }
}
rec=$(last)
check "the first record is init's" has "$rec" '"op":"kmc_vault_init"'
check "it starts the chain: seq 1" has "$rec" '"seq":1,'

# ---- changes --------------------------------------------------------------------
t "password set" "$KMC" --vault "$V" password set db --password-file "$PW"
pend=$(last 2)
done_=$(last)
check "password set: a pending record names db version 1" has "$pend" '"items":[{"name":"db","version":1}]'
check "password set: its op is the API call" has "$pend" '"op":"kmc_item_put"'
check "password set: the pending record says pending" has "$pend" '"result":"pending"'
check "password set: then the outcome, ok" has "$done_" '"result":"ok"'
pseq=$(grep -o '"seq":[0-9]*' <<<"$pend" | cut -d: -f2)
check "password set: the outcome names its pending record" has "$done_" "\"of\":$pseq"
check "the record names the uid" has "$pend" "\"uid\":$(id -u),"
check "the record names the user" has "$pend" "\"user\":\"$(id -un)\""
check "the record names a pid" grep -Eq '"pid":[0-9]+,' <<<"$pend"
# Under sudo: the real user (docs/cli.md, *The audit log*), never what
# $SUDO_USER or $SUDO_UID claim.
t "password get with sudo's variables set" env SUDO_USER=kmc-e2e-nobody SUDO_UID=4242 \
	"$KMC" --vault "$V" password get db
check "... is recorded under the real uid" has "$(last)" "\"uid\":$(id -u),\"user\":\"$(id -un)\""
check "... and does not name \$SUDO_USER" sh -c "! tail -n 1 '$LOG' | grep -q kmc-e2e-nobody"
check "the record has an RFC 3339 UTC time" grep -Eq '"time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"' <<<"$pend"
check "no record holds the secret" sh -c "! grep -q s3cret '$LOG'"
t "password set again" "$KMC" --vault "$V" password set db --password-file "$PW"
check "the second records version 2" has "$(last 2)" '{"name":"db","version":2}'
t "mk rotate" "$KMC" --vault "$V" mk rotate
check "mk rotate is recorded" grep -q '"op":"kmc_mk_rotate"' "$LOG"
t "password set tmp" "$KMC" --vault "$V" password set tmp --password-file "$PW"
t "rm tmp" "$KMC" --vault "$V" rm tmp
check "rm is recorded, the item removed" has "$(last 2)" '{"name":"tmp","version":0,"removed":true}'
check "rm's op is kmc_item_remove" has "$(last 2)" '"op":"kmc_item_remove"'
t "kmc audit after rm" "$KMC" --vault "$V" audit
cp "$OUT" "$T/a"
check "kmc audit says the item was removed" grep -q 'kmc_item_remove: tmp v0 (removed) -> pending' "$T/a"
# A change of more than 32 items names 32 and counts the rest.
for i in $(seq 1 34); do echo "b$i pw$i"; done >"$T/batch"
chmod 600 "$T/batch"
t "password set --batch of 34 passwords" "$KMC" --vault "$V" password set --batch "$T/batch"
check "the record names 32 and counts 2 more" has "$(last 2)" '"more_items":2,'
t "kmc audit after the batch" "$KMC" --vault "$V" audit
cp "$OUT" "$T/a"
check "kmc audit says there were 2 more items" grep -q 'kmc_batch_commit: b1 v1, .* v1, and 2 more items -> pending' "$T/a"

rm "$V/StandbyKsf.ks"
t "kmc repair rewrites a deleted StandbyKsf.ks" "$KMC" --vault "$V" repair
check "the repair is recorded" has "$(last)" '"op":"open (rewriting a keystore from its twin)","items":[{"name":"StandbyKsf.ks",'

t "kmc backup" "$KMC" --vault "$V" backup --out "$T/bk"
t "kmc restore" "$KMC" --vault "$V" restore "$T/bk"
check "the restore is recorded: pending, then ok" \
	sh -c "'$KMC' --vault '$V' audit --json | tail -n 2 | grep -c '\"op\":\"kmc_vault_restore\"' | grep -qx 2"
check "the restore's outcome is ok" has "$(last)" '"result":"ok"'

# ---- reads ----------------------------------------------------------------------
t_out "password get" "s3cret" "$KMC" --vault "$V" password get db
rec=$(last)
check "password get is recorded: kmc_item_get of db version 2" has "$rec" '"op":"kmc_item_get","items":[{"name":"db","version":2}]'
check "a read's record has the reader's pid and user" has "$rec" "\"user\":\"$(id -un)\""
t "kmc audit verify: intact" "$KMC" --vault "$V" audit verify
t "kmc status: exit 0" "$KMC" --vault "$V" status
cp "$OUT" "$T/status"
check "kmc status reports the audit log" grep -q '^audit log .* records (seq 1 to' "$T/status"
t "kmc status --json" "$KMC" --vault "$V" status --json
cp "$OUT" "$T/status.json"
check "kmc status --json: the audit state ok" sh -c "jq -e '.audit.state == \"ok\"' '$T/status.json' >/dev/null"

# ---- kmc audit and its filters ----------------------------------------------------
t "kmc audit" "$KMC" --vault "$V" audit
cp "$OUT" "$T/a"
check "kmc audit prints a line a record" test "$(wc -l <"$T/a")" = "$(wc -l <"$LOG")"
check "kmc audit names the op, items and result" grep -q 'kmc_item_put: db v1 -> pending' "$T/a"
t "kmc audit --item db" "$KMC" --vault "$V" audit --item db --json
cp "$OUT" "$T/a"
check "--item db: only records naming db, and their outcomes" \
	sh -c "! grep -v '\"name\":\"db\"' '$T/a' | grep -qv '\"of\":'"
check "--item db: a change's outcome follows its pending record" \
	grep -q '"of":'"$pseq"',' "$T/a"
check "--item db: its reads and changes" test "$(wc -l <"$T/a")" -ge 3
t "kmc audit --json" "$KMC" --vault "$V" audit --json
cp "$OUT" "$T/a"
check "--json: every line is a JSON object" sh -c "jq -e -s 'length > 5 and all(.[]; .v == 1)' '$T/a' >/dev/null"
t_out "--since a future day: nothing" "" "$KMC" --vault "$V" audit --since 2999-01-01
t "--since a past day: everything" "$KMC" --vault "$V" audit --since 2000-01-01
cp "$OUT" "$T/a"
check "--since a past day: every record" test "$(wc -l <"$T/a")" = "$(wc -l <"$LOG")"
t_err 2 "--since garbage: a usage error" 'since' "$KMC" --vault "$V" audit --since yesterday
# Records are matched by their text: a time cut inside a field or with a
# field out of range would match the wrong records, so it is refused.
t_err 2 "--since a month 13: refused, saying so" 'month is not 01 to 12' "$KMC" --vault "$V" audit --since 2026-13-01
t_err 2 "--since February 30: refused" 'not in that month' "$KMC" --vault "$V" audit --since 2026-02-30
t_err 2 "--since February 29 of a common year: refused" 'not in that month' "$KMC" --vault "$V" audit --since 2025-02-29
t_err 2 "--since hour 24: refused" 'hour is not' "$KMC" --vault "$V" audit --since 2026-12-01T24:00
t_err 2 "--since 2026-1 (cut inside the month): refused" 'cut inside a field' "$KMC" --vault "$V" audit --since 2026-1
t "--since February 29 of a leap year" "$KMC" --vault "$V" audit --since 2024-02-29
t "--since a year alone" "$KMC" --vault "$V" audit --since 2000
cp "$OUT" "$T/a"
check "--since a past year: every record" test "$(wc -l <"$T/a")" = "$(wc -l <"$LOG")"
t_out "--since a later minute: nothing" "" "$KMC" --vault "$V" audit --since 2999-01-01T00:00
t_err 2 "--item of a name no item can have: refused, saying so" 'item "a b": not an item name' \
	"$KMC" --vault "$V" audit --item "a b"

# ---- damage: verify names the file, line and seq, exit 13 -----------------------
cp "$LOG" "$T/good.log"
restore() { cp "$T/good.log" "$LOG"; }
sed -i '3s/"uid":/"uid":1/' "$LOG"
t_err 13 "an edited record: exit 13, naming the line and seq" 'audit.log line 3 \(seq 3\): its MAC does not verify' \
	"$KMC" --vault "$V" audit verify
t_err 13 "an edited record: kmc status exits 13" 'audit log' "$KMC" --vault "$V" status
restore
python3 - "$LOG" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
i = b.index(b'"result"', len(b) // 2)
b[i + 12] ^= 1
open(p, 'wb').write(bytes(b))
PY
t_err 13 "a flipped byte: exit 13" 'MAC does not verify|not an audit record' "$KMC" --vault "$V" audit verify
restore
sed -i '4d' "$LOG"
t_err 13 "a deleted record: exit 13, the gap named" 'seq 5 follows seq 3' "$KMC" --vault "$V" audit verify
restore
sed -i '4{h;d};5G' "$LOG"
t_err 13 "two records swapped: exit 13" 'follows seq|prev is not' "$KMC" --vault "$V" audit verify
restore
head -n 1 "$T/good.log" >"$T/first" && tail -n +2 "$T/good.log" >>"$T/first" && cat "$T/first" "$T/first" >"$LOG" 2>/dev/null
t_err 13 "records replayed: exit 13" 'follows seq' "$KMC" --vault "$V" audit verify
restore
# Whole records cut from the end, the change's synced record among them:
# the chain alone cannot tell, kmc.bind (which names it) can.
head -n -3 "$T/good.log" >"$LOG"
t_err 13 "records removed from the end: verify names the bound seq, exit 13" \
	'ends at seq [0-9]+, but kmc.bind vouches for seq [0-9]+: records were removed' \
	"$KMC" --vault "$V" audit verify
t_err 13 "records removed from the end: kmc status exits 13" \
	'ends at seq [0-9]+, but kmc.bind names seq [0-9]+' "$KMC" --vault "$V" status
# The next change must not write its records on the shortened chain: the
# binding would then vouch for them and verify pass again.
cut_log=$(sha256sum <"$LOG")
before=$(snapshot "$V")
t_err 13 "records removed from the end: a change is refused, naming audit.log and kmc.bind" \
	'audit.log: the audit log ends at seq [0-9]+, but kmc.bind vouches for seq [0-9]+.*nothing changed' \
	"$KMC" --vault "$V" password set cut --password-file "$PW"
t_err 13 "records removed from the end: a keystore change is refused too" \
	'audit.log: the audit log ends at seq' "$KMC" --vault "$V" mk rotate
check "records removed from the end: the refused changes changed nothing" test "$(snapshot "$V")" = "$before"
check "records removed from the end: and wrote no record" test "$(sha256sum <"$LOG")" = "$cut_log"
t_err 13 "records removed from the end: verify still fails after the refused change" \
	'kmc.bind vouches for seq' "$KMC" --vault "$V" audit verify
restore
# The last record (the one kmc audit, which checks no MAC, cannot tell
# edited) with an escaped NUL in its name: not read as the name before it.
sed -i '$s/"name":"db"/"name":"db\\u0000x"/' "$LOG"
check "an escaped NUL put in the last record's name" grep -q '"name":"db\\u0000x"' "$LOG"
t_err 13 "an escaped NUL in a name: kmc audit --item db names the damaged field, exit 13" \
	'audit.log line [0-9]+ \(seq [0-9]+\): a field is damaged' "$KMC" --vault "$V" audit --item db --json
cp "$OUT" "$T/nul"
check "an escaped NUL in a name: the record is not shown as one of db" sh -c "! grep -q u0000 '$T/nul'"
check "an escaped NUL in a name: the records of db before it are" grep -q '"name":"db","version":1}' "$T/nul"
restore
# A last line without a newline longer than any record is no torn record
# (no crash writes more than a record): damage, and no change closes it
# off, so neither verify nor status may promise that.
head -c 9000 /dev/zero | tr '\0' x >>"$LOG"
before=$(snapshot "$V")
t_err 13 "junk longer than a record at the end: verify says it is no record, exit 13" \
	'audit.log line [0-9]+: not an audit record: more bytes without a newline than a record holds' \
	"$KMC" --vault "$V" audit verify
t_err 13 "junk longer than a record at the end: kmc status exits 13" 'not an audit record' \
	"$KMC" --vault "$V" status
t_err 13 "junk longer than a record at the end: a change is refused, naming audit.log" \
	'audit.log: its last record is damaged' "$KMC" --vault "$V" password set db --password-file "$PW"
check "junk longer than a record at the end: the refused change changed nothing" test "$(snapshot "$V")" = "$before"
restore
head -c -25 "$T/good.log" >"$LOG"
t_err 13 "truncated mid-record: verify says torn, exit 13" 'a torn last record of [0-9]+ bytes' \
	"$KMC" --vault "$V" audit verify
t "truncated mid-record: kmc status still exits 0" "$KMC" --vault "$V" status
cp "$OUT" "$T/status"
check "truncated mid-record: kmc status warns" grep -q 'warning: a torn last record' "$T/status"
t "truncated mid-record: the next change succeeds" "$KMC" --vault "$V" password set db --password-file "$PW"
check "the torn record is closed off and recorded, not dropped" grep -q '"op":"audit torn record".*"torn":[0-9]*' "$LOG"
t "after closing it off, the log verifies" "$KMC" --vault "$V" audit verify

# ---- audit.log put back from an older copy, or deleted ------------------------
# A rolled-back log and the change after it: refused (else the next
# binding vouches for the shortened chain and the change's records
# hide the gap), until the log comes back or kmc repair
# --accept-rollback accepts it, which the log records.
RV=$T/rv
t "a second vault" "$KMC" --vault "$RV" init
t "password set a" "$KMC" --vault "$RV" password set a --password-file "$PW"
cp "$RV/audit.log" "$T/older.log"
t "password set b" "$KMC" --vault "$RV" password set b --password-file "$PW"
cp "$RV/audit.log" "$T/newer.log"
cp "$T/older.log" "$RV/audit.log"
t_err 13 "an older audit.log: a change is refused, exit 13" \
	'audit.log: the audit log ends at seq [0-9]+, but kmc.bind vouches for seq [0-9]+' \
	"$KMC" --vault "$RV" password set c --password-file "$PW"
t_err 7 "an older audit.log: the refused change stored nothing" 'no item' "$KMC" --vault "$RV" password get c
t_err 13 "an older audit.log: verify fails, the records are not hidden" 'kmc.bind vouches for seq' \
	"$KMC" --vault "$RV" audit verify
cp "$T/newer.log" "$RV/audit.log"
t "the log put back: the change goes through" "$KMC" --vault "$RV" password set c --password-file "$PW"
t "the log put back: it verifies" "$KMC" --vault "$RV" audit verify
# Cut before the last change's records, then filled again by reads: its
# seqs are there, its record is not.
bound=$(grep -o '"seq":[0-9]*' "$RV/audit.log" | tail -n 2 | head -n 1 | cut -d: -f2)
cp "$RV/audit.log" "$T/newer.log"
head -n $((bound - 1)) "$T/newer.log" >"$RV/audit.log"
for i in 1 2 3 4; do "$KMC" --vault "$RV" password get a >/dev/null 2>&1; done
check "cut and filled again by reads: the log is past the bound seq" \
	test "$(grep -c . "$RV/audit.log")" -gt "$bound"
t_err 13 "cut and filled again: verify names the bound record" \
	"audit.log line $bound \\(seq $bound\\): it is not the record kmc.bind vouches for" \
	"$KMC" --vault "$RV" audit verify
t_err 13 "cut and filled again: kmc status exits 13, naming kmc.bind's record" \
	"the audit log's seq $bound is not the record kmc.bind names" "$KMC" --vault "$RV" status
t_err 13 "cut and filled again: a change is refused, exit 13" \
	"audit.log: seq $bound is not the record kmc.bind vouches for" \
	"$KMC" --vault "$RV" password set c2 --password-file "$PW"
t_err 7 "cut and filled again: the refused change stored nothing" 'no item' "$KMC" --vault "$RV" password get c2
cp "$T/newer.log" "$RV/audit.log"
t "put back again: it verifies" "$KMC" --vault "$RV" audit verify
rm "$RV/audit.log"
t_err 13 "audit.log deleted: a change is refused" 'audit.log: the audit log ends at seq 0, but kmc.bind' \
	"$KMC" --vault "$RV" password set d --password-file "$PW"
t "audit.log deleted: kmc repair --accept-rollback accepts it" "$KMC" --vault "$RV" repair --accept-rollback
check "the acceptance is recorded with what was lost" \
	grep -q '"op":"kmc repair --accept-rollback".*"result":"accepted: the audit log ended at seq 0, but kmc.bind vouched for seq [0-9]*"' "$RV/audit.log"
t "accepted: the next change goes through" "$KMC" --vault "$RV" password set d --password-file "$PW"
t "accepted: the new log verifies" "$KMC" --vault "$RV" audit verify

# ---- an unsafe audit.log: the change is refused, nothing changed ---------------
cp "$LOG" "$T/good.log"
unsafe() { # unsafe WHAT REGEX: password set refused with exit 13 naming audit.log and REGEX, nothing changed
	local before logs
	before=$(snapshot "$V")
	logs=$(cat "$V"/audit*.log "$T/real.log" 2>/dev/null | sha256sum)
	t_err 13 "$1: password set refused, exit 13, the message says why" "audit.log.*$2" \
		"$KMC" --vault "$V" password set db2 --password-file "$PW"
	check "$1: nothing changed" test "$(snapshot "$V")" = "$before"
	check "$1: no record was added anywhere" \
		test "$(cat "$V"/audit*.log "$T/real.log" 2>/dev/null | sha256sum)" = "$logs"
	t_err 7 "$1: the item was not stored" 'no item' "$KMC" --vault "$V" password get db2
}
mv "$LOG" "$T/real.log" && ln -s "$T/real.log" "$LOG"
unsafe "audit.log a symbolic link" 'symbolic link'
rm "$LOG" && mkdir "$LOG"
unsafe "audit.log a directory" 'a directory'
before=$(snapshot "$V")
t_err 13 "audit.log a directory: kmc restore refused, exit 13" 'audit.log is a directory' \
	"$KMC" --vault "$V" restore "$T/bk"
check "audit.log a directory: the restore changed nothing, left no stage" \
	sh -c "test \"\$(cd '$V' && ls -A | grep -c kmc-restore)\" = 0"
check "... and the vault is as it was" test "$(snapshot "$V")" = "$before"
rmdir "$LOG" && cp "$T/good.log" "$LOG" && chmod 644 "$LOG"
unsafe "audit.log mode 0644" 'mode 0644'
chmod 600 "$LOG"
if [ "$(id -u)" = 0 ]; then
	chown nobody "$LOG"
	unsafe "audit.log another user's" 'owned by uid'
	chown 0 "$LOG"
else
	echo "# skip: audit.log of another owner needs root"
fi

# ---- the syslog path: a reader that may not write the log ------------------------
SHIM=$T/syslog_shim.so
check "the syslog shim builds" cc -shared -fPIC -o "$SHIM" "$KMC_TOP/tests/e2e/syslog_shim.c"
if [ "$(id -u)" = 0 ]; then chown nobody "$LOG"; else chmod 400 "$LOG"; fi
before=$(sha256sum <"$LOG")
t_out "a reader that may not write audit.log still reads" "s3cret" \
	env LD_PRELOAD="$SHIM" KMC_SYSLOG_FILE="$T/syslog" "$KMC" --vault "$V" password get db
check "the read went to syslog" grep -q 'op=kmc_item_get item=db version=3' "$T/syslog"
check "syslog got it as LOG_AUTHPRIV|LOG_INFO" grep -q "^$((10 << 3))|6|kmcvault audit:" "$T/syslog"
check "the syslog line names the user and uid" grep -q "uid=$(id -u) user=$(id -un) pid=" "$T/syslog"
check "audit.log was left alone" test "$(sha256sum <"$LOG")" = "$before"
if [ "$(id -u)" = 0 ]; then chown 0 "$LOG"; else chmod 600 "$LOG"; fi

# ---- a handle's repeated reads: one record, then a count at the close ----------
FILL=$T/audit_fill
check "the audit_fill helper builds" kmc_cc "$FILL" "$KMC_TOP/tests/e2e/audit_fill.c" -I"$KMC_TOP"
n0=$(wc -l <"$LOG")
t "a read-only handle reads db 5 times" "$FILL" "$V" read db 5
check "two records: the first read, and the count at the close" test "$(wc -l <"$LOG")" = $((n0 + 2))
check "the first read is recorded as it happens" has "$(last 2)" '"op":"kmc_item_get","items":[{"name":"db","version":3}]'
check "the close records the 4 further reads" has "$(last)" '"op":"reads counted at the close","items":[{"name":"db","version":3,"reads":4}]'
t "kmc audit after the counted reads" "$KMC" --vault "$V" audit
cp "$OUT" "$T/a"
check "kmc audit shows the count, not one read" \
	sh -c "tail -n 1 '$T/a' | grep -q 'reads counted at the close: db v3 (4 more reads) -> ok'"

# ---- a server under RLIMIT_FSIZE: its read's record must not kill it ----------
# A write past the limit raises SIGXFSZ, whose default kills the process;
# the kmc command ignores it, a server linking the library (audit_fill
# here) keeps the default. The record is not written, as on a full disk:
# the read goes on, recorded to syslog.
blocks=$(( $(stat -c %s "$LOG") / 1024 ))
before=$(sha256sum <"$LOG")
rm -f "$T/syslog"
t "a server reading under ulimit -f at audit.log's size is not killed (SIGXFSZ)" \
	bash -c 'ulimit -f "$1" && shift && exec "$@"' _ "$blocks" \
	env LD_PRELOAD="$SHIM" KMC_SYSLOG_FILE="$T/syslog" "$FILL" "$V" read db 1
check "... its read went to syslog" grep -q 'op=kmc_item_get item=db version=3' "$T/syslog"
check "... audit.log was left alone" test "$(sha256sum <"$LOG")" = "$before"

# ---- many readers appending at once ---------------------------------------------
# 8 processes, each a handle reading db 200 times (one record, then the
# count at its close) and 10 kmc password get of db (a record each).
n0=$(wc -l <"$LOG")
for p in 1 2 3 4 5 6 7 8; do
	( "$FILL" "$V" read db 200 || echo "reader $p failed" >>"$T/readers.err"
	  for i in 1 2 3 4 5 6 7 8 9 10; do
		"$KMC" --vault "$V" password get db >/dev/null 2>>"$T/readers.err" ||
			echo "get $p.$i failed" >>"$T/readers.err"
	  done ) &
done
wait
check "8 readers at once: every read succeeded" test ! -s "$T/readers.err"
check "8 readers at once: no record lost (8 x (2 + 10))" test "$(wc -l <"$LOG")" = $((n0 + 8 * 12))
tail -n +$((n0 + 1)) "$LOG" >"$T/reads"
check "8 readers at once: every new line a whole record" \
	sh -c "jq -e -s 'length == 96 and all(.[]; .v == 1 and (.mac | length) == 64)' '$T/reads' >/dev/null"
check "8 readers at once: the reads recorded add up to the 1,680 done" \
	sh -c "jq -e -s '[.[] | .items[] | select(.name == \"db\") | (.reads // 1)] | add == 1680' '$T/reads' >/dev/null"
t "8 readers at once: the log verifies" "$KMC" --vault "$V" audit verify

# ---- rotation ---------------------------------------------------------------------
t "8 changes with 2 KiB segments" "$FILL" "$V" 2048 8
nseg=$(find "$V" -maxdepth 1 -name 'audit-*.log' | wc -l)
check "the log was rotated into segments" test "$nseg" -ge 2
check "segments are 0600" sh -c "! find '$V' -maxdepth 1 -name 'audit-*.log' ! -perm 600 | grep -q ."
t "rotated: the chain verifies across segments" "$KMC" --vault "$V" audit verify
check "rotated: kmc audit reads every segment (init's record is still there)" \
	sh -c "'$KMC' --vault '$V' audit --json | head -n 1 | grep -q '\"seq\":1,'"
t "200 more changes: old segments removed" "$FILL" "$V" 2048 200
check "at most 8 segments are kept" test "$(find "$V" -maxdepth 1 -name 'audit-*.log' | wc -l)" -le 8
check "the removal was recorded" sh -c "cat '$V'/audit*.log | grep -q '\"op\":\"audit segment removed\"'"
t "after removals, the chain still verifies" "$KMC" --vault "$V" audit verify
oldest=$(find "$V" -maxdepth 1 -name 'audit-*.log' | sort | head -n 1)
rm "$oldest"
t_err 13 "a kept segment deleted: exit 13" 'a segment was deleted' "$KMC" --vault "$V" audit verify

# ---- a restore through the C API leaves the caller's descriptors alone ----------
# Its records used to be written through a log state whose descriptor
# was 0, and the library closed the caller's descriptor 0 (stdin, or
# whatever a server had there).
SV=$T/sv
t "a vault to restore" "$KMC" --vault "$SV" init
t "... with a password" "$KMC" --vault "$SV" password set db --password-file "$PW"
t "kmc backup for the API's restore" "$KMC" --vault "$SV" backup --out "$T/bk2"
t "kmc_vault_restore leaves descriptor 0 open and as it was" "$FILL" "$SV" restore "$T/bk2"
check "the API's restore is recorded: pending, then ok" \
	sh -c "'$KMC' --vault '$SV' audit --json | tail -n 2 | grep -c '\"op\":\"kmc_vault_restore\"' | grep -qx 2"
t "after the API's restore, the log verifies" "$KMC" --vault "$SV" audit verify
# A restore over a log that lost the record kmc.bind vouches for: made
# (it binds the vault anew), and the log says what was lost first.
cp "$SV/audit.log" "$T/sv-older.log"
t "a change after the copy" "$KMC" --vault "$SV" password set db --password-file "$PW"
cp "$T/sv-older.log" "$SV/audit.log"
t "kmc restore over an older audit.log" "$KMC" --vault "$SV" restore "$T/bk2"
check "the restore recorded the log it accepted as cut" \
	grep -q '"op":"kmc_vault_restore","items":\[\],"result":"accepted: the audit log ended at seq [0-9]*, but kmc.bind vouched for seq [0-9]*"' "$SV/audit.log"
t "after that restore, the log verifies" "$KMC" --vault "$SV" audit verify

# ---- a reader while the log rotates under it --------------------------------------
# The shim runs a writer whose changes rotate the log and remove old
# segments just as the reader, done with the segments, opens audit.log.
ROT=$T/rotate_shim.so
check "the rotation shim builds" cc -shared -fPIC -o "$ROT" "$KMC_TOP/tests/e2e/audit_rotate_shim.c" -ldl
QV=$T/qv
t "a vault with rotated segments" "$KMC" --vault "$QV" init
t "... 20 changes with 2 KiB segments" "$FILL" "$QV" 2048 20
for what in "audit" "audit verify" "status"; do
	rm -f "$T/fired"
	# shellcheck disable=SC2086
	t "kmc $what while the log rotates and old segments go: no false damage" \
		env LD_PRELOAD="$ROT" KMC_ROTATE_CMD="'$FILL' '$QV' 2048 8" KMC_ROTATE_MARK="$T/fired" \
		"$KMC" --vault "$QV" $what
	check "kmc $what: the writer ran while it read" test -e "$T/fired"
done
t "after the rotations, the log verifies" "$KMC" --vault "$QV" audit verify

# ---- a user name that is not UTF-8 ----------------------------------------------
# The records are JSON, which is UTF-8: a byte of another encoding in a
# field (a user name from a Latin-1 /etc/passwd, a path in an error
# detail) was written as it was, and jq, Python and a SIEM's parser
# refused the line. It is written as the text \xNN, as kmc prints such a
# byte. The name comes from /etc/passwd, replaced for this process only
# in a mount namespace of its own (nothing of the host's changes).
UV=$T/uv
t "a vault for the Latin-1 user" "$KMC" --vault "$UV" init
sed '1s/^root:/r\xe9oot:/' /etc/passwd >"$T/passwd.latin1"
latin1() {
	unshare -m sh -c 'mount --bind "$1" /etc/passwd && shift && exec "$@"' _ \
		"$T/passwd.latin1" "$@"
}
if [ "$(id -u)" = 0 ] && latin1 true 2>/dev/null; then
	t "password set as a user whose name is r\\xe9oot in Latin-1" \
		latin1 "$KMC" --vault "$UV" password set db --password-file "$PW"
	check "every line of audit.log is UTF-8 (iconv)" \
		sh -c "iconv -f UTF-8 -t UTF-8 '$UV/audit.log' >/dev/null"
	check "every line of audit.log parses (jq)" \
		sh -c "jq -e -s 'length >= 3' '$UV/audit.log' >/dev/null"
	check "the record names the user with the byte as \\xe9" \
		grep -qF '"user":"r\\xe9oot"' "$UV/audit.log"
	t "the log verifies" "$KMC" --vault "$UV" audit verify
	check "kmc audit --item db shows the user as r\\xe9oot" \
		bash -c "'$KMC' --vault '$UV' audit --item db | grep -qF 'r\\\\xe9oot'"
else
	echo "# skip: no mount namespace here (unshare -m): the Latin-1 user name is not tried"
fi

# A record whose item name is longer than a name may be is a damaged
# field of that record (exit 13, naming the file and line), not "too
# large" (exit 2) with nothing named. kmc audit checks no MAC, so the
# one record, seq 1 with no record before it, is all the chain there is.
D=$T/longname
mkdir -m 0700 "$D"
Z=$(printf '0%.0s' $(seq 64))
printf '{"v":1,"seq":1,"time":"2026-12-07T19:15:47Z","uid":0,"user":"u","pid":1,"op":"kmc_item_put","items":[{"name":"%s","version":1}],"result":"ok","prev":"%s","mac":"%s"}\n' \
	"$(printf 'a%.0s' $(seq 200))" "$Z" "$Z" >"$D/audit.log"
chmod 0600 "$D/audit.log"
t_err 13 "kmc audit: an item name longer than a name may be is a damaged field, naming the line" \
	"audit\.log line 1 \(seq 1\): a field is damaged" "$KMC" --vault "$D" audit

# A record a newer kmcvault appended ("v":2, and longer than a version 1
# record may be: the version is read first) is refused as newer (exit 4),
# naming the file, the line and both versions, never as a damaged log
# (exit 13); a change appends nothing after it and changes nothing.
W=$T/newer
t "a vault for a newer record" "$KMC" --vault "$W" init
t "... a password in it" "$KMC" --vault "$W" password set db --password-file "$PW"
n=$(wc -l <"$W/audit.log")
printf '{"v":2,"seq":%d,"time":"2026-12-07T19:15:47Z","more":"%s","prev":"%s","mac":"%s"}\n' \
	$((n + 1)) "$(head -c 9000 /dev/zero | tr '\0' x)" "$Z" "$Z" >>"$W/audit.log"
before=$(snapshot "$W"; sha256sum <"$W/audit.log")
for cmd in audit "audit verify"; do
	# shellcheck disable=SC2086
	t_err 4 "kmc $cmd: a record of version 2 is refused as newer, naming the line and both versions" \
		"audit\.log line $((n + 1)): an audit record of version 2, and this kmc reads version 1 only: a newer kmcvault wrote it" \
		"$KMC" --vault "$W" $cmd
	check "... and never as damaged" bash -c '! grep -Eq "damaged|not an audit record" "$1"' _ "$LAST_ERR"
done
t_err 4 "kmc status: exit 4 for an audit log a newer kmcvault wrote to" \
	"a newer kmcvault wrote it" "$KMC" --vault "$W" status
check "... its audit line says newer format" bash -c '"$1" --vault "$2" status 2>/dev/null | grep -q "^audit log .*; newer format: a newer kmcvault wrote a record$"' _ "$KMC" "$W"
t_err 4 "password set: nothing is appended after a newer record, exit 4" \
	"audit\.log: its last record is of an audit record version above 1.*a newer kmcvault wrote it; nothing changed" \
	"$KMC" --vault "$W" password set db --password-file "$PW"
check "... and nothing in the vault (the audit log included) changed" \
	test "$(snapshot "$W"; sha256sum <"$W/audit.log")" = "$before"

done_testing
