#!/usr/bin/env bash
# mkseeds.sh DIR - the fuzz seeds that hold a key, a certificate or a CRL,
# made fresh with openssl into DIR/<target>/ (fuzz.mk: $(O)/fuzz/seeds/),
# so that no such material is committed. Each stands for a parser path
# the committed corpus (tests/fuzz/corpus/) does not reach:
#
#   x509/   one EC P-256 key "fuzz CA", its self-signed certificate
#           (serial 4) and its CRL revoking serial 4:
#     cert.pem cert.der                 the certificate
#     two-certs.pem                     a bundle of two
#     crl.pem crl.der two-crls.pem      the CRL, and two PEM blocks of it
#     crl-cut-second.pem                the CRL, then a second block cut short
#     key-ec-pkcs8.der key-ec-sec1.der  the key, PKCS#8 and SEC1
#     key-ec-pkcs8-enc.der              PKCS#8 under the harness's password
#     key-ec-legacy-enc.pem             traditional PEM, AES-128-CBC, same
#     key-ed25519-pkcs8.der             an Ed25519 key
#     key-ed25519-enc-wrong-pw.der      the same, under another password
#     key-rsa1024-pkcs1.der             an RSA key, PKCS#1
#   trust/  trust store records (vault/trust.h) of a CA "kmc test CA" as
#           tools/mkpki.sh makes it, and its empty CRL:
#     one-ca            one file, the CA (alias old-ca)
#     noncanonical-der  the same, the signature's BIT STRING not DER (one
#                       unused bit, set), which OpenSSL re-encodes otherwise
#     ca-with-crl       no file, the CA with its CRL
#     truncated         the CA (alias a), its DER 10 bytes short
#
# The password is fuzz_x509.c's FUZZ_PASSWORD. DIR is replaced whole; its
# work files stay inside it.
set -euo pipefail
out=${1:?usage: mkseeds.sh DIR}
password=fuzz-password

rm -rf "$out" "$out.new"
mkdir -p "$out.new/x509" "$out.new/trust" "$out.new/work"
cd "$out.new"
umask 077
w=work
q() { "$@" >/dev/null 2>&1 || { echo "mkseeds: failed: $*" >&2; "$@"; exit 1; }; }

# A version 2 CRL of the CA KEY, CERT (DIR/index.txt lists the revoked)
# into CRL, DER; NUMBER, if not empty, is its CRL number (hex).
gencrl() {
	local dir=$1 key=$2 cert=$3 crl=$4 number=$5
	{
		printf '[ ca ]\ndefault_ca = c\n[ c ]\n'
		printf 'database = %s/index.txt\n' "$dir"
		printf 'certificate = %s\nprivate_key = %s\n' "$cert" "$key"
		printf 'default_md = sha256\ndefault_crl_days = 30\n'
		[ -z "$number" ] || printf 'crlnumber = %s/crlnumber\n' "$dir"
		# An extension section, even empty, makes the CRL version 2.
		printf 'crl_extensions = crlext\n[ crlext ]\n'
	} > "$dir/ca.cnf"
	[ -z "$number" ] || echo "$number" > "$dir/crlnumber"
	q openssl ca -batch -config "$dir/ca.cnf" -gencrl -out "$dir/crl.pem"
	q openssl crl -in "$dir/crl.pem" -outform DER -out "$crl"
}

# A self-signed CA certificate of KEY named CN for DAYS, with EXTRA
# (an extension line) if not empty; OPTIONS go to openssl req. A config
# of its own: the system's would add extensions of its choosing.
selfsign() {
	local key=$1 cn=$2 days=$3 extra=$4 options=$5
	{
		printf '[ req ]\ndistinguished_name = dn\nprompt = no\n'
		printf 'x509_extensions = ext\n[ dn ]\nCN = %s\n[ ext ]\n' "$cn"
		printf 'basicConstraints = critical, CA:true\n'
		[ -z "$extra" ] || printf '%s\n' "$extra"
		printf 'subjectKeyIdentifier = hash\n'
	} > $w/req.cnf
	# shellcheck disable=SC2086 # OPTIONS are words
	q openssl req -config $w/req.cnf -x509 -new -key "$key" -days "$days" \
		-sha256 $options
}

# ---- x509 -----------------------------------------------------------------
q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-pkeyopt ec_param_enc:named_curve -out $w/ec.pem
selfsign $w/ec.pem "fuzz CA" 3650 "" \
	"-set_serial 4 -out x509/cert.pem"
q openssl x509 -in x509/cert.pem -outform DER -out x509/cert.der
cat x509/cert.pem x509/cert.pem > x509/two-certs.pem

# Serial 4 revoked now; its entry expires with the certificate.
printf 'R\t%s\t%s\t04\tunknown\t/CN=fuzz CA\n' \
	"$(openssl x509 -in x509/cert.pem -noout -enddate |
		sed 's/^notAfter=//' | { read -r m d t y _; date -u -d "$m $d $y $t" +%y%m%d%H%M%SZ; })" \
	"$(date -u +%y%m%d%H%M%SZ)" > $w/index.txt
gencrl $w $w/ec.pem x509/cert.pem x509/crl.der ""
q openssl crl -inform DER -in x509/crl.der -out x509/crl.pem
cat x509/crl.pem x509/crl.pem > x509/two-crls.pem
# A second block that ends inside its first line of base64.
{ cat x509/crl.pem; printf -- '-----BEGIN X509 CRL-----\nMIIB\n'; } \
	> x509/crl-cut-second.pem

q openssl pkcs8 -topk8 -nocrypt -in $w/ec.pem -outform DER \
	-out x509/key-ec-pkcs8.der
q openssl ec -in $w/ec.pem -outform DER -out x509/key-ec-sec1.der
q openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 2048 \
	-in $w/ec.pem -passout "pass:$password" -outform DER \
	-out x509/key-ec-pkcs8-enc.der
q openssl ec -in $w/ec.pem -aes128 -passout "pass:$password" \
	-out x509/key-ec-legacy-enc.pem

q openssl genpkey -algorithm ED25519 -out $w/ed.pem
q openssl pkcs8 -topk8 -nocrypt -in $w/ed.pem -outform DER \
	-out x509/key-ed25519-pkcs8.der
q openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 2048 \
	-in $w/ed.pem -passout "pass:wrong-$password" -outform DER \
	-out x509/key-ed25519-enc-wrong-pw.der

q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out $w/rsa.pem
q openssl rsa -in $w/rsa.pem -traditional -outform DER \
	-out x509/key-rsa1024-pkcs1.der

# ---- trust ----------------------------------------------------------------
mkdir $w/trust
: > $w/trust/index.txt
q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-pkeyopt ec_param_enc:named_curve -out $w/trust/ca.key
selfsign $w/trust/ca.key "kmc test CA" 30 \
	"keyUsage = critical, keyCertSign, cRLSign" \
	"-outform DER -out $w/trust/ca.der"
q openssl x509 -inform DER -in $w/trust/ca.der -out $w/trust/ca.crt
gencrl $w/trust $w/trust/ca.key $w/trust/ca.crt $w/trust/crl.der 1000

# Big-endian integers and strings, as the record has them.
# shellcheck disable=SC2059 # the byte is made as an octal escape
u8() { printf "\\$(printf %03o "$1")"; }
u16() { u8 $(($1 >> 8)); u8 $(($1 & 255)); }
u32() { u16 $(($1 >> 16)); u16 $(($1 & 65535)); }
size() { wc -c < "$1" | tr -d ' '; }

ca=$w/trust/ca.der
crl=$w/trust/crl.der
files='/etc/nginx/clients.pem'
{ u8 1; u8 1; u16 ${#files}; printf %s "$files"; u16 1
  u8 6; printf old-ca; u8 0; u32 "$(size $ca)"; cat $ca; } > trust/one-ca
{ u8 1; u8 0; u16 1
  u8 6; printf old-ca; u8 2; u32 "$(size $ca)"; cat $ca
  u32 "$(size $crl)"; cat $crl; } > trust/ca-with-crl
{ u8 1; u8 0; u16 1
  u8 1; printf a; u8 0; u32 "$(size $ca)"; head -c $(($(size $ca) - 10)) $ca
} > trust/truncated

# The signature, the certificate's last element, is a BIT STRING: its
# unused-bits byte becomes 1 and its last bit 1, so DER it is not; the 8
# bytes after that byte become 0, as in the seed fuzz_trust found.
n=$(size $ca)
# shellcheck disable=SC2046 # offset, header and length: three words
set -- $(openssl asn1parse -inform DER -in $ca |
	sed -n 's/^ *\([0-9]*\):d=1 *hl=\([0-9]*\) *l= *\([0-9]*\) prim: BIT STRING.*/\1 \2 \3/p')
if [ $# != 3 ] || [ $(($1 + $2 + $3)) != "$n" ]; then
	echo "mkseeds: the certificate does not end in its signature" >&2
	exit 1
fi
at=$(($1 + $2))
sig=$(od -An -tu1 -j $((n - 1)) -N 1 $ca | tr -d ' ')
{ head -c $at $ca; u8 1; head -c 8 /dev/zero
  tail -c +$((at + 10)) $ca | head -c $((n - at - 10)); u8 $((sig | 1))
} > $w/trust/ca-noncanonical.der
{ u8 1; u8 1; u16 ${#files}; printf %s "$files"; u16 1
  u8 6; printf old-ca; u8 0; u32 "$n"; cat $w/trust/ca-noncanonical.der
} > trust/noncanonical-der

rm -rf "$w"
cd - > /dev/null
mv "$out.new" "$out"
