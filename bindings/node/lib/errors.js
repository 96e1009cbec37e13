'use strict';
/*
 * Errors: one class for every failed call, with Node's conventions (a string
 * `code` such as 'ENOTASK' and the library's negative number in `errno`),
 * and PolicyError for loads, which adds where the policy is wrong.
 *
 * Messages come from the library, which never puts a secret value into an
 * error message, or from this binding, which only ever names secrets.
 */

const { C, OFF } = require('./ffi');

const CODES = {
    OK: 0, EINVAL: -1, ENOMEM: -2, EIO: -3, EPOLICY: -4, ENOPOLICY: -5, ENOTASK: -6,
    EIDENTITY: -7, EPARAM: -8, EJSON: -9, ELIMIT: -10, ESESSION: -11, ENOTFOUND: -12,
    EDENIED: -13, ECRYPTO: -14, ETOKEN: -15, ESIGNATURE: -16, EEXPIRED: -17,
    EAUDIENCE: -18, EPERM: -19, EEXIST: -20, EPROVIDER: -21, ETAMPER: -22,
};
Object.freeze(CODES);

const NAMES = new Map(Object.entries(CODES).map(([k, v]) => [v, k]));

function strerror(errno) {
    return C.agentauthz_strerror(errno);
}

class AgentAuthzError extends Error {
    /* errno is the library's negative AGENTAUTHZ_E* code; code its name. */
    constructor(errno, message) {
        super(message || strerror(errno));
        this.name = 'AgentAuthzError';
        this.errno = errno;
        this.code = NAMES.get(errno) || 'EUNKNOWN';
    }
}

/* One finding of a policy load: an error, or a warning when warning is true. */
class Diagnostic {
    constructor(errno, message, file, line, column, offset, warning) {
        this.errno = errno;
        this.code = NAMES.get(errno) || 'EUNKNOWN';
        this.message = message;
        this.file = file;
        this.line = line;
        this.column = column;
        this.offset = offset;
        this.warning = warning;
    }

    toString() {
        const kind = this.warning ? 'warning' : 'error';
        if (this.line) return `${this.file}:${this.line}:${this.column}: ${kind}: ${this.message}`;
        if (this.file) return `${this.file}: ${kind}: ${this.message}`;
        return `${kind}: ${this.message}`;
    }
}

/*
 * A policy did not load; the previous policy stays in force. file, line and
 * column locate the first error; diagnostics lists every error found,
 * warnings the warnings.
 */
class PolicyError extends AgentAuthzError {
    constructor(errno, first, diagnostics, warnings) {
        super(errno, locate(first.file, first.line, first.column, first.message));
        this.name = 'PolicyError';
        this.file = first.file;
        this.line = first.line;
        this.column = first.column;
        this.diagnostics = diagnostics;
        this.warnings = warnings;
    }
}

function locate(file, line, column, message) {
    if (line) return `${file}:${line}:${column}: ${message}`;
    if (file) return `${file}: ${message}`;
    return message;
}

/* A C string at off in buf, up to its NUL (or max bytes). */
function cstringAt(buf, off, max) {
    let end = buf.indexOf(0, off);
    if (end < 0 || end > off + max) end = off + max;
    return buf.toString('utf8', off, end);
}

/* The agentauthz_error in buf as a Diagnostic. */
function decodeError(buf, errno, warning) {
    const code = buf.readInt32LE(OFF.errCode) || errno;
    const message = cstringAt(buf, OFF.errMessage, 511) || strerror(code);
    return new Diagnostic(code, message, cstringAt(buf, OFF.errPath, 511),
        Number(buf.readBigUInt64LE(OFF.errLine)), Number(buf.readBigUInt64LE(OFF.errColumn)),
        Number(buf.readBigUInt64LE(OFF.errOffset)), warning);
}

/* The exception for return code rc, with what the error buffer says (may be null). */
function fromCode(rc, errBuf, what) {
    if (!errBuf) return new AgentAuthzError(rc, what ? `${what}: ${strerror(rc)}` : undefined);
    const d = decodeError(errBuf, rc, false);
    let message = locate(d.file, d.line, d.column, d.message);
    if (what && !d.file) message = `${what}: ${message}`;
    return new AgentAuthzError(rc, message);
}

function check(rc, errBuf, what) {
    if (rc !== 0) throw fromCode(rc, errBuf, what);
}

module.exports = {
    CODES, AgentAuthzError, PolicyError, Diagnostic, strerror, decodeError, fromCode, check,
    cstringAt,
};
