'use strict';
/*
 * `npm pack` refuses a package without the bundled library (prepack.js),
 * and packs one with it, the library and LICENSE included. make check's
 * test-package.sh installs and tests the real tarball (make npm-pack).
 */

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PACKAGE = path.join(__dirname, '..');
const TOP_SRCDIR = process.env.top_srcdir || path.join(PACKAGE, '..', '..');
const BUILT = process.env.AGENTAUTHZ_LIBRARY;
const LINUX_X64 = process.platform === 'linux' && process.arch === 'x64';

/* A copy of the package as the source tree has it (no library) in a new directory. */
function stage(dir) {
    const to = path.join(dir, 'agentauthz');
    fs.mkdirSync(to);
    for (const f of ['package.json', 'index.js', 'index.d.ts', 'README.md', 'prepack.js', 'lib']) {
        if (fs.existsSync(path.join(PACKAGE, f))) fs.cpSync(path.join(PACKAGE, f), path.join(to, f), { recursive: true });
    }
    fs.copyFileSync(path.join(TOP_SRCDIR, 'LICENSE'), path.join(to, 'LICENSE'));
    return to;
}

/* npm pack in pkg into dir/out: { status, stderr, tarballs }. */
function pack(dir, pkg) {
    const out = path.join(dir, 'out');
    fs.mkdirSync(out, { recursive: true });
    const r = spawnSync('npm', ['pack', '--pack-destination', out, '--loglevel=error'],
        { cwd: pkg, encoding: 'utf8' });
    return { status: r.status, stderr: r.stderr, tarballs: fs.readdirSync(out) };
}

function withDir(fn) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'azpack-'));
    try {
        return fn(dir);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

test('npm pack without the bundled library refuses, saying why', { timeout: 60000 }, () => {
    withDir((dir) => {
        const r = pack(dir, stage(dir));
        assert.notEqual(r.status, 0);
        assert.deepEqual(r.tarballs, []);
        assert.match(r.stderr, /refusing to pack without the bundled library: prebuilds\/linux-x64\/libagentauthz\.so\.0: missing/);
        assert.match(r.stderr, /make npm-pack/);
    });
});

test('npm pack refuses a file that is not a shared library', { timeout: 60000 }, () => {
    withDir((dir) => {
        const pkg = stage(dir);
        fs.mkdirSync(path.join(pkg, 'prebuilds', 'linux-x64'), { recursive: true });
        fs.writeFileSync(path.join(pkg, 'prebuilds', 'linux-x64', 'libagentauthz.so.0'), 'x'.repeat(64));
        const r = pack(dir, pkg);
        assert.notEqual(r.status, 0);
        assert.deepEqual(r.tarballs, []);
        assert.match(r.stderr, /libagentauthz\.so\.0: not an ELF file/);
    });
});

test('npm pack with the library packs it and LICENSE', { timeout: 60000, skip: !BUILT || !LINUX_X64 }, () => {
    withDir((dir) => {
        const pkg = stage(dir);
        fs.mkdirSync(path.join(pkg, 'prebuilds', 'linux-x64'), { recursive: true });
        fs.copyFileSync(BUILT, path.join(pkg, 'prebuilds', 'linux-x64', 'libagentauthz.so.0'));
        const r = pack(dir, pkg);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.tarballs.length, 1);
        const files = execFileSync('tar', ['tzf', path.join(dir, 'out', r.tarballs[0])],
            { encoding: 'utf8' }).trim().split('\n').sort();
        assert.ok(files.includes('package/prebuilds/linux-x64/libagentauthz.so.0'), files.join());
        assert.ok(files.includes('package/LICENSE'), files.join());
        assert.ok(files.includes('package/index.d.ts'), files.join());
        assert.ok(!files.includes('package/prepack.js'), files.join());
        assert.ok(!files.some((f) => f.startsWith('package/test/')), files.join());
    });
});
