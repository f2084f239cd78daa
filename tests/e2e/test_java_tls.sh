#!/usr/bin/env bash
# test_java_tls.sh - a Java TLS client (tests/e2e/JavaTlsClient.java,
# compiled here) against examples/tls_server, as a JDBC driver would
# connect to a FairCom-style listener: its key and certificate from a
# PKCS#12 keystore, the CAs it trusts from a PKCS#12 truststore, both
# passwords read from files. A client of the bundle's CA is served under
# --verify-client required, over TLS 1.3 and, with a FairCom cipher list,
# TLS 1.2; a client whose certificate comes from another CA is refused by
# the server, under optional too; a client without a keystore is refused
# under required and let in under optional; a client that does not trust
# the server's CA refuses it.
# The keystores and truststores come from the vault (kmc export, kmc trust
# export --format pkcs12); last, the CA and both keys are born in it too.
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
# Both from the vault, as a user makes them: kmc export (a keystore of a
# bundle) and kmc trust export --format pkcs12 (a truststore of a trust
# store), their passwords from files, never argv.

# keystore OUT PWFILE NAME CERT KEY CA: NAME imported into the vault (a
# client bundle), exported as a PKCS#12 keystore: its key, its
# certificate and the CA's, under alias NAME.
keystore() {
	local out=$1 pw=$2 name=$3 cert=$4 key=$5 ca=$6
	kmc import --name "$name" -c "$ca" -s "$cert" -k "$key" &&
		kmc export "$name" --format pkcs12 --password-file "$pw" \
			--out "$out"
}

# truststore OUT PWFILE ALIAS CA: CA trusted under ALIAS in a trust store
# of its own, exported as a PKCS#12 truststore (openssl 3.0's own -nokeys
# stores list as empty in Java: it needs the trusted-usage attribute).
truststore() {
	local out=$1 pw=$2 alias=$3 ca=$4
	kmc trust add "$alias" "$ca" --store "java-$alias" &&
		kmc trust export --store "java-$alias" --format pkcs12 \
			--password-file "$pw" --out "$out"
}

# java_client NAME PORT KEYSTORE KS_PW TRUSTSTORE TS_PW [JVM OPTIONS]:
# stdout in $T/NAME.out, stderr in $T/NAME.err, exit status in $T/NAME.rc.
java_client() {
	local name=$1 port=$2 ks=$3 kspw=$4 ts=$5 tspw=$6
	shift 6
	# A short-lived JVM: the C1 compiler and the serial collector only,
	# no perf-data file.
	timeout 60 "$JAVA" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
		-XX:-UsePerfData "$@" \
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

t "kmc export makes a keystore for the client of the bundle's CA" \
	keystore "$T/client.p12" "$T/ks.pw" client "$PKI/client.crt" \
	"$PKI/client.key" "$PKI/ca.crt"
t "... and one for a client of another CA" \
	keystore "$T/foreign.p12" "$T/ks.pw" foreign "$OTHER/client.crt" \
	"$OTHER/client.key" "$OTHER/ca.crt"
t "kmc trust export makes a truststore with the bundle's CA" \
	truststore "$T/trust.p12" "$T/ts.pw" kmc-test-ca "$PKI/ca.crt"
t "... and one with the other CA only" \
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

java_client nocert "$RPORT" - - "$T/trust.p12" "$T/ts.pw"
check "a Java client without a keystore is refused under required" \
	refused nocert
check "the server said it sent no certificate" \
	logged required 'handshake failed: .*did not return a certificate'

# ---- client certificates optional ---------------------------------------------

t "tls_server starts with client certificates optional" \
	start_tls_server optional --vault "$V" --verify-client optional
java_client opt-nocert "$PORT" - - "$T/trust.p12" "$T/ts.pw"
check "optional: a Java client without a keystore is let in" \
	served_as opt-nocert '(no certificate)'
java_client opt-foreign "$PORT" "$T/foreign.p12" "$T/ks.pw" "$T/trust.p12" \
	"$T/ts.pw"
check "optional: one whose certificate is of another CA is still refused" \
	refused opt-foreign

# ---- a FairCom-style cipher list, TLS 1.2 -------------------------------------

t "tls_server starts with a TLS 1.2 cipher list and TLS 1.3 off" \
	start_tls_server ciphers --vault "$V" --verify-client required \
	--ciphers 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384' \
	--ciphersuites ''
java_client c12 "$PORT" "$T/client.p12" "$T/ks.pw" "$T/trust.p12" "$T/ts.pw"
check "the Java client is served over TLS 1.2" served_as c12 'kmc test client'
check "with the listed cipher, by its Java name" \
	said c12 '^JavaTlsClient: TLSv1\.2 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384$'

# ---- everything born in the vault ----------------------------------------------
# The CA, the server's key and the Java client's key made inside the
# vault (kmc ca init, kmc cert issue), the client's keystore and the
# truststore exported from it: nothing from outside but the Java side.
# (Clients of another CA are refused above, by the same code.)

t "kmc ca init makes a CA in the vault" \
	kmc ca init jdbc-ca --subject '/CN=kmc JDBC CA'
t "kmc cert issue makes the listener's key and certificate" \
	kmc cert issue db --ca jdbc-ca --server --subject /CN=localhost \
	--san DNS:localhost,IP:127.0.0.1
t "... and the Java client's" \
	kmc cert issue jdbc-user --ca jdbc-ca --client --subject /CN=jdbc-user
t "kmc export makes the client's keystore" \
	kmc export jdbc-user --format pkcs12 --password-file "$T/ks.pw" \
	--out "$T/born.p12"
t "the CA goes into a trust store" \
	kmc trust add jdbc-ca "$V/keys/db/ca.crt" --store jdbc
t "kmc trust export makes the truststore" \
	kmc trust export --store jdbc --format pkcs12 --password-file "$T/ts.pw" \
	--out "$T/born-trust.p12"
t "tls_server serves the issued bundle with a FairCom cipher list" \
	start_tls_server born --vault "$V" --name db --verify-client required \
	--ciphers 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256'
java_client born "$PORT" "$T/born.p12" "$T/ks.pw" "$T/born-trust.p12" \
	"$T/ts.pw"
check "the Java client with the issued key is served by its CN" \
	served_as born 'jdbc-user'

check "no password reached a log or an output" bash -c \
	'! grep -rqE "keystore-password-1|truststore-password-2" "$1"/*.log \
		"$1"/*.out "$1"/*.err' _ "$T"

done_testing
