#!/usr/bin/env bash
# test_tls_options.sh - kmc_ssl_ctx_use_ex(): what it sets on an SSL_CTX
# beside kmc_ssl_ctx_use() (tests/e2e/ctx_use.c); then, through
# examples/tls_server, each client-certificate mode (--verify-client
# required, optional, none) with clients without a certificate, with one
# of the bundle's CA and with one of another CA; cipher lists for TLS 1.2 (--ciphers) and TLS
# 1.3 (--ciphersuites) that refuse a client offering only ciphers outside
# them; and cipher strings with a bad part refused at start, naming it.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/tls_servers.sh"

V=$T/vault
PKI=$T/pki
OTHER=$T/other
kmc() { "$KMC" --vault "$V" "$@"; }

trap 'stop_all; rm -rf "$T"' EXIT

# connect SERVER NAME [s_client options]: one s_client run against server
# SERVER (started by start_tls_server SERVER) that sends nothing; stdout
# in $T/NAME.out, stderr in $T/NAME.err, exit status in $T/NAME.rc.
connect() {
	local port name=$2
	port=$(port_of "$1")
	shift 2
	timeout 10 openssl s_client -connect "127.0.0.1:$port" \
		-CAfile "$PKI/ca.crt" -verify_return_error -ign_eof "$@" \
		</dev/null >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
ours=(-cert "$PKI/client.crt" -key "$PKI/client.key")
theirs=(-cert "$OTHER/client.crt" -key "$OTHER/client.key")

greeted_as() { grep -qxF "hello $2" "$T/$1.out"; }
not_greeted() { ! grep -q 'hello' "$T/$1.out"; }
cipher_was() { grep -Eq "Cipher is $2\$" "$T/$1.out"; }
# logged SERVER REGEX
logged() { grep -Eq -- "$2" "$T/$1.log"; }

"$KMC_TOP/tools/mkpki.sh" "$PKI" >/dev/null
MKPKI_CA_CN="another CA" "$KMC_TOP/tools/mkpki.sh" "$OTHER" >/dev/null
secret_file "$T/keypw" 'server-key-password'
t "init a vault" kmc init
t "import the CA, server certificate, key and CRL" \
	kmc import -c "$PKI/ca.crt" -s "$PKI/server.crt" -k "$PKI/server.key" \
	-r "$PKI/ca.crl" --password-file "$T/keypw"

# ---- the C API: the old call unchanged, options checked first ------------------

t "a test program of the C API builds" \
	kmc_cc "$T/ctx_use" "$KMC_TOP/tests/e2e/ctx_use.c"
t "it sets up SSL_CTXs from the bundle" "$T/ctx_use" "$V" server
cp "$OUT" "$T/ctx_use.out"	# check empties $OUT before it runs
api() { grep -Eqx -- "$1" "$T/ctx_use.out"; }
check "kmc_ssl_ctx_use() still requires a client certificate" \
	api 'kmc_ssl_ctx_use: verify peer\+fail, ciphers [0-9]+, rc 0'
check "kmc_ssl_ctx_use_ex() with NULL options sets the very same" bash -c \
	'[ "$(sed -n "s/^kmc_ssl_ctx_use: //p" "$1")" = \
	   "$(sed -n "s/^ex NULL: //p" "$1")" ]' _ "$T/ctx_use.out"
check "optional: verified when sent, not required; the two listed ciphers" \
	api 'ex optional: verify peer, ciphers 2, rc 0'
check "none: not asked for" api 'ex none: verify none, ciphers 2, rc 0'
check "a bad suite after a good one is refused, named" \
	api 'ex bad suite: verify none, ciphers [0-9]+, rc -[0-9]+, TLS 1.3 suites: TLS_NOPE is no TLS 1.3 suite.*'
check "... leaving the SSL_CTX untouched (no cipher, mode or certificate set)" \
	api 'ex bad suite: ctx untouched'
check "a kmc_tls_params without its size is refused, saying how to set it" \
	api 'ex size 0: .*rc -[0-9]+, kmc_tls_params.size is 0: set it to sizeof\(kmc_tls_params\) \(KMC_TLS_PARAMS_INIT\)'

# ---- client-certificate modes ------------------------------------------------

t "a server with --verify-client required starts" \
	start_tls_server required --vault "$V" --verify-client required
t "a server with --verify-client optional starts" \
	start_tls_server optional --vault "$V" --verify-client optional
t "a server with --verify-client none starts" \
	start_tls_server none --vault "$V" --verify-client none
check "each logs what it asks of clients" bash -c \
	'grep -q "client certificates required;" "$1/required.log" &&
	 grep -q "client certificates optional;" "$1/optional.log" &&
	 grep -q "client certificates not asked for;" "$1/none.log"' _ "$T"

for mode in required optional none; do
	connect "$mode" "$mode-nocert"
	connect "$mode" "$mode-ours" "${ours[@]}"
	connect "$mode" "$mode-theirs" "${theirs[@]}"
done

check "required: a client without a certificate is refused" \
	failed required-nocert
check "required: ... and not greeted" not_greeted required-nocert
check "required: the server logged why" \
	logged required 'handshake failed: .*did not return a certificate'
check "required: a client of the bundle's CA is greeted by its CN" \
	greeted_as required-ours 'kmc test client'
check "required: a client of another CA is refused" failed required-theirs
check "required: ... and not greeted" not_greeted required-theirs

check "optional: a client without a certificate is let in" \
	greeted_as optional-nocert '(no certificate)'
check "optional: a client of the bundle's CA is greeted by its CN" \
	greeted_as optional-ours 'kmc test client'
check "optional: a client of another CA is still refused" \
	failed optional-theirs
check "optional: ... and not greeted" not_greeted optional-theirs
check "optional: the server logged that it could not verify it" \
	logged optional 'handshake failed: .*certificate.*\(unable to get local issuer certificate\)'

check "none: a client without a certificate is let in" \
	greeted_as none-nocert '(no certificate)'
check "none: a client with one is not asked for it" \
	greeted_as none-ours '(no certificate)'
check "none: nor is a client of another CA" \
	greeted_as none-theirs '(no certificate)'

# kmc_ssl_ctx_use_ex() keeps the bundle's CRL under optional: a revoked
# client that sends its certificate is refused after the reload. The
# update is more than one commit (its journal first): the reload that
# counts is the one at the generation it ended at (tls_servers.sh).
t "crl.sh revokes our client" "$PKI/crl.sh" "$PKI/client.crt"
t "kmc crl update stores the new CRL" kmc crl update server -r "$PKI/ca.crl"
t "the optional server reloads at the update's last generation" \
	await_reloaded optional "$V"
connect optional optional-revoked "${ours[@]}"
check "optional: a revoked client is refused" failed optional-revoked
check "optional: the server logged it revoked" \
	logged optional 'handshake failed: .*certificate revoked'
connect optional optional-nocert2
check "optional: a client without a certificate is still let in" \
	greeted_as optional-nocert2 '(no certificate)'

t_err 2 "--verify-client with another word is a usage error" \
	'usage: tls_server' "$SRV" --vault "$V" --verify-client yes

# ---- cipher lists -------------------------------------------------------------

# mkpki's server key is EC P-256: ECDHE-ECDSA ciphers.
t "a server with --ciphers and --ciphersuites starts" \
	start_tls_server ciphers --vault "$V" --verify-client none \
	--ciphers ECDHE-ECDSA-AES256-GCM-SHA384 \
	--ciphersuites TLS_AES_256_GCM_SHA384
check "it logs the cipher lists it serves" logged ciphers \
	'ciphers ECDHE-ECDSA-AES256-GCM-SHA384; TLS 1.3 suites TLS_AES_256_GCM_SHA384$'

connect ciphers c12-in -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384
check "TLS 1.2: a client offering the listed cipher is greeted" \
	greeted_as c12-in '(no certificate)'
check "TLS 1.2: ... over that cipher" cipher_was c12-in \
	ECDHE-ECDSA-AES256-GCM-SHA384
connect ciphers c12-out -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
check "TLS 1.2: a client offering only a cipher outside the list is refused" \
	failed c12-out
check "TLS 1.2: ... not greeted" not_greeted c12-out
check "TLS 1.2: the server logged no shared cipher" \
	logged ciphers 'handshake failed: no shared cipher'

connect ciphers c13-in -tls1_3
check "TLS 1.3: a client with the defaults gets the one listed suite" \
	cipher_was c13-in TLS_AES_256_GCM_SHA384
connect ciphers c13-out -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256
check "TLS 1.3: a client offering only a suite outside the list is refused" \
	failed c13-out
check "TLS 1.3: ... not greeted" not_greeted c13-out

t "a server with --ciphersuites '' (TLS 1.3 off) starts" \
	start_tls_server no13 --vault "$V" --verify-client none \
	--ciphersuites ''
check "it logs TLS 1.3 off" logged no13 'TLS 1.3 suites \(none: TLS 1.3 off\)$'
connect no13 no13-13 -tls1_3
check "a TLS 1.3-only client is refused" failed no13-13
connect no13 no13-12 -tls1_2
check "a TLS 1.2 client is greeted" greeted_as no13-12 '(no certificate)'

# ---- bad cipher strings: refused at start, naming the part -----------------

bad_start() { # DESC REGEX ARGS...: exit 1 before listening, stderr ~ REGEX
	local desc=$1 re=$2
	shift 2
	t_err 1 "$desc" "$re" timeout 10 "$SRV" --vault "$V" "$@"
	cp "$OUT" "$T/bad.stdout"	# check empties $OUT before it runs
	check "... and it never listened" bash -c '! grep -q listening "$1"' \
		_ "$T/bad.stdout"
}
bad_start "a misspelt cipher among good ones is refused, named" \
	'cipher list: ECDHE-ECDSA-AES256-GCM-SHA348 selects no cipher' \
	--ciphers 'HIGH:ECDHE-ECDSA-AES256-GCM-SHA348'
bad_start "a TLS 1.3 suite in --ciphers is refused, pointing to the suites" \
	'cipher list: TLS_AES_128_GCM_SHA256 is a TLS 1.3 suite' \
	--ciphers TLS_AES_128_GCM_SHA256
bad_start "a list its exclusions empty is refused" \
	'cipher list HIGH:!HIGH leaves no cipher' --ciphers 'HIGH:!HIGH'
bad_start "a misspelt TLS 1.3 suite is refused, named" \
	'TLS 1.3 suites: TLS_AES_256_GCM_SHA348 is no TLS 1.3 suite' \
	--ciphersuites 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA348'
bad_start "a TLS 1.2 cipher in --ciphersuites is refused, named" \
	'ECDHE-ECDSA-AES256-GCM-SHA384 is a cipher of TLS 1.2' \
	--ciphersuites ECDHE-ECDSA-AES256-GCM-SHA384
t "exclusions of ciphers this OpenSSL lacks are let be" \
	start_tls_server legacy --vault "$V" --max-connections 1 \
	--verify-client none --ciphers 'HIGH:!aNULL:!MD5:!RC4'
connect legacy legacy-12 -tls1_2
check "... and that server serves TLS 1.2" \
	greeted_as legacy-12 '(no certificate)'

done_testing
