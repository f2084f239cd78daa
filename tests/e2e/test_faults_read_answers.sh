#!/usr/bin/env bash
# test_faults_read_answers.sh - what the read commands tell the operator
# while memory runs out: each of kmc's own allocations (KMC_FAULT_NEAR=4)
# fails in turn. A command then fails ("kmc: ...", non-zero, no crash),
# or gives the answer it gives with nothing failing; a line that says
# what it could not check ("out of memory") is an answer too. A failure
# taken for "none", "absent" or "no" is neither: kmc status said the
# folder's rollback was "not detectable", kmc cert info showed a blank
# serial and fingerprint, and left out a bundle's trust store, or said
# no version was staged, when it could not read them; kmc ref wrote a
# reference to a key with no certificate yet; kmc status called a
# rewritten audit log intact, and a change left pending none.
#
# The vault is only read: it is saved once and never put back.
. "$(dirname "${BASH_SOURCE[0]}")/faultlib.sh"

V=$T/vault
[ -f "$SO" ] || { done_testing; exit; }
kmc() { "$KMC" --vault "$V" "$@" </dev/null; }
BASE_OUT=$T/base.out

t "kmc init" kmc init
t "ca init root" kmc ca init root --subject "/CN=Answer Root CA"
t "cert issue db --server" kmc cert issue db --ca root --server --subject /CN=db.example
t "key gen born (no certificate yet)" kmc key gen born --type p256
# An imported bundle with a new version staged.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/ca.key" -subj /CN=imp-ca -days 30 \
	-addext keyUsage=critical,keyCertSign,cRLSign -out "$T/ca.crt" 2>/dev/null
for i in 1 2; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/s$i.key" -subj "/CN=imp$i" -out "$T/s$i.csr" 2>/dev/null
	openssl x509 -req -in "$T/s$i.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" \
		-CAcreateserial -days 20 -out "$T/s$i.crt" 2>/dev/null
done
t "import imp" kmc import -c "$T/ca.crt" -s "$T/s1.crt" -k "$T/s1.key" --name imp
t "import imp --stage" kmc import -c "$T/ca.crt" -s "$T/s2.crt" -k "$T/s2.key" \
	--name imp --stage

OOM_RE='out of memory|Cannot allocate memory'
# The answer in FILE, but for what the broken run said it could not
# check: its lines that say it ran out of memory, and the lines of the same
# heading (the first 15 columns, kmc status's) in either; and a count of
# days, which the clock moves between runs.
answer() {
	awk -v skip="$(grep -E "$OOM_RE" "$RUN_OUT" | cut -c1-15)" '
		BEGIN { n = split(skip, s, "\n"); for (i = 1; i <= n; i++) h[s[i]] = 1 }
		/out of memory|Cannot allocate memory/ || (substr($0, 1, 15) in h) { next }
		{ gsub(/\(in -?[0-9]+ days?\)/, "(in N days)"); print }' "$1"
}
same_answer() {
	cmp -s <(answer "$BASE_OUT") <(answer "$RUN_OUT") || {
		echo "exit $rc, another answer:" >&2
		diff <(answer "$BASE_OUT") <(answer "$RUN_OUT") | head -6 >&2
		false
	}
}
SAN_MSG='(Address|Leak|Memory|UndefinedBehavior)Sanitizer|runtime error:'
fails_or_same() {
	! grep -Eq "$SAN_MSG" "$RUN_ERR" ||
		{ echo "a sanitizer's report: $(head -3 "$RUN_ERR")" >&2; return 1; }
	if [ "$rc" != "$base_rc" ]; then
		[ "$rc" != 0 ] || { echo "exit 0, where the run without a fault exits $base_rc" >&2; return 1; }
		no_crash && grep -q '^kmc: ' "$RUN_ERR" ||
			{ echo "exit $rc; message was: $(cat "$RUN_ERR")" >&2; false; }
	else
		same_answer
	fi
}

# answers WHAT ARGS...: kmc ARGS without a fault, then with each of its
# own allocations failing in turn, each run checked by ANSWER_CHECK
# (fails_or_same unless told).
answers() {
	local what=$1 n total bad=0
	shift
	kmc "$@" >"$BASE_OUT" 2>/dev/null
	base_rc=$?
	{ LD_PRELOAD="$SO" KMC_FAULT_AT=0 KMC_FAULT_OPS=alloc KMC_FAULT_NEAR=4 \
		KMC_FAULT_COUNT="$COUNT" "$KMC" --vault "$V" "$@" \
		>/dev/null 2>&1 </dev/null; } 2>/dev/null
	total=$(cat "$COUNT" 2>/dev/null || echo 0)
	check "$what: the shim counted its allocations" test "$total" -gt 20
	for ((n = 1; n <= total; n++)); do
		# Leaks checked too (RUN_ASAN_OPTIONS, lib.sh), under make
		# check-sanitize.
		{ ASAN_OPTIONS=$RUN_ASAN_OPTIONS LD_PRELOAD="$SO" KMC_FAULT_AT=$n \
			KMC_FAULT_OPS=alloc KMC_FAULT_NEAR=4 "$KMC" --vault "$V" "$@" \
			>"$RUN_OUT" 2>"$RUN_ERR" </dev/null; } 2>/dev/null
		rc=$?
		"${ANSWER_CHECK:-fails_or_same}" 2>/dev/null && continue
		bad=$((bad + 1))
		check "$what, allocation $n of $total failing: fails, or answers as without" \
			"${ANSWER_CHECK:-fails_or_same}"
	done
	check "$what: each of $total allocations failing fails it or changes no answer" \
		test "$bad" = 0
}

answers "kmc status" status
check "kmc status names where the folder's rollback is seen" \
	grep -q '^rollback of the whole folder: host state file ' "$BASE_OUT"

# A certificate's serial and fingerprint, which a CRL or a pin is
# matched with: never blank (they were, when memory ran out).
shows_ids() {
	[ "$rc" != 0 ] || { grep -Eq '^  serial +[0-9A-F]{2}' "$RUN_OUT" &&
		grep -Eq '^  sha256 +[0-9A-F]{2}:' "$RUN_OUT"; } ||
		{ echo "exit 0: $(grep -E '^  (serial|sha256) ' "$RUN_OUT")" >&2; false; }
}
ANSWER_CHECK=shows_ids answers "kmc cert info db (its serial, its fingerprint)" cert info db
check "kmc cert info db shows a serial" grep -Eq '^  serial +[0-9A-F]{2}' "$BASE_OUT"
check "... and a fingerprint" grep -Eq '^  sha256 +[0-9A-F]{2}:' "$BASE_OUT"

# A bundle's trust store and its other versions: an unread one was taken
# for none (no "trust store" line; "staged":false).
answers "kmc cert info db" cert info db
check "kmc cert info db names its trust store" grep -q '^trust store ' "$BASE_OUT"
answers "kmc cert info imp --json" cert info imp --json
check "kmc cert info imp --json says a version is staged" grep -q '"staged":true' "$BASE_OUT"

# A key without a certificate gets no reference (exit 7): when whether
# it has one could not be read, one was written, exit 0.
answers "kmc ref born --out -" ref born --out -
check "kmc ref born is refused: no certificate yet" test "$base_rc" = 7

# An audit log cut before the record kmc.bind vouches for, then filled
# again by reads (test_audit.sh): kmc status exits 13. When the search
# for that record ran out of memory, it said the log was intact, exit 0.
V=$T/rv
printf 'pw' >"$T/pw" && chmod 600 "$T/pw"
t "a second vault" kmc init
for p in a b c; do
	t "... password set $p" kmc password set $p --password-file "$T/pw"
done
bound=$(grep -o '"seq":[0-9]*' "$V/audit.log" | tail -n 2 | head -n 1 | cut -d: -f2)
head -n $((bound - 1)) "$V/audit.log" >"$T/cut.log" && cp "$T/cut.log" "$V/audit.log"
for i in 1 2 3 4; do kmc password get a >/dev/null 2>&1; done
answers "kmc status of a rewritten audit log" status
check "kmc status of a rewritten audit log exits 13" test "$base_rc" = 13

# A change left pending (meta "journal", put there with LMDB by
# pending_put): kmc status says so and exits 4. When the journal could
# not be read (out of memory), it said nothing was pending, exit 0.
V=$T/vault
HELPER=$T/pending_put
check "the pending_put helper builds" kmc_cc "$HELPER" "$KMC_TOP/tests/e2e/pending_put.c"
cp -a "$V" "$T/pj"
V=$T/pj
t "a journal left in items.mdb" "$HELPER" "$V" --journal 0300
# Never exit 0, and a report that is printed names the change.
pending_told() {
	[ "$rc" != 0 ] && { [ ! -s "$RUN_OUT" ] || grep -q '^pending ' "$RUN_OUT"; } ||
		{ echo "exit $rc: $(grep -E '^(pending|nearest)' "$RUN_OUT")" >&2; false; }
}
ANSWER_CHECK=pending_told answers "kmc status of a vault with a change pending" status
# Every line too: its audit line showed "0 records (seq 0 to 0)" when
# the walk of the log ran out of memory (the exit, 4, from the pending
# change), as if the log were empty.
answers "kmc status of a vault with a change pending (every line)" status
check "kmc status of a vault with a change pending exits 4" test "$base_rc" = 4
check "... and names it" grep -q '^pending ' "$BASE_OUT"

done_testing
