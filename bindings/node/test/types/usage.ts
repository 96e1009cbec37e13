// Compiled by types.test.js with tsc --noEmit --strict: the declarations in
// index.d.ts must accept this idiomatic use and reject each line marked as an expected error.
import { Engine, FakeClock, PolicyError, AgentAuthzError, Decision, Lease, verifyToken,
    TokenClaims, CODES } from '../..';

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
const claims: TokenClaims = verifyToken(engine.publicKeyText, 'aztk.v1', { audience: 'a', skew: 5 });
clock.advance(1.5);
try {
    engine.load('a.yaml', 'b.yaml');
} catch (e) {
    if (e instanceof PolicyError) console.log(e.file, e.line, e.column, e.diagnostics.map(String));
    else if (e instanceof AgentAuthzError) console.log(e.code, e.errno);
}
const code: number = CODES.EPOLICY;
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
void [first, e2, ok, n, text, bytes, claims, code, bad];
