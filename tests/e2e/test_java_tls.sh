#!/usr/bin/env bash
# test_java_tls.sh - a Java TLS client (tests/e2e/JavaTlsClient.java,
# compiled here) against examples/tls_server, as a JDBC driver would
# connect to a FairCom-style listener: its key and certificate from a
# PKCS#12 keystore, the CAs it trusts from a PKCS#12 truststore, both
# passwords read from files. A client of the bundle's CA is served under
# --verify-client required, over TLS 1.3 and, with a FairCom cipher list,
# TLS 1.2; a client whose certificate comes from another CA is refused by
# the server; a client that does not trust the server's CA refuses it.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/tls_servers.sh"

JAVAC=$(command -v javac || true)
JAVA=$(command -v java || true)
KEYTOOL=$(command -v keytool || true)
if [ -z "$JAVAC" ] || [ -z "$JAVA" ] || [ -z "$KEYTOOL" ]; then
	echo "skip: no JDK (javac, java, keytool: openjdk-17-jdk-headless)"
	done_testing
	exit
fi

V=$T/vault
PKI=$T/pki
OTHER=$T/other
kmc() { "$KMC" --vault "$V" "$@"; }

trap 'stop_all; rm -rf "$T"' EXIT

# ---- the stores ----------------------------------------------------------------
# Only these two functions know how the stores are made. With `kmc
# export` and `kmc trust export --format pkcs12` they come from the vault;
# without them (an older kmc), from openssl and keytool. Either way the
# passwords go through files, never argv.

have_kmc_export() { "$KMC" export --help >/dev/null 2>&1; }

# keystore OUT PWFILE NAME CERT KEY CA: a PKCS#12 keystore holding the key,
# its certificate and the CA's, under alias NAME.
keystore() {
	local out=$1 pw=$2 name=$3 cert=$4 key=$5 ca=$6
	if have_kmc_export; then
		kmc import --name "$name" -c "$ca" -s "$cert" -k "$key" &&
			kmc export "$name" --format pkcs12 --password-file "$pw" \
				--out "$out"
	else
		openssl pkcs12 -export -in "$cert" -inkey "$key" -certfile "$ca" \
			-name "$name" -passout "file:$pw" -out "$out"
	fi
}

# truststore OUT PWFILE ALIAS CA: a PKCS#12 truststore trusting CA, under
# ALIAS (openssl 3.0's own -nokeys stores list as empty in Java).
truststore() {
	local out=$1 pw=$2 alias=$3 ca=$4
	if have_kmc_export; then
		kmc trust add "$alias" "$ca" --store "java-$alias" &&
			kmc trust export --store "java-$alias" --format pkcs12 \
				--password-file "$pw" --out "$out"
	else
		"$KEYTOOL" -importcert -noprompt -alias "$alias" -file "$ca" \
			-keystore "$out" -storetype PKCS12 -storepass:file "$pw"
	fi
}

# java_client NAME PORT KEYSTORE KS_PW TRUSTSTORE TS_PW [JVM OPTIONS]:
# stdout in $T/NAME.out, stderr in $T/NAME.err, exit status in $T/NAME.rc.
java_client() {
	local name=$1 port=$2 ks=$3 kspw=$4 ts=$5 tspw=$6
	shift 6
	# A short-lived JVM: the C1 compiler and the serial collector only.
	timeout 60 "$JAVA" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "$@" \
		-cp "$T/java" JavaTlsClient "$port" "$ks" "$kspw" "$ts" "$tspw" \
		>"$T/$name.out" 2>"$T/$name.err" </dev/null
	echo $? >"$T/$name.rc"
}
served_as() { grep -qxF "hello $2" "$T/$1.out"; }
refused() { [ "$(cat "$T/$1.rc")" = 1 ] && ! grep -q hello "$T/$1.out"; }
said() { grep -Eq -- "$2" "$T/$1.err"; }
logged() { grep -Eq -- "$2" "$T/$1.log"; }

# ---- set-up ------------------------------------------------------------------

"$KMC_TOP/tools/mkpki.sh" "$PKI" >/dev/null
MKPKI_CA_CN="another CA" "$KMC_TOP/tools/mkpki.sh" "$OTHER" >/dev/null
secret_file "$T/keypw" 'server-key-password'
secret_file "$T/ks.pw" 'keystore-password-1'
secret_file "$T/ts.pw" 'truststore-password-2'
t "init a vault" kmc init
t "import the server bundle" kmc import -c "$PKI/ca.crt" -s "$PKI/server.crt" \
	-k "$PKI/server.key" -r "$PKI/ca.crl" --password-file "$T/keypw"

mkdir -p "$T/java"
t "javac compiles the Java client" \
	"$JAVAC" -d "$T/java" "$KMC_TOP/tests/e2e/JavaTlsClient.java"

t "a keystore for the client of the bundle's CA" \
	keystore "$T/client.p12" "$T/ks.pw" client "$PKI/client.crt" \
	"$PKI/client.key" "$PKI/ca.crt"
t "a keystore for a client of another CA" \
	keystore "$T/foreign.p12" "$T/ks.pw" foreign "$OTHER/client.crt" \
	"$OTHER/client.key" "$OTHER/ca.crt"
t "a truststore with the bundle's CA" \
	truststore "$T/trust.p12" "$T/ts.pw" kmc-test-ca "$PKI/ca.crt"
t "a truststore with the other CA only" \
	truststore "$T/other-trust.p12" "$T/ts.pw" another-ca "$OTHER/ca.crt"
t "keytool lists the truststore (its password from a file)" \
	"$KEYTOOL" -list -keystore "$T/trust.p12" -storetype PKCS12 \
	-storepass:file "$T/ts.pw"
cp "$OUT" "$T/trust.list"	# check empties $OUT before it runs
check "... with the CA as a trustedCertEntry under its alias" \
	grep -Eq '^kmc-test-ca, .*, trustedCertEntry,' "$T/trust.list"

# ---- client certificates required ---------------------------------------------

t "tls_server starts with client certificates required" \
	start_tls_server required --vault "$V" --verify-client required
RPORT=$PORT

java_client good "$RPORT" "$T/client.p12" "$T/ks.pw" "$T/trust.p12" "$T/ts.pw"
check "the Java client of the bundle's CA is served" \
	served_as good 'kmc test client'
check "over TLS 1.3" said good '^JavaTlsClient: TLSv1\.3 TLS_'
check "the server greeted it by its certificate's CN" \
	logged required 'greeted kmc test client \(TLSv1\.3\)'

java_client foreign "$RPORT" "$T/foreign.p12" "$T/ks.pw" "$T/trust.p12" \
	"$T/ts.pw"
check "a Java client whose certificate is of another CA is refused" \
	refused foreign
# Java sends the other CA's certificate after its own: OpenSSL then
# names that self-signed root, which the bundle does not trust.
check "the server refused it: its chain ends in a CA not trusted" \
	logged required 'handshake failed: certificate verify failed \((unable to get local issuer certificate|self-signed certificate in certificate chain)\)'

java_client distrust "$RPORT" "$T/client.p12" "$T/ks.pw" \
	"$T/other-trust.p12" "$T/ts.pw"
check "a Java client that does not trust the server's CA refuses it" \
	refused distrust
check "it says the server's certificate has no path to its CAs" \
	said distrust 'PKIX path building failed|unable to find valid certification path'

# ---- a FairCom-style cipher list, TLS 1.2 -------------------------------------

t "tls_server starts with a TLS 1.2 cipher list and TLS 1.3 off" \
	start_tls_server ciphers --vault "$V" --verify-client required \
	--ciphers 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384' \
	--ciphersuites ''
java_client c12 "$PORT" "$T/client.p12" "$T/ks.pw" "$T/trust.p12" "$T/ts.pw"
check "the Java client is served over TLS 1.2" served_as c12 'kmc test client'
check "with the listed cipher, by its Java name" \
	said c12 '^JavaTlsClient: TLSv1\.2 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384$'
java_client c12-foreign "$PORT" "$T/foreign.p12" "$T/ks.pw" "$T/trust.p12" \
	"$T/ts.pw"
check "a client of another CA is refused over TLS 1.2 as well" \
	refused c12-foreign

check "no password reached a log or an output" bash -c \
	'! grep -rqE "keystore-password-1|truststore-password-2" "$1"/*.log \
		"$1"/*.out "$1"/*.err' _ "$T"

done_testing
