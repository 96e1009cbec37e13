'use strict';
/*
 * The C library, its structs and its prototypes, through koffi.
 *
 * Every struct mirrors include/agentauthz.h (and agentauthz/secrets.h, audit.h) field
 * for field; test/layout.test.js compiles a C program to compare sizes and
 * offsets with these declarations, because a silent mismatch would corrupt
 * memory rather than throw.
 *
 * Opaque handles travel as `void *` (koffi Externals). Caller-owned output
 * structs that the hot path reads (the decision, the error) are passed as
 * Buffers to `void *` parameters and decoded by hand at the offsets koffi
 * computes for the declared structs: decoding a whole struct with
 * koffi.decode on every check would cost more than the check itself.
 */

const fs = require('node:fs');
const path = require('node:path');

/* The package's root directory (this file is lib/ffi.js). */
const PACKAGE_DIR = path.join(__dirname, '..');
const KOFFI_VERSION = require('../package.json').dependencies.koffi;

/* The modules that required this package from outside it, nearest first. */
function requirerDirs() {
    const dirs = [];
    let m = module;
    while (m && m.filename && m.filename.startsWith(PACKAGE_DIR + path.sep)) m = m.parent;
    if (m && m.filename) dirs.push(path.dirname(m.filename));
    if (require.main && require.main.filename) dirs.push(path.dirname(require.main.filename));
    dirs.push(process.cwd());
    return dirs;
}

/*
 * koffi, from this package's own node_modules or, failing that, from the
 * project that required the package. `npm install DIR` of a directory
 * outside the project makes node_modules/agentauthz a symbolic link and
 * installs none of the package's dependencies (npm 7 and later, unless
 * --install-links), and Node resolves modules from the link's target, which
 * has no node_modules: the project's own koffi is the one to use then.
 */
function loadKoffi() {
    try {
        return require('koffi');
    } catch (e) {
        if (e.code !== 'MODULE_NOT_FOUND') throw e;
    }
    for (const dir of requirerDirs()) {
        let found;
        try {
            found = require.resolve('koffi', { paths: [dir] });
        } catch (e) {
            if (e.code !== 'MODULE_NOT_FOUND') throw e;
            continue;
        }
        return require(found);
    }
    const err = new Error(`agentauthz: cannot find the npm package koffi ${KOFFI_VERSION}, ` +
        `neither beside ${PACKAGE_DIR} nor in the project that requires it. npm installs ` +
        'no dependencies of a package installed from a directory (`npm install DIR` makes ' +
        `a link): run \`npm install koffi@${KOFFI_VERSION}\` in your project too, or ` +
        'install the packed tarball (`npm install agentauthz-VERSION.tgz`) instead.');
    err.code = 'ERR_AGENTAUTHZ_KOFFI';
    throw err;
}

const koffi = loadKoffi();

const ERROR_PATH_MAX = 512;
const ERROR_MESSAGE_MAX = 512;
const NAME_MAX = 129;
const REASON_MAX = 512;
const PUBKEY_BYTES = 32;
const PUBKEY_TEXT_MAX = 50;
const KID_TEXT_MAX = 44;
const JWKS_TEXT_MAX = 176;
const TOKEN_MAX = 8192;
const TOKEN_TOOLS_MAX = 256;
const AUDIT_REASON_MAX = 256;
const KEYFILE_MAX = 4096;
const VERIFIER_CACHE_MAX = 1048576;

const ErrorT = koffi.struct('agentauthz_error', {
    code: 'int',
    path: koffi.array('char', ERROR_PATH_MAX),
    line: 'unsigned long',
    column: 'unsigned long',
    offset: 'size_t',
    message: koffi.array('char', ERROR_MESSAGE_MAX),
});

const DecisionT = koffi.struct('agentauthz_decision', {
    effect: 'int',
    rule: koffi.array('char', NAME_MAX),
    reason: koffi.array('char', REASON_MAX),
    seq: 'uint64_t',
});

const PolicyInfoT = koffi.struct('agentauthz_policy_info', {
    name: koffi.array('char', NAME_MAX),
    hash: koffi.array('char', 65),
    rules: 'size_t',
    tasks: 'size_t',
    secrets: 'size_t',
    identities: 'size_t',
    generation: 'uint64_t',
});

const SecretRequestT = koffi.struct('agentauthz_secret_request', {
    secret: 'const char *',
    session: 'const char *',
    identity: 'const char *',
    task: 'const char *',
    ttl_ns: 'uint64_t',
});

const ClockFn = koffi.proto('uint64_t agentauthz_clock_fn(void *ctx)');
const DiagFn = koffi.proto('void agentauthz_diag_fn(void *diag, int is_warning, void *ctx)');
/*
 * The host secret provider and the audit sink. Their pointer arguments are
 * declared void * so that koffi hands them over as Externals, undecoded: the
 * issue buffer is written in place (the secret never becomes a JS string),
 * and an audit line is not NUL-terminated.
 */
const SecretIssueFn = koffi.proto('int agentauthz_secret_issue_fn(void *ctx, void *req, ' +
    'void *buf, size_t cap, void *len)');
const SecretRevokeFn = koffi.proto('void agentauthz_secret_revoke_fn(void *ctx, void *req)');
const AuditFn = koffi.proto('int agentauthz_audit_fn(void *line, size_t len, void *ctx)');

const EngineOptionsT = koffi.struct('agentauthz_engine_options', {
    version: 'unsigned int',
    clock: koffi.pointer(ClockFn),
    clock_ctx: 'void *',
    wall_clock: koffi.pointer(ClockFn),
    wall_clock_ctx: 'void *',
    keys: 'void *',
    secret_issue: koffi.pointer(SecretIssueFn),
    secret_revoke: koffi.pointer(SecretRevokeFn),
    secret_ctx: 'void *',
    name: 'const char *',
});

const LoadOptionsT = koffi.struct('agentauthz_load_options', {
    version: 'unsigned int',
    on_diag: koffi.pointer(DiagFn),
    ctx: 'void *',
});

const SessionOptionsT = koffi.struct('agentauthz_session_options', {
    version: 'unsigned int',
    ttl_ns: 'uint64_t',
    params: 'void *',
});

const DelegateOptionsT = koffi.struct('agentauthz_delegate_options', {
    version: 'unsigned int',
    ttl_ns: 'uint64_t',
    params: 'void *',
    tools: 'const char **',
    ntools: 'size_t',
    secrets: 'const char **',
    nsecrets: 'size_t',
});

const TokenClaimsT = koffi.struct('agentauthz_token_claims', {
    identity: 'const char *',
    task: 'const char *',
    session: 'const char *',
    audience: 'const char *',
    issuer: 'const char *',
    parent: 'const char *',
    iat: 'int64_t',
    exp: 'int64_t',
    tools: 'void *',
    tools_count: 'size_t',
    params: 'const char *',
});

/* The same struct as input to agentauthz_token_sign: koffi encodes the tools array. */
const TokenClaimsInT = koffi.struct('agentauthz_token_claims_in', {
    identity: 'const char *',
    task: 'const char *',
    session: 'const char *',
    audience: 'const char *',
    issuer: 'const char *',
    parent: 'const char *',
    iat: 'int64_t',
    exp: 'int64_t',
    tools: 'const char **',
    tools_count: 'size_t',
    params: 'const char *',
});

const TokenVerifyOptionsT = koffi.struct('agentauthz_token_verify_options', {
    version: 'unsigned int',
    audience: 'const char *',
    now: 'int64_t',
    skew: 'uint32_t',
});

const AuditOptionsT = koffi.struct('agentauthz_audit_options', {
    version: 'unsigned int',
    path: 'const char *',
    flush: 'int',
    flush_every: 'size_t',
    fsync: 'int',
    callback: koffi.pointer(AuditFn),
    ctx: 'void *',
    checkpoint_every: 'size_t',
});

const AuditReportT = koffi.struct('agentauthz_audit_report', {
    problem: 'int',
    records: 'uint64_t',
    last_seq: 'uint64_t',
    file: 'size_t',
    path: koffi.array('char', ERROR_PATH_MAX),
    line: 'unsigned long',
    reason: koffi.array('char', AUDIT_REASON_MAX),
});

const AuditVerifyOptionsT = koffi.struct('agentauthz_audit_verify_options', {
    version: 'unsigned int',
    keys: 'void *',
    pubkey: 'const uint8_t *',
    engine: 'const char *',
    expect_last: 'uint64_t',
});

const AuditResultT = koffi.struct('agentauthz_audit_result', {
    version: 'unsigned int',
    report: AuditReportT,
    schema: 'unsigned int',
    signed_seq: 'uint64_t',
    checkpoints: 'uint64_t',
    log_id: koffi.array('char', 33),
});

/* Each prototype as the C header declares it, with koffi's direction hints. */
const PROTOTYPES = [
    'const char *agentauthz_strerror(int code)',
    'const char *agentauthz_version(void)',
    'void agentauthz_free(void *p)',
    'int agentauthz_value_parse_json(const void *text, size_t len, _Out_ void **out, void *err)',
    'void agentauthz_value_free(void *v)',
    'int agentauthz_engine_new(_Out_ void **out, const agentauthz_engine_options *opt, void *err)',
    'void agentauthz_engine_free(void *e)',
    'int agentauthz_engine_load(void *e, const char **paths, size_t npaths, const agentauthz_load_options *opt, void *err)',
    'int agentauthz_engine_load_string(void *e, const char *name, const void *text, size_t len, const agentauthz_load_options *opt, void *err)',
    'int agentauthz_engine_policy_info(void *e, _Out_ agentauthz_policy_info *out)',
    'int agentauthz_engine_sweep(void *e, _Out_ size_t *expired)',
    'int agentauthz_engine_public_key(void *e, void *pk)',
    'int agentauthz_session_open(void *e, const char *identity, const char *task, const agentauthz_session_options *opt, _Out_ void **out, void *err)',
    'int agentauthz_session_revoke(void *s)',
    'void agentauthz_session_close(void *s)',
    'const char *agentauthz_session_id(void *s)',
    'int agentauthz_session_delegate(void *parent, const char *identity, const char *task, const agentauthz_delegate_options *opt, _Out_ void **out, void *err)',
    'int agentauthz_action_new(_Out_ void **out)',
    'void agentauthz_action_free(void *a)',
    'void agentauthz_action_reset(void *a)',
    'int agentauthz_action_set_tool(void *a, const char *tool)',
    'int agentauthz_action_set_resource(void *a, const char *resource)',
    'int agentauthz_action_add_destination(void *a, const char *dest)',
    'int agentauthz_action_set_destinations(void *a, void *dests, size_t n)',
    'int agentauthz_action_add_label(void *a, const char *label)',
    'int agentauthz_action_set_payload(void *a, const void *data, size_t len)',
    'int agentauthz_action_set_args_json(void *a, const void *json, size_t len, void *err)',
    'int agentauthz_check(void *s, void *a, void *d)',
    'int agentauthz_approve(void *s, void *a, int scope)',
    'int agentauthz_lease_acquire(void *s, void *a, const void *d, const char *secret, _Out_ void **out, void *err)',
    'void *agentauthz_lease_value(void *l, _Out_ size_t *len)',
    'int agentauthz_lease_valid(void *l)',
    'void agentauthz_lease_release(void *l)',
    'int agentauthz_substitute(void *s, void *a, const void *d, const void *text, size_t len, _Out_ void **out, void *err)',
    'void *agentauthz_secret_buffer_data(void *b, _Out_ size_t *len)',
    'void agentauthz_secret_buffer_free(void *b)',
    'int agentauthz_scrub(void *s, const void *data, size_t len, _Out_ void **out, _Out_ size_t *outlen, void *err)',
    'int agentauthz_session_observe(void *s, void *a, const void *output, size_t len, const char **labels, size_t nlabels, void *err)',
    'int agentauthz_session_observe_value(void *s, void *a, void *output, const char **labels, size_t nlabels, void *err)',
    'int agentauthz_pubkey_parse(const char *text, void *pk, void *err)',
    'int agentauthz_token_verify(const void *pk, const void *token, size_t len, const agentauthz_token_verify_options *opt, _Out_ void **out, void *err)',
    'void agentauthz_token_claims_free(void *c)',
    'int agentauthz_keys_generate(_Out_ void **out, void *err)',
    'int agentauthz_keys_load(const void *bytes, size_t len, _Out_ void **out, void *err)',
    'int agentauthz_keys_load_file(const char *path, _Out_ void **out, void *err)',
    'int agentauthz_keys_save_file(void *k, const char *path, void *err)',
    'int agentauthz_keys_public(void *k, void *out, size_t cap)',
    'int agentauthz_keys_public_raw(void *k, void *pk)',
    'void agentauthz_keys_free(void *k)',
    'int agentauthz_token_sign(void *k, const agentauthz_token_claims_in *c, _Out_ void **out, void *err)',
    'int agentauthz_verifier_new(const void *pk, const agentauthz_token_verify_options *opt, size_t cache_entries, _Out_ void **out, void *err)',
    'int agentauthz_verifier_verify(void *v, const void *token, size_t len, int64_t now, _Out_ void **out, void *err)',
    'int agentauthz_verifier_revoke(void *v, const char *session_id)',
    'void agentauthz_verifier_free(void *v)',
    'int agentauthz_verifier_new_jwks(const void *jwks, size_t len, const agentauthz_token_verify_options *opt, size_t cache_entries, _Out_ void **out, void *err)',
    'int agentauthz_pubkey_kid(const void *pk, void *out, size_t cap)',
    'int agentauthz_pubkey_jwks(const void *pk, void *out, size_t cap)',
    'int agentauthz_keys_jwks(void *k, void *out, size_t cap)',
    'int agentauthz_engine_jwks(void *e, void *out, size_t cap)',
    'int agentauthz_check_token(void *e, void *v, const void *token, size_t len, void *a, void *d, void *err)',
    'int agentauthz_engine_set_audit(void *e, const agentauthz_audit_options *opt, void *err)',
    'int agentauthz_engine_audit_reopen(void *e, void *err)',
    'int agentauthz_audit_verify(void *keys, const char **paths, size_t n, _Out_ agentauthz_audit_report *rep, void *err)',
    'int agentauthz_audit_verify_ext(const agentauthz_audit_verify_options *opt, const char **paths, size_t n, _Inout_ agentauthz_audit_result *res, void *err)',
];

/* The library file name the system's dynamic linker is asked for. */
const SYSTEM_LIBRARY = 'libagentauthz.so.0';
const PLATFORM = `${process.platform}-${process.arch}`;
/* The copy the npm tarball bundles (make npm-pack), for this platform only. */
const BUNDLED_LIBRARY = path.join(PACKAGE_DIR, 'prebuilds', PLATFORM, SYSTEM_LIBRARY);

/*
 * The libraries to try, in order: the copy bundled in the package, then the
 * one AGENTAUTHZ_LIBRARY names (a full path), else the system's. An explicit
 * AGENTAUTHZ_LIBRARY replaces the system's search rather than preceding it:
 * falling back silently to another installed copy would test or run the
 * wrong library.
 */
function candidates() {
    const list = [];
    if (fs.existsSync(BUNDLED_LIBRARY)) list.push({ name: BUNDLED_LIBRARY, from: 'bundled' });
    const env = process.env.AGENTAUTHZ_LIBRARY;
    if (env) list.push({ name: env, from: 'AGENTAUTHZ_LIBRARY' });
    else list.push({ name: SYSTEM_LIBRARY, from: 'system' });
    return list;
}

/* Every function of PROTOTYPES from lib, or throws naming the one missing. */
function bind(lib) {
    const fns = {};
    for (const proto of PROTOTYPES) {
        const name = proto.match(/(agentauthz_\w+)\(/)[1];
        try {
            fns[name] = lib.func(proto);
        } catch (e) {
            if (!/cannot find function/i.test(e.message)) throw new Error(`${name}: ${e.message}`);
            throw new Error(`no function ${name} (a library older than this binding?)`);
        }
    }
    // JSON arguments as a JS string: koffi encodes it straight into C memory.
    fns.agentauthz_action_set_args_json_text = lib.func('agentauthz_action_set_args_json',
        'int', ['void *', 'const char *', 'size_t', 'void *']);
    // The check's hot path passes its pointers as plain numbers: koffi
    // converts a number far faster than an External or a Buffer (about
    // 100 ns against 500 ns a call on the project's machine). Only the
    // session code calls these, with addresses of memory it owns.
    fns.hot = {
        check: lib.func('agentauthz_check', 'int', ['uintptr_t', 'uintptr_t', 'uintptr_t']),
        setArgs: lib.func('agentauthz_action_set_args_json', 'int',
            ['uintptr_t', 'uintptr_t', 'size_t', 'uintptr_t']),
    };
    return fns;
}

/*
 * The first candidate that loads and has every function. None does: an
 * Error (code ERR_AGENTAUTHZ_LIBRARY, `tried` the paths and why each
 * failed) naming every path tried and the variable to set, thrown by
 * require; nothing is left half-initialised.
 */
function open() {
    const tried = [];
    for (const { name, from } of candidates()) {
        let lib;
        try {
            lib = koffi.load(name);
        } catch (e) {
            tried.push({ path: name, from, reason: e.message });
            continue;
        }
        try {
            return { fns: bind(lib), path: name };
        } catch (e) {
            tried.push({ path: name, from, reason: e.message });
            if (typeof lib.unload === 'function') lib.unload();
        }
    }
    const err = new Error('agentauthz: cannot load the libagentauthz shared library; tried ' +
        tried.map((t) => `${t.path} (${t.from}): ${t.reason}`).join('; ') +
        '. Set AGENTAUTHZ_LIBRARY to the full path of libagentauthz.so.0, or install the ' +
        'library where the dynamic linker finds it (ldconfig, LD_LIBRARY_PATH).' +
        (tried.some((t) => /lib(sodium|yaml)/.test(t.reason)) ? ' The library needs ' +
            'libyaml and libsodium at run time (Debian: apt install libyaml-0-2 libsodium23).' : ''));
    err.code = 'ERR_AGENTAUTHZ_LIBRARY';
    err.tried = tried;
    throw err;
}

const loaded = open();
const C = loaded.fns;
/* The library this process uses: the bundled copy's path, AGENTAUTHZ_LIBRARY or the system's name. */
const LIBRARY_PATH = loaded.path;


/*
 * C memory of n bytes the binding owns: its numeric address for the hot
 * calls and a Buffer viewing it for reading and writing from JavaScript.
 * free() must be called once, after which neither may be used.
 */
class NativeBuffer {
    constructor(n) {
        this.ptr = koffi.alloc('uint8_t', n);
        this.addr = Number(koffi.address(this.ptr));
        this.view = Buffer.from(koffi.view(this.ptr, n));
        this.view.fill(0);
    }

    free() {
        if (this.ptr === null) return;
        this.view.fill(0);
        koffi.free(this.ptr);
        this.ptr = null;
        this.view = null;
        this.addr = 0;
    }
}

/* A handle's address as a number (x86-64 and arm64 user addresses fit in 2^53). */
function addressOf(ptr) {
    const a = koffi.address(ptr);
    if (a > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('agentauthz: pointer out of range');
    return Number(a);
}

/* Offsets the hand-written decoders read at, from koffi's own layout. */
const OFF = {
    errCode: koffi.offsetof(ErrorT, 'code'),
    errPath: koffi.offsetof(ErrorT, 'path'),
    errLine: koffi.offsetof(ErrorT, 'line'),
    errColumn: koffi.offsetof(ErrorT, 'column'),
    errOffset: koffi.offsetof(ErrorT, 'offset'),
    errMessage: koffi.offsetof(ErrorT, 'message'),
    decEffect: koffi.offsetof(DecisionT, 'effect'),
    decRule: koffi.offsetof(DecisionT, 'rule'),
    decReason: koffi.offsetof(DecisionT, 'reason'),
    decSeq: koffi.offsetof(DecisionT, 'seq'),
};

const SIZE = {
    error: koffi.sizeof(ErrorT),
    decision: koffi.sizeof(DecisionT),
};

module.exports = {
    koffi, C, OFF, SIZE, NativeBuffer, addressOf, LIBRARY_PATH, BUNDLED_LIBRARY,
    ErrorT, DecisionT, PolicyInfoT, EngineOptionsT, LoadOptionsT, SessionOptionsT,
    DelegateOptionsT, TokenClaimsT, TokenClaimsInT, TokenVerifyOptionsT, SecretRequestT,
    AuditOptionsT, AuditReportT, AuditVerifyOptionsT, AuditResultT, ClockFn, DiagFn, SecretIssueFn, SecretRevokeFn, AuditFn,
    NAME_MAX, REASON_MAX, PUBKEY_BYTES, PUBKEY_TEXT_MAX, KID_TEXT_MAX, JWKS_TEXT_MAX, TOKEN_MAX,
    TOKEN_TOOLS_MAX,
    ERROR_PATH_MAX, ERROR_MESSAGE_MAX, AUDIT_REASON_MAX, KEYFILE_MAX, VERIFIER_CACHE_MAX,
};
