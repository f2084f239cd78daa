#!/usr/bin/env bash
# test_newer_bind.sh - a binding (kmc.bind) or a host state file
# (kmcstate-<vault id>) of a newer format is refused as newer (exit 4),
# naming the file and both versions, even when the newer format is of
# another length; it is never called damaged (which sends the operator
# to kmc repair --accept-rollback, which would write over it), and
# nothing on disk changes. docs/format.md, *Versions and compatibility*.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
HD=$(dirname "$KMC_HOST_KEY")
kmc() { "$KMC" --vault "$V" "$@"; }
state() { echo "$HD/kmcstate-$(vault_id_of "$V")"; }
# newer FILE VERSION EXTRA: FILE's u16 format version (bytes 8-9) set to
# VERSION and EXTRA zero bytes appended, in place (mode and owner kept).
newer() {
	printf "\\x00\\x$(printf %02x "$2")" |
		dd of="$1" bs=1 seek=8 conv=notrunc status=none &&
		head -c "$3" /dev/zero >>"$1"
}
fingerprint() { snapshot "$V"; sha256sum "$(state)"; }

t "kmc init makes a vault" kmc init
secret_file "$T/pw" 'a-1'
t "a password is set (the state file is written)" \
	kmc password set a --password-file "$T/pw"
cp -p "$V/kmc.bind" "$T/bind.orig"
cp -p "$(state)" "$T/state.orig"

# ---- kmc.bind of format 2, 8 bytes longer ------------------------------------
newer "$V/kmc.bind" 2 8
before=$(fingerprint)
t_err 4 "a longer kmc.bind of format 2: password get refuses it as newer, naming both versions" \
	"kmc.bind has format 2, and this kmc reads format 1 only: a newer kmcvault wrote it" \
	kmc password get a
check "... and never as damaged" bash -c '! grep -q "damaged" "$1"' _ "$LAST_ERR"
t_err 4 "... password set refuses it the same way" "a newer kmcvault wrote it" \
	kmc password set b --password-file "$T/pw"
t_err 4 "... kmc repair refuses it the same way" "a newer kmcvault wrote it" \
	kmc repair
check "... and nothing on disk changed" test "$(fingerprint)" = "$before"
cp -p "$T/bind.orig" "$V/kmc.bind"
t_out "with its own kmc.bind back, a reads" "a-1" kmc password get a

# ---- kmcstate-<id> of format 2, 8 bytes longer ------------------------------------
newer "$(state)" 2 8
before=$(fingerprint)
t_err 4 "a longer state file of format 2: password get refuses it as newer, naming both versions" \
	"the state file .*kmcstate-[0-9a-f]{32} has format 2, and this kmc reads format 1 only: a newer kmcvault wrote it" \
	kmc password get a
t_err 4 "... password set refuses it the same way" "a newer kmcvault wrote it" \
	kmc password set b --password-file "$T/pw"
check "... and nothing on disk changed" test "$(fingerprint)" = "$before"
# Damage is still damage: format 1 of the wrong length.
cp -p "$T/state.orig" "$(state)"
head -c 8 /dev/zero >>"$(state)"
t_err 4 "a state file of format 1, 8 bytes too long, is damaged, naming its length" \
	"kmcstate-[0-9a-f]{32} is damaged \\(74 bytes, not 66\\)" kmc password get a
cp -p "$T/state.orig" "$(state)"
t_out "with its own state file back, a reads" "a-1" kmc password get a

done_testing
