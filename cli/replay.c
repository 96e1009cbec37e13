/*
 * agentauthz replay POLICY... [TRACE.jsonl | -]: decides a trace of actions,
 * one JSON object per line, on a clock that starts at 0 and moves only by
 * "advance" lines, so that a replay gives the same output every time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "replay.h"

#define REPLAY_MAX_LIVE 10000   /* sessions open at once             */
#define REPLAY_MAX_NAMES 100000 /* session names remembered in all   */
#define REPLAY_BUCKETS 4096     /* hash buckets of the session table */
#define REPLAY_MSG_MAX 600      /* one error line's message          */

enum { RS_OPEN, RS_REFUSED, RS_CLOSED };

/*
 * A session name of the trace and what became of it, with what it was
 * opened with: a later line that names another identity, task, ttl or
 * params is an error line rather than silently replayed in this session.
 * The params are kept as a hash of their JSON text, as they may be large.
 */
typedef struct rsession {
    char *name;
    agentauthz_session *s; /* set while RS_OPEN */
    int state;
    char *reason; /* why it is denied, when not RS_OPEN */
    char *identity, *task;
    uint64_t ttl_ns;      /* 0: none given */
    uint64_t params_hash; /* 0: none given */
    struct rsession *next;
} rsession;

typedef struct replay {
    agentauthz_engine *e;
    agentauthz_action *action;
    uint64_t clock; /* nanoseconds; read by cli_manual_clock */
    rsession **buckets;
    size_t live, names;
    unsigned long line;
    unsigned long allowed, denied, asked;
    unsigned long errors; /* error lines */
} replay;

typedef struct linebuf {
    char *p;
    size_t len, cap;
} linebuf;

void cli_help_replay(FILE *out)
{
    fputs("Usage: agentauthz replay [--keys FILE [--audit LOG]] POLICY... [TRACE.jsonl | -]\n"
          "\n"
          "Decides a trace of actions, one JSON object per line (standard input when\n"
          "the trace is '-' or not given). The last argument is the trace when it is\n"
          "'-' or a file whose name ends in neither .yaml nor .yml.\n"
          "\n"
          "Keys of a line: session and tool (required), identity and task (required on\n"
          "a session's first line, which opens it), ttl (seconds) and params (an\n"
          "object) for that opening, resource, destination (a string or a list), args\n"
          "(an object), labels, payload, approve (true or \"session\") and close (true:\n"
          "close the session after this action). {\"advance\": SECONDS} moves the\n"
          "replay clock, which starts at 0. Blank lines are skipped.\n"
          "\n"
          "{\"session\": S, \"observe\": {\"tool\": T, \"output\": VALUE, \"labels\": [L]}}\n"
          "records what tool T returned in session S (for from and not_from; the\n"
          "catalogue's output labels of T apply too) and prints {\"line\":N,\n"
          "\"session\":..,\"observed\":T}; it may open S as an action line does.\n"
          "\n"
          "A later line of a session may repeat identity, task, ttl and params only\n"
          "with the values the session was opened with.\n"
          "\n"
          "Prints for each action {\"line\":N,\"session\":..,\"tool\":..,\"decision\":..,\n"
          "\"rule\":..,\"reason\":..}, or {\"line\":N,\"error\":..} for a line that cannot\n"
          "be replayed, and 'N allowed, N denied, N asked' on standard error, then\n"
          "'TRACE: error: N lines could not be replayed' when there were error lines.\n"
          "\n",
          out);
    cli_help_engine_opts(out);
    fputs("Exit status: 0; 1 when some lines could not be replayed (error lines);\n"
          "2 for bad usage, a policy that does not load, an unreadable trace, or keys\n"
          "or an audit log that cannot be used.\n",
          out);
}

/* FNV-1a: the table only needs to spread names, not resist attacks, as the
 * total number of names is bounded. */
static size_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return (size_t)(h % REPLAY_BUCKETS);
}

static rsession *find_session(replay *r, const char *name)
{
    rsession *it = r->buckets[hash_name(name)];
    while (it && strcmp(it->name, name) != 0)
        it = it->next;
    return it;
}

static void rsession_free(rsession *rs)
{
    free(rs->name);
    free(rs->reason);
    free(rs->identity);
    free(rs->task);
    free(rs);
}

static uint64_t fnv1a(uint64_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

/*
 * A hash of the params object that ignores key order: the sum of FNV-1a
 * over each key and its value's JSON text. Never 0 (0 means none given);
 * -1 when out of memory. A 64-bit hash cannot tell every two objects apart,
 * but a trace that changes a session's params by a collision is not a
 * mistake anyone makes, and it keeps large params out of memory.
 */
static int params_hash(const agentauthz_value *params, uint64_t *out)
{
    uint64_t sum = 0;
    *out = 0;
    if (!params)
        return 0;
    for (size_t i = 0; i < agentauthz_value_length(params); i++) {
        const char *key = agentauthz_value_map_key(params, i);
        char *json = NULL;
        size_t len = 0;
        uint64_t h;
        if (agentauthz_value_to_json(agentauthz_value_map_value(params, i), &json, &len) != 0)
            return -1;
        h = fnv1a(1469598103934665603u, key, strlen(key) + 1); /* with its NUL: a separator */
        sum += fnv1a(h, json, len);
        agentauthz_free(json);
    }
    *out = sum ? sum : 1;
    return 0;
}

static rsession *add_session(replay *r, const replay_line *l, agentauthz_session *s,
                             const char *reason)
{
    size_t b = hash_name(l->session);
    rsession *rs = calloc(1, sizeof *rs);
    if (!rs)
        return NULL;
    rs->name = strdup(l->session);
    rs->reason = reason ? strdup(reason) : NULL;
    rs->identity = strdup(l->identity);
    rs->task = strdup(l->task);
    rs->ttl_ns = l->ttl_ns;
    if (!rs->name || (reason && !rs->reason) || !rs->identity || !rs->task ||
        params_hash(l->params, &rs->params_hash) != 0) {
        rsession_free(rs);
        return NULL;
    }
    rs->s = s;
    rs->state = s ? RS_OPEN : RS_REFUSED;
    rs->next = r->buckets[b];
    r->buckets[b] = rs;
    r->names++;
    if (s)
        r->live++;
    return rs;
}

static void free_sessions(replay *r)
{
    for (size_t b = 0; r->buckets && b < REPLAY_BUCKETS; b++) {
        rsession *it = r->buckets[b];
        while (it) {
            rsession *next = it->next;
            agentauthz_session_close(it->s);
            rsession_free(it);
            it = next;
        }
    }
    free(r->buckets);
    r->buckets = NULL;
}

static void print_error(replay *r, const char *msg)
{
    r->errors++;
    printf("{\"line\":%lu,\"error\":", r->line);
    cli_json_string(stdout, msg, strlen(msg));
    fputs("}\n", stdout);
}

static void print_decision(replay *r, const replay_line *l, const agentauthz_decision *d)
{
    printf("{\"line\":%lu,\"session\":", r->line);
    cli_json_string(stdout, l->session, strlen(l->session));
    fputs(",\"tool\":", stdout);
    cli_json_string(stdout, l->tool, strlen(l->tool));
    fputc(',', stdout);
    cli_json_decision(stdout, d);
    fputs("}\n", stdout);
    if (d->effect == AGENTAUTHZ_ALLOW)
        r->allowed++;
    else if (d->effect == AGENTAUTHZ_ASK)
        r->asked++;
    else
        r->denied++;
}

/*
 * Opens the session a line names for the first time. A refused identity
 * or wrong parameters make a session whose every action is a deny with
 * rule "session"; an unknown task (or any other failure) is an error line.
 */
static rsession *open_session(replay *r, const replay_line *l, char *msg, size_t cap)
{
    agentauthz_session_options so = AGENTAUTHZ_SESSION_OPTIONS_INIT;
    agentauthz_session *s = NULL;
    agentauthz_error err;
    rsession *rs = NULL;
    int rc;

    if (!l->identity || !l->task) {
        snprintf(msg, cap, "session \"%.128s\" is not open: its first line needs identity and task",
                 l->session);
        return NULL;
    }
    if (r->live >= REPLAY_MAX_LIVE || r->names >= REPLAY_MAX_NAMES) {
        snprintf(msg, cap, "too many sessions (at most %d open, %d in all)", REPLAY_MAX_LIVE,
                 REPLAY_MAX_NAMES);
        return NULL;
    }
    memset(&err, 0, sizeof err);
    so.ttl_ns = l->ttl_ns;
    so.params = l->params;
    rc = agentauthz_session_open(r->e, l->identity, l->task, &so, &s, &err);
    if (rc != 0 && (rc == AGENTAUTHZ_ENOTASK || !cli_open_refused(rc))) {
        snprintf(msg, cap, "%s", err.message[0] ? err.message : agentauthz_strerror(rc));
        return NULL;
    }
    rs = add_session(r, l, s, rc ? (err.message[0] ? err.message : agentauthz_strerror(rc)) : NULL);
    if (!rs) {
        agentauthz_session_close(s);
        snprintf(msg, cap, "%s", agentauthz_strerror(AGENTAUTHZ_ENOMEM));
    }
    return rs;
}

/* Approves (when asked to) before the check, so the check itself allows. */
static int decide(rsession *rs, const replay_line *l, agentauthz_action *a, agentauthz_decision *d,
                  char *msg, size_t cap)
{
    if (rs->state != RS_OPEN) {
        cli_session_deny(d, rs->reason ? rs->reason : "session closed");
        return 0;
    }
    if (l->approve) {
        int rc = agentauthz_approve(rs->s, a, (agentauthz_approval)l->approve);
        if (rc != 0) {
            snprintf(msg, cap, "approve: %s", agentauthz_strerror(rc));
            return -1;
        }
    }
    /* A negative return leaves a deny in d: the decision to print. */
    (void)!agentauthz_check(rs->s, a, d);
    return 0;
}

static void close_session(replay *r, rsession *rs)
{
    if (rs->state != RS_OPEN)
        return;
    agentauthz_session_close(rs->s);
    rs->s = NULL;
    rs->state = RS_CLOSED;
    r->live--;
}

/* What a later line of a session repeats must be what the session was opened with. */
static int same_opening(const rsession *rs, const replay_line *l, char *msg, size_t cap)
{
    const char *what = NULL;
    uint64_t h = 0;
    if (params_hash(l->params, &h) != 0) {
        snprintf(msg, cap, "%s", agentauthz_strerror(AGENTAUTHZ_ENOMEM));
        return -1;
    }
    if (l->identity && strcmp(l->identity, rs->identity) != 0)
        what = "identity";
    else if (l->task && strcmp(l->task, rs->task) != 0)
        what = "task";
    else if (l->ttl_ns && l->ttl_ns != rs->ttl_ns)
        what = "ttl";
    else if (l->params && h != rs->params_hash)
        what = "params";
    if (!what)
        return 0;
    snprintf(msg, cap,
             "session \"%.128s\" was opened with another \"%s\": a later line cannot change it",
             l->session, what);
    return -1;
}

static int do_action(replay *r, const replay_line *l, char *msg, size_t cap)
{
    agentauthz_decision d;
    rsession *rs = find_session(r, l->session);
    int rc;
    if (rs && same_opening(rs, l, msg, cap) != 0)
        return -1;
    if (!rs && !(rs = open_session(r, l, msg, cap)))
        return -1;
    rc = replay_line_action(l, r->action);
    if (rc != 0) {
        snprintf(msg, cap, "%s", agentauthz_strerror(rc));
        return -1;
    }
    if (decide(rs, l, r->action, &d, msg, cap) != 0)
        return -1;
    print_decision(r, l, &d);
    if (l->close)
        close_session(r, rs);
    return 0;
}

/*
 * An observe line: records what a tool returned for the session (opening
 * it, as an action line would), printing {"line":N,"session":..,
 * "observed":TOOL}; an output that cannot be recorded whole is an error
 * line, since later from checks of that session now fail closed.
 */
static int do_observe(replay *r, const replay_line *l, char *msg, size_t cap)
{
    const char *labels[64];
    size_t n = l->obs_labels ? agentauthz_value_length(l->obs_labels) : 0;
    rsession *rs = find_session(r, l->session);
    agentauthz_error err;
    int rc;
    if (rs && same_opening(rs, l, msg, cap) != 0)
        return -1;
    if (!rs && !(rs = open_session(r, l, msg, cap)))
        return -1;
    if (rs->state != RS_OPEN || !rs->s) {
        snprintf(msg, cap, "observe: session \"%.128s\" is not open: %s", l->session,
                 rs->reason ? rs->reason : "session closed");
        return -1;
    }
    if (n > 64) {
        snprintf(msg, cap, "observe: more than 64 labels");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        labels[i] = agentauthz_value_get_string(agentauthz_value_list_get(l->obs_labels, i), NULL);
    agentauthz_action_reset(r->action);
    memset(&err, 0, sizeof err);
    rc = agentauthz_action_set_tool(r->action, l->obs_tool);
    if (rc == 0)
        rc = agentauthz_session_observe_value(rs->s, r->action, l->output, labels, n, &err);
    if (rc != 0) {
        snprintf(msg, cap, "observe: %s", err.message[0] ? err.message : agentauthz_strerror(rc));
        return -1;
    }
    printf("{\"line\":%lu,\"session\":", r->line);
    cli_json_string(stdout, l->session, strlen(l->session));
    fputs(",\"observed\":", stdout);
    cli_json_string(stdout, l->obs_tool, strlen(l->obs_tool));
    fputs("}\n", stdout);
    return 0;
}

static int is_blank(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    return 1;
}

static void do_line(replay *r, const char *text, size_t len)
{
    char msg[REPLAY_MSG_MAX];
    agentauthz_value *obj = NULL;
    agentauthz_error err;
    replay_line l;

    memset(&err, 0, sizeof err);
    if (agentauthz_value_parse_json(text, len, &obj, &err) != 0) {
        snprintf(msg, sizeof msg, "invalid JSON at column %lu: %s", err.column, err.message);
        print_error(r, msg);
        return;
    }
    if (replay_line_parse(obj, &l, msg, sizeof msg) != 0)
        print_error(r, msg);
    else if (l.has_advance && cli_clock_advance(&r->clock, l.advance_ns) != 0)
        print_error(r, "\"advance\" moves the clock out of range");
    else if (!l.has_advance && l.observe && do_observe(r, &l, msg, sizeof msg) != 0)
        print_error(r, msg);
    else if (!l.has_advance && !l.observe && do_action(r, &l, msg, sizeof msg) != 0)
        print_error(r, msg);
    agentauthz_value_free(obj);
}

static int grow(linebuf *b)
{
    size_t ncap = b->cap ? b->cap * 2 : 4096;
    char *p = NULL;
    if (ncap > CLI_MAX_INPUT + 1)
        ncap = CLI_MAX_INPUT + 1;
    p = realloc(b->p, ncap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = ncap;
    return 0;
}

/*
 * Reads one line without its newline. Returns 1 for a line, 0 at the end,
 * -1 on a read error or out of memory. A line past CLI_MAX_INPUT bytes is
 * consumed to its end and flagged in *too_long, never held in memory.
 */
static int read_line(FILE *f, linebuf *b, int *too_long)
{
    int c, any = 0;
    b->len = 0;
    *too_long = 0;
    while ((c = getc_unlocked(f)) != EOF) {
        any = 1;
        if (c == '\n')
            return 1;
        if (b->len >= CLI_MAX_INPUT) {
            *too_long = 1;
            continue;
        }
        if (b->len + 1 >= b->cap && grow(b) != 0)
            return -1;
        b->p[b->len++] = (char)c;
    }
    if (ferror(f))
        return -1;
    return any;
}

static int replay_stream(replay *r, FILE *f, const char *name)
{
    linebuf b = {NULL, 0, 0};
    int too_long = 0, got;
    while ((got = read_line(f, &b, &too_long)) > 0) {
        r->line++;
        if (too_long)
            print_error(r, "line longer than 16 MiB");
        else if (!is_blank(b.p, b.len))
            do_line(r, b.p, b.len);
    }
    free(b.p);
    if (got < 0) {
        fprintf(stderr, "%s: error: cannot read: %s\n", name,
                errno ? strerror(errno) : "read error");
        return CLI_USAGE;
    }
    return CLI_OK;
}

static int replay_run(cli_common *c, size_t npolicy, const char *trace)
{
    replay r;
    cli_diag_count count = {0, 0};
    FILE *f = stdin;
    int code = 0, rc = CLI_USAGE;

    const char *name = strcmp(trace, "-") == 0 ? "standard input" : trace;

    memset(&r, 0, sizeof r);
    if (strcmp(trace, "-") != 0 && !(f = fopen(trace, "r"))) {
        fprintf(stderr, "%s: error: cannot read: %s\n", trace, strerror(errno));
        return CLI_USAGE;
    }
    r.buckets = calloc(REPLAY_BUCKETS, sizeof *r.buckets);
    if (!r.buckets || agentauthz_action_new(&r.action) != 0) {
        cli_fatal("%s", agentauthz_strerror(AGENTAUTHZ_ENOMEM));
        goto out;
    }
    if (cli_engine_load(&r.e, c, c->args, npolicy, cli_manual_clock, &r.clock, &count, &code) != 0)
        goto out;
    rc = replay_stream(&r, f, name);
    fflush(stdout);
    fprintf(stderr, "%lu allowed, %lu denied, %lu asked\n", r.allowed, r.denied, r.asked);
    /* cli.md is silent on error lines' exit status: 1, like a failure the command found. */
    if (r.errors) {
        fprintf(stderr, "%s: error: %lu line%s could not be replayed\n", name, r.errors,
                r.errors == 1 ? "" : "s");
        if (rc == CLI_OK)
            rc = CLI_FAIL;
    }
out:
    free_sessions(&r);
    agentauthz_action_free(r.action);
    agentauthz_engine_free(r.e);
    if (f != stdin)
        fclose(f);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The last argument is the trace when it is not a policy file name. */
static int is_trace_arg(const char *arg)
{
    struct stat st;
    if (ends_with(arg, ".yaml") || ends_with(arg, ".yml"))
        return 0;
    return !(stat(arg, &st) == 0 && S_ISDIR(st.st_mode));
}

int cli_cmd_replay(int argc, char **argv)
{
    cli_common common = CLI_COMMON_INIT(1);
    size_t npolicy;
    const char *trace = "-";
    int rc = cli_parse_options(argc, argv, NULL, 0, NULL, &common, cli_help_replay);
    if (rc != CLI_OK)
        return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
    npolicy = common.nargs;
    /* With a single argument, it is the policy (unless it is "-"). */
    if (npolicy > 0 && (strcmp(common.args[npolicy - 1], "-") == 0 ||
                        (npolicy > 1 && is_trace_arg(common.args[npolicy - 1]))))
        trace = common.args[--npolicy];
    if (npolicy == 0)
        rc = cli_usage("replay: missing POLICY");
    else
        rc = replay_run(&common, npolicy, trace);
    cli_common_free(&common);
    return rc;
}
