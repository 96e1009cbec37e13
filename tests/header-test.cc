/*
 * The public header must compile as C++ (-std=c++11 -pedantic-errors) and
 * give its functions C linkage: this program only links if the header's
 * extern "C" block is right. It is included first so that anything it
 * forgets to include itself is an error here.
 */
#include <agentauthz.h>

#include <cstdio>
#include <cstring>

static_assert(AGENTAUTHZ_AT_LEAST(0, 1, 0), "AGENTAUTHZ_AT_LEAST(0, 1, 0) is false");
static_assert(AGENTAUTHZ_VERSION_NUM ==
                  ((AGENTAUTHZ_VERSION_MAJOR << 16) | (AGENTAUTHZ_VERSION_MINOR << 8) |
                   AGENTAUTHZ_VERSION_PATCH),
              "AGENTAUTHZ_VERSION_NUM does not match MAJOR.MINOR.PATCH");
static_assert(sizeof(agentauthz_error) > AGENTAUTHZ_ERROR_MESSAGE_MAX, "agentauthz_error");

namespace
{

int failures;
int passes;

void expect(bool ok, const char *what)
{
    if (ok) {
        passes++;
    } else {
        failures++;
        std::printf("FAIL: %s\n", what);
    }
}

} // namespace

int main()
{
    agentauthz_engine_options eo = AGENTAUTHZ_ENGINE_OPTIONS_INIT;
    agentauthz_load_options lo = AGENTAUTHZ_LOAD_OPTIONS_INIT;
    agentauthz_session_options so = AGENTAUTHZ_SESSION_OPTIONS_INIT;
    agentauthz_error err = agentauthz_error();

    expect(eo.version == AGENTAUTHZ_ENGINE_OPTIONS_VERSION && eo.clock == nullptr,
           "AGENTAUTHZ_ENGINE_OPTIONS_INIT");
    expect(lo.version == AGENTAUTHZ_LOAD_OPTIONS_VERSION && lo.on_diag == nullptr,
           "AGENTAUTHZ_LOAD_OPTIONS_INIT");
    expect(so.version == AGENTAUTHZ_SESSION_OPTIONS_VERSION && so.params == nullptr,
           "AGENTAUTHZ_SESSION_OPTIONS_INIT");
    expect(err.code == 0 && err.message[0] == '\0', "agentauthz_error value-initialises");

    const char *v = agentauthz_version();
    expect(v != nullptr && std::strcmp(v, AGENTAUTHZ_VERSION_STRING) == 0,
           "agentauthz_version() matches the header");
    const char *s = agentauthz_strerror(AGENTAUTHZ_ENOMEM);
    expect(s != nullptr && s[0] != '\0', "agentauthz_strerror gives a message");
    expect(std::strcmp(agentauthz_effect_name(AGENTAUTHZ_DENY), "deny") == 0, "effect name");

    agentauthz_engine_free(nullptr);
    agentauthz_value_free(nullptr);
    expect(true, "destructors accept NULL");

    std::printf("header-test (C++): %d passed, %d failed\n", passes, failures);
    return failures == 0 ? 0 : 1;
}
