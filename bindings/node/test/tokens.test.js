'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const az = require('..');
const { verifyToken } = az;
const { engineWithPolicy } = require('./helpers');

/* The session's task token (the `tok` secret), as text. */
function issueToken() {
    const { engine } = engineWithPolicy();
    const s = engine.session('agent/9', 'work');
    const d = s.check({ tool: 'http.get' });
    const token = s.lease(d, 'tok').withValue((b) => b.toString('utf8'));
    return { engine, s, token };
}

test('verifyToken checks a task token offline and returns its claims', () => {
    const { engine, s, token } = issueToken();
    try {
        const [h] = token.split('.');
        assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url')),
            { alg: 'EdDSA', typ: 'txntoken+jwt', kid: az.keyId(engine.publicKey) });
        for (const key of [engine.publicKeyText, engine.publicKey, new Uint8Array(engine.publicKey)]) {
            const c = verifyToken(key, token, { audience: 'https://api.example' });
            assert.equal(c.identity, 'agent/9');
            assert.equal(c.task, 'work');
            assert.equal(c.session, s.id);
            assert.equal(c.audience, 'https://api.example');
            assert.equal(c.parent, null);
            assert.ok(c.tools.includes('http.get'));
            assert.ok(Number.isInteger(c.iat) && c.exp > c.iat);
        }
        const c = verifyToken(engine.publicKey, token);
        assert.equal(c.identity, 'agent/9', 'no audience required: any is accepted');
    } finally {
        engine.close();
    }
});

test('verifyToken refuses wrong audience, expiry, forgery and garbage', () => {
    const { engine, token } = issueToken();
    const other = engineWithPolicy().engine;
    try {
        const pk = engine.publicKey;
        const claims = verifyToken(pk, token);
        assert.throws(() => verifyToken(pk, token, { audience: 'https://other.example' }),
            { code: 'EAUDIENCE' });
        assert.throws(() => verifyToken(pk, token, { now: claims.exp + 61 }), { code: 'EEXPIRED' });
        assert.doesNotThrow(() => verifyToken(pk, token, { now: claims.exp + 59 }));
        assert.throws(() => verifyToken(pk, token, { now: claims.exp + 10, skew: 0 }),
            { code: 'EEXPIRED' });
        assert.throws(() => verifyToken(other.publicKey, token), { code: 'EKEYID' });
        const parts = token.split('.');
        const payload = JSON.parse(Buffer.from(parts[1], 'base64url'));
        payload.sub = 'admin';
        parts[1] = Buffer.from(JSON.stringify(payload)).toString('base64url');
        assert.throws(() => verifyToken(pk, parts.join('.')), { code: 'ESIGNATURE' });
        for (const junk of ['', 'a.b.', 'x..y', token + '.x', '\u0000\u00ff',
            token.replace('.', '.e30')]) {
            assert.throws(() => verifyToken(pk, junk),
                (e) => ['ETOKEN', 'ESIGNATURE'].includes(e.code), junk.slice(0, 20));
        }
        assert.throws(() => verifyToken(pk, 'x'.repeat(9000)), { code: 'ELIMIT' });
        try {
            verifyToken(pk, token, { audience: 'nope' });
        } catch (e) {
            assert.ok(!e.message.includes(parts[2]), 'errors never quote the token');
        }
        assert.throws(() => verifyToken('azpk1.short', token), { code: 'ECRYPTO' });
        assert.throws(() => verifyToken(Buffer.alloc(31), token), { code: 'ECRYPTO' });
        assert.throws(() => verifyToken(pk, token, { skew: 86401 }), RangeError);
        assert.throws(() => verifyToken(pk, token, { skew: -1 }), RangeError);
        assert.throws(() => verifyToken(pk, token, { now: 1.5 }), RangeError);
        assert.throws(() => verifyToken(pk, token, { audience: 'a\0b' }), TypeError);
    } finally {
        engine.close();
        other.close();
    }
});
