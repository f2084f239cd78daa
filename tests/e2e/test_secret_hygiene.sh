#!/usr/bin/env bash
# test_secret_hygiene.sh - no plaintext private key or password reaches
# disk. Under the fault shim's KMC_WRITE_LOG (tests/faultinject.c), which
# keeps a copy of every byte kmc writes (files, pipes, stdout, stderr),
# `kmc init`, `kmc password set` and `kmc import` of a PKI with an
# encrypted key are run (and `kmc key gen`, `csr`, `cert set` of a key
# born in the vault, and kmc ca init, cert issue, ca revoke and ca crl,
# whose keys are born in the vault too, their secrets read out afterwards;
# and `kmc export` and `kmc trust export`, whose own files are the only
# thing that holds the key, encrypted); then neither password, nor the private key (a
# 32-byte window of its PKCS#8 DER: the EC private scalar, which no public
# file holds), nor the lines of its unencrypted PEM may be found in the log
# or in any file of the vault (the keystores, the item store, the keys
# folder with its copy of the still encrypted server.key).
#
# Negative controls show each search can fail: `kmc password get` writes the
# password to stdout, and `kmc unwrap` the key to a pipe, and the log of each
# holds it; the file searches find the same material in the files where it
# is known to be.
#
# Then the recovery key that init and protector add print: a core of kmc
# taken by gdb at exit must hold no part of it (no stdio copy left). And
# the private keys kmc decodes or makes (import, export, key gen, ca
# init): a core at exit holds no copy of them, not even in the free heap
# where OpenSSL's decoders and encoders leave theirs; a server that calls
# kmc_openssl_wipe_frees() (key_residue.c) neither, after kmc_key_load,
# kmc_ssl_ctx_use and kmc_item_get, where one that does not does.
#
# Last, the process hardening of the command (harden_process() in
# cli/kmc.c): a kmc run as an unprivileged user, held waiting on
# --password-fd, must show a core size limit of 0 (soft and hard) in
# /proc/PID/limits, be non-dumpable (its /proc/PID files then belong to
# root, not to its user), and refuse ptrace from a process of its own user.
# Under root it runs as nobody (setpriv), because for a root process
# neither can be seen: root's /proc files belong to root anyway, and root
# may ptrace anything (CAP_SYS_PTRACE). The test itself, as root, reads
# /proc/PID/limits and /proc/PID/syscall (to know kmc is blocked in read).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SO=$KMC_BUILD/tests/faultinject.so
V=$T/vault
LOG=$T/write.log

# The secrets: distinctive, so that a hit cannot be a coincidence.
PW_ITEM='Hygiene-Secret-7f3a9c'		# kmc password set
KEY_PW='Hygiene-KeyPass-e41b7d'		# the server key's own password
PWF=$T/pw.item
secret_file "$PWF" "$PW_ITEM"
KPF=$T/pw.key
secret_file "$KPF" "$KEY_PW"

# logged LOG CMD...: run kmc under the shim with its write log at LOG,
# stdout and stderr to /dev/null (the log is what sees them).
logged() {
	local log=$1
	shift
	env LD_PRELOAD="$SO" KMC_WRITE_LOG="$log" "$KMC" --vault "$V" "$@" \
		>/dev/null 2>&1 </dev/null
}

# hexof FILE: the bytes of FILE as one line of lowercase hex.
hexof() { xxd -p "$1" | tr -d '\n'; }

# Searches; diagnostics to stderr, which check prints on failure. A hex
# match may start mid-byte: that can only add a (vanishingly unlikely)
# false hit, never hide a byte-aligned copy.
has_text() { # has_text FILE TEXT
	grep -a -F -q -- "$2" "$1"
}
has_hex() { # has_hex FILE HEX
	hexof "$1" | grep -F -q -- "$2"
}
lacks_text() { # lacks_text FILE TEXT: FILE exists and does not hold TEXT
	[ -f "$1" ] || { echo "no file $1" >&2; return 1; }
	! has_text "$1" "$2" || { echo "$1 holds '$2'" >&2; false; }
}
lacks_hex() {
	[ -f "$1" ] || { echo "no file $1" >&2; return 1; }
	! has_hex "$1" "$2" || { echo "$1 holds the bytes $2" >&2; false; }
}
# tree_lacks DIR KIND NEEDLE: no regular file under DIR holds NEEDLE (KIND
# text or hex); the files searched are named, so an empty tree fails.
tree_lacks() {
	local dir=$1 kind=$2 needle=$3 f n=0 bad=0
	while IFS= read -r -d '' f; do
		n=$((n + 1))
		if "has_$kind" "$f" "$needle"; then
			echo "$f holds it" >&2
			bad=1
		fi
	done < <(find "$dir" -type f -print0)
	[ "$n" -gt 0 ] || { echo "no files under $dir" >&2; return 1; }
	[ "$bad" = 0 ]
}

check "the fault shim was built" test -f "$SO"

# ---- the material -----------------------------------------------------------

P=$T/pki
check "mkpki.sh makes a PKI whose key is encrypted under a distinctive password" \
	bash "$KMC_TOP/tools/mkpki.sh" "$P" "$KEY_PW"

# The key in the clear, as openssl decrypts it, and its private scalar:
# in the PKCS#8 of an EC key the SEC1 ECPrivateKey follows, version 1
# (02 01 01), then the scalar as an OCTET STRING of 32 (04 20).
DER=$T/key.der
openssl pkey -in "$P/server.key" -passin "file:$KPF" -outform DER -out "$DER" 2>/dev/null
DER_HEX=$(hexof "$DER" 2>/dev/null)
WIN=${DER_HEX#*0201010420}
WIN=${WIN:0:64}
CERT_DER=$T/cert.der
openssl x509 -in "$P/server.crt" -outform DER -out "$CERT_DER" 2>/dev/null
window_ok() {
	[ "${#WIN}" = 64 ] && [ "$WIN" != "${DER_HEX:0:64}" ] ||
		{ echo "no EC private scalar in the DER: $DER_HEX" >&2; return 1; }
	# It is private: the certificate (the public key) does not hold it.
	! has_hex "$CERT_DER" "$WIN" && ! has_hex "$P/server.crt" "$WIN" ||
		{ echo "the window is public" >&2; false; }
}
check "a 32-byte window of the key's PKCS#8 DER (the private scalar) is found" \
	window_ok
check "the password opens the key, and the DER matches the plain key of mkpki" \
	cmp "$DER" <(openssl pkey -in "$P/server.plain.key" -outform DER)

# The unencrypted PEM: its first two body lines hold the scalar (bytes
# 36-67 of 138), so no public file can hold them; the later lines hold only
# the public key and are not searched for.
PEM1=$(sed -n 2p "$P/server.plain.key")
PEM2=$(sed -n 3p "$P/server.plain.key")
pem_ok() {
	[ "$(head -n1 "$P/server.plain.key")" = "-----BEGIN $PEM_PK-----" ] &&
		[ "${#PEM1}" = 64 ] && [ "${#PEM2}" = 64 ] &&
		! has_text "$P/server.crt" "$PEM1" && ! has_text "$P/server.crt" "$PEM2"
}
check "the unencrypted PEM has two full body lines over the scalar" pem_ok

# The search itself works on the files where the secrets are known to be.
check "control: the DER search finds the window in the DER" has_hex "$DER" "$WIN"
check "control: the DER search finds it in the plain key's DER form" \
	has_hex <(openssl pkey -in "$P/server.plain.key" -outform DER) "$WIN"
check "control: the PEM search finds the plain key's lines" \
	eval 'has_text "$P/server.plain.key" "$PEM1" && has_text "$P/server.plain.key" "$PEM2"'
check "control: the text search finds the passwords in their files" \
	eval 'has_text "$PWF" "$PW_ITEM" && has_text "$KPF" "$KEY_PW"'
check "control: the tree search fails on the PKI folder (it holds the plain key)" \
	eval '! tree_lacks "$P" text "$PEM1" 2>/dev/null'
check "the encrypted server.key does not hold the window (it is encrypted)" \
	lacks_hex "$P/server.key" "$WIN"

# ---- the commands, each under the write log ----------------------------------

check "kmc init under the write log" logged "$LOG" init
check "kmc password set --password-file under the write log" \
	logged "$LOG" password set db --password-file "$PWF"
check "kmc import -c -s -k --password-file under the write log" \
	logged "$LOG" import -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.key" \
	--password-file "$KPF"

# The log is alive: it holds what went to the files and to stderr.
KS_COPY=$V/keys/server/server.key
check "the import made the keys folder copy of server.key" test -f "$KS_COPY"
check "the log holds the bytes written to the keys folder (the encrypted key)" \
	has_text "$LOG" "$(sed -n 2p "$KS_COPY")"
check "the log holds stderr's messages (stdio is seen too)" \
	eval 'has_text "$LOG" "kmc: stored password db in" && has_text "$LOG" "kmc: imported server into"'
check "the log holds the certificate written to the keys folder" \
	has_text "$LOG" "$(sed -n 2p "$P/server.crt")"

# What the stored items are: the commands did their job.
t_out "the stored password reads back" "$PW_ITEM" "$KMC" --vault "$V" password get db
t_out "the import's password reads back" "$KEY_PW" "$KMC" --vault "$V" password get server

# ---- the checks: nothing secret written -----------------------------------------

check "the write log does not hold the item password" lacks_text "$LOG" "$PW_ITEM"
check "the write log does not hold the key's password" lacks_text "$LOG" "$KEY_PW"
check "the write log does not hold the key's DER window" lacks_hex "$LOG" "$WIN"
check "the write log does not hold the unencrypted PEM lines" \
	eval 'lacks_text "$LOG" "$PEM1" && lacks_text "$LOG" "$PEM2"'

check "no vault file holds the item password" tree_lacks "$V" text "$PW_ITEM"
check "no vault file holds the key's password" tree_lacks "$V" text "$KEY_PW"
check "no vault file holds the key's DER window" tree_lacks "$V" hex "$WIN"
check "no vault file holds the unencrypted PEM lines" \
	eval 'tree_lacks "$V" text "$PEM1" && tree_lacks "$V" text "$PEM2"'
check "the keys folder's server.key copy does not hold the DER window" \
	lacks_hex "$KS_COPY" "$WIN"
check "the keys folder's server.key copy is the encrypted original" \
	cmp "$KS_COPY" "$P/server.key"
check "the keys folder files were among those searched" \
	eval '[ "$(find "$V/keys" -type f | wc -l)" -ge 3 ]'

# ---- negative controls: the same checks fail where the secret IS written ------

GETLOG=$T/get.log
check "kmc password get under the write log" logged "$GETLOG" password get db
check "control: password get's log DOES hold the password" \
	has_text "$GETLOG" "$PW_ITEM"
check "control: so lacks_text fails on it" \
	eval '! lacks_text "$GETLOG" "$PW_ITEM" 2>/dev/null'

DERLOG=$T/unwrap-der.log
unwrap_pipe() { # unwrap_pipe LOG FORMAT: kmc unwrap server to a pipe
	env LD_PRELOAD="$SO" KMC_WRITE_LOG="$1" "$KMC" --vault "$V" unwrap server \
		--format "$2" 2>/dev/null </dev/null | cat >/dev/null
	[ "${PIPESTATUS[0]}" = 0 ]
}
check "kmc unwrap --format der to a pipe under the write log" unwrap_pipe "$DERLOG" der
check "control: unwrap's log DOES hold the DER window" has_hex "$DERLOG" "$WIN"
check "control: so lacks_hex fails on it" \
	eval '! lacks_hex "$DERLOG" "$WIN" 2>/dev/null'
PEMLOG=$T/unwrap-pem.log
check "kmc unwrap (PEM) to a pipe under the write log" unwrap_pipe "$PEMLOG" pem
check "control: unwrap's PEM log DOES hold the unencrypted PEM lines" \
	eval 'has_text "$PEMLOG" "$PEM1" && has_text "$PEMLOG" "$PEM2"'

# A file under the vault that does hold the key makes the tree search fail.
check "kmc unwrap --out a file inside the vault folder (control)" \
	"$KMC" --vault "$V" unwrap server --format der --out "$V/keys/leak.der"
check "control: tree_lacks then fails on the vault folder" \
	eval '! tree_lacks "$V" hex "$WIN" 2>/dev/null'
rm -f "$V/keys/leak.der"
check "and passes again once that file is gone" tree_lacks "$V" hex "$WIN"

# ---- a key born in the vault: key gen, csr, cert set -------------------------

# Its secrets are known only afterwards, read out of the vault (not under
# the log): the key's private scalar and PEM lines, and its password.
BLOG=$T/born.log
check "kmc key gen born under the write log" logged "$BLOG" key gen born
check "kmc csr born --out under the write log" logged "$BLOG" csr born \
	--subject /CN=localhost --san DNS:localhost --out "$T/born.csr"
check "the CA signs the request" eval '(cd "$P" && openssl x509 -req \
	-in "$T/born.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 9 \
	-out "$T/born.crt") >/dev/null 2>&1'
check "kmc cert set born under the write log" logged "$BLOG" cert set born \
	-s "$T/born.crt" -c "$P/ca.crt"
check "the born log holds their messages (it is alive)" \
	eval 'has_text "$BLOG" "made a p256 key born" && has_text "$BLOG" "born now serves"'
"$KMC" --vault "$V" unwrap born --format der 2>/dev/null </dev/null | cat >"$T/born.der"
"$KMC" --vault "$V" unwrap born 2>/dev/null </dev/null | cat >"$T/born.pem"
BORN_PW=$("$KMC" --vault "$V" password get born 2>/dev/null </dev/null)
BHEX=$(hexof "$T/born.der")
BWIN=${BHEX#*0201010420}
BWIN=${BWIN:0:64}
BPEM1=$(sed -n 2p "$T/born.pem")
BPEM2=$(sed -n 3p "$T/born.pem")
check "the born key's scalar, PEM lines and 32-character password are read back" \
	eval '[ ${#BWIN} = 64 ] && [ "$BWIN" != "${BHEX:0:64}" ] && [ ${#BPEM1} = 64 ] &&
		[ ${#BORN_PW} = 32 ] && has_hex "$T/born.der" "$BWIN"'
check "the born log does not hold the key's scalar" lacks_hex "$BLOG" "$BWIN"
check "the born log does not hold its PEM lines" \
	eval 'lacks_text "$BLOG" "$BPEM1" && lacks_text "$BLOG" "$BPEM2"'
check "the born log does not hold its password" lacks_text "$BLOG" "$BORN_PW"
check "no vault file holds the born key's scalar" tree_lacks "$V" hex "$BWIN"
check "no vault file holds its PEM lines or password" \
	eval 'tree_lacks "$V" text "$BPEM1" && tree_lacks "$V" text "$BORN_PW"'
check "its keys-folder copy is encrypted" \
	grep -q "BEGIN ENCRYPTED $PEM_PK" "$V/keys/born/server.key"

# ---- keys born in the vault: kmc ca init, cert issue ----------------------------

# Nobody knows these keys beforehand: the commands run under the write
# log, then each key is read back through a pipe (unlogged) and its
# private scalar, and each bundle's password, searched for in the log
# and in every file of the vault (the keys folders, the config file).
ISSLOG=$T/issued.log
ICONF=$T/issued.conf
check "kmc ca init under the write log" \
	logged "$ISSLOG" ca init hyg --subject "/CN=Hygiene CA"
check "kmc cert issue --ca --conf under the write log" \
	logged "$ISSLOG" cert issue issued --ca hyg --server --subject /CN=issued.example --conf "$ICONF"
check "kmc cert issue --self-signed under the write log" \
	logged "$ISSLOG" cert issue issued2 --self-signed --client --subject /CN=issued2
check "kmc ca revoke and ca crl under the write log" \
	eval 'logged "$ISSLOG" ca revoke hyg issued && logged "$ISSLOG" ca crl hyg --out "$T/hyg.crl"'
check "the log holds what they wrote (the CA's CRL file)" \
	has_text "$ISSLOG" "$(sed -n 2p "$T/hyg.crl")"
# scalar_of NAME: the EC private scalar of the key of NAME, as hex.
scalar_of() {
	local h
	h=$("$KMC" --vault "$V" unwrap "$1" --format der 2>/dev/null </dev/null | xxd -p | tr -d '\n')
	h=${h#*0201010420}
	printf '%s' "${h:0:64}"
}
# scalar_of_in VAULT NAME: the same from another vault.
scalar_of_in() { local V=$1; scalar_of "$2"; }
for name in ca:hyg issued issued2; do
	W=$(scalar_of "$name")
	check "$name: its key's private scalar reads back" test "${#W}" = 64
	check "$name: the write log does not hold its private scalar" lacks_hex "$ISSLOG" "$W"
	check "$name: no vault file holds its private scalar" tree_lacks "$V" hex "$W"
	check "$name: nor the config file" lacks_hex "$ICONF" "$W"
done
for name in issued issued2; do
	BPW=$("$KMC" --vault "$V" password get "$name" 2>/dev/null </dev/null)
	check "$name: its password reads back" test "${#BPW}" = 32
	check "$name: the write log does not hold its password" lacks_text "$ISSLOG" "$BPW"
	check "$name: no vault file holds its password" tree_lacks "$V" text "$BPW"
done
check "control: the keys folder copy of issued's key is encrypted" \
	grep -q "BEGIN ENCRYPTED $PEM_PK" "$V/keys/issued/server.key"

# ---- kmc export: only the export file holds the key, encrypted ------------------

# kmc export writes a key or keystore where it was asked to, encrypted;
# the password it makes for it goes into the vault and nowhere else. The
# export files are the encrypted key itself, which the log also holds
# (their bytes were written): searched for the secrets all the same.
EXPLOG=$T/export.log
check "kmc trust add (a store to export)" "$KMC" --vault "$V" trust add ca "$P/ca.crt"
check "kmc export --format pkcs12 (its password made) under the write log" \
	logged "$EXPLOG" export server --format pkcs12 --out "$T/hyg.p12"
check "kmc export --format pkcs8-der --password-file under the write log" \
	logged "$EXPLOG" export server --format pkcs8-der --password-file "$PWF" --out "$T/hyg.pk8"
check "kmc export --format pkcs8-pem --password-item db under the write log" \
	logged "$EXPLOG" export server --format pkcs8-pem --password-item db --out "$T/hyg.pem"
check "kmc trust export --format pkcs12 (its password made) under the write log" \
	logged "$EXPLOG" trust export --format pkcs12 --out "$T/hyg-trust.p12"
KS_PW=$("$KMC" --vault "$V" password get server/keystore-password 2>/dev/null)
TS_PW=$("$KMC" --vault "$V" password get trust:default/truststore-password 2>/dev/null)
check "the exports were written, their passwords kept" \
	eval '[ -s "$T/hyg.p12" ] && [ -s "$T/hyg.pk8" ] && [ -s "$T/hyg.pem" ] && [ ${#KS_PW} = 32 ] && [ ${#TS_PW} = 32 ]'
check "control: the export log holds the keystore written (its bytes)" \
	has_hex "$EXPLOG" "$(xxd -p -s 100 -l 32 "$T/hyg.p12" | tr -d '\n')"
check "the export log does not hold the keystore's password" lacks_text "$EXPLOG" "$KS_PW"
check "the export log does not hold the truststore's password" lacks_text "$EXPLOG" "$TS_PW"
check "the export log does not hold the password given by file" lacks_text "$EXPLOG" "$PW_ITEM"
check "the export log does not hold the key's DER window" lacks_hex "$EXPLOG" "$WIN"
check "the export log does not hold the unencrypted PEM lines" \
	eval 'lacks_text "$EXPLOG" "$PEM1" && lacks_text "$EXPLOG" "$PEM2"'
check "no vault file holds the keystore's password" tree_lacks "$V" text "$KS_PW"
check "no vault file holds the key's DER window after the exports" tree_lacks "$V" hex "$WIN"
check "kmc export born --format pkcs12 (a key born in the vault) under the write log" \
	logged "$EXPLOG" export born --format pkcs12 --out "$T/hyg-born.p12"
check "... written" test -s "$T/hyg-born.p12"
check "the export log does not hold the born key's scalar" lacks_hex "$EXPLOG" "$BWIN"
check "the export log does not hold the born keystore's password" \
	lacks_text "$EXPLOG" "$("$KMC" --vault "$V" password get born/keystore-password 2>/dev/null </dev/null)"

# ---- the recovery key: no copy left in kmc's memory ----------------------------

# A recovery key is printed once, by init and protector add. Through
# stdio a copy would stay in stdout's buffer on the heap, never wiped;
# written straight from its guarded memory, none stays once that is
# freed. gdb stops kmc at exit_group, when every secret has been freed,
# and writes a core of it: no 6-symbol group of the key may be in it.
# The control: what kmc status prints through stdio (the vault id) is.
# core_at_exit CORE OUT CMD...: CMD under gdb, a core at exit; its stdout
# goes to OUT, with gdb's own lines.
core_at_exit() {
	local core=$1 out=$2
	shift 2
	gdb -nx -batch -ex 'set pagination off' -ex 'set confirm off' \
		-ex 'catch syscall exit_group' -ex run -ex "gcore $core" \
		-ex kill --args "$@" >"$out" 2>/dev/null </dev/null
	[ -s "$core" ] || { echo "no core $core" >&2; false; }
}
# core_lacks_key CORE OUT: OUT holds one recovery key, CORE none of its groups.
core_lacks_key() {
	local key g bad=0
	key=$(grep -E '^[0-9A-Z]{6}(-[0-9A-Z]{6}){7}$' "$2")
	[ -n "$key" ] || { echo "no recovery key in $2" >&2; return 1; }
	for g in ${key//-/ }; do
		if has_text "$1" "$g"; then
			echo "$1 holds $g of the key" >&2
			bad=1
		fi
	done
	[ "$bad" = 0 ]
}
# Not under ASan (make check-sanitize): its shadow memory makes a core
# of terabytes; the plain build's run checks the same code.
if [ -n "${ASAN_OPTIONS:-}" ]; then
	echo "# recovery key memory checks skipped under ASan: see make check"
elif command -v gdb >/dev/null; then
	RV=$T/rv
	VID=$("$KMC" --vault "$V" status --json 2>/dev/null | jq -r .vault_id)
	check "control: a core of kmc status at exit is written" \
		core_at_exit "$T/status.core" "$T/status.out" "$KMC_BUILD/kmc" \
		--vault "$V" status
	check "control: status printed the vault id $VID" \
		eval '[ ${#VID} = 32 ] && has_text "$T/status.out" "$VID"'
	check "control: its core holds that id: the search of a core finds text" \
		has_text "$T/status.core" "$VID"
	check "kmc init --protector recovery under gdb, a core at exit" \
		core_at_exit "$T/init.core" "$T/init.out" "$KMC_BUILD/kmc" \
		--vault "$RV" init --protector recovery
	check "the core of init holds no part of the recovery key it printed" \
		core_lacks_key "$T/init.core" "$T/init.out"
	check "kmc protector add recovery under gdb, a core at exit" \
		core_at_exit "$T/add.core" "$T/add.out" "$KMC_BUILD/kmc" \
		--vault "$V" protector add recovery
	check "the core of protector add holds no part of the recovery key" \
		core_lacks_key "$T/add.core" "$T/add.out"
	rm -f "$T"/*.core
else
	echo "# recovery key memory checks skipped: no gdb"
fi

# ---- private keys: no copy left in the free heap -------------------------------

# OpenSSL 3.0 frees copies of a key inside its own calls without wiping
# them: its decoder the PKCS#8 it read, d2i_ECPrivateKey() the scalar,
# its encoder the DER it wrote. kmc hands OpenSSL an allocator that wipes
# each block as it is freed (kmc_openssl_wipe_frees(), first thing in
# main): a core of kmc at exit holds no key that it decoded (import,
# export) or made (key gen, ca init). Before, each of these cores held
# the key's PKCS#8 DER in a freed chunk of the encoder or the decoder.
# A server gets the same by calling kmc_openssl_wipe_frees() first: the
# helper key_residue loads a key (kmc_key_load, EVP_PKEY_free), builds an
# SSL_CTX (kmc_ssl_ctx_use, SSL_CTX_free) and reads a password
# (kmc_item_get, kmc_secret_free); the control is the same helper without
# the call, whose core does hold the key, so the search can fail (with
# OpenSSL 3.0, as Debian 12 ships it: an OpenSSL that came to wipe these
# copies itself would fail that control, and the checks would then have
# nothing left to find).
# core_lacks_hex CORE HEX: CORE exists and does not hold HEX.
core_lacks_hex() { [ -s "$1" ] && lacks_hex "$1" "$2"; }
if [ -n "${ASAN_OPTIONS:-}" ]; then
	echo "# key memory checks skipped under ASan: see make check"
elif command -v gdb >/dev/null; then
	RK=$T/residue
	check "kmc key gen under gdb, a core at exit" core_at_exit \
		"$T/kg.core" "$T/kg.out" "$KMC_BUILD/kmc" --vault "$V" key gen residue
	W=$(scalar_of residue)
	check "the key made reads back" test "${#W}" = 64
	check "the core of key gen holds no copy of the key it made" \
		core_lacks_hex "$T/kg.core" "$W"
	check "kmc ca init under gdb, a core at exit" core_at_exit \
		"$T/ca.core" "$T/ca.out" "$KMC_BUILD/kmc" --vault "$V" ca init resca \
		--subject "/CN=Residue CA"
	W=$(scalar_of ca:resca)
	check "the CA's key reads back" test "${#W}" = 64
	check "the core of ca init holds no copy of the CA's key" \
		core_lacks_hex "$T/ca.core" "$W"
	check "a vault for the import" "$KMC" --vault "$RK" init
	check "kmc import of the encrypted key under gdb, a core at exit" \
		core_at_exit "$T/imp.core" "$T/imp.out" "$KMC_BUILD/kmc" --vault "$RK" \
		import -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.key" \
		--password-file "$KPF"
	check "... which imported it" eval '[ "$(scalar_of_in "$RK" server)" = "$WIN" ]'
	check "the core of import holds no copy of the key" \
		core_lacks_hex "$T/imp.core" "$WIN"
	check "nor of its password" lacks_text "$T/imp.core" "$KEY_PW"
	check "kmc export --no-password under gdb, a core at exit" \
		core_at_exit "$T/exp.core" "$T/exp.out" "$KMC_BUILD/kmc" --vault "$RK" \
		export server --format pkcs8-pem --no-password --out "$T/res.pem"
	check "... which wrote the key" \
		eval 'has_text "$T/res.pem" "$PEM1" && has_text "$T/res.pem" "$PEM2"'
	check "the core of export holds no copy of the key" \
		core_lacks_hex "$T/exp.core" "$WIN"

	RES=$T/key_residue
	check "the key_residue helper builds" \
		kmc_cc "$RES" "$KMC_TOP/tests/e2e/key_residue.c"
	check "a password item for it" "$KMC" --vault "$RK" password set pw \
		--password-file "$PWF"

	# A command that hands a key to OpenSSL refuses to run where it cannot
	# install that allocator: after a preloaded library used OpenSSL in
	# its constructor. The readers of a server's boot (password get,
	# decrypt, list), which hand it no key, leave the allocator alone and
	# run.
	EARLY=$T/ossl_early.so
	check "a library that uses OpenSSL in its constructor builds" \
		cc -shared -fPIC -Wall -Wextra -Werror -o "$EARLY" \
		"$KMC_TOP/tests/e2e/ossl_early.c" -lcrypto
	t "control: without it, kmc unwrap writes the key" \
		"$KMC_BUILD/kmc" --vault "$RK" unwrap server --out "$T/early0.pem"
	t_err 1 "with it preloaded kmc unwrap refuses to run, and says why" \
		'OpenSSL was used in this process before kmc started.*nothing was done' \
		env LD_PRELOAD="$EARLY" "$KMC_BUILD/kmc" --vault "$RK" unwrap server \
		--out "$T/early.pem"
	check "... and writes no key" [ ! -e "$T/early.pem" ]
	t_out "kmc password get, which hands OpenSSL no key, still prints the password" \
		"$PW_ITEM" env LD_PRELOAD="$EARLY" "$KMC_BUILD/kmc" --vault "$RK" \
		password get pw
	check "control: key_residue without the wipe, a core at exit" \
		core_at_exit "$T/plain.core" "$T/plain.out" "$RES" plain "$RK" server pw
	check "control: its core holds the key OpenSSL freed (the search finds it)" \
		has_hex "$T/plain.core" "$WIN"
	check "key_residue with kmc_openssl_wipe_frees(), a core at exit" \
		core_at_exit "$T/wipe.core" "$T/wipe.out" "$RES" wipe "$RK" server pw
	check "its core holds no copy of the key" core_lacks_hex "$T/wipe.core" "$WIN"
	check "nor of the unencrypted PEM" \
		eval 'lacks_text "$T/wipe.core" "$PEM1" && lacks_text "$T/wipe.core" "$PEM2"'
	check "nor of the password it read" lacks_text "$T/wipe.core" "$PW_ITEM"
	rm -f "$T"/*.core
else
	echo "# key memory checks skipped: no gdb"
fi

# ---- the process: no core file, not dumpable, no ptrace -------------------------

# A kmc held waiting: `password set` reads its password from --password-fd
# before it opens anything. Descriptor 9 is the read end of a fifo whose
# only writer is this shell (fd 7), so the read blocks until fd 7 closes.
# Run as nobody (see the top), with a core limit raised to 4096 KiB so that
# a 0 is kmc's own doing; a sleep started the same way is the control.
# This needs root: to switch to nobody, and to read /proc/PID/syscall and
# /proc/PID/exe of a process that is not dumpable.
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)

# wait_for PID HOW...: poll (bounded) until the command HOW succeeds.
wait_for() {
	local pid=$1 i
	shift
	for ((i = 0; i < 500; i++)); do
		"$@" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}
exe_is() { [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$2" ]; }
in_read_of_fd9() { # blocked in read(9, ...): syscall 0, first argument 0x9
	exe_is "$1" "$(readlink -f "$KMC")" &&
		[[ "$(cat "/proc/$1/syscall" 2>/dev/null)" == "0 0x9 "* ]]
}
core_limit() { # core_limit PID: "soft hard" of Max core file size
	awk '/^Max core file size/ { print $5, $6 }' "/proc/$1/limits"
}
owner_uid() { stat -c %u "/proc/$1/status"; }
can_attach() { # can_attach PID: gdb run as nobody attaches to PID
	"${NOBODY[@]}" gdb -nx -batch -p "$1" -ex 'info inferiors' 2>&1 |
		grep -Eq "^\* *1 +process $1 "
}

process_checks() {
	local ctl probe rc
	mkfifo "$T/fifo"
	exec 8<>"$T/fifo"		# opens without blocking
	exec 9<"$T/fifo" 7>"$T/fifo"
	exec 8<&-

	(ulimit -c 4096 && exec "${NOBODY[@]}" sleep 600) 7>&- 9<&- &
	ctl=$!
	(ulimit -c 4096 && exec "${NOBODY[@]}" "$KMC" --vault "$T/nv" password set \
		probe --password-fd 9) 7>&- </dev/null >/dev/null 2>"$T/probe.err" &
	probe=$!

	check "control: a sleep started the same way runs as nobody" \
		wait_for "$ctl" exe_is "$ctl" "$(readlink -f "$(command -v sleep)")"
	check "control: its core size limit is 4096 KiB, soft and hard" \
		eval '[ "$(core_limit "$ctl")" = "4194304 4194304" ] || { core_limit "$ctl" >&2; false; }'
	check "control: it is dumpable: its /proc files belong to nobody" \
		eval '[ "$(owner_uid "$ctl")" = 65534 ]'
	check "control: gdb as nobody attaches to it" can_attach "$ctl"
	kill "$ctl" 2>/dev/null
	wait "$ctl" 2>/dev/null

	check "kmc as nobody waits in read(9) for the password" \
		wait_for "$probe" in_read_of_fd9 "$probe"
	check "kmc runs as nobody" \
		eval 'grep -Eq "^Uid:\s+65534\s+65534\s+65534\s+65534\s*$" "/proc/$probe/status"'
	check "kmc has set its core size limit to 0 (soft and hard)" \
		eval '[ "$(core_limit "$probe")" = "0 0" ] || { core_limit "$probe" >&2; false; }'
	check "kmc is not dumpable: its /proc files belong to root, not nobody" \
		eval '[ "$(owner_uid "$probe")" = 0 ] || { owner_uid "$probe" >&2; false; }'
	check "gdb as nobody cannot attach to kmc (no ptrace by the same user)" \
		eval '! can_attach "$probe"'
	check "kmc still waits after the attempt" in_read_of_fd9 "$probe"

	# Close the writer: kmc reads end of file, an empty password, and exits.
	exec 7>&- 9<&-
	wait "$probe"
	rc=$?
	check "kmc exits on end of file with a failure code, not a signal" \
		eval '[ "$rc" -gt 0 ] && [ "$rc" -lt 128 ] || { echo "exit $rc" >&2; false; }'
	check "and says why (the password is empty)" \
		eval 'grep -qi "empty" "$T/probe.err" || { cat "$T/probe.err" >&2; false; }'
}

if [ "$(id -u)" = 0 ]; then
	process_checks
else
	echo "# process hardening checks skipped: they need root (setpriv to nobody)"
fi

done_testing
