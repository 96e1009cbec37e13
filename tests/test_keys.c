/* Engine keys: generation, the key file format, file permissions, hostile files. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "internal.h"
#include "agentauthz/secrets.h"

static char tmpdir[64];

static void make_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/azkeys.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void path_in_tmp(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
}

/* The key file text of k, through a file, as a user would see it. */
static size_t key_text(const agentauthz_keys *k, char *out, size_t cap)
{
    char path[128];
    FILE *f;
    size_t n;
    path_in_tmp(path, sizeof path, "text.keys");
    unlink(path);
    ck_assert_int_eq(agentauthz_keys_save_file(k, path, NULL), 0);
    f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
    unlink(path);
    return n;
}

static void assert_same_keys(const agentauthz_keys *a, const agentauthz_keys *b)
{
    ck_assert_mem_eq(az_keys_public_key(a), az_keys_public_key(b), 32);
    ck_assert_mem_eq(az_keys_master_key(a), az_keys_master_key(b), 32);
    ck_assert_mem_eq(az_keys_audit_key(a), az_keys_audit_key(b), 32);
}

START_TEST(test_generate)
{
    agentauthz_keys *a = NULL, *b = NULL;
    char text[AGENTAUTHZ_PUBKEY_TEXT_MAX];
    unsigned char pk[32], raw[32], sig[64];
    ck_assert_int_eq(agentauthz_keys_generate(&a, NULL), 0);
    ck_assert_int_eq(agentauthz_keys_generate(&b, NULL), 0);
    ck_assert_int_ne(memcmp(az_keys_master_key(a), az_keys_master_key(b), 32), 0);
    ck_assert_int_ne(memcmp(az_keys_public_key(a), az_keys_public_key(b), 32), 0);
    ck_assert_int_ne(memcmp(az_keys_audit_key(a), az_keys_master_key(a), 32), 0);
    ck_assert_int_eq(agentauthz_keys_public(a, text, sizeof text), 0);
    ck_assert_uint_eq(strlen(text), 49);
    ck_assert(strncmp(text, "azpk1.", 6) == 0);
    ck_assert_int_eq(agentauthz_pubkey_parse(text, pk, NULL), 0);
    ck_assert_int_eq(agentauthz_keys_public_raw(a, raw), 0);
    ck_assert_mem_eq(pk, raw, 32);
    ck_assert_mem_eq(pk, az_keys_public_key(a), 32);
    ck_assert_int_eq(az_keys_sign(a, (const unsigned char *)"hello", 5, sig), 0);
    ck_assert_int_eq(crypto_sign_verify_detached(sig, (const unsigned char *)"hello", 5, pk), 0);
    ck_assert_int_ne(crypto_sign_verify_detached(sig, (const unsigned char *)"hellp", 5, pk), 0);
    ck_assert_int_eq(agentauthz_keys_public(a, text, AGENTAUTHZ_PUBKEY_TEXT_MAX - 1),
                     AGENTAUTHZ_EINVAL);
    agentauthz_keys_free(a);
    agentauthz_keys_free(b);
}
END_TEST

START_TEST(test_save_load)
{
    agentauthz_keys *a = NULL, *b = NULL;
    char path[128];
    struct stat st;
    agentauthz_error err;
    make_tmpdir();
    path_in_tmp(path, sizeof path, "engine.keys");
    ck_assert_int_eq(agentauthz_keys_generate(&a, NULL), 0);
    ck_assert_int_eq(agentauthz_keys_save_file(a, path, &err), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(agentauthz_keys_load_file(path, &b, &err), 0);
    assert_same_keys(a, b);
    agentauthz_keys_free(b);
    b = NULL;
    /* Read-only for the owner is fine too. */
    ck_assert_int_eq(chmod(path, 0400), 0);
    ck_assert_int_eq(agentauthz_keys_load_file(path, &b, &err), 0);
    assert_same_keys(a, b);
    agentauthz_keys_free(b);
    agentauthz_keys_free(a);
    remove_tmpdir();
}
END_TEST

START_TEST(test_save_refuses_existing)
{
    agentauthz_keys *a = NULL;
    char path[128], link[128], missing[128];
    agentauthz_error err;
    make_tmpdir();
    ck_assert_int_eq(agentauthz_keys_generate(&a, NULL), 0);
    path_in_tmp(path, sizeof path, "engine.keys");
    write_file(path, "precious", 8, 0600);
    ck_assert_int_eq(agentauthz_keys_save_file(a, path, &err), AGENTAUTHZ_EEXIST);
    ck_assert_int_eq(err.code, AGENTAUTHZ_EEXIST);
    ck_assert_str_eq(err.path, path);
    /* The file was left alone. */
    {
        char buf[16] = {0};
        FILE *f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fread(buf, 1, sizeof buf, f), 8);
        fclose(f);
        ck_assert_str_eq(buf, "precious");
    }
    /* A dangling symbolic link is not followed. */
    path_in_tmp(link, sizeof link, "link.keys");
    path_in_tmp(missing, sizeof missing, "target.keys");
    ck_assert_int_eq(symlink(missing, link), 0);
    ck_assert_int_eq(agentauthz_keys_save_file(a, link, &err), AGENTAUTHZ_EEXIST);
    ck_assert_int_ne(access(missing, F_OK), 0);
    path_in_tmp(path, sizeof path, "no/such/dir.keys");
    ck_assert_int_eq(agentauthz_keys_save_file(a, path, &err), AGENTAUTHZ_EIO);
    ck_assert_int_eq(agentauthz_keys_save_file(NULL, path, &err), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_keys_save_file(a, NULL, &err), AGENTAUTHZ_EINVAL);
    agentauthz_keys_free(a);
    remove_tmpdir();
}
END_TEST

static const mode_t open_modes[] = {0644, 0640, 0604, 0601, 0610, 0660, 0666, 0700 | 0004};

START_TEST(test_loose_permissions)
{
    agentauthz_keys *a = NULL, *b = (agentauthz_keys *)&b;
    char path[128], text[512];
    size_t n;
    agentauthz_error err;
    make_tmpdir();
    ck_assert_int_eq(agentauthz_keys_generate(&a, NULL), 0);
    n = key_text(a, text, sizeof text);
    path_in_tmp(path, sizeof path, "loose.keys");
    write_file(path, text, n, open_modes[_i]);
    ck_assert_int_eq(agentauthz_keys_load_file(path, &b, &err), AGENTAUTHZ_EPERM);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(err.code, AGENTAUTHZ_EPERM);
    ck_assert_str_eq(err.path, path);
    ck_assert_ptr_nonnull(strstr(err.message, "chmod 600"));
    agentauthz_keys_free(a);
    remove_tmpdir();
}
END_TEST

START_TEST(test_bad_files)
{
    agentauthz_keys *a = NULL, *b = NULL;
    char path[128], *big;
    agentauthz_error err;
    make_tmpdir();
    ck_assert_int_eq(agentauthz_keys_load_file(tmpdir, &b, &err), AGENTAUTHZ_EIO);
    path_in_tmp(path, sizeof path, "missing.keys");
    ck_assert_int_eq(agentauthz_keys_load_file(path, &b, &err), AGENTAUTHZ_EIO);
    ck_assert_str_eq(err.path, path);
    big = calloc(1, 5000);
    ck_assert_ptr_nonnull(big);
    memset(big, 'a', 5000);
    path_in_tmp(path, sizeof path, "big.keys");
    write_file(path, big, 5000, 0600);
    ck_assert_int_eq(agentauthz_keys_load_file(path, &b, &err), AGENTAUTHZ_ELIMIT);
    ck_assert_int_eq(agentauthz_keys_load(big, 5000, &b, &err), AGENTAUTHZ_ELIMIT);
    path_in_tmp(path, sizeof path, "empty.keys");
    write_file(path, "", 0, 0600);
    ck_assert_int_eq(agentauthz_keys_load_file(path, &b, &err), AGENTAUTHZ_ECRYPTO);
    ck_assert_uint_eq(err.line, 1);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(agentauthz_keys_load_file(NULL, &b, &err), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_keys_load_file(path, NULL, &err), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_keys_load(NULL, 3, &b, &err), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_keys_load(NULL, 0, &b, &err), AGENTAUTHZ_ECRYPTO);
    ck_assert_int_eq(agentauthz_keys_generate(NULL, &err), AGENTAUTHZ_EINVAL);
    free(big);
    agentauthz_keys_free(a);
    agentauthz_keys_free(NULL);
    remove_tmpdir();
}
END_TEST

/*
 * A corruption of a good key file: the text to substitute for a line, or a
 * raw edit, and the line where the parser must stop.
 */
typedef struct corrupt_case {
    const char *name;
    int line_to_edit; /* 1..4, or 0: edit the whole text with edit() */
    const char *replacement;
    unsigned long want_line;
} corrupt_case;

static const corrupt_case corrupt[] = {
    {"empty header", 1, "", 1},
    {"future version", 1, "agentauthz-keys v2", 1},
    {"other header", 1, "agentauthz-key v1", 1},
    {"header with trailing space", 1, "agentauthz-keys v1 ", 1},
    {"no sign label", 2, "sing: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 2},
    {"sign without space", 2, "sign:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 2},
    {"short key", 2, "sign: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 2},
    {"long key", 3, "master: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 3},
    {"padding", 3, "master: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 3},
    {"standard base64", 4, "audit: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+A", 4},
    {"not canonical", 4, "audit: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", 4},
    {"swapped lines", 2, "master: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 2},
    {"carriage return", 3, "master: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r", 3},
    {"empty audit", 4, "", 4},
};

/* Rebuilds text with line n (1-based) replaced. */
static size_t edit_line(const char *text, int n, const char *repl, char *out, size_t cap)
{
    size_t o = 0;
    int line = 1;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *src = line == n ? repl : p;
        size_t slen = line == n ? strlen(repl) : len;
        ck_assert_uint_lt(o + slen + 1, cap);
        memcpy(out + o, src, slen);
        o += slen;
        if (nl)
            out[o++] = '\n';
        p += len + (nl ? 1 : 0);
        line++;
    }
    out[o] = '\0';
    return o;
}

/*
 * Whether msg holds any of the key's bytes: the raw bytes, or any 6
 * characters of the key's base64url text.
 */
static int leaks(const char *msg, const agentauthz_keys *k, const char *text)
{
    const unsigned char *keys[] = {az_keys_master_key(k), az_keys_audit_key(k)};
    size_t mlen = strlen(msg);
    for (size_t i = 0; i < 2; i++)
        for (size_t j = 0; j + 4 <= 32; j++)
            if (memmem(msg, mlen, keys[i] + j, 4))
                return 1;
    for (const char *line = strchr(text, ':'); line; line = strchr(line + 1, ':'))
        for (size_t j = 2; j + 6 <= 45 && line[j] && line[j] != '\n'; j++)
            if (memmem(msg, mlen, line + j, 6))
                return 1;
    return 0;
}

START_TEST(test_corrupt)
{
    const corrupt_case *c = &corrupt[_i];
    agentauthz_keys *a = NULL, *b = (agentauthz_keys *)&b;
    char text[512], bad[600];
    size_t n;
    agentauthz_error err;
    make_tmpdir();
    ck_assert_int_eq(agentauthz_keys_generate(&a, NULL), 0);
    key_text(a, text, sizeof text);
    n = edit_line(text, c->line_to_edit, c->replacement, bad, sizeof bad);
    memset(&err, 0, sizeof err);
    ck_assert_msg(agentauthz_keys_load(bad, n, &b, &err) == AGENTAUTHZ_ECRYPTO, "%s", c->name);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(err.code, AGENTAUTHZ_ECRYPTO);
    ck_assert_msg(err.line == c->want_line, "%s: line %lu", c->name, err.line);
    ck_assert_uint_ge(err.column, 1);
    ck_assert_ptr_nonnull(strstr(err.message, "invalid key file"));
    ck_assert_msg(!leaks(err.message, a, text), "%s leaks: %s", c->name, err.message);
    agentauthz_keys_free(a);
    remove_tmpdir();
}
END_TEST

/* Truncations and trailing junk, and a message that never quotes the key. */
START_TEST(test_text_edges)
{
    agentauthz_keys *a = NULL, *b = NULL;
    char text[512], buf[600];
    size_t n;
    agentauthz_error err;
    make_tmpdir();
    ck_assert_int_eq(agentauthz_keys_generate(&a, NULL), 0);
    n = key_text(a, text, sizeof text);
    ck_assert(strncmp(text, "agentauthz-keys v1\nsign: ", 25) == 0);
    /* Without the final newline the text is still a key file. */
    ck_assert_int_eq(agentauthz_keys_load(text, n - 1, &b, &err), 0);
    assert_same_keys(a, b);
    agentauthz_keys_free(b);
    b = NULL;
    for (size_t cut = 0; cut < n - 1; cut++) {
        ck_assert_int_eq(agentauthz_keys_load(text, cut, &b, &err), AGENTAUTHZ_ECRYPTO);
        ck_assert_ptr_null(b);
        ck_assert_msg(!leaks(err.message, a, text), "cut %zu: %s", cut, err.message);
    }
    memcpy(buf, text, n);
    memcpy(buf + n, "\n", 1);
    ck_assert_int_eq(agentauthz_keys_load(buf, n + 1, &b, &err), AGENTAUTHZ_ECRYPTO);
    ck_assert_uint_eq(err.line, 5);
    memcpy(buf + n, "public: x\n", 10);
    ck_assert_int_eq(agentauthz_keys_load(buf, n + 10, &b, &err), AGENTAUTHZ_ECRYPTO);
    /* A NUL byte in the middle of a key. */
    memcpy(buf, text, n);
    buf[30] = '\0';
    ck_assert_int_eq(agentauthz_keys_load(buf, n, &b, &err), AGENTAUTHZ_ECRYPTO);
    ck_assert_uint_eq(err.line, 2);
    ck_assert_msg(!leaks(err.message, a, text), "%s", err.message);
    agentauthz_keys_free(a);
    remove_tmpdir();
}
END_TEST

START_TEST(test_pubkey_parse)
{
    unsigned char pk[32];
    agentauthz_error err;
    static const char *bad[] = {
        "",
        "azpk1.",
        "azpk2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "azpk1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "azpk1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "azpk1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",
        "azpk1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+A",
        "azpk1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA A",
        "azpk1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
        " azpk1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(agentauthz_pubkey_parse(bad[i], pk, &err) == AGENTAUTHZ_ECRYPTO, "%zu", i);
        ck_assert_int_eq(err.code, AGENTAUTHZ_ECRYPTO);
    }
    ck_assert_int_eq(agentauthz_pubkey_parse("azpk1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                             pk, &err),
                     0);
    for (size_t i = 0; i < 32; i++)
        ck_assert_uint_eq(pk[i], 0);
    ck_assert_int_eq(agentauthz_pubkey_parse(NULL, pk, &err), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_pubkey_parse("azpk1.x", NULL, &err), AGENTAUTHZ_EINVAL);
}
END_TEST

START_TEST(test_misuse)
{
    unsigned char sig[64], pk[32];
    char text[64];
    ck_assert_ptr_null(az_keys_public_key(NULL));
    ck_assert_ptr_null(az_keys_master_key(NULL));
    ck_assert_ptr_null(az_keys_audit_key(NULL));
    ck_assert_int_eq(az_keys_sign(NULL, (const unsigned char *)"x", 1, sig), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_keys_public(NULL, text, sizeof text), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_keys_public_raw(NULL, pk), AGENTAUTHZ_EINVAL);
}
END_TEST

static Suite *keys_suite(void)
{
    Suite *s = suite_create("keys");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_generate);
    tcase_add_test(tc, test_save_load);
    tcase_add_test(tc, test_save_refuses_existing);
    tcase_add_loop_test(tc, test_loose_permissions, 0,
                        (int)(sizeof open_modes / sizeof open_modes[0]));
    tcase_add_test(tc, test_bad_files);
    tcase_add_loop_test(tc, test_corrupt, 0, (int)(sizeof corrupt / sizeof corrupt[0]));
    tcase_add_test(tc, test_text_edges);
    tcase_add_test(tc, test_pubkey_parse);
    tcase_add_test(tc, test_misuse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(keys_suite());
    int failed;
    if (sodium_init() < 0)
        return EXIT_FAILURE;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
