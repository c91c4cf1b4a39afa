package loadtest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestBody_ExactSizeAndRoundTrip(t *testing.T) {
	at := time.Unix(1_700_000_000, 123456789)
	for _, size := range []int{minSize, 100, 1024, maxSize} {
		b := appendBody(nil, 4294967295, 4294967295, at, size)
		if len(b) != size {
			t.Fatalf("size %d: body of %d bytes", size, len(b))
		}
		if !json.Valid(b) {
			t.Fatalf("size %d: not JSON: %s", size, b)
		}
		p, s, got, err := parseBody(b)
		if err != nil || p != 4294967295 || s != 4294967295 || !got.Equal(at) {
			t.Fatalf("size %d: parsed %d %d %v %v", size, p, s, got, err)
		}
	}
}

func TestBody_ProduceRequestIsValidJSON(t *testing.T) {
	b := appendProduce(nil, 3, 40, 10, time.Unix(5, 0), 200)
	var req struct {
		Messages []struct {
			Body json.RawMessage `json:"body"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	if len(req.Messages) != 10 {
		t.Fatalf("%d messages", len(req.Messages))
	}
	for i, m := range req.Messages {
		p, s, _, err := parseBody(m.Body)
		if err != nil || p != 3 || s != uint32(40+i) || len(m.Body) != 200 {
			t.Fatalf("message %d: %d %d %v (%d bytes)", i, p, s, err, len(m.Body))
		}
	}
}

func TestBody_ParseFallsBackToJSONAndRefusesForeign(t *testing.T) {
	p, s, at, err := parseBody([]byte(` { "t": 7, "s": 2, "p": 1 }`))
	if err != nil || p != 1 || s != 2 || at.UnixNano() != 7 {
		t.Fatalf("reordered body: %d %d %v %v", p, s, at, err)
	}
	for _, b := range []string{`"hello"`, `{"p":1}`, `{"order":1}`, `{"p":-1,"s":1,"t":1}`, `{"p":99999999999,"s":1,"t":1}`} {
		if _, _, _, err := parseBody([]byte(b)); !errors.Is(err, errForeignBody) {
			t.Errorf("%s: err %v, want errForeignBody", b, err)
		}
	}
}
