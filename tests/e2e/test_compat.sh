#!/usr/bin/env bash
# test_compat.sh - vaults made by earlier kmcvault releases still open,
# and files from a newer one are refused without anything being changed.
#
# tests/e2e/old_vault.c builds vaults from docs/format.md alone (with
# libsodium and LMDB, none of kmcvault's code), as the first release wrote
# them: keystore format 1 with one master key and no rotation, item store
# format 1 with and without the history database it gained later, records
# of version 1 of every type, kmc:v1 strings in a config file, and the
# keys-folder copies an import made. Today's kmc must read all of it,
# write to it, rotate and rewrap it. The same helper writes a keystore, a
# record, a journal and an item store of a newer version, and a backup
# manifest is edited to a newer one: each is refused with a message naming
# the file or item and both versions, and nothing on disk changes - in
# particular a newer kmc.ks is never "repaired" from an older twin.
# Read-only commands leave every byte and mtime of the vault as it was,
# but the audit log that records their reads (state(), below).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OLD=$T/old_vault
check "the old_vault helper builds" kmc_cc "$OLD" "$KMC_TOP/tests/e2e/old_vault.c"
# A vault folder's state: every file's bytes, mode and mtime but LMDB's
# reader table (items.mdb-lock), which every open of the store writes.
# Reads of secrets are recorded in the vault's audit.log (made on the
# first one when an old vault has none), which is the one file a read
# writes: audit*.log and the folder's own mtime, which its creation moves,
# are left out; the folder's mode still counts.
state() {
	(cd "$1" && stat -c '. %a' . &&
		find . -mindepth 1 ! -name items.mdb-lock ! -name 'audit*.log' \
		-printf '%p %m %T@ %s\n' | sort &&
		find . -type f ! -name items.mdb-lock ! -name 'audit*.log' -print0 |
		sort -z | xargs -0 -r sha256sum)
}
unchanged() { [ "$(state "$1")" = "$2" ]; }
LAST=$T/last.out
# t_json DESC FILTER CMD...: exit 0 and the JSON output satisfies FILTER.
t_json() {
	local desc=$1 f=$2
	shift 2
	t "$desc" "$@"
	cp "$OUT" "$LAST"
	check "$desc: its output says $f" jq -e "$f" "$LAST"
}

KP='server-key-password'
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$T/pki" "$KP"
P=$T/pki
# An Ed25519 server key: PKCS#8 is the only form it has (no legacy PEM).
openssl genpkey -algorithm ED25519 -out "$P/ed.plain" 2>/dev/null
openssl req -new -key "$P/ed.plain" -subj /CN=localhost -out "$P/ed.csr" 2>/dev/null
(cd "$P" && openssl x509 -req -in ed.csr -CA ca.crt -CAkey ca.key -days 30 \
	-extfile ca.cnf -extensions server -out ed.crt 2>/dev/null)
check "an Ed25519 certificate of the CA is made" test -s "$P/ed.crt"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
CONF=$T/srv.conf
# old_bundle NAME KEY CERT PASSWORD: the items and keys folder of a bundle
# as the first release's import left them; item specs on stdout.
old_bundle() {
	local name=$1 key=$2 cert=$3 pw=$4 d=$T/items/$1 kd=$V.keys/$1
	mkdir -p "$d"
	printf '%s' "$pw" >"$d/pw"
	openssl pkey -in "$key" -outform DER -out "$d/key" 2>/dev/null
	cp "$cert" "$d/cert"
	cp "$P/ca.crt" "$d/ca"
	cp "$P/ca.crl" "$d/crl"
	printf 'keys_dir=%s\nconf=%s\n' "$kd" "$CONF" >"$d/meta"
	echo "$name=1:$d/pw $name/key=3:$d/key $name/cert=4:$d/cert:2" \
		"$name/ca=4:$d/ca $name/crl=5:$d/crl $name/meta=6:$d/meta"
}
mkdir -p "$T/items"
printf 'db-password-1' >"$T/items/db"
printf 'an opaque secret' >"$T/items/api"
printf 'the first cert' >"$T/items/cert1"
SPECS="$(old_bundle srv "$P/server.plain.key" "$P/server.crt" "$KP") \
$(old_bundle ed "$P/ed.plain" "$P/ed.crt" 'ed-key-password')"
# The first cert of srv, superseded: version 1 in history.
# shellcheck disable=SC2086
build_old() { # build_old DIR [OPTIONS...]: the vault, the string on stdout
	local dir=$1
	shift
	"$OLD" "$@" --string "$T/items/srv/pw" "$dir" "$KMC_HOST_KEY" $SPECS \
		db=1:"$T/items/db" api=2:"$T/items/api"
}

# ---- a vault as the first release made it --------------------------------------

t "old_vault writes a pre-rotation vault" build_old "$V" --old "srv/cert=4:$T/items/cert1:1"
S=$(cat "$OUT")
check "with a kmc:v1 string of master key 1" test "${S#kmc:v1:1:}" != "$S"
# The keys folder and config file of srv, as its import wrote them.
mkdir -p "$V.keys/srv" && chmod 700 "$V.keys" "$V.keys/srv"
cp "$P/ca.crt" "$P/server.crt" "$P/server.key" "$P/ca.crl" "$V.keys/srv/"
chmod 400 "$V.keys/srv"/*
K=$V.keys/srv
printf '# srv\nca_crt = %s\nserver_crt = %s\nserver_key = %s\ncrl = %s\nserver_key_mm = %s\n' \
	"$K/ca.crt" "$K/server.crt" "$K/server.key" "$K/ca.crl" "$S" >"$CONF"

t_json "status: the old vault is healthy" '.healthy and .generation == 1 and
	([.keystores[].state] == ["ok","ok"]) and ([.master_keys[].id] == [1]) and
	.items == 14' kmc status --json
t_json "list: every item with its type and version" '[.[] | "\(.name) \(.type) \(.version)"]
	| sort == ["api secret 1", "db password 1", "ed password 1", "ed/ca certificate 1",
	"ed/cert certificate 2", "ed/crl crl 1", "ed/key private-key 1", "ed/meta bundle 1",
	"srv password 1", "srv/ca certificate 1", "srv/cert certificate 2", "srv/crl crl 1",
	"srv/key private-key 1", "srv/meta bundle 1"]' kmc list --json
check "srv/cert has its superseded version" jq -e \
	'.[] | select(.name == "srv/cert") | .old_versions == 1' "$LAST"
t_out "password get: a password item" 'db-password-1' kmc password get db
t_out "password get: a bundle's key password" "$KP" kmc password get srv
t_out "decrypt: the config file's kmc:v1 string" "$KP" kmc decrypt "$S"
t "unwrap: the P-256 key, stored as PKCS#8 DER" kmc unwrap srv --out "$T/srv.pem"
check "is the key of srv's certificate" cmp <(openssl pkey -in "$T/srv.pem" -pubout) \
	<(openssl x509 -in "$P/server.crt" -noout -pubkey)
t "unwrap: the Ed25519 key, which has no form but PKCS#8" kmc unwrap ed --out "$T/ed.pem"
check "is the key of ed's certificate" cmp <(openssl pkey -in "$T/ed.pem" -pubout) \
	<(openssl x509 -in "$P/ed.crt" -noout -pubkey)
# The OpenSSL provider reads the old records as a server would.
PROV=(-provider-path "$KMC_BUILD/provider" -provider kmc -provider default)
for b in srv:server ed:ed; do
	t_out "kmc ref ${b%%:*} --uri" "kmc://$V?item=${b%%:*}" kmc ref "${b%%:*}" --uri
	check "openssl loads ${b%%:*}'s key through the provider from the kmc: URI" \
		cmp <(timeout 20 openssl pkey "${PROV[@]}" -in "kmc://$V?item=${b%%:*}" -pubout) \
		<(openssl x509 -in "$P/${b#*:}.crt" -noout -pubkey)
done
t_json "cert info: srv's certificate" '.[0].subject == "CN=localhost"' kmc cert info srv --json
t_json "mk list: key 1 seals every record and the old version" \
	'[.[] | [.id, .active, .items, .old_versions]] == [[1, true, 14, 1]]' kmc mk list --json
t "cert check: nothing due within 1 day" kmc cert check --within 1

# ---- today's kmc writes to it, rotates and rewraps it ---------------------------

(umask 077 && printf 'db-password-2' >"$T/pw2")
t "password set: a new version of an old item" kmc password set db --password-file "$T/pw2"
t_out "password get: the new one" 'db-password-2' kmc password get db
(umask 077 && printf '%s' "$KP" >"$T/kp")
t "import --replace over the old bundle, its keys folder and config file" \
	kmc import --name srv -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.key" \
	-r "$P/ca.crl" --password-file "$T/kp" --keys-dir "$K" --conf "$CONF" --replace
t_json "status: healthy after the writes" '.healthy and .items == 14' kmc status --json
t_out "the config file's new string opens" "$KP" kmc decrypt \
	"$(sed -n 's/^server_key_mm = //p' "$CONF")"
t "mk rotate over the pre-rotation vault" kmc mk rotate
t "mk rewrap seals every record and the config file again" kmc mk rewrap --conf "$CONF"
t_json "mk list: key 1 seals nothing now" \
	'[.[] | [.id, .active, .items, .old_versions]] == [[1, false, 0, 0], [2, true, 14, 7]]' \
	kmc mk list --json
t "mk retire 1" kmc mk retire 1 --conf "$CONF"
t_json "status: healthy, one master key, 2" '.healthy and ([.master_keys[].id] == [2])' \
	kmc status --json
t_out "every item still reads: db" 'db-password-2' kmc password get db
t "every item still reads: ed's key" kmc unwrap ed --out "$T/ed2.pem"
check "the same key" cmp "$T/ed.pem" "$T/ed2.pem"
t_out "and the config file's string" "$KP" kmc decrypt "$(sed -n 's/^server_key_mm = //p' "$CONF")"
# The first writable open built the store's digest (format 2), and every
# write since kept it: the whole store agrees with it.
t "verify: the old vault's store agrees with the digest its first write built" kmc verify
store_format() { mdb_dump -n -s meta -p "$1/items.mdb" | grep -A1 -x ' format' | tail -n1; }
check "the item store is of format 2 now" test "$(store_format "$V")" = ' \00\00\00\02'

# ---- files of a newer kmcvault: refused, named, nothing repaired ------------------

# refused DIR DESC REGEX CMD...: exit 4 (integrity), stderr matching REGEX,
# and DIR's files as they were.
refused() {
	local dir=$1 desc=$2 re=$3 before
	shift 3
	before=$(state "$dir")
	t_err 4 "$desc" "$re" "$@"
	check "$desc: nothing in $(basename "$dir") changed" unchanged "$dir" "$before"
}
N=$T/newer-master
t "a vault whose kmc.ks a newer kmc wrote (format 2), the twin left at 1" \
	build_old "$N" --master-version 2
for cmd in status repair "password set db --password-file $T/pw2"; do
	# shellcheck disable=SC2086
	refused "$N" "$cmd: kmc.ks of format 2 is refused, never repaired from the twin" \
		'kmc\.ks.*format version 2.*reads.* 1' "$KMC" --vault "$N" $cmd
done
N1=$T/newer-standby
t "a vault whose StandbyKsf.ks a newer kmc wrote, kmc.ks left at 1" \
	build_old "$N1" --standby-version 2
for cmd in repair "password set db --password-file $T/pw2"; do
	# shellcheck disable=SC2086
	refused "$N1" "$cmd: StandbyKsf.ks of format 2 is refused, never repaired from kmc.ks" \
		'StandbyKsf\.ks.*format version 2.*reads.* 1' "$KMC" --vault "$N1" $cmd
done
N2=$T/newer-both
t "a vault of keystore format 2" build_old "$N2" --ks-version 2
refused "$N2" "status: both keystores of format 2 refused" 'format version 2' "$KMC" --vault "$N2" status
N3=$T/newer-record
"$OLD" "$N3" "$KMC_HOST_KEY" db=1:"$T/items/db":1:2 api=2:"$T/items/api" 2>/dev/null
for cmd in "password get db" list; do
	# shellcheck disable=SC2086
	refused "$N3" "$cmd: a record of version 2 is refused, naming the item" \
		'db.*version 2.*1' "$KMC" --vault "$N3" $cmd
done
N4=$T/newer-journal
"$OLD" --journal "4:$T" "$N4" "$KMC_HOST_KEY" db=1:"$T/items/db" 2>/dev/null
# kmc status says whose change it is: kmc repair of this kmc refuses it
# (below), so 'run kmc repair' would send the operator in a circle.
t_err 4 "status: a journal of version 4 is a newer kmcvault's pending change" \
	'a change a newer kmcvault made was cut off: finish it with that one' \
	"$KMC" --vault "$N4" status
check "... and never says to run this kmc's repair" bash -c '! grep -q "run kmc repair" "$1"' _ "$LAST_ERR"
check "... its pending line says a newer kmcvault's change" bash -c \
	'"$1" --vault "$2" status | grep -q "^pending        a change a newer kmcvault made"' _ "$KMC" "$N4"
check "... and its JSON too" bash -c '"$1" --vault "$2" status --json |
	jq -e ".pending_change and .pending_change_newer and (.healthy | not)"' _ "$KMC" "$N4"
for cmd in repair "password set db --password-file $T/pw2"; do
	# shellcheck disable=SC2086
	refused "$N4" "$cmd: a journal of version 4 is refused" 'journal.*version 4.*1 to 3' \
		"$KMC" --vault "$N4" $cmd
done
N6=$T/older-journal
"$OLD" --journal "1:$T" "$N6" "$KMC_HOST_KEY" db=1:"$T/items/db" 2>/dev/null
t_err 4 "status: a journal of version 1 is a change this kmc's repair finishes" \
	'needs repair: run kmc repair' "$KMC" --vault "$N6" status
check "... not a newer kmcvault's (JSON)" bash -c '"$1" --vault "$2" status --json |
	jq -e ".pending_change and (.pending_change_newer | not)"' _ "$KMC" "$N6"
t "repair: a staged journal of version 1 (as earlier kmc wrote) is undone" \
	"$KMC" --vault "$N6" repair
t "... and the vault is healthy after it" "$KMC" --vault "$N6" status
N5=$T/newer-store
"$OLD" --store-format 3 "$N5" "$KMC_HOST_KEY" db=1:"$T/items/db" 2>/dev/null
refused "$N5" "list: an item store of format 3 is refused" 'items\.mdb.*format 3.*1 and 2' \
	"$KMC" --vault "$N5" list
# A trust store record (type 7) whose one certificate has flags FLAGS
# (docs/format.md, *Trust stores*): bit 2 is none this kmc knows.
openssl x509 -in "$P/ca.crt" -outform DER -out "$T/ca.der"
trust_rec() { # trust_rec FLAGS OUT
	local n
	n=$(stat -c %s "$T/ca.der")
	{
		printf '\x01\x00\x00\x01\x02ca'
		# shellcheck disable=SC2059
		printf "\\x$(printf %02x "$1")"
		# shellcheck disable=SC2059
		printf "$(printf '\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) \
			$((n >> 8 & 255)) $((n & 255)))"
		cat "$T/ca.der"
	} >"$2"
}
trust_rec 0 "$T/items/trust0"
trust_rec 4 "$T/items/trust4"
"$OLD" "$T/trust-flag0" "$KMC_HOST_KEY" trust:default=7:"$T/items/trust0" 2>/dev/null
check "trust list: a trust store record built from the format reads" \
	bash -c '"$1" --vault "$2" trust list | grep -q "^default  *ca "' _ "$KMC" "$T/trust-flag0"
N7=$T/newer-trust-flag
"$OLD" "$N7" "$KMC_HOST_KEY" trust:default=7:"$T/items/trust4" 2>/dev/null
refused "$N7" "trust list: a certificate flag this kmc does not know is refused as newer, naming the item" \
	'trust:default: a certificate has flags that this kmc \(trust store record version 1\) does not know: a newer kmcvault wrote it' \
	"$KMC" --vault "$N7" trust list
# A token key record (type 9, docs/format.md, *Keys on a token*) is text:
# one holding a NUL is damaged (exit 4), never read short to the NUL
# (here a URI "pkcs11:token=a" that names another key than the record).
printf 'pw' >"$T/items/tkpw"
tk_rec() { # tk_rec SEP OUT: the record, SEP between the URI's two parts
	{
		printf 'kmc-token-key=1\nuri=pkcs11:token=a%b;object=b\ntype=p256\nspki=' "$1"
		openssl x509 -in "$P/ca.crt" -noout -pubkey | openssl pkey -pubin -outform DER | base64 -w0
		printf '\n'
	} >"$2"
}
tk_rec '' "$T/items/tk-good"
tk_rec '\0' "$T/items/tk-nul"
"$OLD" "$T/tk-good" "$KMC_HOST_KEY" web=1:"$T/items/tkpw" web/key=9:"$T/items/tk-good" 2>/dev/null
t_err 9 "unwrap: a key on a token (a record built from the format) is refused, naming its URI" \
	'the key of web lives on a PKCS#11 token \(pkcs11:token=a;object=b\)' \
	"$KMC" --vault "$T/tk-good" unwrap web
N8=$T/token-key-nul
"$OLD" "$N8" "$KMC_HOST_KEY" web=1:"$T/items/tkpw" web/key=9:"$T/items/tk-nul" 2>/dev/null
for cmd in "unwrap web" "csr web --subject /CN=web"; do
	# shellcheck disable=SC2086
	refused "$N8" "$cmd: a token key record holding a NUL is damaged, never read short" \
		'item web/key: not a token key record of format 1' "$KMC" --vault "$N8" $cmd
	check "... the URI cut at the NUL is not named" bash -c '! grep -q "token=a)" "$1"' _ "$LAST_ERR"
done
# A newer kmcvault's token key record (format 2) as the current version,
# this kmc's (format 1) of the same key as the old one: pruning the old
# one must not destroy the key, which the record it cannot read still
# names. It took that record for naming nothing and went to destroy it.
tk_rec '' "$T/items/tk1"
sed 's/^kmc-token-key=1$/kmc-token-key=2/' "$T/items/tk1" >"$T/items/tk2"
printf 'keys_dir=\nconf=\nborn=1\n' >"$T/items/tkmeta"
N9=$T/token-key-newer
"$OLD" --old web/key=9:"$T/items/tk1":1 "$N9" "$KMC_HOST_KEY" web=1:"$T/items/tkpw" \
	web/key=9:"$T/items/tk2":2 web/meta=6:"$T/items/tkmeta" 2>/dev/null
t "rm --old of a bundle whose current key record a newer kmcvault wrote" \
	"$KMC" --vault "$N9" rm web --old
check "... does not go to destroy the key the newer record still names" \
	bash -c '! grep -q "could not remove from the token\|removed from the token" "$1"' _ "$LAST_ERR"
check "... and says it may be left on the token" \
	grep -q 'may be left on the token: pkcs11:token=a;object=b' "$LAST_ERR"
refused "$V" "decrypt: a kmc:v2: string is refused as a newer format" \
	'format kmc:v2:, and this kmc reads kmc:v1: only' kmc decrypt "kmc:v2:1:${S#kmc:v1:1:}"
t "a backup of the old vault" kmc backup --out "$T/bk"
# The manifest of a newer kmc: version 2, its checksum made right.
M=$T/bk/backup.manifest
sed -i '1s/ 1$/ 2/; $d' "$M"
echo "checksum $(b2sum -l 256 "$M" | cut -d' ' -f1)" >>"$M"
refused "$V" "restore: a manifest of version 2 is refused" 'backup\.manifest.*version 2.*1' \
	kmc restore "$T/bk"

# ---- read-only commands write nothing ------------------------------------------

# An old vault of each store kind: with history, and as the first
# releases made it, without (the database was added later in format 1,
# and an open that made it wrote to the file).
t "an old vault with history" build_old "$T/ro1" --old "srv/cert=4:$T/items/cert1:1"
RS1=$(cat "$OUT")
t "an old vault without a history database" build_old "$T/ro2" --no-history
RS2=$(cat "$OUT")
# Every read-only command over the store without history, where an open
# used to write; the few that read history over the other (the keystore
# side is the same in both).
RO2="status list password-get unwrap cert-info cert-info-srv cert-check
	mk-list protector-list trust-list decrypt ref"
for R in "$T/ro1" "$T/ro2"; do
	[ "$R" = "$T/ro1" ] && RS=$RS1 || RS=$RS2
	[ "$R" = "$T/ro1" ] && cmds="status list mk-list" || cmds=$RO2
	rk() { "$KMC" --vault "$R" "$@"; }
	# mtimes to the nanosecond: any write shows, with no waiting.
	before=$(state "$R")
	for c in $cmds; do
		case $c in
		status) cmd="status --json" ;;
		list) cmd="list --json" ;;
		password-get) cmd="password get db" ;;
		unwrap) cmd="unwrap srv --out $T/ro.pem" ;;
		cert-info) cmd="cert info" ;;
		cert-info-srv) cmd="cert info srv --json" ;;
		cert-check) cmd="cert check --within 1" ;;
		mk-list) cmd="mk list --json" ;;
		protector-list) cmd="protector list" ;;
		trust-list) cmd="trust list" ;;
		decrypt) cmd="decrypt $RS" ;;
		ref) cmd="ref srv --uri" ;;
		esac
		rm -f "$T/ro.pem"
		# shellcheck disable=SC2086
		t "$(basename "$R"): $cmd" rk $cmd
		check "$(basename "$R"): $cmd wrote nothing in the vault folder" \
			unchanged "$R" "$before"
	done
done
rk() { "$KMC" --vault "$T/ro2" "$@"; }
# The first write to such a store makes its history database: broken at
# each step (every write, sync, rename the fault shim counts), and killed
# at each, it leaves the old password or the new, and a vault that opens
# for the next write.
SO=$KMC_BUILD/tests/faultinject.so
cp -a "$T/ro2" "$T/ro2.orig"
state_save "$T/ro2" "$T/ro2.state"
faulty() { # faulty N KILL: password set on a fresh copy of ro2, step N broken
	rm -rf "$T/rf" && cp -a "$T/ro2.orig" "$T/rf" && state_load "$T/rf" "$T/ro2.state" &&
		rm -f "$T/count"
	{ env LD_PRELOAD="$SO" KMC_FAULT_AT="$1" KMC_FAULT_COUNT="$T/count" KMC_FAULT_KILL="$2" \
		"$KMC" --vault "$T/rf" password set db --password-file "$T/pw2" \
		>/dev/null 2>"$T/rf.err" </dev/null; } 2>/dev/null
	rc=$?
}
old_or_new() {
	local got
	got=$("$KMC" --vault "$T/rf" password get db 2>&1)
	case $got in db-password-1 | db-password-2) ;; *) echo "got: $got" >&2; return 1 ;; esac
	"$KMC" --vault "$T/rf" password set db --password-file "$T/pw2" 2>/dev/null &&
		[ "$("$KMC" --vault "$T/rf" password get db)" = db-password-2 ]
}
faulty 0 0
steps=$(cat "$T/count" 2>/dev/null || echo 0)
check "the first write to a store without history runs under the fault shim" \
	test "$rc" = 0 -a "$steps" -gt 0
bad=
refusals=0
# Kills run as built for release only, as in the fault suites (faultlib.sh).
[ -n "${KMC_SANITIZED:-}" ] && kills=0 || kills="0 1"
for ((n = 1; n <= steps; n++)); do
	for kill in $kills; do
		faulty "$n" "$kill"
		[ "$kill" = 1 ] || [ "$rc" = 0 ] || refusals=$((refusals + 1))
		if [ "$kill" = 0 ] && [ "$rc" != 0 ] && ! grep -q '^kmc: ' "$T/rf.err"; then
			bad="$bad $n:fail(no message)"
		fi
		[ "$rc" -lt 128 ] || [ "$kill" = 1 ] || bad="$bad $n:crash"
		old_or_new 2>>"$T/rf.why" || bad="$bad $n:$kill"
	done
done
check "failed or killed at each of its $steps steps: the old password or the new, and writable" \
	test -z "$bad"
check "a failed step stops the command ($refusals of $steps did)" test "$refusals" -gt 0
[ -z "$bad" ] || { echo "# steps:$bad"; head -5 "$T/rf.why"; }
# The copies share ro2's vault id, so its state file: put back ro2's own.
state_load "$T/ro2" "$T/ro2.state"
t "import --replace into the store without history" \
	rk import --name srv -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.key" \
	-r "$P/ca.crl" --password-file "$T/kp" --keys-dir "$T/ro2.keys" --replace
t_json "keeps the old versions in the history it made" \
	'.[] | select(.name == "srv/cert") | .version == 3 and .old_versions == 1' \
	rk list --json
t_json "and the vault is healthy" '.healthy' rk status --json

# ---- bundles an earlier version made under names now refused --------------------

# web/meta and app/key were names an import took before such names were
# refused (a bundle web/meta holds item web/meta, which is bundle web's
# meta). They read and remove; an import --replace renews them, unless
# a bundle they would be a part of exists (srv/.s beside srv: srv/.s/key
# is also srv's staged key), and a new bundle of such a name is refused.
LV=$T/legacy
lk() { "$KMC" --vault "$LV" "$@"; }
# kg/key: a key gen's bundle (born=1, no certificate yet) of that time.
mkdir -p "$T/items/kg"
printf 'kg-key-password' >"$T/items/kg/pw"
openssl pkey -in "$P/server.plain.key" -outform DER -out "$T/items/kg/key" 2>/dev/null
printf 'keys_dir=\nconf=\nborn=1\n' >"$T/items/kg/meta"
# shellcheck disable=SC2046
check "old_vault writes bundles web/meta, app/key, srv, srv/.s and kg/key" \
	"$OLD" "$LV" "$KMC_HOST_KEY" $(old_bundle web/meta "$P/server.plain.key" "$P/server.crt" "$KP") \
	$(old_bundle app/key "$P/server.plain.key" "$P/server.crt" "$KP") \
	$(old_bundle srv "$P/server.plain.key" "$P/server.crt" "$KP") \
	$(old_bundle srv/.s "$P/server.plain.key" "$P/server.crt" "$KP") \
	kg/key=1:"$T/items/kg/pw" kg/key/key=3:"$T/items/kg/key" kg/key/meta=6:"$T/items/kg/meta"
t_out "web/meta's key password reads" "$KP" lk password get web/meta
for n in web/meta app/key; do
	t "import --replace renews bundle $n, made under a name now refused" \
		lk import --name "$n" -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.key" \
		-r "$P/ca.crl" --password-file "$T/kp" --keys-dir "$T/lk-${n%/*}" --replace
	t_json "... its certificate is version 3 now" \
		".[] | select(.name == \"$n/cert\") | .version == 3" lk list --json
done
t "cert set gives kg/key, a key gen's bundle of such a name, its certificate" \
	lk cert set kg/key -s "$P/server.crt" -c "$P/ca.crt" -r "$P/ca.crl" --keys-dir "$T/lk-kg"
t_json "... which cert info shows" '.[0].subject | test("CN=")' lk cert info kg/key --json
t "import --stage of web/meta is taken too" \
	lk import --name web/meta -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.key" \
	-r "$P/ca.crl" --password-file "$T/kp" --stage
t "... and promoted" lk promote web/meta
snapshot "$LV" >"$T/lv.before"
t_err 2 "import --replace of srv/.s, which shares items with bundle srv, is refused" \
	'bundle srv/.s, made by an earlier version .* shares items with bundle srv' \
	lk import --name srv/.s -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.key" \
	-r "$P/ca.crl" --password-file "$T/kp" --keys-dir "$T/lk.s" --replace
t_err 2 "a new bundle new/meta is refused, --replace or not" 'new/meta would be a part of a bundle named new' \
	lk import --name new/meta -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.key" \
	-r "$P/ca.crl" --password-file "$T/kp" --keys-dir "$T/lk.new" --replace
check "... and the refusals changed nothing" cmp -s <(snapshot "$LV") "$T/lv.before"
t "rm web/meta still removes it" lk rm web/meta

# ---- passphrase protectors whose Argon2id cost a keystore sets -------------------

# Opened by passphrase alone: the host key given is another one.
head -c 32 /dev/urandom >"$T/other.key"
chmod 400 "$T/other.key"
(umask 077 && printf 'a long passphrase' >"$T/pp")
MiB=$((1024 * 1024))
pk() { KMC_HOST_KEY=$T/other.key "$KMC" --vault "$1" "${@:2}" --passphrase-file "$T/pp"; }
t "a vault with a passphrase protector at the floor, 1 pass over 8 MiB" \
	"$OLD" --pass-slot 1 $((8 * MiB)) "$T/pp" "$T/pass-ok" "$KMC_HOST_KEY" db=1:"$T/items/db"
t_out "opens by its passphrase" 'db-password-1' pk "$T/pass-ok" password get db
# A keyslot downgraded below the floor (8 KiB passed as 8 MiB once),
# and costs over the ceiling: refused by name, with the range, before
# any Argon2id work, whatever the passphrase.
for cost in "1 $((8 * 1024))" "1 $((16 * 1024))" "1 $((8 * MiB - 1024))" "65 $((8 * MiB))" "0 $((8 * MiB))"; do
	D=$T/pass-$(echo "$cost" | tr ' ' -)
	# shellcheck disable=SC2086
	"$OLD" --pass-slot $cost "$T/pp" "$D" "$KMC_HOST_KEY" db=1:"$T/items/db" 2>/dev/null
	refused "$D" "Argon2id cost $cost: passphrase protector 2 is refused, naming the range" \
		'passphrase protector 2 .*outside the accepted range \(passes 1 to 64, memory 8 MiB to 4 GiB\)' \
		pk "$D" password get db
done
done_testing
