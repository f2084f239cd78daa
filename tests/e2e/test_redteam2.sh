#!/usr/bin/env bash
# test_redteam2.sh - the second red-team pass (docs/test-plan.md): what an
# attacker or a careless operator does to backups and restores, the
# item store's lock and meta pages, the escaping of every output, --conf,
# the provider's URIs and key-reference files, the environment, the
# argument parser and resource limits. Each check asserts the safe
# behaviour. A check marked "known" is a defect whose fix waits for a
# change elsewhere (docs/test-plan.md says which): it is reported as
# "not ok ... # TODO" and does not fail the suite, and says so when it
# starts to pass. Like the other attack suites it runs as root, and plays
# the other user with chown nobody; one check bind-mounts a folder, and
# is skipped where mounts are not allowed.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A check that fails between a mount and its umount must not leave the
# mount behind (nor keep rm -rf from removing $T).
trap 'umount "$T/mnt" "$T/fs" 2>/dev/null; rm -rf "$T"' EXIT
_known=0
# known DESC CMD... : like check, for a defect known and not yet fixed.
known() {
	local desc=$1
	shift
	if "$@" >"$OUT" 2>"$ERR" </dev/null; then
		_report 1 "$desc (now holds: drop its known mark)"
	else
		_known=$((_known + 1))
		echo "not ok - $desc # TODO known failure, see docs/test-plan.md"
	fi
}

V=$T/v
kmc() { "$KMC" --vault "$V" "$@"; }
for v in one two; do secret_file "$T/$v" "$v"; done
KP='server-key-password'
secret_file "$T/kp" "$KP"
bash "$KMC_TOP/tools/mkpki.sh" "$T/pki" "$KP" >/dev/null 2>&1
kmc init 2>/dev/null
kmc password set a --password-file "$T/one" 2>/dev/null
kmc import --name srv -c "$T/pki/ca.crt" -s "$T/pki/server.crt" -k "$T/pki/server.key" \
	--password-file "$T/kp" 2>/dev/null
kmc backup --out "$T/b1" 2>/dev/null
snapshot "$V" >"$T/before"
# A change refused at the store's commit leaves its generation named as
# pending in kmc.bind (docs/format.md: the state file beside the host key
# may have seen it), so kmc.bind's bytes are not compared; that it still
# vouches for the store as it is, is (kmc status: binding ok).
bind_hash() { grep -v '  \./kmc\.bind$'; }
bound_ok() { # bound_ok VAULT: kmc status says the binding holds
	"$KMC" --vault "$1" status 2>&1 | grep -q '^binding  *kmc\.bind ok$' ||
		{ echo "kmc status: the binding is not ok" >&2; false; }
}
same() { snapshot "$V" | bind_hash | diff - <(bind_hash <"$T/before") >&2 && bound_ok "$V"; }
# A backup to spoil: a fresh copy of b1 at $T/bad.
spoil() { rm -rf "$T/bad" && cp -a "$T/b1" "$T/bad"; }
# Rewrite the manifest with python expression $1 over its text (all but
# the checksum line), then recompute the checksum: what an attacker who
# read docs/format.md does, since the checksum is not keyed.
reman() {
	python3 - "$T/bad/backup.manifest" "$1" <<'PY'
import sys, hashlib
p, expr = sys.argv[1], sys.argv[2]
t = open(p, 'rb').read().decode('latin1')
t = eval(expr, {'t': t[:t.index('checksum ')]})
b = t.encode('latin1')
open(p, 'wb').write(b + b'checksum ' + hashlib.blake2b(b, digest_size=32).hexdigest().encode() + b'\n')
PY
}

# ---- backup folders that are not what they seem --------------------------------------

spoil && mv "$T/bad/items.mdb" "$T/bad/real.mdb" && ln -s real.mdb "$T/bad/items.mdb"
t_err 5 "RT2-01 a backup whose items.mdb is a symbolic link is refused" 'bad/items.mdb is a symbolic link' \
	kmc restore "$T/bad"
check "... and the vault is as it was" same
spoil && chown -R nobody "$T/bad"
t_err 5 "RT2-02 a backup folder owned by another user is refused, naming the owner" 'belongs to uid [0-9]+ \(nobody\)' \
	kmc restore "$T/bad"
spoil && chmod 660 "$T/bad/kmc.ks"
t_err 5 "RT2-03 a group-writable file in a backup is refused" 'bad/kmc.ks has mode 0660' kmc restore "$T/bad"
spoil && ln "$T/bad/kmc.ks" "$T/hardlink"
t_err 5 "RT2-04 a file in a backup with a second hard link is refused" 'bad/kmc.ks has 2 hard links' \
	kmc restore "$T/bad"
rm -f "$T/hardlink"
spoil && rm "$T/bad/backup.manifest" && mkfifo -m 600 "$T/bad/backup.manifest"
t_err 5 "RT2-05 a FIFO for the manifest is refused at once, never read (no hang)" 'backup.manifest is not a regular file' \
	timeout 10 "$KMC" --vault "$V" restore "$T/bad"
check "... and the vault is as it was" same

# ---- manifests rewritten with their checksum recomputed ------------------------------

spoil && reman 't.replace("\nitems ", "\nitems 9")'
t_err 4 "RT2-06 a manifest claiming more items (checksum recomputed) is refused" 'items.mdb is not the item store' \
	kmc restore "$T/bad"
spoil && reman 't.replace("\ngeneration 1\n", "\ngeneration 7\n")'
t_err 4 "RT2-07 a manifest claiming a newer generation (checksum recomputed) is refused" 'kmc.ks is not the keystore' \
	kmc restore "$T/bad"
spoil && reman 't.replace("file items.mdb ", "file items.mdb 18446744073709551616", 1)'
t_err 4 "RT2-08 a manifest size of 2^64 is damage, not a wrap" 'backup.manifest is damaged' kmc restore "$T/bad"
spoil && reman 't.replace("file kmc.ks", "file ../v/kmc.ks")'
t_err 4 "RT2-09 a manifest naming ../v/kmc.ks is damage; no path leaves the backup" 'backup.manifest is damaged' \
	kmc restore "$T/bad"
check "... and the vault is as it was" same

# ---- accepted limits (docs/threat-model.md) ------------------------------------------

ln -s b1 "$T/blink"
t_err 0 "RT2-49 a backup folder reached through a link restores (each file in it is checked)" \
	'restored generation 1 over generation 1' kmc restore "$T/blink"
spoil && secret_file "$T/bad/notes" 'x'
t_err 0 "RT2-50 a file beyond the four in a backup folder is ignored" 'restored generation 1' kmc restore "$T/bad"
kmc password set a --password-file "$T/two" 2>/dev/null
kmc backup --out "$T/b2" 2>/dev/null
spoil && cp "$T/b2/items.mdb" "$T/bad/items.mdb"
# The later store under the earlier manifest, sizes, hashes and store
# generation rewritten to match: a whole, older-or-newer state of the same
# vault, which a restore cannot tell from a real backup.
reman "$(printf '%s' 't.replace("store_generation " + t.split("store_generation ")[1].split()[0], "store_generation " + open("'"$T"'/b2/backup.manifest").read().split("store_generation ")[1].split()[0]).replace([l for l in t.split("\n") if l.startswith("file items.mdb")][0], [l for l in open("'"$T"'/b2/backup.manifest").read().split("\n") if l.startswith("file items.mdb")][0])')"
t_err 0 "RT2-51 a backup assembled from two backups of the same vault restores (hashes do not authenticate)" \
	'restored generation 1' kmc restore "$T/bad"
t_out "... as the later store's state" 'two' kmc password get a
t_out "RT2-52 a relative \$KMC_VAULT is relative to the working folder, for the command" 'two' \
	env -C "$T" KMC_VAULT=v "$KMC" password get a
kmc restore "$T/b1" 2>/dev/null
snapshot "$V" >"$T/before"

# ---- backup targets ------------------------------------------------------------------

mkdir -m 700 "$T/edir" && ln -s edir "$T/elink"
t_err 8 "RT2-10 backup --out a link to an empty folder is refused, never followed" 'elink exists and is not an empty folder' \
	kmc backup --out "$T/elink"
check "... and nothing was written through it" test -z "$(ls -A "$T/edir")"

# ---- restore of an older generation while readers read ---------------------------------

kmc protector add passphrase --passphrase-file "$T/kp" --argon2-ops 1 --argon2-mem 8 2>/dev/null
kmc password set a --password-file "$T/two" 2>/dev/null
readers() { # 3 readers loop password get until $T/stop; exit codes other than 0 or 6 are logged
	local k
	for k in 1 2 3; do
		(while [ ! -e "$T/stop" ]; do
			"$KMC" --vault "$V" password get a >/dev/null 2>>"$T/rd.err"
			rc=$?
			case $rc in 0 | 6) ;; *) echo "reader exit $rc" >>"$T/rd.bad" ;; esac
			[ -e "$T/rd$k.up" ] || : >"$T/rd$k.up"
		done) &
	done
}
# readers_up: each reader has made a get, so the restore below runs while
# they read (a fixed sleep was no promise of that on a loaded machine);
# at most 60 s.
readers_up() {
	local end=$((SECONDS + 60))
	until [ -e "$T/rd1.up" ] && [ -e "$T/rd2.up" ] && [ -e "$T/rd3.up" ]; do
		[ "$SECONDS" -lt "$end" ] || { echo "not every reader made a get in 60 s" >&2; return 1; }
		sleep 0.05
	done
}
readers
check "three readers of the vault are reading (each made a get)" readers_up
t_err 0 "RT2-11 restoring an older generation says so: generation 1 over generation 2" \
	'restored generation 1 over generation 2' kmc restore "$T/b1"
touch "$T/stop"
wait
check "... readers meanwhile got the value or exit 6 (a swap in progress), never damage or a crash" \
	test ! -e "$T/rd.bad"
t_out "... the backup's value is back" 'one' kmc password get a
t "... and the vault is healthy" kmc status
snapshot "$V" >"$T/before"

# ---- the item store's lock file and meta pages -------------------------------------------

kmc password get a >/dev/null 2>&1
rm -f "$V/items.mdb-lock" && ln -s "$T/evil.lock" "$V/items.mdb-lock"
t_err 5 "RT2-12 a lock file that is a symbolic link is refused" 'items.mdb-lock is a symbolic link' kmc password get a
check "... and its target was not created" test ! -e "$T/evil.lock"
rm -f "$V/items.mdb-lock" && mkfifo -m 600 "$V/items.mdb-lock"
t_err 5 "RT2-13 a lock file that is a FIFO is refused at once (no hang)" 'items.mdb-lock is not a regular file' \
	timeout 10 "$KMC" --vault "$V" password get a
rm -f "$V/items.mdb-lock" && secret_file "$T/victim" 'hello' && ln "$T/victim" "$V/items.mdb-lock"
t_err 5 "RT2-14 a lock file hard-linked to another file is refused" 'items.mdb-lock has 2 hard links' \
	kmc password get a
check "... which is left as it was" test "$(cat "$T/victim")" = hello
rm -f "$V/items.mdb-lock"
kmc password get a >/dev/null 2>&1
truncate -s 100G "$V/items.mdb-lock"
t_out "RT2-15 a sparse 100 GiB lock file costs nothing: the vault reads" 'one' kmc password get a
rm -f "$V/items.mdb-lock"
cp -a "$V" "$T/vm"
python3 - "$T/vm/items.mdb" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
for pg in (0, 1):    # MDB_meta after the 16-byte page header: magic, version, address, mapsize
    struct.pack_into('<Q', b, pg * 4096 + 16 + 16, 1 << 60)
open(sys.argv[1], 'wb').write(b)
PY
t_out "RT2-16 meta pages that claim a 1 EiB map size do not make kmc map it" 'one' \
	"$KMC" --vault "$T/vm" password get a
cp -a "$V" "$T/vg" && rm -f "$T/vg/items.mdb-lock"
head -c 100000 /dev/urandom >>"$T/vg/items.mdb"
t_out "RT2-17 garbage appended to items.mdb beyond its last page is never read" 'one' \
	"$KMC" --vault "$T/vg" password get a

# ---- escaping of every output ------------------------------------------------------------

python3 - "$T/evil.crt" "$T/evil2.der" <<'PY'
import sys, datetime
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
k = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'x\x1b[2J\ny\x7f\u0085z\u202e"\\q\x00end'),
                  x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'kmc: fake\r\n')])
now = datetime.datetime.now(datetime.timezone.utc)
c = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
     .serial_number(7).not_valid_before(now - datetime.timedelta(days=1))
     .not_valid_after(now + datetime.timedelta(days=2))
     .add_extension(x509.SubjectAlternativeName([x509.DNSName('a\x1bb'), x509.RFC822Name('e\nf@x'),
                    x509.UniformResourceIdentifier('good.example\x00.evil')]), False)
     .sign(k, hashes.SHA256()))
open(sys.argv[1], 'wb').write(c.public_bytes(serialization.Encoding.PEM))
# The same with bytes no IA5String may hold (the signature no longer
# matters: cert info describes, it does not verify).
d = c.public_bytes(serialization.Encoding.DER).replace(b'a\x1bb', b'a\xc2\x9b')
open(sys.argv[2], 'wb').write(d.replace(b'good.example\x00.evil', b'good.example\xff.evil'))
PY
t "RT2-18 cert info of a certificate whose names hold ESC, newline, DEL, C1 and RLO works" \
	"$KMC" cert info "$T/evil.crt"
cp "$OUT" "$T/ci.txt"
check "... and prints no control byte but the line ends" \
	bash -c 'grep -q "^  subject .*x" "$1" && ! LC_ALL=C grep -q "[[:cntrl:]]" <(tr -d "\n" <"$1") &&
		! grep -q "^kmc: fake" "$1"' _ "$T/ci.txt"
check "RT2-19 cert info of a SAN 'good.example<NUL>.evil' shows all of it, not 'good.example'" \
	grep -q 'URI:good.example?.evil' "$T/ci.txt"
"$KMC" cert info "$T/evil2.der" --json >"$T/c.json" 2>/dev/null
check "RT2-20 cert info --json of SANs holding 0xff and a C1 control is valid JSON (UTF-8)" \
	python3 -c 'import json,sys; json.loads(open(sys.argv[1],"rb").read().decode("utf-8"))' "$T/c.json"
NV="$T/$(printf 'n\033[1m\377')"
mkdir -m 700 "$NV"
"$KMC" --vault "$NV/v" init 2>/dev/null
"$KMC" --vault "$NV/v" status >"$T/st.txt" 2>&1
check "RT2-21 status of a vault whose path holds ESC and 0xff prints them escaped" \
	bash -c '! LC_ALL=C grep -q "$(printf "\033")" "$1" && grep -q "n\\\\x1b\[1m\\\\xff" "$1"' _ "$T/st.txt"
"$KMC" --vault "$NV/v" status --json >"$T/st.json" 2>/dev/null
check "RT2-22 status --json of that vault is valid JSON: well-formed UTF-8 (iconv) that jq parses" \
	bash -c 'iconv -f UTF-8 -t UTF-8 "$1" >/dev/null && jq -e .vault "$1" >/dev/null' _ "$T/st.json"
check "... with the path's ESC as \\u001b and its 0xff as the text \\xff" \
	bash -c 'jq -r .vault "$1" | grep -qF "$(printf "\033")[1m\\xff"' _ "$T/st.json"

# ---- --conf ---------------------------------------------------------------------------------

imp() { kmc import --name "$1" -c "$T/pki/ca.crt" -s "$T/pki/server.crt" -k "$T/pki/server.key" \
	--password-file "$T/kp" --conf "$2"; }
printf 'port = 5432\n' >"$T/c1.conf" && ln "$T/c1.conf" "$T/c1-other.conf"
t_err 5 "RT2-23 a config file with a second hard link is refused" 'c1.conf has 2 hard links' imp s1 "$T/c1.conf"
check "... and the other name still holds what it held" test "$(cat "$T/c1-other.conf")" = 'port = 5432'
mkfifo "$T/c2.conf"
t_err 5 "RT2-24 a config file that is a FIFO is refused at once (no hang)" 'c2.conf is not a regular file' \
	timeout 10 "$KMC" --vault "$V" import --name s2 -c "$T/pki/ca.crt" -s "$T/pki/server.crt" \
	-k "$T/pki/server.key" --password-file "$T/kp" --conf "$T/c2.conf"
truncate -s 200M "$T/c3.conf"
t_err 2 "RT2-25 a 200 MB config file is refused, not read" 'c3.conf is larger than' imp s3 "$T/c3.conf"
printf 'a = 1\nb = x\0y\nc = 2\n' >"$T/c4.conf"
cp "$T/c4.conf" "$T/c4.orig"
t_err 2 "RT2-26 a config file holding a NUL byte is malformed input (exit 2)" 'c4.conf: cannot update it: it holds a NUL byte' \
	imp s4 "$T/c4.conf"
check "... and is left as it was" cmp "$T/c4.conf" "$T/c4.orig"
printf 'port = 1\n' >"$T/c5.conf" && chgrp nogroup "$T/c5.conf" && chmod 640 "$T/c5.conf"
t "RT2-27 a config file 0640 root:nogroup, which the service reads through its group, is updated" imp s5 "$T/c5.conf"
check "... and keeps its mode and group, so the service still reads it" test "$(stat -c '%a %G' "$T/c5.conf")" = '640 nogroup'
printf 'port = 1\n' >"$T/c6.conf" && chown nobody "$T/c6.conf" && chmod 600 "$T/c6.conf"
t_err 5 "RT2-28 a service's config file (owned by nobody) is refused with advice to run as its owner" \
	"c6.conf is owned by uid [0-9]+, not by uid [0-9]+ who runs this; run as its owner" imp s6 "$T/c6.conf"
check "... never to chown it (the service could no longer read it)" bash -c '! grep -q "chown" "$1"' _ "$LAST_ERR"

# ---- the provider ----------------------------------------------------------------------------

PROV=$KMC_BUILD/provider
ossl() { timeout 20 openssl pkey -provider-path "$PROV" -provider kmc -provider default -noout -in "$@"; }
mkref() { # mkref FILE BYTES-AS-PYTHON-LITERAL
	python3 -c 'import base64,sys; open(sys.argv[1],"w").write("-----BEGIN KMC KEY REFERENCE-----\n" + base64.encodebytes(eval(sys.argv[2])).decode() + "-----END KMC KEY REFERENCE-----\n")' "$1" "$2"
}
t "the provider loads the key through a URI (the baseline)" ossl "kmc://$V?item=srv"
mkref "$T/r1.pem" "b'kmc://$V?item=srv\\x00junk'"
t_err 1 "RT2-29 a key reference whose body is a good URI, a NUL and more is refused, naming the NUL" \
	'a kmc: URI holding a NUL byte' ossl "$T/r1.pem"
mkref "$T/r2.pem" "b'kmc://$V?item=srv' + b'A' * 10000000"
t_err 1 "RT2-30 a 13 MB key reference is refused as too large" 'not a kmc: URI: too large' ossl "$T/r2.pem"
t_err 1 "RT2-31 a URI whose path holds a newline and ESC: the error is one escaped line" \
	'in vault /x\\nkmc: fake\\x1b\[2J' ossl 'kmc:///x%0Akmc:%20fake%1B[2J?item=srv'
check "... no forged 'kmc:' line and no ESC in it" \
	bash -c '! grep -q "^kmc: fake" "$1" && ! LC_ALL=C grep -q "$(printf "\033")" "$1"' _ "$LAST_ERR"
t_err 1 "RT2-32 the default vault through a relative \$KMC_VAULT is refused, as a relative URI is" \
	'KMC_VAULT v is a relative path' env -C "$T" KMC_VAULT=v \
	timeout 20 openssl pkey -provider-path "$PROV" -provider kmc -provider default -noout -in 'kmc://?item=srv'
t_err 1 "RT2-33 \$KMC_HOST_KEY=/dev/zero in a server is refused, never read" '/dev/zero is not a regular file' \
	env KMC_HOST_KEY=/dev/zero timeout 20 openssl pkey -provider-path "$PROV" -provider kmc \
	-provider default -noout -in "kmc://$V?item=srv"

# ---- environment and parent folders -------------------------------------------------------------

mkfifo -m 600 "$T/hk.fifo"
t_err 5 "RT2-34 \$KMC_HOST_KEY naming a FIFO is refused at once (no hang)" 'hk.fifo is not a regular file' \
	env KMC_HOST_KEY="$T/hk.fifo" timeout 10 "$KMC" --vault "$V" password get a
t_err 5 "RT2-35 init with \$KMC_HOST_KEY=/dev/zero is refused" '/dev/zero is not a regular file' \
	env KMC_HOST_KEY=/dev/zero "$KMC" --vault "$T/v-zero" init
check "... and made nothing" test ! -e "$T/v-zero"
mkdir -m 1777 "$T/sticky" && chown nobody "$T/sticky"
t_err 5 "RT2-36 a sticky folder owned by another user is not safe (its owner renames anything)" \
	'belongs to uid [0-9]+ \(nobody\), who could swap' "$KMC" --vault "$T/sticky/v" init
mkdir -m 700 "$T/real" && mkdir -m 777 "$T/ww" && ln -s "$T/real" "$T/ww/link"
t_err 5 "RT2-37 a vault reached through a link in a folder others can write is refused (they can repoint it)" \
	'directory .*/ww holding the link .*/ww/link .*has mode 0777 and no sticky bit.*give the path without the link' \
	"$KMC" --vault "$T/ww/link/v" init
check "... and made nothing" test ! -e "$T/real/v"
mkdir -m 700 "$T/safe" && ln -s ../real "$T/safe/link"
t "RT2-37 ... a link in a folder only root and the user write still works" \
	"$KMC" --vault "$T/safe/link/v" init
t "... and the vault opens through it" "$KMC" --vault "$T/safe/link/v" status
t_err 5 "RT2-37 ... the same vault opened through the link others can repoint is refused" \
	'holding the link .*/ww/link' "$KMC" --vault "$T/ww/link/v" status
mkdir -m 1777 "$T/st" && ln -s "$T/real" "$T/st/link" && chown -h nobody "$T/st/link"
t_err 5 "RT2-37 ... a link of another user in a sticky folder is refused (its owner may replace it)" \
	'the link .*/st/link .*belongs to uid [0-9]+ \(nobody\), who may replace it' \
	"$KMC" --vault "$T/st/link/v" status
if mkdir -m 777 "$T/wwm" && mkdir -m 700 "$T/mnt" && mount --bind "$T/wwm" "$T/mnt" 2>/dev/null; then
	mkdir -m 700 "$T/mnt/inner"
	t_err 5 "RT2-38 a world-writable folder bind-mounted under a safe name is seen for what it is" \
		'has mode 0777 and no sticky bit' "$KMC" --vault "$T/mnt/inner/v" init
	umount "$T/mnt"
else
	echo "ok - RT2-38 # SKIP no bind mount here"
fi

# ---- argument parsing ------------------------------------------------------------------------------

t_err 2 "RT2-39 --argon2-mem 99999999999999999999 is a usage error, not a wrap" '8 to 4096 MiB' \
	"$KMC" --vault "$T/v-a" init --protector passphrase --passphrase-file "$T/kp" --argon2-mem 99999999999999999999
t_err 2 "RT2-40 --password-fd 2147483648 is a usage error" 'not a descriptor number: 2147483648' \
	kmc password set z --password-fd 2147483648
t_err 7 "RT2-41 after --, an option is an operand: 'password get -- --vault' looks up an item of that name" \
	'no item --vault' kmc password get -- --vault
t_err 2 "RT2-42 a repeated --vault is refused (exit 2), not 'last one wins'" '--vault given twice' \
	"$KMC" --vault "$T/nowhere" --vault "$V" password get a
t_err 2 "... also once before and once after the command" '--vault given twice' \
	"$KMC" --vault "$T/nowhere" password get a --vault "$V"
t_err 2 "RT2-43 a repeated --password-file is refused (exit 2), as --password-file with --password-fd is" \
	'--password-file given twice' \
	"$KMC" --vault "$V" password set z --password-file "$T/one" --password-file "$T/two"
t_rc 7 "... and nothing was stored" "$KMC" --vault "$V" password get z

# ---- resource limits ----------------------------------------------------------------------------------

snapshot "$V" >"$T/before"
nofile_ok=1
for n in 5 6 7 8 9; do
	(ulimit -n "$n" && "$KMC" --vault "$V" password set nf --password-file "$T/one") >/dev/null 2>"$T/nf.err"
	rc=$?
	if [ "$rc" = 0 ]; then
		kmc rm nf >/dev/null 2>&1
		snapshot "$V" >"$T/before"
	elif [ "$rc" != 6 ] || ! grep -q 'Too many open files' "$T/nf.err" || ! same 2>/dev/null; then
		nofile_ok=0
		echo "# RLIMIT_NOFILE=$n: exit $rc: $(cat "$T/nf.err")"
	fi
done
check "RT2-44 with RLIMIT_NOFILE 5 to 9 a write succeeds or fails with exit 6 naming the fault, nothing changed" \
	test "$nofile_ok" = 1
snapshot "$V" >"$T/before"
head -c 3000 /dev/urandom | base64 -w0 >"$T/big" && chmod 600 "$T/big"
# The change's audit record is its first write (audit.log is over 1 KiB):
# refused as a change whose record cannot be written, exit 13.
t_err 13 "RT2-45 with RLIMIT_FSIZE 1 KiB (SIGXFSZ ignored), a write fails: File too large" 'audit.log.*File too large' \
	bash -c 'trap "" XFSZ; ulimit -f 1; exec "$@"' _ "$KMC" --vault "$V" password set big --password-file "$T/big"
check "... and nothing changed" same
t_err 6 "RT2-46 ... a restore fails the same way" 'File too large' \
	bash -c 'trap "" XFSZ; ulimit -f 8; exec "$@"' _ "$KMC" --vault "$V" restore "$T/b1"
check "... and nothing changed, no stage left" bash -c '! ls -A "$1" | grep -q "^\.kmc-restore"' _ "$V"
check "... the vault is as it was" same
t_err 6 "RT2-47 ... a backup fails the same way, leaving nothing" 'File too large: it would pass this process.s file size limit of 4096 bytes .*; no backup was made' \
	bash -c 'trap "" XFSZ; ulimit -f 4; exec "$@"' _ "$KMC" --vault "$V" backup --out "$T/bf"
# Anchored: $T holds the host key's state file, kmcstate-<vault id hex>,
# which may hold "bf" anywhere.
check "... no backup and no hidden sibling" bash -c '! ls -A "$1" | grep -Eq "^(bf|\.bf\.backup-.*)$"' _ "$T"
t_err 6 "RT2-48 with RLIMIT_FSIZE and SIGXFSZ as the shell leaves it, a backup fails with exit 6, not a signal" \
	'File too large: it would pass this process.s file size limit of 4096 bytes .*; no backup was made' bash -c 'ulimit -f 4; exec "$@"' _ "$KMC" --vault "$V" backup --out "$T/bf2"
check "... no backup and no hidden sibling" bash -c '! ls -A "$1" | grep -Eq "^(bf2|\.bf2\.backup-.*)$"' _ "$T"
check "... and the vault is as it was anyway" same

# ---- a full disk ------------------------------------------------------------------------------------

FS=$T/fs
if mkdir -m 700 "$FS" && mount -t tmpfs -o size=256k,mode=700 tmpfs "$FS" 2>/dev/null; then
	FV=$FS/v
	"$KMC" --vault "$FV" init 2>/dev/null
	"$KMC" --vault "$FV" password set a --password-file "$T/one" 2>/dev/null
	"$KMC" --vault "$FV" backup --out "$T/fsb" 2>/dev/null
	head -c 1M /dev/zero >"$FS/filler" 2>/dev/null
	snapshot "$FV" >"$T/fs.before"
	fsame() { snapshot "$FV" | bind_hash | diff - <(bind_hash <"$T/fs.before") >&2 && bound_ok "$FV"; }
	# The first write of a change is kmc.bind's now, which the message names.
	t_err 6 "RT2-53 on a full disk, a write fails: No space left on device" 'storing the password b: (writing .*kmc\.bind: )?No space left' \
		"$KMC" --vault "$FV" password set b --password-file "$T/one"
	check "... and nothing changed" fsame
	check "... and the audit log says the change was not made" \
		grep -q '"op":"kmc_item_put".*"result":"not made' "$FV/audit.log"
	t_err 6 "RT2-54 ... a restore fails while staging, naming the fault" 'staging .*No space left' \
		"$KMC" --vault "$FV" restore "$T/fsb"
	check "... and nothing changed, no stage left" bash -c '! ls -A "$1" | grep -q "^\.kmc-restore"' _ "$FV"
	t_err 6 "RT2-55 ... adding a protector fails and says nothing changed" 'No space left on device; nothing changed' \
		"$KMC" --vault "$FV" protector add passphrase --passphrase-file "$T/kp" --argon2-ops 1 --argon2-mem 8
	check "... and nothing did" fsame
	t_err 6 "RT2-56 a backup onto a full disk fails, leaving nothing" 'No space left on device; no backup was made' \
		kmc backup --out "$FS/bk"
	check "... no backup and no hidden sibling" bash -c '! ls -A "$1" | grep -Eq "^(bk|\.bk\.backup-.*)$"' _ "$FS"
	rm -f "$FS/filler"
	t_out "with space again, the vault reads" 'one' "$KMC" --vault "$FV" password get a
	t "... and is healthy" "$KMC" --vault "$FV" status
	umount "$FS"
else
	echo "ok - RT2-53 to RT2-56 # SKIP no tmpfs mount here"
fi

echo "# $_known known failures (docs/test-plan.md)"
done_testing
