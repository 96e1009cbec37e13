package agentauthz

import (
	"errors"
	"testing"
	"time"
)

// testPolicy exercises rules, asks, params, limits, secrets and expiry;
// each test uses the parts it needs.
const testPolicy = `agentauthz: 1
name: go-binding-tests
identities:
  - { match: "agent/*", roles: [worker] }
tools:
  get_secret: { produces: [secret] }
  send: { sink: true }
secrets:
  db: { provider: random, bytes: 32, tools: [db.query] }
  tok: { provider: token, audience: "https://api.example", tools: [http.get] }
tasks:
  work:
    roles: [worker]
    secrets: [db, tok]
    max_ttl: 30m
  pay:
    roles: [worker]
    params: { customer: string, max: number }
    limits: { calls: 5 }
  strict:
    roles: [worker]
    on_deny: revoke
rules:
  - { id: read-kb, effect: allow, tools: [read_file], where: { resource: { glob: "/kb/**" } } }
  - { id: no-env, effect: deny, tools: ["*"], where: { resource: { glob: "**/.env*" } },
      reason: dotenv files hold credentials }
  - { id: db, effect: allow, tools: [db.query] }
  - { id: no-drop, effect: deny, tools: [db.query], where: { args.sql: { prefix: DROP } } }
  - { id: http, effect: allow, tools: [http.get, get_secret] }
  - { id: mail-inside, effect: allow, tools: [send_email],
      where: { args.to: { each: { domain: [corp.example] } } } }
  - { id: big-payment, effect: ask, tasks: [pay], tools: [send_money],
      where: { args.amount: { gt: 1000 } }, reason: large payments need a human }
  - { id: small-payment, effect: allow, tasks: [pay], tools: [send_money],
      where: { args.to: { eq: { param: customer } }, args.amount: { lte: { param: max } } } }
  - { id: send-inside, effect: allow, tools: [send], where: { destination: { domain: [corp.example] } } }
  - { id: labelled, effect: deny, tools: ["*"], where: { labels: { has: secret } } }
`

// newTestEngine returns an engine on a fake clock with testPolicy loaded;
// the test closes it.
func newTestEngine(t testing.TB, opts ...Option) (*Engine, *FakeClock) {
	t.Helper()
	clock := NewFakeClock(time.Unix(1000, 0))
	e, err := NewEngine(append([]Option{WithClock(clock)}, opts...)...)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := e.LoadString("test.yaml", testPolicy); err != nil {
		t.Fatalf("LoadString: %v", err)
	}
	return e, clock
}

func openSession(t testing.TB, e *Engine, task string, params map[string]any) *Session {
	t.Helper()
	s, err := e.Open("agent/1", task, params, 0)
	if err != nil {
		t.Fatalf("Open(%s): %v", task, err)
	}
	t.Cleanup(s.Close)
	return s
}

// expect checks a and compares the effect and rule.
func expect(t testing.TB, s *Session, a Action, effect Effect, rule string) Decision {
	t.Helper()
	d, err := s.Check(a)
	if err != nil {
		t.Fatalf("Check(%+v): %v", a, err)
	}
	if d.Effect != effect || d.Rule != rule {
		t.Fatalf("Check(%+v) = %v %q (%s), want %v %q", a, d.Effect, d.Rule, d.Reason, effect, rule)
	}
	return d
}

func expectCode(t testing.TB, err error, code Code) {
	t.Helper()
	if !errors.Is(err, code) {
		t.Fatalf("error %v (%T), want %v (%d)", err, err, code, int(code))
	}
}
