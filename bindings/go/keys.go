package agentauthz

/*
#include "shim.h"
*/
import "C"

import (
	"encoding/json"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Keys are an engine's keys: an Ed25519 signing key pair (task tokens), a
// master key (derived secrets) and an audit key. The key bytes stay in the
// library's guarded memory and never enter Go memory. Safe for concurrent
// use.
type Keys struct {
	mu    sync.Mutex
	c     *C.agentauthz_keys
	users int // engines created WithKeys(k) and not yet closed
}

// GenerateKeys makes fresh random keys.
func GenerateKeys() (*Keys, error) {
	k := &Keys{}
	var cerr C.agentauthz_error
	if rc := C.agentauthz_keys_generate(&k.c, &cerr); rc != 0 {
		return nil, newError(rc, &cerr)
	}
	runtime.SetFinalizer(k, func(k *Keys) { _ = k.Close() })
	return k, nil
}

// LoadKeys loads keys from a key file (see agentauthz/secrets.h for its
// format). The file must be mode 0600 or 0400 (else ErrPerm); a malformed
// one gives ErrCrypto with the line and column. Messages never hold key
// bytes.
func LoadKeys(path string) (*Keys, error) {
	if !validString(path) {
		return nil, misuse(ErrInvalid, "the path holds a NUL byte")
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	k := &Keys{}
	var cerr C.agentauthz_error
	if rc := C.agentauthz_keys_load_file(cpath, &k.c, &cerr); rc != 0 {
		return nil, newError(rc, &cerr)
	}
	runtime.SetFinalizer(k, func(k *Keys) { _ = k.Close() })
	return k, nil
}

// Save writes the keys to a new key file at path, mode 0600; ErrExist when
// something is already there.
func (k *Keys) Save(path string) error {
	if !validString(path) {
		return misuse(ErrInvalid, "the path holds a NUL byte")
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c == nil {
		return misuse(ErrInvalid, "the keys are closed")
	}
	var cerr C.agentauthz_error
	return newError(C.agentauthz_keys_save_file(k.c, cpath, &cerr), &cerr)
}

// PublicText returns the public key as text: "azpk1." and 43 base64url
// characters. It returns "" for closed keys.
func (k *Keys) PublicText() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c == nil {
		return ""
	}
	var buf [C.AGENTAUTHZ_PUBKEY_TEXT_MAX]C.char
	if C.agentauthz_keys_public(k.c, &buf[0], C.size_t(len(buf))) != 0 {
		return ""
	}
	return C.GoString(&buf[0])
}

// JWKS returns the public key as a JWK Set (JSON text): what a service or
// gateway verifies task tokens with, in any JWT library. "" for closed keys.
func (k *Keys) JWKS() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c == nil {
		return ""
	}
	var buf [C.AGENTAUTHZ_JWKS_TEXT_MAX]C.char
	if C.agentauthz_keys_jwks(k.c, &buf[0], C.size_t(len(buf))) != 0 {
		return ""
	}
	return C.GoString(&buf[0])
}

// PublicKeyJWKS returns the JWK Set (JSON text) of a public key given as
// text ("azpk1...."); ErrCrypto when the text is not one.
func PublicKeyJWKS(pubkey string) (string, error) { return pubkeyText(pubkey, false) }

// KeyID returns the key id of a public key given as text: its RFC 7638 JWK
// thumbprint, the "kid" of every token it signs.
func KeyID(pubkey string) (string, error) { return pubkeyText(pubkey, true) }

func pubkeyText(pubkey string, kid bool) (string, error) {
	if !validString(pubkey) {
		return "", misuse(ErrInvalid, "the key holds a NUL byte")
	}
	cpk := C.CString(pubkey)
	defer C.free(unsafe.Pointer(cpk))
	var buf [C.AGENTAUTHZ_JWKS_TEXT_MAX]C.char
	var cerr C.agentauthz_error
	which := C.int(0)
	if kid {
		which = 1
	}
	if rc := C.az_go_pubkey_jwks(cpk, &buf[0], C.size_t(len(buf)), which, &cerr); rc != 0 {
		return "", newError(rc, &cerr)
	}
	return C.GoString(&buf[0]), nil
}

// String describes the keys by their public key only.
func (k *Keys) String() string { return "agentauthz.Keys(" + k.PublicText() + ")" }

// GoString is String, for %#v.
func (k *Keys) GoString() string { return k.String() }

// Close wipes and frees the keys. It refuses with ErrInvalid while an
// engine created with them is open. Idempotent.
func (k *Keys) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.users > 0 {
		return misuse(ErrInvalid, "the keys are in use by an open engine")
	}
	C.agentauthz_keys_free(k.c)
	k.c = nil
	runtime.SetFinalizer(k, nil)
	return nil
}

// acquire marks the keys used by one more engine (nil keys: nothing).
func (k *Keys) acquire() error {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c == nil {
		return misuse(ErrInvalid, "the keys are closed")
	}
	k.users++
	return nil
}

func (k *Keys) release() {
	if k == nil {
		return
	}
	k.mu.Lock()
	k.users--
	k.mu.Unlock()
}

// handle is the C keys for an engine that acquired them: they cannot be
// freed while it is open, so the pointer may be used without the lock.
func (k *Keys) handle() *C.agentauthz_keys {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.c
}

// Claims are the claims of a task token (a JWT; the claim names are in the comments).
type Claims struct {
	Identity  string // "sub": the workload identity
	Task      string // "scope": the task
	Session   string // "txn": the session id
	Audience  string // "aud"
	Issuer    string // "iss": the engine's name, "" when the token has none
	Parent    string // "tctx.parent": the parent session's id, "" when none
	IssuedAt  time.Time
	ExpiresAt time.Time
	Tools     []string // "tctx.tools"
	// "tctx.params": the task parameters the policy shares (token_params),
	// nil when none. Numbers are float64, as encoding/json decodes them.
	Params map[string]any
}

// maxSkew is the library's bound on tolerated clock skew.
const maxSkew = 86400 * time.Second

// VerifyToken verifies a task token offline with the issuing engine's
// public key (text, as Engine.PublicKey and Keys.PublicText give it),
// requiring audience (or any audience when audience is "") and tolerating
// skew of clock difference (at most 24 hours). Errors: ErrToken (malformed,
// or not valid yet), ErrSignature, ErrExpired, ErrAudience, ErrAlgorithm
// ("alg" none or not EdDSA), ErrKeyID (a "kid" that is not this key's),
// ErrTokenType ("typ" not txntoken+jwt), ErrLimit (over 8192 bytes, JSON over
// bounds), ErrJSON (a duplicate key), ErrCrypto (a malformed public key).
// Messages never quote the token.
func VerifyToken(pubkey, token, audience string, skew time.Duration) (*Claims, error) {
	return verifyToken(pubkey, "", token, audience, skew, time.Time{})
}

// VerifyTokenJWKS is VerifyToken with the keys of a JWK Set (JSON text, as
// Keys.JWKS and Engine.JWKS give it): the token's "kid" picks the key.
// ErrCrypto (or ErrJSON) for a set that cannot be used.
func VerifyTokenJWKS(jwks, token, audience string, skew time.Duration) (*Claims, error) {
	if jwks == "" {
		return nil, misuse(ErrInvalid, "the JWK Set is empty")
	}
	return verifyToken("", jwks, token, audience, skew, time.Time{})
}

// VerifyTokenAt is VerifyToken at time now instead of the system clock.
func VerifyTokenAt(pubkey, token, audience string, skew time.Duration, now time.Time) (*Claims, error) {
	if now.Unix() <= 0 {
		return nil, misuse(ErrInvalid, "now must be after 1970")
	}
	return verifyToken(pubkey, "", token, audience, skew, now)
}

// verifyToken verifies with pubkey, or with the JWK Set jwks when it is not "".
func verifyToken(pubkey, jwks, token, audience string, skew time.Duration, now time.Time) (*Claims, error) {
	if skew < 0 || skew > maxSkew {
		return nil, misuse(ErrInvalid, "the skew must be between 0 and 24 hours")
	}
	if !validString(pubkey) || !validString(audience) {
		return nil, misuse(ErrInvalid, "the key or audience holds a NUL byte")
	}
	if len(token) > C.AGENTAUTHZ_TOKEN_MAX {
		return nil, misuse(ErrLimit, "a token is at most 8192 bytes")
	}
	if len(jwks) > C.AGENTAUTHZ_JWKS_MAX {
		return nil, misuse(ErrLimit, "a JWK Set is at most 65536 bytes")
	}
	cpk, ctok := C.CString(pubkey), C.CBytes([]byte(token))
	defer C.free(unsafe.Pointer(cpk))
	defer C.free(ctok)
	var caud *C.char
	if audience != "" {
		caud = C.CString(audience)
		defer C.free(unsafe.Pointer(caud))
	}
	var unix int64
	if !now.IsZero() {
		unix = now.Unix()
	}
	var out *C.agentauthz_token_claims
	var cerr C.agentauthz_error
	var rc C.int
	if jwks != "" {
		cset := C.CBytes([]byte(jwks))
		defer C.free(cset)
		rc = C.az_go_token_verify_jwks((*C.char)(cset), C.size_t(len(jwks)), (*C.char)(ctok),
			C.size_t(len(token)), caud, C.uint32_t(skew/time.Second), C.int64_t(unix), &out, &cerr)
	} else {
		rc = C.az_go_token_verify(cpk, (*C.char)(ctok), C.size_t(len(token)), caud,
			C.uint32_t(skew/time.Second), C.int64_t(unix), &out, &cerr)
	}
	if rc != 0 {
		return nil, newError(rc, &cerr)
	}
	defer C.agentauthz_token_claims_free(out)
	return claimsFromC(out)
}

func claimsFromC(c *C.agentauthz_token_claims) (*Claims, error) {
	cl := &Claims{
		Identity:  C.GoString(c.identity),
		Task:      C.GoString(c.task),
		Session:   C.GoString(c.session),
		Audience:  C.GoString(c.audience),
		Issuer:    C.GoString(c.issuer),
		Parent:    C.GoString(c.parent),
		IssuedAt:  time.Unix(int64(c.iat), 0),
		ExpiresAt: time.Unix(int64(c.exp), 0),
	}
	for i := C.size_t(0); i < c.tools_count; i++ {
		cl.Tools = append(cl.Tools, C.GoString(C.az_go_claims_tool(c, i)))
	}
	if c.params != nil {
		// The library writes params as a compact JSON object.
		if err := json.Unmarshal([]byte(C.GoString(c.params)), &cl.Params); err != nil {
			return nil, misuse(ErrJSON, "the token's params are not a JSON object")
		}
	}
	return cl, nil
}

// SignToken signs claims with the keys' signing key, for services that
// issue task tokens themselves (engines issue theirs through `token`
// secrets). Issuer, Parent and Params are left out when empty. ErrInvalid
// for claims outside the token format, ErrLimit for a token over 8192 bytes.
func (k *Keys) SignToken(c Claims) (string, error) {
	params := ""
	if len(c.Params) > 0 {
		b, err := json.Marshal(c.Params)
		if err != nil {
			return "", misuse(ErrInvalid, "the params cannot be written as JSON")
		}
		params = string(b)
	}
	strs := []string{c.Identity, c.Task, c.Session, c.Audience, c.Issuer, c.Parent, params}
	for _, s := range append(strs, c.Tools...) {
		if !validString(s) {
			return "", misuse(ErrInvalid, "a claim holds a NUL byte")
		}
	}
	if len(c.Tools) > C.AGENTAUTHZ_TOKEN_TOOLS_MAX {
		return "", misuse(ErrLimit, "more than 256 tools")
	}
	cs := make([]*C.char, len(strs))
	for i, s := range strs {
		if s != "" || i < 4 {
			cs[i] = C.CString(s)
			defer C.free(unsafe.Pointer(cs[i]))
		}
	}
	var tools []byte
	for _, t := range c.Tools {
		tools = appendCString(tools, t)
	}
	ctools := C.CBytes(append(tools, 0))
	defer C.free(ctools)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c == nil {
		return "", misuse(ErrInvalid, "the keys are closed")
	}
	var out *C.char
	var cerr C.agentauthz_error
	rc := C.az_go_token_sign(k.c, cs[0], cs[1], cs[2], cs[3], cs[4], cs[5], cs[6],
		C.int64_t(c.IssuedAt.Unix()), C.int64_t(c.ExpiresAt.Unix()), (*C.char)(ctools),
		C.size_t(len(c.Tools)), C.size_t(len(tools)), &out, &cerr)
	if rc != 0 {
		return "", newError(rc, &cerr)
	}
	defer C.agentauthz_free(unsafe.Pointer(out))
	return C.GoString(out), nil
}
