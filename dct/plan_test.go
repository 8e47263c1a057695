package dct

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// Check decides, from what the registry holds now, which DCT bindings are
// imported and what is worth a warning.
func TestCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry")
	}
	host := testenv.Registry(t, true).Addr
	d1 := testenv.PushImage(t, host, "team/app", "v1")
	d2 := testenv.PushImage(t, host, "team/app", "moved")
	testenv.PushImage(t, host, "team/app", "other")
	ref, err := name.NewRepository(host+"/team/app", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := registry.New().Open(context.Background(), ref, false)
	if err != nil {
		t.Fatal(err)
	}
	missing := "sha256:" + strings.Repeat("cd", 32)
	entries := []Entry{
		{Tag: "v1", Digest: d1.String(), Length: 7},
		{Tag: "moved", Digest: d1.String()},
		{Tag: "untagged", Digest: d2.String()},
		{Tag: "gone", Digest: missing},
		{Tag: "not a tag", Digest: d1.String()},
		{Tag: "nohash"},
	}
	entries[5].Reason = "DCT signed it without a sha256 hash, so it names no image digest"
	if err := Check(context.Background(), repo, entries); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tag     string
		imp     bool
		reason  string // substring; "" for none
		warning string // substring; "" for none
	}{
		{tag: "v1", imp: true},
		{tag: "moved", imp: true, warning: "tag moved moved since DCT signed it: it now points to " + d2.String()},
		{tag: "untagged", imp: true, warning: "tag untagged no longer exists"},
		{tag: "gone", reason: "the signed manifest " + missing + " is no longer in"},
		{tag: "not a tag", reason: `DCT target "not a tag" is not an image tag`},
		{tag: "nohash", reason: "without a sha256 hash"},
	} {
		var e *Entry
		for i := range entries {
			if entries[i].Tag == tc.tag {
				e = &entries[i]
			}
		}
		if e.Import != tc.imp || (tc.reason == "") != (e.Reason == "") || !strings.Contains(e.Reason, tc.reason) {
			t.Errorf("%s: import %v reason %q; want %v, %q", tc.tag, e.Import, e.Reason, tc.imp, tc.reason)
		}
		if w := strings.Join(e.Warnings, "; "); (tc.warning == "") != (w == "") || !strings.Contains(w, tc.warning) {
			t.Errorf("%s: warnings %q; want %q", tc.tag, w, tc.warning)
		}
	}
	if entries[0].subject.Size != 7 {
		t.Errorf("subject size %d: the signed length (7) must win over the registry's", entries[0].subject.Size)
	}
	if !(&Plan{Entries: entries}).Partial() || (&Plan{Entries: entries[:3]}).Partial() {
		t.Error("Partial: want true with skipped tags, false without")
	}
}
