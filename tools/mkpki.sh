#!/usr/bin/env bash
# mkpki.sh DIR [PASSWORD] - a throwaway PKI for tests and the demo:
#   ca.crt ca.key            a root CA (EC P-256)
#   server.crt server.key    CN=localhost, SAN DNS:localhost, IP:127.0.0.1;
#                            the key encrypted PKCS#8 under PASSWORD
#   server.plain.key         the same key unencrypted (PKCS#8)
#   client.crt client.key    a client certificate of the CA (plain key)
#   ca.crl                   an empty CRL of the CA, valid 30 days
#   crl.sh CERT_FILE         revoke a certificate and rewrite ca.crl
#   issue.sh OUT CURVE PASS  another server key and certificate of the CA:
#                            OUT.plain (unencrypted), OUT.key (encrypted
#                            PKCS#8 under PASS), OUT.crt (CN=localhost)
# MKPKI_CA_CN names the CA (default "kmc test CA"): two PKIs made with
# different names are two CAs a server can tell apart.
# Nothing here is secret beyond the test: everything is made fresh.
set -euo pipefail
dir=${1:?usage: mkpki.sh DIR [PASSWORD]}
pass=${2:-server-key-password}
mkdir -p "$dir"
cd "$dir"
umask 077
q() { "$@" >/dev/null 2>&1 || { echo "mkpki: failed: $*" >&2; "$@"; exit 1; }; }

cat > ca.cnf <<CNF
[ ca ]
default_ca = kmc_test_ca
[ kmc_test_ca ]
dir = .
database = index.txt
new_certs_dir = .
certificate = ca.crt
private_key = ca.key
serial = serial
crlnumber = crlnumber
default_md = sha256
default_crl_days = 30
policy = any
[ any ]
commonName = supplied
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[ client ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
CNF
: > index.txt
echo 1000 > serial
echo 1000 > crlnumber

q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
q openssl req -new -x509 -key ca.key -out ca.crt -days 30 -subj "/CN=${MKPKI_CA_CN:-kmc test CA}" \
	-config ca.cnf -extensions v3_ca

q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.plain.key
q openssl pkcs8 -topk8 -in server.plain.key -out server.key -v2 aes-256-cbc \
	-passout "pass:$pass"
q openssl req -new -key server.plain.key -out server.csr -subj "/CN=localhost"
q openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
	-out server.crt -days 30 -extfile ca.cnf -extensions server

q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out client.key
q openssl req -new -key client.key -out client.csr -subj "/CN=kmc test client"
q openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
	-out client.crt -days 30 -extfile ca.cnf -extensions client

# openssl ca needs the revocable certificates in its database.
for c in server client; do
	serial=$(openssl x509 -in $c.crt -noout -serial | cut -d= -f2)
	end=$(openssl x509 -in $c.crt -noout -enddate | cut -d= -f2)
	endz=$(date -u -d "$end" +%y%m%d%H%M%SZ)
	subj=$(openssl x509 -in $c.crt -noout -subject -nameopt compat | sed 's/^subject=//')
	printf 'V\t%s\t\t%s\tunknown\t%s\n' "$endz" "$serial" "$subj" >> index.txt
done
q openssl ca -config ca.cnf -gencrl -out ca.crl

cat > crl.sh <<'SH'
#!/usr/bin/env bash
# crl.sh CERT: revoke CERT and write a new ca.crl
set -euo pipefail
cd "$(dirname "$0")"
openssl ca -config ca.cnf -revoke "$1" >/dev/null 2>&1
openssl ca -config ca.cnf -gencrl -out ca.crl >/dev/null 2>&1
SH
chmod 700 crl.sh

cat > issue.sh <<'SH'
#!/usr/bin/env bash
# issue.sh OUT CURVE PASS: a server key on CURVE and its certificate
set -euo pipefail
ca=$(cd "$(dirname "$0")" && pwd)
openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$2" -out "$1.plain" 2>/dev/null
openssl pkcs8 -topk8 -in "$1.plain" -v2 aes-256-cbc -passout "pass:$3" -out "$1.key"
chmod 600 "$1.plain" "$1.key"
openssl req -new -key "$1.plain" -subj /CN=localhost -out "$1.csr"
openssl x509 -req -in "$1.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" -CAcreateserial \
	-days 30 -extfile "$ca/ca.cnf" -extensions server -out "$1.crt" 2>/dev/null
SH
chmod 700 issue.sh
chmod 644 ca.crt server.crt client.crt ca.crl
chmod 600 server.key server.plain.key client.key
