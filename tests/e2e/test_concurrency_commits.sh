#!/usr/bin/env bash
# test_concurrency_commits.sh - readers beside a writer that commits as
# fast as it can. A writer in one process (conc_reader puts) stores a
# password 3,000 times, each a commit of its own, while three servers
# (conc_reader run) read it and load a bundle's key, through a handle
# kept open and through a fresh one each round: every read must succeed
# with a value the writer wrote, never an older one after a newer, and
# never be refused as rolled back.
#
# A handle skipped the check of the store's (generation, root) when a
# read transaction had the id of the last one it checked. LMDB takes
# that id before it copies the commit's meta page, and two commits in
# between write a newer one over it: the read saw a newer snapshot under
# an older id, checked it against the older snapshot's proofs and was
# refused "items.mdb disagrees with its digest" (about one read in
# 5,000 here, in most rounds). The kmc command commits too slowly to
# meet it often; this writer does not. Three rounds, each with an item
# of its own; bounded by counts. Then a certificate described while its
# bundle is removed and imported again (kmc_cert_info_get of it, and kmc
# cert info of every bundle), and every CA and every trust
# store listed while CAs and stores are made and removed. The vault is on tmpfs when
# there is one, where a commit's sync costs nothing.
ON_TMPFS=1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@" </dev/null; }
READER=$T/conc_reader
N=3000

BG=()
trap 'kill "${BG[@]}" 2>/dev/null; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

check "the conc_reader helper builds" kmc_cc "$READER" "$KMC_TOP/tests/e2e/conc_reader.c"
[ -x "$READER" ] || { done_testing; exit 1; }
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$T/pki"
t "kmc init" kmc init
t "import srv" kmc import -c "$T/pki/ca.crt" -s "$T/pki/server.crt" \
	-k "$T/pki/server.plain.key" --name srv
secret_file "$T/v0" 'v-0'

# wait_ready K: every reader of round K has made its first round (at
# most 60 s, 0.05 s apart).
wait_ready() {
	local end=$((SECONDS + 60)) r
	for r in 1 2 3; do
		until grep -qx ready "$T/r$1-$r.out" 2>/dev/null; do
			[ "$SECONDS" -lt "$end" ] || return 1
			# A reader that failed at once never says ready.
			grep -q . "$T/r$1-$r.err" 2>/dev/null && return 1
			sleep 0.05
		done
	done
}

for k in 1 2 3; do
	t "round $k: item R$k = v-0" kmc password set "R$k" --password-file "$T/v0"
	STOP=$T/stop$k
	PIDS=()
	for r in 1 2 3; do
		"$READER" run "$V" "R$k" srv "$N" 20 10000000 "$STOP" "$T/pki/server.crt" \
			>"$T/r$k-$r.out" 2>"$T/r$k-$r.err" &
		PIDS+=("$!")
		BG+=("$!")
	done
	check "round $k: the three readers have made their first round" wait_ready "$k"
	"$READER" puts "$V" "R$k" "$N" >"$T/w$k.out" 2>&1
	wrc=$?
	touch "$STOP"
	check "round $k: the writer made its $N commits" \
		bash -c '[ "$1" = 0 ] && grep -qx "puts $2" "$3"' _ "$wrc" "$N" "$T/w$k.out"
	for r in 1 2 3; do
		wait "${PIDS[$((r - 1))]}"
		rrc=$?
		check "round $k, reader $r: every read and key load succeeded, no value went back, none was refused as rolled back" \
			test "$rrc" = 0
		[ "$rrc" = 0 ] || sed 's/^/#   reader: /' "$T/r$k-$r.err" | head -5
		check "round $k, reader $r: it read v-0 first and v-$N last (it ran across the commits)" \
			grep -Eq "^rounds [0-9]+ values [0-9]+ first 0 last $N\$" "$T/r$k-$r.out"
		echo "# round $k, reader $r: $(tail -n1 "$T/r$k-$r.out")"
	done
	BG=()
done

# ---- a bundle removed and imported again --------------------------------

# kmc_cert_info_get looked for the bundle's certificate, then for an
# item of the same name, each in a read of its own: between kmc rm and
# kmc import it found no certificate, then the bundle's password item
# (named as the bundle), and refused "item srv is a password, not a
# certificate" in nearly every run of 20 rm and import pairs. A reader
# on one handle (conc_reader info) must describe the certificate or find
# none, every time.
# kmc cert info of every bundle read the bundles' names, then each
# bundle: one removed meanwhile failed the command, "srv is neither a
# certificate item nor a file" (exit 7). info_all_loop runs it (at most
# 1000 times, until the stop file) and counts the runs that did not exit
# 0 with a listing of bundles; the last one's JSON is checked after.
info_all_loop() {
	local i out n=0 bad=0
	for ((i = 0; i < 1000; i++)); do
		[ -e "$1" ] && break
		n=$((n + 1))
		if ! out=$(kmc cert info --json 2>&1) || [[ $out != '{"bundles":['* ]]; then
			bad=$((bad + 1))
			[ "$bad" -le 3 ] && echo "run $n: ${out:0:200}"
		fi
	done
	printf '%s' "$out" >"$2"
	echo "runs $n failed $bad"
}
STOP=$T/stop-info
"$READER" info "$V" srv "$STOP" >"$T/info.out" 2>"$T/info.err" &
IPID=$!
BG+=("$IPID")
APIDS=()
for r in 1 2; do
	info_all_loop "$STOP" "$T/info-all$r.json" >"$T/info-all$r.out" 2>&1 &
	APIDS+=("$!")
	BG+=("$!")
done
fails=0
for i in $(seq 1 20); do
	kmc rm srv 2>>"$T/rm.err" || fails=$((fails + 1))
	kmc import -c "$T/pki/ca.crt" -s "$T/pki/server.crt" \
		-k "$T/pki/server.plain.key" --name srv 2>>"$T/rm.err" || fails=$((fails + 1))
done
touch "$STOP"
wait "$IPID"
irc=$?
wait "${APIDS[@]}"
BG=()
check "20 times kmc rm srv and kmc import srv, all done" test "$fails" = 0
check "kmc_cert_info_get beside them: each described the certificate or found none" \
	test "$irc" = 0
[ "$irc" = 0 ] || sed 's/^/#   info: /' "$T/info.err" | head -5
echo "# $(cat "$T/info.out")"
for r in 1 2; do
	check "kmc cert info of every bundle beside them, loop $r: every run exited 0 with the listing" \
		grep -q ' failed 0$' "$T/info-all$r.out"
	sed 's/^/# cert info: /' "$T/info-all$r.out" | tail -4
	check "... its last listing is JSON" jq -e '.bundles | type == "array"' "$T/info-all$r.json"
done

# ---- CAs made and removed ---------------------------------------------------

# kmc_ca_list of every CA read the CAs' names, then each CA's record and
# certificate in reads of their own: a CA removed meanwhile (kmc rm
# ca:NAME) failed the whole list, "holds no CA z3 (... kmc ca list shows
# those there are)". Six CAs stay; twenty more are made and removed, each
# named to sort after them, while two readers list (conc_reader calist):
# every list must succeed.
for c in 1 2 3 4 5 6; do
	kmc ca init "a$c" --subject "/CN=ca a$c" 2>/dev/null || echo "ca init a$c failed" >>"$T/ca.err"
done
check "six CAs made" bash -c '[ ! -s "$1" ]' _ "$T/ca.err"
STOP=$T/stop-ca
LPIDS=()
for r in 1 2; do
	"$READER" calist "$V" "$STOP" >"$T/calist$r.out" 2>"$T/calist$r.err" &
	LPIDS+=("$!")
	BG+=("$!")
done
fails=0
for i in $(seq 1 20); do
	kmc ca init "z$i" --subject "/CN=ca z$i" 2>>"$T/ca.err" || fails=$((fails + 1))
	kmc rm "ca:z$i" 2>>"$T/ca.err" || fails=$((fails + 1))
done
touch "$STOP"
check "20 CAs made and removed" test "$fails" = 0
for r in 1 2; do
	wait "${LPIDS[$((r - 1))]}"
	lrc=$?
	check "kmc_ca_list beside them, reader $r: every list succeeded" test "$lrc" = 0
	[ "$lrc" = 0 ] || sed 's/^/#   calist: /' "$T/calist$r.err" | head -5
	echo "# calist $r: $(cat "$T/calist$r.out")"
done
BG=()
t_out "kmc ca list names the six CAs left" 'a1 a2 a3 a4 a5 a6' \
	bash -c '"$1" --vault "$2" ca list --json | jq -r "[.[].ca] | join(\" \")"' _ "$KMC" "$V"

# ---- trust stores made and removed --------------------------------------------

# kmc_trust_list of every store (kmc cert check and kmc cert info of
# everything call it) read the stores' names, then each store: one
# removed meanwhile (kmc rm trust:NAME) failed the whole list, "holds no
# trust store z0". Four stores stay beside the default one; twenty more
# are made (kmc trust add) and removed, while two readers list them all
# (conc_reader trustlist): every list must succeed.
for s in a b c d; do
	kmc trust add "x$s" "$T/pki/ca.crt" --store "$s" 2>/dev/null ||
		echo "trust add x$s failed" >>"$T/trust.err"
done
check "four trust stores made" bash -c '[ ! -s "$1" ]' _ "$T/trust.err"
STOP=$T/stop-trust
LPIDS=()
for r in 1 2; do
	"$READER" trustlist "$V" "$STOP" >"$T/trustlist$r.out" 2>"$T/trustlist$r.err" &
	LPIDS+=("$!")
	BG+=("$!")
done
fails=0
for i in $(seq 1 20); do
	kmc trust add "y$i" "$T/pki/ca.crt" --store "z$i" 2>>"$T/trust.err" || fails=$((fails + 1))
	kmc rm "trust:z$i" 2>>"$T/trust.err" || fails=$((fails + 1))
done
touch "$STOP"
check "20 trust stores made and removed" test "$fails" = 0
for r in 1 2; do
	wait "${LPIDS[$((r - 1))]}"
	lrc=$?
	check "kmc_trust_list beside them, reader $r: every list succeeded" test "$lrc" = 0
	[ "$lrc" = 0 ] || sed 's/^/#   trustlist: /' "$T/trustlist$r.err" | head -5
	echo "# trustlist $r: $(cat "$T/trustlist$r.out")"
done
BG=()

t "afterwards kmc verify is happy" kmc verify
t "and kmc status is healthy" kmc status
t_out "R3 reads v-$N" "v-$N" kmc password get R3

done_testing
