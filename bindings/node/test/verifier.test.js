'use strict';
/* Verifiers (a cache and a revocation list) and engine.checkToken for downstream services. */

const test = require('node:test');
const assert = require('node:assert/strict');
const util = require('node:util');

const az = require('..');
const { Keys, Verifier, Engine } = az;
const { POLICY, engineWithPolicy } = require('./helpers');

const NOW = 1_700_000_000;

function sign(keys, extra = {}) {
    return keys.signToken({ identity: 'agent/1', task: 'work', session: 's'.repeat(32),
        audience: 'aud', iat: NOW, exp: NOW + 600, tools: ['http.get', 'db.*'], ...extra });
}

/* token with one character of its payload changed (the signature left as it was). */
function tamper(token) {
    const parts = token.split('.');
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url'));
    payload.scope = 'admin';
    parts[1] = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return parts.join('.');
}

test('a Verifier caches verified tokens and honours revocation', () => {
    const keys = Keys.generate();
    const token = sign(keys);
    const v = new Verifier(keys.publicText, { audience: 'aud', cacheEntries: 16 });
    assert.equal(v.verify(token, NOW + 1).task, 'work');
    assert.equal(v.verify(token, NOW + 2).task, 'work', 'from the cache');
    v.revoke('s'.repeat(32));
    v.revoke('s'.repeat(32));
    assert.throws(() => v.verify(token, NOW + 3), (e) => e instanceof az.SessionEndedError &&
        e instanceof az.AgentAuthzError && e.code === 'ESESSION');
    // Revoking a parent refuses its children's tokens too.
    const child = sign(keys, { session: 'c'.repeat(32), parent: 'p'.repeat(32) });
    assert.equal(v.verify(child, NOW).parent, 'p'.repeat(32));
    v.revoke('p'.repeat(32));
    assert.throws(() => v.verify(child, NOW), az.SessionEndedError);
    assert.throws(() => v.revoke('a\0b'), TypeError);
    assert.equal(util.inspect(v), 'Verifier { audience: "aud" }');
    v.close();
    v.close();
    assert.equal(v.closed, true);
    assert.throws(() => v.verify(token, NOW), (e) => e instanceof az.InvalidArgumentError);
    assert.throws(() => v.revoke('x'), { code: 'EINVAL' });
    assert.match(String(v), /closed/);
    keys.close();
});

test('a Verifier refuses tampered, expired, early, misdirected and foreign tokens', () => {
    const keys = Keys.generate();
    const other = Keys.generate();
    const token = sign(keys);
    for (const cache of [0, 64]) {
        const v = new Verifier(keys, { audience: 'aud', cacheEntries: cache, skew: 60 });
        // Verified (and cached) first: a cache must not let anything through later.
        assert.equal(v.verify(token, NOW).identity, 'agent/1');
        assert.throws(() => v.verify(tamper(token), NOW), (e) => e instanceof az.SignatureError &&
            e instanceof az.TokenError && e.code === 'ESIGNATURE');
        assert.throws(() => v.verify(token, NOW + 600 + 61), (e) => e instanceof az.ExpiredError &&
            e.code === 'EEXPIRED');
        assert.doesNotThrow(() => v.verify(token, NOW + 600 + 59));
        assert.throws(() => v.verify(token, NOW - 61), (e) => e.constructor === az.TokenError &&
            e.code === 'ETOKEN');
        assert.throws(() => v.verify(other.signToken({ identity: 'a', task: 'work',
            session: 's'.repeat(32), audience: 'aud', iat: NOW, exp: NOW + 60 }), NOW),
        az.KeyIdError);
        assert.throws(() => v.verify(sign(keys, { audience: 'elsewhere' }), NOW), az.AudienceError);
        for (const junk of ['', 'a.b.', token.slice(0, -3), token + 'x']) {
            assert.throws(() => v.verify(junk, NOW), az.TokenError);
        }
        for (const junk of ['x'.repeat(9000), Buffer.alloc(9000)]) {
            assert.throws(() => v.verify(junk, NOW), az.LimitError);
        }
        try {
            v.verify(tamper(token), NOW);
        } catch (e) {
            assert.ok(!e.message.includes(token.split('.')[2]), 'errors never quote the token');
        }
        assert.throws(() => v.verify(token, -1), RangeError);
        assert.throws(() => v.verify(token, 1.5), RangeError);
        v.close();
    }
    assert.throws(() => new Verifier(keys, { cacheEntries: -1 }), RangeError);
    assert.throws(() => new Verifier(keys, { cacheEntries: 2 ** 21 }), RangeError);
    assert.throws(() => new Verifier(keys, { skew: 86401 }), RangeError);
    assert.throws(() => new Verifier('azpk1.bad'), az.CryptoError);
    keys.close();
    other.close();
});

/* An upstream engine with its own keys, a session of task work and its task token. */
function upstream(options = {}) {
    const keys = Keys.generate();
    const engine = new Engine({ keys, ...options });
    engine.loadString(POLICY, 'up.yaml');
    const s = engine.session('agent/1', 'work');
    const token = s.lease(s.check({ tool: 'http.get' }), 'tok').withValue((b) => b.toString('utf8'));
    return { keys, engine, s, token };
}

test('checkToken checks a token-bearing call under the downstream policy', () => {
    const up = upstream();
    const down = engineWithPolicy().engine;
    const ver = new Verifier(up.keys.publicText, { audience: 'https://api.example' });
    try {
        let d = down.checkToken(ver, up.token, 'db.query');
        assert.deepEqual([d.effect, d.rule], ['allow', 'db']);
        assert.ok(d instanceof az.Decision);
        d = down.checkToken(ver, up.token, 'db.query', { args: { sql: 'DROP x' } });
        assert.deepEqual([d.effect, d.rule], ['deny', 'no-drop']);
        d = down.checkToken(ver, up.token, { tool: 'read_file', resource: '/kb/.env' });
        assert.deepEqual([d.effect, d.rule], ['deny', 'no-env']);
        d = down.checkToken(ver, up.token, 'not-in-token');
        assert.deepEqual([d.effect, d.rule], ['deny', 'session']);
        assert.throws(() => down.checkToken(ver, tamper(up.token), 'db.query'), az.SignatureError);
        assert.throws(() => down.checkToken(ver, 'garbage', 'db.query'), az.TokenError);
        assert.throws(() => down.checkToken(ver, 'x'.repeat(9000), 'db.query'), az.LimitError);
        ver.revoke(up.s.id);
        assert.throws(() => down.checkToken(ver, up.token, 'db.query'), az.SessionEndedError);
        assert.throws(() => down.checkToken({}, up.token, 'db.query'), TypeError);
        assert.throws(() => down.checkToken(ver, up.token, 'db\0query'), TypeError);
        const wrongAud = new Verifier(up.keys, { audience: 'https://other.example' });
        assert.throws(() => down.checkToken(wrongAud, up.token, 'db.query'), az.AudienceError);
        wrongAud.close();
        ver.close();
        assert.throws(() => down.checkToken(ver, up.token, 'db.query'), { code: 'EINVAL' });
        down.close();
        const v2 = new Verifier(up.keys);
        assert.throws(() => down.checkToken(v2, up.token, 'db.query'), { code: 'EINVAL' });
        v2.close();
    } finally {
        up.engine.close();
        up.keys.close();
        down.close();
    }
});

test('checkToken refuses an expired token and fails closed on a broken clock', () => {
    // Tokens from an engine whose wall clock says 1970: long expired now.
    const old = upstream({ wallClock: () => 1000n * 10n ** 9n });
    const ver = new Verifier(old.keys);
    let broken = false;
    const down = new Engine({ clock: () => {
        if (broken) throw new Error('clock on fire');
        return 10n ** 9n;
    } });
    down.loadString(POLICY, 'down.yaml');
    try {
        assert.equal(ver.verify(old.token, 1100).task, 'work');
        assert.throws(() => down.checkToken(ver, old.token, 'db.query'), az.ExpiredError);
        const fresh = upstream();
        const v2 = new Verifier(fresh.keys);
        assert.equal(down.checkToken(v2, fresh.token, 'db.query').effect, 'allow');
        broken = true;
        const d = down.checkToken(v2, fresh.token, 'db.query');
        assert.equal(d.effect, 'deny');
        assert.match(d.reason, /clock failed/);
        v2.close();
        fresh.engine.close();
        fresh.keys.close();
    } finally {
        ver.close();
        down.close();
        old.engine.close();
        old.keys.close();
    }
});

test('a Verifier closed by a callback during checkToken is freed only after it', () => {
    const up = upstream();
    let ver = null;
    let closedInside = false;
    const down = new Engine({ clock: () => {
        if (ver && !closedInside) {
            ver.close();
            closedInside = true;
        }
        return 10n ** 9n;
    } });
    down.loadString(POLICY, 'down.yaml');
    try {
        ver = new Verifier(up.keys);
        const d = down.checkToken(ver, up.token, 'db.query');
        assert.equal(closedInside, true);
        assert.equal(d.effect, 'allow');
        assert.equal(ver.closed, true);
        assert.throws(() => ver.verify(up.token), { code: 'EINVAL' });
    } finally {
        down.close();
        up.engine.close();
        up.keys.close();
    }
});

test('a Verifier over a JWK Set: key rotation, unknown keys, refused sets', () => {
    const keys = Keys.generate();
    const other = Keys.generate();
    const jwk = JSON.parse(keys.jwks).keys[0];
    assert.deepEqual(jwk, { kty: 'OKP', crv: 'Ed25519', x: keys.publicKey.toString('base64url'),
        kid: keys.kid, alg: 'EdDSA', use: 'sig' });
    assert.equal(az.jwks(keys.publicText), keys.jwks);
    assert.equal(az.keyId(keys.publicKey), keys.kid);
    const both = new Verifier(null, { jwks: { keys: [jwk, JSON.parse(other.jwks).keys[0]] } });
    assert.equal(both.verify(sign(keys), NOW).identity, 'agent/1');
    assert.equal(both.verify(sign(other), NOW).identity, 'agent/1');
    both.close();
    const one = new Verifier(null, { jwks: other.jwks, audience: 'aud' });
    assert.throws(() => one.verify(sign(keys), NOW), (e) => e instanceof az.KeyIdError &&
        e instanceof az.TokenError && e.code === 'EKEYID');
    one.close();
    assert.throws(() => new Verifier(null, { jwks: { keys: [{ ...jwk, d: jwk.x }] } }),
        az.CryptoError);
    assert.throws(() => new Verifier(keys, { jwks: keys.jwks }), TypeError);
    assert.throws(() => new Verifier(null), TypeError);
    const engine = new Engine({ keys });
    assert.equal(engine.jwks, keys.jwks);
    engine.close();
    keys.close();
    other.close();
});

/* A token of this header over the payload of a good one, with its (now wrong) signature. */
function withHeader(token, header) {
    const parts = token.split('.');
    parts[0] = Buffer.from(JSON.stringify(header)).toString('base64url');
    return parts.join('.');
}

test('a Verifier refuses alg none, other algorithms, unknown kids and other types', () => {
    const keys = Keys.generate();
    const token = sign(keys);
    const kid = keys.kid;
    const v = new Verifier(keys);
    assert.throws(() => v.verify(withHeader(token, { alg: 'none', typ: 'txntoken+jwt', kid }), NOW),
        (e) => e instanceof az.AlgorithmError && e.code === 'EALGORITHM' && /none/.test(e.message));
    assert.throws(() => v.verify(withHeader(token, { alg: 'RS256', typ: 'txntoken+jwt', kid }), NOW),
        az.AlgorithmError);
    assert.throws(() => v.verify(withHeader(token, { alg: 'EdDSA', typ: 'txntoken+jwt' }), NOW),
        az.KeyIdError);
    assert.throws(() => v.verify(withHeader(token, { alg: 'EdDSA', typ: 'JWT', kid }), NOW),
        (e) => e instanceof az.TokenTypeError && e.code === 'ETOKENTYPE');
    // The near miss: an acceptable header reaches the signature check.
    assert.throws(() => v.verify(withHeader(token, { kid, typ: 'txntoken+jwt', alg: 'EdDSA' }), NOW),
        az.SignatureError);
    v.close();
    keys.close();
});
