/*
 * The public header must compile alone, as strict ISO C99 (-std=c99
 * -pedantic-errors, no _GNU_SOURCE), because programs include it with
 * whatever settings they use. It is included first so that anything it
 * forgets to include itself is an error here. The program then checks that
 * the version macros agree with each other and with the library it runs
 * against, and that the header's initialisers and NULL-tolerant
 * destructors work from C99.
 */
#include <agentauthz.h>

#include <stdio.h>
#include <string.h>

#if !defined(AGENTAUTHZ_VERSION_NUM) || !defined(AGENTAUTHZ_VERSION_STRING)
#error "agentauthz.h does not provide the version macros"
#endif
#if AGENTAUTHZ_VERSION_NUM != ((AGENTAUTHZ_VERSION_MAJOR << 16) | \
                               (AGENTAUTHZ_VERSION_MINOR << 8) | AGENTAUTHZ_VERSION_PATCH)
#error "AGENTAUTHZ_VERSION_NUM does not match MAJOR.MINOR.PATCH"
#endif
#if !AGENTAUTHZ_AT_LEAST(0, 1, 0)
#error "AGENTAUTHZ_AT_LEAST(0, 1, 0) is false"
#endif
#if !AGENTAUTHZ_AT_LEAST(AGENTAUTHZ_VERSION_MAJOR, AGENTAUTHZ_VERSION_MINOR, \
                         AGENTAUTHZ_VERSION_PATCH)
#error "AGENTAUTHZ_AT_LEAST is false for the version itself"
#endif
#if AGENTAUTHZ_AT_LEAST(AGENTAUTHZ_VERSION_MAJOR, AGENTAUTHZ_VERSION_MINOR, \
                        AGENTAUTHZ_VERSION_PATCH + 1)
#error "AGENTAUTHZ_AT_LEAST is true for a later version"
#endif

static int failures;
static int passes;

static void expect(int ok, const char *what)
{
    if (ok) {
        passes++;
    } else {
        failures++;
        printf("FAIL: %s\n", what);
    }
}

int main(void)
{
    char version[32];
    agentauthz_engine_options eo = AGENTAUTHZ_ENGINE_OPTIONS_INIT;
    agentauthz_load_options lo = AGENTAUTHZ_LOAD_OPTIONS_INIT;
    agentauthz_session_options so = AGENTAUTHZ_SESSION_OPTIONS_INIT;
    const char *s;

    expect(eo.version == AGENTAUTHZ_ENGINE_OPTIONS_VERSION && eo.clock == NULL,
           "AGENTAUTHZ_ENGINE_OPTIONS_INIT");
    expect(lo.version == AGENTAUTHZ_LOAD_OPTIONS_VERSION && lo.on_diag == NULL,
           "AGENTAUTHZ_LOAD_OPTIONS_INIT");
    expect(so.version == AGENTAUTHZ_SESSION_OPTIONS_VERSION && so.ttl_ns == 0 && so.params == NULL,
           "AGENTAUTHZ_SESSION_OPTIONS_INIT");

    /* The string and the number must describe the same version. */
    snprintf(version, sizeof version, "%d.%d.%d", AGENTAUTHZ_VERSION_MAJOR,
             AGENTAUTHZ_VERSION_MINOR, AGENTAUTHZ_VERSION_PATCH);
    expect(strcmp(version, AGENTAUTHZ_VERSION_STRING) == 0, "VERSION_STRING matches the parts");
    /* A header from another build than the library is a packaging error. */
    s = agentauthz_version();
    expect(s != NULL && strcmp(s, AGENTAUTHZ_VERSION_STRING) == 0,
           "agentauthz_version() matches the header");

    s = agentauthz_strerror(AGENTAUTHZ_EPOLICY);
    expect(s != NULL && s[0] != '\0', "agentauthz_strerror gives a message");
    s = agentauthz_strerror(-12345);
    expect(s != NULL, "agentauthz_strerror accepts an unknown code");
    expect(strcmp(agentauthz_effect_name(AGENTAUTHZ_ALLOW), "allow") == 0, "effect name");

    /* Destructors accept NULL. */
    agentauthz_engine_free(NULL);
    agentauthz_session_close(NULL);
    agentauthz_action_free(NULL);
    agentauthz_value_free(NULL);
    agentauthz_free(NULL);
    expect(1, "destructors accept NULL");

    printf("header-test (C99): %d passed, %d failed\n", passes, failures);
    return failures == 0 ? 0 : 1;
}
