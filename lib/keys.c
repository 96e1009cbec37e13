/*
 * Engine keys: the Ed25519 signing pair, the master key and the audit key,
 * generated or loaded from a key file (format in agentauthz/secrets.h).
 *
 * All key bytes live in one libsodium guarded allocation that is read-only
 * once set up and wiped when freed. No error message ever quotes the input
 * of a key file: a message says which line and column is wrong and what
 * was expected, never what was there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "internal.h"
#include "agentauthz/secrets.h"

#define KEYFILE_MAX 4096
#define KEY_B64_LEN 43 /* 32 bytes in base64url without padding */
#define PUBKEY_PREFIX "azpk1."
#define PUBKEY_PREFIX_LEN (sizeof PUBKEY_PREFIX - 1)
#define KEYFILE_HEADER "agentauthz-keys v1"
#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* The guarded region. seed is kept apart from sk because seed_keypair
   overwrites sk before it has finished reading the seed. */
struct agentauthz_keys {
    unsigned char seed[crypto_sign_SEEDBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char master[AZ_KEY_BYTES];
    unsigned char audit[AZ_KEY_BYTES];
};

/* A key file being parsed: the text, where we are, and what to call it. */
typedef struct keytext {
    const char *s;
    size_t len;
    size_t pos;
    unsigned long line;
    const char *path;
    agentauthz_error *err;
} keytext;

/* Decodes exactly n characters of canonical base64url into exactly outlen bytes. */
static int b64_decode_exact(const char *s, size_t n, unsigned char *out, size_t outlen)
{
    size_t got = 0;
    const char *end = NULL;
    if (!az_b64url_only(s, n) ||
        sodium_base642bin(out, outlen, s, n, NULL, &got, &end, B64_VARIANT) != 0)
        return -1;
    return (got == outlen && end == s + n) ? 0 : -1;
}

/* strerror is not thread-safe; this is, with the caller's buffer. */
static const char *errstr(int e, char *buf, size_t cap)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(e, buf, cap);
#else
    if (strerror_r(e, buf, cap) != 0)
        snprintf(buf, cap, "error %d", e);
    return buf;
#endif
}

/* Fills err for a failed system call on path, from errno. */
static int sys_error(agentauthz_error *err, int code, const char *path, const char *what)
{
    char buf[128];
    int e = errno;
    return az_error_set(err, code, path, 0, 0, 0, "%s: %s", what, errstr(e, buf, sizeof buf));
}

static int keys_alloc(agentauthz_keys **out, agentauthz_error *err)
{
    *out = NULL;
    if (sodium_init() < 0)
        return az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 0, 0, 0,
                            "libsodium could not be initialised");
    *out = sodium_malloc(sizeof **out);
    if (!*out)
        return az_error_set(err, AGENTAUTHZ_ENOMEM, NULL, 0, 0, 0,
                            "out of guarded memory for the engine keys");
    sodium_memzero(*out, sizeof **out);
    return 0;
}

/* Derives the key pair from the seed and seals the region read-only. */
static int keys_seal(agentauthz_keys *k, agentauthz_error *err)
{
    if (crypto_sign_seed_keypair(k->pk, k->sk, k->seed) != 0)
        return az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 0, 0, 0,
                            "the signing key pair could not be derived");
    if (sodium_mprotect_readonly(k) != 0)
        return az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 0, 0, 0,
                            "the key memory could not be made read-only");
    return 0;
}

void agentauthz_keys_free(agentauthz_keys *k)
{
    if (!k)
        return;
    if (sodium_mprotect_readwrite(k) == 0)
        sodium_memzero(k, sizeof *k);
    sodium_free(k);
}

int agentauthz_keys_generate(agentauthz_keys **out, agentauthz_error *err)
{
    agentauthz_keys *k = NULL;
    int rc;
    if (!out)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "out is NULL");
    rc = keys_alloc(&k, err);
    if (rc)
        goto out;
    randombytes_buf(k->seed, sizeof k->seed);
    crypto_kdf_keygen(k->master);
    randombytes_buf(k->audit, sizeof k->audit);
    rc = keys_seal(k, err);
out:
    if (rc) {
        agentauthz_keys_free(k);
        k = NULL;
    }
    *out = k;
    return rc;
}

static int text_error(keytext *t, size_t col, const char *what)
{
    return az_error_set(t->err, AGENTAUTHZ_ECRYPTO, t->path, t->line, (unsigned long)col + 1,
                        t->pos + col, "invalid key file: %s", what);
}

/* The length of the current line, without its newline. */
static size_t line_len(const keytext *t)
{
    const char *nl = memchr(t->s + t->pos, '\n', t->len - t->pos);
    return nl ? (size_t)(nl - (t->s + t->pos)) : t->len - t->pos;
}

/* Steps past the current line (n bytes) and its newline, if any. */
static void next_line(keytext *t, size_t n)
{
    t->pos += n;
    if (t->pos < t->len)
        t->pos++;
    t->line++;
}

static int parse_header(keytext *t)
{
    size_t n = line_len(t);
    static const char vprefix[] = "agentauthz-keys v";
    if (n == sizeof KEYFILE_HEADER - 1 && memcmp(t->s + t->pos, KEYFILE_HEADER, n) == 0) {
        next_line(t, n);
        return 0;
    }
    if (n >= sizeof vprefix - 1 && memcmp(t->s + t->pos, vprefix, sizeof vprefix - 1) == 0)
        return text_error(t, sizeof vprefix - 1,
                          "unsupported key file version (this library reads v1)");
    return text_error(t, 0, "expected the header line 'agentauthz-keys v1'");
}

/* Parses "LABEL: <43 base64url characters>" into the 32 bytes at out. */
static int parse_key_line(keytext *t, const char *label, unsigned char out[AZ_KEY_BYTES])
{
    char want[64];
    size_t n = line_len(t), ll = strlen(label);
    snprintf(want, sizeof want, "expected '%s: ' and a key", label);
    if (t->pos >= t->len)
        return text_error(t, 0, want);
    if (n < ll + 2 || memcmp(t->s + t->pos, label, ll) != 0 ||
        memcmp(t->s + t->pos + ll, ": ", 2) != 0)
        return text_error(t, 0, want);
    if (n - ll - 2 != KEY_B64_LEN)
        return text_error(t, ll + 2, "a key must be 43 base64url characters");
    if (b64_decode_exact(t->s + t->pos + ll + 2, KEY_B64_LEN, out, AZ_KEY_BYTES) != 0)
        return text_error(t, ll + 2, "a key must be 43 base64url characters, canonical");
    next_line(t, n);
    return 0;
}

static int parse_keytext(keytext *t, agentauthz_keys *k)
{
    int rc = parse_header(t);
    if (!rc)
        rc = parse_key_line(t, "sign", k->seed);
    if (!rc)
        rc = parse_key_line(t, "master", k->master);
    if (!rc)
        rc = parse_key_line(t, "audit", k->audit);
    if (!rc && t->pos != t->len)
        rc = text_error(t, 0, "unexpected text after the audit key");
    return rc;
}

static int keys_load_text(const void *bytes, size_t len, const char *path,
                          agentauthz_keys **out, agentauthz_error *err)
{
    agentauthz_keys *k = NULL;
    keytext t = {bytes, len, 0, 1, path, err};
    int rc = keys_alloc(&k, err);
    if (rc)
        goto out;
    rc = parse_keytext(&t, k);
    if (!rc)
        rc = keys_seal(k, err);
out:
    if (rc) {
        agentauthz_keys_free(k);
        k = NULL;
    }
    *out = k;
    return rc;
}

int agentauthz_keys_load(const void *bytes, size_t len, agentauthz_keys **out,
                         agentauthz_error *err)
{
    if (!out)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "out is NULL");
    *out = NULL;
    if (!bytes && len)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "bytes is NULL");
    if (len > KEYFILE_MAX)
        return az_error_set(err, AGENTAUTHZ_ELIMIT, NULL, 0, 0, 0,
                            "a key file is at most %d bytes", KEYFILE_MAX);
    return keys_load_text(bytes ? bytes : "", len, NULL, out, err);
}

/*
 * Reads at most cap bytes (one more than a key file may have, so that a
 * file growing between fstat and read is still caught) into buf.
 */
static int read_all(int fd, char *buf, size_t cap, size_t *got)
{
    *got = 0;
    while (*got < cap) {
        ssize_t n = read(fd, buf + *got, cap - *got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        *got += (size_t)n;
    }
    return 0;
}

/* The checks on the open file: a regular file, private to its owner, small. */
static int check_stat(int fd, const char *path, agentauthz_error *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return sys_error(err, AGENTAUTHZ_EIO, path, "cannot stat");
    if (!S_ISREG(st.st_mode))
        return az_error_set(err, AGENTAUTHZ_EIO, path, 0, 0, 0,
                            "a key file must be a regular file");
    if (st.st_mode & 077)
        return az_error_set(err, AGENTAUTHZ_EPERM, path, 0, 0, 0,
                            "key file mode %04o lets group or other in; chmod 600 it",
                            (unsigned)(st.st_mode & 07777));
    if (st.st_size > KEYFILE_MAX)
        return az_error_set(err, AGENTAUTHZ_ELIMIT, path, 0, 0, 0,
                            "a key file is at most %d bytes", KEYFILE_MAX);
    return 0;
}

int agentauthz_keys_load_file(const char *path, agentauthz_keys **out, agentauthz_error *err)
{
    char buf[KEYFILE_MAX + 1];
    size_t got = 0;
    int fd = -1, rc;
    if (!out || !path)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "path or out is NULL");
    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return sys_error(err, AGENTAUTHZ_EIO, path, "cannot open");
    rc = check_stat(fd, path, err);
    if (rc)
        goto out;
    if (read_all(fd, buf, sizeof buf, &got) != 0) {
        rc = sys_error(err, AGENTAUTHZ_EIO, path, "cannot read");
        goto out;
    }
    if (got > KEYFILE_MAX) {
        rc = az_error_set(err, AGENTAUTHZ_ELIMIT, path, 0, 0, 0,
                          "a key file is at most %d bytes", KEYFILE_MAX);
        goto out;
    }
    rc = keys_load_text(buf, got, path, out, err);
out:
    sodium_memzero(buf, sizeof buf);
    close(fd);
    return rc;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = EIO;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Appends "LABEL: <base64url>\n" to the text at *pos. */
static void format_key_line(char *text, size_t cap, size_t *pos, const char *label,
                            const unsigned char key[AZ_KEY_BYTES])
{
    size_t ll = strlen(label);
    memcpy(text + *pos, label, ll);
    memcpy(text + *pos + ll, ": ", 2);
    *pos += ll + 2;
    sodium_bin2base64(text + *pos, cap - *pos, key, AZ_KEY_BYTES, B64_VARIANT);
    *pos += KEY_B64_LEN;
    text[(*pos)++] = '\n';
}

/* The key file text; text has room for 256 bytes, and the result is about 175. */
static size_t format_keys(const agentauthz_keys *k, char text[256])
{
    size_t pos = sizeof KEYFILE_HEADER;
    memcpy(text, KEYFILE_HEADER "\n", pos);
    format_key_line(text, 256, &pos, "sign", k->seed);
    format_key_line(text, 256, &pos, "master", k->master);
    format_key_line(text, 256, &pos, "audit", k->audit);
    return pos;
}

int agentauthz_keys_save_file(const agentauthz_keys *k, const char *path, agentauthz_error *err)
{
    char text[256];
    size_t len;
    int fd, rc = 0;
    if (!k || !path)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "keys or path is NULL");
    /* O_EXCL also refuses a symbolic link, dangling or not, at path. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0)
        return sys_error(err, errno == EEXIST ? AGENTAUTHZ_EEXIST : AGENTAUTHZ_EIO, path,
                         "cannot create");
    len = format_keys(k, text);
    /* The umask may have taken bits away; make the mode exactly 0600. */
    if (fchmod(fd, 0600) != 0 || write_all(fd, text, len) != 0 || fsync(fd) != 0)
        rc = sys_error(err, AGENTAUTHZ_EIO, path, "cannot write");
    if (close(fd) != 0 && !rc)
        rc = sys_error(err, AGENTAUTHZ_EIO, path, "cannot write");
    if (rc)
        unlink(path);
    sodium_memzero(text, sizeof text);
    return rc;
}

int agentauthz_keys_public(const agentauthz_keys *k, char *out, size_t cap)
{
    if (!k || !out || cap < AGENTAUTHZ_PUBKEY_TEXT_MAX)
        return AGENTAUTHZ_EINVAL;
    memcpy(out, PUBKEY_PREFIX, PUBKEY_PREFIX_LEN);
    sodium_bin2base64(out + PUBKEY_PREFIX_LEN, cap - PUBKEY_PREFIX_LEN, k->pk, sizeof k->pk,
                      B64_VARIANT);
    return 0;
}

int agentauthz_keys_public_raw(const agentauthz_keys *k, unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES])
{
    if (!k || !pk)
        return AGENTAUTHZ_EINVAL;
    memcpy(pk, k->pk, sizeof k->pk);
    return 0;
}

int agentauthz_pubkey_parse(const char *text, unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES],
                            agentauthz_error *err)
{
    size_t n;
    if (!text || !pk)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "text or pk is NULL");
    n = strnlen(text, PUBKEY_PREFIX_LEN + KEY_B64_LEN + 1);
    if (n < PUBKEY_PREFIX_LEN || memcmp(text, PUBKEY_PREFIX, PUBKEY_PREFIX_LEN) != 0)
        return az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 1, 1, 0,
                            "invalid public key: expected the prefix 'azpk1.'");
    if (n != PUBKEY_PREFIX_LEN + KEY_B64_LEN)
        return az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 1, PUBKEY_PREFIX_LEN + 1,
                            PUBKEY_PREFIX_LEN,
                            "invalid public key: expected 43 base64url characters after 'azpk1.'");
    if (b64_decode_exact(text + PUBKEY_PREFIX_LEN, KEY_B64_LEN, pk, AGENTAUTHZ_PUBKEY_BYTES))
        return az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 1, PUBKEY_PREFIX_LEN + 1,
                            PUBKEY_PREFIX_LEN,
                            "invalid public key: not canonical base64url");
    return 0;
}

const unsigned char *az_keys_public_key(const agentauthz_keys *k)
{
    return k ? k->pk : NULL;
}

const unsigned char *az_keys_master_key(const agentauthz_keys *k)
{
    return k ? k->master : NULL;
}

const unsigned char *az_keys_audit_key(const agentauthz_keys *k)
{
    return k ? k->audit : NULL;
}

int az_keys_sign(const agentauthz_keys *k, const unsigned char *m, size_t len,
                 unsigned char sig[64])
{
    if (!k || (!m && len) || !sig)
        return AGENTAUTHZ_EINVAL;
    if (crypto_sign_detached(sig, NULL, m ? m : (const unsigned char *)"", len, k->sk) != 0)
        return AGENTAUTHZ_ECRYPTO;
    return 0;
}
