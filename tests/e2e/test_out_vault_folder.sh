#!/usr/bin/env bash
# test_out_vault_folder.sh - the files kmc writes for the user (--out FILE
# of ca crl, ref, export, unwrap, csr; trust sync --file, --conf of cert
# issue and import, backup --out DIR) never go into a vault's own folder,
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
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/pki-ca.key" \
	-out "$T/pki-ca.crt" -subj /CN=trusted -days 30 2>/dev/null

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
# The files kmc keeps writing for you, and a backup folder: a trust sync
# file or a config file named .kmc-restore made every open see a restore
# cut off (servers refused with exit 6), and a backup named
# .kmc-restore.d was taken for a restore's stage and removed by the next
# writer.
t "trust add a CA (for trust sync)" kmc trust add a "$T/pki-ca.crt"
refused "trust sync --file VAULT/.kmc-restore" "$V/.kmc-restore" "$V" \
	trust sync default --file "$V/.kmc-restore"
refused "cert issue --conf VAULT/.kmc-restore" "$V/.kmc-restore" "$V" \
	cert issue web --ca root --server --subject /CN=web.example --conf "$V/.kmc-restore"
refused "cert issue --conf LINK-TO-VAULT/app.conf (a link to the folder)" "$V/app.conf" \
	"$T/link" cert issue web --ca root --server --subject /CN=web.example --conf "$T/link/app.conf"
refused "backup --out VAULT/.kmc-restore.d" "$V/.kmc-restore.d" "$V" \
	backup --out "$V/.kmc-restore.d"
refused "backup --out VAULT/bk/ (a trailing slash)" "$V/bk" "$V" backup --out "$V/bk/"
check "... and no hidden backup folder was begun there" \
	bash -c '! ls -A "$1" | grep -q "backup-"' _ "$V"
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
t "trust sync --file another folder" kmc trust sync default --file "$T/out/ca.pem"
t "cert issue --conf another folder" kmc cert issue web --ca root --server \
	--subject /CN=web.example --conf "$T/out/app.conf"
check "... which it wrote" grep -q '^server_crt' "$T/out/app.conf"
t "backup --out another folder" kmc backup --out "$T/out/bk"
t "backup --out a bundle's keys/ folder" kmc backup --out "$V/keys/db/bk"
t "kmc status at the end says healthy" kmc status

done_testing
