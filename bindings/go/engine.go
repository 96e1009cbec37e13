package agentauthz

/*
#cgo pkg-config: agentauthz
#include "shim.h"
*/
import "C"

import (
	"encoding/base64"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Option configures NewEngine.
type Option func(*engineConfig)

type engineConfig struct {
	keys      *Keys
	clock     *FakeClock
	wallClock *FakeClock
	name      string
}

// WithKeys makes the engine sign tokens, derive secrets and MAC its audit
// log with k instead of fresh keys. k cannot be closed while the engine is
// open.
func WithKeys(k *Keys) Option { return func(c *engineConfig) { c.keys = k } }

// WithClock drives the engine's session TTLs from clock instead of the
// monotonic clock.
func WithClock(clock *FakeClock) Option { return func(c *engineConfig) { c.clock = clock } }

// WithWallClock drives the engine's token and audit times from clock
// instead of the system's real-time clock.
func WithWallClock(clock *FakeClock) Option {
	return func(c *engineConfig) { c.wallClock = clock }
}

// WithName names the engine in its audit records.
func WithName(name string) Option { return func(c *engineConfig) { c.name = name } }

// Engine holds the policy in force and the sessions opened on it. Every
// method is safe for concurrent use; Close waits for the calls running.
type Engine struct {
	// mu is held for reading by every call that uses c (sessions' and
	// leases' calls too) and for writing by Close, because the library's
	// engine_free may not run concurrently with anything on the engine.
	mu     sync.RWMutex
	c      *C.agentauthz_engine
	cfg    engineConfig
	leases atomic.Int64
	// scratch pools the C memory of checks; see scratch.
	scratch sync.Pool
}

// NewEngine creates an engine with no policy loaded: Open fails with
// ErrNoPolicy until a Load succeeds.
func NewEngine(opts ...Option) (*Engine, error) {
	e := &Engine{}
	for _, o := range opts {
		o(&e.cfg)
	}
	var cname *C.char
	if e.cfg.name != "" {
		if !validString(e.cfg.name) {
			return nil, misuse(ErrInvalid, "the engine name holds a NUL byte")
		}
		cname = C.CString(e.cfg.name)
		defer C.free(unsafe.Pointer(cname))
	}
	if err := e.cfg.keys.acquire(); err != nil {
		return nil, err
	}
	var cerr C.agentauthz_error
	rc := C.az_go_engine_new(&e.c, e.cfg.keys.handle(), clockPtr(e.cfg.clock),
		clockPtr(e.cfg.wallClock), cname, &cerr)
	if rc != 0 {
		e.cfg.keys.release()
		return nil, newError(rc, &cerr)
	}
	runtime.SetFinalizer(e, func(e *Engine) { e.Close() })
	return e, nil
}

func clockPtr(c *FakeClock) *C.uint64_t {
	if c == nil {
		return nil
	}
	return c.ns
}

// Close frees the engine and its policy; sessions still open are ended and
// only their Close still does anything. Close refuses, with ErrInvalid, while
// a Lease or SecretBuffer of the engine is held, because freeing the engine
// unmaps the guarded memory their Bytes point into. Closing twice is a no-op.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c == nil {
		return nil
	}
	if e.leases.Load() != 0 {
		return misuse(ErrInvalid, "release every lease and secret buffer before closing the engine")
	}
	C.agentauthz_engine_free(e.c)
	e.c = nil
	e.cfg.keys.release()
	runtime.SetFinalizer(e, nil)
	return nil
}

// rlock locks the engine for a call and returns its handle, or an error
// (and no lock held) when it is closed.
func (e *Engine) rlock() (*C.agentauthz_engine, error) {
	e.mu.RLock()
	if e.c == nil {
		e.mu.RUnlock()
		return nil, misuse(ErrInvalid, "the engine is closed")
	}
	return e.c, nil
}

// Load loads a policy from files and directories (a directory contributes
// its *.yaml and *.yml files) as one policy, validates it and swaps it in
// atomically. On failure the error is a *PolicyError and the policy loaded
// before stays in force.
func (e *Engine) Load(paths ...string) error {
	cpaths := make([]*C.char, 0, len(paths))
	defer func() {
		for _, p := range cpaths {
			C.free(unsafe.Pointer(p))
		}
	}()
	for _, p := range paths {
		if !validString(p) {
			return &PolicyError{Code: ErrInvalid, Message: "a path holds a NUL byte"}
		}
		cpaths = append(cpaths, C.CString(p))
	}
	// The array of pointers goes to C in C memory: cgo forbids passing Go
	// memory that holds pointers.
	n := len(cpaths)
	arr := (**C.char)(C.calloc(C.size_t(n+1), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	if arr == nil {
		return &PolicyError{Code: ErrNoMem, Message: "out of memory"}
	}
	defer C.free(unsafe.Pointer(arr))
	copy(unsafe.Slice(arr, n+1), cpaths)
	return e.load(func(c *C.agentauthz_engine, d *C.az_go_diags, cerr *C.agentauthz_error) C.int {
		return C.az_go_load(c, arr, C.size_t(n), d, cerr)
	})
}

// LoadString loads a policy from text, name labelling its diagnostics, as
// Load does.
func (e *Engine) LoadString(name, text string) error {
	if !validString(name) {
		return &PolicyError{Code: ErrInvalid, Message: "the name holds a NUL byte"}
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	// The text may hold NUL bytes (the loader reports them); CBytes keeps them.
	ctext := C.CBytes([]byte(text))
	defer C.free(ctext)
	return e.load(func(c *C.agentauthz_engine, d *C.az_go_diags, cerr *C.agentauthz_error) C.int {
		return C.az_go_load_string(c, cname, (*C.char)(ctext), C.size_t(len(text)), d, cerr)
	})
}

type loadFunc func(*C.agentauthz_engine, *C.az_go_diags, *C.agentauthz_error) C.int

func (e *Engine) load(f loadFunc) error {
	c, err := e.rlock()
	if err != nil {
		return &PolicyError{Code: ErrInvalid, Message: "the engine is closed"}
	}
	defer e.mu.RUnlock()
	diags := C.az_go_diags_new()
	if diags == nil {
		return &PolicyError{Code: ErrNoMem, Message: "out of memory"}
	}
	defer C.az_go_diags_free(diags)
	var cerr C.agentauthz_error
	rc := f(c, diags, &cerr)
	if rc == 0 {
		return nil
	}
	pe := &PolicyError{Code: Code(rc), Dropped: int(diags.dropped)}
	if cerr.code == rc {
		pe.File = C.GoString(&cerr.path[0])
		pe.Line = int(cerr.line)
		pe.Column = int(cerr.column)
		pe.Offset = int(cerr.offset)
		pe.Message = C.GoString(&cerr.message[0])
	}
	for i := C.size_t(0); i < diags.n; i++ {
		pe.Diagnostics = append(pe.Diagnostics, diagnostic(C.az_go_diag_at(diags, i),
			*(*C.int)(unsafe.Add(unsafe.Pointer(diags.warning), uintptr(i)*unsafe.Sizeof(C.int(0))))))
	}
	return pe
}

func diagnostic(d *C.agentauthz_error, warning C.int) Diagnostic {
	return Diagnostic{
		Code:    Code(d.code),
		File:    C.GoString(&d.path[0]),
		Line:    int(d.line),
		Column:  int(d.column),
		Offset:  int(d.offset),
		Message: C.GoString(&d.message[0]),
		Warning: warning != 0,
	}
}

// PolicyInfo describes the policy in force.
type PolicyInfo struct {
	Name       string
	Hash       string // hex BLAKE2b-256 of the loaded texts
	Rules      int
	Tasks      int
	Secrets    int
	Identities int
	Generation uint64 // 1 for the first successful load, +1 each reload
}

// PolicyInfo describes the policy in force; ErrNoPolicy when none is.
func (e *Engine) PolicyInfo() (PolicyInfo, error) {
	c, err := e.rlock()
	if err != nil {
		return PolicyInfo{}, err
	}
	defer e.mu.RUnlock()
	var info C.agentauthz_policy_info
	if rc := C.agentauthz_engine_policy_info(c, &info); rc != 0 {
		return PolicyInfo{}, newError(rc, nil)
	}
	return PolicyInfo{
		Name: C.GoString(&info.name[0]), Hash: C.GoString(&info.hash[0]),
		Rules: int(info.rules), Tasks: int(info.tasks), Secrets: int(info.secrets),
		Identities: int(info.identities), Generation: uint64(info.generation),
	}, nil
}

// JWKS returns the engine's public key as a JWK Set (JSON text): what a
// service or gateway verifies its task tokens with, in any JWT library.
func (e *Engine) JWKS() (string, error) {
	c, err := e.rlock()
	if err != nil {
		return "", err
	}
	defer e.mu.RUnlock()
	var buf [C.AGENTAUTHZ_JWKS_TEXT_MAX]C.char
	if rc := C.agentauthz_engine_jwks(c, &buf[0], C.size_t(len(buf))); rc != 0 {
		return "", newError(rc, nil)
	}
	return C.GoString(&buf[0]), nil
}

// PublicKey returns the engine's public key as text ("azpk1.<base64url>"),
// the key its task tokens verify with.
func (e *Engine) PublicKey() (string, error) {
	c, err := e.rlock()
	if err != nil {
		return "", err
	}
	defer e.mu.RUnlock()
	pk := (*C.uchar)(C.malloc(C.AGENTAUTHZ_PUBKEY_BYTES))
	if pk == nil {
		return "", misuse(ErrNoMem, "out of memory")
	}
	defer C.free(unsafe.Pointer(pk))
	if rc := C.agentauthz_engine_public_key(c, pk); rc != 0 {
		return "", newError(rc, nil)
	}
	raw := C.GoBytes(unsafe.Pointer(pk), C.AGENTAUTHZ_PUBKEY_BYTES)
	return "azpk1." + base64.RawURLEncoding.EncodeToString(raw), nil
}

// Sweep ends every session whose TTL has passed and returns how many.
func (e *Engine) Sweep() (int, error) {
	c, err := e.rlock()
	if err != nil {
		return 0, err
	}
	defer e.mu.RUnlock()
	var n C.size_t
	if rc := C.agentauthz_engine_sweep(c, &n); rc != 0 {
		return 0, newError(rc, nil)
	}
	return int(n), nil
}

// validString reports whether s can go to C as a NUL-terminated string
// without being cut short, which would make the library see another value
// than the caller meant (a path "/kb/a\x00/../.env" seen as "/kb/a").
func validString(s string) bool {
	return strings.IndexByte(s, 0) < 0
}
