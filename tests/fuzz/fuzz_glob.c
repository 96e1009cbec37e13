/*
 * libFuzzer harness for globs. The input is one flags byte (bit 0: tool
 * mode, bit 1: icase), then the pattern, a '\n', and the subject. It
 * compiles the pattern, matches it, and checks that the compiled matcher
 * (with its fast paths), az_glob_match_raw (the linear matcher) and the
 * reference NFA (az_glob_match_nfa) agree on validity and on the result;
 * any disagreement aborts.
 *
 * Build: clang -g -fsanitize=fuzzer,address,undefined -Iinclude -Ilib \
 *        lib/match.c tests/fuzz/fuzz_glob.c -o fuzz_glob
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *pat, *nl, *s;
    size_t plen, slen;
    az_glob_mode mode;
    bool icase;
    az_glob g;
    char msg[128];
    int rc, raw;
    if (size < 1)
        return 0;
    mode = (data[0] & 1) ? AZ_GLOB_TOOL : AZ_GLOB_PATH;
    icase = (data[0] & 2) != 0;
    pat = (const char *)data + 1;
    nl = memchr(pat, '\n', size - 1);
    plen = nl ? (size_t)(nl - pat) : size - 1;
    s = nl ? nl + 1 : pat + plen;
    slen = size - 1 - plen - (nl ? 1 : 0);
    rc = az_glob_compile(&g, pat, plen, mode, icase, msg, sizeof msg);
    raw = az_glob_match_raw(pat, plen, s, slen, mode, icase);
    if (rc == AGENTAUTHZ_ENOMEM)
        return 0;
    if ((rc != 0) != (raw < 0))
        abort();
    if (rc == 0 && az_glob_match(&g, s, slen) != (raw == 1))
        abort();
    if (slen <= 4096 && az_glob_match_nfa(pat, plen, s, slen, mode, icase) != raw)
        abort();
    az_glob_free(&g);
    return 0;
}
