package safetext

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A string of a named type (a media type from a registry) is cleaned like
// any string: `case string` alone let it through raw.
func TestSprintfNamedStringTypes(t *testing.T) {
	type mode string
	got := Sprintf("%s %s %v", types.MediaType("application/x\x1b[2K\nPASS"), mode("audit\u202e"), mode("x\ny"))
	if strings.ContainsAny(got, "\x1b\n\u202e") {
		t.Fatalf("Sprintf left raw control runes: %q", got)
	}
	if want := `application/x\x1b[2K\nPASS audit\u202e x\ny`; got != want {
		t.Fatalf("Sprintf = %q, want %q", got, want)
	}
	if got := Sprintf("%d %x", 42, []byte("a")); got != "42 61" {
		t.Fatalf("numbers and byte slices changed: %q", got)
	}
}
