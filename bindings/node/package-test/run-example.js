'use strict';
/*
 * Runs an example as a user would and compares what it prints with the
 * comment at the end of each of its console.log lines (the convention of
 * the README's examples), for bindings/node/test-package.sh.
 *
 *   node run-example.js SOURCE [JS]       runs JS (default SOURCE), expecting SOURCE's comments
 *   node run-example.js --readme README   runs each ```js block of README from the current
 *                                         directory, unmodified, as readme-example-N.js
 *
 * Prints one TAP line per example; exits 1 if one fails.
 */

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function expectedOutput(code) {
    return [...code.matchAll(/console\.log\(.*\/\/ (.*)$/gm)].map((m) => m[1]);
}

/* Runs file with node in the current directory; true if it printed what code says. */
function runOne(label, code, file) {
    const expected = expectedOutput(code);
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8' });
    const got = (r.stdout || '').trim().split('\n');
    const ok = r.status === 0 && expected.length > 0 &&
        JSON.stringify(got) === JSON.stringify(expected);
    console.log(`${ok ? 'ok' : 'not ok'} - ${label}`);
    if (!ok) {
        console.log(`# exit status ${r.status}, signal ${r.signal}`);
        console.log(`# expected: ${JSON.stringify(expected)}`);
        console.log(`# printed:  ${JSON.stringify(got)}`);
        for (const line of (r.stderr || '').split('\n')) console.log(`# ${line}`);
    }
    return ok;
}

function main(argv) {
    if (argv[0] === '--readme') {
        const readme = fs.readFileSync(argv[1], 'utf8');
        const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
        if (blocks.length === 0) {
            console.log(`not ok - ${argv[1]} has no js example`);
            return 1;
        }
        let failed = 0;
        blocks.forEach((code, i) => {
            const file = path.resolve(`readme-example-${i + 1}.js`);
            fs.writeFileSync(file, code);
            if (!runOne(`README example ${i + 1} (${file})`, code, file)) failed++;
        });
        return failed ? 1 : 0;
    }
    const source = argv[0];
    const file = path.resolve(argv[1] || source);
    return runOne(`${path.basename(source)} (${file})`, fs.readFileSync(source, 'utf8'), file) ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
