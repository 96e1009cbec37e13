package agentauthz

/*
#include <agentauthz.h>
*/
import "C"

import (
	"fmt"
	"strings"
)

// Code is one of libagentauthz's error codes. The Err* constants are Codes
// and serve as sentinels: errors.Is(err, agentauthz.ErrDenied) holds for
// every error of this package that carries that code.
type Code int

// The library's error codes. Their values are never reused.
const (
	ErrInvalid   Code = C.AGENTAUTHZ_EINVAL     // misuse: closed handle, bad argument
	ErrNoMem     Code = C.AGENTAUTHZ_ENOMEM     // out of memory
	ErrIO        Code = C.AGENTAUTHZ_EIO        // a file could not be read or written
	ErrPolicy    Code = C.AGENTAUTHZ_EPOLICY    // the policy is invalid
	ErrNoPolicy  Code = C.AGENTAUTHZ_ENOPOLICY  // no policy is loaded
	ErrNoTask    Code = C.AGENTAUTHZ_ENOTASK    // the task is not in the policy
	ErrIdentity  Code = C.AGENTAUTHZ_EIDENTITY  // the identity may not open the task
	ErrParam     Code = C.AGENTAUTHZ_EPARAM     // task parameters missing or wrong
	ErrJSON      Code = C.AGENTAUTHZ_EJSON      // malformed JSON
	ErrLimit     Code = C.AGENTAUTHZ_ELIMIT     // a size, depth or count bound was hit
	ErrSession   Code = C.AGENTAUTHZ_ESESSION   // the session is closed, revoked or expired
	ErrNotFound  Code = C.AGENTAUTHZ_ENOTFOUND  // no such secret, key or entry
	ErrDenied    Code = C.AGENTAUTHZ_EDENIED    // refused: not allowed by the policy
	ErrCrypto    Code = C.AGENTAUTHZ_ECRYPTO    // libsodium failed or a key is bad
	ErrToken     Code = C.AGENTAUTHZ_ETOKEN     // a token is malformed
	ErrSignature Code = C.AGENTAUTHZ_ESIGNATURE // a token's signature does not verify
	ErrExpired   Code = C.AGENTAUTHZ_EEXPIRED   // a token has expired
	ErrAudience  Code = C.AGENTAUTHZ_EAUDIENCE  // a token is for another audience
	ErrPerm      Code = C.AGENTAUTHZ_EPERM      // a file's permissions are too open
	ErrExist     Code = C.AGENTAUTHZ_EEXIST     // refusing to overwrite a file
	ErrProvider  Code = C.AGENTAUTHZ_EPROVIDER  // the host's secret provider failed
	ErrTamper    Code = C.AGENTAUTHZ_ETAMPER    // an audit log's MAC chain is broken
	ErrAlgorithm Code = C.AGENTAUTHZ_EALGORITHM // a token's "alg" is "none" or not EdDSA
	ErrKeyID     Code = C.AGENTAUTHZ_EKEYID     // a token's "kid" is not a key the verifier holds
	ErrTokenType Code = C.AGENTAUTHZ_ETOKENTYPE // a token's "typ" is not txntoken+jwt
)

// Error returns the library's name for the code ("invalid policy").
func (c Code) Error() string {
	return C.GoString(C.agentauthz_strerror(C.int(c)))
}

// Error is a failure of the library with what it said about it. Messages
// never hold secret values.
type Error struct {
	Code    Code
	Path    string // the file involved, or ""
	Line    int    // 1-based; 0 when it does not apply
	Column  int    // 1-based; 0 when it does not apply
	Offset  int    // byte offset into the input
	Message string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("agentauthz: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d, column %d: ", e.Line, e.Column)
	}
	if e.Message != "" {
		b.WriteString(e.Message)
	} else {
		b.WriteString(e.Code.Error())
	}
	return b.String()
}

// Unwrap returns the Code, so that errors.Is matches the sentinels.
func (e *Error) Unwrap() error { return e.Code }

// Diagnostic is one finding of a policy load: an error, or a warning such
// as a rule that can never match.
type Diagnostic struct {
	Code    Code
	File    string
	Line    int
	Column  int
	Offset  int
	Message string
	Warning bool
}

func (d Diagnostic) String() string {
	kind := "error"
	if d.Warning {
		kind = "warning"
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", d.File, d.Line, d.Column, kind, d.Message)
}

// PolicyError is the error of every failed load: where the first error is
// (File, Line, Column), what it is, and every diagnostic the load reported.
// The policy loaded before stays in force.
type PolicyError struct {
	Code        Code
	File        string
	Line        int
	Column      int
	Offset      int
	Message     string
	Diagnostics []Diagnostic
	// Dropped counts the diagnostics past the first 256, which are not kept.
	Dropped int
}

func (e *PolicyError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Code.Error()
	}
	if e.File == "" && e.Line == 0 {
		return "agentauthz: " + msg
	}
	return fmt.Sprintf("agentauthz: %s:%d:%d: %s", e.File, e.Line, e.Column, msg)
}

// Unwrap returns the Code, so that errors.Is(err, ErrPolicy) holds.
func (e *PolicyError) Unwrap() error { return e.Code }

// newError converts the library's error report for rc into a Go error.
func newError(rc C.int, err *C.agentauthz_error) error {
	if rc == 0 {
		return nil
	}
	e := &Error{Code: Code(rc)}
	if err != nil && err.code == rc {
		e.Path = C.GoString(&err.path[0])
		e.Line = int(err.line)
		e.Column = int(err.column)
		e.Offset = int(err.offset)
		e.Message = C.GoString(&err.message[0])
	}
	return e
}

// misuse is the error of a call the binding refuses before reaching C.
func misuse(code Code, msg string) error {
	return &Error{Code: code, Message: msg}
}
