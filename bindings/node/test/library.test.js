'use strict';
/*
 * How the package finds the C library and koffi (lib/ffi.js): the copy
 * bundled in prebuilds/<platform>-<arch>/ first, then AGENTAUTHZ_LIBRARY,
 * else the system's; a missing or unusable library is one Error naming
 * every path tried and the variable to set. Each case requires a copy of
 * the package in a child process with its own environment.
 */

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PACKAGE = path.join(__dirname, '..');
const PLATFORM = `${process.platform}-${process.arch}`;
const BUILT = process.env.AGENTAUTHZ_LIBRARY;

/* A copy of the package's code (no node_modules, no prebuilds) in dir/name. */
function copyPackage(dir, name = 'agentauthz') {
    const to = path.join(dir, name);
    fs.mkdirSync(to, { recursive: true });
    for (const f of ['package.json', 'index.js', 'lib']) {
        fs.cpSync(path.join(PACKAGE, f), path.join(to, f), { recursive: true });
    }
    return to;
}

/* The package's koffi, linked into dir/node_modules/. */
function linkKoffi(dir) {
    const koffi = path.dirname(require.resolve('koffi/package.json', { paths: [PACKAGE] }));
    fs.mkdirSync(path.join(dir, 'node_modules'), { recursive: true });
    fs.symlinkSync(koffi, path.join(dir, 'node_modules', 'koffi'));
}

/*
 * Runs `script` with node in cwd, env replacing AGENTAUTHZ_LIBRARY (undefined
 * removes it); the script prints one JSON line.
 */
function run(cwd, script, env) {
    const childEnv = { ...process.env };
    delete childEnv.AGENTAUTHZ_LIBRARY;
    for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
    const r = spawnSync(process.execPath, ['-e', script], { cwd, env: childEnv, encoding: 'utf8' });
    assert.equal(r.signal, null, `the child crashed: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop());
}

/* Requires the package at pkg; prints the library used, or the error. */
function requireScript(pkg) {
    return `let out;
try {
    const az = require(${JSON.stringify(pkg)});
    out = { path: az.libraryPath, version: az.libraryVersion() };
} catch (e) {
    out = { error: e.message, code: e.code, tried: e.tried };
}
console.log(JSON.stringify(out));`;
}

function withDir(fn) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'azlib-'));
    try {
        return fn(dir);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

test('the bundled copy is loaded first, before AGENTAUTHZ_LIBRARY', { skip: !BUILT }, () => {
    withDir((dir) => {
        const pkg = copyPackage(dir);
        linkKoffi(pkg);
        const bundled = path.join(pkg, 'prebuilds', PLATFORM, 'libagentauthz.so.0');
        fs.mkdirSync(path.dirname(bundled), { recursive: true });
        fs.copyFileSync(BUILT, bundled);
        const out = run(dir, requireScript(pkg),
            { AGENTAUTHZ_LIBRARY: path.join(dir, 'no-such-library.so') });
        assert.equal(out.error, undefined, out.error);
        assert.equal(out.path, bundled);
        assert.match(out.version, /^\d+\.\d+\.\d+$/);
    });
});

test('an unloadable bundled copy falls back to AGENTAUTHZ_LIBRARY', { skip: !BUILT }, () => {
    withDir((dir) => {
        const pkg = copyPackage(dir);
        linkKoffi(pkg);
        const bundled = path.join(pkg, 'prebuilds', PLATFORM, 'libagentauthz.so.0');
        fs.mkdirSync(path.dirname(bundled), { recursive: true });
        fs.writeFileSync(bundled, 'not an ELF file\n');
        const out = run(dir, requireScript(pkg), { AGENTAUTHZ_LIBRARY: BUILT });
        assert.equal(out.error, undefined, out.error);
        assert.equal(out.path, BUILT);
    });
});

test('no usable library: one error naming every path tried and the variable', () => {
    withDir((dir) => {
        const pkg = copyPackage(dir);
        linkKoffi(pkg);
        const bundled = path.join(pkg, 'prebuilds', PLATFORM, 'libagentauthz.so.0');
        fs.mkdirSync(path.dirname(bundled), { recursive: true });
        fs.writeFileSync(bundled, 'not an ELF file\n');
        const missing = path.join(dir, 'no-such-library.so');
        const out = run(dir, requireScript(pkg), { AGENTAUTHZ_LIBRARY: missing });
        assert.equal(out.code, 'ERR_AGENTAUTHZ_LIBRARY');
        assert.ok(out.error.includes(bundled), out.error);
        assert.ok(out.error.includes(missing), out.error);
        assert.ok(out.error.includes('Set AGENTAUTHZ_LIBRARY'), out.error);
        assert.deepEqual(out.tried.map((t) => [t.path, t.from]),
            [[bundled, 'bundled'], [missing, 'AGENTAUTHZ_LIBRARY']]);
    });
});

test('a library without the functions is refused with the same error, naming one', () => {
    withDir((dir) => {
        const pkg = copyPackage(dir);
        linkKoffi(pkg);
        // The C math library loads everywhere and has no agentauthz_ function.
        const out = run(dir, requireScript(pkg), { AGENTAUTHZ_LIBRARY: 'libm.so.6' });
        assert.equal(out.code, 'ERR_AGENTAUTHZ_LIBRARY');
        assert.match(out.error, /libm\.so\.6 \(AGENTAUTHZ_LIBRARY\): no function agentauthz_strerror/);
        assert.ok(out.error.includes('Set AGENTAUTHZ_LIBRARY'), out.error);
    });
});

/* A shared library at dir/name that needs libsodium.so.999, which no system has, or null without cc. */
function libraryNeedingMissingSodium(dir, name) {
    const fake = path.join(dir, 'libsodium.so.999');
    const src = path.join(dir, 'needs.c');
    fs.writeFileSync(src, 'int sodium_init(void);\nint needs(void) { return sodium_init(); }\n');
    fs.writeFileSync(path.join(dir, 'fake.c'), 'int sodium_init(void) { return 0; }\n');
    const cc = (args) => spawnSync(process.env.CC || 'cc', args, { cwd: dir, encoding: 'utf8' });
    if (cc(['-shared', '-fPIC', '-o', fake, '-Wl,-soname,libsodium.so.999', 'fake.c']).status !== 0) return null;
    const out = path.join(dir, name);
    if (cc(['-shared', '-fPIC', '-o', out, src, fake]).status !== 0) return null;
    fs.rmSync(fake);
    return out;
}

test('a library whose libsodium is missing: the error says which packages it needs', (t) => {
    withDir((dir) => {
        const lib = libraryNeedingMissingSodium(dir, 'libagentauthz-test.so');
        if (lib === null) {
            t.skip('no C compiler');
            return;
        }
        const pkg = copyPackage(dir);
        linkKoffi(pkg);
        const out = run(dir, requireScript(pkg), { AGENTAUTHZ_LIBRARY: lib });
        assert.equal(out.code, 'ERR_AGENTAUTHZ_LIBRARY');
        assert.ok(out.error.includes('libsodium.so.999'), out.error);
        assert.ok(out.error.includes('apt install libyaml-0-2 libsodium23'), out.error);
    });
});

test('without AGENTAUTHZ_LIBRARY the system library is tried and named', () => {
    withDir((dir) => {
        const pkg = copyPackage(dir);
        linkKoffi(pkg);
        // The system may have the library installed: then it is the one loaded.
        const out = run(dir, requireScript(pkg), { AGENTAUTHZ_LIBRARY: undefined });
        if (out.error === undefined) {
            assert.equal(out.path, 'libagentauthz.so.0');
            return;
        }
        assert.equal(out.code, 'ERR_AGENTAUTHZ_LIBRARY');
        assert.deepEqual(out.tried.map((t) => [t.path, t.from]), [['libagentauthz.so.0', 'system']]);
        assert.ok(out.error.includes('Set AGENTAUTHZ_LIBRARY'), out.error);
    });
});

/* The layout `npm install DIR` makes: node_modules/agentauthz links to a folder outside. */
function linkedProject(dir) {
    const pkg = copyPackage(dir, 'outside');
    const project = path.join(dir, 'project');
    fs.mkdirSync(path.join(project, 'node_modules'), { recursive: true });
    fs.symlinkSync(pkg, path.join(project, 'node_modules', 'agentauthz'));
    fs.writeFileSync(path.join(project, 'main.js'), requireScript('agentauthz'));
    return project;
}

test('a package linked from a directory finds koffi in the requiring project', { skip: !BUILT }, () => {
    withDir((dir) => {
        const project = linkedProject(dir);
        linkKoffi(project);
        const out = run(project, "require('./main.js')", { AGENTAUTHZ_LIBRARY: BUILT });
        assert.equal(out.error, undefined, out.error);
        assert.equal(out.path, BUILT);
    });
});

test('a linked package without koffi anywhere says what to install', () => {
    withDir((dir) => {
        const project = linkedProject(dir);
        const out = run(project, "require('./main.js')", { AGENTAUTHZ_LIBRARY: BUILT });
        assert.equal(out.code, 'ERR_AGENTAUTHZ_KOFFI');
        const koffi = require('../package.json').dependencies.koffi;
        assert.ok(out.error.includes(`npm install koffi@${koffi}`), out.error);
    });
});
