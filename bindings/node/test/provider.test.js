'use strict';
/* The host secret provider: secretIssue and secretRevoke callbacks, and how they fail closed. */

const test = require('node:test');
const assert = require('node:assert/strict');
const util = require('node:util');

const az = require('..');
const { Engine, FakeClock } = az;
const { POLICY } = require('./helpers');

const VALUE = 'ghp_0123456789abcdefghij';

function hostEngine(options) {
    const engine = new Engine({ clock: new FakeClock(), ...options });
    engine.loadString(POLICY, 'p.yaml');
    return engine;
}

/* The process warnings emitted while fn runs (they are emitted on the next tick). */
async function warningsOf(fn) {
    const seen = [];
    const on = (w) => seen.push(w);
    process.on('warning', on);
    try {
        fn();
        await new Promise((r) => setImmediate(r));
    } finally {
        process.off('warning', on);
    }
    return seen;
}

test('secretIssue provides a host secret and secretRevoke hears of its end', () => {
    const issued = [];
    const revoked = [];
    const engine = hostEngine({
        secretIssue: (req) => {
            issued.push(req);
            return Buffer.from(VALUE);
        },
        secretRevoke: (req) => revoked.push(req),
    });
    try {
        const s = engine.session('agent/1', 'host', { ttl: 120 });
        assert.equal(issued.length, 1);
        assert.deepEqual({ ...issued[0] }, { secret: 'gh', session: s.id, identity: 'agent/1',
            task: 'host', ttl: 120 });
        assert.ok(Object.isFrozen(issued[0]));
        const d = s.check({ tool: 'git.push' });
        assert.equal(s.lease(d, 'gh').withValue((b) => b.toString('utf8')), VALUE);
        assert.equal(s.scrub(`push ${VALUE}`), 'push [redacted:gh]');
        const leak = s.check({ tool: 'git.push', args: { note: VALUE } });
        assert.deepEqual([leak.effect, leak.rule], ['deny', 'leak']);
        assert.equal(revoked.length, 0);
        s.close();
        assert.equal(revoked.length, 1);
        assert.deepEqual([revoked[0].secret, revoked[0].session], ['gh', s.id]);
        // A Uint8Array that is not a Buffer works as well.
        const e2 = hostEngine({ secretIssue: () => new Uint8Array(Buffer.from(VALUE)) });
        const s2 = e2.session('agent/1', 'host');
        assert.equal(s2.lease(s2.check({ tool: 'git.push' }), 'gh').withValue((b) => b.length),
            VALUE.length);
        e2.close();
    } finally {
        engine.close();
    }
});

test('a secretIssue that throws or returns anything but 8 to 4096 bytes refuses', async () => {
    const bad = [
        () => { throw new Error(`vault down; last value was ${VALUE}`); },
        () => Buffer.alloc(0),
        () => Buffer.from('short'),
        () => Buffer.alloc(5000, 1),
        () => VALUE, // a string: secrets are bytes, never JS strings
        () => null,
        () => [1, 2, 3, 4, 5, 6, 7, 8, 9],
        async () => Buffer.from(VALUE), // too late: the library needs the value now
        async () => { throw new Error('rejected'); },
    ];
    const rejections = [];
    const onRejection = (e) => rejections.push(e);
    process.on('unhandledRejection', onRejection);
    try {
        for (const fn of bad) {
            const engine = hostEngine({ secretIssue: fn });
            let err;
            try {
                engine.session('agent/1', 'host');
            } catch (e) {
                err = e;
            }
            assert.ok(err instanceof az.ProviderError, `${fn}: ${err}`);
            assert.equal(err.code, 'EPROVIDER');
            assert.ok(!err.message.includes(VALUE), 'the callback\'s error is not passed on');
            assert.ok(!util.inspect(err).includes(VALUE));
            // The engine is unharmed: sessions without host secrets open.
            assert.equal(engine.session('agent/1', 'work').check({ tool: 'db.query' }).effect, 'allow');
            engine.close();
        }
        await new Promise((r) => setTimeout(r, 10));
        assert.deepEqual(rejections, [], 'a rejected promise is handled, not left to crash');
    } finally {
        process.off('unhandledRejection', onRejection);
    }
    // Without a provider a host secret cannot be issued either.
    const none = hostEngine({});
    assert.throws(() => none.session('agent/1', 'host'), az.ProviderError);
    none.close();
    assert.throws(() => new Engine({ secretIssue: 'vault' }), TypeError);
    assert.throws(() => new Engine({ secretRevoke: 42 }), TypeError);
});

test('a secretRevoke that throws is contained and reported without its message', async () => {
    const engine = hostEngine({
        secretIssue: () => Buffer.from(VALUE),
        secretRevoke: () => { throw new Error(`cannot revoke ${VALUE}`); },
    });
    const s = engine.session('agent/1', 'host');
    const lease = s.lease(s.check({ tool: 'git.push' }), 'gh');
    const warnings = await warningsOf(() => s.close());
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0].code, 'AGENTAUTHZ_REVOKE_FAILED');
    assert.match(warnings[0].message, /secretRevoke callback failed for secret "gh"/);
    assert.ok(!warnings[0].message.includes(VALUE));
    assert.equal(lease.valid, false, 'the library wiped the secret all the same');
    engine.close();
});

test('callbacks cannot re-enter a locked engine or close it under a running call', async () => {
    let engine = null;
    let inside = null;
    engine = hostEngine({
        secretIssue: () => {
            try {
                engine.close();
            } catch (e) {
                inside = e;
            }
            return Buffer.from(VALUE);
        },
        secretRevoke: () => engine.session('agent/1', 'work'),
    });
    const s = engine.session('agent/1', 'host');
    assert.ok(inside instanceof az.InvalidArgumentError, String(inside));
    assert.match(inside.message, /from inside/);
    assert.equal(engine.closed, false);
    // The revoke callback runs with a lock held: its call into the engine is
    // refused (not deadlocked), which the binding reports as a failed revocation.
    const warnings = await warningsOf(() => s.close());
    assert.equal(warnings.length, 1);
    assert.equal(engine.session('agent/1', 'work').check({ tool: 'db.query' }).effect, 'allow');
    engine.close();
});

test('no host secret shows in inspect, String, JSON or errors', () => {
    const engine = hostEngine({ secretIssue: () => Buffer.from(VALUE) });
    try {
        const s = engine.session('agent/1', 'host');
        const d = s.check({ tool: 'git.push' });
        const lease = s.lease(d, 'gh');
        const shown = [util.inspect(engine), String(engine), JSON.stringify(engine),
            util.inspect(s), String(s), JSON.stringify(s), util.inspect(d), String(d),
            JSON.stringify(d), util.inspect(lease), String(lease), JSON.stringify(lease),
            util.inspect(s.substitute(d, 'Bearer ${secret:gh}'))];
        lease.withValue((buf) => {
            shown.push(util.inspect(buf), String(buf), `${buf}`, JSON.stringify({ buf }),
                util.format('%s %o %O', buf, buf, buf));
        });
        const errs = [];
        for (const call of [() => s.lease(s.check({ tool: 'db.query' }), 'gh'),
            () => s.substitute(d, '${secret:gh} ${secret:db}'),
            () => s.lease(s.check({ tool: 'git.push', args: { x: VALUE } }), 'gh'),
            () => az.verifyToken(engine.publicKey, VALUE)]) {
            assert.throws(call, (e) => {
                errs.push(e);
                return e instanceof az.AgentAuthzError;
            });
        }
        shown.push(...errs.map((e) => e.message), ...errs.map((e) => util.inspect(e)),
            ...errs.map(String));
        for (const text of shown) assert.ok(!text.includes(VALUE), text);
    } finally {
        engine.close();
    }
});
