#!/usr/bin/env bash
# test_rollback_record.sh - one record of items.mdb changed behind kmc's
# back, as an attacker (or a careless script) with mdb_load does it, while
# every other record stays current:
#   - an older record of an item put back: kmc password get refuses it
#     (exit 12, naming the item and saying the store disagrees with its
#     digest), prints nothing, and the other items still read;
#   - a removed item put back (a revoked password resurrected): refused;
#   - kmc verify names each such item and exits 4, --json too, and is
#     clean (exit 0) on a sound vault and again once the items are gone;
#   - kmc repair --accept-rollback takes a record put back deliberately
#     as the vault's own, and the audit log says so.
# (Old versions in the history database: tests/unit/test_storetree.c.)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
trap 'rm -rf "$T"' EXIT
command -v mdb_load >/dev/null || { echo "not ok - mdb_load is installed (tools/deps.sh: lmdb-utils)"; exit 1; }

# keep FILE: the last command's stdout (check empties $OUT first).
keep() { cp "$OUT" "$1"; }
# set NAME VALUE: store a password.
set_pw() { secret_file "$T/pw" "$2" && kmc password set "$1" --password-file "$T/pw"; }
dump() { mdb_dump -n -s items "$V/items.mdb" >"$1"; }
load() { mdb_load -n -s items -f "$1" "$V/items.mdb" 2>/dev/null; }

t "a vault" kmc init
t "password db, first value" set_pw db 'db-first'
t "password other" set_pw other 'other-value'
t "password revoked" set_pw revoked 'revoked-value'
t "the verify of a sound vault is clean" kmc verify
keep "$T/v0"
check "... and says how many records it checked" grep -q '^records  *3, 0 ' "$T/v0"
check "a dump of the items with the first value of db" dump "$T/old.dump"
t "password db, second value" set_pw db 'db-second'
t "revoked removed" kmc rm revoked

check "mdb_load puts the older records back" load "$T/old.dump"
t_err 12 "the older record of db is refused (exit 12)" \
	'item db: items\.mdb disagrees with its digest' kmc password get db
keep "$T/g1"
check "... and no value is printed" test ! -s "$T/g1"
t_out "another item still reads" 'other-value' kmc password get other
t_err 12 "the removed item put back is refused" \
	'item revoked: items\.mdb disagrees with its digest' kmc password get revoked
keep "$T/g2"
check "... and no value is printed" test ! -s "$T/g2"

t_rc 4 "kmc verify finds the disagreements (exit 4)" kmc verify
keep "$T/v1"
check "... naming db" grep -q 'item db: the record is not the one the digest holds' "$T/v1"
check "... naming revoked" grep -q 'item revoked: the digest does not hold this record' "$T/v1"
check "... and not other" sh -c "! grep -q 'item other' '$T/v1'"
check "... and says what to do" grep -q 'kmc restore' "$LAST_ERR"
t_rc 4 "kmc verify --json exits 4 too" kmc verify --json
keep "$T/v2"
check "... with ok false and both items" jq -e '.ok == false and
	([.disagreements[].item] | sort) == ["db", "revoked"] and .records == 3' "$T/v2"

t "kmc rm drops a refused item" kmc rm revoked
t "password db set again" set_pw db 'db-third'
t_out "... reads" 'db-third' kmc password get db
t "kmc verify is clean again" kmc verify
t "kmc verify --json too" kmc verify --json
keep "$T/v3"
check "... ok true, no disagreement" jq -e '.ok == true and .disagreements == []' "$T/v3"

# A deliberate restore of one record: refused until accepted, then the
# vault's, with the acceptance in the audit log.
check "a dump of the items with the third value of db" dump "$T/third.dump"
t "password db, fourth value" set_pw db 'db-fourth'
check "mdb_load puts the third value back" load "$T/third.dump"
t_err 12 "... refused" 'item db: items\.mdb disagrees with its digest' kmc password get db
t "kmc repair --accept-rollback accepts it" kmc repair --accept-rollback
t_out "... db reads the value put back" 'db-third' kmc password get db
t "... kmc verify is clean" kmc verify
t "... the audit log verifies" kmc audit verify
t "... kmc audit" kmc audit
keep "$T/a1"
check "... records the acceptance" grep -q 'kmc repair --accept-rollback -> accepted' "$T/a1"

done_testing
