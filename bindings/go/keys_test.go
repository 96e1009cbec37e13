package agentauthz

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newKeys(t *testing.T) *Keys {
	t.Helper()
	k, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

func TestKeys(t *testing.T) {
	k := newKeys(t)
	pub := k.PublicText()
	if !strings.HasPrefix(pub, "azpk1.") || len(pub) != 49 || k.String() != "agentauthz.Keys("+pub+")" {
		t.Fatalf("public text %q, String %q", pub, k.String())
	}
	if newKeys(t).PublicText() == pub {
		t.Fatal("two key sets are equal")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "engine.keys")
	if err := k.Save(path); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	expectCode(t, k.Save(path), ErrExist)
	loaded, err := LoadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.PublicText() != pub {
		t.Fatal("the loaded keys differ")
	}
	if err := loaded.Close(); err != nil || loaded.Close() != nil || loaded.PublicText() != "" {
		t.Fatal("Close")
	}
	expectCode(t, loaded.Save(filepath.Join(dir, "x")), ErrInvalid)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadKeys(path)
	expectCode(t, err, ErrPerm)
	_, err = LoadKeys(filepath.Join(dir, "missing"))
	expectCode(t, err, ErrIO)
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("agentauthz-keys v1\nsign: AAAA\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadKeys(garbage)
	var ae *Error
	if !errors.Is(err, ErrCrypto) || !errors.As(err, &ae) || ae.Line == 0 {
		t.Fatalf("LoadKeys(garbage) = %#v", err)
	}
	_, err = LoadKeys("a\x00b")
	expectCode(t, err, ErrInvalid)
}

func TestKeysOutliveEngines(t *testing.T) {
	k := newKeys(t)
	e, err := NewEngine(WithKeys(k))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := e.PublicKey()
	if err != nil || pub != k.PublicText() {
		t.Fatalf("engine key %q, %v; want %q", pub, err, k.PublicText())
	}
	expectCode(t, k.Close(), ErrInvalid) // in use
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = NewEngine(WithKeys(k))
	expectCode(t, err, ErrInvalid)
}

func claims(now time.Time) Claims {
	return Claims{Identity: "agent/1", Task: "work", Session: strings.Repeat("s", 32),
		Audience: "aud", IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute),
		Tools: []string{"http.get", "db.*"}}
}

func TestSignAndVerify(t *testing.T) {
	k := newKeys(t)
	now := time.Now()
	c := claims(now)
	c.Issuer, c.Parent = "me", strings.Repeat("p", 32)
	token, err := k.SignToken(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyToken(k.PublicText(), token, "aud", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got.Identity != "agent/1" || got.Task != "work" || got.Issuer != "me" || got.Parent != c.Parent ||
		len(got.Tools) != 2 || got.Tools[1] != "db.*" || got.ExpiresAt.Unix() != now.Add(10*time.Minute).Unix() {
		t.Fatalf("claims %+v", got)
	}
	if _, err := VerifyToken(k.PublicText(), token, "", 0); err != nil {
		t.Fatal("any audience:", err)
	}
	_, err = VerifyToken(k.PublicText(), token, "other", 0)
	expectCode(t, err, ErrAudience)
	_, err = VerifyToken(newKeys(t).PublicText(), token, "aud", 0)
	expectCode(t, err, ErrSignature)
	_, err = VerifyTokenAt(k.PublicText(), token, "aud", time.Minute, now.Add(time.Hour))
	expectCode(t, err, ErrExpired)
	_, err = VerifyTokenAt(k.PublicText(), token, "aud", time.Minute, now.Add(11*time.Minute+time.Second))
	expectCode(t, err, ErrExpired)
	if _, err = VerifyTokenAt(k.PublicText(), token, "aud", 2*time.Minute, now.Add(11*time.Minute)); err != nil {
		t.Fatal("within the skew:", err)
	}
	// Tampering with any byte breaks the token.
	for i := len("aztk.v1.public."); i < len(token); i += 7 {
		b := []byte(token)
		b[i] ^= 1
		if _, err := VerifyToken(k.PublicText(), string(b), "aud", 0); err == nil {
			t.Fatalf("a token changed at byte %d verified", i)
		}
	}
	bad := c
	bad.ExpiresAt = now.Add(-time.Hour)
	_, err = k.SignToken(bad)
	expectCode(t, err, ErrInvalid)
	bad = c
	bad.Tools = make([]string, 300)
	_, err = k.SignToken(bad)
	expectCode(t, err, ErrLimit)
	bad = c
	bad.Identity = ""
	_, err = k.SignToken(bad)
	expectCode(t, err, ErrInvalid)
	bad.Identity = "a\x00b"
	_, err = k.SignToken(bad)
	expectCode(t, err, ErrInvalid)
}

func TestVerifyHostileTokens(t *testing.T) {
	k := newKeys(t)
	pub := k.PublicText()
	for _, token := range []string{"", "aztk", "aztk.v1.public..", "aztk.v2.public.e30.AAAA",
		"aztk.v1.public." + strings.Repeat("A", 5000) + "." + strings.Repeat("A", 86),
		strings.Repeat(".", 100), "aztk.v1.public.e30\x00.AAAA"} {
		if _, err := VerifyToken(pub, token, "", 0); !errors.Is(err, ErrToken) && !errors.Is(err, ErrSignature) {
			t.Fatalf("token %.40q: %v", token, err)
		}
	}
	_, err := VerifyToken(pub, strings.Repeat("x", 9000), "", 0)
	expectCode(t, err, ErrToken)
	_, err = VerifyToken("azpk1.short", "aztk.v1.public.e30.AAAA", "", 0)
	expectCode(t, err, ErrCrypto)
	_, err = VerifyToken(pub, "t", "", 25*time.Hour)
	expectCode(t, err, ErrInvalid)
	_, err = VerifyToken(pub, "t", "", -time.Second)
	expectCode(t, err, ErrInvalid)
	_, err = VerifyTokenAt(pub, "t", "", 0, time.Unix(0, 0))
	expectCode(t, err, ErrInvalid)
	tok, _ := k.SignToken(claims(time.Now()))
	_, err = VerifyToken(pub, tok, "a\x00", 0)
	expectCode(t, err, ErrInvalid)
	if err != nil && strings.Contains(err.Error(), tok) {
		t.Fatal("an error quotes the token")
	}
}

// The engine issues a task token as a `token` secret; a downstream service
// verifies it offline with the engine's public key.
func TestTokenSecretVerifies(t *testing.T) {
	k := newKeys(t)
	wall := NewFakeClock(time.Now())
	e, _ := newTestEngine(t, WithKeys(k), WithWallClock(wall))
	s := openSession(t, e, "work", nil)
	a := Action{Tool: "http.get", Destinations: []string{"https://api.example/v1"}}
	d := expect(t, s, a, Allow, "http")
	l, err := s.Lease(a, d, "tok")
	if err != nil {
		t.Fatal(err)
	}
	token := string(l.Bytes()) // a copy: the token goes on the wire
	l.Release()
	pub, _ := e.PublicKey()
	c, err := VerifyToken(pub, token, "https://api.example", 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity != "agent/1" || c.Task != "work" || c.Session != s.ID() || c.Audience != "https://api.example" {
		t.Fatalf("claims %+v", c)
	}
	// The fake wall clock stamped the token.
	if c.IssuedAt.Unix() != wall.Now().Unix() {
		t.Fatalf("iat %v, wall clock %v", c.IssuedAt, wall.Now())
	}
	_, err = VerifyTokenAt(pub, token, "https://api.example", 0, wall.Now().Add(31*time.Minute))
	expectCode(t, err, ErrExpired)
}
