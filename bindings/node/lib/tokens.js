'use strict';
/*
 * Engine keys, task tokens and token verifiers: offline verification of the
 * `token` secret provider's output, and the keys that sign it.
 */

const { koffi, C, SIZE, TokenClaimsT, PUBKEY_BYTES, PUBKEY_TEXT_MAX, KID_TEXT_MAX, JWKS_TEXT_MAX,
    TOKEN_MAX, TOKEN_TOOLS_MAX, KEYFILE_MAX, VERIFIER_CACHE_MAX } = require('./ffi');
const { CODES, check, errorFor } = require('./errors');
const { cstr, strList, bytesOf, nonNull, closedError } = require('./util');

const SKEW_MAX = 86400;
/* iat and exp are at most 2^53 - 1 in the format, so a Number holds them exactly. */
const INT53_MAX = Number.MAX_SAFE_INTEGER;
const INSPECT = Symbol.for('nodejs.util.inspect.custom');
/* Only the factory methods make Keys: a handle from anywhere else would be freed twice. */
const FACTORY = Symbol('agentauthz.keys');

/* ---- keys ------------------------------------------------------------- */

/*
 * The C keys behind a Keys object, with a count of the engines borrowing
 * them: the library requires keys to outlive every engine using them, so
 * close() while an engine is open only marks them closed, and the last
 * engine to go frees them.
 */
class KeysState {
    constructor(h) {
        this.h = h;
        this.users = 0;
        this.closed = false;
    }

    unuse() {
        this.users--;
        if (this.closed && this.users === 0) this.free();
    }

    close() {
        this.closed = true;
        if (this.users === 0) this.free();
    }

    free() {
        const h = this.h;
        this.h = null;
        if (h) C.agentauthz_keys_free(h);
    }
}

// An unreachable Keys object is borrowed by no engine: an engine's state holds its Keys.
const keysFinalizer = new FinalizationRegistry((st) => st.close());

/* Runs a constructor call (out, err) => rc and wraps the handle it makes in Keys. */
function makeKeys(call) {
    const out = [null];
    const err = Buffer.alloc(SIZE.error);
    check(call(out, err), err);
    return new Keys(FACTORY, out[0]);
}

/*
 * An engine's keys (signing, master and audit), held by the library in
 * guarded memory; only the public key ever reaches JavaScript. Pass them
 * as new Engine({ keys }) so that tokens verify, and audit logs resume,
 * across restarts.
 */
class Keys {
    #st;

    constructor(factory, h) {
        if (factory !== FACTORY) {
            throw new TypeError('use Keys.generate(), Keys.load(text) or Keys.loadFile(path)');
        }
        this.#st = new KeysState(h);
        keysFinalizer.register(this, this.#st, this);
    }

    /* Fresh random keys. */
    static generate() {
        return makeKeys((out, err) => C.agentauthz_keys_generate(out, err));
    }

    /*
     * Keys from the text of a key file (a string or bytes). The library only
     * reads it; the copy this makes of a string is zeroed afterwards, the
     * caller's own string or buffer stays the caller's to drop or wipe.
     */
    static load(text) {
        let raw;
        let copied = false;
        if (typeof text === 'string') {
            // Checked before copying: a string of n code units has at least n bytes.
            if (text.length > KEYFILE_MAX) throw keyFileTooLong();
            // Its own ArrayBuffer, not a pooled slice, so that the wipe reaches every byte.
            raw = Buffer.from(new ArrayBuffer(Buffer.byteLength(text, 'utf8')));
            raw.write(text, 'utf8');
            copied = true;
        } else if (text instanceof Uint8Array) {
            raw = text;
        } else {
            throw new TypeError('key file text must be a string or a Uint8Array');
        }
        try {
            if (raw.length > KEYFILE_MAX) throw keyFileTooLong();
            return makeKeys((out, err) =>
                C.agentauthz_keys_load(nonNull(raw), raw.length, out, err));
        } finally {
            if (copied) raw.fill(0);
        }
    }

    /* Keys from a key file, which must be mode 0600 or 0400 (FileError otherwise). */
    static loadFile(path) {
        const p = cstr(String(path), 'path');
        return makeKeys((out, err) => C.agentauthz_keys_load_file(p, out, err));
    }

    /* Writes a new key file, mode 0600; never replaces an existing file (FileError, EEXIST). */
    saveFile(path) {
        const p = cstr(String(path), 'path');
        const err = Buffer.alloc(SIZE.error);
        check(C.agentauthz_keys_save_file(this._handle(), p, err), err);
    }

    /* The public key as text, "azpk1.<base64url>". */
    get publicText() {
        const buf = Buffer.alloc(PUBKEY_TEXT_MAX);
        check(C.agentauthz_keys_public(this._handle(), buf, buf.length));
        return buf.toString('latin1', 0, buf.indexOf(0));
    }

    /* The raw 32-byte Ed25519 public key. */
    get publicKey() {
        const pk = Buffer.alloc(PUBKEY_BYTES);
        check(C.agentauthz_keys_public_raw(this._handle(), pk));
        return pk;
    }

    /* The public key as a JWK Set (JSON text), for JWT libraries and gateways. */
    get jwks() {
        return cText(JWKS_TEXT_MAX, (buf) => C.agentauthz_keys_jwks(this._handle(), buf, buf.length));
    }

    /* The key id (RFC 7638 JWK thumbprint) of the tokens these keys sign. */
    get kid() {
        return keyId(this.publicKey);
    }

    /*
     * A signed task token (a JWT string) for claims { identity, task,
     * session, audience, iat, exp, tools, issuer, parent, params }, the
     * fields verifyToken returns; iat and exp are Unix seconds, params an
     * object of task parameters (tctx.params).
     */
    signToken(claims) {
        const c = signClaims(claims);
        const out = [null];
        const err = Buffer.alloc(SIZE.error);
        check(C.agentauthz_token_sign(this._handle(), c, out, err), err);
        try {
            return koffi.decode(out[0], 'char', -1);
        } finally {
            C.agentauthz_free(out[0]);
        }
    }

    get closed() {
        return this.#st.closed;
    }

    /* Wipes and frees the keys (once no open engine uses them). Idempotent. */
    close() {
        keysFinalizer.unregister(this);
        this.#st.close();
    }

    _handle() {
        const st = this.#st;
        if (st.closed || !st.h) throw closedError('keys');
        return st.h;
    }

    /* An engine borrows the keys: the state it gives back with unuse(). */
    _use() {
        this._handle();
        this.#st.users++;
        return this.#st;
    }

    toString() {
        return this.closed ? 'Keys { closed }' : `Keys { public: ${this.publicText} }`;
    }

    toJSON() {
        return this.closed ? { closed: true } : { public: this.publicText };
    }

    [INSPECT]() {
        return this.toString();
    }
}

/* The NUL-terminated text a call (buf) => rc writes into a buffer of cap bytes. */
function cText(cap, call) {
    const buf = Buffer.alloc(cap);
    check(call(buf));
    return buf.toString('latin1', 0, buf.indexOf(0));
}

/* The key id (RFC 7638 JWK thumbprint) of a public key: text, raw bytes or Keys. */
function keyId(pubkey) {
    const pk = publicKey(pubkey);
    return cText(KID_TEXT_MAX, (buf) => C.agentauthz_pubkey_kid(pk, buf, buf.length));
}

/* The JWK Set (JSON text) of a public key: text, raw bytes or Keys. */
function jwks(pubkey) {
    const pk = publicKey(pubkey);
    return cText(JWKS_TEXT_MAX, (buf) => C.agentauthz_pubkey_jwks(pk, buf, buf.length));
}

function keyFileTooLong() {
    return errorFor(CODES.ELIMIT, `a key file is at most ${KEYFILE_MAX} bytes`);
}

function unixSeconds(v, what) {
    if (!Number.isSafeInteger(v) || v < 0) {
        throw new RangeError(`${what} must be Unix seconds (an integer from 0 to 2^53 - 1)`);
    }
    return v;
}

function optionalStr(v, what) {
    return v === undefined || v === null ? null : cstr(v, what);
}

/* The claims signToken is given, checked and in the struct's shape. */
function signClaims(claims) {
    if (claims === null || typeof claims !== 'object') {
        throw new TypeError('signToken takes { identity, task, session, audience, iat, exp, tools }');
    }
    const tools = strList(claims.tools, 'tool') || [];
    if (tools.length > TOKEN_TOOLS_MAX) {
        throw errorFor(CODES.ELIMIT, `a token names at most ${TOKEN_TOOLS_MAX} tools`);
    }
    return {
        identity: cstr(claims.identity, 'identity'), task: cstr(claims.task, 'task'),
        session: cstr(claims.session, 'session'), audience: cstr(claims.audience, 'audience'),
        issuer: optionalStr(claims.issuer, 'issuer'), parent: optionalStr(claims.parent, 'parent'),
        iat: unixSeconds(claims.iat, 'iat'), exp: unixSeconds(claims.exp, 'exp'),
        tools: tools.length ? tools : null, tools_count: tools.length,
        params: claims.params === undefined || claims.params === null ? null
            : cstr(JSON.stringify(claims.params), 'params'),
    };
}

/* ---- verification ----------------------------------------------------- */

/* A 32-byte public key from its "azpk1." text, its raw bytes or a Keys object. */
function publicKey(pubkey) {
    if (pubkey instanceof Keys) return pubkey.publicKey;
    const pk = Buffer.alloc(PUBKEY_BYTES);
    if (typeof pubkey === 'string') {
        const err = Buffer.alloc(SIZE.error);
        check(C.agentauthz_pubkey_parse(cstr(pubkey, 'public key'), pk, err), err);
        return pk;
    }
    if (!(pubkey instanceof Uint8Array) || pubkey.length !== PUBKEY_BYTES) {
        throw errorFor(CODES.ECRYPTO, 'a raw public key is a Uint8Array of exactly 32 bytes');
    }
    pk.set(pubkey);
    return pk;
}

function claimsOf(ptr) {
    const c = koffi.decode(ptr, TokenClaimsT);
    const n = Number(c.tools_count);
    const tools = n > 0 ? koffi.decode(c.tools, koffi.array('const char *', n)) : [];
    return {
        identity: c.identity, task: c.task, session: c.session, audience: c.audience,
        issuer: c.issuer, parent: c.parent, iat: Number(c.iat), exp: Number(c.exp),
        tools: Array.from(tools), params: c.params === null ? null : JSON.parse(c.params),
    };
}

function verifyOptions(options) {
    const { audience = null, skew = 60, now = 0 } = options;
    if (!Number.isInteger(skew) || skew < 0 || skew > SKEW_MAX) {
        throw new RangeError(`skew must be an integer number of seconds in [0, ${SKEW_MAX}]`);
    }
    if (!Number.isInteger(now) || now < 0 || now > INT53_MAX) {
        throw new RangeError('now must be Unix seconds (0: the system clock)');
    }
    return { version: 1, audience: audience === null ? null : cstr(audience, 'audience'),
        now, skew };
}

/* A token as bytes, refused before any copy when it is over the format's bound. */
function tokenBytes(token) {
    if (typeof token === 'string' && token.length > TOKEN_MAX) throw tokenTooLong();
    const raw = bytesOf(token, 'token');
    if (raw.length > TOKEN_MAX) throw tokenTooLong();
    return raw;
}

function tokenTooLong() {
    return errorFor(CODES.ELIMIT, `a token is at most ${TOKEN_MAX} bytes`);
}

/* Takes claims the library returned: decodes and frees them. */
function takeClaims(ptr) {
    try {
        return claimsOf(ptr);
    } finally {
        C.agentauthz_token_claims_free(ptr);
    }
}

/*
 * Verifies a task token (a JWT) offline and returns its claims: { identity
 * (sub), task (scope), session (txn), audience (aud), issuer (iss), parent
 * (tctx.parent), iat, exp, tools (tctx.tools), params (tctx.params, an object,
 * or null) }. pubkey is the "azpk1." text, the raw 32 bytes (engine.publicKey)
 * or Keys; options.audience the required audience, options.skew the
 * tolerated clock skew in seconds (default 60), options.now Unix seconds
 * (default: the system clock). Throws TokenError (code ETOKEN) or its
 * subclasses SignatureError (ESIGNATURE), ExpiredError (EEXPIRED),
 * AudienceError (EAUDIENCE), AlgorithmError (EALGORITHM), KeyIdError (EKEYID)
 * and TokenTypeError (ETOKENTYPE); LimitError (ELIMIT) for a token over 8192
 * bytes or JSON over bounds, JSONError (EJSON) for a duplicate key. Error
 * messages never quote the token.
 */
function verifyToken(pubkey, token, options = {}) {
    const pk = publicKey(pubkey);
    const raw = tokenBytes(token);
    const opt = verifyOptions(options);
    const out = [null];
    const err = Buffer.alloc(SIZE.error);
    check(C.agentauthz_token_verify(pk, nonNull(raw), raw.length, opt, out, err), err);
    return takeClaims(out[0]);
}

/* ---- verifiers -------------------------------------------------------- */

/*
 * The C verifier behind a Verifier, with a count of the calls using it
 * (engine.checkToken runs callbacks, which could close it): close() during
 * a call frees it when the call ends.
 */
class VerifierState {
    constructor(h) {
        this.h = h;
        this.busy = 0;
        this.closed = false;
    }

    close() {
        this.closed = true;
        if (this.busy === 0) this.free();
    }

    free() {
        const h = this.h;
        this.h = null;
        if (h) C.agentauthz_verifier_free(h);
    }
}

const verifierFinalizer = new FinalizationRegistry((st) => st.close());

/*
 * A token verifier for a downstream service: a public key (text, raw bytes
 * or Keys) or options.jwks (a JWK Set, JSON text or object, with pubkey
 * null), fixed options (audience, skew) and a bounded cache of the tokens
 * it has verified, so that a token seen again costs a lookup instead of a
 * signature check. Expiry and revocation are checked on every call.
 */
class Verifier {
    #st;

    constructor(pubkey, options = {}) {
        const set = options.jwks;
        if ((pubkey === null || pubkey === undefined) === (set === undefined || set === null)) {
            throw new TypeError('Verifier needs a public key or options.jwks, not both');
        }
        const pk = set == null ? publicKey(pubkey) : null;
        const opt = verifyOptions({ audience: options.audience, skew: options.skew, now: 0 });
        const { cacheEntries = 1024 } = options;
        if (!Number.isSafeInteger(cacheEntries) || cacheEntries < 0 ||
            cacheEntries > VERIFIER_CACHE_MAX) {
            throw new RangeError(`cacheEntries must be an integer in [0, ${VERIFIER_CACHE_MAX}]`);
        }
        this.audience = opt.audience;
        const out = [null];
        const err = Buffer.alloc(SIZE.error);
        if (pk) {
            check(C.agentauthz_verifier_new(pk, opt, cacheEntries, out, err), err);
        } else {
            const raw = Buffer.from(typeof set === 'string' ? set : JSON.stringify(set), 'utf8');
            check(C.agentauthz_verifier_new_jwks(nonNull(raw), raw.length, opt, cacheEntries, out,
                err), err);
        }
        this.#st = new VerifierState(out[0]);
        verifierFinalizer.register(this, this.#st, this);
    }

    /*
     * The token's claims, as verifyToken returns them, at time now (Unix
     * seconds; default: the system clock). Throws TokenError (or
     * SignatureError, ExpiredError, AudienceError), or SessionEndedError when
     * the token's session or its parent has been revoked here.
     */
    verify(token, now = 0) {
        const raw = tokenBytes(token);
        if (!Number.isSafeInteger(now) || now < 0) {
            throw new RangeError('now must be Unix seconds (0: the system clock)');
        }
        const out = [null];
        const err = Buffer.alloc(SIZE.error);
        check(C.agentauthz_verifier_verify(this._handle(), nonNull(raw), raw.length, now, out, err),
            err);
        return takeClaims(out[0]);
    }

    /* Refuses every later token of that session or of its children, cached or not. Idempotent. */
    revoke(sessionId) {
        check(C.agentauthz_verifier_revoke(this._handle(), cstr(sessionId, 'session id')));
    }

    get closed() {
        return this.#st.closed;
    }

    /* Frees the verifier and its cache. Idempotent. */
    close() {
        verifierFinalizer.unregister(this);
        this.#st.close();
    }

    _handle() {
        const st = this.#st;
        if (st.closed || !st.h) throw closedError('verifier');
        return st.h;
    }

    /* Runs fn(handle) with the verifier kept alive until it returns. */
    _use(fn) {
        const st = this.#st;
        const h = this._handle();
        st.busy++;
        try {
            return fn(h);
        } finally {
            st.busy--;
            if (st.closed && st.busy === 0) st.free();
        }
    }

    toString() {
        return `Verifier { audience: ${JSON.stringify(this.audience)}${this.closed ? ', closed' : ''} }`;
    }

    toJSON() {
        return { audience: this.audience, closed: this.closed };
    }

    [INSPECT]() {
        return this.toString();
    }
}

if (Symbol.dispose) {
    Keys.prototype[Symbol.dispose] = Keys.prototype.close;
    Verifier.prototype[Symbol.dispose] = Verifier.prototype.close;
}

module.exports = { Keys, Verifier, verifyToken, tokenBytes, publicKey, keyId, jwks, cText };
