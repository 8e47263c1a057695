package ocilayout

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// ambiguousKeysByTokens is ambiguousKeys written the slow, obvious way, with
// encoding/json's tokenizer: the fuzz target holds the scanner to it.
func ambiguousKeysByTokens(raw []byte) bool {
	if !json.Valid(raw) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	type frame struct {
		object  bool
		keyNext bool
		seen    map[string]bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return false
		}
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.keyNext {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].keyNext = true
				}
				continue
			}
			k := foldKey(tok.(string))
			if top.seen[k] {
				return true
			}
			top.seen[k] = true
			top.keyNext = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keyNext: true, seen: map[string]bool{}})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// a value ended: an enclosing object expects a key next
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].keyNext = true
		}
	}
}

func FuzzAmbiguousKeys(f *testing.F) {
	for _, s := range []string{
		`{"manifests":[],"Manifests":[]}`,
		`{"a":{"b":1,"B":2}}`,
		`{"a":"b:","c":["d",{"e":1}],"e":2}`,
		`{"manifeſts":1,"manifests":2}`,
		`{"\u0061":1,"a":2}`,
		`[{"a":1},{"a":1}]`,
		`{"k":1,"K":2}`,
		`"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, want := ambiguousKeys(raw) != nil, ambiguousKeysByTokens(raw)
		if got != want {
			t.Errorf("ambiguousKeys(%q) refuses: %v; by tokens: %v", raw, got, want)
		}
	})
}
