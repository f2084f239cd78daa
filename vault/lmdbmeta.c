/*
 * lmdbmeta.c - the item store file's two LMDB meta pages, checked before
 * LMDB maps the file (store.c calls it for every open).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "store.h"
#include "../safeio/fsize.h"
#include "vault.h"

/*
 * LMDB's meta pages, read here before LMDB maps the file. LMDB trusts
 * them: a page number past the end of a short file is read through the
 * map and the process dies of SIGBUS (in kmc, and in every server that
 * loads keys through the provider). Layout, liblmdb 0.9 (mdb.c), in the
 * machine's byte order, offsets for 64-bit (S = sizeof(size_t) = 8; LMDB's
 * page numbers and sizes are size_t):
 *
 *	page 0 at 0, page 1 at psize; each starts with a page header:
 *	  0  pgno page number        10  u16 flags (0x08: P_META)
 *	then MDB_meta at 16:
 *	 16  u32 magic 0xBEEFC0DE    20  u32 data version 1
 *	 24  void * fixed address    32  size_t map size
 *	 40  MDB_db free (8 + 5 S bytes): u32 pad, which in the free DB is the
 *	     page size, u16 flags, u16 depth, pgno branch, leaf, overflow
 *	     pages, size_t entries, pgno root (at +40)
 *	 88  MDB_db main, same layout
 *	136  pgno last page          144 txnid (size_t) transaction id
 *
 * LMDB reads the meta with the larger transaction id (page 0 on a tie);
 * the file must hold its pages 0..last. A writer puts data pages before
 * the meta that names them, so the metas are read before the size.
 *
 * One exception is LMDB's own: a transaction that frees pages it had
 * just added at the end of the file (a large delete rewriting its free
 * list does) never writes them, so "last" can lie past the end by pages
 * that are free and never read. store_extend() grows the file after
 * each commit; a file left short by a kill just then, or by an older
 * kmc, is taken when it still holds both roots, the pages every read
 * starts from.
 */
#define MDB_MAGIC_V 0xBEEFC0DEu
#define MDB_DATA_V 1u
#define MDB_P_META 0x08u
#define MDB_PGNO_NONE ((uint64_t)(size_t)-1)
#define ZS sizeof(size_t)
#define MP_FLAGS (ZS + 2)
#define MM (2 * ZS)			/* the page header's size */
#define MM_DBS (MM + 8 + sizeof(void *) + ZS)
#define MD_LEN (8 + 5 * ZS)
#define MD_ROOT (8 + 4 * ZS)
#define MM_LAST (MM_DBS + 2 * MD_LEN)
#define MM_END (MM_LAST + 2 * ZS)

typedef struct lmdb_meta {
	uint32_t psize;
	uint64_t free_root, main_root, last_pg, txnid;
} lmdb_meta;

static uint64_t rd_size(const uint8_t *p)
{
	size_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int meta_read(int fd, const char *show, const char *advice,
	unsigned i, off_t off, lmdb_meta *ret)
{
	uint8_t pg[MM_END];
	uint16_t flags;
	ssize_t n;

	do
		n = pread(fd, pg, sizeof(pg), off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return kmc_detail(-errno, "%s: reading meta page %u: %s", show,
			i, strerror(errno));
	if ((size_t)n < sizeof(pg))
		return kmc_detail(KMC_E_CORRUPT, "%s is truncated: its meta "
			"page %u is cut off; %s", show, i, advice);
	memcpy(&flags, pg + MP_FLAGS, sizeof(flags));
	if (rd32(pg + MM) != MDB_MAGIC_V || !(flags & MDB_P_META) ||
	    rd_size(pg) != i)
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged: meta page %u "
			"is not an LMDB meta page; %s", show, i, advice);
	if (rd32(pg + MM + 4) != MDB_DATA_V)
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged: meta page %u "
			"has LMDB data version %u, not %u", show, i,
			rd32(pg + MM + 4), MDB_DATA_V);
	ret->psize = rd32(pg + MM_DBS);
	ret->free_root = rd_size(pg + MM_DBS + MD_ROOT);
	ret->main_root = rd_size(pg + MM_DBS + MD_LEN + MD_ROOT);
	ret->last_pg = rd_size(pg + MM_LAST);
	ret->txnid = rd_size(pg + MM_LAST + ZS);
	return 0;
}

/* A root is no page or one of the data pages the meta holds. */
static int root_ok(uint64_t root, uint64_t last_pg)
{
	return root == MDB_PGNO_NONE || (root >= 2 && root <= last_pg);
}

int store_check_metas(int fd, const char *show, int in_backup)
{
	/* A vault's file is restored from a backup; a backup's own file
	   cannot be, and that backup is of no use. */
	const char *advice = in_backup ? "the backup is damaged: use another "
		"one" : "restore it from a backup";
	lmdb_meta m[2];
	struct stat st;
	uint64_t need;
	unsigned i;

	KMC_GUARD(meta_read(fd, show, advice, 0, 0, &m[0]));
	if (m[0].psize < 512 || m[0].psize > 65536 ||
	    (m[0].psize & (m[0].psize - 1)))
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged: meta page 0 "
			"gives a page size of %u", show, m[0].psize);
	KMC_GUARD(meta_read(fd, show, advice, 1, m[0].psize, &m[1]));
	if (m[1].psize != m[0].psize)
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged: its meta pages "
			"give page sizes %u and %u", show, m[0].psize,
			m[1].psize);
	i = m[0].txnid < m[1].txnid;
	if (m[i].last_pg < 1 ||
	    m[i].last_pg >= STORE_MAP_SIZE / m[i].psize ||
	    !root_ok(m[i].free_root, m[i].last_pg) ||
	    !root_ok(m[i].main_root, m[i].last_pg))
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged: meta page %u "
			"names pages the store cannot hold; %s", show, i,
			advice);
	need = (m[i].last_pg + 1) * m[i].psize;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < need && st.st_size % m[i].psize == 0) {
		uint64_t top = 1;

		if (m[i].free_root != MDB_PGNO_NONE && m[i].free_root > top)
			top = m[i].free_root;
		if (m[i].main_root != MDB_PGNO_NONE && m[i].main_root > top)
			top = m[i].main_root;
		if ((uint64_t)st.st_size >= (top + 1) * m[i].psize)
			need = (uint64_t)st.st_size;
	}
	if ((uint64_t)st.st_size < need)
		return kmc_detail(KMC_E_CORRUPT, "%s is truncated: %llu bytes, "
			"the store needs %llu; %s", show,
			(unsigned long long)st.st_size,
			(unsigned long long)need, advice);
	return 0;
}

void store_extend(MDB_env *env)
{
	MDB_envinfo info;
	MDB_stat stat;
	mdb_filehandle_t fd;
	struct stat st;
	uint64_t need;

	if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &stat) != 0 ||
	    mdb_env_get_fd(env, &fd) != 0 || fstat(fd, &st) < 0)
		return;
	need = ((uint64_t)info.me_last_pgno + 1) * stat.ms_psize;
	/* Past a file size limit ftruncate() raises SIGXFSZ: held back
	   (safeio/fsize.h), the file just stays as it is. */
	if ((uint64_t)st.st_size < need) {
		kmc_xfsz x;

		kmc_xfsz_hold(&x);
		(void)!ftruncate(fd, (off_t)need);
		kmc_xfsz_release(&x);
	}
}
