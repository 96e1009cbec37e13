'use strict';
/*
 * npm's prepack step (npm pack, npm publish): refuses to pack a tarball
 * without the bundled library, which would install and then fail at
 * require on every machine without libagentauthz. `make npm-pack` in the
 * libagentauthz tree stages the package with the library it built
 * (bindings/node/pack.sh) and packs that. Exits 1 with the reason, or 0.
 */

const fs = require('node:fs');
const path = require('node:path');

const LIBRARY = path.join('prebuilds', 'linux-x64', 'libagentauthz.so.0');
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ET_DYN = 3;
const EM_X86_64 = 62;

/* Why the file at p is not an x86-64 ELF shared library, or null. */
function notLinuxX64Library(p) {
    let head;
    try {
        const fd = fs.openSync(p, 'r');
        try {
            head = Buffer.alloc(20);
            if (fs.readSync(fd, head, 0, 20, 0) !== 20) return 'too short for an ELF file';
        } finally {
            fs.closeSync(fd);
        }
    } catch (e) {
        return e.code === 'ENOENT' ? 'missing' : e.message;
    }
    if (!head.subarray(0, 4).equals(ELF_MAGIC)) return 'not an ELF file';
    if (head[4] !== ELFCLASS64 || head[5] !== ELFDATA2LSB) return 'not a 64-bit little-endian ELF file';
    if (head.readUInt16LE(16) !== ET_DYN) return 'not a shared library';
    if (head.readUInt16LE(18) !== EM_X86_64) return 'not built for x86-64';
    return null;
}

function main() {
    const problems = [];
    const why = notLinuxX64Library(LIBRARY);
    if (why) problems.push(`${LIBRARY}: ${why}`);
    if (!fs.existsSync('LICENSE')) problems.push('LICENSE: missing');
    if (problems.length === 0) return 0;
    process.stderr.write(`agentauthz: refusing to pack without the bundled library: ${problems.join('; ')}. ` +
        'Build the tarball with `make npm-pack` in the libagentauthz tree, which bundles ' +
        'the library it builds.\n');
    return 1;
}

process.exitCode = main();
