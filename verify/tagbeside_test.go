package verify

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func TestTagBeside(t *testing.T) {
	dg := "@sha256:" + strings.Repeat("ab", 32)
	for ref, want := range map[string]string{
		"r.io/app:prod" + dg:         "prod",
		"r.io/app" + dg:              "",
		"localhost:5000/app" + dg:    "", // the port is not a tag
		"localhost:5000/app:v1" + dg: "v1",
		"app:1.0" + dg:               "1.0",
	} {
		d, err := name.NewDigest(ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if got := tagBeside(d); got != want {
			t.Errorf("tagBeside(%s) = %q, want %q", ref, got, want)
		}
	}
}
