package agentauthz

import (
	"encoding/base64"
	"encoding/json"
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
	c.Params = map[string]any{"ticket": "T-1", "n": 2}
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
	if got.Params["ticket"] != "T-1" || got.Params["n"] != float64(2) || len(got.Params) != 2 {
		t.Fatalf("params %+v", got.Params)
	}
	if _, err := VerifyToken(k.PublicText(), token, "", 0); err != nil {
		t.Fatal("any audience:", err)
	}
	_, err = VerifyToken(k.PublicText(), token, "other", 0)
	expectCode(t, err, ErrAudience)
	_, err = VerifyToken(newKeys(t).PublicText(), token, "aud", 0)
	expectCode(t, err, ErrKeyID)
	_, err = VerifyTokenAt(k.PublicText(), token, "aud", time.Minute, now.Add(time.Hour))
	expectCode(t, err, ErrExpired)
	_, err = VerifyTokenAt(k.PublicText(), token, "aud", time.Minute, now.Add(11*time.Minute+time.Second))
	expectCode(t, err, ErrExpired)
	if _, err = VerifyTokenAt(k.PublicText(), token, "aud", 2*time.Minute, now.Add(11*time.Minute)); err != nil {
		t.Fatal("within the skew:", err)
	}
	// Tampering with any byte breaks the token.
	for i := 0; i < len(token); i += 7 {
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
	for _, token := range []string{"", "a.b", "a.b.", "e30.e30." + strings.Repeat("A", 86),
		"e30." + strings.Repeat("A", 5000) + "." + strings.Repeat("A", 86),
		strings.Repeat(".", 100), "e30.e30\x00.AAAA"} {
		if _, err := VerifyToken(pub, token, "", 0); !errors.Is(err, ErrToken) &&
			!errors.Is(err, ErrSignature) && !errors.Is(err, ErrAlgorithm) {
			t.Fatalf("token %.40q: %v", token, err)
		}
	}
	_, err := VerifyToken(pub, strings.Repeat("x", 9000), "", 0)
	expectCode(t, err, ErrLimit)
	_, err = VerifyToken("azpk1.short", "e30.e30.AAAA", "", 0)
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

// withHeader puts another header on a token (its signature then no longer verifies).
func withHeader(token, header string) string {
	parts := strings.Split(token, ".")
	parts[0] = base64.RawURLEncoding.EncodeToString([]byte(header))
	return strings.Join(parts, ".")
}

func TestRefusedHeaders(t *testing.T) {
	k := newKeys(t)
	pub := k.PublicText()
	kid, err := KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	token, _ := k.SignToken(claims(time.Now()))
	for _, c := range []struct {
		header string
		code   Code
	}{
		{`{"alg":"none","typ":"txntoken+jwt","kid":"` + kid + `"}`, ErrAlgorithm},
		{`{"alg":"ES256","typ":"txntoken+jwt","kid":"` + kid + `"}`, ErrAlgorithm},
		{`{"alg":"EdDSA","typ":"txntoken+jwt"}`, ErrKeyID},
		{`{"alg":"EdDSA","typ":"txntoken+jwt","kid":"x` + kid + `"}`, ErrKeyID},
		{`{"alg":"EdDSA","typ":"JWT","kid":"` + kid + `"}`, ErrTokenType},
		{`{"alg":"EdDSA","alg":"EdDSA","typ":"txntoken+jwt","kid":"` + kid + `"}`, ErrJSON},
		// The near miss: an acceptable header reaches the signature check.
		{`{"kid":"` + kid + `","typ":"application/txntoken+jwt","alg":"EdDSA"}`, ErrSignature},
	} {
		_, err := VerifyToken(pub, withHeader(token, c.header), "", 0)
		expectCode(t, err, c.code)
	}
}

func TestJWKS(t *testing.T) {
	k, other := newKeys(t), newKeys(t)
	set := k.JWKS()
	var parsed struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal([]byte(set), &parsed); err != nil || len(parsed.Keys) != 1 {
		t.Fatalf("JWKS %q: %v", set, err)
	}
	kid, _ := KeyID(k.PublicText())
	jwk := parsed.Keys[0]
	if jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" || jwk["alg"] != "EdDSA" || jwk["use"] != "sig" ||
		jwk["kid"] != kid || jwk["x"] != strings.TrimPrefix(k.PublicText(), "azpk1.") {
		t.Fatalf("JWK %v", jwk)
	}
	if s, err := PublicKeyJWKS(k.PublicText()); err != nil || s != set {
		t.Fatalf("PublicKeyJWKS %q %v", s, err)
	}
	token, _ := k.SignToken(claims(time.Now()))
	if c, err := VerifyTokenJWKS(set, token, "aud", 0); err != nil || c.Identity != "agent/1" {
		t.Fatalf("VerifyTokenJWKS: %v", err)
	}
	_, err := VerifyTokenJWKS(other.JWKS(), token, "aud", 0)
	expectCode(t, err, ErrKeyID)
	_, err = VerifyTokenJWKS(`{"keys":[]}`, token, "", 0)
	expectCode(t, err, ErrCrypto)
	_, err = KeyID("azpk1.short")
	expectCode(t, err, ErrCrypto)
	e, _ := newTestEngine(t, WithKeys(k))
	if s, err := e.JWKS(); err != nil || s != set {
		t.Fatalf("Engine.JWKS %q %v", s, err)
	}
}
