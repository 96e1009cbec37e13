// The golang-jwt side of the interop tests (tests/interop/interop-golang-jwt.sh).
//
//	interop verify JWKS AUDIENCE TOKEN
//	    Verifies TOKEN with golang-jwt and the JWK Set in the file JWKS only
//	    (EdDSA, typ txntoken+jwt, AUDIENCE, exp), and prints its header and
//	    claims one per line (see common.sh). A refused token prints
//	    "refused: MESSAGE" and exits 3.
//	interop sign KEYFILE JWKS AUDIENCE
//	    Prints "CASE TOKEN" lines: tokens golang-jwt signs, some with the
//	    engine's own key (from the key file's "sign:" seed), some with other
//	    keys, algorithms or headers. common.sh says what the verifier must do.
package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	lib     = "golang-jwt"
	refused = 3
)

var b64 = base64.RawURLEncoding

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
}

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

func readJWKS(path string) (*jwkSet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var set jwkSet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &set, nil
}

// thumbprint is RFC 7638's: SHA-256 of the required members, sorted, no spaces.
func thumbprint(x string) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return b64.EncodeToString(sum[:])
}

func verify(jwksFile, audience, token string) (int, error) {
	set, err := readJWKS(jwksFile)
	if err != nil {
		return 1, err
	}
	var used *jwk
	keyfunc := func(t *jwt.Token) (any, error) {
		// golang-jwt leaves typ and the key's choice to the caller.
		if typ, _ := t.Header["typ"].(string); typ != "txntoken+jwt" &&
			typ != "application/txntoken+jwt" {
			return nil, fmt.Errorf("typ %v", t.Header["typ"])
		}
		kid, _ := t.Header["kid"].(string)
		for i := range set.Keys {
			k := &set.Keys[i]
			if kid != "" && k.Kid == kid && k.Kty == "OKP" && k.Crv == "Ed25519" {
				x, err := b64.DecodeString(k.X)
				if err != nil || len(x) != ed25519.PublicKeySize {
					return nil, errors.New("the JWK's x is not an Ed25519 key")
				}
				used = k
				return ed25519.PublicKey(x), nil
			}
		}
		return nil, errors.New("the header has no kid of the JWK Set")
	}
	claims := jwt.MapClaims{}
	t, err := jwt.ParseWithClaims(token, claims, keyfunc,
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithAudience(audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err == nil {
		for _, name := range []string{"iat", "exp", "sub", "txn", "scope"} {
			if _, ok := claims[name]; !ok {
				err = fmt.Errorf("no %s claim", name)
			}
		}
	}
	if err != nil {
		fmt.Printf("refused: %v\n", err)
		return refused, nil
	}
	aud, _ := claims.GetAudience()
	iss, ok := claims["iss"].(string)
	if !ok {
		iss = "-"
	}
	var tools []string
	parent, params := "-", "-"
	if tctx, ok := claims["tctx"].(map[string]any); ok {
		list, _ := tctx["tools"].([]any)
		for _, v := range list {
			tools = append(tools, fmt.Sprint(v))
		}
		if p, ok := tctx["parent"].(string); ok {
			parent = p
		}
		if p, ok := tctx["params"]; ok {
			// Compact, members sorted (encoding/json sorts map keys).
			text, _ := json.Marshal(p)
			params = string(text)
		}
	}
	fmt.Printf("alg %v\ntyp %v\nkid %v\nthumbprint %s\n", t.Header["alg"], t.Header["typ"],
		t.Header["kid"], thumbprint(used.X))
	fmt.Printf("iss %s\nsub %v\naud %s\nscope %v\ntxn %v\n", iss, claims["sub"],
		strings.Join(aud, ","), claims["scope"], claims["txn"])
	fmt.Printf("iat %.0f\nexp %.0f\ntools %s\nparent %s\nparams %s\n", claims["iat"],
		claims["exp"], strings.Join(tools, ","), parent, params)
	return 0, nil
}

// engineKey is the engine's signing key, from the key file's 32-byte seed.
func engineKey(keyFile string) (ed25519.PrivateKey, error) {
	f, err := os.Open(keyFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if seed, ok := strings.CutPrefix(sc.Text(), "sign: "); ok {
			raw, err := b64.DecodeString(seed)
			if err != nil || len(raw) != ed25519.SeedSize {
				return nil, fmt.Errorf("%s: the seed is not 32 bytes of base64url", keyFile)
			}
			return ed25519.NewKeyFromSeed(raw), nil
		}
	}
	return nil, fmt.Errorf("%s: no \"sign:\" line", keyFile)
}

func sign(keyFile, jwksFile, audience string) (int, error) {
	set, err := readJWKS(jwksFile)
	if err != nil {
		return 1, err
	}
	priv, err := engineKey(keyFile)
	if err != nil {
		return 1, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	x := b64.EncodeToString(pub)
	kid := thumbprint(x)
	found := false
	for _, k := range set.Keys {
		if k.X == x {
			found = true
			if k.Kid != kid {
				return 1, fmt.Errorf("the JWK Set's kid %s is not the thumbprint %s", k.Kid, kid)
			}
		}
	}
	if !found {
		return 1, errors.New("the key file's public key is not in the JWK Set")
	}

	now := time.Now().Unix()
	claims := func(over jwt.MapClaims) jwt.MapClaims {
		nonce := make([]byte, 6)
		if _, err := rand.Read(nonce); err != nil {
			panic(err)
		}
		c := jwt.MapClaims{
			"iss": "interop-" + lib, "sub": "spiffe://example.org/interop/" + lib,
			"aud": audience, "iat": now, "exp": now + 300,
			"txn":   "interop-" + lib + "-" + hex.EncodeToString(nonce),
			"scope": "triage-ticket",
			"tctx":  map[string]any{"tools": []string{"read_ticket", "search_kb"}},
		}
		for k, v := range over {
			c[k] = v
		}
		return c
	}
	// tok signs claims with method and key; header replaces golang-jwt's
	// default header (alg and typ "JWT") except for alg.
	tok := func(method jwt.SigningMethod, key any, header map[string]any, c jwt.MapClaims) string {
		t := jwt.NewWithClaims(method, c)
		t.Header = map[string]any{"alg": method.Alg()}
		for k, v := range header {
			t.Header[k] = v
		}
		s, err := t.SignedString(key)
		if err != nil {
			panic(err)
		}
		return s
	}
	std := map[string]any{"typ": "txntoken+jwt", "kid": kid}
	with := func(k string, v any) map[string]any {
		h := map[string]any{"typ": "txntoken+jwt", "kid": kid}
		h[k] = v
		return h
	}
	unsigned := func(header map[string]any, c jwt.MapClaims) string {
		h, _ := json.Marshal(header)
		p, _ := json.Marshal(c)
		return b64.EncodeToString(h) + "." + b64.EncodeToString(p) + "."
	}

	// byHand signs the exact payload text, for JSON no JWT library writes.
	byHand := func(header map[string]any, payload string) string {
		h, _ := json.Marshal(header)
		input := b64.EncodeToString(h) + "." + b64.EncodeToString([]byte(payload))
		return input + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(input)))
	}
	plain, _ := json.Marshal(claims(nil))
	dupSub := strings.TrimSuffix(string(plain), "}") + `,"sub":"spiffe://example.org/interop/admin"}`
	var many []string
	for i := 0; i < 200; i++ {
		many = append(many, fmt.Sprintf("tool_%d_%s", i, strings.Repeat("x", 50)))
	}

	_, foreign, _ := ed25519.GenerateKey(rand.Reader)
	foreignKid := thumbprint(b64.EncodeToString(foreign.Public().(ed25519.PublicKey)))
	es256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return 1, err
	}
	rs256, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return 1, err
	}
	crit := with("crit", []string{"urn:example:must"})
	crit["urn:example:must"] = true
	cases := []struct{ name, token string }{
		{"good", tok(jwt.SigningMethodEdDSA, priv, std, claims(nil))},
		{"good-tctx", tok(jwt.SigningMethodEdDSA, priv, std, claims(jwt.MapClaims{
			"tctx": map[string]any{"tools": []string{"read_ticket"}, "parent": "interop-parent-1",
				"params": map[string]any{"ticket": "T-42", "priority": 2}}}))},
		{"good-mediatype", tok(jwt.SigningMethodEdDSA, priv,
			with("typ", "application/txntoken+jwt"), claims(nil))},
		{"foreign-key", tok(jwt.SigningMethodEdDSA, foreign, std, claims(nil))},
		{"foreign-kid", tok(jwt.SigningMethodEdDSA, foreign, with("kid", foreignKid), claims(nil))},
		{"hs256-pubkey", tok(jwt.SigningMethodHS256, []byte(pub), std, claims(nil))},
		{"es256", tok(jwt.SigningMethodES256, es256, std, claims(nil))},
		{"rs256", tok(jwt.SigningMethodRS256, rs256, std, claims(nil))},
		{"alg-none", unsigned(with("alg", "none"), claims(nil))},
		{"typ-jwt", tok(jwt.SigningMethodEdDSA, priv, with("typ", "JWT"), claims(nil))},
		{"no-typ", tok(jwt.SigningMethodEdDSA, priv, map[string]any{"kid": kid}, claims(nil))},
		{"no-kid", tok(jwt.SigningMethodEdDSA, priv, map[string]any{"typ": "txntoken+jwt"},
			claims(nil))},
		{"crit", tok(jwt.SigningMethodEdDSA, priv, crit, claims(nil))},
		// Two "sub": a JWT library reads the last, which must not be trusted.
		{"dup-sub", byHand(with("alg", "EdDSA"), dupSub)},
		{"oversized", tok(jwt.SigningMethodEdDSA, priv, std,
			claims(jwt.MapClaims{"tctx": map[string]any{"tools": many}}))},
		{"expired", tok(jwt.SigningMethodEdDSA, priv, std,
			claims(jwt.MapClaims{"iat": now - 900, "exp": now - 600}))},
		{"wrong-aud", tok(jwt.SigningMethodEdDSA, priv, std,
			claims(jwt.MapClaims{"aud": audience + ".evil"}))},
	}
	for _, c := range cases {
		fmt.Println(c.name, c.token)
	}
	return 0, nil
}

func main() {
	var status int
	var err error
	args := os.Args[1:]
	switch {
	case len(args) == 4 && args[0] == "verify":
		status, err = verify(args[1], args[2], args[3])
	case len(args) == 4 && args[0] == "sign":
		status, err = sign(args[1], args[2], args[3])
	default:
		fmt.Fprintln(os.Stderr, "usage: interop verify JWKS AUDIENCE TOKEN | sign KEYFILE JWKS AUDIENCE")
		status = 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
	}
	os.Exit(status)
}
