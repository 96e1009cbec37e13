/* The reference scanner (tests/extract_ref.c): az_extract's behaviour before the fast skip. */
#ifndef AZ_EXTRACT_REF_H
#define AZ_EXTRACT_REF_H

#include "extract.h"

int az_extract_ref(const char *text, size_t len, unsigned mask, size_t max_items,
                   az_extract_fn fn, void *ctx);

#endif
