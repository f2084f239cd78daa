#!/usr/bin/env bash
# test_store_gap.sh - LMDB may leave the last pages its meta names
# unwritten: a transaction that frees pages it had just added at the end
# (deleting a bundle with many old versions rewrites the free list so)
# never writes them. Such a store is sound, and the check for truncated
# files must not refuse it: before this was known, `kmc rm` of a bundle
# with its history left a vault that no command would open ("items.mdb is
# truncated").
#   - a store whose meta names pages past the end of the file opens, and
#     the next commit grows the file to hold them all;
#   - a file cut below a root page is still refused as truncated.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
P=$T/pki
kmc() { "$KMC" --vault "$V" "$@"; }
trap 'rm -rf "$T"' EXIT

"$KMC_TOP/tools/mkpki.sh" "$P" >/dev/null
IMP=(import -c "$P/ca.crt" -s "$P/server.crt" -k "$P/server.plain.key" --name web)

# meta FILE: "LAST_PG MAX_ROOT PSIZE PAGES_IN_FILE" of the newer meta page.
meta() {
	python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
ps = struct.unpack_from('<I', d, 16 + 24)[0]
best = None
for i in (0, 1):
    o = i * ps
    free_root = struct.unpack_from('<Q', d, o + 40 + 40)[0]
    main_root = struct.unpack_from('<Q', d, o + 88 + 40)[0]
    last, txn = struct.unpack_from('<QQ', d, o + 136)
    roots = [r for r in (free_root, main_root) if r != 2**64 - 1]
    if best is None or txn > best[0]:
        best = (txn, last, max(roots + [1]))
print(best[1], best[2], ps, len(d) // ps)
PY
}

t "init" kmc init
t "import web" kmc "${IMP[@]}"
t "replace it" kmc "${IMP[@]}" --replace

# LMDB's gap, made directly: the newer meta names two pages past the end
# of the file, which is what such a transaction leaves (pages it freed,
# never written). The meta pages carry no checksum.
cp -a "$V" "$T/gap"
python3 - "$T/gap/items.mdb" <<'PY'
import struct, sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
ps = struct.unpack_from('<I', b, 16 + 24)[0]
newer = max((0, 1), key=lambda i: struct.unpack_from('<Q', b, i * ps + 144)[0])
last = struct.unpack_from('<Q', b, newer * ps + 136)[0]
assert (last + 1) * ps == len(b), "the file ends at the meta's last page"
struct.pack_into('<Q', b, newer * ps + 136, last + 2)
open(p, 'wb').write(b)
PY
read -r LAST ROOT PS PAGES < <(meta "$T/gap/items.mdb")
check "the meta now names pages past the end ($LAST >= $PAGES)" [ "$LAST" -ge "$PAGES" ]
t_rc 0 "such a vault opens: kmc status is healthy" "$KMC" --vault "$T/gap" status
t "and reads" "$KMC" --vault "$T/gap" unwrap web --format der --out "$T/k.der"
t "a write to it works" bash -c 'printf x | "$1" --vault "$2" password set p \
	--password-fd 0' _ "$KMC" "$T/gap"
read -r LAST ROOT PS PAGES < <(meta "$T/gap/items.mdb")
check "after the commit the file holds every page its meta names ($PAGES > $LAST)" \
	[ "$PAGES" -gt "$LAST" ]
t_out "and the vault reads" "x" "$KMC" --vault "$T/gap" password get p

read -r LAST ROOT PS PAGES < <(meta "$V/items.mdb")
cp -a "$V" "$T/cut"
truncate -s $((ROOT * PS)) "$T/cut/items.mdb"
t_err 4 "a file cut below a root page is still refused as truncated" \
	"items.mdb is truncated" "$KMC" --vault "$T/cut" status

done_testing
