'use strict';
/*
 * agentauthz: runtime authorization of AI agents' tool calls (libagentauthz),
 * for Node.js through koffi. Every call is synchronous: a check costs about a
 * microsecond and never waits.
 *
 * The shared library is the one AGENTAUTHZ_LIBRARY names (a full path), else
 * libagentauthz.so.0 from the dynamic linker's search path.
 *
 *     const { Engine } = require('agentauthz');
 *     const engine = new Engine();
 *     engine.load('policy.yaml');
 *     const s = engine.session('spiffe://corp.example/agents/support/7', 'triage-ticket');
 *     const d = s.check({ tool: 'read_file', resource: '/kb/refunds.md' });
 *     if (d.allowed) { ... }
 *     s.close();
 */

const { C } = require('./lib/ffi');
const { CODES, AgentAuthzError, PolicyError, Diagnostic, strerror } = require('./lib/errors');
const { Engine, FakeClock } = require('./lib/engine');
const { Session, Decision, Lease, Substitution } = require('./lib/session');
const { verifyToken } = require('./lib/tokens');

/* The version of the loaded C library, "MAJOR.MINOR.PATCH". */
function libraryVersion() {
    return C.agentauthz_version();
}

module.exports = {
    Engine, FakeClock, Session, Decision, Lease, Substitution, verifyToken,
    AgentAuthzError, PolicyError, Diagnostic, CODES, strerror, libraryVersion,
};
