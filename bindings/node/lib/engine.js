'use strict';
/* Engines, policies and the clock. */

const { koffi, C, SIZE, ClockFn, DiagFn, ErrorT, PUBKEY_BYTES } = require('./ffi');
const { CODES, Diagnostic, PolicyError, check, decodeError } = require('./errors');
const { cstr, nonNull, ttlNs, withValue, closedError } = require('./util');
const { Session } = require('./session');

const U64_MAX = (1n << 64n) - 1n;

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
        try {
            let ns = BigInt(fn());
            if (ns < 0n) ns = 0n;
            if (ns > U64_MAX) ns = U64_MAX;
            last = ns;
        } catch (e) {
            state.clockFailed = true;
        }
        return last;
    };
    return koffi.register(call, koffi.pointer(ClockFn));
}

/* Frees what an engine holds; shared by close() and the finalizer. */
function releaseEngine(state) {
    const h = state.h;
    if (!h) return;
    state.h = null;
    for (const s of state.sessions) s.close();
    state.sessions.clear();
    C.agentauthz_engine_free(h);
    unregisterAll(state);
}

function unregisterAll(state) {
    for (const cb of state.callbacks) koffi.unregister(cb);
    state.callbacks.length = 0;
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
    return o;
}

/*
 * A policy engine: the policy in force and the sessions opened on it.
 * options.clock: a function returning monotonic nanoseconds (number or
 * BigInt) or an object with now(), e.g. a FakeClock; options.wallClock the
 * same for Unix nanoseconds (tokens); options.name the engine's name in
 * audit records. Every call is synchronous.
 */
class Engine {
    #state;

    constructor(options = {}) {
        const state = { h: null, sessions: new Set(), callbacks: [], clockFailed: false };
        this.#state = state;
        const err = Buffer.alloc(SIZE.error);
        const out = [null];
        let rc;
        try {
            rc = C.agentauthz_engine_new(out, makeOptions(options, state), err);
        } finally {
            // Without an engine nothing will call the clocks: give back their slots.
            if (rc !== 0) unregisterAll(state);
        }
        check(rc, err);
        state.h = out[0];
        finalizer.register(this, state, this);
    }

    _state() {
        return this.#state;
    }

    _handle() {
        if (!this.#state.h) throw closedError('engine');
        return this.#state.h;
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

    /* Closes the engine's open sessions and frees it. Idempotent. */
    close() {
        finalizer.unregister(this);
        releaseEngine(this.#state);
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

function diagFromStruct(e, warning) {
    return new Diagnostic(e.code, e.message, e.path, Number(e.line), Number(e.column),
        Number(e.offset), warning);
}

if (Symbol.dispose) Engine.prototype[Symbol.dispose] = Engine.prototype.close;

module.exports = { Engine, FakeClock };
