#!/usr/bin/env bash
# test_import.sh - kmc import (certImport) end to end: a throwaway PKI from
# tools/mkpki.sh plus bad material made here with the openssl command;
# what lands in the vault, the keys folder and the config file; unwrap,
# cert info, --replace, crl update; and every refusal, each with its exit
# code, a message naming the file and the fault, and nothing changed.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# PEM labels are built, so that no scan for committed keys mistakes them.
PEM_ARMOUR=-----BEGIN

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
mode() { stat -c %a "$1"; }
same_mode() { [ "$(mode "$1")" = "$2" ] || { echo "mode of $1 is $(mode "$1"), wanted $2" >&2; false; }; }
jqt() { jq -e "$2" "$1" >/dev/null; }
starts_with() { head -n1 "$1" | grep -qx -- "$2"; }
# ossl: openssl, quiet unless it fails (then its output goes to stderr).
ossl() { openssl "$@" >"$T/.ossl" 2>&1 || { cat "$T/.ossl" >&2; return 1; }; }

# The whole state a refused command must leave alone: the vault (with the
# default keys folders inside it), and any other folder or file named,
# every entry with its type, mode, owner and, for files, its bytes.
state() {
	local p
	for p in "$@"; do
		if [ -d "$p" ]; then
			(cd "$p" && find . ! -name '*.mdb-lock' -printf '%p %y %m %u\n' | sort &&
				find . -type f ! -name '*.mdb-lock' -print0 | sort -z |
				xargs -0 -r sha256sum)
		elif [ -e "$p" ] || [ -L "$p" ]; then
			stat -c '%n %F %a %U' "$p"
			[ -L "$p" ] || sha256sum "$p"
		else
			echo "$p absent"
		fi
	done
}
unchanged() { # unchanged SAVED PATHS...: the state is still SAVED
	local now
	now=$(state "${@:2}")
	[ "$1" = "$now" ] || { diff <(echo "$1") <(echo "$now") >&2; false; }
}

# ---- material ---------------------------------------------------------------

P=$T/pki
B=$T/bad
KP='server-key-password'
mkdir -m 700 "$B"
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$P" "$KP"
PW=$T/pw
secret_file "$PW" "$KP"
WRONG=$T/pw.wrong
secret_file "$WRONG" 'not the password'

# mkpair TYPE OUT [CA_DIR [EXT [CN]]]: OUT.key, an unencrypted PKCS#8 key of
# TYPE (rsa2048, rsa4096, rsa1024, p256, p384, p521, ed25519), and OUT.crt,
# a certificate for it, subject CN (default localhost), signed by the CA in
# CA_DIR (default the test CA) with ca.cnf's EXT extensions (default server).
mkpair() {
	local type=$1 out=$2 ca=${3:-$P} ext=${4:-server} cn=${5:-localhost}
	case $type in
	rsa*) ossl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${type#rsa}" -out "$out.key" ;;
	p256) ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out.key" ;;
	p384) ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$out.key" ;;
	p521) ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out "$out.key" ;;
	ed25519) ossl genpkey -algorithm ED25519 -out "$out.key" ;;
	*) echo "mkpair: unknown type $type" >&2; return 1 ;;
	esac
	chmod 600 "$out.key"
	ossl req -new -key "$out.key" -subj "/CN=$cn" -out "$out.csr" &&
		ossl x509 -req -in "$out.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" \
			-CAcreateserial -days 30 -extfile "$P/ca.cnf" -extensions "$ext" \
			-out "$out.crt"
}
pubkey_of_cert() { openssl x509 -in "$1" -noout -pubkey; }
pubkey_of_key() { # pubkey_of_key FILE [PASSWORD]
	openssl pkey -in "$1" -pubout -passin "pass:${2:-}" 2>/dev/null
}

# ---- a first import: the mkpki material, with a CRL and a config file --------

t "init a vault" kmc init
CONF=$T/app.conf
cat >"$CONF" <<'EOF'
# the server's settings
listen_addresses = '*'
port = 5432

; an old key, superseded by the import
server_key = /etc/old/server.key
	ssl = on   # indented, with a comment
EOF
chmod 640 "$CONF"
KD=$V/keys/server

t_err 0 "import with -c -s -k -r --conf --password-file succeeds" 'imported server' \
	kmc import -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.key" -r "$P/ca.crl" \
	--conf "$CONF" --password-file "$PW"
t_out "kmc password get server prints the key password" "$KP" kmc password get server
check "the keys folder is <vault>/keys/server, mode 0700" same_mode "$KD" 700
for f in ca.crt server.crt server.key ca.crl; do
	check "the keys folder holds $f, mode 0400" same_mode "$KD/$f" 400
done
check "the keys folder holds only those four files" \
	test "$(ls -A "$KD" | sort | tr '\n' ' ')" = "ca.crl ca.crt server.crt server.key "
check "server.key in the keys folder is byte-identical to the encrypted original" \
	cmp "$KD/server.key" "$P/server.key"
check "ca.crt in the keys folder is the CA certificate" cmp "$KD/ca.crt" "$P/ca.crt"
check "server.crt in the keys folder is the server certificate" cmp "$KD/server.crt" "$P/server.crt"
check "ca.crl in the keys folder is the CRL" cmp "$KD/ca.crl" "$P/ca.crl"

check "the config file keeps its mode 0640" same_mode "$CONF" 640
conf_val() { sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1"; }
conf_is() { # conf_is FILE KEY VALUE: exactly one line KEY = VALUE
	local got
	got=$(conf_val "$1" "$2")
	[ "$got" = "$3" ] || { echo "$2 is '$got', wanted '$3'" >&2; false; }
}
check "the config file: ca_crt names the copy" conf_is "$CONF" ca_crt "$KD/ca.crt"
check "the config file: server_crt names the copy" conf_is "$CONF" server_crt "$KD/server.crt"
check "the config file: server_key names the copy (the old value replaced)" \
	conf_is "$CONF" server_key "$KD/server.key"
check "the config file: crl names the copy" conf_is "$CONF" crl "$KD/ca.crl"
MM=$(conf_val "$CONF" server_key_mm)
check "the config file: server_key_mm is a ciphertext string" \
	grep -Eq '^server_key_mm = kmc:v1:[0-9]+:[A-Za-z0-9_-]+$' "$CONF"
t_out "kmc decrypt of server_key_mm gives the key password" "$KP" kmc decrypt "$MM"
other_lines() { grep -Ev '^[[:space:]]*(ca_crt|server_crt|server_key|crl|server_key_mm)[[:space:]]*=' "$1"; }
check "the config file keeps every other line and comment, in order" \
	diff <(printf '%s\n' "# the server's settings" "listen_addresses = '*'" 'port = 5432' '' \
		'; an old key, superseded by the import' $'\tssl = on   # indented, with a comment') \
	<(other_lines "$CONF")
check "the config file names server_key once" test "$(grep -c '^server_key =' "$CONF")" = 1

kmc list --json >"$T/list.json" 2>/dev/null
check "list --json shows the bundle's items" jqt "$T/list.json" \
	'[.[].name] == ["server","server/ca","server/cert","server/crl","server/key","server/meta"]'
check "list --json: server is a password, server/key a private key" jqt "$T/list.json" \
	'(.[] | select(.name=="server").type) == "password" and (.[] | select(.name=="server/key").type) == "private-key"'

# ---- unwrap -------------------------------------------------------------------

kmc unwrap server >"$T/unwrap.pem" 2>"$T/unwrap.err"
check "unwrap to a pipe exits 0" test $? = 0
check "unwrap gives an unencrypted PKCS#8 PEM key" starts_with "$T/unwrap.pem" "$PEM_ARMOUR PRIVATE KEY-----"
check "the unwrapped key's public key is the certificate's" \
	diff <(pubkey_of_key "$T/unwrap.pem") <(pubkey_of_cert "$P/server.crt")
kmc unwrap server --format der >"$T/unwrap.der" 2>/dev/null
check "unwrap --format der is the same PKCS#8 key in DER" \
	cmp "$T/unwrap.der" <(sed '1d;$d' "$T/unwrap.pem" | base64 -d)
check "... which openssl reads as DER" \
	diff <(openssl pkey -inform DER -in "$T/unwrap.der" -pubout 2>/dev/null) <(pubkey_of_cert "$P/server.crt")
t "unwrap --out F succeeds" kmc unwrap server --out "$T/out.pem"
check "unwrap --out creates F with mode 0600" same_mode "$T/out.pem" 600
check "unwrap --out writes the key" cmp "$T/out.pem" "$T/unwrap.pem"
echo "precious" >"$T/exists.pem"
t_err 8 "unwrap --out refuses to overwrite an existing file (exit 8)" 'exists\.pem exists' \
	kmc unwrap server --out "$T/exists.pem"
check "... and leaves it as it was" test "$(cat "$T/exists.pem")" = precious
if command -v script >/dev/null 2>&1; then
	t_err 2 "unwrap to a terminal is refused (exit 2)" 'refusing to print a private key on a terminal' \
		bash -c 'script -qec "$1 --vault $2 unwrap server" /dev/null 2>&1 >"$3"; rc=$?; cat "$3" >&2; exit $rc' \
		_ "$KMC" "$V" "$T/tty.out"
	check "... and no key reaches the terminal" bash -c '! grep -q "PRIVATE KEY" "$1"' _ "$T/tty.out"
else
	echo "# skipped: unwrap to a terminal (no script command)"
fi
t_err 7 "unwrap of an unknown name exits 7" 'nosuch' kmc unwrap nosuch

# ---- cert info ------------------------------------------------------------------

kmc cert info server --json >"$T/info.json" 2>/dev/null
check "cert info server --json is a JSON array of one certificate" jqt "$T/info.json" 'length == 1'
check "cert info: subject" jqt "$T/info.json" '.[0].subject == "CN=localhost"'
check "cert info: issuer" jqt "$T/info.json" '.[0].issuer == "CN=kmc test CA"'
check "cert info: sans are the DNS name and the IP address" jqt "$T/info.json" \
	'.[0].sans | length == 2 and .[0] == "DNS:localhost" and (.[1] | test("^IP( Address)?:127\\.0\\.0\\.1$"))'
SERIAL=$(openssl x509 -in "$P/server.crt" -noout -serial | cut -d= -f2)
FPR=$(openssl x509 -in "$P/server.crt" -noout -fingerprint -sha256 | cut -d= -f2)
END=$(( $(date -u -d "$(openssl x509 -in "$P/server.crt" -noout -enddate | cut -d= -f2)" +%s) * 1000 ))
check "cert info: serial as openssl shows it" jqt "$T/info.json" ".[0].serial == \"$SERIAL\""
check "cert info: sha256 is openssl's SHA-256 fingerprint" jqt "$T/info.json" ".[0].sha256 == \"$FPR\""
check "cert info: expires is notAfter in ms since the epoch" jqt "$T/info.json" ".[0].expires == $END"
check "cert info: pem is the certificate" \
	cmp <(jq -j '.[0].pem' "$T/info.json") "$P/server.crt"
"$KMC" cert info "$P/server.crt" --json >"$T/info-file.json" 2>/dev/null
check "cert info FILE (no vault) describes the same certificate" \
	jqt "$T/info-file.json" ".[0].sha256 == \"$FPR\" and .[0].expires == $END and .[0].subject == \"CN=localhost\""
kmc cert info server >"$T/info.txt" 2>/dev/null
check "cert info server (text) shows the expiry in ms too" grep -q "($END ms since the epoch)" "$T/info.txt"

# ---- key inputs: formats and types ------------------------------------------------

K=$T/keys
mkdir -m 700 "$K"
secret_file "$K/pw" "$KP"
# forms TYPE OUT: the key OUT.key in every form that applies to TYPE
# (prints the names of the forms made).
forms() {
	local type=$1 out=$2 f
	ossl pkcs8 -topk8 -in "$out.key" -v2 aes-256-cbc -passout "pass:$KP" -out "$out.p8enc.pem" &&
		echo p8enc.pem
	ossl pkcs8 -topk8 -in "$out.key" -v2 aes-256-cbc -passout "pass:$KP" -outform DER \
		-out "$out.p8enc.der" && echo p8enc.der
	cp "$out.key" "$out.p8.pem" && echo p8.pem
	ossl pkey -in "$out.key" -outform DER -out "$out.p8.der" && echo p8.der
	case $type in
	rsa*)
		ossl pkey -in "$out.key" -traditional -aes256 -passout "pass:$KP" -out "$out.legacy.pem" &&
			echo legacy.pem
		ossl rsa -in "$out.key" -traditional -out "$out.pkcs1.pem" && echo pkcs1.pem ;;
	p*)
		ossl pkey -in "$out.key" -traditional -aes256 -passout "pass:$KP" -out "$out.legacy.pem" &&
			echo legacy.pem
		ossl ec -in "$out.key" -out "$out.sec1.pem" && echo sec1.pem ;;
	esac
	for f in "$out".*.{pem,der}; do chmod 600 "$f"; done
}
for type in rsa2048 rsa4096 p256 p384 ed25519; do
	check "made a $type key and a certificate for it" mkpair "$type" "$K/$type"
	for form in $(forms "$type" "$K/$type"); do
		name=$type-${form/./-}
		key=$K/$type.$form
		case $form in
		legacy.pem)
			check "$type legacy PEM has Proc-Type: 4,ENCRYPTED" grep -q '^Proc-Type: 4,ENCRYPTED' "$key" ;;
		pkcs1.pem) check "$type PKCS#1 is an RSA PRIVATE KEY" starts_with "$key" "$PEM_ARMOUR RSA PRIVATE KEY-----" ;;
		sec1.pem) check "$type SEC1 is an EC PRIVATE KEY" starts_with "$key" "$PEM_ARMOUR EC PRIVATE KEY-----" ;;
		esac
		case $form in
		p8enc.* | legacy.*)
			t "import accepts a $type key as $form (encrypted)" \
				kmc import --name "$name" -c "$P/ca.crt" -s "$K/$type.crt" -k "$key" \
				--password-file "$K/pw"
			t_out "... password get $name gives its password" "$KP" kmc password get "$name"
			check "... its copy is the original, byte for byte" cmp "$V/keys/$name/server.key" "$key"
			;;
		*)
			t "import accepts a $type key as $form (unencrypted)" \
				kmc import --name "$name" -c "$P/ca.crt" -s "$K/$type.crt" -k "$key"
			kmc password get "$name" >"$K/got.pw" 2>/dev/null
			check "... it got a random password of at least 20 characters" \
				test "$(wc -c <"$K/got.pw")" -ge 20
			check "... its copy in the keys folder is an ENCRYPTED PRIVATE KEY" \
				starts_with "$V/keys/$name/server.key" "$PEM_ARMOUR ENCRYPTED PRIVATE KEY-----"
			check "... which opens with that password to the same key" \
				diff <(pubkey_of_key "$V/keys/$name/server.key" "$(cat "$K/got.pw")") \
				<(pubkey_of_cert "$K/$type.crt")
			check "... and holds no plaintext key" \
				bash -c '! grep -q "BEGIN[ ]PRIVATE KEY\|BEGIN[ ]RSA PRIVATE\|BEGIN[ ]EC PRIVATE" "$1"' _ \
				"$V/keys/$name/server.key"
			;;
		esac
		check "... unwrap $name gives the certificate's key" \
			diff <(kmc unwrap "$name" 2>/dev/null | openssl pkey -pubout 2>/dev/null) \
			<(pubkey_of_cert "$K/$type.crt")
	done
done

for type in rsa1024 p521; do
	check "made a $type key and a certificate for it" mkpair "$type" "$K/$type"
	before=$(state "$V")
	t_err 9 "a $type key is refused (exit 9)" "$type\\.key: .*(RSA key of 1024 bits|EC key on (secp521r1|P-521))" \
		kmc import --name "$type" -c "$P/ca.crt" -s "$K/$type.crt" -k "$K/$type.key"
	check "... and nothing changed" unchanged "$before" "$V"
done

# ---- bad material -------------------------------------------------------------------
# Every case goes through refused(): an import with --replace over the
# bundle above (so that skipping a check would change something), and the
# vault, its keys folder and the config file exactly as before.

names() { # names REGEX FILE: the kept message matches
	grep -Eq -- "$1" "$2" || { echo "the message was: $(cat "$2")" >&2; false; }
}
refused() { # refused CODE DESC REGEX IMPORT-ARGS...
	local code=$1 desc=$2 re=$3 before
	shift 3
	before=$(state "$V" "$CONF")
	t_err "$code" "$desc" "$re" kmc import --replace --conf "$CONF" "$@"
	check "$desc: nothing changed" unchanged "$before" "$V" "$CONF"
}
CA=(-c "$P/ca.crt")
GOOD=(-c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.key" --password-file "$PW")

# A CA database apart from mkpki's, to sign with chosen dates.
CADB=$T/cadb
mkdir -m 700 "$CADB"
cp "$P/ca.cnf" "$P/ca.crt" "$P/ca.key" "$CADB/"
: >"$CADB/index.txt"
echo 'unique_subject = no' >"$CADB/index.txt.attr"
echo 2000 >"$CADB/serial"
echo 2000 >"$CADB/crlnumber"
sign_dated() { # sign_dated START END OUT: the server CSR signed for those dates
	(cd "$CADB" && ossl ca -config ca.cnf -batch -notext -startdate "$1" -enddate "$2" \
		-extensions server -in "$P/server.csr" -out "$3")
}
check "signed an expired server certificate" sign_dated 20200101000000Z 20210101000000Z "$B/expired.crt"
refused 9 "an expired certificate is refused (exit 9)" 'expired\.crt: certificate CN=localhost has expired' \
	"${CA[@]}" -s "$B/expired.crt" -k "$P/server.key" --password-file "$PW"
check "signed a not-yet-valid server certificate" sign_dated 20990101000000Z 20991231000000Z "$B/future.crt"
refused 9 "a not-yet-valid certificate is refused (exit 9)" 'future\.crt: certificate .*not valid yet' \
	"${CA[@]}" -s "$B/future.crt" -k "$P/server.key" --password-file "$PW"

check "mkpki.sh makes a second, unrelated PKI" bash "$KMC_TOP/tools/mkpki.sh" "$T/pki2"
cp "$T/pki2/ca.crt" "$B/other-ca.crt"
cp "$T/pki2/ca.crl" "$B/other-ca.crl"
refused 9 "a server certificate of another CA is refused (exit 9)" \
	'server\.crt does not chain to the CA in .*other-ca\.crt' \
	-c "$B/other-ca.crt" -s "$P/server.crt" -k "$P/server.key" --password-file "$PW"
refused 9 "a CRL of another CA is refused (exit 9)" 'other-ca\.crl is not signed by the CA in .*ca\.crt' \
	"${GOOD[@]}" -r "$B/other-ca.crl"

# An intermediate CA between the root and a leaf.
INT=$T/int
mkdir -m 700 "$INT"
check "made an intermediate CA" mkpair p256 "$INT/ca" "$P" v3_ca 'kmc test intermediate'
check "made a leaf signed by the intermediate" mkpair p256 "$INT/leaf" "$INT"
cp "$INT/leaf.crt" "$B/leaf-only.crt"
refused 9 "a leaf without its intermediate is refused (exit 9)" \
	'leaf-only\.crt does not chain to the CA in .*ca\.crt: unable to get local issuer' \
	"${CA[@]}" -s "$B/leaf-only.crt" -k "$INT/leaf.key"
cat "$INT/leaf.crt" "$INT/ca.crt" >"$INT/chain.crt"
t "the leaf with the intermediate appended is accepted" \
	kmc import --name chained "${CA[@]}" -s "$INT/chain.crt" -k "$INT/leaf.key"
check "... the copy holds both certificates" cmp "$V/keys/chained/server.crt" "$INT/chain.crt"
kmc cert info chained --json >"$T/chain.json" 2>/dev/null
check "... cert info lists the leaf, then the intermediate" jqt "$T/chain.json" \
	'length == 2 and .[0].issuer == "CN=kmc test intermediate" and .[1].issuer == "CN=kmc test CA"'

# Two intermediates given in the wrong order (the one the root signed
# first): stored, and so served, leaf first and each certified by the
# next, as TLS 1.2 wants what a server sends (strict clients refuse it
# otherwise). The build before kept the order of the file.
INT2=$T/int2
mkdir -m 700 "$INT2"
check "made a second intermediate, under the first" mkpair p256 "$INT2/ca" "$INT" v3_ca 'kmc test intermediate 2'
check "made a leaf signed by the second" mkpair p256 "$INT2/leaf" "$INT2"
cat "$INT2/leaf.crt" "$INT/ca.crt" "$INT2/ca.crt" >"$INT2/shuffled.crt"
t "leaf, then the root's intermediate, then the leaf's: accepted" \
	kmc import --name shuffled "${CA[@]}" -s "$INT2/shuffled.crt" -k "$INT2/leaf.key"
kmc cert info shuffled --json >"$T/shuffled.json" 2>/dev/null
check "... cert info lists them in path order: leaf, its issuer, then the root's" jqt "$T/shuffled.json" \
	'length == 3 and .[0].issuer == "CN=kmc test intermediate 2" and .[1].issuer == "CN=kmc test intermediate" and .[2].issuer == "CN=kmc test CA"'
check "... and the copy in the keys folder is in that order" \
	cmp "$V/keys/shuffled/server.crt" <(cat "$INT2/leaf.crt" "$INT2/ca.crt" "$INT/ca.crt")

refused 9 "the key of another certificate is refused (exit 9)" \
	'client\.key does not belong to the certificate .* in .*server\.crt' \
	"${CA[@]}" -s "$P/server.crt" -k "$P/client.key"

cp -a "$P" "$T/pki-rs"
check "revoked the server certificate (crl.sh server.crt)" bash "$T/pki-rs/crl.sh" server.crt
cp "$T/pki-rs/ca.crl" "$B/revokes-server.crl"
refused 9 "a CRL that revokes the server certificate is refused (exit 9)" \
	'server\.crt: certificate .* is revoked by .*revokes-server\.crl' \
	"${GOOD[@]}" -r "$B/revokes-server.crl"

refused 3 "a wrong key password is refused (exit 3)" 'server\.key: the password does not open the key' \
	"${CA[@]}" -s "$P/server.crt" -k "$P/server.key" --password-file "$WRONG"

# PKCS#5 v1.5 (PBKDF1 with MD5 and DES) needs OpenSSL's legacy provider,
# which kmc does not load: the right password must not be called wrong.
if openssl list -providers -provider legacy >/dev/null 2>&1; then
	check "a key encrypted with PBE-MD5-DES (legacy provider)" \
		ossl pkcs8 -topk8 -in "$P/server.plain.key" -v1 PBE-MD5-DES -provider legacy \
		-provider default -passout "pass:$KP" -out "$B/legacy-pbe.key"
	chmod 600 "$B/legacy-pbe.key"
	refused 9 "a key under a PBE this OpenSSL lacks is refused (exit 9), the password not blamed" \
		'legacy-pbe\.key is encrypted with an algorithm this OpenSSL does not offer \(PBKDF1\); encrypt it anew' \
		"${CA[@]}" -s "$P/server.crt" -k "$B/legacy-pbe.key" --password-file "$PW"
else
	echo "# skip: OpenSSL's legacy provider is missing; no PBE-MD5-DES key to try"
fi

PW100=$(printf 'p%.0s' {1..99})X
PW101=${PW100}Y
secret_file "$B/pw100" "$PW100"
secret_file "$B/pw101" "$PW101"
check "a key encrypted under a 101-character password" \
	ossl pkcs8 -topk8 -in "$P/server.plain.key" -v2 aes-256-cbc -passout "pass:$PW101" -out "$B/key101.key"
refused 2 "a 101-character key password is refused (exit 2)" '101 characters.*at most 100' \
	"${CA[@]}" -s "$P/server.crt" -k "$B/key101.key" --password-file "$B/pw101"
check "... and the message names the key or the password file" \
	names 'key101\.key|pw101' "$LAST_ERR"
check "a key encrypted under a 100-character password" \
	ossl pkcs8 -topk8 -in "$P/server.plain.key" -v2 aes-256-cbc -passout "pass:$PW100" -out "$B/key100.key"
t "a 100-character key password is accepted" \
	kmc import --name pw100 "${CA[@]}" -s "$P/server.crt" -k "$B/key100.key" --password-file "$B/pw100"
t_out "... and kept whole" "$PW100" kmc password get pw100

cp "$P/server.key" "$B/key644.key"
chmod 644 "$B/key644.key"
refused 5 "a key of mode 0644 is refused (exit 5)" 'key644\.key has mode 0644' \
	"${CA[@]}" -s "$P/server.crt" -k "$B/key644.key" --password-file "$PW"
cp "$P/server.key" "$B/key640.key"
chmod 640 "$B/key640.key"
t "a key of mode 0640 is accepted" \
	kmc import --name key640 "${CA[@]}" -s "$P/server.crt" -k "$B/key640.key" --password-file "$PW"

for f in ca.crt server.crt server.key ca.crl; do
	ln -s "$P/$f" "$B/link-$f"
done
refused 5 "a CA certificate reached by a symbolic link is refused (exit 5)" \
	'link-ca\.crt is reached through a symbolic link' \
	-c "$B/link-ca.crt" -s "$P/server.crt" -k "$P/server.key" --password-file "$PW"
refused 5 "a server certificate reached by a symbolic link is refused (exit 5)" \
	'link-server\.crt is reached through a symbolic link' \
	"${CA[@]}" -s "$B/link-server.crt" -k "$P/server.key" --password-file "$PW"
refused 5 "a key reached by a symbolic link is refused (exit 5)" \
	'link-server\.key is reached through a symbolic link' \
	"${CA[@]}" -s "$P/server.crt" -k "$B/link-server.key" --password-file "$PW"
refused 5 "a CRL reached by a symbolic link is refused (exit 5)" \
	'link-ca\.crl is reached through a symbolic link' "${GOOD[@]}" -r "$B/link-ca.crl"
ln -s "$P" "$T/pki-link"
refused 5 "a file under a symbolically linked folder is refused (exit 5)" \
	'pki-link/server\.crt is reached through a symbolic link' \
	"${CA[@]}" -s "$T/pki-link/server.crt" -k "$P/server.key" --password-file "$PW"

cp "$P/server.crt" "$B/nobody.crt"
cp "$P/server.key" "$B/nobody.key"
if chown nobody "$B/nobody.crt" "$B/nobody.key" 2>/dev/null; then
	refused 5 "a certificate owned by another user is refused (exit 5)" \
		'nobody\.crt is owned by uid [0-9]+' \
		"${CA[@]}" -s "$B/nobody.crt" -k "$P/server.key" --password-file "$PW"
	refused 5 "a key owned by another user is refused (exit 5)" \
		'nobody\.key is owned by uid [0-9]+' \
		"${CA[@]}" -s "$P/server.crt" -k "$B/nobody.key" --password-file "$PW"
else
	echo "# skipped: files of another owner (chown needs root)"
fi

: >"$B/empty.crt"
refused 2 "an empty certificate file is refused (exit 2)" 'empty\.crt is empty' \
	"${CA[@]}" -s "$B/empty.crt" -k "$P/server.key" --password-file "$PW"
: >"$B/empty.key"
chmod 600 "$B/empty.key"
refused 2 "an empty key file is refused (exit 2)" 'empty\.key is empty' \
	"${CA[@]}" -s "$P/server.crt" -k "$B/empty.key" --password-file "$PW"
head -c $(( $(wc -c <"$P/server.crt") / 2 )) "$P/server.crt" >"$B/half.crt"
refused 2 "a truncated PEM certificate is malformed input (exit 2)" 'half\.crt: truncated or damaged PEM certificate' \
	"${CA[@]}" -s "$B/half.crt" -k "$P/server.key" --password-file "$PW"
# Whole files of another kind: said what they hold, not "damaged".
openssl crl2pkcs7 -nocrl -certfile "$P/server.crt" -out "$B/bundle.p7b"
refused 2 "a PKCS#7 bundle for -s: said so, with the command that converts it (exit 2)" \
	'bundle\.p7b holds no certificate but a PEM PKCS7 \(a certificate bundle: openssl pkcs7 -print_certs' \
	"${CA[@]}" -s "$B/bundle.p7b" -k "$P/server.key" --password-file "$PW"
refused 2 "a key given for -s: said so (exit 2)" \
	'server\.key holds no certificate but a PEM ENCRYPTED PRIVATE KEY' \
	"${CA[@]}" -s "$P/server.key" -k "$P/server.key" --password-file "$PW"
refused 2 "the CA certificate given for -r: said so (exit 2)" \
	'ca\.crt holds no CRL but a PEM CERTIFICATE' \
	"${GOOD[@]}" -r "$P/ca.crt"
head -c $(( $(wc -c <"$P/ca.crl") / 2 )) "$P/ca.crl" >"$B/half.crl"
refused 2 "a truncated PEM CRL is malformed input (exit 2)" 'half\.crl: truncated or damaged PEM CRL' \
	"${GOOD[@]}" -r "$B/half.crl"
head -c $(( $(wc -c <"$P/server.key") / 2 )) "$P/server.key" >"$B/half.key"
chmod 600 "$B/half.key"
refused 2 "a truncated encrypted key is malformed input (exit 2), not a wrong password" \
	'half\.key: .*(truncated|damaged)' \
	"${CA[@]}" -s "$P/server.crt" -k "$B/half.key" --password-file "$PW"
head -c $(( $(wc -c <"$P/server.plain.key") / 2 )) "$P/server.plain.key" >"$B/half-plain.key"
chmod 600 "$B/half-plain.key"
refused 2 "a truncated unencrypted key is malformed input (exit 2)" 'half-plain\.key: .*truncated' \
	"${CA[@]}" -s "$P/server.crt" -k "$B/half-plain.key"

# Garbage in any input file is malformed input (exit 2, cli.md), not a
# damaged vault (exit 4), and names the file.
head -c 600 /dev/urandom | base64 >"$B/garbage"
chmod 600 "$B/garbage"
refused 2 "a CA file of garbage is malformed input (exit 2)" 'garbage: not a certificate' \
	-c "$B/garbage" -s "$P/server.crt" -k "$P/server.key" --password-file "$PW"
refused 2 "a server certificate file of garbage is malformed input (exit 2)" 'garbage: not a certificate' \
	"${CA[@]}" -s "$B/garbage" -k "$P/server.key" --password-file "$PW"
refused 2 "a key file of garbage is malformed input (exit 2)" 'garbage: not a private key' \
	"${CA[@]}" -s "$P/server.crt" -k "$B/garbage"
refused 2 "a CRL file of garbage is malformed input (exit 2)" 'garbage: not a CRL' \
	"${GOOD[@]}" -r "$B/garbage"

ossl x509 -in "$P/server.crt" -outform DER -out "$B/der.crt"
t "a DER certificate named .crt is accepted" \
	kmc import --name der "${CA[@]}" -s "$B/der.crt" -k "$P/server.key" --password-file "$PW"
check "... its copy in the keys folder is PEM" starts_with "$V/keys/der/server.crt" '-----BEGIN CERTIFICATE-----'
check "... of the same certificate" cmp "$V/keys/der/server.crt" "$P/server.crt"

chmod 755 "$KD"
refused 5 "a keys folder of mode 0755 is refused (exit 5)" 'keys folder .*/keys/server has mode 0755' \
	"${GOOD[@]}"
chmod 700 "$KD"
mkdir -m 755 "$T/open-keys"
before=$(state "$V" "$T/open-keys")
t_err 5 "a --keys-dir of mode 0755 is refused (exit 5)" 'keys folder .*open-keys has mode 0755' \
	kmc import --name openkeys "${GOOD[@]}" --keys-dir "$T/open-keys"
check "... and nothing changed" unchanged "$before" "$V" "$T/open-keys"

cp "$CONF" "$T/real.conf"
ln -s "$T/real.conf" "$T/link.conf"
before=$(state "$V" "$CONF" "$T/real.conf" "$T/link.conf")
t_err 5 "a config file that is a symbolic link is refused (exit 5)" 'link\.conf is a symbolic link' \
	kmc import --replace --conf "$T/link.conf" "${GOOD[@]}"
check "... and nothing changed" unchanged "$before" "$V" "$CONF" "$T/real.conf" "$T/link.conf"

# The same on a fresh vault, where the default keys folder does not exist yet.
VF=$T/fresh
"$KMC" --vault "$VF" init 2>/dev/null
before=$(state "$VF" "$T/real.conf" "$T/link.conf")
t_err 5 "a config file that is a symbolic link is refused on a fresh vault (exit 5)" \
	'link\.conf is a symbolic link' \
	"$KMC" --vault "$VF" import --conf "$T/link.conf" "${GOOD[@]}"
check "... and nothing changed in the fresh vault (no keys folder made)" \
	unchanged "$before" "$VF" "$T/real.conf" "$T/link.conf"

# No password file and no terminal: asked for, not guessed.
before=$(state "$V" "$CONF")
t_err 2 "an encrypted key with no password file and no terminal is refused (exit 2)" \
	'no terminal to ask for the password of .*server\.key' \
	kmc import --replace --conf "$CONF" "${CA[@]}" -s "$P/server.crt" -k "$P/server.key"
check "... and nothing changed" unchanged "$before" "$V" "$CONF"

# ---- a keys folder of one's choosing ---------------------------------------------------

t "import --keys-dir DIR (not there yet) succeeds" \
	kmc import --name own "${GOOD[@]}" -r "$P/ca.crl" --keys-dir "$T/own-keys"
check "... DIR is made with mode 0700" same_mode "$T/own-keys" 700
check "... and holds the four copies, each 0400" \
	test "$(cd "$T/own-keys" && stat -c '%n %a' * | tr '\n' ' ')" = \
	"ca.crl 400 ca.crt 400 server.crt 400 server.key 400 "
check "... no default keys folder is made for it" test ! -e "$V/keys/own"

# ---- a new config file ----------------------------------------------------------------

t "import --conf with a config file that does not exist yet" \
	kmc import --name newconf "${GOOD[@]}" --conf "$T/new.conf"
check "... creates it with mode 0600" same_mode "$T/new.conf" 600
check "... holding ca_crt, server_crt, server_key and server_key_mm (no CRL given)" \
	test "$(grep -Eo '^(ca_crt|server_crt|server_key|crl|server_key_mm) = ' "$T/new.conf" | tr -d ' =' | tr '\n' ' ')" = \
	"ca_crt server_crt server_key server_key_mm "

# ---- a config file's owner, group, extended attributes and line endings -----------------
# A service that reads its config through its group (root:svc 0640) or an ACL
# must still read it after kmc rewrites it; a CRLF file stays CRLF.

GC=$T/group.conf
printf '# CRLF settings\r\nport = 5432\r\nserver_key = /etc/old.key\r\n' >"$GC"
chmod 640 "$GC"
if [ "$(id -u)" = 0 ]; then
	other_group=daemon
else	# a supplementary group of ours, if any
	other_group=$(id -Gn | tr ' ' '\n' | grep -vxF "$(id -gn)" | head -n1)
fi
[ -n "$other_group" ] && chgrp "$other_group" "$GC"
xattrs() { # xattrs FILE: every extended attribute, name and value
	getfattr --absolute-names -d -m - -e hex "$1" | sed 1d
}
# user.* and a POSIX ACL giving daemon read (tools/deps.sh installs attr
# and acl; a file system without xattrs or ACLs skips these checks).
have_xattrs=
if setfattr -n user.kmc-test -v kept "$GC" 2>/dev/null &&
	setfacl -m u:daemon:r "$GC" 2>/dev/null; then
	have_xattrs=1
else
	echo "# skipped: $T does not take extended attributes or ACLs"
fi
owner_before=$(stat -c '%u:%g %a' "$GC")
xattrs_before=$( [ -z "$have_xattrs" ] || xattrs "$GC")
t "import --conf into a CRLF file of group ${other_group:-(ours)} with xattrs" \
	kmc import --name grp "${GOOD[@]}" --conf "$GC"
check "... keeps its owner, group and mode ($owner_before)" \
	test "$(stat -c '%u:%g %a' "$GC")" = "$owner_before"
if [ -n "$other_group" ]; then
	check "... still of group $other_group" test "$(stat -c %G "$GC")" = "$other_group"
fi
if [ -n "$have_xattrs" ]; then
	check "... keeps its extended attributes and its ACL" \
		test "$(xattrs "$GC")" = "$xattrs_before"
	check "... (the ACL is there: system.posix_acl_access)" \
		grep -q '^system.posix_acl_access=' <(xattrs "$GC")
fi
check "... every line still ends in CRLF" bash -c '! grep -qv $'"'"'\r$'"'"' "$1"' _ "$GC"
check "... and server_key was rewritten in place" \
	grep -qx $'server_key = '"$V"$'/keys/grp/server.key\r' "$GC"
t "crl update of that bundle rewrites the file again" kmc crl update grp -r "$P/ca.crl"
check "... which still keeps its owner, group and mode" \
	test "$(stat -c '%u:%g %a' "$GC")" = "$owner_before"
if [ -n "$have_xattrs" ]; then
	check "... and its extended attributes" test "$(xattrs "$GC")" = "$xattrs_before"
fi
check "... and stays CRLF" bash -c '! grep -qv $'"'"'\r$'"'"' "$1"' _ "$GC"
kmc rm grp >/dev/null 2>&1

# ---- the same name again ---------------------------------------------------------------

before=$(state "$V" "$CONF")
t_err 8 "a second import under the same name without --replace exits 8" 'already holds server.*--replace' \
	kmc import --conf "$CONF" "${GOOD[@]}" -r "$P/ca.crl"
check "... and changes nothing" unchanged "$before" "$V" "$CONF"

# ---- crl update -------------------------------------------------------------------------

cp -a "$P" "$T/pki-rc"
check "revoked the client certificate (crl.sh client.crt)" bash "$T/pki-rc/crl.sh" client.crt
NEWCRL=$T/new.crl
cp "$T/pki-rc/ca.crl" "$NEWCRL"
conf_before=$(other_lines "$CONF"; conf_val "$CONF" crl)
t_err 0 "crl update with a CRL revoking the client succeeds" 'CRL of server is now' \
	kmc crl update server -r "$NEWCRL"
check "... keys/server/ca.crl is the new CRL" cmp "$KD/ca.crl" "$NEWCRL"
check "... still mode 0400" same_mode "$KD/ca.crl" 400
kmc list --json >"$T/list.json" 2>/dev/null
check "... the vault item server/crl has a new version" \
	jqt "$T/list.json" '.[] | select(.name=="server/crl") | .version == 2'
check "... the config file still names the copy and keeps its other lines" \
	test "$conf_before" = "$(other_lines "$CONF"; conf_val "$CONF" crl)"
check "... and keeps its mode" same_mode "$CONF" 640
before=$(state "$V" "$CONF")
t_err 9 "crl update with a CRL revoking the server certificate is refused (exit 9)" \
	'server/cert: certificate .* is revoked by .*revokes-server\.crl' \
	kmc crl update server -r "$B/revokes-server.crl"
check "... and nothing changed" unchanged "$before" "$V" "$CONF"
before=$(state "$V" "$CONF")
t_err 9 "crl update with another CA's CRL is refused (exit 9)" 'other-ca\.crl is not signed by the CA' \
	kmc crl update server -r "$B/other-ca.crl"
check "... and nothing changed" unchanged "$before" "$V" "$CONF"
t_err 2 "crl update with a CRL file of garbage is malformed input (exit 2)" 'garbage: not a CRL' \
	kmc crl update server -r "$B/garbage"
t_err 2 "cert info on a file of garbage is malformed input (exit 2)" 'garbage: not a certificate' \
	"$KMC" cert info "$B/garbage"
t_err 7 "crl update of an unknown bundle exits 7" 'nosuch' kmc crl update nosuch -r "$NEWCRL"
# The config file the import updated: only one that is gone (ENOENT) is
# skipped; one that cannot be opened would go on naming the old CRL.
mkdir -m 700 "$T/cfx"
secret_file "$T/cfx/app.conf" 'port = 1'
t "a bundle imported with a config file in a folder of its own" \
	kmc import --name cfx "${GOOD[@]}" -r "$P/ca.crl" --conf "$T/cfx/app.conf"
mv "$T/cfx" "$T/cfx.moved" && : >"$T/cfx"
before=$(state "$V" "$T/cfx")
t_err 6 "crl update when a file stands where the config file's folder was fails, naming it" \
	"refused, nothing was changed: cannot update $T/cfx/app\.conf, the config file the import of cfx updated: Not a directory" \
	kmc crl update cfx -r "$NEWCRL"
check "... and nothing changed" unchanged "$before" "$V" "$T/cfx"
rm "$T/cfx" && mkdir -m 700 "$T/cfx" && ln -s "$T/cfx.moved/app.conf" "$T/cfx/app.conf"
before=$(state "$V" "$T/cfx.moved")
t_err 5 "crl update when the config file is now a symbolic link fails, naming it" \
	"cannot update $T/cfx/app\.conf, .*: $T/cfx/app\.conf is a symbolic link" \
	kmc crl update cfx -r "$NEWCRL"
check "... and nothing changed" unchanged "$before" "$V" "$T/cfx.moved"
rm -r "$T/cfx"
t_err 0 "crl update when the config file's folder is gone updates the rest" 'CRL of cfx is now' \
	kmc crl update cfx -r "$NEWCRL"
check "... the keys folder's copy is the new CRL" cmp "$V/keys/cfx/ca.crl" "$NEWCRL"
kmc rm cfx >/dev/null 2>&1
# The config file is the user's input, as at import: a NUL byte or a line
# over 64 KiB in it is malformed input (exit 2), named, and nothing changes.
secret_file "$T/cfn.conf" 'port = 1'
t "a bundle imported with a config file of its own" \
	kmc import --name cfn "${GOOD[@]}" -r "$P/ca.crl" --conf "$T/cfn.conf"
printf 'x = \0\n' >>"$T/cfn.conf"
before=$(state "$V" "$T/cfn.conf")
t_err 2 "crl update when the config file holds a NUL byte is malformed input (exit 2), naming it" \
	"$T/cfn\.conf: cannot update it: it holds a NUL byte" \
	kmc crl update cfn -r "$NEWCRL"
check "... and nothing changed" unchanged "$before" "$V" "$T/cfn.conf"
secret_file "$T/cfn.conf" "x = $(head -c 70000 /dev/zero | tr '\0' a)"
before=$(state "$V" "$T/cfn.conf")
t_err 2 "crl update when the config file has a line over 64 KiB is malformed input (exit 2), naming it" \
	"$T/cfn\.conf: cannot update it: too large, or a line over 64 KiB" \
	kmc crl update cfn -r "$NEWCRL"
check "... and nothing changed" unchanged "$before" "$V" "$T/cfn.conf"
kmc rm cfn >/dev/null 2>&1

# ---- --replace --------------------------------------------------------------------------

check "made a P-384 key and certificate to replace the bundle" mkpair p384 "$K/repl"
t "import --replace under the same name succeeds" \
	kmc import --replace --conf "$CONF" "${CA[@]}" -s "$K/repl.crt" -k "$K/repl.key"
kmc password get server >"$T/repl.pw" 2>/dev/null
check "... the password is a new one" bash -c '[ -s "$1" ] && [ "$(cat "$1")" != "$2" ]' _ "$T/repl.pw" "$KP"
check "... the keys folder holds the new certificate" cmp "$KD/server.crt" "$K/repl.crt"
check "... and the new key, encrypted" \
	diff <(pubkey_of_key "$KD/server.key" "$(cat "$T/repl.pw")") <(pubkey_of_cert "$K/repl.crt")
check "... the old CRL copy is gone (none was given)" test ! -e "$KD/ca.crl"
check "... and so is the config file's crl entry" bash -c '! grep -q "^crl =" "$1"' _ "$CONF"
check "... server_key_mm gives the new password" \
	test "$(kmc decrypt "$(conf_val "$CONF" server_key_mm)" 2>/dev/null)" = "$(cat "$T/repl.pw")"
check "... the config file keeps its other lines and its mode" \
	bash -c 'diff <(echo "$1") <(echo "$2") && [ "$(stat -c %a "$3")" = 640 ]' _ \
	"$(printf '%s\n' "# the server's settings" "listen_addresses = '*'" 'port = 5432' '' \
		'; an old key, superseded by the import' $'\tssl = on   # indented, with a comment')" \
	"$(other_lines "$CONF")" "$CONF"
check "... unwrap gives the new key" \
	diff <(kmc unwrap server 2>/dev/null | openssl pkey -pubout 2>/dev/null) <(pubkey_of_cert "$K/repl.crt")
kmc list --json >"$T/list.json" 2>/dev/null
check "... list --json shows server/key at version 2 with old_versions 1" \
	jqt "$T/list.json" '.[] | select(.name=="server/key") | .version == 2 and .old_versions == 1'
check "... and server/crl is gone" jqt "$T/list.json" '[.[] | select(.name=="server/crl")] == []'
t_err 0 "kmc rm --old server/key removes the old version" 'removed 1 old version' kmc rm --old server/key
kmc list --json >"$T/list.json" 2>/dev/null
check "... list --json shows old_versions 0 for server/key" \
	jqt "$T/list.json" '.[] | select(.name=="server/key") | .version == 2 and .old_versions == 0'
t_out "... and the new password still reads" "$(cat "$T/repl.pw")" kmc password get server

t "the vault is healthy after all of it" kmc repair

done_testing
