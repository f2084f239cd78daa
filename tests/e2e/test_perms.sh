#!/usr/bin/env bash
# test_perms.sh - attacks through the file system: modes, links and owners
# of the vault directory, the keystores, the item store and the host key.
# Each is refused with exit 5 and a message that names the file and the
# fix, and nothing on disk changes. The tests run as root, so "another
# owner" is nobody.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
PW=$T/pw.old
secret_file "$PW" 'hunter2'
PWN=$T/pw.new
secret_file "$PWN" 'n3w passw0rd'
NOBODY=$(id -u nobody)
fresh() {
	rm -rf "$V"
	"$KMC" --vault "$V" init 2>/dev/null &&
		kmc password set db --password-file "$PW" 2>/dev/null
}
unchanged() { test "$before" = "$(snapshot "$V")"; }
# refused WHAT REGEX: reading and writing are both refused with exit 5.
refused() {
	t_err 5 "$1: password get is refused (exit 5)" "$2" kmc password get db
	t_err 5 "$1: password set is refused (exit 5)" "$2" \
		kmc password set db --password-file "$PWN"
	t_err 5 "$1: list is refused (exit 5)" "$2" kmc list
}

# ---- the vault directory -------------------------------------------------------------

fresh
before=$(snapshot "$V")
chmod 770 "$V"
refused "a group-writable vault dir" "$V.*0770.*chmod 700"
t_err 5 "a group-writable vault dir: status is refused (exit 5)" "chmod 700" kmc status
chmod 700 "$V"
check "a group-writable vault dir: nothing changed" unchanged

chmod 702 "$V"
t_err 5 "a world-writable vault dir is refused (exit 5)" "chmod 700" kmc password get db
chmod 700 "$V"

chown nobody "$V"
refused "a vault dir owned by nobody" "$V.*uid $NOBODY"
chown root "$V"
check "a vault dir owned by nobody: nothing changed" unchanged

ln -s "$V" "$T/vlink"
t_err 5 "init through a symbolic link is refused (exit 5)" "symbolic link" \
	"$KMC" --vault "$T/vlink" init
check "... and the vault behind it is unchanged" unchanged

# ---- keystore modes ---------------------------------------------------------------------

for f in kmc.ks StandbyKsf.ks; do
	fresh
	before=$(snapshot "$V")
	chmod 644 "$V/$f"
	refused "$f 0644" "$V/$f has mode 0644.*chmod"
	chmod 600 "$V/$f"
	check "$f 0644: nothing changed" unchanged
done

fresh
before=$(snapshot "$V")
chmod 640 "$V/kmc.ks"
t_err 5 "a group-readable kmc.ks (0640) is refused (exit 5)" "kmc\.ks.*chmod" \
	kmc password get db
chmod 660 "$V/kmc.ks"
t_err 5 "a group-writable kmc.ks (0660) is refused (exit 5)" "kmc\.ks.*chmod" \
	kmc password set db --password-file "$PWN"
chmod 600 "$V/kmc.ks"
check "nothing changed" unchanged

fresh
before=$(snapshot "$V")
chmod 644 "$V/kmc.ks"
t_err 5 "status on a 0644 kmc.ks exits 5 and says to chmod it" "kmc\.ks.*chmod" kmc status
chmod 600 "$V/kmc.ks"
check "nothing changed" unchanged

# ---- keystores replaced by links -------------------------------------------------------

fresh
before=$(snapshot "$V")
cp -p "$V/kmc.ks" "$T/copy.ks"
mv "$V/kmc.ks" "$T/saved.ks"
ln -s "$T/copy.ks" "$V/kmc.ks"
refused "kmc.ks a symbolic link to a copy" "kmc\.ks is a symbolic link"
check "kmc.ks a symbolic link: the link is still there" test -L "$V/kmc.ks"
check "kmc.ks a symbolic link: its target was not written" cmp -s "$T/copy.ks" "$T/saved.ks"
rm "$V/kmc.ks"
mv "$T/saved.ks" "$V/kmc.ks"
check "kmc.ks a symbolic link: nothing changed" unchanged

fresh
before=$(snapshot "$V")
cp -p "$V/StandbyKsf.ks" "$T/copy2.ks"
mv "$V/StandbyKsf.ks" "$T/saved2.ks"
ln -s "$T/copy2.ks" "$V/StandbyKsf.ks"
refused "StandbyKsf.ks a symbolic link" "StandbyKsf\.ks is a symbolic link"
rm "$V/StandbyKsf.ks"
mv "$T/saved2.ks" "$V/StandbyKsf.ks"
check "StandbyKsf.ks a symbolic link: nothing changed" unchanged

fresh
before=$(snapshot "$V")
ln "$V/kmc.ks" "$T/hardlink.ks"
refused "a hard link to kmc.ks" "kmc\.ks has 2 hard links"
rm "$T/hardlink.ks"
check "a hard link to kmc.ks: nothing changed" unchanged

fresh
before=$(snapshot "$V")
ln "$V/StandbyKsf.ks" "$V/extra-name"
refused "a second name for StandbyKsf.ks inside the vault" "StandbyKsf\.ks has 2 hard links"
rm "$V/extra-name"
check "a second name for StandbyKsf.ks: nothing changed" unchanged

# ---- files of another owner ---------------------------------------------------------------

for f in kmc.ks StandbyKsf.ks items.mdb; do
	fresh
	before=$(snapshot "$V")
	chown nobody "$V/$f"
	refused "$f owned by nobody" "$V/$f is owned by uid $NOBODY"
	chown root "$V/$f"
	check "$f owned by nobody: nothing changed" unchanged
done

# ---- the item store ---------------------------------------------------------------------------

fresh
before=$(snapshot "$V")
chmod 644 "$V/items.mdb"
refused "items.mdb 0644" "items\.mdb has mode 0644.*chmod"
chmod 600 "$V/items.mdb"
check "items.mdb 0644: nothing changed" unchanged

fresh
before=$(snapshot "$V")
chmod 644 "$V/items.mdb-lock"
t_err 5 "items.mdb-lock 0644 is refused (exit 5)" "items\.mdb-lock.*chmod" kmc password get db
chmod 600 "$V/items.mdb-lock"
check "items.mdb-lock 0644: nothing changed" unchanged

fresh
before=$(snapshot "$V")
mv "$V/items.mdb" "$T/items.saved"
ln -s "$T/items.saved" "$V/items.mdb"
t_err 5 "items.mdb a symbolic link is refused (exit 5)" "items\.mdb is a symbolic link" \
	kmc password set db --password-file "$PWN"
rm "$V/items.mdb"
mv "$T/items.saved" "$V/items.mdb"
check "items.mdb a symbolic link: nothing changed" unchanged

# ---- the host key -----------------------------------------------------------------------------

fresh
before=$(snapshot "$V")
hk_before=$(sha256sum <"$KMC_HOST_KEY")
chmod 644 "$KMC_HOST_KEY"
refused "host key 0644" "$KMC_HOST_KEY.*0644.*chmod"
chmod 400 "$KMC_HOST_KEY"
check "host key 0644: the vault is unchanged" unchanged
check "host key 0644: the host key is unchanged" test "$hk_before" = "$(sha256sum <"$KMC_HOST_KEY")"

chmod 440 "$KMC_HOST_KEY"
t_err 5 "a group-readable host key (0440) is refused (exit 5)" "$KMC_HOST_KEY.*chmod" \
	kmc password get db
chmod 400 "$KMC_HOST_KEY"
chmod 600 "$KMC_HOST_KEY"
t_out "a host key of mode 0600 is accepted" 'hunter2' kmc password get db
chmod 400 "$KMC_HOST_KEY"
# That read was recorded in audit.log: the refusals below change nothing.
before=$(snapshot "$V")

chown nobody "$KMC_HOST_KEY"
refused "host key owned by nobody" "$KMC_HOST_KEY.*uid $NOBODY"
chown root "$KMC_HOST_KEY"

mv "$KMC_HOST_KEY" "$T/hk.saved"
ln -s "$T/hk.saved" "$KMC_HOST_KEY"
refused "host key a symbolic link" "symbolic link"
rm "$KMC_HOST_KEY"
mv "$T/hk.saved" "$KMC_HOST_KEY"
check "after all host key attacks the vault is unchanged" unchanged
t_out "and opens again once the host key is restored" 'hunter2' kmc password get db
before=$(snapshot "$V")	# the read's record in audit.log

KMC_HOST_KEY=$T/other.key "$KMC" --vault "$T/other-vault" init 2>/dev/null
check "another host key was made for another vault" test -s "$T/other.key"
t_err 3 "a host key that is not this vault's is refused (exit 3)" \
	"$T/other.key is not the one" kmc password get db --host-key "$T/other.key"
check "... and the vault is unchanged" unchanged

# ---- the advice of a refusal ---------------------------------------------------------
# A refusal's advice never changes a folder that may be shared: a keys
# folder given with --keys-dir (/etc/ssl/private is 0710 root:ssl-cert)
# is never to be chmod'ed or chown'ed; only the vault's own keys folder,
# made by kmc for one import, is told chmod 700. (The vault folder, its
# files and the host key are covered above; folders above them in
# test_paths.sh.)

P=$T/pki
KP='server-key-password'
secret_file "$T/kp" "$KP"
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$P" "$KP"
imp() { # imp NAME [ARGS...]: import mkpki's bundle as NAME
	local name=$1
	shift
	kmc import --name "$name" -c "$P/ca.crt" -s "$P/server.crt" \
		-k "$P/server.key" --password-file "$T/kp" "$@"
}
fresh
mkdir -m 0710 "$T/shared-keys"
t_err 5 "a shared --keys-dir (0710) is refused (exit 5)" \
	"keys folder $T/shared-keys has mode 0710.*folder that does not exist yet" \
	imp a --keys-dir "$T/shared-keys"
check "... and its advice is not to chmod it" bash -c '! grep -q chmod "$1"' _ "$LAST_ERR"
mkdir -m 0700 "$T/nobodys-keys"
chown nobody "$T/nobodys-keys"
t_err 5 "a --keys-dir of another user is refused (exit 5)" \
	"keys folder $T/nobodys-keys is owned by uid $NOBODY.*run as its owner" \
	imp b --keys-dir "$T/nobodys-keys"
check "... and its advice is not to chown it" bash -c '! grep -q chown "$1"' _ "$LAST_ERR"
t "an import into the vault's own keys folder" imp c
chmod 755 "$V/keys/c"
t_err 5 "the vault's own keys folder at 0755 is refused with chmod 700 of it" \
	"keys folder $V/keys/c has mode 0755; it must be 0700 \\(chmod 700 $V/keys/c" \
	imp c --replace
chmod 700 "$V/keys/c"
check "the refusals left the folders given empty" \
	bash -c '[ -z "$(ls -A "$1")$(ls -A "$2")" ]' _ "$T/shared-keys" "$T/nobodys-keys"

done_testing
