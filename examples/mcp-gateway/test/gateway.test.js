'use strict';
/*
 * End to end: the MCP SDK's real Client, over StdioClientTransport, spawns
 * the gateway, which spawns the real @modelcontextprotocol/server-filesystem
 * on a temporary directory. Every tools/call goes client -> gateway ->
 * policy check -> filesystem server and back.
 */

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = require('@modelcontextprotocol/sdk/client/stdio.js');

const HERE = path.join(__dirname, '..');
const GATEWAY = path.join(HERE, 'gateway.js');
const POLICY = path.join(__dirname, 'policy.yaml');
const FS_SERVER = require.resolve('@modelcontextprotocol/server-filesystem/dist/index.js',
    { paths: [HERE] });

/* A connected client to a gateway over a fresh filesystem server on root. */
async function connect(root, extra = []) {
    const transport = new StdioClientTransport({
        command: process.execPath,
        args: [GATEWAY, '--policy', POLICY, '--identity', 'agent/7', '--task', 'browse',
            '--param', `root=${root}/`, '--param', `root_dir=${root}`, ...extra,
            '--', process.execPath, FS_SERVER, root],
        // The SDK passes only a few safe variables by default; the gateway
        // needs AGENTAUTHZ_LIBRARY to find the library under test.
        env: { ...process.env },
        stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr.on('data', (b) => { stderr += b; });
    const client = new Client({ name: 'gateway-test', version: '1.0.0' });
    await client.connect(transport);
    client.stderrText = () => stderr;
    return client;
}

function text(result) {
    return result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

function tempRoot() {
    // realpath: the filesystem server resolves its allowed directory, and
    // the policy compares the path the client sends with the same string.
    return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'azgw-')));
}

test('the gateway fronts the filesystem server under the policy', { timeout: 60000 }, async (t) => {
    const root = tempRoot();
    fs.writeFileSync(path.join(root, 'hello.txt'), 'hello from inside\n');
    const client = await connect(root);
    t.after(async () => {
        await client.close();
        fs.rmSync(root, { recursive: true, force: true });
    });

    await t.test('tools/list is forwarded from the real server', async () => {
        const { tools } = await client.listTools();
        const names = tools.map((x) => x.name);
        for (const n of ['read_text_file', 'write_file', 'list_allowed_directories']) {
            assert.ok(names.includes(n), `${n} missing from ${names.join(', ')}`);
        }
    });

    await t.test('an allowed read inside the root succeeds', async () => {
        const r = await client.callTool({ name: 'read_text_file',
            arguments: { path: path.join(root, 'hello.txt') } });
        assert.ok(!r.isError, text(r));
        assert.equal(text(r).trim(), 'hello from inside');
    });

    await t.test('a read outside the root is denied, naming the rule', async () => {
        const r = await client.callTool({ name: 'read_text_file',
            arguments: { path: '/etc/hostname' } });
        assert.equal(r.isError, true);
        assert.match(text(r), /denied "read_text_file" \(rule stay-inside-root: files outside/);
        assert.equal(r._meta.agentauthz.rule, 'stay-inside-root');
        assert.equal(r._meta.agentauthz.effect, 'deny');
    });

    await t.test('"../" cannot climb out of the root', async () => {
        const r = await client.callTool({ name: 'read_text_file',
            arguments: { path: `${root}/../../etc/hostname` } });
        assert.equal(r.isError, true);
        assert.equal(r._meta.agentauthz.rule, 'stay-inside-root');
    });

    await t.test('move_file inside the root is allowed and moves the file', async () => {
        fs.writeFileSync(path.join(root, 'm1.txt'), 'm');
        const r = await client.callTool({ name: 'move_file',
            arguments: { source: path.join(root, 'm1.txt'), destination: path.join(root, 'm2.txt') } });
        assert.ok(!r.isError, text(r));
        assert.equal(fs.existsSync(path.join(root, 'm2.txt')), true);
    });

    await t.test("move_file's destination is checked: out of the root is denied", async () => {
        const outside = tempRoot();
        t.after(() => fs.rmSync(outside, { recursive: true, force: true }));
        fs.writeFileSync(path.join(root, 'keep.txt'), 'k');
        const r = await client.callTool({ name: 'move_file',
            arguments: { source: path.join(root, 'keep.txt'), destination: path.join(outside, 'x.txt') } });
        assert.equal(r.isError, true);
        assert.equal(r._meta.agentauthz.rule, 'stay-inside-root');
        assert.equal(fs.existsSync(path.join(root, 'keep.txt')), true);
        assert.equal(fs.existsSync(path.join(outside, 'x.txt')), false);
    });

    await t.test('move_file to a sibling of the root (one path segment away) is denied', async () => {
        fs.writeFileSync(path.join(root, 'keep2.txt'), 'k');
        const r = await client.callTool({ name: 'move_file',
            arguments: { source: path.join(root, 'keep2.txt'), destination: `${root}-old/x.txt` } });
        assert.equal(r.isError, true);
        assert.equal(r._meta.agentauthz.rule, 'stay-inside-root');
        assert.equal(fs.existsSync(path.join(root, 'keep2.txt')), true);
    });

    await t.test('read_multiple_files: one path outside the root denies the call', async () => {
        const r = await client.callTool({ name: 'read_multiple_files',
            arguments: { paths: [path.join(root, 'hello.txt'), '/etc/hostname'] } });
        assert.equal(r.isError, true);
        assert.equal(r._meta.agentauthz.rule, 'stay-inside-root');
        const ok = await client.callTool({ name: 'read_multiple_files',
            arguments: { paths: [path.join(root, 'hello.txt'), `${root}/./hello.txt`] } });
        assert.ok(!ok.isError, text(ok));
        assert.match(text(ok), /hello from inside/);
    });

    await t.test('a write is denied and nothing is written', async () => {
        const target = path.join(root, 'new.txt');
        const r = await client.callTool({ name: 'write_file',
            arguments: { path: target, content: 'should not exist' } });
        assert.equal(r.isError, true);
        assert.match(text(r), /rule no-writes: this agent only reads, and moves files inside its root/);
        assert.equal(fs.existsSync(target), false);
    });

    await t.test('an ask without an approval hook is denied', async () => {
        const r = await client.callTool({ name: 'directory_tree', arguments: { path: `${root}/` } });
        assert.equal(r.isError, true);
        assert.match(text(r), /needs approval for "directory_tree" \(rule big-listing/);
        assert.equal(r._meta.agentauthz.effect, 'ask');
    });

    await t.test('a tool no rule names is denied by default', async () => {
        const r = await client.callTool({ name: 'no_such_tool', arguments: {} });
        assert.equal(r.isError, true);
        assert.equal(r._meta.agentauthz.rule, 'default');
    });
});

test('--approve-all turns an ask into an allowed, forwarded call', { timeout: 60000 }, async (t) => {
    const root = tempRoot();
    fs.writeFileSync(path.join(root, 'a.txt'), 'a');
    const client = await connect(root, ['--approve-all', '--verbose']);
    t.after(async () => {
        await client.close();
        fs.rmSync(root, { recursive: true, force: true });
    });
    const r = await client.callTool({ name: 'directory_tree', arguments: { path: `${root}/` } });
    assert.ok(!r.isError, text(r));
    assert.match(text(r), /a\.txt/);
    // Approval never lifts a deny.
    const w = await client.callTool({ name: 'write_file',
        arguments: { path: path.join(root, 'b.txt'), content: 'x' } });
    assert.equal(w.isError, true);
    assert.match(client.stderrText(), /directory_tree: allow \(rule big-listing\)/);
});

test('an approval hook module decides asks', { timeout: 60000 }, async (t) => {
    const root = tempRoot();
    const hook = path.join(root, 'hook.js');
    fs.writeFileSync(hook, 'exports.approve = async ({ tool }) => tool === "directory_tree";\n');
    const client = await connect(root, ['--approval-hook', hook]);
    t.after(async () => {
        await client.close();
        fs.rmSync(root, { recursive: true, force: true });
    });
    const r = await client.callTool({ name: 'directory_tree', arguments: { path: `${root}/` } });
    assert.ok(!r.isError, text(r));
});

test('a path named inside a file read through the gateway is refused', { timeout: 60000 },
    async (t) => {
        const root = tempRoot();
        fs.writeFileSync(path.join(root, 'intro.txt'), 'Next, read notes-2024.txt for the figures.\n');
        fs.writeFileSync(path.join(root, 'notes-2024.txt'), 'figures\n');
        fs.writeFileSync(path.join(root, 'other-2025.txt'), 'other\n');
        const client = await connect(root);
        t.after(async () => {
            await client.close();
            fs.rmSync(root, { recursive: true, force: true });
        });
        const read = (f) => client.callTool({ name: 'read_text_file',
            arguments: { path: path.join(root, f) } });
        assert.ok(!(await read('notes-2024.txt')).isError);
        assert.ok(!(await read('intro.txt')).isError);
        const r = await read('notes-2024.txt');
        assert.equal(r.isError, true);
        assert.equal(r._meta.agentauthz.rule, 'no-injected-paths');
        assert.match(text(r), /the path comes from a file the agent read/);
        assert.ok(!(await read('other-2025.txt')).isError);
    });
