package agentauthz

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// leaseDB checks a db.query and leases the db secret for it.
func leaseDB(t *testing.T, s *Session) (*Lease, []byte) {
	t.Helper()
	a := Action{Tool: "db.query", Resource: "orders"}
	d := expect(t, s, a, Allow, "db")
	l, err := s.Lease(a, d, "db")
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	value := append([]byte(nil), l.Bytes()...) // a copy, for the test only
	return l, value
}

func TestLease(t *testing.T) {
	e, _ := newTestEngine(t)
	s := openSession(t, e, "work", nil)
	l, value := leaseDB(t, s)
	if len(value) != 32 || bytes.Equal(value, make([]byte, 32)) || !l.Valid() || l.Name() != "db" {
		t.Fatalf("lease: %d bytes, valid %v", len(value), l.Valid())
	}
	for _, text := range []string{fmt.Sprint(l), fmt.Sprintf("%v %+v %#v %s", l, l, l, l)} {
		if strings.Contains(text, string(value)) || strings.Contains(text, hex.EncodeToString(value)) {
			t.Fatal("a lease prints its secret")
		}
	}
	// A second session's secret differs.
	l2, value2 := leaseDB(t, openSession(t, e, "work", nil))
	if bytes.Equal(value, value2) {
		t.Fatal("two sessions got the same secret")
	}
	l2.Release()
	// The engine refuses to close while a lease is held.
	expectCode(t, e.Close(), ErrInvalid)
	l.Release()
	l.Release()
	if l.Bytes() != nil || l.Valid() {
		t.Fatal("a released lease still gives bytes")
	}
}

func TestLeaseWipedWhenSessionEnds(t *testing.T) {
	e, _ := newTestEngine(t)
	s := openSession(t, e, "work", nil)
	l, _ := leaseDB(t, s)
	defer l.Release()
	view := l.Bytes() // what a careless caller would keep
	if err := s.Revoke(); err != nil {
		t.Fatal(err)
	}
	if l.Valid() || l.Bytes() != nil {
		t.Fatal("the lease outlived its session")
	}
	if !bytes.Equal(view, make([]byte, len(view))) {
		t.Fatal("the secret was not wiped in place")
	}
}

func TestLeaseRefusals(t *testing.T) {
	e, _ := newTestEngine(t)
	s := openSession(t, e, "work", nil)
	allowed := Action{Tool: "db.query"}
	d := expect(t, s, allowed, Allow, "db")
	deny := expect(t, s, Action{Tool: "db.query", Args: map[string]any{"sql": "DROP x"}}, Deny, "no-drop")
	httpAct := Action{Tool: "http.get"}
	hd := expect(t, s, httpAct, Allow, "http")
	cases := []struct {
		name string
		a    Action
		d    Decision
		sec  string
		code Code
	}{
		{"a deny", Action{Tool: "db.query", Args: map[string]any{"sql": "DROP x"}}, deny, "db", ErrDenied},
		{"forged seq", allowed, Decision{Effect: Allow, Seq: 99}, "db", ErrDenied},
		{"forged effect", allowed, Decision{Effect: Allow, Seq: deny.Seq}, "db", ErrDenied},
		{"other tool", httpAct, hd, "db", ErrDenied},
		{"decision of another tool", allowed, hd, "db", ErrDenied},
		{"unknown secret", allowed, d, "nope", ErrNotFound},
		{"nul name", allowed, d, "db\x00", ErrInvalid},
		{"no tool", Action{}, d, "db", ErrInvalid},
	}
	for _, c := range cases {
		l, err := s.Lease(c.a, c.d, c.sec)
		if l != nil || !errors.Is(err, c.code) {
			t.Fatalf("%s: Lease = %v, %v; want error %v", c.name, l, err, c.code)
		}
	}
	s.Close()
	_, err := s.Lease(allowed, d, "db")
	expectCode(t, err, ErrSession)
}

// A live secret found in an action, raw or encoded, denies it (rule "leak").
func TestLeakDenial(t *testing.T) {
	e, _ := newTestEngine(t)
	s := openSession(t, e, "work", nil)
	l, secret := leaseDB(t, s)
	defer l.Release()
	other := openSession(t, e, "work", nil) // leaks are found across sessions of the engine
	mail := Action{Tool: "send_email", Args: map[string]any{"to": []string{"a@corp.example"}, "body": hex.EncodeToString(secret)}}
	for _, sess := range []*Session{s, other} {
		expect(t, sess, mail, Deny, "leak")
		for _, payload := range [][]byte{
			append(append([]byte("x"), secret...), 'y'),
			[]byte(base64.StdEncoding.EncodeToString(secret)),
			[]byte(base64.RawURLEncoding.EncodeToString(secret)),
		} {
			expect(t, sess, Action{Tool: "send", Destinations: []string{"corp.example"}, Payload: payload}, Deny, "leak")
		}
		expect(t, sess, Action{Tool: "send", Destinations: []string{"corp.example"}, Payload: []byte("harmless")}, Allow, "send-inside")
	}
}

func TestScrub(t *testing.T) {
	e, _ := newTestEngine(t)
	s := openSession(t, e, "work", nil)
	l, secret := leaseDB(t, s)
	defer l.Release()
	text := append([]byte("raw "), secret...)
	text = append(text, " hex "+hex.EncodeToString(secret)+" b64 "+base64.StdEncoding.EncodeToString(secret)+" end"...)
	out, err := s.Scrub(text)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(out, []byte("[redacted:db]")) != 3 || bytes.Contains(out, secret) ||
		!bytes.HasSuffix(out, []byte(" end")) {
		t.Fatalf("scrubbed: %q", out)
	}
	if out, err = s.Scrub(nil); err != nil || len(out) != 0 {
		t.Fatalf("Scrub(nil) = %q, %v", out, err)
	}
}

func TestSubstitute(t *testing.T) {
	e, _ := newTestEngine(t)
	s := openSession(t, e, "work", nil)
	l, secret := leaseDB(t, s)
	defer l.Release()
	a := Action{Tool: "db.query"}
	d := expect(t, s, a, Allow, "db")
	b, err := s.Substitute(a, d, "password=${secret:db};")
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte("password="), secret...), ';')
	if !bytes.Equal(b.Bytes(), want) || strings.Contains(fmt.Sprintf("%v %#v", b, b), string(secret)) {
		t.Fatal("substitution")
	}
	expectCode(t, e.Close(), ErrInvalid)
	b.Free()
	b.Free()
	if b.Bytes() != nil {
		t.Fatal("a freed buffer still gives bytes")
	}
	_, err = s.Substitute(a, d, "${secret:tok}")
	expectCode(t, err, ErrDenied)
	_, err = s.Substitute(a, d, "${secret:db")
	expectCode(t, err, ErrInvalid)
}
