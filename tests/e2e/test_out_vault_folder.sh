#!/usr/bin/env bash
# test_out_vault_folder.sh - the files kmc writes for the user (--out FILE
# of ca crl, ref, export, unwrap, csr) never go into a vault's own folder,
# whose files the vault may read as its own: a .kmc-restore there made
# every open take the vault for a restore cut off, a StandbyKsf.ks (the
# standby gone) a keystore. Each is refused with exit 2, naming the
# folder, writing nothing and changing nothing; the same folder reached
# through a link too. The same commands into another folder, and into a
# bundle's keys/ folder, write their file.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }

t "kmc init" kmc init
t "ca init root" kmc ca init root --subject "/CN=Out Root CA"
t "cert issue db" kmc cert issue db --ca root --server --subject /CN=db.example
t "key gen k2" kmc key gen k2
ln -s "$V" "$T/link"

# refused DESC FILE FOLDER CMD...: exit 2 naming FOLDER (as given), no
# FILE, the vault as it was.
refused() {
	local desc=$1 file=$2 folder=$3 before
	shift 3
	before=$(snapshot "$V")
	t_err 2 "$desc: refused (exit 2)" "is a vault's folder" kmc "$@"
	check "$desc: the message names the folder" grep -qF "$folder is a vault's folder" "$LAST_ERR"
	check "$desc: no file made" test ! -e "$file" -a ! -L "$file"
	check "$desc: nothing in the vault changed" test "$before" = "$(snapshot "$V")"
}

refused "ca crl --out VAULT/.kmc-restore" "$V/.kmc-restore" "$V" \
	ca crl root --out "$V/.kmc-restore"
refused "ref --out VAULT/.kmc-restore" "$V/.kmc-restore" "$V" \
	ref db --out "$V/.kmc-restore"
refused "export --out VAULT/db.der" "$V/db.der" "$V" \
	export db --format pkcs8-der --no-password --out "$V/db.der"
refused "csr --out VAULT/k2.csr" "$V/k2.csr" "$V" \
	csr k2 --subject /CN=k2 --out "$V/k2.csr"
refused "unwrap --out LINK-TO-VAULT/x.pem (a link to the folder)" "$V/x.pem" \
	"$T/link" unwrap db --out "$T/link/x.pem"
t "after them, kmc status says healthy (no restore cut off)" kmc status
# The standby keystore gone (as after a disk error): a file under its
# name is refused too.
cp -p "$V/StandbyKsf.ks" "$T/standby.saved"
rm "$V/StandbyKsf.ks"
refused "unwrap --out VAULT/StandbyKsf.ks (the standby gone)" "$V/StandbyKsf.ks" \
	"$V" unwrap db --out "$V/StandbyKsf.ks"
cp -p "$T/standby.saved" "$V/StandbyKsf.ks"

# The twins: another folder, and a bundle's keys/ folder, take them.
mkdir "$T/out"
t "ca crl --out another folder" kmc ca crl root --out "$T/out/root.crl"
check "the CRL is there" test -s "$T/out/root.crl"
t "ref --out another folder" kmc ref db --out "$T/out/db.ref"
t "export --out another folder" kmc export db --format pkcs8-der --no-password \
	--out "$T/out/db.der"
t "csr --out another folder" kmc csr k2 --subject /CN=k2 --out "$T/out/k2.csr"
t "unwrap --out another folder" kmc unwrap db --out "$T/out/db.pem"
check "each file is there" test -s "$T/out/db.ref" -a -s "$T/out/db.der" \
	-a -s "$T/out/k2.csr" -a -s "$T/out/db.pem"
t "ref --out VAULT/keys/db/db.ref (a bundle's folder is not the vault's)" \
	kmc ref db --out "$V/keys/db/db.ref"
t "kmc status at the end says healthy" kmc status

done_testing
