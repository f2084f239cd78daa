#!/usr/bin/env bash
# test_token_keys.sh - server keys that live on a PKCS#11 token (SoftHSM2,
# made in the test's temp dir): kmc key gen --on-token and kmc import
# --on-token put the key there (private, sensitive, never extractable,
# its value unreadable) and the vault records only where it is; kmc csr
# signs on the token and kmc cert set checks against the recorded public
# half; no server.key copy or server_key entry is written; unwrap and
# export refuse with the reason; a URI naming no token, a wrong PIN, a
# taken label, a type tokens do not get, Ed25519 and a new version on a
# token of a bundle whose key is in the vault are refused
# with nothing changed; a key deleted behind the vault's back is named.
# Servers: openssl s_server with -key kmc://... (STORE), kmc before
# default and after it, completes TLS 1.2 and 1.3 handshakes for RSA and
# P-256 token keys (and an RSA key exchange), signing on the token; a
# key-reference file given to openssl s_server is refused with the reason; an
# ordinary key still serves TLS 1.2 ECDSA with kmc loaded first; a server
# whose token key was deleted fails its handshakes and keeps running.
# A C server: examples/tls_server (kmc_ssl_ctx_use_ex) serves TLS 1.2 and
# 1.3 with the RSA and P-256 token keys through the provider it loads
# itself (this build's, by $OPENSSL_MODULES), and again after a reload,
# or the one an openssl.cnf loaded (then $OPENSSL_MODULES is not read);
# the read is audited; it refuses to start, naming what is wrong, when
# kmc.so is not where $OPENSSL_MODULES says, with a wrong PIN, without
# the token, and with the token key deleted. kmc_key_load() (token_load.c)
# loads kmc.so for a token key only, signs in the default library
# context and in the caller's (kmc_key_load_ex, and kmc_ssl_ctx_use_ex
# serving TLS 1.3 and 1.2 in memory from an SSL_CTX of that context),
# leaves no OpenSSL error behind, and refuses a passphrase-only vault
# without prompting.
# A TPM (swtpm + tpm2-pkcs11, started here on loopback): a P-256 key made
# there signs its CSR and serves TLS 1.2 and 1.3 through the provider.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/tls_servers.sh"

. "$(dirname "${BASH_SOURCE[0]}")/tokenlib.sh"

V=$T/vault
P=$T/pki
kmc() { setsid -w "$KMC" --vault "$V" "$@"; }
same() { cmp -s <(snapshot "$V") "$1" || { echo "the vault changed" >&2; false; }; }

BAD=$T/bad.pin
secret_file "$BAD" "not-the-pin"
# block LABEL CLASS: pkcs11-tool's lines on the object of that label and
# class ("Private Key", "Public Key").
block() {
	p11 --list-objects | awk -v want="$1" -v cls="$2" '
		/^[^ ]/ { if (hit) printf "%s", blk; blk = ""; hit = 0; c = index($0, cls) == 1 }
		{ blk = blk $0 "\n" }
		c && $1 == "label:" && $2 == want { hit = 1 }
		END { if (hit) printf "%s", blk }'
}
# stays_inside LABEL [imported]: sensitive and not extractable (and for a
# key made there, never extractable: an imported one once was outside).
stays_inside() {
	local b
	b=$(block "$1" "Private Key")
	grep -Eq 'Access: +sensitive' <<<"$b" &&
		{ [ -n "${2:-}" ] || grep -q 'never extractable' <<<"$b"; } &&
		! grep -Eq 'Access:( +| .*, +)extractable(,|$)' <<<"$b" ||
		{ echo "pkcs11-tool says: ${b:-no such object}" >&2; false; }
}
usage_is() { # usage_is LABEL USAGE: the private key's usage, exactly
	block "$1" "Private Key" | grep -Eq "^ *Usage: +$2\$"
}
count_keys() { p11 --list-objects | grep -c '^Private Key Object'; }
sign() {
	(cd "$P" && openssl x509 -req -in "$1" -CA ca.crt -CAkey ca.key \
		-CAcreateserial -days 30 -copy_extensions copy -out "$2") >/dev/null 2>&1
}

"$KMC_TOP/tools/mkpki.sh" "$P" >/dev/null
t "a vault" kmc init

# ---- key gen --on-token -----------------------------------------------------------

t "key gen web --type rsa2048 --on-token" kmc key gen web --type rsa2048 --on-token "$TOK"
check "the output says the key stays on the token and no copy is written" \
	grep -q "made a rsa2048 key web on the token: pkcs11:token=srv;id=.*object=web.*no keys-folder copy" "$LAST_ERR"
check "the token holds the private key, sensitive and never extractable" stays_inside web
check "it decrypts and signs, and unwraps nothing" usage_is web 'decrypt, sign'
check "and its public half beside it" test -n "$(block web 'Public Key')"
kmc list --json >"$T/list.json"
check "web/key is a token-key item" \
	jq -e '[.[] | select(.name == "web/key") | .type] == ["token-key"]' "$T/list.json"
check "the recorded URI keeps pin-source, and no PIN" \
	bash -c "! grep -rqa -- '$PIN' '$V'"
check "the audit log records the key made on the token by its call" \
	grep -q '"op":"kmc_key_gen_on_token","items":\[.*{"name":"web/key","version":1}' "$V/audit.log"
t "key gen ec --type p256 on the token, PIN from --pin-file" \
	kmc key gen ec --pin-file "$PINF" --on-token "pkcs11:token=srv?module-path=$MOD"
check "it warns that servers need pin-source" grep -q "no pin-source" "$LAST_ERR"
check "P-256 key on the token" stays_inside ec
check "an EC key signs, and neither decrypts nor unwraps" usage_is ec 'sign'
# ec's URI has no pin-source: its csr logs in with --pin-file, as key gen did.
t_err 3 "csr ec without a PIN (no pin-source, no terminal): refused (exit 3), saying so" "needs a PIN and none was given" \
	kmc csr ec --subject /CN=ec --out "$T/ec-nopin.csr"
check "... and writes nothing" test ! -e "$T/ec-nopin.csr"
t "csr ec --pin-file: the PIN given logs in to the token" \
	kmc csr ec --pin-file "$PINF" --subject /CN=ec --out "$T/ec.csr"
check "... the request's signature verifies" openssl req -in "$T/ec.csr" -noout -verify
t_err 3 "csr web --pin-file with a wrong PIN: the PIN given is the one used (exit 3)" \
	"wrong PIN" kmc csr web --pin-file "$BAD" --subject /CN=x --out "$T/bad.csr"

# csr on the token, cert set against the recorded public half
t "csr web, signed on the token" kmc csr web --subject /CN=localhost --san DNS:localhost --out "$T/web.csr"
check "the request's signature verifies" openssl req -in "$T/web.csr" -noout -verify
sign "$T/web.csr" "$T/web.crt"
t "cert set web" kmc cert set web -s "$T/web.crt" -c "$P/ca.crt" --conf "$T/web.conf"
check "the keys folder has no server.key" test ! -e "$V/keys/web/server.key"
check "... but the certificates" test -s "$V/keys/web/server.crt"
check "the config file has no server_key nor server_key_mm entry" \
	bash -c "grep -q server_crt '$T/web.conf' && ! grep -q server_key '$T/web.conf'"
t_err 9 "a certificate of another key: exit 9" "" kmc cert set ec -s "$P/server.crt" -c "$P/ca.crt"
S0=$T/s0
snapshot "$V" >"$S0"
t_err 9 "unwrap web: refused, exit 9, naming the token key" \
	"the key of web lives on a PKCS#11 token \(pkcs11:token=srv;.*object=web.*\).*cannot be unwrapped" \
	kmc unwrap web --out "$T/web.pem"
check "no key file was written" test ! -e "$T/web.pem"
t_err 9 "export web: refused, exit 9" "lives on a PKCS#11 token.*cannot be exported" \
	kmc export web --format pkcs12 --out "$T/web.p12" --password-file "$PINF"
check "nothing changed" same "$S0"

# ---- import --on-token ---------------------------------------------------------------

t "import api --on-token" kmc import -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.plain.key" \
	--name api --conf "$T/api.conf" --on-token "$TOK"
check "the output says the key moved and no server.key is written" \
	grep -q "its key moved to the token: pkcs11:token=srv;.*object=api.*no server.key is written" "$LAST_ERR"
check "the imported key is on the token, sensitive, not extractable" stays_inside api imported
check "no server.key in the keys folder" test ! -e "$V/keys/api/server.key"
check "the config file names the certificates, no key" \
	bash -c "grep -q ca_crt '$T/api.conf' && ! grep -q server_key '$T/api.conf'"
t_err 9 "unwrap api: refused" "cannot be unwrapped" kmc unwrap api --out "$T/api.pem"

# ---- bad input ------------------------------------------------------------------------

t "import inv, its key in the vault" kmc import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.plain.key" --name inv
N0=$(count_keys)
snapshot "$V" >"$S0"
t_err 7 "a URI naming no token: exit 7, naming it" "no token matching pkcs11:token=nosuch" \
	kmc key gen x --on-token "pkcs11:token=nosuch?module-path=$MOD&pin-source=$PINF"
t_err 3 "a wrong PIN: exit 3, naming the token" "token srv: wrong PIN" \
	kmc key gen x --pin-file "$BAD" --on-token "pkcs11:token=srv?module-path=$MOD"
t_err 8 "a label the token holds already: exit 8" "token srv already has an object with object=web" \
	kmc key gen x --on-token "pkcs11:token=srv;object=web?module-path=$MOD&pin-source=$PINF"
t_err 2 "a type tokens do not get here: exit 2" "keys on a token are rsa2048, rsa3072, p256 or p384" \
	kmc key gen x --type ed25519 --on-token "$TOK"
t_err 9 "a new version on a token of a bundle whose key is in the vault: exit 9" \
	"the key of inv is in the vault: its new version cannot go to a token" \
	kmc import -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.plain.key" --name inv \
	--replace --stage --on-token "$TOK"
t_err 8 "key gen of a name the vault holds: exit 8, before the token is touched" "already holds web" \
	kmc key gen web --on-token "$TOK"
check "nothing changed in the vault" same "$S0"
check "nor on the token" test "$(count_keys)" = "$N0"

# ---- servers: openssl s_server through the provider ----------------------------------

trap 'stop_all; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP
PROVDIR=$KMC_BUILD/provider
KMC_FIRST=(-provider-path "$PROVDIR" -provider kmc -provider default)
DEF_FIRST=(-provider-path "$PROVDIR" -provider default -provider kmc)
CONF=$T/openssl-kmc.cnf
write_openssl_conf "$CONF" "$PROVDIR/kmc.so"
HELLO_CA=$P/ca.crt	# hello (servers.sh) verifies against it
# The token key pair ec2 gets a certificate, so that both types serve.
t "key gen ec2 --type p256 --on-token" kmc key gen ec2 --on-token "$TOK"
t "csr ec2" kmc csr ec2 --subject /CN=localhost --san DNS:localhost --out "$T/ec2.csr"
sign "$T/ec2.csr" "$T/ec2.crt"
t "cert set ec2" kmc cert set ec2 -s "$T/ec2.crt" -c "$P/ca.crt"
t "kmc ref web --out web.ref (a key-reference file)" kmc ref web --out "$T/web.ref"

n0=$(wc -l <"$V/audit.log")
for key in web:RSA ec2:ECDSA; do
	n=${key%%:*} alg=${key#*:}
	for order in kmc-first default-first; do
		if [ $order = kmc-first ]; then prov=("${KMC_FIRST[@]}"); else prov=("${DEF_FIRST[@]}"); fi
		t "s_server -key kmc://...?item=$n ($order) starts" \
			start_s_server "$n-$order" openssl s_server "${prov[@]}" \
			-cert "$T/$n.crt" -key "kmc://$V?item=$n"
		hello "$n-$order-12" -tls1_2
		check "... TLS 1.2 with the $n token key ($alg)" cipher_is "$n-$order-12" "ECDHE-$alg-"
		hello "$n-$order-13" -tls1_3
		check "... TLS 1.3 with the $n token key" cipher_is "$n-$order-13" TLS_AES
		check "... signed with $alg" grep -Eq "Peer signature type: ($alg|RSA-PSS)" "$T/$n-$order-13.out"
		stop_server "$SPID"
	done
done
# The provider read each token key's record once a load, as the item
# read it is, never as a key export (the key never leaves the token).
tail -n +$((n0 + 1)) "$V/audit.log" >"$T/loads.log"
check "the provider's loads are audited as reads of web/key and ec2/key (kmc_item_get)" \
	test "$(grep -Ec '"op":"kmc_item_get","items":\[\{"name":"(web|ec2)/key"' "$T/loads.log")" -ge 4
check "... and none as kmc_key_export" \
	bash -c "! grep -q '\"op\":\"kmc_key_export\"' '$T/loads.log'"
check "the signatures were made on the token: no private key is in the vault" \
	bash -c "! '$KMC' --vault '$V' unwrap web --out '$T/x.pem' 2>/dev/null"

t "s_server -key kmc://...?item=web (for an RSA key exchange) starts" \
	start_s_server rsakx openssl s_server "${KMC_FIRST[@]}" \
	-cert "$T/web.crt" -key "kmc://$V?item=web"
hello rsakx -tls1_2 -cipher AES128-GCM-SHA256
check "an RSA key exchange: the token decrypts the premaster" cipher_is rsakx AES128-GCM-SHA256
stop_server "$SPID"
# openssl's own commands open -key files through a "file:" store, whose
# key management is the default provider's: a token key's reference file
# is refused there, saying so (nginx, HAProxy and curl read it:
# test_token_servers.sh).
t_err 1 "s_server -key web.ref (OPENSSL_CONF): refused, naming the token key and the way that works" \
	"lives on a PKCS#11 token.*OSSL_STORE.*kmc ref web --uri" \
	env OPENSSL_CONF="$CONF" timeout 20 openssl s_server -accept 127.0.0.1:0 -www \
	-cert "$T/web.crt" -key "$T/web.ref"

# A C server: examples/tls_server (kmc_ssl_ctx_use_ex) serves token keys,
# the kmc provider it needs taken from this build ($OPENSSL_MODULES).
export OPENSSL_MODULES=$PROVDIR
tls_srv() { timeout 20 "$SRV" --vault "$V" --verify-client none "$@"; }
for key in web:RSA ec2:ECDSA; do
	n=${key%%:*} alg=${key#*:}
	t "examples/tls_server --name $n (a token key, kmc_ssl_ctx_use_ex) starts" \
		start_tls_server "c-$n" --vault "$V" --name "$n" --verify-client none
	hello "c-$n-12" -tls1_2
	check "... TLS 1.2 with the $n token key ($alg)" cipher_is "c-$n-12" "ECDHE-$alg-"
	hello "c-$n-13" -tls1_3
	check "... TLS 1.3 with the $n token key, signed with $alg" \
		bash -c "grep -q 'Cipher is TLS_AES' '$T/c-$n-13.out' &&
			grep -Eq 'Peer signature type: ($alg|RSA-PSS)' '$T/c-$n-13.out' &&
			[ \"\$(cat '$T/c-$n-13.rc')\" = 0 ]"
	check "... the server greeted both" test "$(log_count "c-$n" "greeted")" = 2
	stop_server "$SPID"
done
# The reload path: a change to the vault makes the server build a new
# context, with the token key again.
t "examples/tls_server --name web starts again" \
	start_tls_server c-reload --vault "$V" --name web --verify-client none
t "a change to the vault (key gen bump)" kmc key gen bump --type p256
check "... the server reloads" await_log c-reload "reloaded: generation"
hello c-reload-13 -tls1_3
check "... and serves TLS 1.3 with the token key after it" cipher_is c-reload-13 TLS_AES
check "... its log has no failure" bash -c "! grep -q 'failed' '$T/c-reload.log'"
stop_server "$SPID"
check "the audit log records the server's read of the token key" \
	grep -q '"op":"kmc_ssl_ctx_use_ex".*"name":"web/key"' "$V/audit.log"
check "... no private key came into it: unwrap still refuses" \
	bash -c "! '$KMC' --vault '$V' unwrap web --out '$T/x.pem' 2>/dev/null"
# kmc already loaded by the configuration: taken as it is, not looked for.
write_openssl_conf "$T/kmc-conf.cnf" "$PROVDIR/kmc.so"
export OPENSSL_CONF=$T/kmc-conf.cnf OPENSSL_MODULES=$T/nowhere
t "tls_server with kmc.so from openssl.cnf (OPENSSL_MODULES pointing nowhere) starts" \
	start_tls_server c-conf --vault "$V" --name web --verify-client none
hello c-conf-13 -tls1_3
check "... and serves TLS 1.3 with the token key through the configured provider" \
	cipher_is c-conf-13 TLS_AES
stop_server "$SPID"
unset OPENSSL_CONF
export OPENSSL_MODULES=$PROVDIR
t_err 1 "tls_server with the provider not where OPENSSL_MODULES says: refused at start, naming the path and how to set it" \
	"the key of web lives on a PKCS#11 token and needs the kmc provider: $T/nowhere/kmc\.so \(from .OPENSSL_MODULES\): No such file" \
	env OPENSSL_MODULES="$T/nowhere" "$SRV" --vault "$V" --name web --verify-client none
secret_file "$T/wrong.pin" "not-the-pin"
cp "$PINF" "$T/pin.keep"
cp "$T/wrong.pin" "$PINF"
t_err 1 "tls_server with a wrong PIN in the URI's pin-source: refused at start, naming bundle and token" \
	"bundle web in .*the key of web lives on a PKCS#11 token: token srv: wrong PIN" \
	tls_srv --name web
cp "$T/pin.keep" "$PINF"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$T/notokens" >"$T/empty.conf"
mkdir -m 700 "$T/notokens"
t_err 1 "tls_server without its token: refused at start, naming the token" \
	"the key of web lives on a PKCS#11 token.*no token matching pkcs11:token=srv" \
	env SOFTHSM2_CONF="$T/empty.conf" "$SRV" --vault "$V" --name web --verify-client none
# kmc_key_load() itself: kmc.so only once a token key is loaded; the key
# signs in the default library context and in one of the caller's, and no
# OpenSSL error is left behind for the caller's next call to trip on.
TOKLOAD=$T/token_load
check "the token_load helper builds" kmc_cc "$TOKLOAD" "$KMC_TOP/tests/e2e/token_load.c"
# said LINE: token_load printed LINE (else its output, to the report).
said() { grep -qx -- "$1" "$T/load.out" || { cat "$T/load.out" "$T/load.err" >&2; false; }; }
for n in web ec2; do
	"$TOKLOAD" "$V" bump "$n" >"$T/load.out" 2>"$T/load.err"
	check "kmc_key_load of a vault key: kmc.so is not loaded" \
		said "plain: rc 0, kmc.so mapped: no"
	check "... of the token key $n: kmc.so loaded, no OpenSSL error left, the token's signature verifies" \
		said "token: rc 0, kmc.so mapped: yes, OpenSSL errors left: no, signature verifies: yes"
	check "kmc_key_load_ex in a library context of the caller's: the provider loaded there, and $n signs" \
		said "token in a new libctx: rc 0, kmc provider there: yes, signature verifies: yes"
	check "kmc_ssl_ctx_use_ex on an SSL_CTX of that context: TLS 1.3 and 1.2 handshakes with $n" \
		said "SSL_CTX in that libctx: rc 0, TLS 1.3 handshake: yes, TLS 1.2 handshake: yes"
	check "... and after it, vault keys and new RSA and EC keys are still the default provider's" \
		said "after: plain key by default, new RSA key by default, new P-256 key by default"
done
# Only the C server's: tpm2_ptool below reads it for OpenSSL's own modules.
unset OPENSSL_MODULES

# Ordinary keys are untouched by the token algorithms, kmc loaded first.
t "import plain (an ordinary P-256 key in the vault)" kmc import -c "$P/ca.crt" \
	-s "$P/server.crt" -k "$P/server.plain.key" --name plain
t "s_server -key kmc://...?item=plain (kmc first) starts" \
	start_s_server plain openssl s_server "${KMC_FIRST[@]}" \
	-cert "$P/server.crt" -key "kmc://$V?item=plain"
hello plain12 -tls1_2 -groups P-256
check "... an ordinary key still serves TLS 1.2 ECDSA with ECDHE P-256" \
	cipher_is plain12 ECDHE-ECDSA-
stop_server "$SPID"

# The token key deleted while servers use it: openssl s_server, and
# examples/tls_server (the C API).
export OPENSSL_MODULES=$PROVDIR
t "tls_server --name ec2 starts" start_tls_server c-gone --vault "$V" --name ec2 --verify-client none
unset OPENSSL_MODULES
CPORT=$(port_of c-gone) CPID=$(pid_of c-gone)
t "s_server -key kmc://...?item=ec2 starts" start_s_server gone openssl s_server \
	"${KMC_FIRST[@]}" -cert "$T/ec2.crt" -key "kmc://$V?item=ec2"
hello before -tls1_3
check "... serves" cipher_is before TLS_AES
SPORT=$PORT PORT=$CPORT
hello c-before -tls1_3
check "... and so does tls_server" cipher_is c-before TLS_AES
PORT=$SPORT
p11 --delete-object --type privkey --label ec2 >/dev/null
hello after -tls1_3
check "the key deleted on the token: the handshake fails" failed after
check "... the server says which token key" grep -q "token srv has no private key object=ec2" "$SLOG"
check "... and keeps running" kill -0 "$SPID"
stop_server "$SPID"
PORT=$CPORT
hello c-after -tls1_3
check "tls_server: the handshake fails too" failed c-after
check "... its log says the handshake failed, naming the token key" \
	grep -q "handshake failed: .*token srv has no private key object=ec2" "$T/c-gone.log"
check "... and it keeps running" kill -0 "$CPID"
hello c-again -tls1_3
check "... and fails the next one the same way, without hanging" failed c-again
stop_server "$CPID"
PORT=$SPORT
t_err 1 "tls_server with the deleted token key: refused at start, naming token and object" \
	"the key of ec2 lives on a PKCS#11 token.*token srv has no private key object=ec2" \
	env OPENSSL_MODULES="$PROVDIR" timeout 20 "$SRV" --vault "$V" --verify-client none --name ec2

# ---- a TPM: swtpm + tpm2-pkcs11, P-256 ---------------------------------------------

# tpm2-pkcs11 1.9 leaks a public key's ASN.1 string in C_SignInit
# (ssl_util_attrs_to_evp): tools/lsan.supp names the library, but
# ASan's fast unwinder stops inside libcrypto, short of it. The full
# unwinder, for this part only, lets the suppression see it; a leak of
# kmc's own is still reported.
[ -z "${KMC_SANITIZED:-}" ] ||
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"

TPM_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
tpm_ok=1
for tool in swtpm tpm2_ptool tpm2_flushcontext; do
	command -v "$tool" >/dev/null 2>&1 || tpm_ok=0
done
[ -e "$TPM_MODULE" ] || tpm_ok=0
if [ "$tpm_ok" = 1 ]; then
	. "$KMC_TOP/tools/swtpm-token.sh"
	TPMDIR=$T/swtpm
	trap 'stop_all; swtpm_stop "$TPMDIR"; rm -rf "$T"' EXIT
	if swtpm_start "$TPMDIR" >/dev/null 2>&1 &&
	    swtpm_token kmc-tpm so-1234 1234 aes-kek rsa-kek >/dev/null 2>&1; then
		secret_file "$T/tpm.pin" 1234
		TTOK="pkcs11:token=kmc-tpm?module-path=$TPM_MODULE&pin-source=$T/tpm.pin"
		t "TPM: key gen tpmkey --type p256 --on-token (tpm2-pkcs11)" \
			kmc key gen tpmkey --on-token "$TTOK"
		t "TPM: csr, signed by the TPM" kmc csr tpmkey --subject /CN=localhost \
			--san DNS:localhost --out "$T/tpmkey.csr"
		check "... the request verifies" openssl req -in "$T/tpmkey.csr" -noout -verify
		sign "$T/tpmkey.csr" "$T/tpmkey.crt"
		t "TPM: cert set" kmc cert set tpmkey -s "$T/tpmkey.crt" -c "$P/ca.crt"
		t "TPM: s_server -key kmc://...?item=tpmkey starts" start_s_server tpm \
			openssl s_server "${KMC_FIRST[@]}" -cert "$T/tpmkey.crt" \
			-key "kmc://$V?item=tpmkey"
		hello tpm12 -tls1_2
		check "... TLS 1.2 with the TPM's P-256 key" cipher_is tpm12 ECDHE-ECDSA-
		hello tpm13 -tls1_3
		check "... TLS 1.3 with the TPM's P-256 key" cipher_is tpm13 TLS_AES
		stop_server "$SPID"
	else
		_report 0 "swtpm and a tpm2-pkcs11 token start"
	fi
	swtpm_stop "$TPMDIR" >/dev/null 2>&1
else
	echo "# skip: TPM part: swtpm, tpm2-tools, tpm2_ptool or tpm2-pkcs11 is missing"
fi

# A key deleted on the token behind the vault's back.
p11 --delete-object --type privkey --label api >/dev/null
t_err 7 "csr of a key deleted on the token: exit 7, naming token and object" \
	"token srv has no private key object=api id=[0-9a-f]+ \(deleted outside the vault\?\)" \
	kmc csr api --subject /CN=api

# A vault that opens only by passphrase: the provider cannot open it again,
# and kmc_key_load says so rather than prompting.
secret_file "$T/pp" "a-long-vault-passphrase"
t "protector add passphrase" kmc protector add passphrase --passphrase-file "$T/pp" \
	--argon2-ops 1 --argon2-mem 8
host_id=$(kmc protector list | awk '$2 == "host" { print $1 }')
t "protector remove the host protector ($host_id)" kmc protector remove "$host_id"
OPENSSL_MODULES=$PROVDIR "$TOKLOAD" "$V" bump web "$T/pp" >"$T/load.out" 2>"$T/load.err"
check "kmc_key_load of the token key in a passphrase-only vault: KMC_E_NEED_PASSPHRASE, saying why, no prompt" \
	grep -Eq "^token: rc -40005, the key of web lives on a PKCS#11 token, which the kmc provider reaches by opening vault .* again; a vault that opens only by passphrase cannot" "$T/load.out"

done_testing
