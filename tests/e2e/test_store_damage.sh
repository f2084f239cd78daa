#!/usr/bin/env bash
# test_store_damage.sh - a damaged items.mdb is refused, never a crash.
# LMDB maps the file and trusts what its pages say: a short file used to
# kill every kmc command and every server loading keys through the
# provider with SIGBUS, and a flipped byte could hand back a 16 MB length.
# Here: truncated copies name the file and the sizes (exit 4, not "format
# version"); a damaged record type byte is an authentication failure; the
# provider under openssl refuses a short store; and tests/e2e/store_damage.c
# flips and truncates copies of a store at thousands of offsets, reading
# each through the library in a child, and counts crashes and forgeries
# (none allowed). KMC_DAMAGE_FULL=1 (make check-full) flips every byte and
# tries every length; under make check-sanitize half as many, elsewhere.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
HELPER=$T/store_damage

# fresh NAME: a copy of the vault at $T/NAME, for one kind of damage.
fresh() {
	rm -rf "${T:?}/$1"
	cp -a "$V" "$T/$1"
	rm -f "$T/$1/items.mdb-lock"
}

secret_file "$T/pw" 'pg-password'
t "kmc init makes a vault" kmc init
t "kmc password set stores pg" kmc password set pg --password-file "$T/pw"
NEED=$(stat -c %s "$V/items.mdb")

# ---- truncated --------------------------------------------------------------

for size in 8192 20000 $((NEED - 1)); do
	fresh short
	truncate -s "$size" "$T/short/items.mdb"
	t_err 4 "items.mdb cut to $size bytes: kmc list names the file and the sizes" \
		"short/items.mdb is truncated: $size bytes, the store needs $NEED" \
		"$KMC" --vault "$T/short" list
	t_err 4 "... and kmc password get refuses it the same way" \
		"short/items.mdb is truncated" "$KMC" --vault "$T/short" password get pg
done
fresh short
truncate -s 4096 "$T/short/items.mdb"
t_err 4 "items.mdb cut inside its second meta page is truncated, not a format version" \
	"short/items.mdb is truncated: its meta page 1 is cut off" \
	"$KMC" --vault "$T/short" status
check "... and the message never says format version" \
	bash -c '! "$1" --vault "$2" list 2>&1 | grep -q "format version"' _ "$KMC" "$T/short"
fresh short
: >"$T/short/items.mdb"
t_err 4 "an empty items.mdb is truncated" "short/items.mdb is truncated" \
	"$KMC" --vault "$T/short" list
check "... and it is left empty" test ! -s "$T/short/items.mdb"
fresh short
dd if=/dev/zero of="$T/short/items.mdb" bs=1 count=16 seek=16 conv=notrunc status=none
t_err 4 "items.mdb with its first meta page zeroed is damaged, named" \
	"short/items.mdb is damaged: meta page 0 is not an LMDB meta page" \
	"$KMC" --vault "$T/short" list

# ---- a damaged record type byte -----------------------------------------------

# flip_type DIR NAME: xor the type byte of every copy of NAME's record in
# DIR/items.mdb (the key, then version 1, type, flags 0, item version 1).
flip_type() {
	local off n=0
	for off in $(LC_ALL=C grep -obUaP "$2\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x01" \
			"$1/items.mdb" | cut -d: -f1); do
		printf '\x42' | dd of="$1/items.mdb" bs=1 seek=$((off + ${#2} + 1)) \
			conv=notrunc status=none
		n=$((n + 1))
	done
	[ "$n" -gt 0 ]
}
fresh typed
check "the record of pg is found in items.mdb to damage" flip_type "$T/typed" pg
t_err 4 "a damaged type byte is an authentication failure, naming the item" \
	'item pg fails authentication' "$KMC" --vault "$T/typed" password get pg
check "... not an item of another type" \
	bash -c '! "$1" --vault "$2" password get pg 2>&1 | grep -q "not a password"' \
	_ "$KMC" "$T/typed"
t_err 4 "kmc password set over it fails authentication too" \
	'item pg fails authentication' \
	"$KMC" --vault "$T/typed" password set pg --password-file "$T/pw"
t_out "the undamaged vault still gives pg" 'pg-password' kmc password get pg

# ---- a record that claims to run past the end of the file -----------------------

# A record too large for its page lives on overflow pages; its node says
# how long it is. Grown to 40,000 bytes (within a record's limit), it
# would run past the end of the file, which LMDB does not check: reading
# it through the map was SIGBUS.
head -c 2700 /dev/zero | tr '\0' x >"$T/bigpw"
chmod 600 "$T/bigpw"
t "kmc password set stores a record on overflow pages" \
	kmc password set bigitem --password-file "$T/bigpw"
fresh long
# The node: size u32, flags u16 (F_BIGDATA 1), key size u16, the key.
long_node() {
	local off
	off=$(LC_ALL=C grep -obUaP '\x01\x00\x07\x00bigitem' "$1/items.mdb" |
		head -n1 | cut -d: -f1)
	[ -n "$off" ] || return 1
	printf '\x40\x9c\x00\x00' | dd of="$1/items.mdb" bs=1 seek=$((off - 4)) \
		conv=notrunc status=none
}
check "the overflow record of bigitem is found in items.mdb to damage" \
	long_node "$T/long"
t_err 4 "a record that runs past the end of the file is refused, not SIGBUS" \
	'record of bigitem is 40000 bytes past the end of the file' \
	"$KMC" --vault "$T/long" password get bigitem
t_out "the undamaged vault still gives pg" 'pg-password' kmc password get pg

# ---- the provider -----------------------------------------------------------------

if command -v openssl >/dev/null 2>&1 && [ -f "$KMC_BUILD/provider/kmc.so" ]; then
	PKI=$T/pki
	t "tools/mkpki.sh makes a CA and a server key" bash "$KMC_TOP/tools/mkpki.sh" "$PKI"
	secret_file "$T/keypw" 'server-key-password'
	t "kmc import stores the server bundle" kmc import -c "$PKI/ca.crt" \
		-s "$PKI/server.crt" -k "$PKI/server.key" --password-file "$T/keypw"
	PROV=(-provider-path "$KMC_BUILD/provider" -provider kmc -provider default)
	t "openssl loads the key through the provider from the whole store" \
		timeout 20 openssl pkey "${PROV[@]}" -in "kmc://$V?item=server" -noout
	fresh short
	truncate -s 8192 "$T/short/items.mdb"
	t_rc 1 "from a truncated store openssl fails, not dies of SIGBUS" \
		timeout 20 openssl pkey "${PROV[@]}" -in "kmc://$T/short?item=server" -noout
else
	echo "# skip: the provider checks need openssl and kmc.so"
fi

# ---- the sweep ----------------------------------------------------------------------

check "the store_damage helper builds" kmc_cc "$HELPER" "$KMC_TOP/tests/e2e/store_damage.c"
mkdir -m 700 "$T/sweep"
SWEEP=${KMC_SANITIZED:+half}
[ -z "${KMC_DAMAGE_FULL:-}" ] || SWEEP=full
quiet_inspections
# shellcheck disable=SC2046
t_err 0 "flipped and truncated copies of a store: no crash, no forgery" \
	' 0 crashes, 0 forgeries$' \
	bash -c '"$1" "$2" $3 >&2' _ "$HELPER" "$T/sweep" "$SWEEP"
sed -n '$p' "$ERR" | sed 's/^/# /'

done_testing
