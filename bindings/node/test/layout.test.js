'use strict';
/*
 * The koffi struct declarations must match the C header byte for byte: a
 * mismatch would corrupt memory instead of throwing. This compiles a small
 * C program against include/agentauthz.h that prints every size and offset,
 * and compares. Skipped when no C compiler or header is at hand.
 *
 * AGENTAUTHZ_INCLUDE: colon-separated include directories (default: the
 * source tree's include/ and $top_builddir/include, for agentauthz/version.h).
 */

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ffi = require('../lib/ffi');

const STRUCTS = {
    agentauthz_error: [ffi.ErrorT, ['code', 'path', 'line', 'column', 'offset', 'message']],
    agentauthz_decision: [ffi.DecisionT, ['effect', 'rule', 'reason', 'seq']],
    agentauthz_policy_info: [ffi.PolicyInfoT,
        ['name', 'hash', 'rules', 'tasks', 'secrets', 'identities', 'generation']],
    agentauthz_engine_options: [ffi.EngineOptionsT, ['version', 'clock', 'clock_ctx',
        'wall_clock', 'wall_clock_ctx', 'keys', 'secret_issue', 'secret_revoke', 'secret_ctx', 'name']],
    agentauthz_load_options: [ffi.LoadOptionsT, ['version', 'on_diag', 'ctx']],
    agentauthz_session_options: [ffi.SessionOptionsT, ['version', 'ttl_ns', 'params']],
    agentauthz_delegate_options: [ffi.DelegateOptionsT,
        ['version', 'ttl_ns', 'params', 'tools', 'ntools', 'secrets', 'nsecrets']],
    agentauthz_token_claims: [ffi.TokenClaimsT, ['identity', 'task', 'session', 'audience',
        'issuer', 'parent', 'iat', 'exp', 'tools', 'tools_count']],
    agentauthz_token_verify_options: [ffi.TokenVerifyOptionsT, ['version', 'audience', 'now', 'skew']],
    agentauthz_secret_request: [ffi.SecretRequestT, ['secret', 'session', 'identity', 'task', 'ttl_ns']],
    agentauthz_audit_options: [ffi.AuditOptionsT,
        ['version', 'path', 'flush', 'flush_every', 'fsync', 'callback', 'ctx', 'checkpoint_every']],
    agentauthz_audit_verify_options: [ffi.AuditVerifyOptionsT,
        ['version', 'keys', 'pubkey', 'engine', 'expect_last']],
    agentauthz_audit_result: [ffi.AuditResultT,
        ['version', 'report', 'schema', 'signed_seq', 'checkpoints', 'log_id']],
    agentauthz_audit_report: [ffi.AuditReportT,
        ['problem', 'records', 'last_seq', 'file', 'path', 'line', 'reason']],
};

/* The input twin of agentauthz_token_claims (its tools typed for koffi to encode). */
const TWINS = { agentauthz_token_claims: ffi.TokenClaimsInT };

function includeDirs() {
    if (process.env.AGENTAUTHZ_INCLUDE) return process.env.AGENTAUTHZ_INCLUDE.split(':');
    // run-tests.sh runs a copy of the binding in an out-of-tree build, where
    // the tree above is the build's: top_srcdir (set by make) names the source.
    const top = process.env.top_srcdir ? path.resolve(process.env.top_srcdir)
        : path.join(__dirname, '..', '..', '..');
    const build = process.env.top_builddir || top;
    return [path.join(top, 'include'), path.join(build, 'include')];
}

function program() {
    const lines = ['#include <stddef.h>', '#include <stdio.h>', '#include <agentauthz.h>',
        'int main(void) {'];
    for (const [name, [, fields]] of Object.entries(STRUCTS)) {
        lines.push(`    printf("${name} %zu\\n", sizeof(${name}));`);
        for (const f of fields) {
            lines.push(`    printf("${name}.${f} %zu\\n", offsetof(${name}, ${f}));`);
        }
    }
    lines.push('    return 0;', '}');
    return lines.join('\n') + '\n';
}

function compiler() {
    for (const cc of [process.env.CC, 'cc', 'gcc', 'clang'].filter(Boolean)) {
        try {
            execFileSync(cc, ['--version'], { stdio: 'ignore' });
            return cc;
        } catch (e) {
            // Try the next one.
        }
    }
    return null;
}

test('koffi struct layouts match the C header', (t) => {
    const cc = compiler();
    const dirs = includeDirs();
    const has = (f) => dirs.some((d) => fs.existsSync(path.join(d, f)));
    if (!cc || !has('agentauthz.h') || !has('agentauthz/version.h')) {
        t.skip('no C compiler, or no agentauthz.h and generated agentauthz/version.h ' +
            '(set top_builddir or AGENTAUTHZ_INCLUDE)');
        return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'azlayout-'));
    try {
        fs.writeFileSync(path.join(dir, 'layout.c'), program());
        const exe = path.join(dir, 'layout');
        execFileSync(cc, ['-std=c11', ...dirs.map((d) => `-I${d}`), '-o', exe,
            path.join(dir, 'layout.c')]);
        const c = new Map(execFileSync(exe, { encoding: 'utf8' }).trim().split('\n')
            .map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
        for (const [name, [type, fields]] of Object.entries(STRUCTS)) {
            assert.equal(ffi.koffi.sizeof(type), c.get(name), `sizeof ${name}`);
            for (const f of fields) {
                assert.equal(ffi.koffi.offsetof(type, f), c.get(`${name}.${f}`), `${name}.${f}`);
            }
        }
        for (const [name, type] of Object.entries(TWINS)) {
            assert.equal(ffi.koffi.sizeof(type), c.get(name), `sizeof ${name} (input twin)`);
            for (const f of STRUCTS[name][1]) {
                assert.equal(ffi.koffi.offsetof(type, f), c.get(`${name}.${f}`), `${name}.${f} (twin)`);
            }
        }
        assert.equal(ffi.SIZE.decision, c.get('agentauthz_decision'));
        assert.equal(ffi.OFF.decSeq, c.get('agentauthz_decision.seq'));
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
