#!/usr/bin/env bash
# test_rollback.sh - a vault put back from an older copy of itself is
# refused (exit 12) with a message naming what disagrees, and kmc repair
# --accept-rollback takes a deliberate restore: (a) an older items.mdb,
# (b) older keystores, (c) the whole folder with the host protector (the
# state file beside the host key), (d) an LMDB that fell back to its older
# meta page. Bad input: kmc.bind truncated, flipped, a link, a folder,
# another owner; the state file deleted, of another vault, forged. A
# vault with no place outside its folder says so in kmc status.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
HD=$(dirname "$KMC_HOST_KEY")
kmc() { "$KMC" --vault "$V" "$@"; }
put() { secret_file "$T/pw" "$2" && kmc password set "$1" --password-file "$T/pw"; }
reads() { [ "$(kmc password get "$1" 2>/dev/null)" = "$2" ] || { echo "password get $1: not '$2'" >&2; false; }; }
state() { echo "$HD/kmcstate-$(vault_id_of "$V")"; }
accept() {
	t "$1: kmc repair --accept-rollback accepts it" kmc repair --accept-rollback
	check "$1: ... and the audit log records it, with what disagreed" accepted_last
}
# The last acceptance in the audit log names what was refused.
accepted_last() {
	kmc audit | grep 'kmc repair --accept-rollback -> accepted' | tail -n 1 |
		grep -Eq 'accepted: .*(generation|state file|keystore|kmc.bind)' ||
		{ kmc audit | tail -n 3 >&2; false; }
}

t "kmc init makes a vault, bound from birth" kmc init
check "... kmc.bind is there, 0600" test "$(stat -c %a "$V/kmc.bind")" = 600
put a 'a-1'
check "the first change writes the state file beside the host key, 0600" \
	test "$(stat -c %a "$(state)")" = 600
t_out "kmc status: the binding is ok" "binding        kmc.bind ok" \
	bash -c '"$1" --vault "$2" status | grep "^binding"' _ "$KMC" "$V"
t_out "kmc status names the state file as the whole-folder check" \
	"rollback of the whole folder: host state file $(state)" \
	bash -c '"$1" --vault "$2" status | grep "^rollback of"' _ "$KMC" "$V"
check "kmc status --json: binding ok, folder_rollback the state file" \
	test "$(kmc status --json | jq -r '.binding + "|" + .folder_rollback')" = "ok|host state file $(state)"

# ---- (a) an older items.mdb ------------------------------------------------------------
rm -rf "$T/old" && cp -a "$V" "$T/old"
put a 'a-2'
put b 'b-1'
cp "$T/old/items.mdb" "$V/items.mdb" && rm -f "$V/items.mdb-lock"
t_err 12 "(a) an older items.mdb: password get refuses it, naming both generations" \
	"items.mdb is at generation [0-9]+ but kmc.bind vouches for [0-9]+: the item store was put back from an older copy; kmc repair --accept-rollback" \
	kmc password get a
t_err 12 "(a) ... password set too, and nothing is written" "kmc.bind vouches for" put c 'c-1'
t_err 12 "(a) ... kmc status says so, exit 12" "put back from an older copy" kmc status
t_err 12 "(a) ... kmc repair alone does not accept it" "accept-rollback" kmc repair
accept "(a)"
check "(a) ... then a reads the restored value" reads a 'a-1'
t "(a) ... and a write works" put a 'a-3'
t "(a) ... and kmc status is healthy" kmc status

# ---- (a2) a store of the same generation with other items -----------------------------
# A copy of the vault changed apart from it (its state file put back around
# the change, as a copy with no place outside its folder needs no such step)
# reaches the generation the binding vouches for with other records. A
# reader may accept a generation the bindings it read do not name (a writer
# committed between its reads), never one they name with another root.
rm -rf "$T/fork" && cp -a "$V" "$T/fork"
cp -p "$(state)" "$T/state.before"
put f 'f-here'
cp -p "$(state)" "$T/state.after" && cp -p "$T/state.before" "$(state)"
secret_file "$T/pw" 'f-in-the-copy'
t "(a2) the copy takes a change of its own" \
	"$KMC" --vault "$T/fork" password set f --password-file "$T/pw"
cp -p "$T/state.after" "$(state)"
cp "$T/fork/items.mdb" "$V/items.mdb" && rm -f "$V/items.mdb-lock"
t_err 12 "(a2) its items.mdb put in: a reader refuses it, naming the generation" \
	"items.mdb is at generation [0-9]+ as kmc.bind vouches for, but holds other items" \
	kmc password get f
t_err 12 "(a2) ... a writer too" "holds other items" put c 'c-1'
accept "(a2)"
check "(a2) ... then f reads the copy's value" reads f 'f-in-the-copy'

# ---- (b) older keystores ---------------------------------------------------------------
rm -rf "$T/old" && cp -a "$V" "$T/old"
secret_file "$T/pp" 'a passphrase here'
t "(b) protector add passphrase writes new keystores" \
	kmc protector add passphrase --passphrase-file "$T/pp" --argon2-ops 1 --argon2-mem 8
cp -p "$T/old/kmc.ks" "$T/old/StandbyKsf.ks" "$V/"
t_err 12 "(b) older keystores beside the current store: refused, named" \
	"keystores of .* are at generation [0-9]+ but kmc.bind vouches for [0-9]+: they were put back from an older copy" \
	kmc password get a
accept "(b)"
check "(b) ... then the protector set is the old one" \
	test "$(kmc protector list --json | jq -c 'map(.type)')" = '["host"]'
check "(b) ... and a reads" reads a 'a-3'

# ---- (b2) only an older twin left --------------------------------------------------------
# kmc.ks deleted (or damaged) and StandbyKsf.ks put back from an older
# copy: the one keystore that opens is older than the binding. Refused,
# and refused before the twin is written from it: kmc.ks stays missing
# (or as damaged as it was), so nothing is lost and nothing hides what
# happened.
rm -rf "$T/old" && cp -a "$V" "$T/old"
t "(b2) mk rotate writes new keystores" kmc mk rotate
rm -rf "$T/cur" && cp -a "$V" "$T/cur"
b2_same() { snapshot "$V" | diff - "$T/b2.before" >&2; }
for how in deleted damaged; do
	rm -rf "$V" && cp -a "$T/cur" "$V"
	if [ "$how" = deleted ]; then
		rm "$V/kmc.ks"
	else
		printf 'garbage' >"$V/kmc.ks"
	fi
	cp -p "$T/old/StandbyKsf.ks" "$V/"
	snapshot "$V" >"$T/b2.before"
	t_err 12 "(b2) kmc.ks $how, an older StandbyKsf.ks: a reader refuses it, naming the generations" \
		"keystores of .* are at generation [0-9]+ but kmc.bind vouches for [0-9]+: they were put back from an older copy" \
		kmc password get a
	t_err 12 "(b2) ... kmc repair alone refuses it too" "kmc.bind vouches for" kmc repair
	check "(b2) ... and writes no keystore from the older twin" b2_same
	t_err 12 "(b2) ... nor does a write" "kmc.bind vouches for" put c 'c-1'
	check "(b2) ... which leaves the folder as it was" b2_same
done
rm -rf "$V" && cp -a "$T/cur" "$V"
t "(b2) the folder as it was before opens" kmc status

# ---- (c) the whole folder, host protector ---------------------------------------------
rm -rf "$T/old" && cp -a "$V" "$T/old"
put a 'a-4'
rm -rf "$V" && cp -a "$T/old" "$V"
t_err 12 "(c) the whole folder put back: the state file has seen more" \
	"but the state file .*kmcstate-[0-9a-f]{32} has seen [0-9]+: the whole vault folder was put back from an older copy" \
	kmc password get a
# kmc status, the monitoring check, said healthy (exit 0) with the
# refusal only in its "nearest expiry not checked" line.
t_err 12 "(c) ... kmc status says so, exit 12" \
	"the whole vault folder was put back from an older copy" kmc status
check "(c) ... and kmc status --json says it is not healthy" \
	test "$(kmc status --json | jq -r .healthy)" = false
t_err 12 "(c) ... kmc.bind deleted too: still refused" "has no kmc.bind .* the state file .* has seen" \
	bash -c 'rm -f "$2/kmc.bind" && "$1" --vault "$2" password set z --password-file "$3"' _ "$KMC" "$V" "$T/pw"
accept "(c)"
check "(c) ... then a reads the folder's value" reads a 'a-3'
t "(c) ... and a write works" put a 'a-5'

# ---- (d) LMDB falls back to its older meta page ------------------------------------------
# The txnid of MDB_meta sits at byte 144 of each meta page (64-bit LMDB);
# the page with the larger one is current. Zeroing the current one's makes
# LMDB open the older root: the last change vanishes.
put a 'a-6'
PS=$(getconf PAGESIZE)
txn() { od -An -tu8 -j $(($1 * PS + 144)) -N8 "$V/items.mdb" | tr -d ' '; }
new=0
[ "$(txn 1)" -gt "$(txn 0)" ] && new=1
rm -f "$V/items.mdb-lock"
dd if=/dev/zero of="$V/items.mdb" bs=1 count=8 seek=$((new * PS + 144)) conv=notrunc status=none
t_err 12 "(d) a flipped txnid makes LMDB pick the older meta page: refused" \
	"items.mdb is at generation [0-9]+ but kmc.bind vouches for" kmc password get a
accept "(d)"
check "(d) ... then a reads the value before the lost change" reads a 'a-5'

# flip_bit FILE OFFSET: the byte at OFFSET with its low bit flipped (a
# byte written over it could be the one already there, 1 time in 256).
flip_bit() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\x$(printf %02x $((b ^ 1)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# ---- bad input: kmc.bind ------------------------------------------------------------
cp -p "$V/kmc.bind" "$T/bind.good"
truncate -s 100 "$V/kmc.bind"
t_err 4 "kmc.bind truncated: damaged, named" "kmc.bind is damaged \(100 bytes" kmc password get a
cp -p "$T/bind.good" "$V/kmc.bind"
flip_bit "$V/kmc.bind" 60
t_err 4 "kmc.bind with a flipped byte fails its MAC" "kmc.bind fails its MAC" kmc password get a
rm -f "$V/kmc.bind" && ln -s "$T/bind.good" "$V/kmc.bind"
t_err 5 "kmc.bind a link: refused" "kmc.bind" kmc password get a
rm -f "$V/kmc.bind" && mkdir "$V/kmc.bind"
t_err 5 "kmc.bind a folder: refused" "kmc.bind" kmc password get a
rmdir "$V/kmc.bind" && cp -p "$T/bind.good" "$V/kmc.bind"
if [ "$(id -u)" = 0 ]; then
	chown 65534 "$V/kmc.bind"
	t_err 5 "kmc.bind of another owner: refused" "kmc.bind" kmc password get a
	chown 0 "$V/kmc.bind"
fi
check "kmc.bind put back: a reads" reads a 'a-5'

# ---- bad input: the state file ---------------------------------------------------------
S=$(state)
cp -p "$S" "$T/state.good"
rm -f "$S"
t_err 12 "the state file deleted: refused, named" "state file .* is missing" kmc password get a
OV=$T/other
t "another vault with the same host key" "$KMC" --vault "$OV" init
t "... and a change in it, which writes its state file" \
	"$KMC" --vault "$OV" password set o --password-file "$T/pw"
cp -p "$HD/kmcstate-$(vault_id_of "$OV")" "$S"
t_err 12 "the state file of another vault: refused" "belongs to another vault" kmc password get a
cp -p "$T/state.good" "$S"
flip_bit "$S" 40
t_err 12 "a forged state file fails its MAC" "state file .* fails its MAC" kmc password get a
accept "forged state file"
check "... then a reads" reads a 'a-5'

# ---- (c) the whole folder, pkcs11 protector on SoftHSM2 ---------------------------------
MOD=/usr/lib/softhsm/libsofthsm2.so
if [ -e "$MOD" ] && command -v softhsm2-util >/dev/null && command -v pkcs11-tool >/dev/null; then
	export SOFTHSM2_CONF=$T/softhsm2.conf
	mkdir -m 700 "$T/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$T/tokens" >"$SOFTHSM2_CONF"
	softhsm2-util --init-token --free --label rb --so-pin so-pin-1 --pin rb-pin-1 >/dev/null
	secret_file "$T/pin" 'rb-pin-1'
	KV=$T/kv
	kv() { setsid -w "$KMC" --vault "$KV" "$@" --pin-file "$T/pin"; }
	kput() { secret_file "$T/pw" "$2" && kv password set "$1" --password-file "$T/pw"; }
	kreads() { [ "$(kv password get "$1" 2>/dev/null)" = "$2" ] || { echo "not '$2'" >&2; false; }; }
	counter() { echo "kmcvault-counter-$(vault_id_of "$KV")"; }
	data_objects() {
		pkcs11-tool --module "$MOD" --token-label rb --login --pin rb-pin-1 \
			--list-objects --type data 2>/dev/null | grep -c "label: *'$(counter)'"
	}
	t "(c, pkcs11) a vault protected by a key on token rb" \
		kv init --protector pkcs11 --pkcs11-uri "pkcs11:token=rb;object=vk?module-path=$MOD" --create-key
	t "(c, pkcs11) a change" kput k 'k-1'
	check "(c, pkcs11) ... writes one counter object on the token" test "$(data_objects)" = 1
	t_out "(c, pkcs11) kmc status names the counter object" \
		"rollback of the whole folder: token counter object $(counter)" \
		bash -c '"$1" --vault "$2" status | grep "^rollback of"' _ "$KMC" "$KV"
	rm -rf "$T/kold" && cp -a "$KV" "$T/kold"
	t "(c, pkcs11) another change" kput k 'k-2'
	check "(c, pkcs11) ... still one counter object" test "$(data_objects)" = 1
	rm -rf "$KV" && cp -a "$T/kold" "$KV"
	t_err 12 "(c, pkcs11) the whole folder put back: the counter object has seen more" \
		"counter object kmcvault-counter-[0-9a-f]{32} on the token has seen [0-9]+: the whole vault folder was put back" \
		kv password get k
	t "(c, pkcs11) kmc repair --accept-rollback accepts it" kv repair --accept-rollback
	check "(c, pkcs11) ... then k reads the folder's value" kreads k 'k-1'
	pkcs11-tool --module "$MOD" --token-label rb --login --pin rb-pin-1 --delete-object \
		--type data --label "$(counter)" >/dev/null 2>&1
	check "(c, pkcs11) the counter object deleted from the token" test "$(data_objects)" = 0
	t_err 12 "(c, pkcs11) ... is refused, named" "counter object .* is missing" kv password get k
	t "(c, pkcs11) ... and --accept-rollback makes it again" kv repair --accept-rollback
	check "(c, pkcs11) ... one counter object again" test "$(data_objects)" = 1
else
	echo "# skip: (c) with a pkcs11 protector: SoftHSM2 or pkcs11-tool is missing"
fi

# ---- no place outside the folder --------------------------------------------------------
PV=$T/pv
secret_file "$T/pp2" 'another passphrase'
t "a passphrase-only vault" "$KMC" --vault "$PV" init --protector passphrase \
	--passphrase-file "$T/pp2" --argon2-ops 1 --argon2-mem 8
t_out "its status: rollback of the whole folder is not detectable" \
	"rollback of the whole folder: not detectable" \
	bash -c '"$1" --vault "$2" status | grep "^rollback of"' _ "$KMC" "$PV"
rm -f "$PV/kmc.bind"
t_out "without kmc.bind (an old vault): kmc status says not bound yet" \
	"binding        kmc.bind not bound yet" \
	bash -c '"$1" --vault "$2" status | grep "^binding"' _ "$KMC" "$PV"
secret_file "$T/pw" 'p-1'
t "... the first write binds it" "$KMC" --vault "$PV" password set p \
	--password-file "$T/pw" --passphrase-file "$T/pp2"
t_out "... and kmc status says ok" "binding        kmc.bind ok" \
	bash -c '"$1" --vault "$2" status | grep "^binding"' _ "$KMC" "$PV"

done_testing
