'use strict';
/* Shared setup of the binding's tests: a policy that uses most features. */

const { Engine, FakeClock } = require('..');

const POLICY = `
agentauthz: 1
name: binding-tests
identities:
  - { match: "agent/*", roles: [worker] }
  - { match: "boss", roles: [worker, admin] }
tools:
  get_secret: { produces: [secret] }
  send: { sink: true }
secrets:
  db: { provider: random, bytes: 32, tools: [db.query] }
  api: { provider: derived, tools: [http.get] }
  tok: { provider: token, audience: "https://api.example", tools: [http.get] }
  gh: { provider: host, tools: [git.push] }
tasks:
  work:
    roles: [worker]
    secrets: [db, api, tok]
    max_ttl: 30m
  host:
    roles: [worker]
    secrets: [gh]
  pay:
    roles: [worker]
    params: { customer: string, max: number }
    limits: { calls: 5 }
  child: { roles: [worker], secrets: [db] }
  admin-only: { roles: [admin] }
rules:
  - { id: read-kb, effect: allow, tools: [read_file], where: { resource: { glob: "/kb/**" } } }
  - { id: no-env, effect: deny, tools: ["*"], where: { resource: { glob: "**/.env*" } },
      reason: dotenv files hold credentials }
  - { id: db, effect: allow, tools: [db.query] }
  - { id: no-drop, effect: deny, tools: [db.query], where: { args.sql: { prefix: DROP } } }
  - { id: http, effect: allow, tools: [http.get, git.push, get_secret] }
  - { id: mail-inside, effect: allow, tools: [send_email],
      where: { args.to: { each: { domain: [corp.example] } } } }
  - { id: big-payment, effect: ask, tasks: [pay], tools: [send_money],
      where: { args.amount: { gt: 1000 } }, reason: large payments need a human }
  - { id: small-payment, effect: allow, tasks: [pay], tools: [send_money],
      where: { args.to: { eq: { param: customer } }, args.amount: { lte: { param: max } } } }
  - { id: send-inside, effect: allow, tools: [send], where: { destination: { domain: [corp.example] } } }
  - { id: labelled, effect: deny, tools: ["*"], where: { labels: { has: secret } } }
`;

/* An engine on a fake clock with POLICY loaded; the test closes it. */
function engineWithPolicy(text = POLICY) {
    const clock = new FakeClock();
    const engine = new Engine({ clock });
    engine.loadString(text, 'policy.yaml');
    return { engine, clock };
}

module.exports = { POLICY, engineWithPolicy };
