'use strict';
/* The audit log through the binding: a file and a callback, rotation, verification, tampering. */

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const az = require('..');
const { Engine, Keys, FakeClock, auditVerify } = az;
const { POLICY } = require('./helpers');

function setup(t, options = {}) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'azaudit-'));
    const keys = Keys.generate();
    const engine = new Engine({ keys, clock: new FakeClock(), ...options });
    engine.loadString(POLICY, 'p.yaml');
    t.after(() => {
        engine.close();
        keys.close();
        fs.rmSync(dir, { recursive: true, force: true });
    });
    return { dir, keys, engine, log: path.join(dir, 'audit.jsonl') };
}

test('setAudit writes a file and calls a callback with the same verified records', (t) => {
    const { keys, engine, log } = setup(t);
    const lines = [];
    engine.setAudit({ path: log, callback: (line) => lines.push(line) });
    const s = engine.session('agent/1', 'work');
    const d = s.check({ tool: 'db.query', args: { sql: 'select 1' } });
    const secret = s.lease(d, 'db').withValue((b) => Buffer.from(b));
    s.check({ tool: 'read_file', resource: '/kb/.env' });
    s.close();
    engine.setAudit(); // stops (and flushes) the log
    assert.ok(lines.length >= 4);
    for (const line of lines) {
        assert.ok(Buffer.isBuffer(line));
        assert.equal(line[line.length - 1], 0x0a);
        JSON.parse(line);
    }
    const text = fs.readFileSync(log);
    assert.deepEqual(text, Buffer.concat(lines));
    assert.ok(!text.includes(secret) && !text.includes(secret.toString('hex')),
        'no secret value in the log');
    assert.equal(fs.statSync(log).mode & 0o777, 0o600);
    const report = auditVerify(keys, log);
    assert.ok(report instanceof az.AuditReport);
    assert.equal(report.intact, true);
    assert.equal(report.problem, 'intact');
    assert.equal(report.records, lines.length);
    assert.equal(report.lastSeq, lines.length);
    assert.match(String(report), /intact/);
    // Nothing is written once stopped.
    engine.session('agent/1', 'work').check({ tool: 'db.query' });
    assert.equal(fs.readFileSync(log).length, text.length);
});

test('auditVerify finds an edited record and names its file and line', (t) => {
    const { dir, keys, engine, log } = setup(t);
    engine.setAudit({ path: log });
    const s = engine.session('agent/1', 'work');
    s.check({ tool: 'db.query' });
    s.check({ tool: 'db.query' });
    engine.setAudit();
    const lines = fs.readFileSync(log, 'utf8').split(/(?<=\n)/);
    const at = lines.findIndex((l) => l.includes('db.query'));
    lines[at] = lines[at].replace('db.query', 'db.qu3ry');
    assert.notEqual(lines[at], fs.readFileSync(log, 'utf8').split(/(?<=\n)/)[at]);
    fs.writeFileSync(log, lines.join(''));
    let err;
    try {
        auditVerify(keys, log);
    } catch (e) {
        err = e;
    }
    assert.ok(err instanceof az.TamperError && err instanceof az.AgentAuthzError, String(err));
    assert.equal(err.code, 'ETAMPER');
    assert.equal(err.report.problem, 'mac');
    assert.equal(err.report.line, at + 1);
    assert.equal(err.report.path, log);
    assert.equal(err.report.records, at);
    assert.equal(err.report.intact, false);
    // Another engine's keys do not verify it at all.
    const other = Keys.generate();
    fs.writeFileSync(log, lines.join('').replace('db.qu3ry', 'db.query'));
    assert.equal(auditVerify(keys, log).intact, true);
    assert.throws(() => auditVerify(other, log), az.TamperError);
    other.close();
    assert.throws(() => auditVerify(keys, path.join(dir, 'missing.jsonl')), az.FileError);
    assert.throws(() => auditVerify('keys', log), TypeError);
    assert.throws(() => auditVerify(keys), TypeError);
    assert.throws(() => auditVerify(keys, 'a\0b'), TypeError);
});

test('auditVerify takes what the verifier knows: public key, engine, last record', (t) => {
    const { keys, engine, log } = setup(t);
    engine.setAudit({ path: log, checkpointEvery: 2 });
    const s = engine.session('agent/1', 'work');
    for (let i = 0; i < 5; i++) s.check({ tool: 'db.query' });
    engine.setAudit();
    const report = auditVerify(keys, log);
    assert.equal(report.schema, 2);
    assert.equal(report.logId.length, 32);
    assert.equal(report.signedSeq, report.lastSeq);
    const last = report.lastSeq;
    assert.equal(auditVerify({ pubkey: keys.publicText }, log).signedSeq, last);
    assert.equal(auditVerify({ pubkey: keys }, log).intact, true);
    assert.equal(auditVerify({ keys, expectLast: last }, log).intact, true);
    const other = Keys.generate();
    assert.throws(() => auditVerify({ pubkey: other }, log),
        (e) => e instanceof az.TamperError && e.report.problem === 'engine');
    other.close();
    const lines = fs.readFileSync(log, 'utf8').split(/(?<=\n)/);
    fs.writeFileSync(log, lines.slice(0, -1).join(''));
    assert.equal(auditVerify(keys, log).lastSeq, last - 1);
    assert.throws(() => auditVerify({ keys, expectLast: last }, log),
        (e) => e instanceof az.TamperError && e.report.problem === 'end');
    assert.throws(() => auditVerify({ keys, engine: 'someone' }, log),
        (e) => e instanceof az.TamperError && e.report.problem === 'engine');
    fs.writeFileSync(log, '');
    assert.throws(() => auditVerify(keys, log),
        (e) => e instanceof az.TamperError && e.report.problem === 'empty');
    assert.throws(() => auditVerify({}, log), TypeError);
});

test('auditReopen continues the chain in a new file after rotation', (t) => {
    const { keys, engine, log } = setup(t);
    engine.setAudit({ path: log, flush: 'everyN', flushEvery: 2 });
    const s = engine.session('agent/1', 'work');
    s.check({ tool: 'db.query' });
    fs.renameSync(log, log + '.1');
    engine.auditReopen();
    s.check({ tool: 'db.query' });
    s.check({ tool: 'http.get' });
    engine.setAudit();
    const report = auditVerify(keys, log + '.1', log);
    assert.equal(report.intact, true);
    assert.ok(fs.statSync(log).size > 0, 'the new file has the later records');
    assert.throws(() => auditVerify(keys, log), az.TamperError, 'the chain must start at seq 1');
    engine.auditReopen(); // without a log: nothing to do
});

test('setAudit checks its options', (t) => {
    const { engine, log } = setup(t);
    assert.throws(() => engine.setAudit({ path: log, flush: 'sometimes' }), TypeError);
    assert.throws(() => engine.setAudit({ path: log, flushEvery: -1 }), RangeError);
    assert.throws(() => engine.setAudit({ path: log, flush: 'everyN', flushEvery: 0 }),
        az.InvalidArgumentError);
    assert.throws(() => engine.setAudit({ callback: 'log' }), TypeError);
    assert.throws(() => engine.setAudit({ path: 'a\0b' }), TypeError);
    assert.throws(() => engine.setAudit(null), TypeError);
    assert.throws(() => engine.setAudit({ path: path.join(log, 'no', 'such', 'dir') }),
        az.FileError);
    engine.setAudit({ path: log, flush: 'none', fsync: true });
    engine.setAudit({});
    const closed = new Engine();
    closed.close();
    assert.throws(() => closed.setAudit({ path: log }), { code: 'EINVAL' });
    assert.throws(() => closed.auditReopen(), { code: 'EINVAL' });
});

test('an audit callback that throws refuses the record: its check is denied', (t) => {
    const { engine } = setup(t);
    let fail = false;
    const lines = [];
    engine.setAudit({ callback: (line) => {
        if (fail) throw new Error('sink down');
        lines.push(line);
    } });
    const s = engine.session('agent/1', 'work');
    const allowed = s.check({ tool: 'db.query' });
    assert.equal(allowed.effect, 'allow');
    fail = true;
    const d = s.check({ tool: 'db.query' });
    assert.deepEqual([d.effect, d.rule, d.reason],
                     ['deny', 'default', 'the audit record could not be written']);
    fail = false;
    // The refused record was taken back, so the log the sink kept has no hole.
    assert.equal(s.check({ tool: 'db.query' }).effect, 'allow');
    assert.equal(s.lease(allowed, 'db').withValue((b) => b.length), 32);
    const seqs = lines.map((l) => JSON.parse(l.toString()).seq);
    assert.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i));
});

test('an audit callback that rejects or calls the engine fails closed, without a deadlock', async (t) => {
    const { engine } = setup(t);
    engine.setAudit({ callback: async () => { throw new Error('async sink down'); } });
    const s = engine.session('agent/1', 'work');
    s.check({ tool: 'db.query' });
    await new Promise((r) => setImmediate(r));
    assert.match(s.check({ tool: 'db.query' }).reason, /audit callback failed/);

    let inner = null;
    let armed = false; // setAudit itself hands the callback the log's start record
    engine.setAudit({ callback: () => {
        if (!armed) return;
        try {
            s.check({ tool: 'db.query' });
        } catch (e) {
            inner = e;
            throw e;
        }
    } });
    armed = true;
    const d = s.check({ tool: 'db.query' });
    assert.ok(inner instanceof az.InvalidArgumentError, String(inner));
    assert.match(inner.message, /cannot call into the engine/);
    assert.equal(d.effect, 'deny');
    for (const call of [() => engine.policyInfo(), () => engine.close(), () => s.close(),
        () => s.revoke()]) {
        let caught = null;
        engine.setAudit({ callback: () => {
            try {
                call();
            } catch (e) {
                caught = e;
            }
        } });
        s.check({ tool: 'db.query' });
        assert.ok(caught instanceof az.InvalidArgumentError, `${call}: ${caught}`);
    }
    engine.setAudit();
    assert.equal(s.closed, false);
    assert.equal(s.check({ tool: 'db.query' }).effect, 'allow');
});

test('a rejection from a sink already replaced does not count', async (t) => {
    const { engine } = setup(t);
    let reject = null;
    engine.setAudit({ callback: () => new Promise((resolve, rej) => { reject = rej; }) });
    const s = engine.session('agent/1', 'work');
    engine.setAudit({ callback: () => {} });
    reject(new Error('late'));
    await new Promise((r) => setImmediate(r));
    assert.equal(s.check({ tool: 'db.query' }).effect, 'allow');
});
