package httpapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// jsonSeeds are valid and invalid documents at the edges of the grammar.
var jsonSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a":-0.5e+10,"b":[1,2,{"c":null}],"d":"x\"\\\/\b\f\n\r\tA"}`,
	`{"a":1,"a":2}`, `{"\u0061":true}`, `{"messages":[{"body":{"k":[]},"attributes":{}}],"returnId":false}`,
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}",
	`{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{"a":1}x`, `[1,2]`, `[]`, `[1,]`, `"s"`, `nul`, `tru`, `{"a":[}`,
	strings.Repeat("[", 2000) + strings.Repeat("]", 2000),
	`{"a":` + strings.Repeat("[", 999) + strings.Repeat("]", 999) + `}`,
}

// TestSplitObject_AgreesWithEncodingJSON checks validity and members against
// encoding/json on the seeds.
func TestSplitObject_AgreesWithEncodingJSON(t *testing.T) {
	for _, s := range jsonSeeds {
		checkSplitObject(t, []byte(s))
	}
}

func FuzzSplitObject(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkSplitObject(t, b) })
}

func checkSplitObject(t *testing.T, b []byte) {
	t.Helper()
	got, err := splitObject(b)
	var want map[string]json.RawMessage
	werr := json.Unmarshal(b, &want)
	isObj := bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{"))
	// encoding/json nests 10000 deep; we stop at maxJSONDepth on purpose.
	deep := bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) > maxJSONDepth
	switch {
	case werr == nil && isObj && err != nil && !deep:
		t.Fatalf("%q: refused (%v), encoding/json accepts it", b, err)
	case (werr != nil || !isObj) && err == nil:
		t.Fatalf("%q: accepted, encoding/json refuses it (%v)", b, werr)
	case err == nil:
		if len(got) != len(want) {
			t.Fatalf("%q: %d members, encoding/json %d", b, len(got), len(want))
		}
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				t.Fatalf("%q: member %q = %q, encoding/json %q", b, k, got[k], v)
			}
		}
	}
}

// TestSplitArray checks element splitting.
func TestSplitArray(t *testing.T) {
	a, err := splitArray([]byte(` [1, "a,b" ,{"x":[2,3]}, null] `))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`1`, `"a,b"`, `{"x":[2,3]}`, `null`}
	if len(a) != len(want) {
		t.Fatalf("%d elements", len(a))
	}
	for i := range want {
		if string(a[i]) != want[i] {
			t.Fatalf("element %d = %q, want %q", i, a[i], want[i])
		}
	}
	for _, bad := range []string{`[1,]`, `[1 2]`, `[`, `{}`, `[1]x`} {
		if _, err := splitArray([]byte(bad)); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}

func BenchmarkParseProduce10(b *testing.B) {
	body := []byte(batch10())
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, err := parseProduce(body); err != nil {
			b.Fatal(err)
		}
	}
}
