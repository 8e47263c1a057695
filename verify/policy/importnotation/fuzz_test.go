package importnotation

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/imgsign/imgsign/internal/errkind"
)

// FuzzImportNotation: any trust policy input either imports into YAML with
// at least one rule, or is refused with one line of bad input; never a
// panic, and nothing raw from the input in a note.
func FuzzImportNotation(f *testing.F) {
	strict := `{"level": "strict"}`
	for _, s := range []string{
		"",
		"{}",
		"null",
		`{"version": "1.0"}`,
		`{"version": "1.0", "trustPolicies": null}`,
		`{"version": "1.0", "trustPolicies": [null]}`,
		`{"version": "1.0", "trustPolicies": [{}]}`,
		doc(stmt("a", `["r.example.com/a"]`, strict)),
		doc(stmt("a", `["*"]`, `{"level": "audit", "override": {"revocation": "skip"}}`, `"trustStores": ["ca:acme", "tsa:ts"]`)),
		doc(stmt("a", `["r.example.com/a", "localhost:5000/b"]`, `{"level": "permissive", "verifyTimestamp": "afterCertExpiry"}`),
			stmt("b", `["127.0.0.1:5000/b", "local/x"]`, strict),
			`{"name": "s", "registryScopes": ["*"], "signatureVerification": {"level": "skip"}}`),
		doc(stmt("a", `["r.example.com/a"]`, `{"level": "strict", "override": {"authenticity": "log"}}`, `"trustedIdentities": ["*"]`, `"pluginConfig": {}`)),
		doc(stmt("a", `["r.example.com/a"]`, strict, `"trustStores": ["ca:missing"]`)),
		doc(stmt("a", `["r.example.com/a"]`, strict, `"trustStores": ["tsa:ts"]`)),
		doc(stmt("a\u202e", `["R.EXAMPLE.COM/a"]`, strict, `"trustedIdentities": ["x509.subject: C=US, ST=WA, O=Acme, CN=\u001b"]`)),
		`{"version": "1.0", "trustPolicies": [{"name": "a", "registryScopes": ["r.example.com/a"], "signatureVerification": {"level": "strict", "override": {"expiry": 1}}}]}`,
		`{"Version": "1.0", "TRUSTPOLICIES": [{"NAME": "a", "registryscopes": ["*"], "signatureverification": {"LEVEL": "strict"}, "trustStores": ["ca:acme"], "trustedIdentities": ["*"], "x": 1}]} trailing`,
	} {
		f.Add([]byte(s))
	}
	dir := writeStores(f, standardStores(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Import(data, Options{TrustPolicy: "trustpolicy.json", TrustStore: dir})
		if err != nil {
			if res != nil {
				t.Fatal("result and error both returned")
			}
			if k, _ := errkind.Of(err); k != errkind.Input {
				t.Fatalf("error of kind %v, want bad input: %v", k, err)
			}
			return
		}
		var out outPolicy
		if err := yaml.Unmarshal(res.Policy, &out); err != nil {
			t.Fatalf("output is not YAML: %v\n%s", err, res.Policy)
		}
		if len(out.Policies) == 0 || len(out.Policies) != len(out.X509Signers) || len(out.TrustStores) == 0 {
			t.Fatalf("incomplete policy:\n%s", res.Policy)
		}
		for _, n := range res.Notes {
			if strings.ContainsAny(n, "\n\r\x1b\u202e") {
				t.Fatalf("raw control character in note %q", n)
			}
		}
	})
}
