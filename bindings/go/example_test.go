package agentauthz_test

import (
	"fmt"
	"time"

	agentauthz "github.com/libagentauthz/libagentauthz/bindings/go"
)

// The README's example: guard a tool call, and test a tool against a
// policy on a fake clock.
func Example() {
	engine, err := agentauthz.NewEngine()
	if err != nil {
		panic(err)
	}
	defer engine.Close()
	err = engine.LoadString("policy.yaml", `agentauthz: 1
tasks: {triage: {}}
rules:
  - { id: read-kb, effect: allow, tools: [read_file], where: { resource: { glob: "/kb/**" } } }
  - { id: no-env, effect: deny, tools: ["*"], where: { resource: { glob: "**/.env*" } },
      reason: dotenv files hold credentials }
`)
	if err != nil {
		panic(err)
	}
	s, err := engine.Open("agent/1", "triage", nil, 10*time.Minute)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	for _, path := range []string{"/kb/faq.md", "/kb/.env", "/etc/passwd"} {
		d, err := s.Check(agentauthz.Action{Tool: "read_file", Resource: path})
		fmt.Println(path, d.Effect, d.Rule, d.Reason, err)
	}
	// Output:
	// /kb/faq.md allow read-kb  <nil>
	// /kb/.env deny no-env dotenv files hold credentials <nil>
	// /etc/passwd deny default no rule matched <nil>
}

// Sessions expire on the engine's clock; tests move a fake one.
func ExampleFakeClock() {
	clock := agentauthz.NewFakeClock(time.Unix(0, 0))
	engine, _ := agentauthz.NewEngine(agentauthz.WithClock(clock))
	defer engine.Close()
	_ = engine.LoadString("p.yaml", "agentauthz: 1\ntasks: {t: {}}\nrules:\n  - {id: any, effect: allow, tools: [\"*\"]}\n")
	s, _ := engine.Open("agent/1", "t", nil, time.Minute)
	defer s.Close()
	clock.Advance(2 * time.Minute)
	d, _ := s.Check(agentauthz.Action{Tool: "search"})
	fmt.Println(d.Effect, d.Rule, d.Reason)
	// Output: deny session session expired
}
