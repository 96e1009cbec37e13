// Package agentauthz authorizes an AI agent's tool calls in-process with
// libagentauthz, through cgo.
//
// An Engine holds a policy; a Session is one agent working on one task;
// Session.Check decides an Action (a tool call) as allow, deny or ask:
//
//	engine, err := agentauthz.NewEngine()
//	if err != nil { ... }
//	defer engine.Close()
//	if err := engine.Load("policy.yaml"); err != nil { ... } // a *PolicyError
//	s, err := engine.Open("agent/1", "triage", nil, 0)
//	if err != nil { ... }
//	defer s.Close()
//	d, err := s.Check(agentauthz.Action{Tool: "read_file", Resource: "/kb/faq.md"})
//	if err != nil || !d.Allowed() { ... refuse, citing d.Rule and d.Reason ... }
//
// Every failure is a Go error that errors.Is matches against a sentinel
// (ErrDenied, ErrSession, ErrExpired, ...); Check reports a deny whenever it
// returns an error. Every type is safe for concurrent use, Close included:
// a Close waits for the calls already running on the object, and later
// calls fail with ErrInvalid (or, for checks, deny). Close methods are
// idempotent and objects that are never closed are freed by the garbage
// collector, but closing them promptly ends sessions and wipes secrets.
//
// The package links against libagentauthz, which cgo finds with
// pkg-config (agentauthz.pc, installed with the library): for a library
// installed under another prefix, or a build tree, set PKG_CONFIG_PATH to
// the directory holding agentauthz.pc (a build tree has
// agentauthz-uninstalled.pc), and let the loader find the library at run
// time (ldconfig, LD_LIBRARY_PATH or an rpath). The import path is the
// module's, github.com/libagentauthz/libagentauthz/bindings/go; the package
// name is agentauthz.
package agentauthz
