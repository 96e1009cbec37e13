'use strict';
/* Keys: generation, key files, signing, and engines that borrow them. */

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const util = require('node:util');

const az = require('..');
const { Keys, Engine, verifyToken } = az;
const { POLICY } = require('./helpers');

function tmpdir(t) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'azkeys-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    return dir;
}

/* Claims signToken takes, valid for ten minutes from now. */
function claims(extra = {}) {
    const now = Math.floor(Date.now() / 1000);
    return { identity: 'agent/1', task: 'work', session: 's'.repeat(32), audience: 'aud',
        iat: now, exp: now + 600, tools: ['http.get', 'db.*'], ...extra };
}

test('Keys.generate makes keys whose public half is all that shows', () => {
    const k = Keys.generate();
    const text = k.publicText;
    assert.match(text, /^azpk1\.[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(Buffer.from(text.slice(6), 'base64url'), k.publicKey);
    assert.equal(k.publicKey.length, 32);
    assert.equal(util.inspect(k), `Keys { public: ${text} }`);
    assert.equal(String(k), `Keys { public: ${text} }`);
    assert.equal(JSON.stringify(k), JSON.stringify({ public: text }));
    const other = Keys.generate();
    assert.notEqual(other.publicText, text);
    other.close();
    k.close();
    assert.throws(() => new Keys(), TypeError, 'only the factories make Keys');
});

test('a key file round-trips, is mode 0600 and is never replaced', (t) => {
    const dir = tmpdir(t);
    const file = path.join(dir, 'engine.keys');
    const k = Keys.generate();
    k.saveFile(file);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.throws(() => k.saveFile(file), (e) => e instanceof az.FileError && e.code === 'EEXIST');
    const text = fs.readFileSync(file, 'utf8');
    assert.match(text, /^agentauthz-keys v1\nsign: /);
    const fromFile = Keys.loadFile(file);
    const fromText = Keys.load(text);
    const fromBytes = Keys.load(fs.readFileSync(file));
    for (const loaded of [fromFile, fromText, fromBytes]) {
        assert.equal(loaded.publicText, k.publicText);
        loaded.close();
    }
    fs.chmodSync(file, 0o644);
    assert.throws(() => Keys.loadFile(file), (e) => e instanceof az.FileError &&
        e.code === 'EPERM' && e.message.includes(file));
    assert.throws(() => Keys.loadFile(path.join(dir, 'missing')), az.FileError);
    assert.throws(() => Keys.loadFile('a\0b'), TypeError);
    k.close();
});

test('malformed key text is refused without quoting the keys', () => {
    const good = Keys.generate();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'azkeys-'));
    const file = path.join(dir, 'k');
    good.saveFile(file);
    const text = fs.readFileSync(file, 'utf8');
    fs.rmSync(dir, { recursive: true, force: true });
    const lines = text.trim().split('\n');
    const secrets = lines.slice(1).map((l) => l.split(': ')[1]);
    // The last key's final character made invalid: the error must say where, not what.
    const broken = text.trimEnd().slice(0, -1) + '!\n';
    for (const bad of ['', 'agentauthz-keys v1\n', '\0'.repeat(200), broken,
        'agentauthz-keys v2\nsign: a\nmaster: b\naudit: c\n', Buffer.from(broken)]) {
        let err;
        try {
            Keys.load(bad);
        } catch (e) {
            err = e;
        }
        assert.ok(err instanceof az.CryptoError, String(err));
        for (const s of secrets) {
            assert.ok(!err.message.includes(s.slice(0, 12)), 'errors never hold key bytes');
            assert.ok(!util.inspect(err).includes(s.slice(0, 12)));
        }
    }
    assert.throws(() => Keys.load('x'.repeat(5000)), (e) => e instanceof az.LimitError);
    assert.throws(() => Keys.load(Buffer.alloc(5000, 120)), az.LimitError);
    assert.throws(() => Keys.load(42), TypeError);
    good.close();
});

test('closed keys are misuse, and closing twice is harmless', () => {
    const k = Keys.generate();
    k.close();
    k.close();
    assert.equal(k.closed, true);
    assert.throws(() => k.publicText, (e) => e instanceof az.InvalidArgumentError &&
        e.code === 'EINVAL');
    assert.throws(() => k.signToken(claims()), { code: 'EINVAL' });
    assert.equal(util.inspect(k), 'Keys { closed }');
    assert.throws(() => new Engine({ keys: k }), { code: 'EINVAL' });
});

test('signToken signs claims that verifyToken and a Verifier accept', () => {
    const k = Keys.generate();
    const token = k.signToken(claims({ issuer: 'me', parent: 'p'.repeat(32),
        params: { ticket: 'T-1', n: 2 } }));
    const [h, p] = token.split('.');
    assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url')),
        { alg: 'EdDSA', typ: 'txntoken+jwt', kid: k.kid });
    assert.deepEqual(JSON.parse(Buffer.from(p, 'base64url')).tctx,
        { tools: ['http.get', 'db.*'], parent: 'p'.repeat(32), params: { ticket: 'T-1', n: 2 } });
    const c = verifyToken(k.publicText, token, { audience: 'aud' });
    assert.deepEqual([c.identity, c.task, c.issuer, c.parent], ['agent/1', 'work', 'me', 'p'.repeat(32)]);
    assert.deepEqual(c.tools, ['http.get', 'db.*']);
    assert.deepEqual(c.params, { ticket: 'T-1', n: 2 });
    assert.equal(c.exp - c.iat, 600);
    assert.equal(verifyToken(k, token).audience, 'aud', 'Keys work as the public key');
    assert.equal(verifyToken(k.publicKey, Buffer.from(token)).session, 's'.repeat(32));
    // The claims verifyToken returns sign again to an equivalent token.
    assert.deepEqual(verifyToken(k, k.signToken(c)), c);
    assert.throws(() => k.signToken(claims({ iat: 10, exp: 5 })), az.InvalidArgumentError);
    assert.throws(() => k.signToken(claims({ tools: Array(257).fill('t') })), az.LimitError);
    assert.throws(() => k.signToken(claims({ identity: 'a\0b' })), TypeError);
    assert.throws(() => k.signToken(claims({ iat: 1.5 })), RangeError);
    assert.throws(() => k.signToken(claims({ exp: -1 })), RangeError);
    assert.throws(() => k.signToken(null), TypeError);
    k.close();
});

test('an engine uses the keys it is given, and outlives their close()', () => {
    const k = Keys.generate();
    const engine = new Engine({ keys: k });
    engine.loadString(POLICY, 'p.yaml');
    assert.equal(engine.publicKeyText, k.publicText);
    // The engine borrows the keys: close() marks them closed, the engine keeps working.
    k.close();
    assert.equal(k.closed, true);
    assert.throws(() => k.publicText, { code: 'EINVAL' });
    const s = engine.session('agent/1', 'work');
    const d = s.check({ tool: 'http.get' });
    const token = s.lease(d, 'tok').withValue((b) => b.toString('utf8'));
    assert.equal(verifyToken(engine.publicKeyText, token).session, s.id);
    engine.close();
    assert.throws(() => new Engine({ keys: 'keys' }), TypeError);
    // Two engines on the same keys sign tokens that verify with either's key.
    const k2 = Keys.generate();
    const e1 = new Engine({ keys: k2 });
    const e2 = new Engine({ keys: k2 });
    assert.equal(e1.publicKeyText, e2.publicKeyText);
    e1.close();
    assert.equal(k2.publicText, e2.publicKeyText, 'keys stay usable while open');
    e2.close();
    k2.close();
});

/* The garbage collector, for tests of what finalizers do. */
function collector() {
    require('node:v8').setFlagsFromString('--expose-gc');
    return require('node:vm').runInNewContext('gc');
}

test('keys dropped without close() stay alive while an engine borrows them', async () => {
    const gc = collector();
    const engine = (() => new Engine({ keys: Keys.generate() }))();
    const pk = engine.publicKeyText;
    // Dropped Verifiers and Keys are freed by their finalizers, without a crash.
    for (let i = 0; i < 50; i++) new az.Verifier(Keys.generate(), { cacheEntries: 8 });
    for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((r) => setImmediate(r));
    }
    // The engine still signs with the keys nobody references any more.
    engine.loadString(POLICY, 'p.yaml');
    const s = engine.session('agent/1', 'work');
    const token = s.lease(s.check({ tool: 'http.get' }), 'tok').withValue((b) => b.toString('utf8'));
    assert.equal(verifyToken(pk, token).session, s.id);
    engine.close();
});
