#!/usr/bin/env bash
# test_heavyai.sh - HeavyAI's secure binary interface, end to end from the
# vault: the server's key born there (kmc key gen), its CSR (kmc csr),
# the certificate an outside CA signs (serverAuth and clientAuth) set on
# it (kmc cert set), a PKCS#12 keystore holding them and a
# PKCS#12 truststore holding the CA, for the Java side (Calcite), each
# password kept in the vault; then heavy.conf gets the certificate, a
# key-reference file as the key path, the stores and their passwords
# (fetched with kmc password get, never typed or put on a command line).
#
# The consumers: keytool -list shows the keystore's PrivateKeyEntry and
# the truststore's trustedCertEntry, passwords read from files; a small
# Java program, as Calcite does, reads heavy.conf, opens both stores with
# its passwords and connects to examples/tls_server serving the same
# bundle, presenting the keystore's key and checking the server against
# the truststore; with a keystore of another CA's certificate the server
# refuses it, and with a truststore of another CA it refuses the server.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/tls_servers.sh"

V=$T/vault
P=$T/pki
P2=$T/pki2
H=$T/heavyai		# the server's folder: its certs and heavy.conf
kmc() { "$KMC" --vault "$V" "$@"; }
not_ok() { ! "$@" >/dev/null 2>&1; }
trap 'stop_all; rm -rf "$T"' EXIT

if ! command -v keytool >/dev/null || ! command -v javac >/dev/null; then
	echo "# skip: no Java (tools/deps.sh: openjdk-17-jdk-headless)"
	done_testing
	exit
fi

"$KMC_TOP/tools/mkpki.sh" "$P" >/dev/null
MKPKI_CA_CN="another CA" "$KMC_TOP/tools/mkpki.sh" "$P2" >/dev/null
mkdir -m 700 "$H"
cat >>"$P/ca.cnf" <<'CNF'
[ heavydb ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
CNF

t "init a vault" kmc init

# ---- the key, the CSR, the certificate the CA signs --------------------------------

# The key is born in the vault and never leaves it in the clear; the CA
# is outside, as a company CA would be.
t "kmc key gen heavydb --type rsa2048" kmc key gen heavydb --type rsa2048
t "kmc csr: CN=localhost, SAN DNS:localhost, IP:127.0.0.1" \
	kmc csr heavydb --subject /CN=localhost --san DNS:localhost,IP:127.0.0.1 \
	--out "$T/heavydb.csr"
t "the outside CA signs it (serverAuth and clientAuth)" \
	openssl x509 -req -in "$T/heavydb.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" \
	-CAcreateserial -days 30 -extfile "$P/ca.cnf" -extensions heavydb \
	-out "$T/heavydb.crt"
t_err 7 "before its certificate, no keystore: the key has none yet" \
	"no certificate yet" kmc export heavydb --format pkcs12 --out "$H/keystore.p12"
check "... and no password item was made for it" \
	not_ok kmc password get heavydb/keystore-password
t "kmc cert set heavydb: the signed certificate, copies in the server's folder" \
	kmc cert set heavydb -s "$T/heavydb.crt" -c "$P/ca.crt" --keys-dir "$H/certs"

# ---- the stores and their passwords -----------------------------------------------

t "trust store heavyai trusts the CA" kmc trust add heavyai-ca "$P/ca.crt" --store heavyai
t "the keystore for Calcite, its password made in the vault" \
	kmc export heavydb --format pkcs12 --out "$H/keystore.p12"
t "the truststore for Calcite, its password made in the vault" \
	kmc trust export --store heavyai --format pkcs12 --out "$H/truststore.p12"
t "a key-reference file as the server's key path (the key stays in the vault)" \
	kmc ref heavydb --out "$H/heavydb.key.ref"

# heavy.conf, as HeavyAI reads it: the passwords go from the vault into
# the file (0600), never through a command line.
write_conf() { # write_conf KEYSTORE_PW_ITEM TRUSTSTORE_PW_ITEM
	local ks ts
	ks=$(kmc password get "$1") && ts=$(kmc password get "$2") || return 1
	(umask 077 && cat >"$H/heavy.conf" <<-CONF
	port = 6274
	[web]
	port = 6273
	ssl-cert = "$H/certs/server.crt"
	ssl-private-key = "$H/heavydb.key.ref"
	ssl-trust-store = "$H/truststore.p12"
	ssl-trust-password = "$ts"
	ssl-keystore = "$H/keystore.p12"
	ssl-keystore-password = "$ks"
	CONF
	)
}
t "heavy.conf gets the paths and both passwords from the vault" \
	write_conf heavydb/keystore-password trust:heavyai/truststore-password
check "heavy.conf is 0600" test "$(stat -c %a "$H/heavy.conf")" = 600
check "the certificate copy heavy.conf names is the signed one" \
	cmp <(openssl x509 -in "$H/certs/server.crt" -outform DER) \
	<(openssl x509 -in "$T/heavydb.crt" -outform DER)

# ---- keytool, passwords from files ------------------------------------------------------

pw_file() { (umask 077 && kmc password get "$1" >"$2"); }
pw_file heavydb/keystore-password "$T/ks.pw"
pw_file trust:heavyai/truststore-password "$T/ts.pw"
keytool -list -storetype PKCS12 -keystore "$H/keystore.p12" \
	-storepass:file "$T/ks.pw" >"$T/kt.ks" 2>&1
check "keytool: the keystore's heavydb is a PrivateKeyEntry" \
	grep -q "^heavydb, .*PrivateKeyEntry" "$T/kt.ks"
keytool -list -storetype PKCS12 -keystore "$H/truststore.p12" \
	-storepass:file "$T/ts.pw" >"$T/kt.ts" 2>&1
check "keytool: the truststore's heavyai-ca is a trustedCertEntry" \
	grep -q "^heavyai-ca, .*trustedCertEntry" "$T/kt.ts"

# ---- Calcite's side: a Java TLS client with both stores ------------------------------

cat >"$T/Calcite.java" <<'JAVA'
import java.io.*;
import java.nio.file.*;
import java.security.KeyStore;
import java.util.*;
import javax.net.ssl.*;

/* As HeavyAI's Calcite server: the stores and their passwords from
   heavy.conf; a TLS connection to the server, the keystore's key as its
   client certificate, the server checked against the truststore. */
public class Calcite {
	static KeyStore load(String path, char[] pw) throws Exception {
		KeyStore ks = KeyStore.getInstance("PKCS12");
		try (InputStream in = new FileInputStream(path)) { ks.load(in, pw); }
		return ks;
	}
	public static void main(String[] a) throws Exception {
		Map<String, String> c = new HashMap<>();
		for (String line : Files.readAllLines(Paths.get(a[0]))) {
			String[] kv = line.split("=", 2);
			if (kv.length == 2)
				c.put(kv[0].trim(), kv[1].trim().replaceAll("^\"|\"$", ""));
		}
		char[] kpw = c.get("ssl-keystore-password").toCharArray();
		KeyManagerFactory kmf = KeyManagerFactory.getInstance("PKIX");
		kmf.init(load(c.get("ssl-keystore"), kpw), kpw);
		TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
		tmf.init(load(c.get("ssl-trust-store"),
			c.get("ssl-trust-password").toCharArray()));
		SSLContext ctx = SSLContext.getInstance("TLS");
		ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
		try (SSLSocket s = (SSLSocket) ctx.getSocketFactory()
				.createSocket("localhost", Integer.parseInt(a[1]))) {
			SSLParameters p = s.getSSLParameters();
			p.setEndpointIdentificationAlgorithm("HTTPS");
			s.setSSLParameters(p);
			s.startHandshake();
			BufferedReader r = new BufferedReader(
				new InputStreamReader(s.getInputStream()));
			System.out.println(r.readLine());
		}
	}
}
JAVA

# Compiled once: a JVM's start is the cost of each run.
t "javac Calcite.java" javac -d "$T/cls" "$T/Calcite.java"
check "tls_server serves the bundle heavydb" \
	start_tls_server heavydb --vault "$V" --name heavydb --port 0
t_out "Calcite connects with the keystore and truststore heavy.conf names" \
	"hello localhost" java -cp "$T/cls" Calcite "$H/heavy.conf" "$PORT"
check "the server greeted the keystore's certificate" \
	await_log heavydb "greeted localhost"

# A keystore whose certificate another CA signed: the server refuses it.
t "key gen stranger" kmc key gen stranger
t "csr stranger" kmc csr stranger --subject "/CN=stranger" --out "$T/stranger.csr"
t "another CA signs it (clientAuth)" openssl x509 -req -in "$T/stranger.csr" \
	-CA "$P2/ca.crt" -CAkey "$P2/ca.key" -CAcreateserial -days 9 \
	-extfile "$P2/ca.cnf" -extensions client -out "$T/stranger.crt"
t "cert set stranger" kmc cert set stranger -s "$T/stranger.crt" -c "$P2/ca.crt"
t "stranger's keystore" kmc export stranger --format pkcs12 --out "$H/stranger.p12"
mv "$H/keystore.p12" "$H/keystore.p12.good"
cp "$H/stranger.p12" "$H/keystore.p12"
t "heavy.conf with stranger's keystore password" \
	write_conf stranger/keystore-password trust:heavyai/truststore-password
handshakes=$(log_count heavydb "handshake failed")
t_rc 1 "a client certificate of another CA: the server refuses the handshake" \
	java -cp "$T/cls" Calcite "$H/heavy.conf" "$PORT"
check "... and logs the failed handshake" await_log heavydb "handshake failed" "$handshakes"
mv "$H/keystore.p12.good" "$H/keystore.p12"

# The same with a truststore of another CA: the server is not trusted.
t "trust store other trusts another CA" kmc trust add other-ca "$P2/ca.crt" --store other
t "its truststore, its own password" \
	kmc trust export --store other --format pkcs12 --out "$H/other.p12"
mv "$H/truststore.p12" "$H/truststore.p12.good"
cp "$H/other.p12" "$H/truststore.p12"
t "heavy.conf with the other truststore's password" \
	write_conf heavydb/keystore-password trust:other/truststore-password
t_err 1 "a truststore of another CA: Calcite refuses the server" \
	"PKIX|unable to find valid certification path" \
	java -cp "$T/cls" Calcite "$H/heavy.conf" "$PORT"

done_testing
