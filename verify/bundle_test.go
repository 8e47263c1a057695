package verify

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/imgsign/imgsign/statement"
)

// checkBundle says why a bundle does not count by typed checks, not by the
// words of sigstore-go's errors: the signature first, then what the signed
// payload is, then what it is about.
func TestCheckBundleCodes(t *testing.T) {
	ft := newFuzzTrust(t)
	otherType, err := sgsign.Bundle(&sgsign.DSSEData{Data: stmtJSON(subjectA.Hex, statement.Signature), PayloadType: "text/plain"}, ft.sk, sgsign.BundleOptions{Context: context.Background()})
	if err != nil {
		t.Fatal(err)
	}
	otherTypeRaw, err := protojson.Marshal(otherType)
	if err != nil {
		t.Fatal(err)
	}
	good := ft.bundle(t, ft.sk, stmtJSON(subjectA.Hex, statement.Signature))
	cases := []struct {
		name string
		raw  []byte
		code Code   // "" = counts
		says string // part of the reason
	}{
		{"a signature of the image", good, "", ""},
		{"signed, about another image", ft.bundle(t, ft.sk, stmtJSON(subjectB.Hex, statement.Signature)), CodeSubjectMismatch, "is about another image"},
		{"signed, not a statement", ft.bundle(t, ft.sk, []byte("not json")), CodeMalformed, "not an in-toto statement"},
		{"signed, another payload type", otherTypeRaw, CodeMalformed, "not an in-toto statement"},
		{"payload swapped after signing", editJSON(t, good, func(m map[string]any) {
			m["dsseEnvelope"].(map[string]any)["payload"] = base64.StdEncoding.EncodeToString(stmtJSON(subjectB.Hex, statement.Signature))
		}), CodeSignatureInvalid, "signature does not verify"},
		{"a key the policy does not list", ft.bundle(t, ft.sx, stmtJSON(subjectA.Hex, statement.Signature)), CodeUntrustedKey, "does not list"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := checkBundle(tc.raw, subjectA, ft.policy, ft.verifier.verifiers, nil, time.Now())
			if tc.code == "" {
				if c.err != nil || c.key == nil {
					t.Fatalf("refused: %v", c.err)
				}
				return
			}
			if c.err == nil || c.key != nil {
				t.Fatalf("counted (key %v)", c.key)
			}
			if got := candidateCode(c.err); got != tc.code || !strings.Contains(c.err.Error(), tc.says) {
				t.Fatalf("%s: %v; want %s saying %q", got, c.err, tc.code, tc.says)
			}
		})
	}
}
