'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const util = require('node:util');

const az = require('..');
const { Engine, FakeClock, PolicyError, AgentAuthzError } = az;
const { POLICY, engineWithPolicy } = require('./helpers');

test('the library loads and reports its version', () => {
    assert.match(az.libraryVersion(), /^\d+\.\d+\.\d+$/);
    assert.equal(az.strerror(az.CODES.EPOLICY), 'invalid policy');
});

test('loadString loads a policy and policyInfo describes it', () => {
    const { engine } = engineWithPolicy();
    const info = engine.policyInfo();
    assert.equal(info.name, 'binding-tests');
    assert.equal(info.rules, 10);
    assert.equal(info.tasks, 5);
    assert.equal(info.secrets, 4);
    assert.equal(info.generation, 1);
    assert.match(info.hash, /^[0-9a-f]{64}$/);
    assert.match(String(engine), /binding-tests/);
    engine.close();
});

test('a session before any policy fails with ENOPOLICY', () => {
    const engine = new Engine();
    assert.throws(() => engine.session('agent/1', 'work'),
        (e) => e instanceof AgentAuthzError && e.code === 'ENOPOLICY' && e.errno === -5);
    assert.throws(() => engine.policyInfo(), { code: 'ENOPOLICY' });
    engine.close();
});

test('load reads files and directories as one policy', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aznode-'));
    try {
        fs.writeFileSync(path.join(dir, 'p.yaml'), POLICY);
        const engine = new Engine();
        assert.deepEqual(engine.load(path.join(dir, 'p.yaml')), []);
        assert.equal(engine.policyInfo().generation, 1);
        engine.load(dir);
        assert.equal(engine.policyInfo().generation, 2);
        assert.throws(() => engine.load(), TypeError);
        engine.close();
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

test('a bad policy throws PolicyError with file, line, column and diagnostics', () => {
    const { engine } = engineWithPolicy();
    const bad = 'agentauthz: 1\nrules:\n  - id: x\n    effect: maybe\n    tools: [a]\n' +
        '  - id: y\n    effect: allow\n    tools: [b]\n    colour: red\n';
    let err;
    try {
        engine.loadString(bad, 'bad.yaml');
    } catch (e) {
        err = e;
    }
    assert.ok(err instanceof PolicyError);
    assert.ok(err instanceof AgentAuthzError);
    assert.equal(err.code, 'EPOLICY');
    assert.equal(err.file, 'bad.yaml');
    assert.equal(err.line, 4);
    assert.equal(err.column, 13);
    assert.match(err.message, /^bad\.yaml:4:13: effect must be allow, deny or ask/);
    assert.ok(err.diagnostics.length >= 2, 'every error is reported');
    assert.equal(err.diagnostics[1].line, 9);
    assert.match(String(err.diagnostics[0]), /^bad\.yaml:4:13: error: /);
    // All or nothing: the old policy stays in force.
    assert.equal(engine.policyInfo().generation, 1);
    engine.close();
});

test('an unreadable file is a PolicyError naming it', () => {
    const engine = new Engine();
    assert.throws(() => engine.load('/nonexistent/agentauthz.yaml'),
        (e) => e instanceof PolicyError && e.file === '/nonexistent/agentauthz.yaml' &&
            e.code === 'EIO');
    engine.close();
});

test('hostile policy text is refused, not crashed on', () => {
    const engine = new Engine();
    const cases = ['', '\0\0\0', 'agentauthz: 1\nrules: [' + '['.repeat(200) + ']'.repeat(200) + ']',
        'a: &x 1\nb: *x\n', 'agentauthz: 1\nagentauthz: 1\nrules: []\n', '\u00ff\ufffe\ud800',
        Buffer.from([0xff, 0xfe, 0x00, 0x80])];
    for (const text of cases) {
        assert.throws(() => engine.loadString(text, 'hostile.yaml'), PolicyError);
    }
    assert.throws(() => engine.loadString(POLICY, 'a\0b'), TypeError);
    engine.close();
});

test('sessions: unknown task, identity without role, parameters', () => {
    const { engine } = engineWithPolicy();
    assert.throws(() => engine.session('agent/1', 'nope'), { code: 'ENOTASK' });
    assert.throws(() => engine.session('stranger', 'work'), { code: 'EIDENTITY' });
    assert.throws(() => engine.session('agent/1', 'admin-only'), { code: 'EIDENTITY' });
    assert.throws(() => engine.session('agent/1', 'pay'), { code: 'EPARAM' });
    assert.throws(() => engine.session('agent/1', 'pay', { params: { customer: 'x', max: 'ten' } }),
        { code: 'EPARAM' });
    assert.throws(() => engine.session('agent/1', 'pay', { params: { customer: 'x', max: NaN } }),
        TypeError);
    const s = engine.session('agent/1', 'pay', { params: { customer: 'c@x', max: 50 } });
    assert.match(s.id, /^[0-9a-f]{32}$/);
    s.close();
    assert.throws(() => engine.session('agent/1', 'work', { ttl: -1 }), RangeError);
    assert.throws(() => engine.session('agent/1', 'work', { ttl: 'soon' }), TypeError);
    assert.throws(() => engine.session('agent\0/1', 'work'), TypeError);
    assert.throws(() => engine.session(42, 'work'), TypeError);
    engine.close();
});

test('a fake clock expires sessions and sweep ends them', () => {
    const { engine, clock } = engineWithPolicy();
    const s = engine.session('agent/1', 'work', { ttl: 60 });
    assert.equal(s.check({ tool: 'read_file', resource: '/kb/a' }).effect, 'allow');
    clock.advance(59);
    assert.equal(s.check({ tool: 'read_file', resource: '/kb/a' }).effect, 'allow');
    clock.advance(1);
    const d = s.check({ tool: 'read_file', resource: '/kb/a' });
    assert.equal(d.effect, 'deny');
    assert.equal(d.rule, 'session');
    assert.equal(d.reason, 'session expired');
    const s2 = engine.session('agent/1', 'work', { ttl: 10 });
    clock.advance(11);
    assert.equal(engine.sweep(), 1);
    assert.equal(s2.check({ tool: 'read_file', resource: '/kb/a' }).rule, 'session');
    engine.close();
});

test('a clock function works as well as a clock object, and a failing clock fails closed', () => {
    let ns = 5n * 10n ** 9n;
    const engine = new Engine({ clock: () => ns });
    engine.loadString(POLICY, 'p.yaml');
    const s = engine.session('agent/1', 'work', { ttl: 5 });
    assert.equal(s.check({ tool: 'read_file', resource: '/kb/a' }).effect, 'allow');
    ns += 6n * 10n ** 9n;
    assert.equal(s.check({ tool: 'read_file', resource: '/kb/a' }).reason, 'session expired');
    engine.close();

    let broken = false;
    const e2 = new Engine({ clock: () => { if (broken) throw new Error('clock on fire'); return 1e9; } });
    e2.loadString(POLICY, 'p.yaml');
    const s2 = e2.session('agent/1', 'work');
    assert.equal(s2.check({ tool: 'read_file', resource: '/kb/a' }).effect, 'allow');
    broken = true;
    const d = s2.check({ tool: 'read_file', resource: '/kb/a' });
    assert.equal(d.effect, 'deny');
    assert.match(d.reason, /clock failed/);
    e2.close();
    assert.throws(() => new Engine({ clock: 'noon' }), TypeError);
    assert.throws(() => new FakeClock().advance(-1), RangeError);
});

test('reload keeps sessions and applies the new policy', () => {
    const { engine } = engineWithPolicy();
    const s = engine.session('agent/1', 'work');
    assert.equal(s.check({ tool: 'read_file', resource: '/kb/a' }).effect, 'allow');
    engine.loadString(POLICY.replace('glob: "/kb/**"', 'glob: "/kb2/**"'), 'p2.yaml');
    assert.equal(engine.policyInfo().generation, 2);
    assert.equal(s.check({ tool: 'read_file', resource: '/kb/a' }).rule, 'default');
    assert.equal(s.check({ tool: 'read_file', resource: '/kb2/a' }).rule, 'read-kb');
    engine.close();
});

test('a closed engine refuses calls and closing twice is harmless', () => {
    const { engine } = engineWithPolicy();
    const s = engine.session('agent/1', 'work');
    engine.close();
    engine.close();
    assert.equal(engine.closed, true);
    assert.equal(s.closed, true, 'closing the engine closes its sessions');
    assert.equal(s.check({ tool: 'read_file' }).rule, 'session');
    assert.throws(() => engine.session('agent/1', 'work'), { code: 'EINVAL' });
    assert.throws(() => engine.loadString(POLICY), { code: 'EINVAL' });
    assert.equal(util.inspect(engine), 'Engine { closed }');
});

test('the public key is 32 bytes and its text form round-trips', () => {
    const engine = new Engine();
    assert.equal(engine.publicKey.length, 32);
    assert.match(engine.publicKeyText, /^azpk1\.[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(Buffer.from(engine.publicKeyText.slice(6), 'base64url'), engine.publicKey);
    engine.close();
});
