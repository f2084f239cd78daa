#!/usr/bin/env bash
# test_token_servers.sh - unmodified servers with keys that stay on a
# PKCS#11 token (SoftHSM2), through key-reference files, as
# docs/integrations/token-keys.md sets them up:
#   nginx 1.22 with its default master and two workers (the workers run as
#     nobody: each reopens the module and logs in after the fork, the pid
#     check the provider does at use), TLS 1.2 and 1.3 with an RSA and a
#     P-256 token key, and a bounded load of concurrent handshakes over
#     both workers;
#   curl as a client authenticating with a token key (--key a reference
#     file) to that nginx, which asks for client certificates, and openssl
#     s_client (-key a kmc: URI), TLS 1.2 and 1.3;
#   HAProxy 2.6 in master-worker mode, its worker as nobody: TLS 1.2 and 1.3.
# The master reads the vault, which hands out where the key is and its
# public half; only the workers ever use the token (and so only they need
# its PIN). Also: PEM_read_bio_PrivateKey of a reference after an SSL_CTX
# (the servers' order) gives the kmc provider's key, fitting its
# certificate; read first thing in a program, it is refused with a message
# naming the kmc: URI, not a crash. Controls: a reference to a token key whose object was deleted
# from the token makes handshakes fail while nginx keeps running, and the
# server names the token and object in its log; nginx started with the
# token away does not start (the master sees that without the workers'
# PIN) and says which token.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

MOD=/usr/lib/softhsm/libsofthsm2.so
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
if [ ! -e "$MOD" ] || ! command -v softhsm2-util >/dev/null || [ ! -x "$NGINX" ]; then
	echo "# skip: SoftHSM2 ($MOD) or nginx is missing (tools/deps.sh installs them)"
	done_testing
	exit
fi
require_root_and_user "the test runs as root and the user nobody exists" nobody
NOGROUP=$(id -gn nobody)

V=$T/vault
PKI=$T/pki
N=$T/nginx
kmc() { "$KMC" --vault "$V" "$@"; }
mkdir -p "$N"
PROV=$KMC_BUILD/provider/kmc.so
CONF=$T/openssl-kmc.cnf
write_openssl_conf "$CONF" "$PROV"

# The token belongs to the user the workers run as: its files, the
# SoftHSM2 configuration and the PIN the workers log in with. The vault and
# the server keys' references stay root's.
W=$(mktemp -d /tmp/kmc-token.XXXXXX)
trap 'stop_all; rm -rf "$T" "$W"' EXIT
trap 'exit 1' INT TERM HUP
PIN=srv-pin-8
. "$KMC_TOP/tools/softhsm-token.sh"
softhsm_token "$W" srv so-8 "$PIN" >/dev/null
ROOTPIN=$T/pin
secret_file "$ROOTPIN" "$PIN"
WPIN=$W/pin
secret_file "$WPIN" "$PIN"
chmod 644 "$SOFTHSM2_CONF"
# The URI the vault records names the workers' copy of the PIN, which is
# theirs once the keys are made (kmc csr reads the URI's pin-source).
TOK="pkcs11:token=srv?module-path=$MOD&pin-source=$WPIN"

"$KMC_TOP/tools/mkpki.sh" "$PKI" >/dev/null
t "a vault" kmc init
# cli: the client's key, used by root, so its URI names root's PIN.
for key in web:rsa2048 ec:p256 cli:p256; do
	n=${key%%:*} uri=$TOK
	[ "$n" = cli ] && uri="pkcs11:token=srv?module-path=$MOD&pin-source=$ROOTPIN"
	t "key gen $n --type ${key#*:} --on-token" kmc key gen "$n" --type "${key#*:}" \
		--pin-file "$ROOTPIN" --on-token "$uri"
	t "csr $n (signed on the token)" kmc csr "$n" --pin-file "$ROOTPIN" \
		--subject /CN=localhost --san DNS:localhost --out "$T/$n.csr"
	(cd "$PKI" && openssl x509 -req -in "$T/$n.csr" -CA ca.crt -CAkey ca.key \
		-CAcreateserial -days 30 -copy_extensions copy -out "$T/$n.crt") >/dev/null 2>&1
	t "cert set $n" kmc cert set "$n" -s "$T/$n.crt" -c "$PKI/ca.crt"
	t "kmc ref $n --out $n.ref" kmc ref "$n" --out "$T/$n.ref"
done
# ---- how a server reads its key ------------------------------------------------------

READER=$T/pem_key_read
check "the key-reading program builds" kmc_cc "$READER" "$KMC_TOP/tests/e2e/pem_key_read.c"
for n in web ec; do
	t_out "PEM_read_bio_PrivateKey($n.ref) after an SSL_CTX: the kmc provider's key, fitting $n.crt" \
		"$([ $n = web ] && echo RSA || echo EC) kmc" \
		env OPENSSL_CONF="$CONF" "$READER" --ctx-first "$T/$n.ref" "$T/$n.crt"
done
# Read before anything else asked for a key management (kmc's are not
# offered yet): refused, no crash, the way that works named.
t_err 1 "PEM_read_bio_PrivateKey(web.ref) first thing in a program: refused, naming the kmc: URI" \
	"lives on a PKCS#11 token.*kmc ref web --uri" \
	env OPENSSL_CONF="$CONF" "$READER" "$T/web.ref" "$T/web.crt"
t_err 2 "a token key's reference with another certificate: does not fit" "" \
	env OPENSSL_CONF="$CONF" "$READER" --ctx-first "$T/web.ref" "$T/ec.crt"

chown -R nobody:"$NOGROUP" "$W"
chmod 755 "$T"	# nginx's workers open their logs' paths; nothing secret is in $T

# ---- nginx: master and two workers --------------------------------------------------

# nginx_conf NAME CERT KEY [EXTRA]: $N/NAME.conf on $PORT.
nginx_conf() {
	cat >"$N/$1.conf" <<CONF
user nobody $NOGROUP;
worker_processes 2;
# nginx clears its workers' environment: the token's module reads this.
env SOFTHSM2_CONF;
pid $N/$1.pid;
error_log $N/$1.log info;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $N/tmp-body;
	proxy_temp_path $N/tmp-proxy;
	fastcgi_temp_path $N/tmp-fastcgi;
	uwsgi_temp_path $N/tmp-uwsgi;
	scgi_temp_path $N/tmp-scgi;
	server {
		listen 127.0.0.1:$PORT ssl;
		server_name localhost;
		ssl_certificate $2;
		ssl_certificate_key $3;
		ssl_protocols TLSv1.2 TLSv1.3;
		${4:-}
		location / {
			default_type text/plain;
			return 200 "hello from \$pid\n";
		}
	}
}
CONF
}
# start_nginx NAME CERT KEY [EXTRA]: nginx, master and workers, in the
# background (nginx_bg, servers.sh).
start_nginx() { nginx_bg "$1" "$CONF" nginx_conf "$1" "$2" "$3" "${4:-}"; }
workers() { pgrep -P "$SPID" -u nobody | wc -l; }

for key in web:RSA ec:ECDSA; do
	n=${key%%:*} alg=${key#*:}
	t "nginx (master, two workers as nobody) with $n.ref starts" \
		start_nginx "$n" "$T/$n.crt" "$T/$n.ref"
	check "... two workers run as nobody" test "$(workers)" = 2
	hello "$n-12" -tls1_2
	check "... TLS 1.2 with the $n token key (ECDHE-$alg)" cipher_is "$n-12" "ECDHE-$alg-"
	hello "$n-13" -tls1_3
	check "... TLS 1.3 with the $n token key" cipher_is "$n-13" TLS_AES
	check "... the signature is $alg" grep -Eq "Peer signature type: ($alg|RSA-PSS)" "$T/$n-13.out"
	if [ "$n" = web ]; then
		# A bounded load: 4 clients x 15 requests, new handshake each.
		for c in 1 2 3 4; do
			(for i in $(seq 15); do
				timeout 20 curl -sS --fail --resolve "localhost:$PORT:127.0.0.1" \
					--cacert "$PKI/ca.crt" "https://localhost:$PORT/" || echo FAILED
			done) >"$T/load.$c" 2>&1 &
		done
		wait_jobs() { local j; for j in $(jobs -p); do [ "$j" = "$SPID" ] || wait "$j"; done; }
		wait_jobs
		check "60 concurrent-client handshakes all answered" \
			test "$(cat "$T"/load.? | grep -c '^hello from ')" = 60
		check "... by both workers" \
			test "$(cat "$T"/load.? | sort -u | grep -c '^hello from ')" = 2
		check "... and no request failed" bash -c "! grep -q FAILED $T/load.?"
	fi
	check "... nginx logged nothing at crit, alert or emerg" \
		bash -c "! grep -Eq '\[(crit|alert|emerg)\]' '$SLOG'"
	[ "$n" = web ] || stop_server "$SPID"
done

# ---- curl as a client with a token key ----------------------------------------------

stop_server "$SPID"
t "nginx asking for client certificates starts" start_nginx mtls "$T/web.crt" "$T/web.ref" \
	"ssl_client_certificate $PKI/ca.crt; ssl_verify_client on;"
curl_client() {
	timeout 20 env OPENSSL_CONF="$CONF" curl -sS --fail \
		--resolve "localhost:$PORT:127.0.0.1" --cacert "$PKI/ca.crt" \
		-o "$T/mtls.body" "$@" "https://localhost:$PORT/"
}
t "curl --cert cli.crt --key cli.ref: the client signs on the token" \
	curl_client --cert "$T/cli.crt" --key "$T/cli.ref"
check "... and gets the answer" grep -q '^hello from ' "$T/mtls.body"
t_err 22 "curl without a client certificate: refused by nginx (400)" "400" curl_client
s_client_token() {
	printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' |
		timeout 20 env OPENSSL_CONF="$CONF" openssl s_client -quiet \
		-connect "127.0.0.1:$PORT" -servername localhost -verify_return_error \
		-CAfile "$PKI/ca.crt" -cert "$T/cli.crt" -key "kmc://$V?item=cli" "$@" \
		>"$T/sc.out" 2>"$T/sc.err" && grep -q '^hello from ' "$T/sc.out" ||
		{ cat "$T/sc.err" >&2; false; }
}
for v in 1_2 1_3; do
	check "openssl s_client -key kmc://...?item=cli, TLS ${v/_/.}: the client signs on the token" \
		s_client_token "-tls$v"
done
stop_server "$SPID"

# ---- HAProxy -------------------------------------------------------------------------------

if [ -x "$HAPROXY" ]; then
	H=$T/haproxy
	mkdir -p "$H"
	cp "$T/web.crt" "$H/site.crt"
	cp "$T/web.ref" "$H/site.crt.key"
	PORT=$(free_port)
	cat >"$H/haproxy.cfg" <<CFG
global
	user nobody
	group $NOGROUP
	pidfile $H/haproxy.pid
defaults
	mode http
	timeout connect 5s
	timeout client 10s
	timeout server 10s
frontend fe
	bind 127.0.0.1:$PORT ssl crt $H/site.crt
	http-request return status 200 content-type text/plain string "hello from haproxy\n"
CFG
	SLOG=$H/haproxy.log
	env -u KMC_HOST_KEY OPENSSL_CONF="$CONF" "$HAPROXY" -W -db -f "$H/haproxy.cfg" \
		</dev/null >"$SLOG" 2>&1 &
	SPID=$!
	SPIDS+=("$SPID")
	t "HAProxy (master-worker, worker as nobody) with site.crt.key a reference starts" wait_listening
	hello ha12 -tls1_2
	check "... TLS 1.2 with the token key" cipher_is ha12 ECDHE-RSA-
	hello ha13 -tls1_3
	check "... TLS 1.3 with the token key" cipher_is ha13 TLS_AES
	check "... its worker runs as nobody" test "$(pgrep -P "$SPID" -u nobody | wc -l)" = 1
	stop_server "$SPID"
else
	echo "# skip: haproxy is not installed"
fi

# ---- nginx started without its token --------------------------------------------------

# The master checks, without the workers' PIN, that the token is there and
# holds the key; without it nginx does not start, and says why.
mv "$W/tokens" "$W/tokens.away"
PORT=$(free_port)
nginx_conf notoken "$T/web.crt" "$T/web.ref"
SLOG=$N/notoken.log
: >"$SLOG"
t_rc 1 "nginx with the token away: does not start" timeout 30 env -u KMC_HOST_KEY \
	OPENSSL_CONF="$CONF" "$NGINX" -p "$N/" -c "$N/notoken.conf" -e "$SLOG" -g 'daemon off;'
check "... its log names the token and the key file" \
	bash -c "grep -q 'web.ref' '$SLOG' && grep -q 'token=srv' '$SLOG'"
check "... and blames the token, not the way the file was read" \
	bash -c "! grep -q 'did not take it from this key-reference file' '$SLOG'"
mv "$W/tokens.away" "$W/tokens"

# ---- the token key deleted behind the vault's back -----------------------------------

t "nginx with ec.ref starts again" start_nginx gone "$T/ec.crt" "$T/ec.ref"
hello before -tls1_3
check "... serves" cipher_is before TLS_AES
pkcs11-tool --module "$MOD" --token-label srv --login --pin "$PIN" \
	--delete-object --type privkey --label ec >/dev/null 2>&1
hello after -tls1_3
check "the key deleted on the token: the handshake fails" test "$(cat "$T/after.rc")" != 0
check "... nginx names the token and the object" \
	wait_for grep -q "token srv has no private key object=ec" "$SLOG"
check "... and keeps running" kill -0 "$SPID"
stop_server "$SPID"

done_testing
