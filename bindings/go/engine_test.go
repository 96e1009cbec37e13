package agentauthz

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadAndInfo(t *testing.T) {
	e, _ := newTestEngine(t)
	info, err := e.PolicyInfo()
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "go-binding-tests" || info.Rules != 10 || info.Tasks != 3 ||
		info.Secrets != 2 || info.Generation != 1 || len(info.Hash) != 64 {
		t.Fatalf("PolicyInfo = %+v", info)
	}
}

func TestNoPolicy(t *testing.T) {
	e, err := NewEngine()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, err = e.Open("agent/1", "work", nil, 0)
	expectCode(t, err, ErrNoPolicy)
	_, err = e.PolicyInfo()
	expectCode(t, err, ErrNoPolicy)
}

func TestPolicyErrorCarriesPositionAndDiagnostics(t *testing.T) {
	e, _ := newTestEngine(t)
	bad := "agentauthz: 1\nrules:\n  - id: a\n    effect: permit\n    tools: [x]\n" +
		"  - id: a\n    effect: allow\n    tools: [y]\n"
	err := e.LoadString("bad.yaml", bad)
	var pe *PolicyError
	if !errors.As(err, &pe) {
		t.Fatalf("LoadString error %v (%T), want *PolicyError", err, err)
	}
	expectCode(t, err, ErrPolicy)
	if pe.File != "bad.yaml" || pe.Line != 4 || pe.Column == 0 || pe.Message == "" {
		t.Fatalf("PolicyError = %+v", pe)
	}
	if len(pe.Diagnostics) < 2 {
		t.Fatalf("want every error reported, got %v", pe.Diagnostics)
	}
	for _, d := range pe.Diagnostics {
		if d.File != "bad.yaml" || d.Line == 0 || d.Warning {
			t.Fatalf("diagnostic %v", d)
		}
	}
	if !strings.Contains(err.Error(), "bad.yaml:4:") {
		t.Fatalf("Error() = %q", err.Error())
	}
	// The policy loaded before stays in force.
	info, _ := e.PolicyInfo()
	if info.Generation != 1 || info.Name != "go-binding-tests" {
		t.Fatalf("a failed load replaced the policy: %+v", info)
	}
}

func TestHostilePolicies(t *testing.T) {
	e, _ := newTestEngine(t)
	cases := map[string]string{
		"empty":    "",
		"nul":      "agentauthz: 1\x00\nrules: []\n",
		"alias":    "agentauthz: 1\nx: &a [1]\nrules: *a\n",
		"deep":     "agentauthz: 1\nrules: " + strings.Repeat("[", 500) + strings.Repeat("]", 500) + "\n",
		"dup":      "agentauthz: 1\nagentauthz: 1\nrules: []\n",
		"binary":   "\xff\xfe\x00\x01garbage",
		"bad glob": "agentauthz: 1\nrules:\n  - {id: a, effect: allow, tools: [\"[\"]}\n",
	}
	for name, text := range cases {
		err := e.LoadString(name, text)
		var pe *PolicyError
		if !errors.As(err, &pe) || pe.Code == 0 {
			t.Fatalf("%s: LoadString = %v, want a *PolicyError", name, err)
		}
	}
	err := e.LoadString("a\x00b", testPolicy)
	expectCode(t, err, ErrInvalid)
	if info, _ := e.PolicyInfo(); info.Generation != 1 {
		t.Fatalf("hostile loads changed the policy: %+v", info)
	}
}

func TestLoadFilesAndDirectories(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte(testPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	e, _ := newTestEngine(t)
	if err := e.Load(path); err != nil {
		t.Fatal(err)
	}
	if err := e.Load(dir); err != nil {
		t.Fatal(err)
	}
	if info, _ := e.PolicyInfo(); info.Generation != 3 {
		t.Fatalf("generation %d, want 3", info.Generation)
	}
	err := e.Load(filepath.Join(dir, "missing.yaml"))
	var pe *PolicyError
	if !errors.As(err, &pe) || !errors.Is(err, ErrIO) || !strings.Contains(pe.File, "missing.yaml") {
		t.Fatalf("Load(missing) = %#v", err)
	}
	expectCode(t, e.Load("a\x00b"), ErrInvalid)
}

func TestReloadAppliesToOpenSessions(t *testing.T) {
	e, _ := newTestEngine(t)
	s := openSession(t, e, "work", nil)
	expect(t, s, Action{Tool: "read_file", Resource: "/kb/a"}, Allow, "read-kb")
	stricter := strings.Replace(testPolicy, "effect: allow, tools: [read_file]",
		"effect: deny, tools: [read_file]", 1)
	if err := e.LoadString("v2.yaml", stricter); err != nil {
		t.Fatal(err)
	}
	expect(t, s, Action{Tool: "read_file", Resource: "/kb/a"}, Deny, "read-kb")
}

func TestEngineClose(t *testing.T) {
	e, err := NewEngine()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.LoadString("p", testPolicy); err != nil {
		t.Fatal(err)
	}
	s, err := e.Open("agent/1", "work", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal("a second Close must be a no-op:", err)
	}
	d, err := s.Check(Action{Tool: "read_file", Resource: "/kb/a"})
	if d.Allowed() || err == nil {
		t.Fatalf("check on a closed engine: %+v %v", d, err)
	}
	expectCode(t, err, ErrSession)
	s.Close()
	s.Close()
	expectCode(t, e.LoadString("p", testPolicy), ErrInvalid)
	_, err = e.Open("agent/1", "work", nil, 0)
	expectCode(t, err, ErrInvalid)
	_, err = e.PublicKey()
	expectCode(t, err, ErrInvalid)
}

func TestEngineName(t *testing.T) {
	_, err := NewEngine(WithName("a\x00b"))
	expectCode(t, err, ErrInvalid)
	e, err := NewEngine(WithName("gateway"))
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
}

func TestErrorStrings(t *testing.T) {
	if ErrDenied.Error() == "" || ErrPolicy.Error() == ErrDenied.Error() {
		t.Fatalf("strerror: %q %q", ErrDenied.Error(), ErrPolicy.Error())
	}
	err := error(&Error{Code: ErrSession, Message: "the session is closed"})
	if !errors.Is(err, ErrSession) || errors.Is(err, ErrDenied) {
		t.Fatal("errors.Is does not follow the code")
	}
	if Deny.String() != "deny" || Allow.String() != "allow" || Ask.String() != "ask" ||
		Effect(7).String() != "Effect(7)" {
		t.Fatal("Effect.String")
	}
}
