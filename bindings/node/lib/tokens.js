'use strict';
/* Offline verification of task tokens (the `token` secret provider's output). */

const { koffi, C, SIZE, TokenClaimsT, PUBKEY_BYTES, TOKEN_MAX } = require('./ffi');
const { CODES, AgentAuthzError, check } = require('./errors');
const { cstr, bytesOf, nonNull } = require('./util');

const SKEW_MAX = 86400;
/* iat and exp are at most 2^53 - 1 in the format, so a Number holds them exactly. */
const INT53_MAX = Number.MAX_SAFE_INTEGER;

/* A 32-byte public key from its "azpk1." text or its raw bytes. */
function publicKey(pubkey) {
    const pk = Buffer.alloc(PUBKEY_BYTES);
    if (typeof pubkey === 'string') {
        const err = Buffer.alloc(SIZE.error);
        check(C.agentauthz_pubkey_parse(cstr(pubkey, 'public key'), pk, err), err);
        return pk;
    }
    if (!(pubkey instanceof Uint8Array) || pubkey.length !== PUBKEY_BYTES) {
        throw new AgentAuthzError(CODES.ECRYPTO, 'a raw public key is a Uint8Array of exactly 32 bytes');
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
        tools: Array.from(tools),
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

/*
 * Verifies a task token offline and returns its claims: { identity, task,
 * session, audience, issuer, parent, iat, exp, tools }. pubkey is the
 * "azpk1." text or the raw 32 bytes (engine.publicKey); options.audience
 * the required audience, options.skew the tolerated clock skew in seconds
 * (default 60), options.now Unix seconds (default: the system clock).
 * Throws AgentAuthzError with code ETOKEN, ESIGNATURE, EEXPIRED or
 * EAUDIENCE. Error messages never quote the token.
 */
function verifyToken(pubkey, token, options = {}) {
    const pk = publicKey(pubkey);
    const raw = bytesOf(token, 'token');
    if (raw.length > TOKEN_MAX) {
        throw new AgentAuthzError(CODES.ETOKEN, `a token has at most ${TOKEN_MAX} bytes`);
    }
    const opt = verifyOptions(options);
    const out = [null];
    const err = Buffer.alloc(SIZE.error);
    check(C.agentauthz_token_verify(pk, nonNull(raw), raw.length, opt, out, err), err);
    try {
        return claimsOf(out[0]);
    } finally {
        C.agentauthz_token_claims_free(out[0]);
    }
}

module.exports = { verifyToken };
