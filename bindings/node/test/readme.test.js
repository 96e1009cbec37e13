'use strict';
/* The README's example runs and prints what its comments say. */

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

test("the README's example runs as written", () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    const code = readme.match(/```js\n([\s\S]*?)```/)[1];
    const expected = [...code.matchAll(/console\.log\(.*\/\/ (.*)$/gm)].map((m) => m[1]);
    assert.ok(expected.length >= 4);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'azreadme-'));
    try {
        const file = path.join(dir, 'example.js');
        fs.writeFileSync(file, code.replace("require('agentauthz')",
            `require(${JSON.stringify(path.join(__dirname, '..'))})`));
        const out = execFileSync(process.execPath, [file], { encoding: 'utf8' });
        assert.deepEqual(out.trim().split('\n'), expected);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
