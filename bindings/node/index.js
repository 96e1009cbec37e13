'use strict';
/*
 * agentauthz: runtime authorization of AI agents' tool calls (libagentauthz),
 * for Node.js through koffi. Every call is synchronous: a check costs about a
 * microsecond and never waits.
 *
 * The shared library is the copy bundled in the npm tarball
 * (prebuilds/linux-x64/), else the one AGENTAUTHZ_LIBRARY names (a full
 * path), else libagentauthz.so.0 from the dynamic linker's search path.
 *
 *     const { Engine } = require('agentauthz');
 *     const engine = new Engine();
 *     engine.load('policy.yaml');
 *     const s = engine.session('spiffe://corp.example/agents/support/7', 'triage-ticket');
 *     const d = s.check({ tool: 'read_file', resource: '/kb/refunds.md' });
 *     if (d.allowed) { ... }
 *     s.close();
 */

const { C, LIBRARY_PATH } = require('./lib/ffi');
const errors = require('./lib/errors');
const { Engine, FakeClock, AuditReport, auditVerify } = require('./lib/engine');
const { Session, Decision, Lease, Substitution } = require('./lib/session');
const { Keys, Verifier, verifyToken, keyId, jwks } = require('./lib/tokens');

/* The version of the loaded C library, "MAJOR.MINOR.PATCH". */
function libraryVersion() {
    return C.agentauthz_version();
}

module.exports = {
    Engine, FakeClock, Session, Decision, Lease, Substitution, Keys, Verifier, verifyToken, keyId,
    jwks, AuditReport, auditVerify, libraryVersion,
    // The library loaded: the bundled copy's path, AGENTAUTHZ_LIBRARY or the system's name.
    libraryPath: LIBRARY_PATH,
    CODES: errors.CODES, strerror: errors.strerror, Diagnostic: errors.Diagnostic,
    // The error classes, one per family of codes, as the Python binding has them.
    AgentAuthzError: errors.AgentAuthzError, PolicyError: errors.PolicyError,
    InvalidArgumentError: errors.InvalidArgumentError, OutOfMemoryError: errors.OutOfMemoryError,
    FileError: errors.FileError, NoPolicyError: errors.NoPolicyError,
    SessionOpenError: errors.SessionOpenError, UnknownTaskError: errors.UnknownTaskError,
    IdentityError: errors.IdentityError, ParamError: errors.ParamError,
    JSONError: errors.JSONError, LimitError: errors.LimitError,
    SessionEndedError: errors.SessionEndedError, NotFoundError: errors.NotFoundError,
    RefusedError: errors.RefusedError, CryptoError: errors.CryptoError,
    TokenError: errors.TokenError, SignatureError: errors.SignatureError,
    ExpiredError: errors.ExpiredError, AudienceError: errors.AudienceError,
    AlgorithmError: errors.AlgorithmError, KeyIdError: errors.KeyIdError,
    TokenTypeError: errors.TokenTypeError,
    ProviderError: errors.ProviderError, TamperError: errors.TamperError,
};
