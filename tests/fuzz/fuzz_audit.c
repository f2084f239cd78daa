/*
 * fuzz_audit.c - an audit record line as the log's reader parses it
 * (vault/auditline.c): the frame, and the fields kmc audit reads.
 *
 * A line whose frame parses has its MAC's span inside it, ending where
 * ,"mac": begins; fields found are read within the line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../vault/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "seq", "time", "user", "op",
		"result", "gen", "of", "through", "torn", "uid", "pid" };
	const char *text = (const char *)data;
	char out[256];
	audit_line l;
	uint64_t v;
	int r;

	r = audit_line_parse(text, size, &l);
	if (r == 0) {
		if (l.mac_at >= size || l.text != text || l.len != size ||
		    memcmp(text + l.mac_at, ",\"mac\":\"", 8) != 0)
			abort();
	} else if (r == KMC_E_VERSION) {
		/* Only a line that starts {"v":N, with N above this format. */
		if (audit_line_version(text, size, &v) != 0 ||
		    v <= AUDIT_FORMAT_VERSION)
			abort();
	} else if (r != KMC_E_CORRUPT) {
		abort();
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		r = audit_line_u64(text, size, keys[i], &v);
		if (r != 0 && r != KMC_E_NOT_FOUND && r != KMC_E_CORRUPT)
			abort();
		r = audit_line_str(text, size, keys[i], out, sizeof(out));
		if (r == 0 && strlen(out) >= sizeof(out))
			abort();
		if (r != 0 && r != KMC_E_NOT_FOUND && r != KMC_E_CORRUPT &&
		    r != KMC_E_TOO_LARGE)
			abort();
	}
	return 0;
}
