package verify

import (
	"strings"
	"testing"
)

func TestSplitBundles(t *testing.T) {
	cases := []struct {
		name, data string
		n          int
		err        string
		names      []string
	}{
		{"one bundle over several lines", "{\n  \"mediaType\": \"x\"\n}\n", 1, "", []string{"att.jsonl"}},
		{"JSON lines", "{\"a\":1}\n\n{\"b\":2}\n", 2, "", []string{"att.jsonl:1", "att.jsonl:3"}},
		{"blank lines first", "\n\r\n{\"a\":1}\n{\"b\":2}", 2, "", []string{"att.jsonl:3", "att.jsonl:4"}},
		{"a broken line", "{\"a\":1}\n{\"b\":\n", 0, "line 2 is not a JSON document", nil},
		{"a broken line after blank ones", "\n\n{\"a\":1}\n{\"b\":\n", 0, "line 4 is not a JSON document", nil},
		{"empty", " \n", 0, "holds no bundle", nil},
		{"too many", strings.Repeat("{}\n", 1000), 0, "more than", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bs, err := SplitBundles("att.jsonl", []byte(tc.data))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("SplitBundles = %d bundles, %v; want %q", len(bs), err, tc.err)
				}
				return
			}
			if err != nil || len(bs) != tc.n {
				t.Fatalf("SplitBundles = %d bundles, %v; want %d", len(bs), err, tc.n)
			}
			for i, b := range bs {
				if b.Name != tc.names[i] {
					t.Errorf("bundle %d is named %q, want %q", i, b.Name, tc.names[i])
				}
			}
		})
	}
}
