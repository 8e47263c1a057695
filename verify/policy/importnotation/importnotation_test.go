package importnotation

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/verify/policy"
)

// doc is a trust policy document of the statements (JSON objects).
func doc(stmts ...string) string {
	return `{"version": "1.0", "trustPolicies": [` + strings.Join(stmts, ",\n") + `]}`
}

// stmt is a statement: name, scopes and level, with stores ca:acme and the
// identity of the test leaf unless extra fields say otherwise.
func stmt(name, scopes, sv string, extra ...string) string {
	s := `{"name": "` + name + `", "registryScopes": ` + scopes + `, "signatureVerification": ` + sv
	fields := strings.Join(extra, ", ")
	if !strings.Contains(fields, `"trustStores"`) {
		s += `, "trustStores": ["ca:acme"]`
	}
	if !strings.Contains(fields, `"trustedIdentities"`) {
		s += `, "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Acme, CN=release"]`
	}
	if fields != "" {
		s += ", " + fields
	}
	return s + "}"
}

const idRelease = "x509.subject: C=US, ST=WA, O=Acme, CN=release"

// standardStores is a trust store tree with ca:acme (root and
// intermediate), signingAuthority:corp, tsa:ts and an unreferenced ca:other.
func standardStores(t testing.TB) map[string]storeEntry {
	p := thePKI(t)
	return map[string]storeEntry{
		"x509/ca/acme/root.crt":                 {data: p.root.pem()},
		"x509/ca/acme/intermediate.cer":         {data: p.intermediate.der()},
		"x509/signingAuthority/corp/corp.pem":   {data: p.root.pem()},
		"x509/tsa/ts/tsa.crt":                   {data: p.tsaRoot.pem()},
		"x509/ca/other/other.crt":               {data: p.tsaRoot.pem()},
		"x509/ca/selfsigned/leaf.pem":           {data: p.selfSignedLeaf.pem()},
		"x509/ca/acme-bundle/bundle.pem":        {data: append(p.root.pem(), p.intermediate.pem()...)},
		"x509/signingAuthority/acme/ignored.md": {data: []byte("not referenced")},
	}
}

// signer and rule build the expected output.
func signer(name string, stores []string, f func(*outSigner)) outSigner {
	s := outSigner{Name: name, TrustStores: stores, TrustedIdentities: []string{idRelease}}
	if f != nil {
		f(&s)
	}
	return s
}

func rule(name, mode string, scopes ...string) outRule {
	return outRule{Name: name, Scopes: scopes, Mode: mode, Signatures: outSignatures{Keys: []string{name}, Threshold: 1}}
}

func TestImportMapping(t *testing.T) {
	strict := `{"level": "strict"}`
	cases := []struct {
		name   string
		policy string
		// stores, when set, replaces standardStores.
		stores map[string]storeEntry
		// want is the policy, certificates left out; wantStores the
		// trustStores entries' names and types.
		want       outPolicy
		wantStores []string
		// notes are substrings of the notes, one each, in order.
		notes []string
	}{
		{
			name: "several statements, each level",
			policy: doc(
				stmt("prod", `["registry.example.com/prod/app", "registry.example.com/prod/web"]`, strict),
				stmt("staging", `["registry.example.com/staging/app"]`, `{"level": "permissive"}`),
				stmt("audit", `["registry.example.com/legacy/app"]`, `{"level": "audit"}`),
				stmt("everything", `["*"]`, `{"level": "strict", "verifyTimestamp": "afterCertExpiry"}`, `"trustStores": ["ca:acme", "tsa:ts"]`),
			),
			want: outPolicy{
				Version: 1,
				X509Signers: []outSigner{
					signer("prod", []string{"ca-acme"}, nil),
					signer("staging", []string{"ca-acme"}, func(s *outSigner) { s.AuthenticTimestamp, s.Expiry, s.Revocation = "log", "log", "log" }),
					signer("audit", []string{"ca-acme"}, nil),
					signer("everything", []string{"ca-acme", "tsa-ts"}, func(s *outSigner) { s.VerifyTimestamp = "afterCertExpiry" }),
				},
				Policies: []outRule{
					rule("prod", "", "registry.example.com/prod/app", "registry.example.com/prod/web"),
					rule("staging", "", "registry.example.com/staging/app"),
					rule("audit", "audit", "registry.example.com/legacy/app"),
					rule("everything", "", "**"),
				},
			},
			wantStores: []string{"ca-acme ca", "tsa-ts tsa"},
			notes:      []string{`statement "audit": the integrity check of level "audit" is not mapped: notation's audit level still fails an image with no signature, or none intact, where imgsign's mode: audit reports every failure and exits 0`},
		},
		{
			name: "overrides field by field",
			policy: doc(
				stmt("strict-rev-skip", `["r.example.com/a"]`, `{"level": "strict", "override": {"revocation": "skip", "expiry": "log"}}`),
				stmt("permissive-ts", `["r.example.com/b"]`, `{"level": "permissive", "override": {"authenticTimestamp": "enforce"}}`),
				stmt("audit-rev-skip", `["r.example.com/c"]`, `{"level": "audit", "override": {"revocation": "skip"}}`),
				stmt("audit-enforced", `["r.example.com/d"]`, `{"level": "audit", "override": {"authenticity": "enforce"}}`),
				stmt("audit-explicit", `["r.example.com/e"]`, `{"level": "audit", "override": {"authenticity": "log", "expiry": "log"}}`),
			),
			want: outPolicy{
				Version: 1,
				X509Signers: []outSigner{
					signer("strict-rev-skip", []string{"ca-acme"}, func(s *outSigner) { s.Expiry, s.Revocation = "log", "skip" }),
					signer("permissive-ts", []string{"ca-acme"}, func(s *outSigner) { s.Expiry, s.Revocation = "log", "log" }),
					signer("audit-rev-skip", []string{"ca-acme"}, func(s *outSigner) { s.Revocation = "skip" }),
					// audit with authenticity enforced is permissive.
					signer("audit-enforced", []string{"ca-acme"}, func(s *outSigner) { s.AuthenticTimestamp, s.Expiry, s.Revocation = "log", "log", "log" }),
					signer("audit-explicit", []string{"ca-acme"}, func(s *outSigner) { s.Expiry = "log" }),
				},
				Policies: []outRule{
					rule("strict-rev-skip", "", "r.example.com/a"),
					rule("permissive-ts", "", "r.example.com/b"),
					rule("audit-rev-skip", "audit", "r.example.com/c"),
					rule("audit-enforced", "", "r.example.com/d"),
					rule("audit-explicit", "audit", "r.example.com/e"),
				},
			},
			wantStores: []string{"ca-acme ca"},
			notes: []string{
				`statement "audit-rev-skip": the integrity check of level "audit" is not mapped`,
				`statement "audit-explicit": the integrity check of level "audit" is not mapped`,
			},
		},
		{
			name: "authenticity only logged is enforced",
			policy: doc(
				stmt("lax", `["r.example.com/a"]`, `{"level": "strict", "override": {"authenticity": "log"}}`),
				stmt("lax-permissive", `["r.example.com/b"]`, `{"level": "permissive", "override": {"authenticity": "log"}}`),
			),
			want: outPolicy{
				Version: 1,
				X509Signers: []outSigner{
					signer("lax", []string{"ca-acme"}, nil),
					signer("lax-permissive", []string{"ca-acme"}, func(s *outSigner) { s.AuthenticTimestamp, s.Expiry, s.Revocation = "log", "log", "log" }),
				},
				Policies: []outRule{rule("lax", "", "r.example.com/a"), rule("lax-permissive", "", "r.example.com/b")},
			},
			wantStores: []string{"ca-acme ca"},
			notes: []string{
				`statement "lax": override "authenticity": "log" is not mapped: imgsign counts a signature only when`,
				`statement "lax-permissive": override "authenticity": "log" is not mapped`,
			},
		},
		{
			name: "skip level",
			policy: doc(
				`{"name": "unsigned", "registryScopes": ["r.example.com/public"], "signatureVerification": {"level": "skip"}}`,
				stmt("rest", `["*"]`, strict),
			),
			want: outPolicy{
				Version:     1,
				X509Signers: []outSigner{signer("rest", []string{"ca-acme"}, nil)},
				Policies:    []outRule{rule("rest", "", "**")},
			},
			wantStores: []string{"ca-acme ca"},
			notes:      []string{`statement "unsigned": verification level "skip" is not mapped: imgsign never accepts an image without checking its signatures, so its registry scopes ["r.example.com/public"] get no rule`},
		},
		{
			name: "shared and several stores, signingAuthority, bundles, self-signed and DER",
			policy: doc(
				stmt("a", `["r.example.com/a"]`, strict, `"trustStores": ["ca:acme", "signingAuthority:corp", "tsa:ts"]`),
				stmt("b", `["r.example.com/b"]`, strict, `"trustStores": ["tsa:ts", "ca:acme-bundle", "ca:selfsigned"]`),
			),
			want: outPolicy{
				Version: 1,
				X509Signers: []outSigner{
					signer("a", []string{"ca-acme", "signingAuthority-corp", "tsa-ts"}, nil),
					signer("b", []string{"tsa-ts", "ca-acme-bundle", "ca-selfsigned"}, nil),
				},
				Policies: []outRule{rule("a", "", "r.example.com/a"), rule("b", "", "r.example.com/b")},
			},
			wantStores: []string{"ca-acme ca", "signingAuthority-corp signingAuthority", "tsa-ts tsa", "ca-acme-bundle ca", "ca-selfsigned ca"},
		},
		{
			name: "identities copied as written, wildcard and plugin ones",
			policy: doc(
				stmt("any", `["r.example.com/a"]`, strict, `"trustedIdentities": ["*"]`),
				stmt("several", `["r.example.com/b"]`, strict, `"trustedIdentities": ["x509.subject: C=US, ST=WA, O=Acme, CN=release", "x509.subject:CN=other,O=Corp,ST=WA,C=DE", "com.example.plugin:team=release"]`),
			),
			want: outPolicy{
				Version: 1,
				X509Signers: []outSigner{
					signer("any", []string{"ca-acme"}, func(s *outSigner) { s.TrustedIdentities = []string{"*"} }),
					signer("several", []string{"ca-acme"}, func(s *outSigner) {
						s.TrustedIdentities = []string{idRelease, "x509.subject:CN=other,O=Corp,ST=WA,C=DE", "com.example.plugin:team=release"}
					}),
				},
				Policies: []outRule{rule("any", "", "r.example.com/a"), rule("several", "", "r.example.com/b")},
			},
			wantStores: []string{"ca-acme ca"},
			notes:      []string{`statement "several": trusted identity "com.example.plugin:team=release" is not mapped to a check: only a verification plugin checks identities of kind "com.example.plugin"`},
		},
		{
			name: "fields notation ignores, plugin config",
			policy: `{"version": "1.0", "comment": "ours", "trustPolicies": [` +
				stmt("a", `["r.example.com/a"]`, `{"level": "strict", "verificationPlugin": "com.example.plugin"}`, `"pluginConfig": {"k": "v"}`, `"Description": "x"`) +
				`]}`,
			want: outPolicy{
				Version:     1,
				X509Signers: []outSigner{signer("a", []string{"ca-acme"}, nil)},
				Policies:    []outRule{rule("a", "", "r.example.com/a")},
			},
			wantStores: []string{"ca-acme ca"},
			notes: []string{
				`field "comment" is not mapped: trust policy version 1.0 has no such field, so notation ignores it too`,
				`statement "a": field "Description" is not mapped: trust policy version 1.0 has no such field`,
				`statement "a": field "pluginConfig" is not mapped: imgsign runs no verification plugins`,
				`statement "a": field "signatureVerification.verificationPlugin" is not mapped: imgsign runs no verification plugins`,
			},
		},
		{
			name:   "field names in another case are notation's",
			policy: `{"Version": "1.0", "TrustPolicies": [{"Name": "a", "RegistryScopes": ["r.example.com/a"], "SignatureVerification": {"Level": "strict"}, "TrustStores": ["ca:acme"], "TrustedIdentities": ["*"]}]}`,
			want: outPolicy{
				Version:     1,
				X509Signers: []outSigner{signer("a", []string{"ca-acme"}, func(s *outSigner) { s.TrustedIdentities = []string{"*"} })},
				Policies:    []outRule{rule("a", "", "r.example.com/a")},
			},
			wantStores: []string{"ca-acme ca"},
		},
		{
			name: "registry scopes imgsign reads otherwise",
			policy: doc(
				stmt("hosts", `["Registry.Example.com/app", "localhost:5000/app", "docker.io/nginx", "localhost:5000/app2", "127.0.0.1:5000/app2"]`, strict),
				stmt("same", `["127.0.0.1:5000/app", "docker.io/library/nginx", "r.example.com/x"]`, strict),
				stmt("layout", `["local/mylayout"]`, strict),
				stmt("rest", `["*"]`, strict),
			),
			want: outPolicy{
				Version: 1,
				X509Signers: []outSigner{
					signer("hosts", []string{"ca-acme"}, nil),
					signer("same", []string{"ca-acme"}, nil),
					signer("rest", []string{"ca-acme"}, nil),
				},
				Policies: []outRule{
					rule("hosts", "", "registry.example.com/app", "localhost:5000/app", "docker.io/nginx", "localhost:5000/app2"),
					rule("same", "", "r.example.com/x"),
					rule("rest", "", "**"),
				},
			},
			wantStores: []string{"ca-acme ca"},
			notes: []string{
				`statement "same": registry scope "127.0.0.1:5000/app" is not mapped: imgsign reads it as "localhost:5000/app", the repository scope "localhost:5000/app" of statement "hosts" names`,
				`statement "same": registry scope "docker.io/library/nginx" is not mapped: imgsign reads it as "index.docker.io/library/nginx", the repository scope "docker.io/nginx" of statement "hosts" names`,
				`statement "layout": registry scope "local/mylayout" is not mapped: a scope must start with a registry host`,
				`statement "layout": the statement is not mapped: none of its registry scopes is`,
			},
		},
		{
			name:   "only the stores named are read",
			policy: doc(stmt("a", `["r.example.com/a"]`, strict)),
			stores: map[string]storeEntry{
				"x509/ca/acme/root.crt":    {data: thePKI(t).root.pem()},
				"x509/ca/broken/x.crt":     {data: []byte("garbage")},
				"x509/tsa/leafy/leaf.crt":  {data: thePKI(t).leaf.pem()},
				"x509/ca/linked/root.crt":  {link: "/etc/passwd"},
				"x509/signingAuthority/gm": {dir: true},
			},
			want: outPolicy{
				Version:     1,
				X509Signers: []outSigner{signer("a", []string{"ca-acme"}, nil)},
				Policies:    []outRule{rule("a", "", "r.example.com/a")},
			},
			wantStores: []string{"ca-acme ca"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stores := tc.stores
			if stores == nil {
				stores = standardStores(t)
			}
			dir := writeStores(t, stores)
			res, err := Import([]byte(tc.policy), Options{TrustPolicy: "trustpolicy.json", TrustStore: dir})
			if err != nil {
				t.Fatal(err)
			}
			var got outPolicy
			if err := yaml.Unmarshal(res.Policy, &got); err != nil {
				t.Fatalf("output is not YAML: %v\n%s", err, res.Policy)
			}
			var stores2 []string
			for _, s := range got.TrustStores {
				stores2 = append(stores2, s.Name+" "+s.Type)
				if len(s.Certificates) == 0 {
					t.Errorf("trust store %s has no certificates", s.Name)
				}
			}
			if !reflect.DeepEqual(stores2, tc.wantStores) {
				t.Errorf("trust stores %q, want %q", stores2, tc.wantStores)
			}
			got.TrustStores = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("imported\n%s\nwant\n%+v", res.Policy, tc.want)
			}
			checkLoads(t, res.Policy, "", tc.want)
			if len(res.Notes) != len(tc.notes) {
				t.Fatalf("notes:\n%s\nwant %d", strings.Join(res.Notes, "\n"), len(tc.notes))
			}
			for i, n := range tc.notes {
				if !strings.Contains(res.Notes[i], n) {
					t.Errorf("note %d:\n%s\nwant it to contain\n%s", i, res.Notes[i], n)
				}
				// Every note is in the policy's header too.
				if !bytes.Contains(res.Policy, []byte("#   "+res.Notes[i]+"\n")) {
					t.Errorf("note %d is not in the header:\n%s", i, res.Policy)
				}
			}
			if !bytes.HasPrefix(res.Policy, []byte("# Imported from a notation setup by `imgsign policy import-notation`:\n#   trust policy: trustpolicy.json\n#   trust store:  "+dir+"\n")) {
				t.Errorf("header:\n%s", res.Policy)
			}
		})
	}
}

func TestImportErrors(t *testing.T) {
	p := thePKI(t)
	strict := `{"level": "strict"}`
	one := doc(stmt("a", `["r.example.com/a"]`, strict))
	cases := []struct {
		name   string
		policy string
		stores map[string]storeEntry
		want   string // substring of the one-line error
	}{
		{"not JSON", `{"version": "1.0",`, nil, "trustpolicy.json: malformed trust policy (unexpected EOF)"},
		{"wrong type", `{"version": 1}`, nil, `trustpolicy.json: malformed trust policy (version: a number where notation expects another type)`},
		{"empty", ``, nil, "malformed trust policy (EOF)"},
		{"version", `{"version": "2.0", "trustPolicies": []}`, nil, `notation refuses this trust policy: trust policy document uses unsupported version "2.0"`},
		{"blob trust policy", `{"version": "1.0", "trustPolicies": [{"name": "b", "signatureVerification": {"level": "strict"}, "trustStores": ["ca:acme"], "trustedIdentities": ["*"], "globalPolicy": true}]}`, nil,
			`trust policy statement "b" has zero registry scopes, it must specify registry scopes with at least one value (this looks like notation's blob trust policy, trustpolicy.blob.json: import its OCI trust policy, trustpolicy.json or trustpolicy.oci.json)`},
		{"no statements", `{"version": "1.0", "trustPolicies": []}`, nil, "zero trust policy statements"},
		{"scope twice", doc(stmt("a", `["r.example.com/a"]`, strict), stmt("b", `["r.example.com/a"]`, strict)), nil, `registry scope "r.example.com/a" is present in multiple trust policy statements`},
		{"wildcard scope", doc(stmt("a", `["r.example.com/*"]`, strict)), nil, "with wild card(s) is not valid"},
		{"bad level", doc(stmt("a", `["r.example.com/a"]`, `{"level": "lenient"}`)), nil, `invalid signature verification level "lenient"`},
		{"integrity override", doc(stmt("a", `["r.example.com/a"]`, `{"level": "strict", "override": {"integrity": "log"}}`)), nil, `"integrity" verification can not be overridden`},
		{"expiry skipped", doc(stmt("a", `["r.example.com/a"]`, `{"level": "strict", "override": {"expiry": "skip"}}`)), nil, `"expiry" verification can not be skipped`},
		{"bad verifyTimestamp", doc(stmt("a", `["r.example.com/a"]`, `{"level": "strict", "verifyTimestamp": "never"}`)), nil, "verifyTimestamp must be"},
		{"bad store type", doc(stmt("a", `["r.example.com/a"]`, strict, `"trustStores": ["x509:acme"]`)), nil, `unsupported trust store type "x509"`},
		{"bad identity", doc(stmt("a", `["r.example.com/a"]`, strict, `"trustedIdentities": ["x509.subject: ,,=="]`)), nil, "invalid identity value"},
		{"no identities", doc(stmt("a", `["r.example.com/a"]`, strict, `"trustedIdentities": []`)), nil, "missing trust stores or trusted identities"},
		{"only skip", doc(`{"name": "s", "registryScopes": ["*"], "signatureVerification": {"level": "skip"}}`), nil, "no statement of the trust policy can be imported"},
		{"only tsa stores", doc(stmt("a", `["r.example.com/a"]`, strict, `"trustStores": ["tsa:ts"]`)), nil, `statement "a" names no trust store of type ca or signingAuthority (only ["tsa:ts"])`},
		{"missing store", one, map[string]storeEntry{"x509/ca/other/root.crt": {data: p.root.pem()}}, `trust store "acme" (type ca) that statement "a" names does not exist: add its certificates with ` + "`notation cert add --type ca --store acme FILE`"},
		{"store is a symlink", one, map[string]storeEntry{"x509/ca/real/root.crt": {data: p.root.pem()}, "x509/ca/acme": {link: "real"}}, `trust store "acme" (type ca) is not a directory (notation follows no symlink there)`},
		{"store is a file", one, map[string]storeEntry{"x509/ca/acme": {data: p.root.pem()}}, `is not a directory`},
		{"certificate is a symlink", one, map[string]storeEntry{"x509/ca/real.crt": {data: p.root.pem()}, "x509/ca/acme/root.crt": {link: "../real.crt"}}, "root.crt: not a regular file (notation accepts no directories or symlinks in a trust store)"},
		{"directory in the store", one, map[string]storeEntry{"x509/ca/acme/root.crt": {data: p.root.pem()}, "x509/ca/acme/sub": {dir: true}}, "sub: not a regular file"},
		{"not a CA", one, map[string]storeEntry{"x509/ca/acme/root.crt": {data: p.root.pem()}, "x509/ca/acme/leaf.crt": {data: p.leaf.pem()}}, `leaf.crt: certificate with subject "CN=release,O=Acme,ST=WA,C=US" is not a CA certificate or self-signed signing certificate: a ca trust store holds only CA or self-signed certificates`},
		{"empty store", one, map[string]storeEntry{"x509/ca/acme": {dir: true}}, `trust store "acme" (type ca) that statement "a" names holds no certificates`},
		{"empty file", one, map[string]storeEntry{"x509/ca/acme/root.crt": {data: nil}}, "root.crt: input certs cannot be empty"},
		{"not a certificate", one, map[string]storeEntry{"x509/ca/acme/README": {data: []byte("hello")}}, "README: not a PEM or DER certificate file"},
		{"a key in PEM", one, map[string]storeEntry{"x509/ca/acme/key.pem": {data: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")}}, "key.pem: not a PEM or DER certificate file"},
		{"tsa not a root", doc(stmt("a", `["r.example.com/a"]`, strict, `"trustStores": ["ca:acme", "tsa:ts"]`)), map[string]storeEntry{"x509/ca/acme/root.crt": {data: p.root.pem()}, "x509/tsa/ts/i.crt": {data: p.intermediate.pem()}}, `i.crt: certificate with subject "CN=Acme Intermediate,O=Acme,ST=WA,C=US" is not a root CA certificate`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stores := tc.stores
			if stores == nil {
				stores = standardStores(t)
			}
			dir := writeStores(t, stores)
			res, err := Import([]byte(tc.policy), Options{TrustPolicy: "trustpolicy.json", TrustStore: dir})
			if err == nil {
				t.Fatalf("imported:\n%s", res.Policy)
			}
			if k, _ := errkind.Of(err); k != errkind.Input {
				t.Errorf("error kind %v, want bad input: %v", k, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n%v\nwant it to contain\n%s", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

// Untrusted strings (statement names, scopes, identities, file names) reach
// the notes and errors only escaped.
func TestImportEscapes(t *testing.T) {
	dir := writeStores(t, standardStores(t))
	bad := `evil\u001b[31m\u202e`
	res, err := Import([]byte(doc(
		stmt(bad, `["local/x"]`, `{"level": "strict"}`),
		stmt("ok", `["r.example.com/a"]`, `{"level": "strict"}`, `"pluginConfig`+bad+`": 1`),
	)), Options{TrustPolicy: "t\x1b.json", TrustStore: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range append(res.Notes, string(res.Policy)) {
		if strings.ContainsAny(n, "\x1b\u202e") {
			t.Errorf("raw control character in %q", n)
		}
	}
	if len(res.Notes) != 3 {
		t.Errorf("notes: %q", res.Notes)
	}
}

// Certificates go inline to stdout and as files with --out, the same
// certificates either way, each trust store file once.
func TestImportCertificates(t *testing.T) {
	p := thePKI(t)
	dir := writeStores(t, map[string]storeEntry{
		"x509/ca/acme/root.crt":         {data: p.root.pem()},
		"x509/ca/acme/inter.cer":        {data: p.intermediate.der()},
		"x509/ca/acme/-odd name":        {data: p.selfSignedLeaf.pem()},
		"x509/tsa/ts/tsa.pem":           {data: p.tsaRoot.pem()},
		"x509/signingAuthority/s/b.pem": {data: append(p.root.pem(), p.intermediate.pem()...)},
	})
	tp := doc(stmt("a", `["r.example.com/a"]`, `{"level": "strict"}`, `"trustStores": ["ca:acme", "tsa:ts", "signingAuthority:s"]`))

	inline, err := Import([]byte(tp), Options{TrustPolicy: "tp.json", TrustStore: dir})
	if err != nil {
		t.Fatal(err)
	}
	if inline.CertsDir != "" || len(inline.Certs) != 0 {
		t.Errorf("stdout import has certificate files %q in %q", inline.Certs, inline.CertsDir)
	}
	var got outPolicy
	if err := yaml.Unmarshal(inline.Policy, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string][][]byte{
		"ca-acme":            {p.selfSignedLeaf.der(), p.intermediate.der(), p.root.der()}, // file name order
		"tsa-ts":             {p.tsaRoot.der()},
		"signingAuthority-s": {p.root.der(), p.intermediate.der()},
	}
	for _, s := range got.TrustStores {
		var ders [][]byte
		for _, c := range s.Certificates {
			b, rest := pem.Decode([]byte(c))
			if b == nil || len(bytes.TrimSpace(rest)) != 0 {
				t.Fatalf("%s: inline certificate is not one PEM block: %q", s.Name, c)
			}
			ders = append(ders, b.Bytes)
		}
		if !reflect.DeepEqual(ders, want[s.Name]) {
			t.Errorf("%s: inline certificates differ", s.Name)
		}
	}
	if !bytes.Contains(inline.Policy, []byte("certificates:\n      - |\n        -----BEGIN CERTIFICATE-----\n")) {
		t.Errorf("inline PEM is not a literal block:\n%s", inline.Policy)
	}

	outDir := t.TempDir()
	out := filepath.Join(outDir, "trust.yaml")
	files, err := Import([]byte(tp), Options{TrustPolicy: "tp.json", TrustStore: dir, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if files.CertsDir != "trust.certs" {
		t.Errorf("CertsDir %q", files.CertsDir)
	}
	if err := files.WriteFiles(out, false); err != nil {
		t.Fatal(err)
	}
	got = outPolicy{}
	if err := yaml.Unmarshal(files.Policy, &got); err != nil {
		t.Fatal(err)
	}
	wantPaths := map[string][]string{
		"ca-acme":            {"trust.certs/ca/acme/cert--odd_name", "trust.certs/ca/acme/inter.cer", "trust.certs/ca/acme/root.crt"},
		"tsa-ts":             {"trust.certs/tsa/ts/tsa.pem"},
		"signingAuthority-s": {"trust.certs/signingAuthority/s/b.pem"},
	}
	for _, s := range got.TrustStores {
		if !reflect.DeepEqual(s.Certificates, wantPaths[s.Name]) {
			t.Errorf("%s: certificates %q, want %q", s.Name, s.Certificates, wantPaths[s.Name])
		}
		var ders [][]byte
		for _, c := range s.Certificates {
			data, err := os.ReadFile(filepath.Join(outDir, c))
			if err != nil {
				t.Fatal(err)
			}
			for b, rest := pem.Decode(data); b != nil; b, rest = pem.Decode(rest) {
				ders = append(ders, b.Bytes)
			}
		}
		if !reflect.DeepEqual(ders, want[s.Name]) {
			t.Errorf("%s: copied certificates differ", s.Name)
		}
	}
	written, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(written, files.Policy) {
		t.Fatalf("written policy differs: %v", err)
	}
	// imgsign loads the written policy with the copied certificates, the
	// same ones as inline.
	loaded, err := policy.Load(out)
	if err != nil {
		t.Fatalf("written policy does not load: %v", err)
	}
	for _, ts := range loaded.TrustStores {
		var ders [][]byte
		for _, c := range ts.Certificates {
			ders = append(ders, c.Raw)
		}
		if !reflect.DeepEqual(ders, want[ts.Name]) {
			t.Errorf("%s: loaded certificates differ", ts.Name)
		}
	}
	left, _ := filepath.Glob(filepath.Join(outDir, ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %q", left)
	}
}

// --out refuses to replace a policy or certificates unless forced, and a
// forced import replaces the certificates directory whole.
func TestWriteFiles(t *testing.T) {
	p := thePKI(t)
	stores := writeStores(t, map[string]storeEntry{"x509/ca/acme/root.crt": {data: p.root.pem()}, "x509/ca/b/root.crt": {data: p.root.pem()}})
	outDir := t.TempDir()
	out := filepath.Join(outDir, "trust.yaml")
	imp := func(store string) *Result {
		res, err := Import([]byte(doc(stmt("a", `["r.example.com/a"]`, `{"level": "strict"}`, `"trustStores": ["ca:`+store+`"]`))), Options{TrustPolicy: "tp.json", TrustStore: stores, Out: out})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if err := imp("acme").WriteFiles(out, false); err != nil {
		t.Fatal(err)
	}
	err := imp("b").WriteFiles(out, false)
	if k, _ := errkind.Of(err); k != errkind.Input || !strings.Contains(err.Error(), "trust.yaml already exists: choose another --out or pass --force") {
		t.Fatalf("second write: %v", err)
	}
	// The certificates directory alone is in the way too.
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	err = imp("b").WriteFiles(out, false)
	if err == nil || !strings.Contains(err.Error(), "trust.certs already exists") {
		t.Fatalf("write over the certificates: %v", err)
	}
	if err := imp("b").WriteFiles(out, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(outDir, "trust.certs", "ca", "acme")); err == nil {
		t.Error("--force kept the old certificates")
	}
	if _, err := os.Stat(filepath.Join(outDir, "trust.certs", "ca", "b", "root.crt")); err != nil {
		t.Error(err)
	}
	if err := imp("b").WriteFiles(outDir, true); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("write to a directory: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(outDir, ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %q", left)
	}
}

func TestCertsDirFor(t *testing.T) {
	for in, want := range map[string]string{
		"trust.yaml":        "trust.certs",
		"/a/b/trust.yml":    "trust.certs",
		"policy":            "policy.certs",
		".hidden":           ".hidden.certs",
		"a.b.yaml":          "a.b.certs",
		"dir.d/notation.yy": "notation.certs",
	} {
		if got := CertsDirFor(in); got != want {
			t.Errorf("CertsDirFor(%q) = %q, want %q", in, got, want)
		}
	}
}

// checkLoads parses the imported policy as imgsign does and checks that the
// signers and rules it holds are the ones meant: each field's default
// (enforce, always) where the import left it out.
func checkLoads(t *testing.T, data []byte, dir string, want outPolicy) *policy.Policy {
	t.Helper()
	p, err := policy.Parse(data, dir)
	if err != nil {
		t.Fatalf("imported policy does not load: %v\n%s", err, data)
	}
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	if len(p.X509Signers) != len(want.X509Signers) || len(p.Rules) != len(want.Policies) {
		t.Fatalf("loaded %d signers and %d rules, want %d and %d", len(p.X509Signers), len(p.Rules), len(want.X509Signers), len(want.Policies))
	}
	for i, w := range want.X509Signers {
		s := p.X509Signers[i]
		got := []string{s.Name, strings.Join(s.TrustStores, ","), strings.Join(s.TrustedIdentities, ";"), s.VerifyTimestamp, s.AuthenticTimestamp, s.Expiry, s.Revocation}
		exp := []string{w.Name, strings.Join(w.TrustStores, ","), strings.Join(w.TrustedIdentities, ";"), or(w.VerifyTimestamp, "always"),
			or(w.AuthenticTimestamp, policy.ActionEnforce), or(w.Expiry, policy.ActionEnforce), or(w.Revocation, policy.ActionEnforce)}
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("loaded signer %q, want %q", got, exp)
		}
		for _, n := range s.TrustStores {
			if ts := p.TrustStore(n); ts == nil || len(ts.Certificates) == 0 {
				t.Errorf("signer %s: trust store %s loaded without certificates", s.Name, n)
			}
		}
	}
	for i, w := range want.Policies {
		r := p.Rules[i]
		var scopes []string
		for _, sc := range r.Scopes {
			scopes = append(scopes, sc.Raw)
		}
		mode := or(w.Mode, string(policy.ModeEnforce))
		if r.Name != w.Name || !reflect.DeepEqual(scopes, w.Scopes) || string(r.Mode) != mode ||
			r.Signatures == nil || !reflect.DeepEqual(r.Signatures.Keys, w.Signatures.Keys) || r.Signatures.Threshold != 1 {
			t.Errorf("loaded rule %+v (signatures %+v), want %+v", r, r.Signatures, w)
		}
	}
	return p
}
