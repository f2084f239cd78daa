#!/usr/bin/env bash
# test_export.sh - kmc export (PKCS#8 DER and PEM, encrypted or not, a
# PKCS#12 keystore) and kmc trust export --format pkcs12, read by their
# real consumers: openssl pkey/pkcs8/pkcs12 and Java's keytool, every
# password given to them from a file, never on a command line. Then
# each refusal: its exit code, a message naming the item, file or
# option, and nothing changed (the vault's files, no file written).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
P=$T/pki
P2=$T/pki2
kmc() { "$KMC" --vault "$V" "$@"; }
trap 'rm -rf "$T"' EXIT

"$KMC_TOP/tools/mkpki.sh" "$P" >/dev/null
MKPKI_CA_CN="second CA" "$KMC_TOP/tools/mkpki.sh" "$P2" >/dev/null
HAVE_KEYTOOL=
command -v keytool >/dev/null && HAVE_KEYTOOL=1

t "init a vault" kmc init
t "import the bundle server" kmc import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.plain.key"
t "trust store clients trusts the first CA as ca1" \
	kmc trust add ca1 "$P/ca.crt" --store clients

pub_of_cert() { openssl x509 -in "$1" -noout -pubkey; }
mode_of() { stat -c %a "$1"; }
same() { [ "$1" = "$2" ] || { echo "'$1' is not '$2'" >&2; false; }; }
not() { ! "$@"; }
not_ok() { ! "$@" >/dev/null 2>&1; }

# ---- PKCS#8 -----------------------------------------------------------------

t "export --format pkcs8-der --no-password" \
	kmc export server --format pkcs8-der --no-password --out "$T/client.pk8"
check "client.pk8 is 0600" same "$(mode_of "$T/client.pk8")" 600
check "openssl pkey -inform DER opens client.pk8: the certificate's key" \
	diff <(openssl pkey -inform DER -in "$T/client.pk8" -pubout) \
	<(pub_of_cert "$P/server.crt")
check "it is the key unwrap gives, byte for byte" \
	cmp "$T/client.pk8" <(kmc unwrap server --format der)

secret_file "$T/pw" 'export-pass word'
t "export --format pkcs8-der --password-file (encrypted)" \
	kmc export server --format pkcs8-der --password-file "$T/pw" \
	--out "$T/enc.pk8"
openssl asn1parse -inform DER -in "$T/enc.pk8" >"$T/enc.asn1" 2>&1
check "encrypted with PBES2, PBKDF2 with HMAC-SHA256, AES-256-CBC" \
	grep -q 'PBES2' "$T/enc.asn1"
check "... hmacWithSHA256" grep -q 'hmacWithSHA256' "$T/enc.asn1"
check "... aes-256-cbc" grep -q 'aes-256-cbc' "$T/enc.asn1"
check "openssl opens it with the password from the file" \
	diff <(openssl pkey -inform DER -in "$T/enc.pk8" -passin "file:$T/pw" -pubout) \
	<(pub_of_cert "$P/server.crt")
secret_file "$T/wrong" 'not the password'
check "another password does not open it" \
	not_ok openssl pkey -inform DER -in "$T/enc.pk8" -passin "file:$T/wrong" -noout

t "export --format pkcs8-pem --password-fd 3, to a pipe" \
	bash -c '"$1" --vault "$2" export server --format pkcs8-pem --password-fd 3 \
		>"$3" 3<"$4"' _ "$KMC" "$V" "$T/enc.pem" "$T/pw"
check "PEM armour of an encrypted PKCS#8 key" \
	grep -q "^-----BEGIN ENCRYPTED $PEM_PK-----" "$T/enc.pem"
check "openssl opens the PEM with the password" \
	diff <(openssl pkey -in "$T/enc.pem" -passin "file:$T/pw" -pubout) \
	<(pub_of_cert "$P/server.crt")

t "export --out - is standard output, as for trust export and csr" \
	bash -c 'cd "$1" && "$2" --vault "$3" export server --format pkcs8-der \
		--password-fd 3 --out - >"$1/dash.pk8" 3<"$4"' _ "$T" "$KMC" "$V" "$T/pw"
check "... no file named - was written" test ! -e "$T/-"
check "... and standard output holds the encrypted key" \
	openssl pkey -inform DER -in "$T/dash.pk8" -passin "file:$T/pw" -noout
t "unwrap --out - is standard output too" \
	bash -c 'cd "$1" && "$2" --vault "$3" unwrap server --out - >"$1/dash.key"' _ "$T" "$KMC" "$V"
check "... no file named - was written" test ! -e "$T/-"
check "... and standard output holds the server's key" \
	diff <(openssl pkey -in "$T/dash.key" -pubout) <(pub_of_cert "$P/server.crt")

t_err 0 "--password-item of a new item: made, said so" \
	"new password, kept as item pem-pass" \
	kmc export server --format pkcs8-pem --password-item pem-pass --out "$T/item.pem"
kmc password get pem-pass >"$T/item.pw" 2>/dev/null
check "the item holds 32 random characters" \
	same "$(tr -d '\n' <"$T/item.pw" | wc -c)" 32
check "the item's password opens the key" \
	openssl pkey -in "$T/item.pem" -passin "file:$T/item.pw" -noout
t "a second export with the same item" \
	kmc export server --format pkcs8-der --password-item pem-pass --out "$T/item.pk8"
check "... says nothing of a new password" not grep -q "new password" "$LAST_ERR"
check "... and the same password opens it" \
	openssl pkey -inform DER -in "$T/item.pk8" -passin "file:$T/item.pw" -noout

# ---- PKCS#12 keystore ---------------------------------------------------------

t_err 0 "export --format pkcs12: its password made as server/keystore-password" \
	"kept as item server/keystore-password" \
	kmc export server --format pkcs12 --out "$T/server.p12"
check "the keystore is 0600" same "$(mode_of "$T/server.p12")" 600
kmc password get server/keystore-password >"$T/ks.pw" 2>/dev/null
check "kmc password get gives the keystore's password" test -s "$T/ks.pw"
openssl pkcs12 -info -in "$T/server.p12" -passin "file:$T/ks.pw" -noout \
	>"$T/p12.info" 2>&1
check "openssl pkcs12 -info opens it with the stored password" \
	grep -q "^MAC: sha256" "$T/p12.info"
check "the key: PBES2, PBKDF2, AES-256-CBC, PRF hmacWithSHA256" \
	grep -q "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, .*hmacWithSHA256" "$T/p12.info"
check "the certificates: PBES2, AES-256-CBC" \
	grep -q "Encrypted data: PBES2, PBKDF2, AES-256-CBC" "$T/p12.info"
openssl pkcs12 -in "$T/server.p12" -passin "file:$T/ks.pw" -nokeys \
	2>/dev/null | openssl crl2pkcs7 -nocrl -certfile /dev/stdin 2>/dev/null |
	openssl pkcs7 -print_certs -noout 2>/dev/null >"$T/p12.certs"
check "it holds the server certificate and the CA" \
	test "$(grep -c '^subject=' "$T/p12.certs")" = 2
check "the key in it is the certificate's" \
	diff <(openssl pkcs12 -in "$T/server.p12" -passin "file:$T/ks.pw" -nocerts \
		-nodes 2>/dev/null | openssl pkey -pubout) <(pub_of_cert "$P/server.crt")
t "a second keystore, --mode 0640 --alias web" \
	kmc export server --format pkcs12 --mode 0640 --alias web --out "$T/web.p12"
check "... is 0640" same "$(mode_of "$T/web.p12")" 640
check "... its group is the user's" same "$(stat -c %g "$T/web.p12")" "$(id -g)"
# The group --mode 0640 lets read, as docs/cli.md says: a set-group-ID
# folder's (the way to hand a service its keystore without a chgrp).
mkdir -m 2750 "$T/sgid" && chgrp "$(id -g nobody)" "$T/sgid"
t "--mode 0640 into a set-group-ID folder" \
	kmc export server --format pkcs12 --mode 0640 --out "$T/sgid/web.p12"
check "... takes the folder's group, 0640" \
	same "$(stat -c '%g %a' "$T/sgid/web.p12")" "$(id -g nobody) 640"
check "... said nothing of a new password" not grep -q "new password" "$LAST_ERR"
check "... and opens with the same stored password" \
	openssl pkcs12 -in "$T/web.p12" -passin "file:$T/ks.pw" -noout
openssl pkcs12 -in "$T/web.p12" -passin "file:$T/ks.pw" -info -nodes \
	>"$T/web.info" 2>&1
check "... its key and certificate under the alias web" \
	test "$(grep -c "friendlyName: web" "$T/web.info")" = 2
check "... and another password does not open it" \
	not_ok openssl pkcs12 -in "$T/web.p12" -passin "file:$T/wrong" -noout

# ---- PKCS#12 truststore ----------------------------------------------------------

t "trust store clients trusts the second CA as ca2" \
	kmc trust add ca2 "$P2/ca.crt" --store clients
t_err 0 "trust export --format pkcs12: its password made as trust:clients/truststore-password" \
	"kept as item trust:clients/truststore-password" \
	kmc trust export --store clients --format pkcs12 --out "$T/trust.p12"
kmc password get trust:clients/truststore-password >"$T/ts.pw" 2>/dev/null
check "the truststore is 0644 (certificates only)" same "$(mode_of "$T/trust.p12")" 644
openssl pkcs12 -in "$T/trust.p12" -passin "file:$T/ts.pw" -nokeys -info \
	>"$T/ts.info" 2>&1
check "each certificate bag is marked trusted (Oracle's attribute)" \
	test "$(grep -c '2.16.840.1.113894.746875.1.1' "$T/ts.info")" = 2
check "each under its alias" grep -q "friendlyName: ca2" "$T/ts.info"
t "trust export without --format: PEM, as before" \
	kmc trust export --store clients --out "$T/trust.pem"
check "... two certificates" test "$(grep -c 'BEGIN CERTIFICATE' "$T/trust.pem")" = 2
t "a second store, gone, trusts ca2" kmc trust add ca2 "$P2/ca.crt" --store gone
t "... exported as PKCS#12: its own password item" \
	kmc trust export --store gone --format pkcs12 --out "$T/gone.p12"
listed() { kmc list 2>/dev/null | grep -q "^$1 "; }
check "... trust:gone/truststore-password is there" listed trust:gone/truststore-password
t "kmc rm trust:gone" kmc rm trust:gone
check "... removes the store's truststore password with it" not listed trust:gone/truststore-password
check "... and leaves the other store's" listed trust:clients/truststore-password

# ---- Java's keytool -------------------------------------------------------------------

if [ -n "$HAVE_KEYTOOL" ]; then
	# Passwords from files (-storepass:file), never on a command line.
	keytool -list -v -storetype PKCS12 -keystore "$T/server.p12" \
		-storepass:file "$T/ks.pw" >"$T/kt.ks" 2>&1
	check "keytool -list: one entry in the keystore" grep -q "contains 1 entry" "$T/kt.ks"
	check "keytool -list: alias server, a PrivateKeyEntry" \
		grep -A2 -q "^Alias name: server" "$T/kt.ks"
	check "... a PrivateKeyEntry" grep -q "^Entry type: PrivateKeyEntry" "$T/kt.ks"
	check "... its chain: the server and the CA" grep -q "^Certificate chain length: 2" "$T/kt.ks"
	keytool -list -storetype PKCS12 -keystore "$T/trust.p12" \
		-storepass:file "$T/ts.pw" >"$T/kt.ts" 2>&1
	check "keytool -list: the truststore holds 2 entries" grep -q "contains 2 entries" "$T/kt.ts"
	check "... ca1, a trustedCertEntry" grep -q "^ca1, .*trustedCertEntry" "$T/kt.ts"
	check "... ca2, a trustedCertEntry" grep -q "^ca2, .*trustedCertEntry" "$T/kt.ts"
	# Keys born in the vault of the other types: RSA and Ed25519 (Java 15
	# and later), each signed by the CA and set on its key.
	for type in rsa3072 ed25519; do
		t "key gen k-$type --type $type" kmc key gen "k-$type" --type "$type"
		t "csr k-$type" kmc csr "k-$type" --subject "/CN=k-$type" --out "$T/k-$type.csr"
		t "the CA signs k-$type" openssl x509 -req -in "$T/k-$type.csr" \
			-CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 9 \
			-out "$T/k-$type.crt"
		t "cert set k-$type" kmc cert set "k-$type" -s "$T/k-$type.crt" -c "$P/ca.crt"
		t "export k-$type --format pkcs12 --password-file" \
			kmc export "k-$type" --format pkcs12 --password-file "$T/pw" --out "$T/k-$type.p12"
		keytool -list -v -storetype PKCS12 -keystore "$T/k-$type.p12" \
			-storepass:file "$T/pw" >"$T/kt.$type" 2>&1
		check "keytool -list: k-$type is a PrivateKeyEntry" \
			grep -q "^Entry type: PrivateKeyEntry" "$T/kt.$type"
		want="3072-bit RSA"
		[ "$type" = rsa3072 ] || want="255-bit Ed25519"
		check "... its key a $want key" grep -q "Public Key Algorithm: $want key" "$T/kt.$type"
	done
else
	echo "# skip: keytool not installed (tools/deps.sh: openjdk-17-jdk-headless)"
fi

# ---- refusals: exit code, message, nothing changed -------------------------------------

t "password set odd/key (a password where a key belongs)" \
	bash -c '"$1" --vault "$2" password set odd/key --password-file "$3"' _ "$KMC" "$V" "$T/pw"
secret_file "$T/long" "$(printf 'x%.0s' {1..101})"
secret_file "$T/hundred" "$(printf 'y%.0s' {1..100})"
# Java (keytool, JSSE) opens a PKCS#12 store only with a printable ASCII
# password: with any other character it reports a wrong password.
secret_file "$T/accented" 'pässwörd'
secret_file "$T/tabbed" $'tab\there'
t "password set accented (not ASCII)" \
	kmc password set accented --password-file "$T/accented"
# Two aliases Java would take as one (it lowers their case).
t "trust store casey trusts the first CA as CA1" kmc trust add CA1 "$P/ca.crt" --store casey
t "... and the second as ca1" kmc trust add ca1 "$P2/ca.crt" --store casey
t "password set long-pass (101 characters)" \
	kmc password set long-pass --password-file "$T/long"
: >"$T/exists"

# refused CODE DESC REGEX ARGS...: kmc ARGS exits CODE, its message
# matches REGEX, and neither the vault nor the folder changed.
refused() {
	local code=$1 desc=$2 re=$3 before after
	shift 3
	before=$(snapshot "$V"; cd "$T" && stat -c "%n %s %a" -- *)
	t_err "$code" "$desc" "$re" kmc "$@"
	after=$(snapshot "$V"; cd "$T" && stat -c "%n %s %a" -- *)
	check "$desc: nothing changed" same "$after" "$before"
}
# A bundle name may have 120 bytes, its default keystore password item
# NAME/keystore-password then more than an item name's 128.
LONGN=$(printf 'n%.0s' {1..115})
t "import a bundle under a name of 115 bytes" kmc import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.plain.key" --name "$LONGN"
refused 2 "a keystore of it keeping its password by default: exit 2, saying why and what to give" \
	"/keystore-password, the item that keeps the keystore's password, would be 133 bytes.*--password-item ITEM" \
	export "$LONGN" --format pkcs12 --out "$T/long.p12"
t "... with --password-item it is made" kmc export "$LONGN" --format pkcs12 --out "$T/long.p12" --password-item long-p12
rm -f "$T/long.p12"
t "kmc key gen fresh: a key born in the vault, no certificate yet" kmc key gen fresh
refused 7 "a keystore of a key without a certificate (exit 7)" "no certificate yet" \
	export fresh --format pkcs12 --out "$T/new.p12"
t "... its PKCS#8 is there all the same" \
	kmc export fresh --format pkcs8-pem --password-file "$T/pw" --out "$T/fresh.pem"
check "... the key kmc unwrap gives" \
	cmp <(openssl pkey -in "$T/fresh.pem" -passin "file:$T/pw" -outform DER) \
	<(kmc unwrap fresh --format der | openssl pkey -inform DER -outform DER)
refused 7 "export of a key the vault does not hold (exit 7)" "holds no key nosuch" \
	export nosuch --format pkcs12 --out "$T/new.p12"
refused 9 "export of an item of another type (exit 9)" "odd/key is a [a-z-]+, not a private-key" \
	export odd --format pkcs8-der --no-password --out "$T/new.pk8"
refused 9 "--password-item of an item of another type (exit 9)" "server/cert is not a password" \
	export server --format pkcs12 --password-item server/cert --out "$T/new.p12"
refused 2 "a password over 100 characters (exit 2)" "101 characters; at most 100" \
	export server --format pkcs12 --password-file "$T/long" --out "$T/new.p12"
refused 2 "a password item of over 100 characters (exit 2)" "long-pass is 101 characters" \
	export server --format pkcs8-der --password-item long-pass --out "$T/new.pk8"
refused 8 "an export over a file that exists (exit 8), no password item made" "exists" \
	export server --format pkcs12 --password-item fresh-item --out "$T/exists"
check "... the file is still empty" test ! -s "$T/exists"
refused 7 "an --out in a folder that does not exist (exit 7), no password item made" \
	"its folder .*/nosuch: No such file" \
	export server --format pkcs12 --password-item fresh-item --out "$T/nosuch/new.p12"
refused 2 "an --out that names no file (exit 2)" "not a file name" \
	export server --format pkcs12 --password-item fresh-item --out "$T/nosuch/"
refused 7 "a truststore into a folder that does not exist (exit 7), no password item made" \
	"folder $T/nodir" \
	trust export --store clients --format pkcs12 --password-item fresh-item \
	--out "$T/nodir/new.p12"
refused 2 "an alias that is not UTF-8 (exit 2), no password item made" \
	"alias is not UTF-8" \
	export server --format pkcs12 --password-item fresh-item --alias $'a\xffb' --out "$T/new.p12"
refused 2 "an alias beyond the BMP, an emoji (exit 2), no password item made" \
	"alias is not UTF-8 text, or holds .* beyond U\+FFFF" \
	export server --format pkcs12 --password-item fresh-item \
	--alias $'ok\xf0\x9f\x98\x80' --out "$T/new.p12"
refused 2 "an alias of 129 bytes (exit 2), saying an alias has 1 to 128" \
	"--alias too long: an alias has 1 to 128 bytes" \
	export server --format pkcs12 --password-item fresh-item \
	--alias "$(printf 'a%.0s' {1..129})" --out "$T/new.p12"
refused 2 "an empty alias (exit 2)" "--alias empty: an alias has 1 to 128 bytes" \
	export server --format pkcs12 --password-item fresh-item --alias "" --out "$T/new.p12"
refused 8 "a truststore of aliases that differ only in case (exit 8), no password item made" \
	"aliases CA1 and ca1 differ only in case" \
	trust export --store casey --format pkcs12 --out "$T/new.p12"
t "... its PEM export is taken" kmc trust export --store casey --out "$T/casey.pem"
rm -f "$T/casey.pem"
refused 2 "a PKCS#12 password that is not ASCII (exit 2), which Java could not open" \
	"the password holds a character other than printable ASCII" \
	export server --format pkcs12 --password-file "$T/accented" --out "$T/new.p12"
refused 2 "a PKCS#12 password holding a tab (exit 2)" "other than printable ASCII" \
	export server --format pkcs12 --password-file "$T/tabbed" --out "$T/new.p12"
refused 2 "a truststore under a password item that is not ASCII (exit 2)" \
	"password in item accented holds a character other than printable ASCII" \
	trust export --store clients --format pkcs12 --password-item accented \
	--out "$T/new.p12"
t "PKCS#8 takes a password that is not ASCII: OpenSSL and libpq open it" \
	kmc export server --format pkcs8-der --password-file "$T/accented" \
	--out "$T/accented.pk8"
check "... and openssl opens it with that password" \
	openssl pkey -inform DER -in "$T/accented.pk8" -passin "file:$T/accented" -noout
rm -f "$T/accented.pk8"
refused 2 "pkcs12 --no-password (exit 2)" "always has a.*password" \
	export server --format pkcs12 --no-password --out "$T/new.p12"
refused 2 "pkcs8 without a password option (exit 2)" "needs --password-file" \
	export server --format pkcs8-pem --out "$T/new.pem"
refused 2 "an unknown format (exit 2)" "pkcs8-der, pkcs8-pem or pkcs12, not jks" \
	export server --format jks --out "$T/new.jks"
refused 2 "no --format (exit 2)" "needs --format" export server --out "$T/new.p12"
refused 2 "--mode 0644 for a key (exit 2)" "--mode 0600 or 0640, not 0644" \
	export server --format pkcs12 --mode 0644 --out "$T/new.p12"
refused 2 "two password sources (exit 2)" "give one of" \
	export server --format pkcs12 --password-file "$T/pw" --password-item x --out "$T/new.p12"
refused 7 "trust export of a store the vault does not hold (exit 7)" "no trust store nosuch" \
	trust export --store nosuch --format pkcs12 --out "$T/new.p12"
refused 2 "trust export --format pem with a password (exit 2)" "PEM takes no password" \
	trust export --store clients --password-file "$T/pw" --out "$T/new.pem"
refused 2 "trust export --format jks (exit 2)" "pem or pkcs12, not jks" \
	trust export --store clients --format jks --out "$T/new.jks"
refused 2 "a bad bundle name (exit 2)" "bundle name" \
	export '../x' --format pkcs12 --out "$T/new.p12"
# Standard output that is a terminal is refused (script gives one).
on_tty() { # on_tty ARGS: kmc ARGS with a terminal as standard output
	script -qec "$(printf '%q ' "$KMC" --vault "$V" "$@")" /dev/null
}
# (script joins stderr to the terminal's output.)
tty_refused() { # tty_refused FILE ARGS: exit 2, one line, the refusal
	local f=$1 rc
	shift
	on_tty "$@" >"$f" 2>&1
	rc=$?
	[ "$rc" = 2 ] && [ "$(wc -l <"$f")" = 1 ] &&
		grep -q "refusing to write to a terminal" "$f" ||
		{ echo "exit $rc: $(cat -v "$f")" >&2; false; }
}
if command -v script >/dev/null; then
	check "export to a terminal: refused (exit 2), nothing but the message" \
		tty_refused "$T/tty1" export server --format pkcs8-der --no-password
	check "trust export --format pkcs12 --out - to a terminal: refused (exit 2)" \
		tty_refused "$T/tty2" trust export --store clients --format pkcs12 --out -
fi
t "a password of exactly 100 characters is taken" \
	kmc export server --format pkcs12 --password-file "$T/hundred" --out "$T/hundred.p12"
check "... and opens the keystore" \
	openssl pkcs12 -in "$T/hundred.p12" -passin "file:$T/hundred" -noout

done_testing
