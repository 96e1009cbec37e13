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
    EALGORITHM: -23, EKEYID: -24, ETOKENTYPE: -25,
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
        this.name = new.target.name;
        this.errno = errno;
        this.code = NAMES.get(errno) || 'EUNKNOWN';
    }
}

/*
 * One class per family of codes, named as in the Python binding, so that a
 * program can catch a TokenError (bad, forged, expired or misdirected token)
 * without listing codes; `code` and `errno` stay the exact code.
 */
class InvalidArgumentError extends AgentAuthzError {}
class OutOfMemoryError extends AgentAuthzError {}
/* EIO, EPERM, EEXIST: a file could not be used. */
class FileError extends AgentAuthzError {}
class NoPolicyError extends AgentAuthzError {}
/* A session could not be opened for this identity, task and parameters. */
class SessionOpenError extends AgentAuthzError {}
class UnknownTaskError extends SessionOpenError {}
class IdentityError extends SessionOpenError {}
class ParamError extends SessionOpenError {}
class JSONError extends AgentAuthzError {}
class LimitError extends AgentAuthzError {}
/* ESESSION: the session (or a token's session) has ended or was revoked. */
class SessionEndedError extends AgentAuthzError {}
class NotFoundError extends AgentAuthzError {}
/* EDENIED: a lease or substitution was refused by the policy. */
class RefusedError extends AgentAuthzError {}
class CryptoError extends AgentAuthzError {}
/* ETOKEN: a task token is malformed or not valid yet; the parent of the next three. */
class TokenError extends AgentAuthzError {}
class SignatureError extends TokenError {}
class ExpiredError extends TokenError {}
class AudienceError extends TokenError {}
/* EALGORITHM: the token's "alg" is "none" or not EdDSA. */
class AlgorithmError extends TokenError {}
/* EKEYID: the token's "kid" is missing or names no key the verifier holds. */
class KeyIdError extends TokenError {}
/* ETOKENTYPE: the token's "typ" is not txntoken+jwt. */
class TokenTypeError extends TokenError {}
/* EPROVIDER: the host's secret provider refused (or threw). */
class ProviderError extends AgentAuthzError {}

/* ETAMPER: an audit log's MAC chain is broken; report (an AuditReport) says where. */
class TamperError extends AgentAuthzError {
    constructor(errno, message, report = null) {
        super(errno, message);
        this.report = report;
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
        this.file = first.file;
        this.line = first.line;
        this.column = first.column;
        this.diagnostics = diagnostics;
        this.warnings = warnings;
    }
}

/* A message with its place; a line without a file (a token, key text) adds nothing. */
function locate(file, line, column, message) {
    if (!file) return message;
    if (line) return `${file}:${line}:${column}: ${message}`;
    return `${file}: ${message}`;
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
    if (!errBuf) return errorFor(rc, what ? `${what}: ${strerror(rc)}` : undefined);
    const d = decodeError(errBuf, rc, false);
    if (rc === CODES.EPOLICY) return new PolicyError(rc, d, [d], []);
    let message = locate(d.file, d.line, d.column, d.message);
    if (what && !d.file) message = `${what}: ${message}`;
    return errorFor(rc, message);
}

/* The class of the errors with code errno (PolicyError and TamperError are built apart). */
const CLASSES = new Map([
    [CODES.EINVAL, InvalidArgumentError], [CODES.ENOMEM, OutOfMemoryError],
    [CODES.EIO, FileError], [CODES.EPERM, FileError], [CODES.EEXIST, FileError],
    [CODES.ENOPOLICY, NoPolicyError], [CODES.ENOTASK, UnknownTaskError],
    [CODES.EIDENTITY, IdentityError], [CODES.EPARAM, ParamError], [CODES.EJSON, JSONError],
    [CODES.ELIMIT, LimitError], [CODES.ESESSION, SessionEndedError],
    [CODES.ENOTFOUND, NotFoundError], [CODES.EDENIED, RefusedError],
    [CODES.ECRYPTO, CryptoError], [CODES.ETOKEN, TokenError], [CODES.ESIGNATURE, SignatureError],
    [CODES.EEXPIRED, ExpiredError], [CODES.EAUDIENCE, AudienceError],
    [CODES.EPROVIDER, ProviderError], [CODES.ETAMPER, TamperError],
    [CODES.EALGORITHM, AlgorithmError], [CODES.EKEYID, KeyIdError],
    [CODES.ETOKENTYPE, TokenTypeError],
]);

/* The error of its code's class, for code errno and message (default: strerror). */
function errorFor(errno, message) {
    if (errno === CODES.EPOLICY) {
        const d = new Diagnostic(errno, message || strerror(errno), '', 0, 0, 0, false);
        return new PolicyError(errno, d, [d], []);
    }
    const Cls = CLASSES.get(errno) || AgentAuthzError;
    return new Cls(errno, message);
}

function check(rc, errBuf, what) {
    if (rc !== 0) throw fromCode(rc, errBuf, what);
}

module.exports = {
    CODES, AgentAuthzError, PolicyError, Diagnostic, strerror, decodeError, fromCode, check,
    cstringAt, errorFor, InvalidArgumentError, OutOfMemoryError, FileError, NoPolicyError,
    SessionOpenError, UnknownTaskError, IdentityError, ParamError, JSONError, LimitError,
    SessionEndedError, NotFoundError, RefusedError, CryptoError, TokenError, SignatureError,
    ExpiredError, AudienceError, AlgorithmError, KeyIdError, TokenTypeError, ProviderError,
    TamperError,
};
