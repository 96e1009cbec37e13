'use strict';
/* Conversions from JavaScript values to what the C calls take. */

const { C, SIZE } = require('./ffi');
const { CODES, check, errorFor } = require('./errors');

const NS_MAX = (1n << 64n) - 1n;
/* Arguments nest at most 64 levels in the library; refuse deeper here, cheaply. */
const DEPTH_MAX = 64;

/*
 * A C string argument. A NUL character would silently cut the string short
 * in C, so that a tool named "read\0anything" would be checked as "read":
 * refuse it instead.
 */
function cstr(value, what) {
    if (typeof value !== 'string') throw new TypeError(`${what} must be a string`);
    if (value.includes('\0')) throw new TypeError(`${what} contains a NUL character`);
    return value;
}

/* A string or an array of strings as an array (null and undefined stay null). */
function strList(values, what) {
    if (values === undefined || values === null) return null;
    if (typeof values === 'string') return [cstr(values, what)];
    if (!Array.isArray(values)) throw new TypeError(`${what} must be a string or an array`);
    return values.map((v) => cstr(v, what));
}

/*
 * Refuses what JSON.stringify would silently change: NaN and infinities
 * (written as null) and undefined, functions or symbols inside arrays
 * (written as null). An argument that cannot be checked as given must not be
 * passed on as something else. Undefined map entries are left out, as the
 * tool would see them absent.
 */
function assertJsonable(v, depth) {
    if (typeof v === 'number') {
        if (!Number.isFinite(v)) throw new TypeError('arguments must not hold NaN or infinities');
        return;
    }
    if (v === null || typeof v !== 'object') {
        if (typeof v === 'function' || typeof v === 'symbol') {
            throw new TypeError('arguments must be JSON values');
        }
        return;
    }
    if (depth > DEPTH_MAX) throw new TypeError('arguments nest too deeply');
    if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
            if (v[i] === undefined) throw new TypeError('arguments must be JSON values');
            assertJsonable(v[i], depth + 1);
        }
        return;
    }
    for (const k in v) {
        if (Object.prototype.hasOwnProperty.call(v, k)) assertJsonable(v[k], depth + 1);
    }
}

/* args (a plain object) as compact JSON, or null. */
function argsJson(args) {
    if (args === undefined || args === null) return null;
    if (typeof args !== 'object' || Array.isArray(args)) {
        throw new TypeError('args must be an object');
    }
    const json = JSON.stringify(args);
    // Every value JSON.stringify would change shows as null in its output:
    // walk the arguments only then, to tell a real null from a NaN.
    if (json.includes('null')) assertJsonable(args, 1);
    return json;
}

/* payload: a string (UTF-8) or bytes, as a Buffer; null when absent. */
function payloadBuffer(payload) {
    if (payload === undefined || payload === null) return null;
    if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
    if (payload instanceof Uint8Array) return Buffer.from(payload);
    throw new TypeError('payload must be a string or a Uint8Array');
}

/* text or bytes as a Buffer the C call reads (not copied when already a Buffer). */
function bytesOf(data, what) {
    if (typeof data === 'string') return Buffer.from(data, 'utf8');
    if (Buffer.isBuffer(data)) return data;
    if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    throw new TypeError(`${what} must be a string or a Uint8Array`);
}

/*
 * buf, or for an empty one a one-byte buffer: koffi passes the data of an
 * empty Buffer as NULL, which the library takes for a missing argument
 * (EINVAL) rather than for empty input. The length passed stays 0.
 */
const EMPTY = Buffer.alloc(1);
function nonNull(buf) {
    return buf.length ? buf : EMPTY;
}

/* A TTL in seconds as nanoseconds (BigInt), 0n for undefined (the policy's default). */
function ttlNs(seconds, what = 'ttl') {
    if (seconds === undefined || seconds === null) return 0n;
    if (typeof seconds !== 'number' || Number.isNaN(seconds)) {
        throw new TypeError(`${what} must be a number of seconds`);
    }
    if (!(seconds > 0)) throw new RangeError(`${what} must be positive`);
    if (!Number.isFinite(seconds) || seconds > 1.8e10) throw new RangeError(`${what} is out of range`);
    const ns = BigInt(Math.round(seconds * 1e9));
    if (ns < 1n || ns > NS_MAX) throw new RangeError(`${what} is out of range`);
    return ns;
}

/*
 * A parsed agentauthz_value for a plain object (task parameters), passed to
 * fn and freed afterwards; fn(null) when obj is absent.
 */
function withValue(obj, what, fn) {
    if (obj === undefined || obj === null) return fn(null);
    const json = Buffer.from(argsJson(obj), 'utf8');
    const out = [null];
    const err = Buffer.alloc(SIZE.error);
    check(C.agentauthz_value_parse_json(json, json.length, out, err), err, what);
    try {
        return fn(out[0]);
    } finally {
        C.agentauthz_value_free(out[0]);
    }
}

function closedError(what) {
    return errorFor(CODES.EINVAL, `the ${what} is closed`);
}

/*
 * A call into an engine from inside its audit or secretRevoke callback: the
 * library runs those with a lock held, so the call would deadlock the
 * process; it is refused instead.
 */
function reenteredError() {
    return errorFor(CODES.EINVAL,
        "the engine's audit and secretRevoke callbacks cannot call into the engine");
}

/* close() from inside an engine's callback would free what the running call uses. */
function closeInCallbackError(what) {
    return errorFor(CODES.EINVAL, `a ${what} cannot be closed from inside its engine's callback`);
}

module.exports = { cstr, strList, argsJson, payloadBuffer, bytesOf, nonNull, ttlNs, withValue,
    closedError, reenteredError, closeInCallbackError };
