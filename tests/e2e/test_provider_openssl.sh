#!/usr/bin/env bash
# test_provider_openssl.sh - the kmc OpenSSL provider (kmc.so) under the
# openssl command, as docs/integrations/openssl.md and docs/provider.md
# describe it:
#   STORE    `openssl s_server -key kmc://VAULT?item=server`, the provider
#            loaded with -provider-path/-provider;
#   DECODER  `openssl s_server -key ref.pem` with a key-reference file, the
#            provider loaded through OPENSSL_CONF;
# s_client verifies the server against the CA and sees the imported
# certificate. Then the failures: a missing item, malformed URIs, a file
# named like the URI in the current directory, the vault half (kmc/vault.so)
# loaded only when a key is asked for and named when missing, and a
# passphrase vault opened through -passin (and refused with a wrong one).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

if ! command -v openssl >/dev/null 2>&1; then
	echo "skip: openssl not installed"
	done_testing
	exit
fi

V=$T/vault
PKI=$T/pki
PROVDIR=$KMC_BUILD/provider
PROV=(-provider-path "$PROVDIR" -provider kmc -provider default)
kmc() { "$KMC" --vault "$V" "$@"; }

# The OpenSSL configuration that loads the provider next to the default one.
CONF=$T/openssl-kmc.cnf
write_openssl_conf "$CONF" "$PROVDIR/kmc.so"
with_conf() { OPENSSL_CONF=$CONF "$@"; }
# Every openssl run is bounded: a prompt or a loop must not hang the suite.
ossl() { timeout 20 openssl "$@"; }

# pubkey_of_cert CERT / pubkey_of KEY-ARGS...: the public key, as SHA-256
# of its PEM, so a loaded private key is compared with the certificate.
pubkey_of_cert() { openssl x509 -in "$1" -noout -pubkey | sha256sum | cut -d' ' -f1; }
pubkey_of() {
	local pem
	pem=$(ossl pkey "$@" -pubout) || return 1
	printf '%s\n' "$pem" | sha256sum | cut -d' ' -f1
}

# ---- servers in the background --------------------------------------------------

trap 'stop_all; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

# connect NAME: one s_client run against $PORT that verifies the server
# (CA and host name) and sends nothing; output in $T/NAME.{out,err,rc}.
connect() {
	local name=$1
	timeout 20 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
		-verify_hostname localhost -CAfile "$PKI/ca.crt" -verify_return_error \
		</dev/null >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
succeeded() { [ "$(cat "$T/$1.rc")" = 0 ]; }
SERVER_FP=

# ---- a vault with the server bundle ---------------------------------------------

t "tools/mkpki.sh makes a CA and an encrypted server key" \
	bash "$KMC_TOP/tools/mkpki.sh" "$PKI"
secret_file "$T/keypw" 'server-key-password'
t "kmc init makes a vault with the host protector" kmc init
t "kmc import stores the server bundle (encrypted key)" \
	kmc import -c "$PKI/ca.crt" -s "$PKI/server.crt" -k "$PKI/server.key" \
	--password-file "$T/keypw"
SERVER_PUB=$(pubkey_of_cert "$PKI/server.crt")
SERVER_FP=$(fingerprint "$PKI/server.crt")

URI="kmc://$V?item=server"
t_out "kmc ref server --uri prints kmc://<vault>?item=server" "$URI" kmc ref server --uri
REF=$T/server.ref.pem
t "kmc ref server --out writes a key-reference file" kmc ref server --out "$REF"
check "the reference file is 0644: it holds no secret" \
	test "$(stat -c %a "$REF")" = 644
check "... it has the KMC KEY REFERENCE armour" \
	grep -qx -- '-----BEGIN KMC KEY REFERENCE-----' "$REF"
check "... its notes name the vault and the item" \
	bash -c 'grep -qx "# vault: $2" "$1" && grep -qx "# item: server" "$1"' _ "$REF" "$V"
check "... its body is the URI" \
	test "$(sed -n '/^-----BEGIN/,/^-----END/p' "$REF" | sed '1d;$d' | tr -d '\n' | base64 -d)" = "$URI"
check "... and it holds no key material" bash -c '! grep -q "PRIVATE KEY" "$1"' _ "$REF"
t "kmc ref server --out - prints the reference file" \
	bash -c 'cd "$1" && "$2" --vault "$3" ref server --out - >"$1/dash.ref"' _ "$T" "$KMC" "$V"
check "... the same bytes as the file --out FILE wrote" cmp "$T/dash.ref" "$REF"
check "... and no file named - was written" test ! -e "$T/-"

# ---- loading the key: STORE and DECODER ------------------------------------------

t_out "openssl pkey -in kmc://... with -provider kmc loads the server's key" \
	"$SERVER_PUB" pubkey_of "${PROV[@]}" -in "$URI"
# The provider reads the key's record once, as a key export: the audit
# log's last record is that read, of server/key, under kmc_key_export.
check "... and the audit log records the read as kmc_key_export of server/key" \
	grep -q '"op":"kmc_key_export","items":\[{"name":"server/key","version":1}\]' \
	<(tail -n 1 "$V/audit.log")
t_out "... also without \$KMC_HOST_KEY, through the host key path the vault recorded" \
	"$SERVER_PUB" env -u KMC_HOST_KEY bash -c \
	'timeout 20 openssl pkey "$@" -pubout | sha256sum | cut -d" " -f1' _ "${PROV[@]}" -in "$URI"
t_err 1 "without the provider, openssl does not know the kmc scheme" \
	'unregistered scheme|Could not' ossl pkey -in "$URI" -noout
t_out "openssl pkey -in ref.pem under OPENSSL_CONF loads the server's key" \
	"$SERVER_PUB" with_conf pubkey_of -in "$REF"
t_err 1 "without OPENSSL_CONF, the reference file is no key to openssl" \
	'Could not read key' ossl pkey -in "$REF" -noout
# The decoder reads a file's lines up to its first BEGIN line and no PEM
# parse unless that names a reference (docs/provider.md): notes of any
# length before the armour, and CRLF line ends, still make a reference.
{ head -c 40000 /dev/zero | tr '\0' '#'; echo; head -c 30000 /dev/zero |
	tr '\0' '\n'; cat "$REF"; } > "$T/ref-late.pem"
sed 's/$/\r/' "$REF" > "$T/ref-crlf.pem"
# openssl pkey reads through OSSL_STORE, which hands a block no decoder
# took to the decoders again on its own: a server's PEM_read_bio_PrivateKey
# (pem_key_read) has only the one pass, so it is the reader that tells.
# It prints the key's type and the provider holding it: the vault's key is
# handed over as PKCS#8, which the default provider decodes.
READER=$T/pem_key_read
check "the key-reading program builds" kmc_cc "$READER" "$KMC_TOP/tests/e2e/pem_key_read.c"
for f in "$REF" "$T/ref-late.pem" "$T/ref-crlf.pem"; do
	t_out "PEM_read_bio_PrivateKey(${f##*/}) loads the server's key through the provider" \
		"EC default" with_conf "$READER" "$f" "$PKI/server.crt"
done
t_out "... as openssl pkey does the one after 70 KB of notes" \
	"$SERVER_PUB" with_conf pubkey_of -in "$T/ref-late.pem"

# ---- s_server with the key from the vault -----------------------------------------

t "openssl s_server -key kmc://... (STORE, -provider kmc) starts" \
	start_s_server store openssl s_server "${PROV[@]}" \
	-cert "$PKI/server.crt" -key "$URI"
connect store
check "s_client -verify_return_error -CAfile ca.crt completes the handshake" succeeded store
check "... it verified the server (return code 0)" grep -q 'Verify return code: 0 (ok)' "$T/store.out"
check "... and saw CN=localhost" grep -qx 'subject=CN = localhost' "$T/store.out"
t_out "... on the imported certificate (SHA-256 fingerprint)" "$SERVER_FP" \
	fingerprint "$T/store.out"
check "the server is still running after the client" kill -0 "$SPID"

t "openssl s_server -key ref.pem (DECODER, OPENSSL_CONF) starts" \
	start_s_server decoder env OPENSSL_CONF="$CONF" openssl s_server \
	-cert "$PKI/server.crt" -key "$REF"
connect decoder
check "s_client -verify_return_error -CAfile ca.crt completes the handshake" succeeded decoder
check "... it verified the server (return code 0)" grep -q 'Verify return code: 0 (ok)' "$T/decoder.out"
check "... and saw CN=localhost" grep -qx 'subject=CN = localhost' "$T/decoder.out"
t_out "... on the imported certificate (SHA-256 fingerprint)" "$SERVER_FP" \
	fingerprint "$T/decoder.out"
stop_all

t_err 1 "s_server -key ref.pem without OPENSSL_CONF refuses to start" \
	'Could not read server certificate private key' \
	ossl s_server -accept 127.0.0.1:0 -www -cert "$PKI/server.crt" -key "$REF"

# ---- errors --------------------------------------------------------------------------

# t_err checks exit 1 exactly: a hang ends in timeout's 124 and fails.
t_err 1 "a missing item fails at once, naming the item and the vault" \
	"reading the key nosuch in vault $V: no item nosuch/key in $V" \
	ossl pkey "${PROV[@]}" -in "kmc://$V?item=nosuch" -noout
t_err 1 "a vault that does not exist is named, with what to do" \
	"opening the vault for server in vault $T/nowhere: $T/nowhere does not exist" \
	ossl pkey "${PROV[@]}" -in "kmc://$T/nowhere?item=server" -noout
t_err 1 "a missing item through a reference file is named the same way" \
	"no item nosuch/key in $V" bash -c \
	'printf -- "-----BEGIN KMC KEY REFERENCE-----\n%s\n-----END KMC KEY REFERENCE-----\n" \
		"$(printf %s "kmc://$1?item=nosuch" | base64 -w0)" >"$2" &&
	OPENSSL_CONF=$3 timeout 20 openssl pkey -in "$2" -noout' _ "$V" "$T/nosuch.ref.pem" "$CONF"

# The default vault (kmc://?item=NAME) is found as the kmc command finds
# it (kmc_default_vault_dir()): messages name it, and an unusable
# $KMC_VAULT is refused for the same reason the command gives.
t_out "kmc://?item=server loads the key of the default vault, \$KMC_VAULT" \
	"$SERVER_PUB" env KMC_VAULT="$V" bash -c 'timeout 20 openssl pkey "$@" -pubout |
		sha256sum | cut -d" " -f1' _ "${PROV[@]}" -in 'kmc://?item=server'
t_err 1 "a missing item in the default vault names that vault" \
	"reading the key nosuch in vault $V: no item nosuch/key in $V" \
	env KMC_VAULT="$V" timeout 20 openssl pkey "${PROV[@]}" -in 'kmc://?item=nosuch' -noout
LONG=/$(head -c 5000 /dev/zero | tr '\0' a)
t_err 2 "an over-long \$KMC_VAULT is refused by the kmc command" \
	'KMC_VAULT is 5001 bytes long' env KMC_VAULT="$LONG" "$KMC" status
t_err 1 "... and by the provider, for the same reason" \
	'the default vault for server: \$KMC_VAULT is 5001 bytes long' \
	env KMC_VAULT="$LONG" timeout 20 openssl pkey "${PROV[@]}" -in 'kmc://?item=server' -noout

# A vault file others may change is unsafe, not "refused to this user":
# the two reasons tell the operator to chmod, or to run as the owner.
cp -a "$V" "$T/wvault"
chmod 0666 "$T/wvault/items.mdb"
t_err 1 "a vault whose items.mdb others may write: the reason says unsafe, and the message the chmod" \
	"kmc: unsafe owner or mode of a vault file:.*items.mdb has mode 0666, which lets others change it; chmod 0600" \
	ossl pkey "${PROV[@]}" -in "kmc://$T/wvault?item=server" -noout

# The reason after the grammar is kmc_strerror(KMC_E_STRING), whose text is
# about `kmc encrypt` strings: wrong for a URI, and a user would be misled.
no_ciphertext() { ! grep -h 'ciphertext' "$@" >&2; }
: >"$T/malformed.err"
for bad in 'kmc:/relative' 'kmc://x?foo=bar' 'kmc://relative/dir?item=server' \
	"kmc://$V?item=server&x=1" "kmc://$V"; do
	t_err 1 "the malformed URI $bad fails, showing the grammar" \
		"$(printf '%s' "$bad" | sed 's/[][\.*^$?+(){}|]/\\&/g') is not kmc://<absolute vault dir>\\?item=<name>" \
		ossl pkey "${PROV[@]}" -in "$bad" -noout
	cat "$ERR" >>"$T/malformed.err"
done
t_err 1 "a reference file whose body is no kmc: URI fails clearly" \
	'a KMC KEY REFERENCE whose body is not a kmc: URI' bash -c \
	'printf -- "-----BEGIN KMC KEY REFERENCE-----\n%s\n-----END KMC KEY REFERENCE-----\n" \
		"$(printf %s "kmc:/relative?item=server" | base64 -w0)" >"$1" &&
	OPENSSL_CONF=$2 timeout 20 openssl pkey -in "$1" -noout' _ "$T/bad.ref.pem" "$CONF"
cat "$ERR" >>"$T/malformed.err"
check "no malformed URI is called \"not a kmc ciphertext string\" (that is kmc encrypt's)" \
	no_ciphertext "$T/malformed.err"

# A file in the current directory whose relative path is the URI itself:
# "kmc:" / "" / "" / <vault path>?item=server. OpenSSL's file: loader is
# tried first for "kmc:/path" (one slash), but not when "//" follows the
# scheme, so the kmc:// form must still reach the vault.
CWD=$T/cwd
mkdir -p "$CWD/kmc:$(dirname "$V")"
cp "$PKI/client.key" "$CWD/kmc:$V?item=server"
DECOY_PUB=$(pubkey_of -in "$PKI/client.key")
check "a decoy key file is reachable by the URI as a relative path" \
	bash -c 'cd "$1" && test -f "$2"' _ "$CWD" "$URI"
t_out "with it in the current directory, kmc://... still loads the vault's key" \
	"$SERVER_PUB" bash -c 'cd "$1" && shift && timeout 20 openssl pkey "$@" -pubout |
		sha256sum | cut -d" " -f1' _ "$CWD" "${PROV[@]}" -in "$URI"
t_out "(control: the one-slash form kmc:/... is taken by the file loader)" \
	"$DECOY_PUB" bash -c 'cd "$1" && shift && timeout 20 openssl pkey "$@" -pubout |
		sha256sum | cut -d" " -f1' _ "$CWD" "${PROV[@]}" -in "kmc:$V?item=server"

# ---- the vault half: loaded only for a key of the vault ----------------------------

# kmc.so links libcrypto only; kmc/vault.so beside it holds the vault code
# (libsodium, LMDB) and is loaded on the first key asked for.
loads_of() { LD_DEBUG=files timeout 20 openssl pkey "$@" -noout 2>&1 | grep -c 'file=.*kmc/vault\.so .*generating link map' || true; }
t_out "a plain PEM with the provider loaded: kmc/vault.so is never loaded" 0 \
	loads_of "${PROV[@]}" -in "$PKI/client.key"
t_out "(control: a kmc: URI loads it, once)" 1 loads_of "${PROV[@]}" -in "$URI"
LONE=$T/lone
mkdir -p "$LONE"
cp "$PROVDIR/kmc.so" "$LONE/"
t_err 1 "kmc.so without its kmc/vault.so: a kmc: URI fails, naming the missing file" \
	"vault code $LONE/kmc/vault.so does not load: .*No such file" \
	ossl pkey -provider-path "$LONE" -provider kmc -provider default -in "$URI" -noout
t_out "... while a plain PEM still loads with that provider" "$DECOY_PUB" \
	pubkey_of -provider-path "$LONE" -provider kmc -provider default -in "$PKI/client.key"

# ---- a passphrase vault: -passin reaches the provider --------------------------------

PV=$T/pvault
secret_file "$T/vaultpw" 'vault passphrase for the provider test'
secret_file "$T/wrongpw" 'not the vault passphrase at all'
t "kmc init --protector passphrase (Argon2id 1 pass, 8 MiB)" \
	"$KMC" --vault "$PV" init --protector passphrase --passphrase-file "$T/vaultpw" \
	--argon2-ops 1 --argon2-mem 8
t "kmc import into the passphrase vault" \
	"$KMC" --vault "$PV" import --passphrase-file "$T/vaultpw" \
	-c "$PKI/ca.crt" -s "$PKI/server.crt" -k "$PKI/server.key" --password-file "$T/keypw"
PURI="kmc://$PV?item=server"
t_out "openssl pkey -passin file:F -in kmc://... opens the vault and loads the key" \
	"$SERVER_PUB" pubkey_of "${PROV[@]}" -passin "file:$T/vaultpw" -in "$PURI"
t_err 1 "a wrong -passin fails cleanly, naming the vault" \
	"opening the vault for server in vault $PV: .*wrong passphrase" \
	ossl pkey "${PROV[@]}" -passin "file:$T/wrongpw" -in "$PURI" -noout
t_err 1 "no -passin and no terminal: fails at once, saying a passphrase is needed" \
	'a passphrase is needed to open the vault' \
	timeout 20 setsid -w openssl pkey "${PROV[@]}" -in "$PURI" -noout
t "kmc ref writes a reference file for the passphrase vault" \
	"$KMC" --vault "$PV" ref server --out "$T/pserver.ref.pem" --passphrase-file "$T/vaultpw"
t_out "openssl pkey -passin file:F -in ref.pem (DECODER) opens it too" \
	"$SERVER_PUB" with_conf pubkey_of -passin "file:$T/vaultpw" -in "$T/pserver.ref.pem"
t_err 1 "... and a wrong -passin is refused there as well" 'wrong passphrase' \
	with_conf ossl pkey -passin "file:$T/wrongpw" -in "$T/pserver.ref.pem" -noout

done_testing
