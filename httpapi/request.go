package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// Limits of API.md section 2.
const (
	maxProjectLen     = 64
	maxQueueNameLen   = 64
	maxGroupNameLen   = 32
	maxDescriptionLen = 160 // characters

	minMaxMsgs, maxMaxMsgs, defaultMaxMsgs    = 1, 10, 10
	minTimeWait, maxTimeWait, defaultTimeWait = 1, 60, 3    // seconds
	minAckWait, maxAckWait, defaultAckWait    = 15, 300, 30 // seconds
	minConsumeCount, maxConsumeCount          = 1, 100      // max_consume_count
	minRetentionHours, maxRetentionHours      = 1, 72       // retention_hours
	defaultRetentionMinutes                   = 72 * 60     // reservation of a queue
	maxMessageBytes                           = 524288      // one message, body + attributes
	maxMessagesBytes                          = 524288      // all messages of one produce
	maxProduceMessages                        = 10          // messages per produce
	maxAckEntries                             = 10          // entries per ack
	maxGroupsPerRequest                       = 10          // groups per create request (our decision)
)

// validName reports whether s is made of [A-Za-z0-9_-] only.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkProject validates a project_id.
func checkProject(p string) error {
	if len(p) < 1 || len(p) > maxProjectLen || !validName(p) {
		return badRequest(codeProjectInvalid, "project_id must be 1-%d characters of [A-Za-z0-9_-]", maxProjectLen)
	}
	return nil
}

// checkQueueName validates a queue name: length first (a missing name is
// length 0), then characters.
func checkQueueName(n string) error {
	if len(n) < 1 || len(n) > maxQueueNameLen {
		return badRequest(codeQueueNameLength, "queue name must be 1-%d characters long", maxQueueNameLen)
	}
	if !validName(n) {
		return badRequest(codeQueueNameChars, "queue name may only contain [A-Za-z0-9_-]")
	}
	return nil
}

// checkGroupName validates a consumer group name.
func checkGroupName(n string) error {
	if len(n) < 1 || len(n) > maxGroupNameLen || !validName(n) {
		return badRequest(codeGroupName, "group name must be 1-%d characters of [A-Za-z0-9_-]", maxGroupNameLen)
	}
	return nil
}

// checkDescription validates a queue description.
func checkDescription(d string) error {
	if strings.ContainsAny(d, "<>") {
		return badRequest(codeDescriptionChars, "description must not contain < or >")
	}
	if utf8.RuneCountInString(d) > maxDescriptionLen {
		return badRequest(codeDescriptionLen, "description must be at most %d characters", maxDescriptionLen)
	}
	return nil
}

// queryInt reads an integer query parameter. Absent or empty takes def;
// anything that is not a decimal integer within [lo, hi] is an error with
// the parameter's code.
func queryInt(args *fasthttp.Args, name string, def, lo, hi int, code string) (int, error) {
	v := args.Peek(name)
	if len(v) == 0 {
		return def, nil
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < int64(lo) || n > int64(hi) {
		return 0, badRequest(code, "%s must be an integer from %d to %d", name, lo, hi)
	}
	return int(n), nil
}

// queryBool reads a boolean query parameter such as include_deadletter.
// Absent or empty is false; "true" and "false" in any case are accepted,
// anything else is malformed.
func queryBool(args *fasthttp.Args, name string) (bool, error) {
	v := string(args.Peek(name))
	switch strings.ToLower(v) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, malformed("%s must be true or false", name)
}

// jsonObject is a request body's top-level object: field name to the exact
// text of its value. Field names match exactly (encoding/json's struct
// decoding would match them case-insensitively); unknown fields are ignored;
// of duplicate fields the last wins.
type jsonObject map[string]json.RawMessage

// parseObject parses b as one JSON object.
func parseObject(b []byte) (jsonObject, error) {
	if !isKind(b, '{') {
		return nil, malformed("request body must be a JSON object")
	}
	o, err := splitObject(b)
	if errors.Is(err, errJSONTooDeep) {
		return nil, malformed("request body is nested too deep: more than %d levels of objects and arrays", maxJSONDepth)
	}
	if err != nil {
		return nil, malformed("request body is not valid JSON")
	}
	return o, nil
}

// isKind reports whether the JSON text v starts with the byte c (after
// white space): '{' object, '[' array, '"' string.
func isKind(v []byte, c byte) bool {
	v = bytes.TrimLeft(v, " \t\r\n")
	return len(v) > 0 && v[0] == c
}

// absent reports whether a field was not sent or sent as null.
func absent(v json.RawMessage) bool {
	return v == nil || string(bytes.TrimSpace(v)) == "null"
}

// stringField reads a field that must be a JSON string when present.
func (o jsonObject) stringField(name string) (s string, present bool, err error) {
	v := o[name]
	if absent(v) {
		return "", false, nil
	}
	if !isKind(v, '"') {
		return "", true, malformed("%s must be a string", name)
	}
	if err := json.Unmarshal(v, &s); err != nil {
		return "", true, malformed("%s must be a string", name)
	}
	return s, true, nil
}

// intField reads a field that must be a JSON integer within [lo, hi] when
// present; a value of another type or out of range is an error with code.
func (o jsonObject) intField(name string, lo, hi int, code string) (n int, present bool, err error) {
	v := o[name]
	if absent(v) {
		return 0, false, nil
	}
	i, perr := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
	if perr != nil || i < int64(lo) || i > int64(hi) {
		return 0, true, badRequest(code, "%s must be an integer from %d to %d", name, lo, hi)
	}
	return int(i), true, nil
}

// boolField reads a field that must be a JSON boolean when present.
func (o jsonObject) boolField(name string) (bool, error) {
	v := o[name]
	if absent(v) {
		return false, nil
	}
	switch string(bytes.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, malformed("%s must be true or false", name)
}

// arrayField reads a field that must be a JSON array of lo to hi elements.
// It is required: absent is malformed too.
func (o jsonObject) arrayField(name string, lo, hi int) ([]json.RawMessage, error) {
	v := o[name]
	if absent(v) || !isKind(v, '[') {
		return nil, malformed("%s must be an array of %d to %d elements", name, lo, hi)
	}
	a, err := splitArray(v)
	if err != nil || len(a) < lo || len(a) > hi {
		return nil, malformed("%s must be an array of %d to %d elements", name, lo, hi)
	}
	return a, nil
}

// elementObject parses one array element that must be an object.
func elementObject(v json.RawMessage, what string, i int) (jsonObject, error) {
	if !isKind(v, '{') {
		return nil, malformed("%s[%d] must be an object", what, i)
	}
	o, err := splitObject(v)
	if err != nil {
		return nil, malformed("%s[%d] must be an object", what, i)
	}
	return o, nil
}
