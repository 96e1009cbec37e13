package agentauthz

import (
	"runtime"
	"syscall"
	"testing"
	"unsafe"
)

// threadCPU returns the calling thread's CPU time in nanoseconds. The
// benchmark reports it beside the wall time because a busy machine (a CI
// runner building other things) stretches the wall time of every check
// without changing what a check costs.
func threadCPU() int64 {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

const benchPolicy = `agentauthz: 1
tasks: {mail: {}}
rules:
  - id: mail-inside
    effect: allow
    tools: [send_email]
    where:
      args.to: { domain: [corp.example] }
`

// BenchmarkCheck4Args measures one check with four string arguments through
// the binding, the same request as the Python and Node benchmarks.
func BenchmarkCheck4Args(b *testing.B) {
	e, err := NewEngine()
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	if err := e.LoadString("bench.yaml", benchPolicy); err != nil {
		b.Fatal(err)
	}
	s, err := e.Open("agent/1", "mail", nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	a := Action{Tool: "send_email", Args: map[string]any{
		"to": "ops@corp.example", "subject": "Ticket 4711", "body": "The refund was issued.",
		"reply_to": "support@corp.example",
	}}
	if d, err := s.Check(a); err != nil || !d.Allowed() {
		b.Fatalf("the benchmark's check must be allowed: %+v %v", d, err)
	}
	// The thread is locked so that its CPU clock measures only this loop.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := threadCPU()
	for i := 0; i < b.N; i++ {
		if d, _ := s.Check(a); !d.Allowed() {
			b.Fatal("denied")
		}
	}
	b.ReportMetric(float64(threadCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkCheckParallel measures checks from every CPU on one session.
func BenchmarkCheckParallel(b *testing.B) {
	e, err := NewEngine()
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	if err := e.LoadString("bench.yaml", benchPolicy); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		s, err := e.Open("agent/1", "mail", nil, 0)
		if err != nil {
			b.Error(err)
			return
		}
		defer s.Close()
		a := Action{Tool: "send_email", Args: map[string]any{"to": "ops@corp.example"}}
		for pb.Next() {
			if d, _ := s.Check(a); !d.Allowed() {
				b.Error("denied")
				return
			}
		}
	})
}
