package agentauthz

/*
#include "shim.h"
*/
import "C"

import (
	"bytes"
	"math"
	"runtime"
	"unicode/utf8"
	"unsafe"
)

// scratch is the memory of one check, reused through the engine's pool so
// that a check allocates nothing on its common path: a C action with room
// for a decision and an error, and a Go buffer the action is packed into
// before it crosses into C in a single call.
type scratch struct {
	c       *C.az_go_scratch
	buf     []byte // the strings, NUL-terminated, then the arguments
	shape   *C.az_go_packed
	payload []byte // the caller's payload, borrowed for one call
	// The last rule read from a decision and its Go string: decisions
	// mostly repeat their rule, and reusing the string saves an allocation.
	rule string
}

// scratchBufMax is the largest buffer a scratch keeps for reuse, so that
// one huge action does not pin its memory in the pool for good.
const scratchBufMax = 64 << 10

func (e *Engine) getScratch() (*scratch, error) {
	if sc, ok := e.scratch.Get().(*scratch); ok {
		return sc, nil
	}
	c := C.az_go_scratch_new()
	if c == nil {
		return nil, misuse(ErrNoMem, "out of memory")
	}
	sc := &scratch{c: c, buf: make([]byte, 0, 256), shape: &c.shape}
	// The pool drops entries at garbage collections without telling: the
	// finalizer gives their C memory back.
	runtime.SetFinalizer(sc, func(sc *scratch) { C.az_go_scratch_free(sc.c) })
	return sc, nil
}

func (e *Engine) putScratch(sc *scratch) {
	sc.payload = nil
	if cap(sc.buf) > scratchBufMax {
		sc.buf = make([]byte, 0, 256)
	}
	e.scratch.Put(sc)
}

// pack lays a out in sc.buf in the order az_go_action_fill reads it.
func (sc *scratch) pack(a *Action) error {
	if a.Tool == "" {
		return misuse(ErrInvalid, "an action needs a tool")
	}
	b := sc.buf[:0]
	b = appendCString(b, a.Tool)
	*sc.shape = C.az_go_packed{}
	if a.Resource != "" {
		b = appendCString(b, a.Resource)
		sc.shape.has_resource = 1
	}
	for _, d := range a.Destinations {
		b = appendCString(b, d)
	}
	for _, l := range a.Labels {
		b = appendCString(b, l)
	}
	sc.shape.strings_len = C.size_t(len(b))
	sc.shape.ndest = C.size_t(len(a.Destinations))
	sc.shape.nlabels = C.size_t(len(a.Labels))
	if !validPacked(a) {
		sc.buf = b
		return misuse(ErrInvalid, "an action string holds a NUL byte")
	}
	start := len(b)
	if a.Args != nil {
		var err error
		sc.shape.has_args = 1
		sc.shape.args_off = C.size_t(start)
		if flat, ok := appendFlatArgs(b, a.Args); ok {
			b = flat
			sc.shape.flat_args = 1
			sc.shape.nargs = C.size_t(len(a.Args))
		} else if b, err = appendMap(b[:start], a.Args, 1); err != nil {
			sc.buf = b
			return err
		}
		sc.shape.args_len = C.size_t(len(b) - start)
	}
	sc.buf = b
	sc.payload = a.Payload
	sc.shape.payload_len = C.size_t(len(a.Payload))
	return nil
}

// appendFlatArgs packs arguments that are all strings, finite numbers or
// booleans as records az_go_set_flat_args reads, which spares the library
// a JSON parse. ok is false for anything else (nested values, keys or
// strings the JSON path must judge: invalid UTF-8, NUL in a key), which
// then goes through JSON, so both paths give the library the same values.
func appendFlatArgs(b []byte, args map[string]any) (_ []byte, ok bool) {
	if len(args) == 0 {
		return b, false
	}
	for k, v := range args {
		if !validString(k) || !utf8.ValidString(k) {
			return b, false
		}
		var f float64
		switch x := v.(type) {
		case string:
			if !utf8.ValidString(x) {
				return b, false
			}
			b = appendCString(append(b, C.AZ_GO_ARG_STRING), k)
			b = appendUint64(b, uint64(len(x)))
			b = append(b, x...)
			continue
		case bool:
			b = appendCString(append(b, C.AZ_GO_ARG_BOOL), k)
			if x {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
			continue
		case float64:
			f = x
		case int:
			f = float64(x)
		case int64:
			f = float64(x)
		default:
			return b, false
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return b, false
		}
		b = appendCString(append(b, C.AZ_GO_ARG_NUMBER), k)
		b = appendUint64(b, math.Float64bits(f))
	}
	return b, true
}

// appendUint64 appends u in the machine's byte order, as C's memcpy reads it.
func appendUint64(b []byte, u uint64) []byte {
	return append(b, (*[8]byte)(unsafe.Pointer(&u))[:]...)
}

func appendCString(b []byte, s string) []byte {
	return append(append(b, s...), 0)
}

func validPacked(a *Action) bool {
	if !validString(a.Tool) || !validString(a.Resource) {
		return false
	}
	for _, d := range a.Destinations {
		if !validString(d) {
			return false
		}
	}
	for _, l := range a.Labels {
		if !validString(l) {
			return false
		}
	}
	return true
}

func (sc *scratch) check(s *C.agentauthz_session) C.int {
	return C.az_go_check(s, sc.c, (*C.char)(unsafe.Pointer(&sc.buf[0])), bytesPtr(sc.payload))
}

func (sc *scratch) fill() C.int {
	return C.az_go_action_fill(sc.c, (*C.char)(unsafe.Pointer(&sc.buf[0])), bytesPtr(sc.payload))
}

// decision reads the decision the last check wrote.
func (sc *scratch) decision() Decision {
	d := &sc.c.decision
	return Decision{
		Effect: Effect(d.effect),
		Rule:   sc.cachedRule(&d.rule[0]),
		Reason: C.GoString(&d.reason[0]),
		Seq:    uint64(d.seq),
	}
}

func (sc *scratch) cachedRule(p *C.char) string {
	// Scanned in Go: a call to C's strnlen would cost more than the copy.
	raw := unsafe.Slice((*byte)(unsafe.Pointer(p)), C.AGENTAUTHZ_NAME_MAX)
	if n := bytes.IndexByte(raw, 0); n >= 0 {
		raw = raw[:n]
	}
	if string(raw) != sc.rule {
		sc.rule = string(raw)
	}
	return sc.rule
}
