package agentauthz

/*
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"time"
	"unsafe"
)

// FakeClock is a clock a test moves by hand, for an engine's session TTLs
// (WithClock) or its wall clock of tokens and audit records
// (WithWallClock). Its nanoseconds live in C memory that the library's
// clock callback reads atomically, so no Go pointer is ever handed to C and
// no call goes from C back into Go. Safe for concurrent use.
type FakeClock struct {
	ns *C.uint64_t
}

// NewFakeClock returns a clock that reads start until it is moved. For a
// monotonic clock any start will do; for a wall clock use a real date.
func NewFakeClock(start time.Time) *FakeClock {
	p := (*C.uint64_t)(C.calloc(1, C.size_t(unsafe.Sizeof(C.uint64_t(0)))))
	if p == nil {
		panic("agentauthz: out of memory for a fake clock")
	}
	c := &FakeClock{ns: p}
	C.az_go_clock_store(unsafe.Pointer(p), C.uint64_t(clampNs(start.UnixNano())))
	// The engines using the clock hold a reference to it, so it is only
	// collected once none of them can read it any more.
	runtime.SetFinalizer(c, func(c *FakeClock) { C.free(unsafe.Pointer(c.ns)) })
	return c
}

func clampNs(ns int64) uint64 {
	if ns < 0 {
		return 0
	}
	return uint64(ns)
}

// Advance moves the clock forward by d. A clock never goes back: a negative
// d does nothing, and the clock stops at its largest value.
func (c *FakeClock) Advance(d time.Duration) {
	if d > 0 {
		C.az_go_clock_add(unsafe.Pointer(c.ns), C.uint64_t(d))
	}
	runtime.KeepAlive(c)
}

// Set sets the clock to t. It is meant for wall clocks: a monotonic clock
// must never go back, so tests of TTLs move theirs with Advance.
func (c *FakeClock) Set(t time.Time) {
	C.az_go_clock_store(unsafe.Pointer(c.ns), C.uint64_t(clampNs(t.UnixNano())))
	runtime.KeepAlive(c)
}

// Now returns the clock's reading.
func (c *FakeClock) Now() time.Time {
	ns := uint64(C.az_go_clock_read(unsafe.Pointer(c.ns)))
	runtime.KeepAlive(c)
	if ns > 1<<63-1 {
		ns = 1<<63 - 1
	}
	return time.Unix(0, int64(ns))
}
