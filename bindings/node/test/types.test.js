'use strict';
/* index.d.ts compiles, accepts idiomatic use and rejects misuse (test/types/usage.ts). */

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const path = require('node:path');

test('the TypeScript declarations type-check', { timeout: 120000 }, () => {
    const tsc = require.resolve('typescript/bin/tsc', { paths: [path.join(__dirname, '..')] });
    const out = execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'es2022',
        '--module', 'commonjs', '--moduleResolution', 'node10', '--types', 'node',
        path.join(__dirname, 'types', 'usage.ts')], { encoding: 'utf8', cwd: path.join(__dirname, '..') });
    assert.equal(out.trim(), '');
});
