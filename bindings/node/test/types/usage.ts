// Compiled by types.test.js with tsc --noEmit --strict: the declarations in
// index.d.ts must accept this idiomatic use and reject each line marked as an expected error.
import { Engine, FakeClock, PolicyError, AgentAuthzError, Decision, Lease, verifyToken,
    TokenClaims, CODES, Keys, Verifier, auditVerify, AuditReport, TamperError, TokenError,
    ExpiredError, SessionOpenError, SecretRequest, KeyIdError, AlgorithmError, jwks, keyId } from '../..';

const clock = new FakeClock();
const engine = new Engine({ clock, name: 'types' });
const warnings = engine.loadString('agentauthz: 1\nrules: []\n', 'p.yaml');
const first: string | undefined = warnings[0]?.message;
const s = engine.session('agent/1', 'work', { params: { max: 3, who: 'x' }, ttl: 60 });
const d: Decision = s.check({ tool: 'db.query', args: { sql: 'select 1', n: [1, null] } });
const e2: 'allow' | 'deny' | 'ask' = d.effect;
const ok: boolean = s.check('read_file', { resource: '/kb/a', labels: ['x'] }).allowed;
s.approve(d, { scope: 'session' });
const lease: Lease = s.lease(d, 'db');
const n: number = lease.withValue((buf) => buf.length);
const text: string = s.scrub('out');
const bytes: Buffer = s.scrub(Buffer.from('out'));
s.observe('read_inbox', { body: 'pay GB29NWBK60161331926819' }, { labels: ['untrusted'] });
s.observe(null, 'text', { labels: 'web' });
const claims: TokenClaims = verifyToken(engine.publicKeyText, 'a.b.c', { audience: 'a', skew: 5 });
const shared: string | number | undefined = claims.params === null ? undefined
    : (claims.params['ticket'] as string | number);
const set: string = engine.jwks;
const jwksVerifier: Verifier = new Verifier(null, { jwks: set, audience: 'a' });
clock.advance(1.5);
try {
    engine.load('a.yaml', 'b.yaml');
} catch (e) {
    if (e instanceof PolicyError) console.log(e.file, e.line, e.column, e.diagnostics.map(String));
    else if (e instanceof AgentAuthzError) console.log(e.code, e.errno);
}
const code: number = CODES.EPOLICY;

const keys: Keys = Keys.loadFile('engine.keys');
const keys2: Keys = Keys.load(Buffer.from('agentauthz-keys v1\n'));
keys2.saveFile('copy.keys');
const pub: string = Keys.generate().publicText;
const host = new Engine({
    keys,
    secretIssue: (req: SecretRequest) => Buffer.from(`${req.secret}:${req.session}:${req.ttl}`),
    secretRevoke: (req) => console.log(req.identity, req.task),
});
host.setAudit({ path: 'audit.jsonl', callback: (line: Buffer) => line.length, flush: 'everyN',
    flushEvery: 10, fsync: false });
host.setAudit();
host.auditReopen();
const token: string = keys.signToken({ identity: 'a', task: 't', session: 's', audience: 'x',
    iat: 1, exp: 2, tools: ['db.query'], issuer: null });
const verifier = new Verifier(keys, { audience: 'x', skew: 0, cacheEntries: 16 });
const vc: TokenClaims = verifier.verify(token, 1);
verifier.revoke(vc.session);
const td: Decision = host.checkToken(verifier, token, 'db.query', { args: { sql: 'select 1' } });
const td2: Decision = host.checkToken(verifier, Buffer.from(token), { tool: 'read_file', resource: '/kb' });
const report: AuditReport = auditVerify(keys, 'audit.jsonl.1', 'audit.jsonl');
const intact: boolean = report.intact && report.problem === 'intact';
try {
    verifier.verify('x');
} catch (e) {
    if (e instanceof ExpiredError) console.log('expired', e.code);
    else if (e instanceof TokenError) console.log('bad token', e.errno);
    else if (e instanceof TamperError) console.log(e.report?.line);
    else if (e instanceof SessionOpenError) console.log(e.code);
}
verifier.close();
keys.close();
// @ts-expect-error: Keys come from generate(), load() or loadFile()
new Keys();
// @ts-expect-error: a host secret is bytes, never a string
new Engine({ secretIssue: () => 'hunter2hunter2' });
// @ts-expect-error: flush is 'record', 'none' or 'everyN'
host.setAudit({ path: 'a', flush: 'sometimes' });
// @ts-expect-error: auditVerify needs Keys
auditVerify('keys', 'audit.jsonl');
// @ts-expect-error: checkToken needs a Verifier
host.checkToken({}, token, 'db.query');
// @ts-expect-error: effect is not a free string
const bad: 'yes' = d.effect;
// @ts-expect-error: a check needs a tool
s.check({ resource: '/x' });
// @ts-expect-error: args hold JSON values only
s.check({ tool: 't', args: { f: () => 1 } });
// @ts-expect-error: scope is once or session
s.approve(d, { scope: 'forever' });
s.close();
engine.close();
void [first, e2, ok, n, text, bytes, claims, code, bad, keys2, pub, td, td2, intact];
const kidText: string = keyId(keys) + jwks(keys.publicKey) + keys.kid + keys.jwks;
try {
    jwksVerifier.verify('a.b.c');
} catch (e) {
    if (e instanceof KeyIdError || e instanceof AlgorithmError) console.log(e.code, kidText);
}
