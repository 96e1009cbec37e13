// A TypeScript program against the installed package, compiled by
// test-package.sh with tsc --strict and run: it prints what the comment at
// the end of each console.log line says.
import { Engine, FakeClock, Decision, PolicyError, libraryPath, libraryVersion } from 'agentauthz';

const clock = new FakeClock();
const engine = new Engine({ clock });
engine.loadString(`
agentauthz: 1
identities:
  - { match: "agent/*", roles: [support] }
tasks:
  triage: { roles: [support], max_ttl: 30m }
rules:
  - { id: read-kb, effect: allow, tools: [read_file], where: { resource: { glob: "/kb/**" } } }
`, 'policy.yaml');

const session = engine.session('agent/7', 'triage', { ttl: 600 });
const allowed: Decision = session.check({ tool: 'read_file', resource: '/kb/refunds.md' });
const denied: Decision = session.check('read_file', { resource: '/etc/passwd' });
console.log(allowed.effect, allowed.rule); // allow read-kb
console.log(denied.allowed, denied.rule); // false default
try {
    engine.loadString('agentauthz: 1\nrules: [ {id: x} ]\n', 'bad.yaml');
} catch (e) {
    if (e instanceof PolicyError) console.log(e.name, e.file); // PolicyError bad.yaml
}
const bundled: boolean = libraryPath.endsWith('/prebuilds/linux-x64/libagentauthz.so.0');
console.log(bundled, /^\d+\.\d+\.\d+$/.test(libraryVersion())); // true true
engine.close();
