package httpapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// A small single-pass JSON validator and splitter for request bodies. The
// produce path used to run encoding/json three times over every body (the
// envelope, the messages array, each message), and encoding/json checks its
// whole input before decoding it, so every byte was scanned about six times;
// here it is scanned once. Values are never decoded: a message body is kept
// as the exact text sent. The grammar is RFC 8259's, as encoding/json
// accepts it (strings are not checked for valid UTF-8).

// maxJSONDepth bounds nesting, so that a hostile body cannot exhaust the stack.
const maxJSONDepth = 1000

var errJSONSyntax = errors.New("httpapi: invalid JSON")

// errJSONTooDeep is valid-looking JSON nested deeper than maxJSONDepth: told
// apart from a syntax error so that the client learns what to change.
var errJSONTooDeep = errors.New("httpapi: JSON nested too deep")

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// scanValue checks the JSON value that starts at b[i] (no leading space) and
// returns the index just after it.
func scanValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errJSONSyntax
	}
	switch c := b[i]; {
	case c == '{':
		return scanObject(b, i, depth+1, nil)
	case c == '[':
		return scanArray(b, i, depth+1, nil)
	case c == '"':
		return scanString(b, i)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(b, i)
	}
	return 0, errJSONSyntax
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, errJSONSyntax
	}
	return i + len(lit), nil
}

func scanDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func scanNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = scanDigits(b, i+1)
	default:
		return 0, errJSONSyntax
	}
	if i < len(b) && b[i] == '.' {
		j := scanDigits(b, i+1)
		if j == i+1 {
			return 0, errJSONSyntax
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := scanDigits(b, i)
		if j == i {
			return 0, errJSONSyntax
		}
		i = j
	}
	return i, nil
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// scanString checks the string that starts at b[i] ('"') and returns the
// index after its closing quote.
func scanString(b []byte, i int) (int, error) {
	i++
	// Skip eight bytes at a time while none of them is a quote, a backslash
	// or a control character (message bodies are long runs of plain text).
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		if hasZeroByte(x^(swarOnes*'"'))|hasZeroByte(x^(swarOnes*'\\'))|hasByteBelow(x, 0x20) != 0 {
			break
		}
		i += 8
	}
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, nil
		case c < 0x20:
			return 0, errJSONSyntax
		case c == '\\':
			i++
			if i >= len(b) {
				return 0, errJSONSyntax
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return 0, errJSONSyntax
				}
				i += 4
			default:
				return 0, errJSONSyntax
			}
		}
	}
	return 0, errJSONSyntax
}

// SWAR helpers: a byte of x is flagged (its top bit set in the result) when
// it is zero, or below n (n <= 0x80). Bytes at or above 0x80 are never
// flagged by hasByteBelow.
const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

func hasZeroByte(x uint64) uint64 { return (x - swarOnes) &^ x & swarHigh }

func hasByteBelow(x uint64, n uint64) uint64 { return (x - swarOnes*n) &^ x & swarHigh }

// scanObject checks the object that starts at b[i] ('{'); when field is not
// nil it is called with each member's raw key text (quotes included) and
// value text.
func scanObject(b []byte, i, depth int, field func(key, val []byte)) (int, error) {
	if depth > maxJSONDepth {
		return 0, errJSONTooDeep
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, errJSONSyntax
		}
		ks := i
		ke, err := scanString(b, i)
		if err != nil {
			return 0, err
		}
		i = skipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return 0, errJSONSyntax
		}
		vs := skipSpace(b, i+1)
		ve, err := scanValue(b, vs, depth)
		if err != nil {
			return 0, err
		}
		if field != nil {
			field(b[ks:ke], b[vs:ve])
		}
		i = skipSpace(b, ve)
		if i >= len(b) {
			return 0, errJSONSyntax
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, errJSONSyntax
		}
	}
}

// scanArray checks the array that starts at b[i] ('['); when elem is not nil
// it is called with each element's text.
func scanArray(b []byte, i, depth int, elem func(val []byte)) (int, error) {
	if depth > maxJSONDepth {
		return 0, errJSONTooDeep
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		vs := i
		ve, err := scanValue(b, vs, depth)
		if err != nil {
			return 0, err
		}
		if elem != nil {
			elem(b[vs:ve])
		}
		i = skipSpace(b, ve)
		if i >= len(b) {
			return 0, errJSONSyntax
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, errJSONSyntax
		}
	}
}

// splitObject checks that b is exactly one JSON object (surrounding space
// allowed) and returns its members: field name to value text. Of duplicate
// names the last wins, as with encoding/json.
func splitObject(b []byte) (jsonObject, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errJSONSyntax
	}
	o := make(jsonObject, 4)
	var keyErr error
	end, err := scanObject(b, i, 1, func(key, val []byte) {
		name, err := unquoteKey(key)
		if err != nil {
			keyErr = err
			return
		}
		o[name] = json.RawMessage(val)
	})
	if err != nil {
		return nil, err
	}
	if keyErr != nil {
		return nil, keyErr
	}
	if skipSpace(b, end) != len(b) {
		return nil, errJSONSyntax
	}
	return o, nil
}

// splitArray checks that b is exactly one JSON array and returns its
// elements' texts.
func splitArray(b []byte) ([]json.RawMessage, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, errJSONSyntax
	}
	var out []json.RawMessage
	end, err := scanArray(b, i, 1, func(val []byte) { out = append(out, json.RawMessage(val)) })
	if err != nil {
		return nil, err
	}
	if skipSpace(b, end) != len(b) {
		return nil, errJSONSyntax
	}
	return out, nil
}

// unquoteKey returns the name a quoted key stands for. Only keys with escapes
// or invalid UTF-8 (which encoding/json turns into U+FFFD) need real decoding.
func unquoteKey(q []byte) (string, error) {
	raw := q[1 : len(q)-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw), nil
	}
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return "", errJSONSyntax
	}
	return s, nil
}
