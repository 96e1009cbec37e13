// Command go-example shows the Go binding guarding a support agent's tool
// calls with examples/policy.yaml: a ticket read, a refund to the wrong
// customer, a payment that needs a human, and a database password leased
// for one allowed query.
//
//	go run . ../policy.yaml
package main

import (
	"errors"
	"fmt"
	"os"

	agentauthz "github.com/libagentauthz/libagentauthz/bindings/go"
)

func main() {
	policy := "examples/policy.yaml"
	if len(os.Args) > 1 {
		policy = os.Args[1]
	}
	if err := run(policy); err != nil {
		fmt.Fprintln(os.Stderr, "go-example:", err)
		os.Exit(1)
	}
}

func run(policy string) error {
	engine, err := agentauthz.NewEngine()
	if err != nil {
		return err
	}
	defer engine.Close()
	if err := engine.Load(policy); err != nil {
		var pe *agentauthz.PolicyError
		if errors.As(err, &pe) {
			for _, d := range pe.Diagnostics {
				fmt.Fprintln(os.Stderr, d)
			}
		}
		return err
	}
	// The orchestrator binds what the user asked for: this customer, this amount.
	s, err := engine.Open("spiffe://corp.example/agents/support/7", "resolve-ticket",
		map[string]any{"customer_email": "ann@example.com", "max_refund": 50}, 0)
	if err != nil {
		return err
	}
	defer s.Close()

	show := func(label string, a agentauthz.Action) agentauthz.Decision {
		d, err := s.Check(a)
		if err != nil {
			fmt.Printf("%-28s deny (error: %v)\n", label, err)
			return d
		}
		fmt.Printf("%-28s %s (rule %s)\n", label, d.Effect, d.Rule)
		return d
	}
	show("read the ticket:", agentauthz.Action{Tool: "read_file", Resource: "/tickets/4711.json"})
	show("refund another customer:", agentauthz.Action{Tool: "payments.refund",
		Args: map[string]any{"email": "mallory@evil.example", "amount": 20}})
	pay := agentauthz.Action{Tool: "send_money",
		Args: map[string]any{"payee": "GB29NWBK60161331926819", "amount": 2500}}
	if d := show("a large payment:", pay); d.Effect == agentauthz.Ask {
		// A human said yes: the same payment is allowed once.
		if err := s.Approve(pay, agentauthz.ApproveOnce); err != nil {
			return err
		}
		show("the approved payment:", pay)
	}
	query := agentauthz.Action{Tool: "db.query", Resource: "support.orders"}
	d := show("query the orders:", query)
	lease, err := s.Lease(query, d, "support_db")
	if err != nil {
		return err
	}
	// Hand lease.Bytes() to the database driver here; never print or keep it.
	fmt.Printf("%-28s %d bytes, valid until Release\n", "leased support_db:", len(lease.Bytes()))
	lease.Release()
	return nil
}
