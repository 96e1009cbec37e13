package agentauthz

/*
#include "shim.h"
*/
import "C"

import (
	"encoding/json"
	"runtime"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// Effect is what a decision says: Deny, Allow or Ask.
type Effect int

// The effects, with the library's values.
const (
	Deny  Effect = C.AGENTAUTHZ_DENY
	Allow Effect = C.AGENTAUTHZ_ALLOW
	Ask   Effect = C.AGENTAUTHZ_ASK
)

func (e Effect) String() string {
	switch e {
	case Allow:
		return "allow"
	case Ask:
		return "ask"
	case Deny:
		return "deny"
	}
	return "Effect(" + strconv.Itoa(int(e)) + ")"
}

// Decision is the outcome of a check. Rule is the id of the deciding rule,
// or one of the engine's own ("session", "limit", "leak", "input", "catalogue", "default");
// Reason is the rule's reason or the engine's explanation; Seq numbers the
// checks of a session from 1.
type Decision struct {
	Effect Effect
	Rule   string
	Reason string
	Seq    uint64
}

// Allowed reports whether the action may go ahead.
func (d Decision) Allowed() bool { return d.Effect == Allow }

// Action is what an agent is about to do: a tool call with its resource,
// destinations (a URL, host, email address or host:port each), the labels
// of its inputs, its arguments and its payload bytes. Strings must not hold
// NUL bytes; Args must encode as a JSON object (nested at most 64 deep).
// Destinations is a list for the policy whenever it is not nil, also with
// one item or none (an empty list); nil is no destination.
type Action struct {
	Tool         string
	Resource     string // "" for none
	Destinations []string
	Labels       []string
	Args         map[string]any
	Payload      []byte
}

// Approval is how far an approval reaches.
type Approval int

// The approval scopes.
const (
	ApproveOnce    Approval = C.AGENTAUTHZ_APPROVE_ONCE    // the next identical check only
	ApproveSession Approval = C.AGENTAUTHZ_APPROVE_SESSION // every identical check from now on
)

// Session is one agent working on one task. Every method is safe for
// concurrent use; Close waits for the calls running.
type Session struct {
	e  *Engine
	mu sync.RWMutex
	c  *C.agentauthz_session
	id string
}

// Open opens a session for a workload identity and a task, with the task's
// parameters (nil for none; values must encode as JSON) and a TTL (0 for
// the policy's default; it is clamped by the policy). Errors:
// ErrNoPolicy, ErrNoTask, ErrIdentity, ErrParam.
func (e *Engine) Open(identity, task string, params map[string]any, ttl time.Duration) (*Session, error) {
	if !validString(identity) || !validString(task) {
		return nil, misuse(ErrInvalid, "the identity or task holds a NUL byte")
	}
	if ttl < 0 {
		return nil, misuse(ErrInvalid, "a negative TTL")
	}
	var pjson []byte
	if params != nil {
		var err error
		if pjson, err = appendMap(nil, params, 1); err != nil {
			return nil, err
		}
	}
	cid, ctask := C.CString(identity), C.CString(task)
	defer C.free(unsafe.Pointer(cid))
	defer C.free(unsafe.Pointer(ctask))
	var cp *C.char
	if pjson != nil {
		cp = (*C.char)(C.CBytes(pjson))
		defer C.free(unsafe.Pointer(cp))
	}
	c, err := e.rlock()
	if err != nil {
		return nil, err
	}
	defer e.mu.RUnlock()
	s := &Session{e: e}
	var cerr C.agentauthz_error
	rc := C.az_go_session_open(c, cid, ctask, cp, C.size_t(len(pjson)), C.uint64_t(ttl), &s.c, &cerr)
	if rc != 0 {
		return nil, newError(rc, &cerr)
	}
	s.id = C.GoString(C.agentauthz_session_id(s.c))
	runtime.SetFinalizer(s, func(s *Session) { s.Close() })
	return s, nil
}

// ID returns the session's id: 32 lowercase hex characters.
func (s *Session) ID() string { return s.id }

// lock locks the engine and the session for a call, in that order, and
// returns the session's handle; on error nothing stays locked.
func (s *Session) lock() (*C.agentauthz_session, error) {
	if _, err := s.e.rlock(); err != nil {
		return nil, misuse(ErrSession, "the engine is closed")
	}
	s.mu.RLock()
	if s.c == nil {
		s.mu.RUnlock()
		s.e.mu.RUnlock()
		return nil, misuse(ErrSession, "the session is closed")
	}
	return s.c, nil
}

func (s *Session) unlock() {
	s.mu.RUnlock()
	s.e.mu.RUnlock()
}

// Check decides the action in this session, now, under the policy in
// force. The decision is a deny whenever err is not nil (the action could
// not be built, the session or engine is closed, or an internal error
// forced the deny). A policy deny is not an error: check d.Allowed().
func (s *Session) Check(a Action) (Decision, error) {
	sc, err := s.e.getScratch()
	if err != nil {
		return denied("out of memory"), err
	}
	defer s.e.putScratch(sc)
	if err = sc.pack(&a); err != nil {
		return denied("the action could not be built"), err
	}
	c, err := s.lock()
	if err != nil {
		return Decision{Effect: Deny, Rule: "session", Reason: "session closed"}, err
	}
	rc := sc.check(c)
	s.unlock()
	d := sc.decision()
	if rc != 0 {
		d.Effect = Deny
		return d, newError(rc, &sc.c.err)
	}
	return d, nil
}

func denied(reason string) Decision {
	return Decision{Effect: Deny, Rule: "default", Reason: reason}
}

// Approve records a human's approval of this exact action (tool, resource,
// destinations and arguments), which turns the next identical "ask" (or,
// with ApproveSession, every one) into an allow; it never turns a deny
// into an allow. ErrLimit past 256 pending approvals.
func (s *Session) Approve(a Action, scope Approval) error {
	return s.withAction(&a, func(c *C.agentauthz_session, sc *scratch) error {
		return newError(C.agentauthz_approve(c, sc.c.action, C.agentauthz_approval(scope)), nil)
	})
}

// withAction builds a into scratch memory and calls f with the session
// locked.
func (s *Session) withAction(a *Action, f func(*C.agentauthz_session, *scratch) error) error {
	sc, err := s.e.getScratch()
	if err != nil {
		return err
	}
	defer s.e.putScratch(sc)
	if err = sc.pack(a); err != nil {
		return err
	}
	c, err := s.lock()
	if err != nil {
		return err
	}
	defer s.unlock()
	if rc := sc.fill(); rc != 0 {
		return newError(rc, &sc.c.err)
	}
	return f(c, sc)
}

// Revoke revokes the session: every later check is denied (rule
// "session", reason "session revoked") and its secrets are destroyed.
// Idempotent.
func (s *Session) Revoke() error {
	c, err := s.lock()
	if err != nil {
		return err
	}
	defer s.unlock()
	return newError(C.agentauthz_session_revoke(c), nil)
}

// Close ends the session (if it has not ended), destroys its secrets and
// frees it. Later calls fail with ErrSession. Idempotent.
func (s *Session) Close() {
	// The engine lock is taken because closing touches the engine's list of
	// sessions unless the engine has already been freed.
	s.e.mu.RLock()
	defer s.e.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return
	}
	C.agentauthz_session_close(s.c)
	s.c = nil
	runtime.SetFinalizer(s, nil)
}

// Scrub returns a copy of a tool's output with every live secret of the
// engine's sessions, raw or encoded, replaced by "[redacted:NAME]".
func (s *Session) Scrub(data []byte) ([]byte, error) {
	c, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer s.unlock()
	var out *C.char
	var outlen C.size_t
	var cerr C.agentauthz_error
	rc := C.agentauthz_scrub(c, bytesPtr(data), C.size_t(len(data)), &out, &outlen, &cerr)
	if rc != 0 {
		return nil, newError(rc, &cerr)
	}
	defer C.agentauthz_free(unsafe.Pointer(out))
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(out)), int(outlen))...), nil
}

// Observe records what a tool returned to the session's agent, as text (any
// bytes), for the policy's from and not_from predicates
// (agentauthz_session_observe(3)). labels join the output labels the
// policy's catalogue gives tool ("" for none: the labels given only). An
// error with ErrLimit means the output could not be recorded whole: what
// was kept stays, and later from and not_from checks that do not find their
// value are denied.
func (s *Session) Observe(tool string, output []byte, labels ...string) error {
	return s.observe(tool, labels, func(c *C.agentauthz_session, a *C.agentauthz_action,
		l **C.char, n C.size_t, cerr *C.agentauthz_error) C.int {
		return C.agentauthz_session_observe(c, a, bytesPtr(output), C.size_t(len(output)), l, n,
			cerr)
	})
}

// ObserveValue is Observe for a value that encoding/json can marshal (a
// tool's JSON result): each string and number in it is indexed.
func (s *Session) ObserveValue(tool string, v any, labels ...string) error {
	text, err := json.Marshal(v)
	if err != nil {
		return misuse(ErrInvalid, "the output cannot be encoded as JSON: "+err.Error())
	}
	var val *C.agentauthz_value
	var cerr C.agentauthz_error
	if rc := C.agentauthz_value_parse_json((*C.char)(bytesPtr(text)), C.size_t(len(text)), &val,
		&cerr); rc != 0 {
		return newError(rc, &cerr)
	}
	defer C.agentauthz_value_free(val)
	return s.observe(tool, labels, func(c *C.agentauthz_session, a *C.agentauthz_action,
		l **C.char, n C.size_t, cerr *C.agentauthz_error) C.int {
		return C.agentauthz_session_observe_value(c, a, val, l, n, cerr)
	})
}

type observeFn func(*C.agentauthz_session, *C.agentauthz_action, **C.char, C.size_t,
	*C.agentauthz_error) C.int

// observe passes the labels as a C array, and the tool as an action (or none).
func (s *Session) observe(tool string, labels []string, f observeFn) error {
	for _, l := range labels {
		for i := 0; i < len(l); i++ {
			if l[i] == 0 {
				return misuse(ErrInvalid, "a label contains a NUL byte")
			}
		}
	}
	arr := (**C.char)(C.calloc(C.size_t(len(labels)+1), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	if arr == nil {
		return newError(C.AGENTAUTHZ_ENOMEM, nil)
	}
	items := unsafe.Slice(arr, len(labels)+1)
	defer func() {
		for _, p := range items {
			C.free(unsafe.Pointer(p))
		}
		C.free(unsafe.Pointer(arr))
	}()
	for i, l := range labels {
		items[i] = C.CString(l)
	}
	var cerr C.agentauthz_error
	if tool == "" {
		c, err := s.lock()
		if err != nil {
			return err
		}
		defer s.unlock()
		return newError(f(c, nil, arr, C.size_t(len(labels)), &cerr), &cerr)
	}
	return s.withAction(&Action{Tool: tool}, func(c *C.agentauthz_session, sc *scratch) error {
		return newError(f(c, sc.c.action, arr, C.size_t(len(labels)), &cerr), &cerr)
	})
}

// bytesPtr is a pointer to b's bytes for the duration of a cgo call, or
// NULL for an empty b.
func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}
