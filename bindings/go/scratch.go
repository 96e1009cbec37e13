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
// for a decision and an error, and Go buffers the action is packed into
// before it crosses into C in a single call.
type scratch struct {
	c       *C.az_go_scratch
	buf     []byte    // the strings, NUL-terminated, then the arguments
	args    []flatArg // the records of flat arguments
	shape   *C.az_go_packed
	payload []byte // the caller's payload, borrowed for one call
	rule    string // the last rule read from a decision
}

// flatArg is the record of a flat argument (az_go_arg in shim.h).
type flatArg = C.az_go_arg

// scratchBufMax and scratchArgsMax bound the buffers a scratch keeps for
// reuse, so that one huge action does not pin its memory in the pool for
// good.
const (
	scratchBufMax  = 64 << 10
	scratchArgsMax = 1024
)

func (e *Engine) getScratch() (*scratch, error) {
	if sc, ok := e.scratch.Get().(*scratch); ok {
		return sc, nil
	}
	c := C.az_go_scratch_new()
	if c == nil {
		return nil, misuse(ErrNoMem, "out of memory")
	}
	sc := &scratch{c: c, buf: make([]byte, 0, 256), args: make([]flatArg, 0, 8), shape: &c.shape}
	// The pool drops entries at garbage collections without telling: the
	// finalizer gives their C memory back.
	runtime.SetFinalizer(sc, func(sc *scratch) { C.az_go_scratch_free(sc.c) })
	return sc, nil
}

func (e *Engine) putScratch(sc *scratch) {
	sc.payload = nil
	sc.c.session = nil
	if cap(sc.buf) > scratchBufMax {
		sc.buf = make([]byte, 0, 256)
	}
	if cap(sc.args) > scratchArgsMax {
		sc.args = make([]flatArg, 0, 8)
	}
	e.scratch.Put(sc)
}

// pack lays a out in sc.buf and sc.args in the order az_go_action_fill
// reads them.
func (sc *scratch) pack(a *Action) error {
	if a.Tool == "" {
		return misuse(ErrInvalid, "an action needs a tool")
	}
	shape := C.az_go_packed{ndest: C.size_t(len(a.Destinations)), nlabels: C.size_t(len(a.Labels))}
	b := appendCString(sc.buf[:0], a.Tool)
	if a.Resource != "" {
		b = appendCString(b, a.Resource)
		shape.has_resource = 1
	}
	// A slice is a list, also with one item or none (nil is no destination),
	// so that the policy's each/some see what the caller meant.
	if a.Destinations != nil {
		shape.dest_list = 1
	}
	for _, d := range a.Destinations {
		b = appendCString(b, d)
	}
	for _, l := range a.Labels {
		b = appendCString(b, l)
	}
	sc.buf = b
	// Each string brought one NUL: any other is inside a string, which C
	// would cut short there.
	if countNUL(b) != 1+int(shape.has_resource)+len(a.Destinations)+len(a.Labels) {
		return misuse(ErrInvalid, "an action string holds a NUL byte")
	}
	shape.strings_len = C.size_t(len(b))
	if a.Args != nil {
		start := len(b)
		shape.has_args = 1
		shape.args_off = C.size_t(start)
		if flat, ok := sc.appendFlatArgs(b, a.Args); ok {
			b = flat
			shape.flat_args = 1
			shape.nargs = C.size_t(len(sc.args))
		} else {
			var err error
			b, err = appendMap(b[:start], a.Args, 1)
			sc.buf = b
			if err != nil {
				return err
			}
		}
		shape.args_len = C.size_t(len(b) - start)
	}
	sc.buf = b
	sc.payload = a.Payload
	shape.payload_len = C.size_t(len(a.Payload))
	*sc.shape = shape
	return nil
}

func countNUL(b []byte) int {
	return bytes.Count(b, []byte{0})
}

// appendFlatArgs packs arguments that are all strings, finite numbers or
// booleans as the text and records az_go_arg describes, which spares the
// library a JSON parse. ok is false for anything else (nested values, keys
// or strings the JSON path must judge: invalid UTF-8, NUL in a key), which
// then goes through JSON, so both paths give the library the same values.
func (sc *scratch) appendFlatArgs(b []byte, args map[string]any) (_ []byte, ok bool) {
	if len(args) == 0 {
		return b, false
	}
	start, recs := len(b), sc.args[:0]
	for k, v := range args {
		recs = append(recs, flatArg{key_len: C.uint64_t(len(k))})
		if b, ok = appendFlatArg(appendCString(b, k), &recs[len(recs)-1], v); !ok {
			sc.args = recs
			return b, false
		}
	}
	sc.args = recs
	return b, flatTextValid(b[start:], recs)
}

// appendFlatArg appends the text of a flat argument's value (a string's
// bytes and a NUL, nothing for others) and fills in its record; ok is
// false for a value that is not flat.
func appendFlatArg(b []byte, r *flatArg, v any) (_ []byte, ok bool) {
	switch x := v.(type) {
	case string:
		r.kind, r.value = C.AZ_GO_ARG_STRING, C.uint64_t(len(x))
		return appendCString(b, x), true
	case bool:
		r.kind, r.value = C.AZ_GO_ARG_BOOL, 0
		if x {
			r.value = 1
		}
		return b, true
	case float64:
		return b, numberArg(r, x)
	case int:
		return b, numberArg(r, float64(x))
	case int64:
		return b, numberArg(r, float64(x))
	}
	return b, false
}

// numberArg makes r a number argument; false for NaN and infinities,
// which JSON cannot hold and the JSON path refuses.
func numberArg(r *flatArg, f float64) bool {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return false
	}
	r.kind, r.value = C.AZ_GO_ARG_NUMBER, C.uint64_t(math.Float64bits(f))
	return true
}

// flatTextValid reports whether the text of flat arguments is UTF-8 and
// holds no NUL inside a key. One pass over the whole text judges every
// key and value: each is followed by a NUL, an ASCII byte, so the text is
// valid UTF-8 exactly when each of them is. More NULs than the one after
// each key and string mean a NUL inside a string, allowed in a value (its
// length is recorded) but not in a key, so only then are the keys looked
// at one by one.
func flatTextValid(text []byte, recs []flatArg) bool {
	if !utf8.Valid(text) {
		return false
	}
	nuls := len(recs)
	for _, r := range recs {
		if r.kind == C.AZ_GO_ARG_STRING {
			nuls++
		}
	}
	if countNUL(text) == nuls {
		return true
	}
	pos := 0
	for _, r := range recs {
		key := text[pos : pos+int(r.key_len)]
		if bytes.IndexByte(key, 0) >= 0 {
			return false
		}
		pos += len(key) + 1
		if r.kind == C.AZ_GO_ARG_STRING {
			pos += int(r.value) + 1
		}
	}
	return true
}

func appendCString(b []byte, s string) []byte {
	return append(append(b, s...), 0)
}

// handle is the scratch's C memory as the integer the check's C functions
// take: see shim.h for why it is not a pointer.
func (sc *scratch) handle() C.uintptr_t {
	return C.uintptr_t(uintptr(unsafe.Pointer(sc.c)))
}

// argsPtr is a pointer to the records of flat arguments for the duration
// of a cgo call, or NULL when there are none.
func (sc *scratch) argsPtr() *C.az_go_arg {
	if len(sc.args) == 0 || sc.shape.flat_args == 0 {
		return nil
	}
	return &sc.args[0]
}

func (sc *scratch) payloadPtr() *C.uchar {
	if len(sc.payload) == 0 {
		return nil
	}
	return (*C.uchar)(unsafe.Pointer(&sc.payload[0]))
}

// check fills the action and checks it in session s, which the caller
// holds locked for the call.
func (sc *scratch) check(s *C.agentauthz_session) C.int {
	sc.c.session = s
	return C.az_go_check(sc.handle(), (*C.char)(unsafe.Pointer(&sc.buf[0])), sc.argsPtr(), sc.payloadPtr())
}

func (sc *scratch) fill() C.int {
	return C.az_go_action_fill(sc.handle(), (*C.char)(unsafe.Pointer(&sc.buf[0])), sc.argsPtr(), sc.payloadPtr())
}

// decision reads the decision the last check wrote.
func (sc *scratch) decision() Decision {
	d := &sc.c.decision
	// Decisions mostly repeat their rule: reusing its string saves an
	// allocation.
	if rule := cString(d.rule[:]); string(rule) != sc.rule {
		sc.rule = string(rule)
	}
	return Decision{
		Effect: Effect(d.effect),
		Rule:   sc.rule,
		Reason: string(cString(d.reason[:])),
		Seq:    uint64(d.seq),
	}
}

// cString is the string in a C array up to its NUL (or its end), scanned
// in Go: a call into C for its length would cost more than the scan.
func cString(a []C.char) []byte {
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&a[0])), len(a))
	if n := bytes.IndexByte(raw, 0); n >= 0 {
		return raw[:n]
	}
	return raw
}
