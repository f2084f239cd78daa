/*
 * JavaTlsClient.java - a TLS client as Java programs (JDBC drivers among
 * them) make one: its key and certificate from a PKCS#12 keystore, the
 * CAs it trusts from a PKCS#12 truststore, the passwords of both read
 * from files (never the command line, where ps shows them). Compiled and
 * run by tests/e2e/test_java_tls.sh against examples/tls_server.
 *
 *	java JavaTlsClient PORT KEYSTORE KEYSTORE_PWFILE TRUSTSTORE TRUSTSTORE_PWFILE
 *
 * KEYSTORE - (and KEYSTORE_PWFILE -) is a client without a certificate.
 * It connects to 127.0.0.1:PORT, checks the server's certificate against
 * the truststore and the name "localhost" (as HTTPS does), reads one line
 * and prints it. Exit 0 when that line is the server's "hello ..."; 1,
 * with the reason on stderr, when the handshake or the read failed.
 *
 * The client always presents its key, whatever CAs the server names in
 * its certificate request (Java's own key manager would send nothing for
 * a certificate of a CA the server does not name): so a refusal of a
 * foreign certificate is the server's verification at work.
 */
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Collections;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509KeyManager;

public final class JavaTlsClient {
	/* The password: the file's first line. */
	private static char[] password(String file) throws Exception {
		byte[] raw = Files.readAllBytes(Paths.get(file));
		String s = new String(raw, StandardCharsets.UTF_8);
		int nl = s.indexOf('\n');
		char[] pw = (nl >= 0 ? s.substring(0, nl) : s).toCharArray();
		Arrays.fill(raw, (byte) 0);
		return pw;
	}

	private static KeyStore load(String file, char[] pw) throws Exception {
		KeyStore ks = KeyStore.getInstance("PKCS12");
		try (var in = Files.newInputStream(Paths.get(file))) {
			ks.load(in, pw);
		}
		return ks;
	}

	/* Java's key manager, but always choosing the one key there is. */
	private static final class OneKey extends X509ExtendedKeyManager {
		private final X509KeyManager km;
		private final String alias;

		OneKey(X509KeyManager km, String alias) {
			this.km = km;
			this.alias = alias;
		}
		public String chooseClientAlias(String[] t, Principal[] i, Socket s) {
			return alias;
		}
		public String chooseEngineClientAlias(String[] t, Principal[] i,
				SSLEngine e) {
			return alias;
		}
		public String[] getClientAliases(String t, Principal[] i) {
			return new String[] { alias };
		}
		public String chooseServerAlias(String t, Principal[] i, Socket s) {
			return null;
		}
		public String[] getServerAliases(String t, Principal[] i) {
			return null;
		}
		public X509Certificate[] getCertificateChain(String a) {
			return km.getCertificateChain(a);
		}
		public PrivateKey getPrivateKey(String a) {
			return km.getPrivateKey(a);
		}
	}

	public static void main(String[] args) throws Exception {
		if (args.length != 5) {
			System.err.println("usage: JavaTlsClient PORT KEYSTORE "
				+ "KEYSTORE_PWFILE TRUSTSTORE TRUSTSTORE_PWFILE");
			System.exit(2);
		}
		int port = Integer.parseInt(args[0]);
		char[] tpw = password(args[4]);
		KeyStore trust = load(args[3], tpw);
		TrustManagerFactory tmf = TrustManagerFactory.getInstance(
			TrustManagerFactory.getDefaultAlgorithm());
		tmf.init(trust);
		Arrays.fill(tpw, '\0');
		KeyManager[] kms = new KeyManager[0];	/* no certificate */
		if (!args[1].equals("-")) {
			char[] kpw = password(args[2]);
			KeyStore keys = load(args[1], kpw);
			String alias = null;
			for (String a : Collections.list(keys.aliases()))
				if (keys.isKeyEntry(a))
					alias = a;
			if (alias == null) {
				System.err.println("JavaTlsClient: " + args[1]
					+ ": no PrivateKeyEntry");
				System.exit(1);
			}
			KeyManagerFactory kmf = KeyManagerFactory.getInstance(
				KeyManagerFactory.getDefaultAlgorithm());
			kmf.init(keys, kpw);
			Arrays.fill(kpw, '\0');
			kms = new KeyManager[] { new OneKey(
				(X509KeyManager) kmf.getKeyManagers()[0], alias) };
		}
		SSLContext ctx = SSLContext.getInstance("TLS");
		ctx.init(kms, tmf.getTrustManagers(), null);

		/* The server listens on 127.0.0.1 only; its certificate is
		 * checked against the name localhost. */
		Socket plain = new Socket();
		try {
			plain.connect(new InetSocketAddress("127.0.0.1", port), 10000);
			plain.setSoTimeout(10000);
			SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(
				plain, "localhost", port, true);
			SSLParameters p = s.getSSLParameters();
			p.setEndpointIdentificationAlgorithm("HTTPS");
			s.setSSLParameters(p);
			s.startHandshake();
			System.err.println("JavaTlsClient: " + s.getSession().getProtocol()
				+ " " + s.getSession().getCipherSuite());
			BufferedReader in = new BufferedReader(new InputStreamReader(
				s.getInputStream(), StandardCharsets.UTF_8));
			String line = in.readLine();
			s.close();
			if (line == null || !line.startsWith("hello ")) {
				System.err.println("JavaTlsClient: no greeting (the "
					+ "server closed the connection)");
				System.exit(1);
			}
			System.out.println(line);
		} catch (Exception e) {
			System.err.println("JavaTlsClient: " + e);
			System.exit(1);
		} finally {
			plain.close();
		}
	}
}
