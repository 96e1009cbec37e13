/* The reference preparation of an observation (tests/observe_ref.c). */
#ifndef AZ_OBSERVE_REF_H
#define AZ_OBSERVE_REF_H

#include "provenance.h"

void ref_obs_init(az_obs *o, const az_obs_limits *lim, const struct az_leak_set *leaks);
void ref_obs_add_text(az_obs *o, const char *s, size_t len);
void ref_obs_free(az_obs *o);

#endif
