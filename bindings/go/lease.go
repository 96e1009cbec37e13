package agentauthz

/*
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Lease is a session's secret handed to the tool runtime for one allowed
// action. Its bytes stay in the library's guarded memory; see Bytes.
type Lease struct {
	s    *Session
	name string
	mu   sync.RWMutex
	c    *C.agentauthz_lease
}

// Lease leases the session's secret name for action a, which d must be the
// allowing decision of (one of the session's last 16 allowed checks, of the
// same tool), and whose tool must be one of the secret's tools. Errors:
// ErrDenied (refused, and recorded as a denied lease in the audit log),
// ErrNotFound (the session holds no such secret), ErrSession (it has
// ended). The caller must Release the lease, and before closing the engine.
func (s *Session) Lease(a Action, d Decision, name string) (*Lease, error) {
	if !validString(name) {
		return nil, misuse(ErrInvalid, "the secret name holds a NUL byte")
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	l := &Lease{s: s, name: name}
	err := s.withAction(&a, func(c *C.agentauthz_session, sc *scratch) error {
		C.az_go_decision_set(sc.c, C.int(d.Effect), C.uint64_t(d.Seq))
		var cerr C.agentauthz_error
		rc := C.agentauthz_lease_acquire(c, sc.c.action, &sc.c.decision, cname, &l.c, &cerr)
		if rc == 0 {
			// Counted while the engine's lock is held, so that Close cannot
			// slip in between the acquire and the count.
			s.e.leases.Add(1)
		}
		return newError(rc, &cerr)
	})
	if err != nil {
		return nil, err
	}
	runtime.SetFinalizer(l, func(l *Lease) { l.Release() })
	return l, nil
}

// Bytes returns the leased secret as a slice over the library's guarded,
// read-only memory: no copy is made, and none should be. The slice is valid
// only until Release; do not retain it, write to it (the memory is
// read-only: a write crashes the process) or hand it to anything that may
// keep it. When the session ends while the lease is held, the bytes are
// wiped to zeros in place and Bytes returns nil from then on. Bytes returns
// nil after Release.
func (l *Lease) Bytes() []byte {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.c == nil {
		return nil
	}
	var n C.size_t
	p := C.agentauthz_lease_value(l.c, &n)
	if p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// Valid reports whether the lease still holds a live secret.
func (l *Lease) Valid() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.c != nil && C.agentauthz_lease_valid(l.c) != 0
}

// Name returns the name of the leased secret.
func (l *Lease) Name() string { return l.name }

// String names the lease without its value, so that printing a lease
// never shows a secret.
func (l *Lease) String() string { return "agentauthz.Lease(" + l.name + ")" }

// GoString is String, for %#v.
func (l *Lease) GoString() string { return l.String() }

// Release gives the lease back; slices from Bytes must no longer be used.
// Idempotent.
func (l *Lease) Release() {
	e := l.s.e
	// The engine lock keeps Engine.Close from freeing the engine midway.
	e.mu.RLock()
	defer e.mu.RUnlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c == nil {
		return
	}
	C.agentauthz_lease_release(l.c)
	l.c = nil
	e.leases.Add(-1)
	runtime.SetFinalizer(l, nil)
}

// SecretBuffer is a request with secrets substituted for its placeholders,
// in guarded memory. See Bytes.
type SecretBuffer struct {
	e  *Engine
	mu sync.RWMutex
	c  *C.agentauthz_secret_buffer
}

// Substitute copies text with each ${secret:NAME} replaced by that
// secret's value, for action a allowed by d (as Lease, for every secret
// named). All or nothing: any refused placeholder fails the call with
// ErrDenied; a malformed one gives ErrInvalid. The caller must Free the
// buffer, and before closing the engine.
func (s *Session) Substitute(a Action, d Decision, text string) (*SecretBuffer, error) {
	ctext := C.CBytes([]byte(text))
	defer C.free(ctext)
	b := &SecretBuffer{e: s.e}
	err := s.withAction(&a, func(c *C.agentauthz_session, sc *scratch) error {
		C.az_go_decision_set(sc.c, C.int(d.Effect), C.uint64_t(d.Seq))
		var cerr C.agentauthz_error
		rc := C.agentauthz_substitute(c, sc.c.action, &sc.c.decision, (*C.char)(ctext),
			C.size_t(len(text)), &b.c, &cerr)
		if rc == 0 {
			s.e.leases.Add(1)
		}
		return newError(rc, &cerr)
	})
	if err != nil {
		return nil, err
	}
	runtime.SetFinalizer(b, func(b *SecretBuffer) { b.Free() })
	return b, nil
}

// Bytes returns the substituted text as a slice over guarded memory, valid
// only until Free; do not retain it or write to it.
func (b *SecretBuffer) Bytes() []byte {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.c == nil {
		return nil
	}
	var n C.size_t
	p := C.agentauthz_secret_buffer_data(b.c, &n)
	if p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// String describes the buffer without its contents.
func (b *SecretBuffer) String() string { return "agentauthz.SecretBuffer" }

// GoString is String, for %#v.
func (b *SecretBuffer) GoString() string { return b.String() }

// Free wipes and frees the buffer. Idempotent.
func (b *SecretBuffer) Free() {
	b.e.mu.RLock()
	defer b.e.mu.RUnlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c == nil {
		return
	}
	C.agentauthz_secret_buffer_free(b.c)
	b.c = nil
	b.e.leases.Add(-1)
	runtime.SetFinalizer(b, nil)
}
