package agentauthz

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

// newScratch returns a scratch of a fresh engine, given back at the end of
// the test.
func newScratch(t *testing.T) (*Engine, *scratch) {
	t.Helper()
	e, _ := newTestEngine(t)
	sc, err := e.getScratch()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.putScratch(sc) })
	return e, sc
}

// unpackFlat reads flat arguments back from the text and records the way
// set_flat_args in shim.c does, so that a test sees what C will see.
func unpackFlat(t *testing.T, sc *scratch) map[string]any {
	t.Helper()
	text := sc.buf[sc.shape.args_off : sc.shape.args_off+sc.shape.args_len]
	if int(sc.shape.nargs) != len(sc.args) {
		t.Fatalf("%d records, shape says %d", len(sc.args), sc.shape.nargs)
	}
	got := map[string]any{}
	pos := 0
	take := func(n int) string {
		if pos+n >= len(text) || text[pos+n] != 0 {
			t.Fatalf("no NUL after %d bytes at %d of %q", n, pos, text)
		}
		s := string(text[pos : pos+n])
		pos += n + 1
		return s
	}
	for _, r := range sc.args {
		k := take(int(r.key_len))
		switch r.kind {
		case 's':
			got[k] = take(int(r.value))
		case 'n':
			got[k] = math.Float64frombits(uint64(r.value))
		case 'b':
			got[k] = r.value != 0
		default:
			t.Fatalf("record kind %d", r.kind)
		}
	}
	if pos != len(text) {
		t.Fatalf("%d bytes of text left over", len(text)-pos)
	}
	return got
}

func TestPackFlatArgs(t *testing.T) {
	_, sc := newScratch(t)
	a := Action{Tool: "db.query", Resource: "/kb/a", Destinations: []string{"corp.example"},
		Args: map[string]any{"sql": "SELECT é 😀\x00 tail", "": "", "n": 2.5, "i": -7,
			"big": int64(1) << 53, "yes": true, "no": false}}
	if err := sc.pack(&a); err != nil {
		t.Fatal(err)
	}
	if sc.shape.flat_args == 0 {
		t.Fatal("strings, numbers and booleans must go flat")
	}
	want := map[string]any{"sql": "SELECT é 😀\x00 tail", "": "", "n": 2.5, "i": -7.0,
		"big": float64(int64(1) << 53), "yes": true, "no": false}
	if got := unpackFlat(t, sc); !reflect.DeepEqual(got, want) {
		t.Fatalf("unpacked %#v, want %#v", got, want)
	}
	// A scratch is reused: a smaller action leaves nothing of the last one.
	a = Action{Tool: "db.query", Args: map[string]any{"sql": "SELECT 1"}}
	if err := sc.pack(&a); err != nil {
		t.Fatal(err)
	}
	if got := unpackFlat(t, sc); !reflect.DeepEqual(got, map[string]any{"sql": "SELECT 1"}) {
		t.Fatalf("unpacked %#v after reuse", got)
	}
}

// Arguments the flat path must not judge go through JSON, whose parser
// decides them as the library does for every binding.
func TestPackFallsBackToJSON(t *testing.T) {
	_, sc := newScratch(t)
	cases := map[string]map[string]any{
		"empty":              {},
		"nul in a key":       {"sql\x00x": "DROP"},
		"bad utf-8 key":      {"sql\xff": "x"},
		"bad utf-8 value":    {"sql": "SELECT \xff"},
		"truncated sequence": {"sql": "SELECT \xc3"},
		// Each piece is invalid, but side by side they would spell "é":
		// the NUL between them keeps the one-pass check exact.
		"split sequence": {"a": "x\xc3", "\xa9b": "y"},
		"nested":         {"sql": "SELECT 1", "l": []any{1}},
		"uint64":         {"n": uint64(1)},
		"float32":        {"n": float32(1)},
		"null":           {"n": nil},
	}
	for name, args := range cases {
		a := Action{Tool: "db.query", Args: args}
		if err := sc.pack(&a); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sc.shape.flat_args != 0 || sc.argsPtr() != nil {
			t.Fatalf("%s: went flat", name)
		}
		text := string(sc.buf[sc.shape.args_off : sc.shape.args_off+sc.shape.args_len])
		if len(text) < 2 || text[0] != '{' || text[len(text)-1] != '}' {
			t.Fatalf("%s: not a JSON object: %q", name, text)
		}
	}
	a := Action{Tool: "db.query", Args: map[string]any{"n": math.NaN()}}
	if err := sc.pack(&a); !errors.Is(err, ErrInvalid) {
		t.Fatalf("NaN: %v", err)
	}
}

// Both paths give the library the same values: an argument no rule reads
// that is nested sends the same arguments through JSON.
func TestFlatAndJSONAgree(t *testing.T) {
	e, _ := newTestEngine(t)
	s := openSession(t, e, "work", nil)
	for _, args := range []map[string]any{
		{"sql": "DROP TABLE x"}, {"sql": "DROP\x00"}, {"sql\x00x": "DROP"},
		{"sql": "SELECT é"}, {"sql": 5}, {"sql": true}, {"SQL": "DROP"},
	} {
		flat, err1 := s.Check(Action{Tool: "db.query", Args: args})
		nested := map[string]any{"unread": []any{}}
		for k, v := range args {
			nested[k] = v
		}
		viaJSON, err2 := s.Check(Action{Tool: "db.query", Args: nested})
		if flat.Effect != viaJSON.Effect || flat.Rule != viaJSON.Rule || (err1 == nil) != (err2 == nil) {
			t.Fatalf("%q: flat %+v %v, JSON %+v %v", args, flat, err1, viaJSON, err2)
		}
	}
}

// C bounds every record by the text it was given: records that do not
// match their text (a bug in pack) are refused with a deny, not read
// past the buffer.
func TestCheckRefusesBrokenRecords(t *testing.T) {
	e, _ := newTestEngine(t)
	s := openSession(t, e, "work", nil)
	_, sc := newScratch(t)
	breaks := map[string]func(r *flatArg){
		"key past the text":    func(r *flatArg) { r.key_len = 1 << 40 },
		"key short of its NUL": func(r *flatArg) { r.key_len-- },
		"value past the text":  func(r *flatArg) { r.value = 1<<64 - 1 },
		"value short":          func(r *flatArg) { r.value-- },
		"unknown kind":         func(r *flatArg) { r.kind = 'x' },
	}
	for name, brk := range breaks {
		a := Action{Tool: "db.query", Args: map[string]any{"sql": "SELECT 1"}}
		if err := sc.pack(&a); err != nil {
			t.Fatal(err)
		}
		brk(&sc.args[0])
		c, err := s.lock()
		if err != nil {
			t.Fatal(err)
		}
		rc := sc.check(c)
		s.unlock()
		d := sc.decision()
		if !errors.Is(newError(rc, nil), ErrInvalid) || d.Effect != Deny || d.Rule != "default" {
			t.Fatalf("%s: rc %d, %+v", name, rc, d)
		}
	}
}
