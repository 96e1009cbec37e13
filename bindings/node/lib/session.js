'use strict';
/* Sessions, actions, decisions, leases, placeholder substitution and scrubbing. */

const { koffi, C, OFF, SIZE, NAME_MAX, REASON_MAX, NativeBuffer, addressOf } = require('./ffi');
const { CODES, check, cstringAt, errorFor } = require('./errors');
const { cstr, strList, argsJson, payloadBuffer, bytesOf, nonNull, ttlNs, withValue,
    closedError, reenteredError, closeInCallbackError } = require('./util');

const EFFECTS = ['deny', 'allow', 'ask'];
const SCOPES = { once: 1, session: 2 };
const INSPECT = Symbol.for('nodejs.util.inspect.custom');
const ACTION = Symbol('agentauthz.action');
const RAW = Symbol('agentauthz.effectCode');
const SEQ = Symbol('agentauthz.seq');
/* Argument JSON larger than this goes through koffi's string conversion instead. */
const SCRATCH_MAX = 64 * 1024;

/*
 * The C memory a check writes its decision into and passes its argument
 * JSON through, shared by every session of this module instance (each
 * worker thread loads its own): JavaScript runs one check at a time, and
 * C memory per session would cost a koffi allocation and view per session.
 * A check that starts while another runs (from inside a clock callback)
 * finds the spare taken and makes its own.
 */
let spare = null;

function takeHot() {
    const h = spare || { decision: new NativeBuffer(SIZE.decision), scratch: new NativeBuffer(1024) };
    spare = null;
    return h;
}

function giveHot(h) {
    if (spare === null) {
        spare = h;
        return;
    }
    h.decision.free();
    h.scratch.free();
}

/* The tool-and-arguments case, the one every tool call takes, passes JSON as a C string. */
const setArgsText = C.agentauthz_action_set_args_json_text;
const HOT = C.hot;

/*
 * What an agent is about to do, in the form the library is given: kept on
 * each Decision so that approve() and lease() refer to exactly the action
 * that was decided.
 */
class Action {
    constructor(tool, resource, dests, labels, payload, args) {
        this.tool = tool;
        this.resource = resource;
        this.dests = dests;
        this.labels = labels;
        this.payload = payload;
        this.args = args;
    }

    get simple() {
        return this.resource === null && this.dests === null && this.labels === null &&
            this.payload === null;
    }
}

/*
 * A destination: a string is one destination; an array (even of one, or
 * empty) stays a list, marked so that fill() passes it as a list and the
 * policy's each/some see what the caller meant.
 */
function destList(d) {
    const list = strList(d, 'destination');
    if (list !== null && typeof d !== 'string') list.isList = true;
    return list;
}

/* A request object ({tool, resource, destination, args, labels, payload}) as an Action. */
function toAction(req) {
    if (typeof req === 'string') req = { tool: req };
    if (req === null || typeof req !== 'object') {
        throw new TypeError('check takes { tool, resource, destination, args, labels, payload }');
    }
    const r = req.resource;
    return new Action(cstr(req.tool, 'tool'),
        r === undefined || r === null ? null : cstr(r, 'resource'),
        destList(req.destination), strList(req.labels, 'label'),
        payloadBuffer(req.payload), argsJson(req.args));
}

/*
 * The common request, a tool with arguments and nothing else, built with
 * fewer checks than toAction makes: a check costs about as much here as in C.
 */
function fastAction(req) {
    if (req !== null && typeof req === 'object' && typeof req.tool === 'string' &&
        req.resource === undefined && req.destination === undefined &&
        req.labels === undefined && req.payload === undefined) {
        const tool = req.tool;
        if (tool.includes('\0')) throw new TypeError('tool contains a NUL character');
        return new Action(tool, null, null, null, null, argsJson(req.args));
    }
    return toAction(req);
}

/*
 * Sets the arguments of the C action a from JSON text through the session's
 * scratch buffer: one UTF-8 encoding pass, and no allocation once the
 * buffer has grown to fit (a UTF-16 code unit takes at most 3 UTF-8 bytes).
 */
function setArgs(st, hot, json, err) {
    const need = json.length * 3;
    if (err || need > SCRATCH_MAX) return setArgsText(st.action, json, Buffer.byteLength(json), err);
    if (need > hot.scratch.view.length) {
        hot.scratch.free();
        hot.scratch = new NativeBuffer(need);
    }
    const n = hot.scratch.view.write(json, 0);
    return HOT.setArgs(st.actionAddr, hot.scratch.addr, n, 0);
}

/* Writes act into the empty C action a; returns the library's code. */
function fill(a, act, err, st, hot) {
    let rc = C.agentauthz_action_set_tool(a, act.tool);
    if (rc === 0 && act.resource !== null) rc = C.agentauthz_action_set_resource(a, act.resource);
    if (rc === 0 && act.dests !== null && act.dests.isList) {
        rc = C.agentauthz_action_set_destinations(a, null, 0);
    }
    for (const d of act.dests || []) rc = rc || C.agentauthz_action_add_destination(a, d);
    for (const l of act.labels || []) rc = rc || C.agentauthz_action_add_label(a, l);
    if (rc === 0 && act.payload !== null) {
        rc = C.agentauthz_action_set_payload(a, nonNull(act.payload), act.payload.length);
    }
    if (rc === 0 && act.args !== null) {
        rc = st ? setArgs(st, hot, act.args, err)
            : setArgsText(a, act.args, Buffer.byteLength(act.args), err);
    }
    return rc;
}

/*
 * One C action reused by withCAction (JavaScript runs it on one thread):
 * reset between uses, so approve, lease, substitute and checkToken build it
 * without allocating. A nested use (from a callback run inside fn) gets a
 * temporary action.
 */
const reused = { action: null, busy: false };

/* Runs fn(cAction) on a C action holding act; returns what fn returns. */
function withCAction(act, fn) {
    const temporary = reused.busy;
    let a = temporary ? null : reused.action;
    if (a === null) {
        const out = [null];
        check(C.agentauthz_action_new(out));
        a = out[0];
        if (!temporary) reused.action = a;
    }
    if (!temporary) reused.busy = true;
    try {
        C.agentauthz_action_reset(a);
        const err = Buffer.alloc(SIZE.error);
        check(fill(a, act, err), err, 'action');
        return fn(a);
    } finally {
        if (temporary) {
            C.agentauthz_action_free(a);
        } else {
            C.agentauthz_action_reset(a);
            reused.busy = false;
        }
    }
}

/*
 * The policy's decision on an action: effect is 'allow', 'deny' or 'ask';
 * rule names the deciding rule (or the engine's own 'session', 'limit',
 * 'leak', 'input', 'catalogue', 'default'), reason its reason, seq the check's number in
 * the session; allowed is true only for 'allow'. error is 0, or the code of an
 * internal failure that forced this deny.
 */
class Decision {
    constructor(effect, rule, reason, seq, error, action, code) {
        this.effect = effect;
        this.rule = rule;
        this.reason = reason;
        this.seq = seq;
        this.allowed = effect === 'allow';
        this.error = error;
        this[ACTION] = action;
        // The C effect the library gave, kept apart from the public
        // fields so that editing decision.effect cannot turn a deny into
        // the allow a lease asks for.
        this[RAW] = code;
        this[SEQ] = seq;
    }

    toJSON() {
        return { effect: this.effect, rule: this.rule, reason: this.reason, seq: this.seq,
            allowed: this.allowed };
    }

    toString() {
        return `${this.effect} (rule ${this.rule}${this.reason ? ': ' + this.reason : ''})`;
    }

    [INSPECT]() {
        return `Decision ${JSON.stringify(this.toJSON())}`;
    }
}

/*
 * The decision struct d as a Decision. Rule names are ASCII by the policy
 * language's rules, so latin1 decodes them exactly and faster; an empty
 * reason, the common case, needs no decoding at all.
 */
function decodeDecision(d, rc, act) {
    const effect = d.readInt32LE(OFF.decEffect);
    let end = d.indexOf(0, OFF.decRule);
    if (end < 0 || end > OFF.decRule + NAME_MAX - 1) end = OFF.decRule + NAME_MAX - 1;
    const rule = d.toString('latin1', OFF.decRule, end);
    const reason = d[OFF.decReason] === 0 ? '' : cstringAt(d, OFF.decReason, REASON_MAX - 1);
    return new Decision(effect >= 0 && effect < 3 ? EFFECTS[effect] : 'deny', rule, reason,
        d.readUInt32LE(OFF.decSeq) + d.readUInt32LE(OFF.decSeq + 4) * 4294967296, rc, act, effect);
}

/* A decision the binding makes itself, with no raw struct: it can never back a lease. */
function ownDeny(reason, errno, act, seq = 0) {
    return new Decision('deny', 'session', reason, seq, errno, act, 0);
}

/* ---- secret bytes ---------------------------------------------------- */

function redacted() {
    return `[SecretBuffer: ${this.length} bytes, redacted]`;
}

/*
 * Buffers holding secrets: every implicit conversion to text (String(b),
 * template literals, JSON, util.inspect, console.log) shows a placeholder.
 * toString with an explicit encoding still decodes, since that is how a
 * program hands a password to the call that needs it.
 */
const SecretBufferProto = Object.create(Buffer.prototype, {
    toString: {
        value: function toString(encoding, start, end) {
            if (encoding === undefined) return redacted.call(this);
            return Buffer.prototype.toString.call(this, encoding, start, end);
        },
    },
    toJSON: { value: function toJSON() { return '[redacted]'; } },
    toLocaleString: { value: redacted },
    [INSPECT]: { value: redacted },
});

/*
 * A Buffer with a copy of n bytes at ptr, on its own ArrayBuffer: V8 keeps
 * a small typed array made by length inside its heap and may move it,
 * leaving copies behind that no wipe reaches; an ArrayBuffer's memory
 * stays where it is.
 */
function secretCopy(ptr, n) {
    const buf = Buffer.from(new ArrayBuffer(n));
    if (n > 0) buf.set(new Uint8Array(koffi.view(ptr, n)));
    Object.setPrototypeOf(buf, SecretBufferProto);
    return buf;
}

/*
 * Shared behaviour of leases and substitutions: a guarded C object whose
 * bytes are lent to a callback and wiped when it returns (or, for a
 * callback that returns a promise, when the promise settles).
 */
class Guarded {
    #h;
    #read;
    #free;

    constructor(h, read, free) {
        this.#h = h;
        this.#read = read;
        this.#free = free;
        guardedFinalizer.register(this, { h, free }, this);
    }

    _handle() {
        return this.#h;
    }

    /*
     * Calls fn(secretBuffer) and returns what it returns; the buffer is
     * zeroed and the C object released afterwards, also when fn throws.
     */
    withValue(fn) {
        if (typeof fn !== 'function') throw new TypeError('withValue takes a function');
        const buf = this.#copy();
        let result;
        try {
            result = fn(buf);
        } catch (e) {
            this.#done(buf);
            throw e;
        }
        if (result && typeof result.then === 'function') {
            return Promise.resolve(result).finally(() => this.#done(buf));
        }
        this.#done(buf);
        return result;
    }

    #copy() {
        if (!this.#h) throw closedError(this.constructor.name.toLowerCase());
        const n = [0];
        const ptr = this.#read(this.#h, n);
        if (!ptr) {
            this.release();
            throw errorFor(CODES.ESESSION, 'the session has ended');
        }
        return secretCopy(ptr, Number(n[0]));
    }

    #done(buf) {
        buf.fill(0);
        this.release();
    }

    get released() {
        return !this.#h;
    }

    /* Releases the C object (wiping it). Idempotent. */
    release() {
        const h = this.#h;
        if (!h) return;
        this.#h = null;
        guardedFinalizer.unregister(this);
        this.#free(h);
    }
}

const guardedFinalizer = new FinalizationRegistry(({ h, free }) => free(h));

/* A lease of one session secret for one allowed action. */
class Lease extends Guarded {
    constructor(h, name) {
        super(h, C.agentauthz_lease_value, C.agentauthz_lease_release);
        this.secret = name;
    }

    /* False once released or once the session has ended (the secret is then wiped). */
    get valid() {
        const h = this._handle();
        return !!h && C.agentauthz_lease_valid(h) !== 0;
    }

    toString() {
        return `Lease { secret: ${JSON.stringify(this.secret)}, ${this.released ? 'released' : 'held'} }`;
    }

    toJSON() {
        return { secret: this.secret, released: this.released };
    }

    [INSPECT]() {
        return this.toString();
    }
}

/* A request text with ${secret:NAME} placeholders filled in, in guarded memory. */
class Substitution extends Guarded {
    constructor(h) {
        super(h, C.agentauthz_secret_buffer_data, C.agentauthz_secret_buffer_free);
    }

    toString() {
        return `Substitution { ${this.released ? 'released' : 'held'} }`;
    }

    toJSON() {
        return { released: this.released };
    }

    [INSPECT]() {
        return this.toString();
    }
}

/* ---- sessions --------------------------------------------------------- */

/*
 * What a session holds in C, apart from the Session object, so that the
 * engine can close it and a finalizer can free it without keeping the
 * Session alive.
 */
class SessionState {
    constructor(h, engineState) {
        this.h = h;
        this.engineState = engineState;
        const out = [null];
        check(C.agentauthz_action_new(out));
        this.action = out[0];
        this.addr = addressOf(h);
        this.actionAddr = addressOf(this.action);
        // The tool in the C action when it holds only a tool and arguments.
        this.loadedTool = null;
    }

    close() {
        const h = this.h;
        const a = this.action;
        this.h = null;
        this.action = null;
        this.addr = 0;
        this.actionAddr = 0;
        this.engineState.sessions.delete(this);
        if (h) C.agentauthz_session_close(h);
        if (a) C.agentauthz_action_free(a);
    }
}

const sessionFinalizer = new FinalizationRegistry((st) => st.close());

/*
 * Writes act into the session's reusable C action. When both the action
 * already there and act hold only a tool and arguments, and the tool is the
 * same, replacing the arguments is enough (set_args_json replaces them all):
 * that saves two calls into C on the path every tool call takes.
 */
function loadAction(st, act, hot) {
    const a = st.action;
    const simple = act.simple && act.args !== null;
    if (simple && st.loadedTool === act.tool) {
        if (setArgs(st, hot, act.args, null) === 0) return;
    } else {
        C.agentauthz_action_reset(a);
        if (fill(a, act, null, st, hot) === 0) {
            st.loadedTool = simple ? act.tool : null;
            return;
        }
    }
    // Failed: redo it on an empty action to learn why (the library's message
    // says where the arguments are malformed), then throw.
    st.loadedTool = null;
    C.agentauthz_action_reset(a);
    const err = Buffer.alloc(SIZE.error);
    check(fill(a, act, err, st, hot), err, 'action');
}

/* (decision, x) or a decision whose action is the one meant. */
function decisionArg(decision) {
    if (!(decision instanceof Decision)) throw new TypeError('expected a Decision from check()');
    return decision;
}

/*
 * The agentauthz_decision a lease or substitution is asked for, rebuilt
 * from the Decision: the library matches it (effect and seq) against the
 * session's own record of its allowed checks, so nothing here can make the
 * library hand out a secret it would not hand out anyway.
 */
function rawOf(decision) {
    const d = Buffer.alloc(SIZE.decision);
    d.writeInt32LE(decision[RAW], OFF.decEffect);
    d.write(decision.rule, OFF.decRule, NAME_MAX - 1, 'utf8');
    d.write(decision.reason, OFF.decReason, REASON_MAX - 1, 'utf8');
    d.writeBigUInt64LE(BigInt(decision[SEQ]), OFF.decSeq);
    return d;
}

/*
 * A session: one agent (workload identity) working on one task. Every call
 * is synchronous. close() ends it and destroys its secrets.
 */
class Session {
    #st;
    #engine;

    constructor(engine, h, parent, identity, task) {
        const es = engine._state();
        const st = new SessionState(h, es);
        this.#st = st;
        // A child keeps its parent (and every session its engine) alive: the
        // C library requires them to outlive it.
        this.#engine = engine;
        this.parent = parent;
        this.identity = identity;
        this.task = task;
        this.id = C.agentauthz_session_id(h);
        es.sessions.add(st);
        sessionFinalizer.register(this, st, this);
    }

    #handle() {
        const st = this.#st;
        if (!st.h) throw errorFor(CODES.ESESSION, 'the session is closed');
        if (st.engineState.locked !== 0) throw reenteredError();
        return st.h;
    }

    /*
     * After a lease or substitution: if a callback of the engine failed
     * meanwhile (its audit record may be lost), give it back and refuse.
     */
    #failClosed(guarded) {
        const failure = this.#st.engineState.failure;
        if (failure === null) return guarded;
        guarded.release();
        throw errorFor(CODES.EDENIED, failure);
    }

    get closed() {
        return !this.#st.h;
    }


    /*
     * Decides an action now: check({ tool, resource, destination, args,
     * labels, payload }) or check(tool, { ...the rest }). Returns a
     * Decision. Every failure inside the library is a deny (with error
     * set); a malformed request (a NUL in a name, args that are not JSON)
     * throws before the check.
     */
    check(req, rest) {
        const act = rest === undefined ? fastAction(req) : toAction({ ...rest, tool: req });
        const st = this.#st;
        if (!st.h) return ownDeny('session closed', CODES.ESESSION, act);
        const es = st.engineState;
        if (es.locked !== 0) throw reenteredError();
        const hot = takeHot();
        try {
            loadAction(st, act, hot);
            const rc = HOT.check(st.addr, st.actionAddr, hot.decision.addr);
            // A callback that failed (the clock, the audit sink) turns every decision into a deny.
            if (es.failure !== null) return ownDeny(es.failure, CODES.EINVAL, act);
            return decodeDecision(hot.decision.view, rc, act);
        } finally {
            giveHot(hot);
        }
    }

    /*
     * Records a human approval of an exact action: the Decision of the ask,
     * or a request object. scope is 'once' (default) or 'session'.
     */
    approve(what, { scope = 'once' } = {}) {
        const act = what instanceof Decision ? what[ACTION] : toAction(what);
        if (!(scope in SCOPES)) throw new TypeError("scope must be 'once' or 'session'");
        const h = this.#handle();
        check(withCAction(act, (a) => C.agentauthz_approve(h, a, SCOPES[scope])));
    }

    /* Revokes the session: every later check is denied. Idempotent. */
    revoke() {
        if (this.#st.h) check(C.agentauthz_session_revoke(this.#handle()));
    }

    /* Ends the session and destroys its secrets. Idempotent. */
    close() {
        const st = this.#st;
        if (st.h && st.engineState.depth !== 0) throw closeInCallbackError('session');
        sessionFinalizer.unregister(this);
        st.close();
    }

    /*
     * Leases the session secret `name` for the action an allowing decision
     * decided. Returns a Lease; use lease.withValue((buf) => ...). Throws
     * EDENIED (not allowed, or the secret is bound to other tools),
     * ENOTFOUND (no such secret) or ESESSION.
     */
    lease(decision, name) {
        const d = decisionArg(decision);
        const n = cstr(name, 'secret');
        const h = this.#handle();
        const out = [null];
        const err = Buffer.alloc(SIZE.error);
        const rc = withCAction(d[ACTION], (a) =>
            C.agentauthz_lease_acquire(h, a, rawOf(d), n, out, err));
        check(rc, err);
        return this.#failClosed(new Lease(out[0], name));
    }

    /*
     * Fills ${secret:NAME} placeholders of text for an allowed action. All
     * or nothing: EDENIED if any placeholder is refused. Returns a
     * Substitution; use sub.withValue((buf) => ...).
     */
    substitute(decision, text) {
        const d = decisionArg(decision);
        const raw = bytesOf(text, 'text');
        const h = this.#handle();
        const out = [null];
        const err = Buffer.alloc(SIZE.error);
        const rc = withCAction(d[ACTION], (a) =>
            C.agentauthz_substitute(h, a, rawOf(d), nonNull(raw), raw.length, out, err));
        check(rc, err);
        return this.#failClosed(new Substitution(out[0]));
    }

    /*
     * A copy of a tool's output with every live secret replaced by
     * [redacted:NAME]: a string for a string, a Buffer for bytes.
     */
    scrub(data) {
        const asText = typeof data === 'string';
        const raw = bytesOf(data, 'data');
        const out = [null];
        const n = [0];
        const err = Buffer.alloc(SIZE.error);
        check(C.agentauthz_scrub(this.#handle(), nonNull(raw), raw.length, out, n, err), err);
        const len = Number(n[0]);
        let result;
        try {
            result = len > 0 ? Buffer.from(new Uint8Array(koffi.view(out[0], len))) : Buffer.alloc(0);
        } finally {
            C.agentauthz_free(out[0]);
        }
        return asText ? result.toString('utf8') : result;
    }

    /*
     * Records what a tool returned, for the policy's from and not_from
     * predicates: output is a string or bytes (indexed as text) or any
     * JSON-able value (each string and number in it). options.labels (a
     * string or an array) join the output labels the policy's catalogue
     * gives tool (which may be null: the labels given only). Throws a
     * LimitError when the output could not be recorded whole: what was kept
     * stays, and later from and not_from checks that do not find their value
     * are denied.
     */
    observe(tool, output, { labels } = {}) {
        const list = strList(labels, 'label') || [];
        const h = this.#handle();
        const err = Buffer.alloc(SIZE.error);
        let run;
        if (typeof output === 'string' || output instanceof Uint8Array) {
            const raw = bytesOf(output, 'output');
            run = (a) => C.agentauthz_session_observe(h, a, nonNull(raw), raw.length, list,
                list.length, err);
        } else {
            const json = output === undefined ? undefined : JSON.stringify(output);
            if (json === undefined) throw new TypeError('output must be a string, bytes or a JSON value');
            const text = Buffer.from(json, 'utf8');
            const out = [null];
            check(C.agentauthz_value_parse_json(text, text.length, out, err), err, 'output');
            run = (a) => {
                try {
                    return C.agentauthz_session_observe_value(h, a, out[0], list, list.length, err);
                } finally {
                    C.agentauthz_value_free(out[0]);
                }
            };
        }
        const rc = tool === null || tool === undefined ? run(null) : withCAction(toAction(tool), run);
        check(rc, err);
    }

    /*
     * Opens a narrower child session for a sub-agent. options: tools (names
     * or globs the child may use; absent: as the parent), secrets (parent
     * secrets to hand down), ttl (seconds), params.
     */
    delegate(identity, task, options = {}) {
        const id = cstr(identity, 'identity');
        const t = cstr(task, 'task');
        const tools = strList(options.tools, 'tool');
        const secrets = strList(options.secrets, 'secret') || [];
        const opt = { version: 1, ttl_ns: ttlNs(options.ttl), params: null,
            tools: tools, ntools: tools ? tools.length : 0,
            secrets: secrets.length ? secrets : null, nsecrets: secrets.length };
        const h = this.#handle();
        const out = [null];
        const err = Buffer.alloc(SIZE.error);
        const rc = withValue(options.params, 'params', (p) => {
            opt.params = p;
            return C.agentauthz_session_delegate(h, id, t, opt, out, err);
        });
        check(rc, err);
        return new Session(this.#engine, out[0], this, identity, task);
    }

    toString() {
        return `Session { id: ${this.id}, task: ${JSON.stringify(this.task)}, ` +
            `identity: ${JSON.stringify(this.identity)}${this.closed ? ', closed' : ''} }`;
    }

    toJSON() {
        return { id: this.id, identity: this.identity, task: this.task, closed: this.closed };
    }

    [INSPECT]() {
        return this.toString();
    }
}

if (Symbol.dispose) {
    Session.prototype[Symbol.dispose] = Session.prototype.close;
    Lease.prototype[Symbol.dispose] = Lease.prototype.release;
    Substitution.prototype[Symbol.dispose] = Substitution.prototype.release;
}

module.exports = { Session, Decision, Lease, Substitution, Action, toAction, withCAction,
    decodeDecision, ownDeny };
