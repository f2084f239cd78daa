#!/usr/bin/env bash
# test_foreign_keystore.sh - another vault's keystore copied over one twin.
# Every root vault on a host shares /etc/kmcvault/host.key, so such a file
# opens and may even be a generation ahead: the item store's vault id, not
# the file, says which twin is this vault's, and the good twin is never
# overwritten with the foreign one. Also kmc status on a keystore it cannot
# verify without a key.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

A=$T/a
B=$T/b
kmc() { "$KMC" --vault "$A" "$@"; }
secret_file "$T/right" 'right'
secret_file "$T/wrong" 'wrong'
secret_file "$T/pp" 'correct horse battery'
get_is() { kmc password get db >"$T/got" 2>/dev/null && [ "$(cat "$T/got")" = "$1" ]; }
keep() { cp "$OUT" "$T/last.out"; cp "$ERR" "$T/last.err"; }
fresh() { # fresh [HOST_KEY]: vault A: db = right; vault B: db = wrong, under
	# the shared host key (or HOST_KEY), one keystore generation ahead of A
	local hk=${1:-$KMC_HOST_KEY}
	rm -rf "$A" "$B"
	"$KMC" --vault "$A" init 2>/dev/null &&
		kmc password set db --password-file "$T/right" 2>/dev/null &&
		cp "$A/kmc.ks" "$T/a.ks" || return 1
	KMC_HOST_KEY=$hk "$KMC" --vault "$B" init --host-key "$hk" 2>/dev/null &&
		KMC_HOST_KEY=$hk "$KMC" --vault "$B" password set db \
			--password-file "$T/wrong" 2>/dev/null || return 1
	[ -x "$BUMP" ] || return 1
	rm -f "$T/b2.ks"
	KMC_HOST_KEY=$hk "$BUMP" "$B" "$T/b2.ks" &&
		cp "$T/b2.ks" "$B/kmc.ks" && cp "$T/b2.ks" "$B/StandbyKsf.ks"
}
BUMP=$T/ks_bump
check "the ks_bump helper builds" kmc_cc "$BUMP" "$KMC_TOP/tests/e2e/ks_bump.c" -I"$KMC_TOP" \
	-Wno-error

# ---- the foreign keystore over kmc.ks, same host key ------------------------------------

check "two vaults under one host key" fresh
check "B's keystore is a generation ahead of A's" \
	bash -c '"$1" --vault "$2" status --json | jq -e ".generation == 2"' _ "$KMC" "$B"
cp "$B/kmc.ks" "$A/kmc.ks"
t_rc 4 "status exits 4" kmc status
keep
check "status names kmc.ks foreign" grep -Eq '^kmc\.ks +foreign .*another vault' "$T/last.out"
check "status shows StandbyKsf.ks ok" grep -Eq '^StandbyKsf\.ks +ok' "$T/last.out"
kmc status --json >"$T/st.json" 2>/dev/null
check "status --json: kmc.ks foreign, the standby ok, A's generation" \
	jq -e '.keystores["kmc.ks"].state == "foreign" and
		.keystores["StandbyKsf.ks"] == {"state":"ok","generation":1} and
		.generation == 1 and (.healthy | not)' "$T/st.json"
t_out "a reader opens from the standby: db reads right" 'right' kmc password get db
check "the reader left the foreign kmc.ks alone" cmp -s "$A/kmc.ks" "$B/kmc.ks"
t_err 0 "repair restores kmc.ks from the standby" 'repaired kmc\.ks in' kmc repair
check "kmc.ks is A's own keystore again" cmp -s "$A/kmc.ks" "$T/a.ks"
check "StandbyKsf.ks was never overwritten" cmp -s "$A/StandbyKsf.ks" "$T/a.ks"
check "db still reads right" get_is right
t "status exits 0" kmc status

# The same through a writing command.
check "two vaults again" fresh
cp "$B/kmc.ks" "$A/kmc.ks"
t_err 0 "password set passes over the foreign kmc.ks and repairs it" 'repaired kmc\.ks in' \
	kmc password set db --password-file "$T/right"
check "the standby is A's keystore" cmp -s "$A/StandbyKsf.ks" "$T/a.ks"
check "so is kmc.ks" cmp -s "$A/kmc.ks" "$T/a.ks"

# ---- the foreign keystore over StandbyKsf.ks ---------------------------------------------

fresh
cp "$B/kmc.ks" "$A/StandbyKsf.ks"
t_rc 4 "a foreign standby: status exits 4" kmc status
keep
check "status names StandbyKsf.ks foreign" grep -Eq '^StandbyKsf\.ks +foreign' "$T/last.out"
t_err 0 "repair restores the standby from kmc.ks" 'repaired StandbyKsf\.ks in' kmc repair
check "both are A's keystore" bash -c 'cmp -s "$1" "$3" && cmp -s "$2" "$3"' _ \
	"$A/kmc.ks" "$A/StandbyKsf.ks" "$T/a.ks"

# ---- another host key: the foreign file cannot even be unlocked ---------------------------

check "two vaults under two host keys" fresh "$T/other.key"
check "B's keystore is not A's host key's" bash -c '! cmp -s "$1" "$2"' _ "$T/other.key" "$KMC_HOST_KEY"
cp "$B/kmc.ks" "$A/kmc.ks"
t_out "a keystore of another host key over kmc.ks: the vault opens from the standby" \
	'right' kmc password get db
t_err 0 "repair restores kmc.ks" 'repaired kmc\.ks in' kmc repair
check "kmc.ks is A's own keystore again" cmp -s "$A/kmc.ks" "$T/a.ks"
t "status exits 0" kmc status

# ---- nothing the store cannot vouch for is written -----------------------------------------

fresh
cp "$B/kmc.ks" "$A/kmc.ks"
cp "$B/kmc.ks" "$A/StandbyKsf.ks"
before=$(snapshot "$A")
t_err 4 "both keystores foreign: repair exits 4 naming both" \
	"items\.mdb belongs to another vault than .*kmc\.ks and .*StandbyKsf\.ks" kmc repair
t_err 4 "both keystores foreign: status exits 4" "another vault" kmc status
check "nothing changed" test "$before" = "$(snapshot "$A")"

rm "$A/StandbyKsf.ks"
before=$(snapshot "$A")
t_err 4 "the only keystore foreign: repair exits 4 naming it" \
	"items\.mdb belongs to another vault than .*/kmc\.ks \(vault id [0-9a-f]{32}\)" kmc repair
check "the missing standby was not made from the foreign keystore" test ! -e "$A/StandbyKsf.ks"
check "nothing changed" test "$before" = "$(snapshot "$A")"

cp "$T/a.ks" "$A/StandbyKsf.ks"
mv "$A/items.mdb" "$T/items.saved"
before=$(snapshot "$A")
t_rc 6 "two vault ids and no item store to tell them apart: repair fails" kmc repair
keep
check "the message names both keystores" \
	grep -Eq 'kmc\.ks \(vault id [0-9a-f]{32}\) and .*StandbyKsf\.ks \(vault id [0-9a-f]{32}\) belong to different vaults' \
	"$T/last.err"
check "nothing changed" test "$before" = "$(snapshot "$A")"
mv "$T/items.saved" "$A/items.mdb"
t_err 0 "with the store back, repair keeps the standby" 'repaired kmc\.ks in' kmc repair
check "kmc.ks is A's own keystore again" cmp -s "$A/kmc.ks" "$T/a.ks"
check "db reads right" get_is right

# ---- status without a key it can use -----------------------------------------------------
# A passphrase vault: status asks for nothing, so it cannot check a MAC,
# and says so instead of calling a forged newer keystore ok.

rm -rf "$A"
"$KMC" --vault "$A" init --protector passphrase --passphrase-file "$T/pp" 2>/dev/null
t "a healthy passphrase vault: status exits 0" kmc status
keep
check "status says the keystores are not verified" \
	grep -Eq '^kmc\.ks +unverified \(generation 1; not verified: needs the key\)' "$T/last.out"
kmc status --json >"$T/st.json" 2>/dev/null
check "status --json: both unverified at generation 1, healthy" \
	jq -e '.keystores["kmc.ks"] == {"state":"unverified","generation":1} and
		.keystores["StandbyKsf.ks"] == {"state":"unverified","generation":1} and .healthy' \
	"$T/st.json"
cp "$A/kmc.ks" "$T/a.ks"
n=$(stat -c %s "$A/kmc.ks")
{
	head -c 28 "$T/a.ks"
	printf '\0\0\0\0\0\0\0\11'	# generation 9, big-endian
	tail -c +37 "$T/a.ks" | head -c $((n - 36 - 32))
} >"$T/body"
{
	cat "$T/body"
	printf '%b' "$(b2sum -l 256 "$T/body" | cut -c1-64 | sed 's/../\\x&/g')"
} >"$A/kmc.ks"
check "the forged keystore has the real size" test "$(stat -c %s "$A/kmc.ks")" = "$n"
t_rc 4 "a forged kmc.ks at generation 9: status exits 4" kmc status
kmc status --json >"$T/st.json" 2>/dev/null
check "status --json: neither is called ok or stale" \
	jq -e '.keystores["kmc.ks"] == {"state":"unverified","generation":9} and
		.keystores["StandbyKsf.ks"] == {"state":"unverified","generation":1}' "$T/st.json"
t_err 0 "repair, which unlocks, puts the genuine keystore back" 'repaired kmc\.ks in' \
	kmc repair --passphrase-file "$T/pp"
check "kmc.ks is the genuine keystore" cmp -s "$A/kmc.ks" "$T/a.ks"
t "status exits 0" kmc status

done_testing
