'use strict';
/* The README's examples run and print what their comments say. */

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
const examples = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);

/* What the example prints: the comment at the end of each console.log line. */
function expectedOutput(code) {
    return [...code.matchAll(/console\.log\(.*\/\/ (.*)$/gm)].map((m) => m[1]);
}

test('the README has its examples', () => {
    assert.ok(examples.length >= 2);
});

examples.forEach((code, i) => {
    test(`the README's example ${i + 1} runs as written`, () => {
        const expected = expectedOutput(code);
        assert.ok(expected.length >= 3);
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
});
