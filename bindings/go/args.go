package agentauthz

import (
	"encoding/json"
	"math"
	"strconv"
)

// maxDepth bounds the nesting of arguments and parameters, as the
// library's JSON parser does; it also stops a map that contains itself.
const maxDepth = 64

// appendJSON appends v as JSON. The common types of tool arguments are
// encoded here directly, which is several times faster than encoding/json
// and keeps a check under a microsecond; other types go through
// encoding/json. Strings are copied byte for byte: invalid UTF-8 is not
// replaced (the library then refuses the arguments, so that the policy
// never judges another value than the tool will receive).
func appendJSON(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return b, misuse(ErrLimit, "arguments nest deeper than 64 levels")
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case float64:
		return appendFloat(b, x, 64)
	case float32:
		return appendFloat(b, float64(x), 32)
	case []string:
		return appendStrings(b, x), nil
	case []any:
		return appendList(b, x, depth)
	case map[string]any:
		return appendMap(b, x, depth)
	case map[string]string:
		return appendStringMap(b, x), nil
	}
	return appendOther(b, v)
}

func appendFloat(b []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, misuse(ErrInvalid, "a number argument is not finite")
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits), nil
}

func appendStrings(b []byte, l []string) []byte {
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

func appendList(b []byte, l []any, depth int) ([]byte, error) {
	var err error
	b = append(b, '[')
	for i, item := range l {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendJSON(b, item, depth+1); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

func appendMap(b []byte, m map[string]any, depth int) ([]byte, error) {
	var err error
	b = append(b, '{')
	first := true
	for k, item := range m {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(appendString(b, k), ':')
		if b, err = appendJSON(b, item, depth+1); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

func appendStringMap(b []byte, m map[string]string) []byte {
	b = append(b, '{')
	first := true
	for k, s := range m {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(appendString(b, k), ':')
		b = appendString(b, s)
	}
	return append(b, '}')
}

// appendOther encodes the types appendJSON does not know (structs, named
// types, json.Marshalers) with encoding/json.
func appendOther(b []byte, v any) ([]byte, error) {
	text, err := json.Marshal(v)
	if err != nil {
		return b, misuse(ErrInvalid, "an argument cannot be encoded as JSON: "+err.Error())
	}
	return append(b, text...), nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping what JSON requires.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
