'use strict';
/* The gateway's pieces on their own: command line, actions, refusals, scrubbing. */

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const { parseArgs, actionOf, refusal, scrubDeep, UsageError, Connection } = require('../gateway');
const az = require(path.join(__dirname, '..', '..', '..', 'bindings', 'node'));

const BASE = ['--policy', 'p.yaml', '--identity', 'agent/1', '--task', 'browse'];

test('parseArgs reads options and the upstream command after --', () => {
    const o = parseArgs([...BASE, '--param', 'root=/srv/a=b/', '--params', '{"n":3}', '--ttl', '90',
        '--approve-all', '--verbose', '--', 'node', 'server.js', '--flag']);
    assert.deepEqual(o.policies, ['p.yaml']);
    assert.deepEqual(o.params, { root: '/srv/a=b/', n: 3 });
    assert.equal(o.ttl, 90);
    assert.equal(o.approveAll, true);
    assert.equal(o.command, 'node');
    assert.deepEqual(o.commandArgs, ['server.js', '--flag']);
});

test('parseArgs refuses incomplete or contradictory command lines', () => {
    const bad = [
        [...BASE], [...BASE, '--'], ['--identity', 'a', '--task', 't', '--', 'x'],
        [...BASE, '--param', 'novalue', '--', 'x'], [...BASE, '--params', '[1]', '--', 'x'],
        [...BASE, '--params', '{', '--', 'x'], [...BASE, '--ttl', '-5', '--', 'x'],
        [...BASE, '--approve-all', '--approval-hook', 'h.js', '--', 'x'],
        [...BASE, '--bogus', '--', 'x'], [...BASE, '--policy'],
    ];
    for (const argv of bad) assert.throws(() => parseArgs(argv), UsageError, argv.join(' '));
});

test('actionOf leaves resources to the catalogue: tool and arguments only', () => {
    assert.deepEqual(actionOf('read_text_file', { path: '/srv/a/../../etc/passwd' }),
        { tool: 'read_text_file', args: { path: '/srv/a/../../etc/passwd' } });
    assert.deepEqual(actionOf('move_file', { source: '/a', destination: '/b' }),
        { tool: 'move_file', args: { source: '/a', destination: '/b' } });
    assert.equal(actionOf('list_allowed_directories', undefined).resource, undefined);
    assert.deepEqual(actionOf('list_allowed_directories', undefined).args, {});
});

test('refusal names the rule and reason and carries the decision', () => {
    const r = refusal('write_file', { effect: 'deny', rule: 'no-writes', reason: 'reads only',
        seq: 3, allowed: false }, 'denied');
    assert.equal(r.isError, true);
    assert.equal(r.content[0].text, 'agentauthz denied "write_file" (rule no-writes: reads only)');
    assert.equal(r._meta.agentauthz.rule, 'no-writes');
});

test('results are scrubbed of the session secrets, keys and nested values too', () => {
    const engine = new az.Engine();
    engine.loadString(`agentauthz: 1
secrets:
  db: { provider: random, bytes: 16, tools: [db.query] }
tasks:
  t: { secrets: [db] }
rules:
  - { id: q, effect: allow, tools: [db.query] }
`, 'p.yaml');
    const s = engine.session('agent/1', 't');
    try {
        const hex = s.lease(s.check({ tool: 'db.query' }), 'db').withValue((b) => b.toString('hex'));
        const result = { content: [{ type: 'text', text: `password=${hex}` }],
            structuredContent: { [hex]: [1, `x${hex}`, null, true] } };
        const out = scrubDeep(s, result, 0);
        assert.ok(!JSON.stringify(out).includes(hex));
        assert.equal(out.content[0].text, 'password=[redacted:db]');
        assert.deepEqual(out.structuredContent, { '[redacted:db]': [1, 'x[redacted:db]', null, true] });
        let deep = 'leaf';
        for (let i = 0; i < 100; i++) deep = [deep];
        assert.throws(() => scrubDeep(s, deep, 0), /nests too deeply/);
    } finally {
        engine.close();
    }
});

test('a connection forwards allowed calls and scrubs upstream errors', async () => {
    const engine = new az.Engine();
    engine.loadString(`agentauthz: 1
secrets:
  db: { provider: random, bytes: 16, tools: [db.query] }
tasks:
  t: { secrets: [db] }
rules:
  - { id: q, effect: allow, tools: [db.query] }
`, 'p.yaml');
    let secret = '';
    const calls = [];
    const upstream = {
        listTools: async () => ({ tools: [{ name: 'db.query', inputSchema: { type: 'object' } }] }),
        callTool: async (req) => {
            calls.push(req.name);
            if (req.arguments.fail) throw new Error(`upstream broke near ${secret}`);
            return { content: [{ type: 'text', text: `got ${secret}` }] };
        },
    };
    const conn = new Connection(engine, upstream, { identity: 'agent/1', task: 't', params: {} },
        null, () => {});
    try {
        secret = conn.session.lease(conn.session.check({ tool: 'db.query' }), 'db')
            .withValue((b) => b.toString('hex'));
        const ok = await conn.callTool({ params: { name: 'db.query', arguments: {} } }, {});
        assert.equal(ok.content[0].text, 'got [redacted:db]');
        await assert.rejects(conn.callTool({ params: { name: 'db.query', arguments: { fail: true } } }, {}),
            (e) => !e.message.includes(secret) && e.message.includes('[redacted:db]'));
        const no = await conn.callTool({ params: { name: 'rm', arguments: {} } }, {});
        assert.equal(no.isError, true);
        const nul = await conn.callTool({ params: { name: 'db\0query', arguments: {} } }, {});
        assert.equal(nul._meta.agentauthz.rule, 'gateway');
        assert.deepEqual(calls, ['db.query', 'db.query'], 'denied calls never reach upstream');
        assert.equal((await conn.listTools({ params: {} })).tools[0].name, 'db.query');
    } finally {
        conn.close();
        engine.close();
    }
});
