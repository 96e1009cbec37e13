'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const util = require('node:util');

const { Lease, Substitution, AgentAuthzError } = require('..');
const { engineWithPolicy } = require('./helpers');

function withWork(fn) {
    const { engine } = engineWithPolicy();
    const s = engine.session('agent/1', 'work');
    try {
        return fn(s, engine);
    } finally {
        engine.close();
    }
}

/* The secret's bytes, copied out for the test to compare (tests only). */
function reveal(lease) {
    return lease.withValue((b) => Buffer.from(b));
}

test('a lease lends the secret to a callback and wipes it after', () => withWork((s) => {
    const d = s.check({ tool: 'db.query', args: { sql: 'select 1' } });
    assert.equal(d.effect, 'allow');
    const lease = s.lease(d, 'db');
    assert.ok(lease instanceof Lease);
    assert.equal(lease.valid, true);
    let kept;
    const n = lease.withValue((buf) => {
        kept = buf;
        assert.ok(Buffer.isBuffer(buf));
        assert.equal(buf.length, 32);
        assert.ok(buf.some((x) => x !== 0), 'random bytes, not zeros');
        return buf.length;
    });
    assert.equal(n, 32);
    assert.ok(kept.every((x) => x === 0), 'the copy is zeroed when the callback returns');
    assert.equal(lease.released, true);
    assert.equal(lease.valid, false);
    assert.throws(() => lease.withValue(() => 1), { code: 'EINVAL' });
    lease.release();
}));

test('a lease is released when the callback throws, and after a promise settles', async () => {
    const { engine } = engineWithPolicy();
    const s = engine.session('agent/1', 'work');
    try {
        const d = s.check({ tool: 'db.query' });
        const l1 = s.lease(d, 'db');
        let kept;
        assert.throws(() => l1.withValue((b) => { kept = b; throw new Error('tool failed'); }),
            /tool failed/);
        assert.equal(l1.released, true);
        assert.ok(kept.every((x) => x === 0));
        const l2 = s.lease(d, 'db');
        const p = l2.withValue(async (b) => {
            await new Promise((r) => setTimeout(r, 5));
            assert.equal(l2.released, false, 'held while the promise is pending');
            return b.length;
        });
        assert.equal(await p, 32);
        assert.equal(l2.released, true);
    } finally {
        engine.close();
    }
});

test('secrets never show in inspect, String, JSON or template literals', () => withWork((s) => {
    const d = s.check({ tool: 'db.query' });
    const lease = s.lease(d, 'db');
    const secretHex = reveal(s.lease(d, 'db')).toString('hex');
    assert.match(util.inspect(lease), /^Lease \{ secret: "db", held \}$/);
    lease.withValue((buf) => {
        for (const shown of [util.inspect(buf), String(buf), `${buf}`, JSON.stringify({ buf }),
            buf.toLocaleString(), util.format('%s %o %O', buf, buf, buf)]) {
            assert.ok(!shown.includes(secretHex), shown);
            assert.match(shown, /redacted/);
        }
        // An explicit encoding is how a program hands the value on.
        assert.equal(buf.toString('hex'), secretHex);
    });
    assert.ok(!util.inspect(s).includes(secretHex));
    assert.ok(!JSON.stringify(s).includes(secretHex));
}));

test('leases are refused for denied checks, other tools and unknown secrets', () => withWork((s) => {
    const denied = s.check({ tool: 'db.query', args: { sql: 'DROP x' } });
    assert.equal(denied.effect, 'deny');
    assert.throws(() => s.lease(denied, 'db'), { code: 'EDENIED' });
    const http = s.check({ tool: 'http.get' });
    assert.throws(() => s.lease(http, 'db'), { code: 'EDENIED' }, 'db is bound to db.query');
    const q = s.check({ tool: 'db.query' });
    assert.throws(() => s.lease(q, 'nope'), { code: 'ENOTFOUND' });
    assert.throws(() => s.lease({ effect: 'allow', seq: 1 }, 'db'), TypeError);
    // Editing a denied decision's public fields does not make it an allowed one.
    denied.effect = 'allow';
    denied.allowed = true;
    assert.throws(() => s.lease(denied, 'db'), { code: 'EDENIED' });
    assert.throws(() => s.lease(q, 'db\0'), TypeError);
}));

test('a held lease is wiped when the session ends', () => withWork((s) => {
    const lease = s.lease(s.check({ tool: 'db.query' }), 'db');
    s.revoke();
    assert.equal(lease.valid, false);
    assert.throws(() => lease.withValue(() => 1), (e) => e instanceof AgentAuthzError &&
        e.code === 'ESESSION');
    assert.equal(lease.released, true);
}));

test('substitute fills placeholders for an allowed action, all or nothing', () => withWork((s) => {
    const d = s.check({ tool: 'http.get', args: { url: 'https://api.example/x' } });
    const apiKey = reveal(s.lease(d, 'api'));
    const sub = s.substitute(d, 'Authorization: Bearer ${secret:api}\r\n');
    assert.ok(sub instanceof Substitution);
    assert.match(util.inspect(sub), /held/);
    const text = sub.withValue((b) => Buffer.from(b));
    assert.deepEqual(text, Buffer.concat([Buffer.from('Authorization: Bearer '), apiKey,
        Buffer.from('\r\n')]));
    assert.equal(sub.released, true);
    assert.throws(() => s.substitute(d, 'x ${secret:db}'), { code: 'EDENIED' });
    assert.throws(() => s.substitute(d, 'x ${secret:api'), { code: 'EINVAL' });
    assert.equal(s.substitute(d, '').withValue((b) => b.length), 0);
}));

test('scrub redacts live secrets in every encoding', () => withWork((s) => {
    const db = reveal(s.lease(s.check({ tool: 'db.query' }), 'db'));
    const percent = [...db].map((x) => '%' + x.toString(16).toUpperCase().padStart(2, '0')).join('');
    for (const text of [db.toString('hex'), db.toString('base64'), db.toString('base64url'), percent]) {
        const out = s.scrub(`row: ${text} end`);
        // The library redacts the part of a base64 text that is the same at
        // any alignment, so up to one character of the last group (and its
        // padding) may stay: at most 6 bits of the secret.
        assert.match(out, /^row: \[redacted:db\][A-Za-z0-9+/_=-]{0,3} end$/, text);
        assert.ok(!out.includes(text.slice(0, 16)), text);
    }
    assert.equal(s.scrub(`row: ${db.toString('hex')} end`), 'row: [redacted:db] end');
    const bytes = s.scrub(Buffer.concat([Buffer.from('raw:'), db]));
    assert.ok(Buffer.isBuffer(bytes));
    assert.equal(bytes.toString(), 'raw:[redacted:db]');
    assert.equal(s.scrub(''), '');
    assert.equal(s.scrub('nothing secret here'), 'nothing secret here');
    assert.throws(() => s.scrub(42), TypeError);
    // A leaked secret in a check's arguments is denied by the engine itself.
    const leak = s.check({ tool: 'db.query', args: { sql: db.toString('hex') } });
    assert.deepEqual([leak.effect, leak.rule], ['deny', 'leak']);
}));
