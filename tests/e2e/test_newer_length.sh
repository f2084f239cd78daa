#!/usr/bin/env bash
# test_newer_length.sh - a keystore (kmc.ks), a binding (kmc.bind), a host
# state file (kmcstate-<vault id>) or a backup's manifest of a newer
# format is refused as newer (exit 4), naming the file and both versions,
# even when the newer format is of another length (a keystore past the
# 64 KiB this format allows, a binding, state file or manifest past the
# 4 KiB they may be read); it is never taken for damage (a keystore
# repaired from its older twin, a binding or state file that kmc repair
# --accept-rollback is said to write again), and nothing on disk changes. docs/format.md, *Versions and compatibility*.
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
t_err 4 "... kmc status says the binding is of a newer format, not damaged" \
	"kmc.bind was written by a newer kmcvault: open the vault with that one" \
	kmc status
check "... on its binding line too" bash -c '"$1" --vault "$2" status | grep -qx "binding        kmc.bind newer format"' _ "$KMC" "$V"
t_err 4 "... and kmc repair --accept-rollback: a newer file is no rollback to accept" \
	"a newer kmcvault wrote it" kmc repair --accept-rollback
check "... and nothing on disk changed" test "$(fingerprint)" = "$before"
cp -p "$T/bind.orig" "$V/kmc.bind"
t_out "with its own kmc.bind back, a reads" "a-1" kmc password get a

# ---- kmc.bind of format 2, past the 4 KiB a binding file may be read ----------
newer "$V/kmc.bind" 2 5000
before=$(fingerprint)
t_err 4 "a kmc.bind of format 2 over 4 KiB: password get refuses it as newer, naming both versions" \
	"kmc.bind has format 2, and this kmc reads format 1 only: a newer kmcvault wrote it" \
	kmc password get a
check "... and never as damaged" bash -c '! grep -q "damaged" "$1"' _ "$LAST_ERR"
t_err 4 "... and kmc repair --accept-rollback does not write over it" \
	"a newer kmcvault wrote it" kmc repair --accept-rollback
check "... kmc status says newer format on its binding line" bash -c '"$1" --vault "$2" status | grep -qx "binding        kmc.bind newer format"' _ "$KMC" "$V"
check "... and nothing on disk changed" test "$(fingerprint)" = "$before"
# Damage is still damage: format 1 over 4 KiB.
cp -p "$T/bind.orig" "$V/kmc.bind"
head -c 5000 /dev/zero >>"$V/kmc.bind"
t_err 4 "a kmc.bind of format 1 over 4 KiB is damaged" \
	"kmc.bind is damaged: more than 261 bytes" kmc password get a
# Format 0, which no kmcvault wrote, is damage too, of the binding's
# length or past 4 KiB: never 'a newer kmcvault wrote it', which would
# leave no way back (kmc repair --accept-rollback keeps a newer binding).
for extra in 0 5000; do
	cp -p "$T/bind.orig" "$V/kmc.bind"
	newer "$V/kmc.bind" 0 "$extra"
	t_err 4 "a kmc.bind of format 0 (+$extra bytes) is damaged, not newer" \
		"kmc.bind is damaged" kmc password get a
	check "... and never said to be a newer kmcvault's" \
		bash -c '! grep -q "newer" "$1"' _ "$LAST_ERR"
	check "... kmc status says damaged on its binding line" bash -c \
		'"$1" --vault "$2" status | grep -qx "binding        kmc.bind damaged"' _ "$KMC" "$V"
	t "... and kmc repair --accept-rollback binds the vault again" \
		kmc repair --accept-rollback
	t_out "... after which a reads" "a-1" kmc password get a
done
# The vault as that last repair bound it is the one the sections below
# start from.
cp -p "$V/kmc.bind" "$T/bind.orig"
cp -p "$(state)" "$T/state.orig"

# ---- kmcstate-<id> of format 2, 8 bytes longer ------------------------------------
newer "$(state)" 2 8
before=$(fingerprint)
t_err 4 "a longer state file of format 2: password get refuses it as newer, naming both versions" \
	"the state file .*kmcstate-[0-9a-f]{32} has format 2, and this kmc reads format 1 only: a newer kmcvault wrote it" \
	kmc password get a
t_err 4 "... password set refuses it the same way" "a newer kmcvault wrote it" \
	kmc password set b --password-file "$T/pw"
t_err 4 "... and kmc repair --accept-rollback does not write over it" \
	"a newer kmcvault wrote it" kmc repair --accept-rollback
check "... and nothing on disk changed" test "$(fingerprint)" = "$before"
cp -p "$T/state.orig" "$(state)"

# ---- kmcstate-<id> of format 2, past the 4 KiB a state file may be read -----------
newer "$(state)" 2 5000
before=$(fingerprint)
t_err 4 "a state file of format 2 over 4 KiB: password get refuses it as newer, naming both versions" \
	"the state file .*kmcstate-[0-9a-f]{32} has format 2, and this kmc reads format 1 only: a newer kmcvault wrote it" \
	kmc password get a
check "... and never as damaged" bash -c '! grep -q "damaged" "$1"' _ "$LAST_ERR"
t_err 4 "... and kmc repair --accept-rollback does not write over it" \
	"a newer kmcvault wrote it" kmc repair --accept-rollback
check "... and nothing on disk changed" test "$(fingerprint)" = "$before"
# Damage is still damage: format 1 of the wrong length.
cp -p "$T/state.orig" "$(state)"
head -c 8 /dev/zero >>"$(state)"
t_err 4 "a state file of format 1, 8 bytes too long, is damaged, naming its length" \
	"kmcstate-[0-9a-f]{32} is damaged \\(74 bytes, not 66\\)" kmc password get a
cp -p "$T/state.orig" "$(state)"
t_out "with its own state file back, a reads" "a-1" kmc password get a

# ---- kmc.ks of format 2, past the 64 KiB of format 1 ------------------------------
cp -p "$V/kmc.ks" "$T/ks.orig"
newer "$V/kmc.ks" 2 70000
before=$(fingerprint)
t_err 4 "a kmc.ks of format 2 over 64 KiB: password get refuses it as newer, naming both versions" \
	"kmc.ks has keystore format version 2, and this kmc reads version 1 only: a newer kmcvault wrote it" \
	kmc password get a
t_err 4 "... password set refuses it too, and never repairs it from its older twin" \
	"a newer kmcvault wrote it" kmc password set b --password-file "$T/pw"
check "... the message says nothing was repaired" bash -c '! grep -q "repaired" "$1"' _ "$LAST_ERR"
t_err 4 "... kmc repair refuses it the same way" "a newer kmcvault wrote it" \
	kmc repair
check "... and nothing on disk changed (kmc.ks kept byte for byte)" \
	test "$(fingerprint)" = "$before"
# Damage is still damage: format 1 over 64 KiB is repaired from the twin.
cp -p "$T/ks.orig" "$V/kmc.ks"
head -c 70000 /dev/zero >>"$V/kmc.ks"
t_out "a kmc.ks of format 1 over 64 KiB is damage: a reads from the twin" \
	"a-1" kmc password get a
t "... and kmc repair writes it again from its twin" kmc repair
check "... which is the original again" cmp -s "$V/kmc.ks" "$T/ks.orig"

# ---- backup.manifest of version 2, longer than version 1 may be --------------------
t "a backup" kmc backup --out "$T/bk"
M=$T/bk/backup.manifest
sed -i '1s/ 1$/ 2/' "$M"
head -c 5000 /dev/zero | tr '\0' x >>"$M" && echo >>"$M"
before=$(fingerprint)
t_err 4 "restore: a manifest of version 2 over 4 KiB is refused as newer, naming both versions" \
	"backup\.manifest has manifest version 2, and this kmc reads version 1 only" \
	kmc restore "$T/bk"
check "... and nothing in the vault changed" test "$(fingerprint)" = "$before"

done_testing
