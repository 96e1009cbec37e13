'use strict';
/* Engines, policies, the clock, the host secret provider and the audit log. */

const { koffi, C, SIZE, ClockFn, DiagFn, SecretIssueFn, SecretRevokeFn, AuditFn, ErrorT,
    SecretRequestT, PUBKEY_BYTES, JWKS_TEXT_MAX } = require('./ffi');
const { CODES, Diagnostic, PolicyError, check, decodeError, fromCode } = require('./errors');
const { cstr, nonNull, ttlNs, withValue, closedError, reenteredError,
    closeInCallbackError } = require('./util');
const { Session, toAction, withCAction, decodeDecision, ownDeny } = require('./session');
const { Keys, Verifier, tokenBytes, publicKey, cText } = require('./tokens');

const U64_MAX = (1n << 64n) - 1n;
/* Why every decision of an engine is a deny once one of its callbacks has failed. */
const CLOCK_FAILED = "the engine's clock failed";
const AUDIT_FAILED = 'the audit callback failed';
const FLUSH = { none: 0, record: 1, everyN: 2 };
const AUDIT_PROBLEMS = ['intact', 'malformed', 'truncated', 'mac', 'seq', 'prev', 'empty', 'end',
    'engine', 'logId', 'signature', 'unsigned'];
/* A verification names its files one by one: a bound on the list, far above any rotation. */
const AUDIT_FILES_MAX = 65536;

/*
 * A clock for tests: monotonic nanoseconds that move only when the test
 * says so. Pass it as new Engine({ clock }).
 */
class FakeClock {
    constructor(startNs = 1000000000n) {
        this.ns = BigInt(startNs);
    }

    now() {
        return this.ns;
    }

    /* Moves the clock forward by seconds (a number, fractions allowed). */
    advance(seconds) {
        if (typeof seconds !== 'number' || !(seconds >= 0) || !Number.isFinite(seconds)) {
            throw new RangeError('advance takes a non-negative number of seconds');
        }
        this.ns += BigInt(Math.round(seconds * 1e9));
        return this.ns;
    }
}

/* clock as a function returning nanoseconds: a function, or an object with now(). */
function clockFunction(clock) {
    if (typeof clock === 'function') return clock;
    if (clock && typeof clock.now === 'function') return () => clock.now();
    throw new TypeError('clock must be a function or an object with a now() method');
}

/*
 * A registered C clock calling fn. An exception cannot cross into C: the
 * clock then repeats its last good reading (so that the library's arithmetic
 * stays sane) and marks the engine's state as failed; every decision of an
 * engine whose clock has failed is turned into a deny, so that a broken
 * clock fails closed.
 */
function registerClock(fn, state) {
    let last = 0n;
    const call = () => {
        state.depth++;
        try {
            let ns = BigInt(fn());
            if (ns < 0n) ns = 0n;
            if (ns > U64_MAX) ns = U64_MAX;
            last = ns;
        } catch (e) {
            state.failure = CLOCK_FAILED;
        } finally {
            state.depth--;
        }
        return last;
    };
    return koffi.register(call, koffi.pointer(ClockFn));
}

/*
 * Runs a host callback. state.depth counts the callbacks running, so that
 * the engine is not freed under the C call that made them; state.locked
 * counts those the library runs with a lock held (the audit sink, secret
 * revocation), during which any call into the engine would deadlock and is
 * refused instead.
 */
function hostCall(state, locked, fn) {
    state.depth++;
    if (locked) state.locked++;
    try {
        return fn();
    } finally {
        state.depth--;
        if (locked) state.locked--;
    }
}

/*
 * A callback that returned a promise: the library needed the answer now,
 * so the promise cannot count; its rejection is handled here (onReject) so
 * that it never becomes an unhandled rejection that ends the process.
 */
function settle(result, onReject) {
    if (result !== null && (typeof result === 'object' || typeof result === 'function') &&
        typeof result.then === 'function') {
        result.then(undefined, onReject);
        return true;
    }
    return false;
}

/* What the host's secret provider is asked for: names and ids only, never a value. */
function secretRequest(ptr) {
    const r = koffi.decode(ptr, SecretRequestT);
    return Object.freeze({ secret: r.secret, session: r.session, identity: r.identity,
        task: r.task, ttl: Number(r.ttl_ns) / 1e9 });
}

/*
 * The `host` secret provider: fn(request) returns the value as a Uint8Array
 * (8 to cap bytes), which is copied straight into the library's guarded
 * buffer, never through a string. Anything else (an exception, a promise, a
 * string, a wrong length) refuses, and the session open fails with
 * EPROVIDER: fail closed. The returned bytes stay the host's to wipe.
 */
function registerIssue(fn, state) {
    const call = (ctx, req, buf, cap, lenp) => hostCall(state, false, () => {
        try {
            const value = fn(secretRequest(req));
            if (settle(value, () => {})) return 1;
            if (!(value instanceof Uint8Array) || value.length < 8 || value.length > Number(cap)) {
                return 1;
            }
            new Uint8Array(koffi.view(buf, value.length)).set(value);
            koffi.encode(lenp, 'size_t', value.length);
            return 0;
        } catch (e) {
            return 1;
        }
    });
    return koffi.register(call, koffi.pointer(SecretIssueFn));
}

/*
 * Revocation of a host secret. The library wipes its copy whatever
 * happens; a callback that throws (or rejects) means the host's own
 * revocation may not have happened, which the host must learn: a process
 * warning says so, naming the secret and session, never the error (whose
 * text the binding does not control).
 */
function registerRevoke(fn, state) {
    const call = (ctx, req) => hostCall(state, true, () => {
        let request = null;
        const warn = () => process.emitWarning(
            `the secretRevoke callback failed for secret ${JSON.stringify(request && request.secret)}` +
            ` of session ${request && request.session}`, { code: 'AGENTAUTHZ_REVOKE_FAILED' });
        try {
            request = secretRequest(req);
            settle(fn(request), warn);
        } catch (e) {
            warn();
        }
    });
    return koffi.register(call, koffi.pointer(SecretRevokeFn));
}

/*
 * The audit sink: fn(line) with a copy of each record (a Buffer ending in
 * a newline). A callback that throws refuses the record: the library takes
 * it back and denies the check it is about, as it does for a failed write.
 * A promise that rejects comes too late for that: the record was counted as
 * taken and the host's log has a hole, so every later decision of the
 * engine is a deny until setAudit() installs a sink again. Returns
 * { cb, live }: a rejection that settles after the sink was replaced (live
 * false) no longer counts.
 */
function registerAudit(fn, state) {
    const sink = { cb: null, live: true };
    const failed = () => {
        if (sink.live) state.failure = state.failure || AUDIT_FAILED;
    };
    const call = (line, len) => hostCall(state, true, () => {
        try {
            const n = Number(len);
            const copy = n > 0 ? Buffer.from(new Uint8Array(koffi.view(line, n))) : Buffer.alloc(0);
            settle(fn(copy), failed);
            return 0;
        } catch (e) {
            return 1;
        }
    });
    sink.cb = koffi.register(call, koffi.pointer(AuditFn));
    return sink;
}

/* Stops calling a sink: the library has let go of it. */
function dropSink(sink) {
    if (!sink) return;
    sink.live = false;
    koffi.unregister(sink.cb);
}

/*
 * Frees what an engine holds; shared by close() and the finalizer. The
 * callbacks stay registered until the engine is freed, since freeing it
 * ends sessions (revoking host secrets) and writes audit records; the keys
 * are given back only then, since the engine borrows them.
 */
function releaseEngine(state) {
    const h = state.h;
    if (!h) return;
    state.h = null;
    for (const s of state.sessions) s.close();
    state.sessions.clear();
    C.agentauthz_engine_free(h);
    unregisterAll(state);
    if (state.keys) state.keys.unuse();
    state.keys = null;
}

function unregisterAll(state) {
    for (const cb of state.callbacks) koffi.unregister(cb);
    state.callbacks.length = 0;
    dropSink(state.audit);
    state.audit = null;
}

const finalizer = new FinalizationRegistry(releaseEngine);

function makeOptions(opts, state) {
    const o = { version: 1, clock: null, clock_ctx: null, wall_clock: null, wall_clock_ctx: null,
        keys: null, secret_issue: null, secret_revoke: null, secret_ctx: null, name: null };
    if (opts.clock !== undefined && opts.clock !== null) {
        o.clock = registerClock(clockFunction(opts.clock), state);
        state.callbacks.push(o.clock);
    }
    if (opts.wallClock !== undefined && opts.wallClock !== null) {
        o.wall_clock = registerClock(clockFunction(opts.wallClock), state);
        state.callbacks.push(o.wall_clock);
    }
    if (opts.name !== undefined && opts.name !== null) o.name = cstr(opts.name, 'name');
    if (opts.keys !== undefined && opts.keys !== null) {
        if (!(opts.keys instanceof Keys)) throw new TypeError('keys must be an agentauthz Keys');
        // The engine borrows the keys from now on: they are freed no earlier than it is.
        state.keys = opts.keys._use();
        o.keys = state.keys.h;
    }
    o.secret_issue = optionalCallback(opts.secretIssue, 'secretIssue', registerIssue, state);
    o.secret_revoke = optionalCallback(opts.secretRevoke, 'secretRevoke', registerRevoke, state);
    return o;
}

function optionalCallback(fn, what, register, state) {
    if (fn === undefined || fn === null) return null;
    if (typeof fn !== 'function') throw new TypeError(`${what} must be a function`);
    const cb = register(fn, state);
    state.callbacks.push(cb);
    return cb;
}

/*
 * A policy engine: the policy in force and the sessions opened on it.
 * options.clock: a function returning monotonic nanoseconds (number or
 * BigInt) or an object with now(), e.g. a FakeClock; options.wallClock the
 * same for Unix nanoseconds (tokens); options.keys a Keys object (fresh keys
 * without it); options.secretIssue(request) and options.secretRevoke(request)
 * the policy's `host` secret provider; options.name the engine's name in
 * audit records. Every call is synchronous.
 */
class Engine {
    #state;

    constructor(options = {}) {
        // failure: null, or why every decision is now a deny (a callback failed).
        const state = { h: null, sessions: new Set(), callbacks: [], audit: null, keys: null,
            failure: null, depth: 0, locked: 0 };
        this.#state = state;
        const err = Buffer.alloc(SIZE.error);
        const out = [null];
        let rc;
        try {
            rc = C.agentauthz_engine_new(out, makeOptions(options, state), err);
        } finally {
            // Without an engine nothing will call the callbacks or use the keys.
            if (rc !== 0) {
                unregisterAll(state);
                if (state.keys) state.keys.unuse();
                state.keys = null;
            }
        }
        check(rc, err);
        state.h = out[0];
        finalizer.register(this, state, this);
    }

    _state() {
        return this.#state;
    }

    _handle() {
        const st = this.#state;
        if (!st.h) throw closedError('engine');
        if (st.locked !== 0) throw reenteredError();
        return st.h;
    }

    get closed() {
        return !this.#state.h;
    }

    /* Runs a load with a diagnostics collector; throws PolicyError on failure. */
    #load(call) {
        const found = [];
        const onDiag = koffi.register((p, isWarning) => {
            const e = koffi.decode(p, ErrorT);
            found.push(diagFromStruct(e, isWarning !== 0));
        }, koffi.pointer(DiagFn));
        const err = Buffer.alloc(SIZE.error);
        let rc;
        try {
            rc = call({ version: 1, on_diag: onDiag, ctx: null }, err);
        } finally {
            koffi.unregister(onDiag);
        }
        const warnings = found.filter((d) => d.warning);
        if (rc === 0) return warnings;
        // Misuse and exhaustion keep their own class; every other failure to
        // load (invalid, too deep, unreadable) is a PolicyError with a place.
        if (rc === CODES.EINVAL || rc === CODES.ENOMEM) check(rc, err);
        const errors = found.filter((d) => !d.warning);
        const first = errors.length ? errors[0] : decodeError(err, rc, false);
        throw new PolicyError(rc, first, errors.length ? errors : [first], warnings);
    }

    /*
     * Loads files and directories as one policy, atomically replacing the
     * policy in force. Returns the warnings (Diagnostic[]); throws
     * PolicyError and keeps the previous policy on any error.
     */
    load(...paths) {
        if (paths.length === 0) throw new TypeError('load needs at least one path');
        const list = paths.map((p) => cstr(String(p), 'path'));
        const h = this._handle();
        return this.#load((opt, err) => C.agentauthz_engine_load(h, list, list.length, opt, err));
    }

    /* Loads a policy from YAML text, as load() does for files. */
    loadString(text, name = '<string>') {
        const raw = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text);
        const n = cstr(name, 'name');
        const h = this._handle();
        return this.#load((opt, err) =>
            C.agentauthz_engine_load_string(h, n, nonNull(raw), raw.length, opt, err));
    }

    /* The policy in force: { name, hash, rules, tasks, secrets, identities, generation }. */
    policyInfo() {
        const out = {};
        check(C.agentauthz_engine_policy_info(this._handle(), out));
        return {
            name: out.name, hash: out.hash, rules: Number(out.rules), tasks: Number(out.tasks),
            secrets: Number(out.secrets), identities: Number(out.identities),
            generation: Number(out.generation),
        };
    }

    /*
     * Opens a Session for a workload identity and a task. options.params is
     * an object of the task's parameters, options.ttl seconds. Throws
     * AgentAuthzError with code ENOTASK, EIDENTITY, EPARAM or ENOPOLICY.
     */
    session(identity, task, options = {}) {
        const h = this._handle();
        const id = cstr(identity, 'identity');
        const t = cstr(task, 'task');
        const ttl = ttlNs(options.ttl);
        const out = [null];
        const err = Buffer.alloc(SIZE.error);
        const rc = withValue(options.params, 'params', (p) => C.agentauthz_session_open(
            h, id, t, { version: 1, ttl_ns: ttl, params: p }, out, err));
        check(rc, err);
        return new Session(this, out[0], null, identity, task);
    }

    /* Ends the sessions whose TTL has passed; returns how many. */
    sweep() {
        const n = [0];
        check(C.agentauthz_engine_sweep(this._handle(), n));
        return Number(n[0]);
    }

    /* The raw 32-byte Ed25519 public key task tokens verify with. */
    get publicKey() {
        const pk = Buffer.alloc(PUBKEY_BYTES);
        check(C.agentauthz_engine_public_key(this._handle(), pk));
        return pk;
    }

    /* The public key as text, "azpk1.<base64url>". */
    get publicKeyText() {
        return 'azpk1.' + this.publicKey.toString('base64url');
    }

    /* The public key as a JWK Set (JSON text): what a service verifies task tokens with. */
    get jwks() {
        return cText(JWKS_TEXT_MAX, (buf) => C.agentauthz_engine_jwks(this._handle(), buf,
            buf.length));
    }

    /*
     * Starts the audit log: options.path an append-only file (mode 0600,
     * resumed if it exists), options.callback(line) a function given each
     * record as a Buffer, or both; options.flush 'record' (default), 'none'
     * or 'everyN' with options.flushEvery records per write; options.fsync.
     * Without path and callback it stops the log. The callback runs while
     * the log's lock is held: it must be quick and must not call the
     * engine (such calls throw). If it throws, every later decision is a
     * deny until setAudit() is called again.
     */
    setAudit(options = {}) {
        const h = this._handle();
        const st = this.#state;
        const opt = auditOptions(options);
        const sink = options.callback === undefined || options.callback === null ? null
            : registerAudit(options.callback, st);
        opt.callback = sink && sink.cb;
        const failure = st.failure;
        // A new sink starts with a clean record; the call itself may fail it again.
        if (failure === AUDIT_FAILED) st.failure = null;
        const err = Buffer.alloc(SIZE.error);
        let rc;
        try {
            rc = C.agentauthz_engine_set_audit(h, opt.path === null && sink === null ? null : opt,
                err);
        } finally {
            if (rc !== 0) {
                // The old log, and its sink, stay in force.
                dropSink(sink);
                if (failure === AUDIT_FAILED && st.failure === null) st.failure = failure;
            }
        }
        check(rc, err);
        // The old log is closed: the library will not call its sink again.
        dropSink(st.audit);
        st.audit = sink;
    }

    /* Reopens the audit file after log rotation renamed it; the MAC chain continues. */
    auditReopen() {
        const err = Buffer.alloc(SIZE.error);
        check(C.agentauthz_engine_audit_reopen(this._handle(), err), err);
    }

    /*
     * For a downstream service: verifies a task token with verifier (its
     * cache and revocations included) and checks the action for the token's
     * identity and task under this engine's policy: checkToken(verifier,
     * token, { tool, resource, ... }) or checkToken(verifier, token, tool,
     * { resource, ... }). Returns a Decision (a deny, rule 'session', for a
     * tool the token does not name); throws TokenError (or SignatureError,
     * ExpiredError, AudienceError) or SessionEndedError for a bad token.
     */
    checkToken(verifier, token, tool, rest) {
        if (!(verifier instanceof Verifier)) {
            throw new TypeError('checkToken needs an agentauthz Verifier');
        }
        const act = rest === undefined ? toAction(tool) : toAction({ ...rest, tool });
        const raw = tokenBytes(token);
        const h = this._handle();
        const d = Buffer.alloc(SIZE.decision);
        const err = Buffer.alloc(SIZE.error);
        const rc = verifier._use((vh) => withCAction(act, (a) =>
            C.agentauthz_check_token(h, vh, nonNull(raw), raw.length, a, d, err)));
        check(rc, err);
        const failure = this.#state.failure;
        if (failure !== null) return ownDeny(failure, CODES.EINVAL, act);
        return decodeDecision(d, rc, act);
    }

    /*
     * Closes the engine's open sessions and frees it. Idempotent. Refused
     * (EINVAL) from inside one of the engine's own callbacks, which run in
     * the middle of a call the engine must outlive.
     */
    close() {
        const st = this.#state;
        if (st.depth !== 0) throw closeInCallbackError('engine');
        finalizer.unregister(this);
        releaseEngine(st);
    }

    toString() {
        if (!this.#state.h) return 'Engine { closed }';
        try {
            const info = this.policyInfo();
            return `Engine { policy: ${JSON.stringify(info.name)}, generation: ${info.generation} }`;
        } catch (e) {
            return 'Engine { no policy }';
        }
    }

    [Symbol.for('nodejs.util.inspect.custom')]() {
        return this.toString();
    }
}

/* The agentauthz_audit_options of setAudit's options (callback filled in by the caller). */
function auditOptions(options) {
    if (options === null || typeof options !== 'object') {
        throw new TypeError('setAudit takes { path, callback, flush, flushEvery, fsync, checkpointEvery }');
    }
    const { path = null, callback = null, flush = 'record', flushEvery = 0, fsync = false,
        checkpointEvery = 1000 } = options;
    if (callback !== null && typeof callback !== 'function') {
        throw new TypeError('callback must be a function');
    }
    if (!Object.prototype.hasOwnProperty.call(FLUSH, flush)) {
        throw new TypeError("flush must be 'record', 'none' or 'everyN'");
    }
    if (!Number.isSafeInteger(flushEvery) || flushEvery < 0) {
        throw new RangeError('flushEvery must be a non-negative integer');
    }
    if (!Number.isSafeInteger(checkpointEvery) || checkpointEvery < 0) {
        throw new RangeError('checkpointEvery must be a non-negative integer');
    }
    return { version: 2, path: path === null ? null : cstr(String(path), 'path'),
        flush: FLUSH[flush], flush_every: flushEvery, fsync: fsync ? 1 : 0, callback: null,
        ctx: null, checkpoint_every: checkpointEvery };
}

/*
 * The outcome of auditVerify: problem is 'intact' or what is wrong with
 * the first bad record ('malformed', 'truncated', 'mac', 'seq', 'prev',
 * 'empty', 'end', 'engine', 'logId', 'signature', 'unsigned'); records the
 * count that verified, lastSeq the last of their sequence numbers; file (an
 * index into the paths), path and line locate a problem. schema is 1 or 2,
 * signedSeq the last record a verified signature covers, logId the log's id.
 */
class AuditReport {
    constructor(res) {
        const rep = res.report;
        this.schema = Number(res.schema);
        this.signedSeq = Number(res.signed_seq);
        this.logId = res.log_id;
        this.problem = rep.problem >= 0 && rep.problem < AUDIT_PROBLEMS.length
            ? AUDIT_PROBLEMS[rep.problem] : 'malformed';
        this.records = Number(rep.records);
        this.lastSeq = Number(rep.last_seq);
        this.file = Number(rep.file);
        this.path = rep.path;
        this.line = Number(rep.line);
        this.reason = rep.reason;
    }

    get intact() {
        return this.problem === 'intact';
    }

    toString() {
        if (this.intact) return `AuditReport { intact, records: ${this.records} }`;
        return `AuditReport { ${this.problem} at ${this.path}:${this.line}: ${this.reason} }`;
    }
}

/*
 * Verifies an audit log, its files oldest first. keys (Keys) checks every
 * MAC with the audit key and that the log is that engine's; or keys is an
 * options object { keys, pubkey, engine, expectLast }: pubkey alone (text,
 * 32 bytes or Keys) checks the hash chain and the signatures up to the last
 * signed record, engine the name the log starts with, expectLast the
 * sequence number it must end at. Returns an AuditReport when intact;
 * throws TamperError (with .report) when a record is bad or the log is not
 * the expected one, FileError when a file cannot be read.
 */
function auditVerify(keys, ...paths) {
    const o = keys instanceof Keys ? { keys } : keys;
    if (o === null || typeof o !== 'object') throw new TypeError('keys must be an agentauthz Keys');
    if (o.keys !== undefined && o.keys !== null && !(o.keys instanceof Keys)) {
        throw new TypeError('keys must be an agentauthz Keys');
    }
    if (!o.keys && o.pubkey == null) throw new TypeError('auditVerify needs keys or a pubkey');
    if (paths.length === 0) throw new TypeError('auditVerify needs at least one path');
    if (paths.length > AUDIT_FILES_MAX) throw new RangeError('too many audit files');
    const expectLast = o.expectLast === undefined ? 0 : o.expectLast;
    if (!Number.isSafeInteger(expectLast) || expectLast < 0) {
        throw new RangeError('expectLast must be a non-negative integer');
    }
    const list = paths.map((p) => cstr(String(p), 'path'));
    const opt = { version: 1, keys: o.keys ? o.keys._handle() : null,
        pubkey: o.pubkey == null ? null : publicKey(o.pubkey),
        engine: o.engine == null ? null : cstr(String(o.engine), 'engine'), expect_last: expectLast };
    const res = { version: 1 };
    const err = Buffer.alloc(SIZE.error);
    const rc = C.agentauthz_audit_verify_ext(opt, list, list.length, res, err);
    const report = new AuditReport(res);
    if (rc === CODES.ETAMPER) {
        const e = fromCode(rc, err);
        e.report = report;
        throw e;
    }
    check(rc, err);
    return report;
}

function diagFromStruct(e, warning) {
    return new Diagnostic(e.code, e.message, e.path, Number(e.line), Number(e.column),
        Number(e.offset), warning);
}

if (Symbol.dispose) Engine.prototype[Symbol.dispose] = Engine.prototype.close;

module.exports = { Engine, FakeClock, AuditReport, auditVerify };
