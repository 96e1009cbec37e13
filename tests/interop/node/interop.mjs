// The jose side of the interop tests (tests/interop/interop-jose.sh).
//
//   node interop.mjs verify JWKS AUDIENCE TOKEN
//       Verifies TOKEN with jose and the JWK Set in the file JWKS only
//       (EdDSA, typ txntoken+jwt, AUDIENCE, exp), and prints its header and
//       claims one per line (see common.sh). A refused token prints
//       "refused: MESSAGE" and exits 3.
//   node interop.mjs sign KEYFILE JWKS AUDIENCE
//       Prints "CASE TOKEN" lines: tokens jose signs, some with the engine's
//       own key (from the key file's "sign:" seed), some with other keys,
//       algorithms or headers. common.sh says what the verifier must do.
import { createPrivateKey, randomBytes, sign as rawSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as jose from 'jose';

const LIB = 'jose';
const REFUSED = 3;

function thumbprint(jwk) {
    return jose.calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, 'sha256');
}

// Compact JSON with the object's members sorted (one level), or "-".
function sortedJson(obj) {
    if (obj === undefined) return '-';
    return JSON.stringify(Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : 1))));
}

async function verify(jwksFile, audience, token) {
    const jwks = JSON.parse(readFileSync(jwksFile, 'utf8'));
    let result;
    try {
        result = await jose.jwtVerify(token, jose.createLocalJWKSet(jwks), {
            algorithms: ['EdDSA'],
            audience,
            typ: 'txntoken+jwt',
            requiredClaims: ['iat', 'exp', 'sub', 'txn', 'scope'],
        });
    } catch (e) {
        console.log(`refused: ${e.code || e.name}: ${e.message}`);
        return REFUSED;
    }
    const h = result.protectedHeader;
    const c = result.payload;
    // jose picks the only key of a set for a token without kid; ours carry one.
    const key = jwks.keys.find((k) => k.kid === h.kid);
    if (h.kid === undefined || !key) {
        console.log('refused: the header has no kid of the JWK Set');
        return REFUSED;
    }
    const out = [
        ['alg', h.alg],
        ['typ', h.typ],
        ['kid', h.kid],
        ['thumbprint', await thumbprint(key)],
        ['iss', c.iss ?? '-'],
        ['sub', c.sub],
        ['aud', Array.isArray(c.aud) ? c.aud.join(',') : c.aud],
        ['scope', c.scope],
        ['txn', c.txn],
        ['iat', c.iat],
        ['exp', c.exp],
        ['tools', (c.tctx?.tools ?? []).join(',')],
        ['parent', c.tctx?.parent ?? '-'],
        ['params', sortedJson(c.tctx?.params)],
    ];
    for (const [k, v] of out) console.log(`${k} ${v}`);
    return 0;
}

// The engine's signing key as a private JWK, from the key file's seed: the
// seed wrapped in PKCS #8 (RFC 8410), which node:crypto exports as a JWK.
function engineJwk(keyFile) {
    const line = readFileSync(keyFile, 'utf8').split('\n').find((l) => l.startsWith('sign: '));
    if (!line) throw new Error(`${keyFile}: no "sign:" line`);
    const seed = Buffer.from(line.slice(6), 'base64url');
    if (seed.length !== 32) throw new Error(`${keyFile}: the seed is not 32 bytes`);
    const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
}

const b64 = (obj) => jose.base64url.encode(JSON.stringify(obj));

async function sign(keyFile, jwksFile, audience) {
    const jwks = JSON.parse(readFileSync(jwksFile, 'utf8'));
    const priv = engineJwk(keyFile);
    const published = jwks.keys.find((k) => k.x === priv.x);
    if (!published) throw new Error('the key file\'s public key is not in the JWK Set');
    const kid = await thumbprint(priv);
    if (published.kid !== kid) throw new Error(`the JWK Set's kid ${published.kid} is not the thumbprint ${kid}`);
    const engineKey = await jose.importJWK({ ...priv, alg: 'EdDSA' }, 'EdDSA');
    // By hand, for JSON no JWT library writes: signed over the exact text.
    const byHand = (h, payloadText) => {
        const input = `${b64(h)}.${jose.base64url.encode(payloadText)}`;
        const key = createPrivateKey({ key: priv, format: 'jwk' });
        return `${input}.${jose.base64url.encode(rawSign(null, Buffer.from(input), key))}`;
    };

    const now = Math.floor(Date.now() / 1000);
    const claims = (over = {}) => ({
        iss: `interop-${LIB}`,
        sub: `spiffe://example.org/interop/${LIB}`,
        aud: audience,
        iat: now,
        exp: now + 300,
        txn: `interop-${LIB}-${randomBytes(6).toString('hex')}`,
        scope: 'triage-ticket',
        tctx: { tools: ['read_ticket', 'search_kb'] },
        ...over,
    });
    const header = (over = {}) => ({ alg: 'EdDSA', typ: 'txntoken+jwt', kid, ...over });
    const jwt = (h, key, c = claims(), options = undefined) =>
        new jose.SignJWT(c).setProtectedHeader(h).sign(key, options);

    const foreign = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const foreignKid = await thumbprint(await jose.exportJWK(foreign.publicKey));
    const es256 = await jose.generateKeyPair('ES256');
    const rs256 = await jose.generateKeyPair('RS256', { modulusLength: 2048 });
    const pubBytes = jose.base64url.decode(priv.x);

    const cases = [
        ['good', jwt(header(), engineKey)],
        ['good-tctx', jwt(header(), engineKey, claims({
            tctx: { tools: ['read_ticket'], parent: 'interop-parent-1', params: { ticket: 'T-42', priority: 2 } },
        }))],
        ['good-mediatype', jwt(header({ typ: 'application/txntoken+jwt' }), engineKey)],
        ['foreign-key', jwt(header(), foreign.privateKey)],
        ['foreign-kid', jwt(header({ kid: foreignKid }), foreign.privateKey)],
        ['hs256-pubkey', jwt(header({ alg: 'HS256' }), pubBytes)],
        ['es256', jwt(header({ alg: 'ES256' }), es256.privateKey)],
        ['rs256', jwt(header({ alg: 'RS256' }), rs256.privateKey)],
        // Unsigned, by hand: jose makes unsecured JWTs without typ or kid.
        ['alg-none', `${b64(header({ alg: 'none' }))}.${b64(claims())}.`],
        ['typ-jwt', jwt(header({ typ: 'JWT' }), engineKey)],
        ['no-typ', jwt({ alg: 'EdDSA', kid }, engineKey)],
        ['no-kid', jwt({ alg: 'EdDSA', typ: 'txntoken+jwt' }, engineKey)],
        ['crit', jwt(header({ crit: ['urn:example:must'], 'urn:example:must': true }), engineKey,
            claims(), { crit: { 'urn:example:must': true } })],
        // Two "sub": a JWT library reads the last, which must not be trusted.
        ['dup-sub', byHand(header(), JSON.stringify(claims()).replace(/}$/,
            ',"sub":"spiffe://example.org/interop/admin"}'))],
        ['oversized', jwt(header(), engineKey, claims({
            tctx: { tools: Array.from({ length: 200 }, (_, i) => `tool_${i}_${'x'.repeat(50)}`) },
        }))],
        ['expired', jwt(header(), engineKey, claims({ iat: now - 900, exp: now - 600 }))],
        ['wrong-aud', jwt(header(), engineKey, claims({ aud: `${audience}.evil` }))],
    ];
    for (const [name, token] of cases) console.log(`${name} ${await token}`);
    return 0;
}

const [cmd, ...args] = process.argv.slice(2);
let status;
if (cmd === 'verify' && args.length === 3) status = await verify(...args);
else if (cmd === 'sign' && args.length === 3) status = await sign(...args);
else {
    console.error('usage: interop.mjs verify JWKS AUDIENCE TOKEN | sign KEYFILE JWKS AUDIENCE');
    status = 2;
}
process.exitCode = status;
