package safetext

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"registry.example.com/app:1.0", "registry.example.com/app:1.0"},
		{"ünïcödé ✓ 日本", "ünïcödé ✓ 日本"},
		{"a\nPASS", `a\nPASS`},
		{"\x1b[1A\x1b[2K\rPASS", `\x1b[1A\x1b[2K\rPASS`},
		{"tab\there", `tab\there`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`},
		{"c1 \u009b31m", `c1 \u009b31m`},
		{"del \x7f", `del \x7f`},
		{"bad utf8 \xff\xfe", `bad utf8 \xff\xfe`},
		{"line sep \u2028x", `line sep \u2028x`},
		{"zero width \u200b", `zero width \u200b`},
	}
	for _, c := range cases {
		got := Clean(c.in)
		if got != c.want {
			t.Errorf("Clean(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.ContainsAny(got, "\x1b\n\r\x7f") {
			t.Errorf("Clean(%q) still holds a control character: %q", c.in, got)
		}
	}
}

// Names (DCT target names, roles) print as they are, or quoted when they
// hold anything a terminal would act on.
func TestQuote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"v1.2-rc_3", "v1.2-rc_3"},
		{"targets/releases", "targets/releases"},
		{"evil\x1b[2J", `"evil\x1b[2J"`},
		{"a\tb", `"a\tb"`},
		{"line\nbreak", `"line\nbreak"`},
	} {
		if got := Quote(c.in); got != c.want {
			t.Errorf("Quote(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

type stringer struct{}

func (stringer) String() string { return "s\x1b[0m" }

func TestFprintfCleansArguments(t *testing.T) {
	var b bytes.Buffer
	Fprintf(&b, "%s|%v|%s|%d|%s|%s\n", "a\nb", errors.New("e\x1b"), stringer{}, 7, []string{"x\ty"}, []byte("raw"))
	want := `a\nb|e\x1b|s\x1b[0m|7|[x\ty]|raw` + "\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	if got := Sprintf("%s", "\r"); got != `\r` {
		t.Errorf("Sprintf = %q", got)
	}
}

func TestJSON(t *testing.T) {
	v := map[string]string{"k": "a\x1b\n\u009b\u202e\x7f日本✓", "\u2066key": "v"}
	doc, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	doc = append(doc, '\n')
	out := JSON(doc)
	for _, raw := range []string{"\x1b", "\u009b", "\u202e", "\x7f", "\u2066"} {
		if bytes.Contains(out, []byte(raw)) {
			t.Errorf("JSON output holds raw %q: %s", raw, out)
		}
	}
	if !bytes.Contains(out, []byte("日本✓")) {
		t.Errorf("printable text was escaped: %s", out)
	}
	var back map[string]string
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("escaped JSON no longer parses: %v\n%s", err, out)
	}
	if back["k"] != v["k"] || back["\u2066key"] != "v" {
		t.Errorf("escaping changed the values: %q", back)
	}
	clean := []byte(`{"a": "b"}`)
	if got := JSON(clean); &got[0] != &clean[0] {
		t.Errorf("a clean document should be returned as is")
	}
	// A rune outside the BMP that is not printable is written as a
	// surrogate pair.
	doc, _ = json.Marshal("\U000E0001")
	if err := json.Unmarshal(JSON(doc), new(string)); err != nil || bytes.Contains(JSON(doc), []byte("\U000E0001")) {
		t.Errorf("JSON(%q) = %q (%v)", doc, JSON(doc), err)
	}
}

func FuzzClean(f *testing.F) {
	f.Add("\x1b[2K\nPASS")
	f.Fuzz(func(t *testing.T, s string) {
		got := Clean(s)
		if strings.ContainsAny(got, "\x1b\n\r\x7f\x00") || !isClean(got) {
			t.Fatalf("Clean(%q) = %q is not printable", s, got)
		}
		var back string
		doc, _ := json.Marshal(s)
		if err := json.Unmarshal(JSON(doc), &back); err != nil {
			t.Fatalf("JSON broke %q: %v", doc, err)
		}
	})
}
