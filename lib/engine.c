/*
 * The engine: the policy in force, swapped atomically by loads, the clock,
 * and the list of live sessions (for sweeps and for ending them at free).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "session.h"

static uint64_t monotonic_ns(void *ctx)
{
    struct timespec ts;
    AZ_UNUSED(ctx);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t az_realtime_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t realtime_ns(void *ctx)
{
    AZ_UNUSED(ctx);
    return az_realtime_ns();
}

uint64_t az_engine_now(const agentauthz_engine *e)
{
    return e->clock(e->clock_ctx);
}

uint64_t az_engine_wall(const agentauthz_engine *e)
{
    return e->wall_clock(e->wall_clock_ctx);
}

const char *agentauthz_version(void)
{
    return AGENTAUTHZ_VERSION_STRING;
}

static int engine_secrets_init(agentauthz_engine *e, const agentauthz_engine_options *opt,
                               agentauthz_error *err);

int agentauthz_engine_new(agentauthz_engine **out, const agentauthz_engine_options *opt,
                          agentauthz_error *err)
{
    agentauthz_engine *e;
    int rc;
    if (!out)
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0, "no engine pointer");
    *out = NULL;
    if (opt && opt->version != AGENTAUTHZ_ENGINE_OPTIONS_VERSION)
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0,
                            "unknown engine options version %u", opt->version);
    if (sodium_init() < 0)
        return az_error_set(err, AGENTAUTHZ_ECRYPTO, "", 0, 0, 0, "libsodium failed to start");
    if (!(e = calloc(1, sizeof *e)))
        return az_error_set(err, AGENTAUTHZ_ENOMEM, "", 0, 0, 0, "out of memory");
    if (pthread_mutex_init(&e->lock, NULL) != 0) {
        free(e);
        return az_error_set(err, AGENTAUTHZ_ENOMEM, "", 0, 0, 0, "cannot create a mutex");
    }
    pthread_mutex_init(&e->secret_lock, NULL);
    pthread_rwlock_init(&e->audit_lock, NULL);
    atomic_init(&e->policy, NULL);
    atomic_init(&e->leaks, NULL);
    e->clock = opt && opt->clock ? opt->clock : monotonic_ns;
    e->clock_ctx = opt ? opt->clock_ctx : NULL;
    e->wall_clock = opt && opt->wall_clock ? opt->wall_clock : realtime_ns;
    e->wall_clock_ctx = opt ? opt->wall_clock_ctx : NULL;
    if (opt) {
        e->secret_issue = opt->secret_issue;
        e->secret_revoke = opt->secret_revoke;
        e->secret_ctx = opt->secret_ctx;
    }
    rc = engine_secrets_init(e, opt, err);
    if (!rc && opt && opt->name && !(e->name = strndup(opt->name, AZ_MAX_NAME)))
        rc = az_error_set(err, AGENTAUTHZ_ENOMEM, "", 0, 0, 0, "out of memory");
    if (rc) {
        agentauthz_engine_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

static int engine_secrets_init(agentauthz_engine *e, const agentauthz_engine_options *opt,
                               agentauthz_error *err)
{
    /*
     * Pool pages keep their guard pages, stay locked and are wiped on
     * release, but are not flipped read-only between writes: mprotect on
     * locked memory costs about a millisecond here, which would dominate a
     * session open (see the closing note of the secrets issue).
     */
    int rc = az_secpool_new(&e->pool, 0);
    if (rc)
        return az_error_set(err, rc, "", 0, 0, 0, "cannot allocate guarded memory");
    if (opt && opt->keys) {
        e->keys = opt->keys;
        return 0;
    }
    if ((rc = agentauthz_keys_generate(&e->own_keys, err)) != 0)
        return rc;
    e->keys = e->own_keys;
    return 0;
}

int agentauthz_engine_public_key(const agentauthz_engine *e,
                                 unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES])
{
    if (!e || !pk)
        return AGENTAUTHZ_EINVAL;
    return agentauthz_keys_public_raw(e->keys, pk);
}

int agentauthz_engine_jwks(const agentauthz_engine *e, char *out, size_t cap)
{
    if (!e)
        return AGENTAUTHZ_EINVAL;
    return agentauthz_keys_jwks(e->keys, out, cap);
}

void agentauthz_engine_free(agentauthz_engine *e)
{
    agentauthz_session *s;
    if (!e)
        return;
    pthread_mutex_lock(&e->lock);
    while ((s = e->sessions) != NULL) {
        e->sessions = s->next;
        pthread_mutex_unlock(&e->lock);
        pthread_mutex_lock(&s->lock);
        az_session_end(s, AZ_CLOSED, "session closed");
        pthread_mutex_lock(&e->lock);
        az_view_clear(&s->view);
        s->view.task = -1;
        s->e = NULL;
        s->prev = s->next = NULL;
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&e->lock);
    for (size_t i = 0; i < e->nretired; i++)
        az_policy_unref(e->retired[i]);
    free(e->retired);
    az_policy_unref(atomic_load(&e->policy));
    az_audit_free(atomic_load(&e->audit));
    az_engine_secrets_free(e);
    agentauthz_keys_free(e->own_keys);
    free(e->name);
    pthread_mutex_destroy(&e->lock);
    pthread_mutex_destroy(&e->secret_lock);
    pthread_rwlock_destroy(&e->audit_lock);
    free(e);
}

int agentauthz_engine_set_audit(agentauthz_engine *e, const agentauthz_audit_options *opt,
                                agentauthz_error *err)
{
    az_audit *fresh = NULL, *old;
    az_audit_writer w;
    int rc;
    if (!e)
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0, "no engine");
    w.keys = e->keys;
    w.engine = e->name;
    w.wall = e->wall_clock;
    w.wall_ctx = e->wall_clock_ctx;
    /*
     * The old log is flushed before the new one opens, so that a new log on
     * the same file resumes after the old one's last record instead of
     * forking the chain. Checks wait meanwhile rather than go unrecorded.
     */
    pthread_rwlock_wrlock(&e->audit_lock);
    old = e->audit;
    /* The old log's closing checkpoint goes in before a new log can resume after it. */
    rc = old ? az_audit_close(old, err) : 0;
    if (!rc && opt)
        rc = az_audit_new(&fresh, opt, &w, err);
    if (!rc)
        atomic_store_explicit(&e->audit, fresh, memory_order_release);
    pthread_rwlock_unlock(&e->audit_lock);
    if (rc)
        return rc;
    az_audit_free(old);
    return 0;
}

int agentauthz_engine_audit_reopen(agentauthz_engine *e, agentauthz_error *err)
{
    int rc = 0;
    if (!e)
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0, "no engine");
    pthread_rwlock_rdlock(&e->audit_lock);
    if (e->audit)
        rc = az_audit_reopen(e->audit, err);
    pthread_rwlock_unlock(&e->audit_lock);
    return rc;
}

az_policy *az_engine_policy_ref(agentauthz_engine *e)
{
    az_policy *p;
    pthread_mutex_lock(&e->lock);
    p = atomic_load_explicit(&e->policy, memory_order_acquire);
    if (p)
        az_policy_ref(p);
    pthread_mutex_unlock(&e->lock);
    return p;
}

/* ---- loading ---- */

typedef struct file_set {
    az_source *src;
    char **paths; /* owned */
    char **texts; /* owned */
    size_t n, cap;
} file_set;

static void file_set_free(file_set *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        free(fs->paths[i]);
        free(fs->texts[i]);
    }
    free(fs->src);
    free(fs->paths);
    free(fs->texts);
}

static int file_set_add(file_set *fs, char *path, char *text, size_t len)
{
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 8;
        az_source *src = realloc(fs->src, cap * sizeof *src);
        char **paths = src ? realloc(fs->paths, cap * sizeof *paths) : NULL;
        char **texts = paths ? realloc(fs->texts, cap * sizeof *texts) : NULL;
        if (src)
            fs->src = src;
        if (paths)
            fs->paths = paths;
        if (!texts) {
            free(path);
            free(text);
            return AGENTAUTHZ_ENOMEM;
        }
        fs->texts = texts;
        fs->cap = cap;
    }
    fs->paths[fs->n] = path;
    fs->texts[fs->n] = text;
    fs->src[fs->n].path = path;
    fs->src[fs->n].text = text;
    fs->src[fs->n].len = len;
    fs->n++;
    return 0;
}

/* Reads at most AZ_MAX_INPUT bytes; a larger file is refused before it is read. */
static int read_file(const char *path, char **text, size_t *len, az_diag *d)
{
    az_mark top = {1, 1, 0};
    struct stat st;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    *text = NULL;
    if (fd < 0 || fstat(fd, &st) != 0) {
        az_diag_error(d, NULL, AGENTAUTHZ_EIO, "cannot read: %s", strerror(errno));
        rc = AGENTAUTHZ_EIO;
        goto out;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > AZ_MAX_INPUT) {
        rc = S_ISREG(st.st_mode) ? AGENTAUTHZ_ELIMIT : AGENTAUTHZ_EIO;
        az_diag_error(d, &top, rc, S_ISREG(st.st_mode) ? "file larger than 16 MiB"
                                                       : "not a regular file");
        goto out;
    }
    if (!(*text = malloc((size_t)st.st_size + 1))) {
        rc = AGENTAUTHZ_ENOMEM;
        az_diag_error(d, NULL, rc, "out of memory");
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, *text + got, (size_t)st.st_size - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        got += (size_t)n;
    }
    (*text)[got] = '\0';
    *len = got;
out:
    if (fd >= 0)
        close(fd);
    if (rc) {
        free(*text);
        *text = NULL;
    }
    return rc;
}

static int add_file(file_set *fs, const char *path, az_diag *d)
{
    char *text, *copy;
    size_t len = 0;
    int rc;
    d->path = path;
    if ((rc = read_file(path, &text, &len, d)) != 0)
        return rc;
    if (!(copy = strdup(path))) {
        free(text);
        rc = AGENTAUTHZ_ENOMEM;
    } else {
        rc = file_set_add(fs, copy, text, len);
    }
    /* Every failed load fills the caller's error, out of memory included. */
    if (rc)
        az_diag_error(d, NULL, rc, "out of memory");
    return rc;
}

static int is_policy_name(const struct dirent *de)
{
    size_t n = strlen(de->d_name);
    if (de->d_name[0] == '.')
        return 0;
    return (n > 5 && strcmp(de->d_name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(de->d_name + n - 4, ".yml") == 0);
}

static int add_dir(file_set *fs, const char *dir, az_diag *d)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_policy_name, alphasort), rc = 0;
    d->path = dir;
    if (n < 0) {
        rc = errno == ENOMEM ? AGENTAUTHZ_ENOMEM : AGENTAUTHZ_EIO;
        az_diag_error(d, NULL, rc, "cannot read directory: %s", strerror(errno));
        return rc;
    }
    if (n == 0) {
        az_diag_error(d, NULL, AGENTAUTHZ_EIO, "no *.yaml or *.yml files in directory");
        rc = AGENTAUTHZ_EIO;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        if (!rc && (size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name) >=
                       sizeof path) {
            rc = AGENTAUTHZ_ELIMIT;
            az_diag_error(d, NULL, rc, "a file name in the directory is too long");
        }
        if (!rc)
            rc = add_file(fs, path, d);
        free(names[i]);
    }
    free(names);
    return rc;
}

static int add_path(file_set *fs, const char *path, az_diag *d)
{
    struct stat st;
    d->path = path;
    if (stat(path, &st) != 0) {
        az_diag_error(d, NULL, AGENTAUTHZ_EIO, "cannot read: %s", strerror(errno));
        return AGENTAUTHZ_EIO;
    }
    return S_ISDIR(st.st_mode) ? add_dir(fs, path, d) : add_file(fs, path, d);
}

/*
 * Frees the retired policies that no session holds any more. Sessions only
 * ever take references to the policy in force, so a retired policy whose
 * one reference is the engine's can be freed here, on the loader's thread.
 */
static void free_retired(agentauthz_engine *e)
{
    az_policy **done = NULL;
    size_t ndone = 0, kept = 0;
    pthread_mutex_lock(&e->lock);
    done = calloc(e->nretired ? e->nretired : 1, sizeof *done);
    for (size_t i = 0; done && i < e->nretired; i++) {
        if (atomic_load_explicit(&e->retired[i]->refs, memory_order_acquire) == 1)
            done[ndone++] = e->retired[i];
        else
            e->retired[kept++] = e->retired[i];
    }
    if (done)
        e->nretired = kept;
    pthread_mutex_unlock(&e->lock);
    for (size_t i = 0; i < ndone; i++)
        az_policy_unref(done[i]);
    free(done);
}

/* Swaps the compiled policy in; checks already running keep their reference. */
static void install(agentauthz_engine *e, az_policy *p)
{
    az_policy *old, **grown;
    pthread_mutex_lock(&e->lock);
    old = atomic_exchange_explicit(&e->policy, p, memory_order_acq_rel);
    e->generation++;
    grown = old ? realloc(e->retired, (e->nretired + 1) * sizeof *grown) : NULL;
    if (grown) {
        e->retired = grown;
        e->retired[e->nretired++] = old;
        old = NULL;
    }
    pthread_mutex_unlock(&e->lock);
    az_policy_unref(old); /* only when it could not be retired */
}

/*
 * The policies retired by earlier loads are freed before the new one is
 * compiled, not after it is installed: freeing walks all of a policy's
 * memory, and would push the new policy out of the cache just before the
 * first checks on it. (The policy this load replaces is still held by
 * every session until its next check, so it could not be freed here yet.)
 */
static int compile_and_install(agentauthz_engine *e, const az_source *src, size_t n,
                               az_diag *d)
{
    az_policy *p = NULL;
    int rc;
    free_retired(e);
    rc = az_policy_compile(src, n, d, &p);
    if (rc == 0) {
        install(e, p);
        az_audit_engine(e, AZ_AUDIT_RELOAD);
    }
    return rc;
}

static void diag_init(az_diag *d, const agentauthz_load_options *opt, agentauthz_error *err)
{
    memset(d, 0, sizeof *d);
    d->fn = opt ? opt->on_diag : NULL;
    d->ctx = opt ? opt->ctx : NULL;
    d->first = err;
}

int agentauthz_engine_load(agentauthz_engine *e, const char *const *paths, size_t npaths,
                           const agentauthz_load_options *opt, agentauthz_error *err)
{
    file_set fs;
    az_diag d;
    int rc = 0, first = 0;
    if (!e || !paths || npaths == 0)
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0, "no policy files given");
    memset(&fs, 0, sizeof fs);
    diag_init(&d, opt, err);
    for (size_t i = 0; i < npaths; i++) {
        rc = paths[i] ? add_path(&fs, paths[i], &d) : AGENTAUTHZ_EINVAL;
        if (rc && !first)
            first = rc;
    }
    if (!first)
        first = compile_and_install(e, fs.src, fs.n, &d);
    file_set_free(&fs);
    return first;
}

int agentauthz_engine_load_string(agentauthz_engine *e, const char *name, const char *text,
                                  size_t len, const agentauthz_load_options *opt,
                                  agentauthz_error *err)
{
    az_source src;
    az_diag d;
    if (!e || !text)
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0, "no policy text given");
    diag_init(&d, opt, err);
    src.path = name ? name : "<string>";
    src.text = text;
    src.len = len;
    return compile_and_install(e, &src, 1, &d);
}

int agentauthz_engine_policy_info(agentauthz_engine *e, agentauthz_policy_info *out)
{
    az_policy *p;
    if (!e || !out)
        return AGENTAUTHZ_EINVAL;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&e->lock);
    p = atomic_load(&e->policy);
    if (p) {
        snprintf(out->name, sizeof out->name, "%s", p->name ? p->name : "");
        memcpy(out->hash, p->hash, sizeof out->hash);
        out->rules = p->nrules;
        out->tasks = p->ntasks;
        out->secrets = p->nsecrets;
        out->identities = p->nidentities;
        out->generation = e->generation;
    }
    pthread_mutex_unlock(&e->lock);
    return p ? 0 : AGENTAUTHZ_ENOPOLICY;
}

/* ---- sweeping ---- */

/* The live sessions, each with a reference, so they can be visited unlocked. */
static agentauthz_session **snapshot_sessions(agentauthz_engine *e, size_t *n)
{
    agentauthz_session **all = NULL, *s;
    size_t count = 0;
    pthread_mutex_lock(&e->lock);
    for (s = e->sessions; s; s = s->next)
        count++;
    all = calloc(count ? count : 1, sizeof *all);
    for (s = e->sessions; all && s; s = s->next) {
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
        all[(*n)++] = s;
    }
    pthread_mutex_unlock(&e->lock);
    return all;
}

int agentauthz_engine_sweep(agentauthz_engine *e, size_t *expired)
{
    agentauthz_session **all;
    size_t n = 0, ended = 0;
    if (!e)
        return AGENTAUTHZ_EINVAL;
    if (!(all = snapshot_sessions(e, &n)))
        return AGENTAUTHZ_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        agentauthz_session *s = all[i];
        uint64_t now = az_engine_now(e);
        pthread_mutex_lock(&s->lock);
        if (s->state == AZ_OPEN && now - s->opened_ns >= s->ttl_ns) {
            az_session_end(s, AZ_EXPIRED, "session expired");
            ended++;
        } else if (s->state == AZ_OPEN && s->nsecrets) {
            az_secrets_expire(s, now);
        }
        pthread_mutex_unlock(&s->lock);
        az_session_unref(s);
    }
    free(all);
    free_retired(e);
    if (expired)
        *expired = ended;
    return 0;
}
