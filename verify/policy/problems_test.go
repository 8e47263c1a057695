package policy

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProblems covers each kind of policy problem: the exact list of
// problems (line, field path, message text) a policy yields.
func TestProblems(t *testing.T) {
	_, good := newPub(t, "p256")
	_, weak := newPub(t, "p224")
	_, dupID := newPub(t, "ed25519")
	files := map[string][]byte{
		"keys/good.pub":    good,
		"keys/weak.pub":    weak,
		"keys/garbage.pub": []byte("not a key\n"),
		"keys/private.pem": privatePEM(t),
		"keys/dup-a.pub":   dupID,
		"keys/dup-b.pub":   dupID,
		"keys/dir.pub/x":   []byte("x"),
	}
	dir := writeTree(t, files)

	type want struct {
		line int
		path string
		msg  string
	}
	tests := []struct {
		name string
		yaml string
		want []want
	}{
		{"empty file", ``, []want{{0, "", "the policy is empty"}}},
		{"comment only", "# nothing\n", []want{{0, "", "the policy is empty"}}},
		{"not a mapping", "- a\n- b\n", []want{{1, "", "expected a mapping, got a list"}}},
		{"yaml syntax: unclosed list", "version: 1\nkeys: [a\n", []want{{2, "", "invalid YAML: did not find expected ',' or ']'"}}},
		{"yaml syntax: bad indentation", "version: 1\nkeys:\n  - a: b\n  c\n", []want{{4, "", "invalid YAML: could not find expected ':'"}}},
		{"yaml syntax: stray item", "a: b\n- c\n", []want{{2, "", "invalid YAML: did not find expected key"}}},
		{"yaml syntax: first line", "]\n", []want{{1, "", "invalid YAML: did not find expected node content"}}},
		{"yaml syntax: tab", "version: 1\nkeys:\n\t- a\n", []want{{3, "", "invalid YAML: found character that cannot start any token"}}},
		{"yaml: unknown anchor", "version: 1\nkeys: *x\n", []want{{0, "", "invalid YAML: unknown anchor 'x' referenced"}}},
		{"two documents", "version: 1\n---\nversion: 1\n", []want{{2, "", "one YAML document"}}},
		{"missing top-level fields", "version: 1\n", []want{
			{1, "", `missing required field "keys"`},
			{1, "", `missing required field "policies"`},
		}},
		{"unsupported version", "version: 2\nkeys: 3\nwhatever: true\n", []want{{1, "version", "unsupported policy version 2: this imgsign reads version 1"}}},
		{"version wrong type", "version: \"1\"\n" + keyA[len("version: 1\n"):] + ruleA, []want{{1, "version", `expected an integer, got a string`}}},
		{"unknown top-level field", "version: 1\npolicy: []\n" + keyA[len("version: 1\n"):] + ruleA, []want{{2, "", `unknown field "policy"`}}},
		{"unknown field with suggestion", `version: 1
keys:
  - name: a
    publickey: hashivault://a
` + ruleA, []want{{4, "keys[0]", `unknown field "publickey" (did you mean "publicKey"?)`}}},
		{"unknown field without suggestion", keyA[:len(keyA)-1] + "\n    comment: x\n" + ruleA, []want{{5, "keys[0]", `unknown field "comment"`}}},
		{"duplicate mapping key", `version: 1
keys:
  - name: a
    publicKey: hashivault://a
    name: b
` + ruleA, []want{{5, "keys[0]", `duplicate field "name" (first at line 3)`}}},
		{"merge key", `version: 1
base: &base {publicKey: hashivault://a}
keys:
  - name: a
    <<: *base
` + ruleA, []want{
			{2, "", `unknown field "base"`},
			{4, "keys[0]", `missing required field "publicKey"`},
			{5, "keys[0]", "YAML merge keys are not supported"},
		}},
		{"missing key fields", "version: 1\nkeys:\n  - validFrom: 2026-01-01T00:00:00Z\n" + ruleA, []want{
			{3, "keys[0]", `missing required field "name"`},
			{3, "keys[0]", `missing required field "publicKey"`},
			{8, "policies[0].signatures.keys[0]", `undefined key "a"`},
		}},
		{"empty required field", "version: 1\nkeys:\n  - name: a\n    publicKey:\n" + ruleA, []want{{4, "keys[0].publicKey", "required field is empty"}}},
		{"blank name", "version: 1\nkeys:\n  - name: ' '\n    publicKey: hashivault://a\n" + ruleA, []want{
			{3, "keys[0].name", "must not be empty"},
			{9, "policies[0].signatures.keys[0]", `undefined key "a"`},
		}},
		{"keys not a list", "version: 1\nkeys: hashivault://a\n" + ruleA, []want{
			{2, "keys", `expected a list, got a string: write ["hashivault://a"]`},
			{7, "policies[0].signatures.keys[0]", `undefined key "a"`},
		}},
		{"no keys", "version: 1\nkeys: []\npolicies: []\n", []want{
			{2, "keys", "trusts no keys"},
			{3, "policies", "no rules"},
		}},
		{"name is an integer", "version: 1\nkeys:\n  - name: 2026\n    publicKey: hashivault://a\n" + ruleA, []want{
			{3, "keys[0].name", `expected a string, got an integer: quote it if you mean the string "2026"`},
			{9, "policies[0].signatures.keys[0]", `undefined key "a"`},
		}},
		{"bad time", keyA[:len(keyA)-1] + "\n    validFrom: 2026-01-01\n    revokedAt: yesterday\n" + ruleA, []want{
			{5, "keys[0].validFrom", `expected an RFC 3339 time such as 2026-01-01T00:00:00Z, got "2026-01-01"`},
			{6, "keys[0].revokedAt", `got "yesterday"`},
		}},
		{"time wrong type", keyA[:len(keyA)-1] + "\n    validUntil: [2026]\n" + ruleA, []want{
			{5, "keys[0].validUntil", "got a list"},
		}},
		{"validUntil equals validFrom", keyA[:len(keyA)-1] + "\n    validFrom: 2026-01-01T00:00:00Z\n    validUntil: 2026-01-01T00:00:00Z\n" + ruleA, []want{
			{6, "keys[0].validUntil", "2026-01-01T00:00:00Z is not after validFrom 2026-01-01T00:00:00Z"},
		}},
		{"duplicate key name", keyA + "  - name: a\n    publicKey: hashivault://other\n" + ruleA, []want{
			{5, "keys[1].name", `duplicate key name "a" (first at line 3)`},
		}},
		{"same KMS key twice", keyA + "  - name: b\n    publicKey: hashivault://a\n" + ruleA, []want{
			{5, "keys[1].publicKey", `key "b" is the same KMS key as key "a" (line 3)`},
		}},
		{"unreadable key file", "version: 1\nkeys:\n  - name: a\n    publicKey: keys/missing.pub\n" + ruleA, []want{
			{4, "keys[0].publicKey", `key "a": cannot read public key file ` + filepath.Join(dir, "keys", "missing.pub") + ": no such file or directory"},
		}},
		{"key file is a directory", "version: 1\nkeys:\n  - name: a\n    publicKey: keys/dir.pub\n" + ruleA, []want{
			{4, "keys[0].publicKey", "not a regular file"},
		}},
		{"not PEM", "version: 1\nkeys:\n  - name: a\n    publicKey: keys/garbage.pub\n" + ruleA, []want{
			{4, "keys[0].publicKey", `key "a": public key file ` + filepath.Join(dir, "keys", "garbage.pub") + ": no PEM block found"},
		}},
		{"weak key", "version: 1\nkeys:\n  - name: a\n    publicKey: keys/weak.pub\n" + ruleA, []want{
			{4, "keys[0].publicKey", "unsupported elliptic curve P-224"},
		}},
		{"private key", "version: 1\nkeys:\n  - name: a\n    publicKey: keys/private.pem\n" + ruleA, []want{
			{4, "keys[0].publicKey", "holds a PRIVATE key"},
		}},
		{"bad inline PEM", "version: 1\nkeys:\n  - name: a\n    publicKey: \"-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n\"\n" + ruleA, []want{
			{4, "keys[0].publicKey", `key "a": inline public key: parsing public key`},
		}},
		{"same key under two names", `version: 1
keys:
  - name: a
    publicKey: keys/dup-a.pub
  - name: b
    publicKey: keys/dup-b.pub
  - name: c
    publicKey: keys/good.pub
` + ruleA, []want{
			{5, "keys[1].publicKey", `key "b" is the same key (id ` + keyID(t, mustParse(t, dupID)) + `) as key "a" (line 3): give one key one name`},
		}},
		{"pkcs11 ref", "version: 1\nkeys:\n  - name: a\n    publicKey: 'pkcs11:token=t;object=o'\n" + ruleA, []want{
			{4, "keys[0].publicKey", "export it with `imgsign keys public"},
		}},
		{"unknown scheme", "version: 1\nkeys:\n  - name: a\n    publicKey: vault://a\n" + ruleA, []want{
			{4, "keys[0].publicKey", `unsupported key reference scheme "vault"`},
		}},
		{"empty KMS ref", "version: 1\nkeys:\n  - name: a\n    publicKey: awskms://\n" + ruleA, []want{
			{4, "keys[0].publicKey", "names no key"},
		}},
		{"TSA problems", keyA + `timestampAuthorities:
  - name: tsa
    certChain: tsa.pem
  - name: tsa
    certChain: https://tsa.example.com/chain
  - certChain: x.pem
` + ruleA, []want{
			{7, "timestampAuthorities[0].certChain", "reading certificate chain"},
			{8, "timestampAuthorities[1].name", `duplicate timestamp authority name "tsa" (first at line 6)`},
			{9, "timestampAuthorities[1].certChain", "got a URL"},
			{10, "timestampAuthorities[2]", `missing required field "name"`},
			{10, "timestampAuthorities[2].certChain", "reading certificate chain"},
		}},
		{"missing rule fields", keyA + "policies:\n  - mode: audit\n", []want{
			{6, "policies[0]", `missing required field "name"`},
			{6, "policies[0]", `missing required field "scopes"`},
			{6, "policies[0]", `policy "" requires nothing`},
		}},
		{"rule requires nothing", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n", []want{
			{6, "policies[0]", `policy "p" requires nothing, so every image in its scopes would pass unsigned: add a signatures or attestations section`},
		}},
		{"compliance: {} requires nothing", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    compliance: {}\n", []want{
			{6, "policies[0]", `policy "p" requires nothing, so every image in its scopes would pass unsigned (its compliance section turns no check on`},
		}},
		{"compliance checks all false require nothing", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    compliance: {nonRootUser: false, noSecretsInEnv: false}\n", []want{
			{6, "policies[0]", `policy "p" requires nothing`},
		}},
		{"compliance keys alone require nothing", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    compliance: {keys: [a]}\n", []want{
			{6, "policies[0]", `policy "p" requires nothing`},
		}},
		{"compliance: null requires nothing", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    compliance:\n", []want{
			{6, "policies[0]", `policy "p" requires nothing`},
		}},
		{"rule with empty attestations", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    attestations: []\n", []want{
			{6, "policies[0]", `policy "p" requires nothing`},
		}},
		{"bad mode", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    mode: Enforce\n    signatures: {keys: [a]}\n", []want{
			{8, "policies[0].mode", `"Enforce" is not a mode: use enforce or audit`},
		}},
		{"duplicate policy name", keyA + ruleA + "  - name: prod\n    scopes: ['r.io/other/**']\n    signatures: {keys: [a]}\n", []want{
			{10, "policies[1].name", `duplicate policy name "prod" (first at line 6)`},
		}},
		{"empty scopes", keyA + "policies:\n  - name: p\n    scopes: []\n    signatures: {keys: [a]}\n", []want{
			{7, "policies[0].scopes", "list at least one repository pattern"},
		}},
		{"scope as a string", keyA + "policies:\n  - name: p\n    scopes: r.io/**\n    signatures: {keys: [a]}\n", []want{
			{7, "policies[0].scopes", `expected a list, got a string: write ["r.io/**"]`},
		}},
		{"bare docker hub scopes", keyA + "policies:\n  - name: p\n    scopes: [nginx, library/nginx, 'r.io/ok']\n    signatures: {keys: [a]}\n", []want{
			{7, "policies[0].scopes[0]", `bad glob "nginx": a scope must start with a registry host, and "nginx" is not one: for Docker Hub write "docker.io/library/nginx"`},
			{7, "policies[0].scopes[1]", `bad glob "library/nginx": a scope must start with a registry host, and "library" is not one: for Docker Hub write "docker.io/library/nginx"`},
		}},
		{"scope with digest", keyA + "policies:\n  - name: p\n    scopes: ['r.io/app@sha256:abc']\n    signatures: {keys: [a]}\n", []want{
			{7, "policies[0].scopes[0]", "digests are not allowed"},
		}},
		{"duplicate scope in rule", keyA + "policies:\n  - name: p\n    scopes: ['r.io/a', 'r.io/a']\n    signatures: {keys: [a]}\n", []want{
			{7, "policies[0].scopes[1]", `scope "r.io/a" is listed twice in this rule`},
		}},
		{"duplicate scope across rules", keyA + ruleA + "  - name: other\n    scopes: ['registry.example.com/prod/**']\n    signatures: {keys: [a]}\n", []want{
			{11, "policies[1].scopes[0]", `scope "registry.example.com/prod/**" is already used by policy "prod" (line 7): a scope belongs to one rule`},
		}},
		{"docker hub spellings collide", keyA + "policies:\n  - name: p\n    scopes: ['docker.io/x/**']\n    signatures: {keys: [a]}\n  - name: q\n    scopes: ['index.docker.io/x/**']\n    signatures: {keys: [a]}\n", []want{
			{10, "policies[1].scopes[0]", "(both mean index.docker.io/x/**)"},
		}},
		{"undefined key with suggestion", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    signatures:\n      keys: [b]\n    attestations:\n      - type: https://slsa.dev/provenance/v1\n        keys: [A]\n", []want{
			{9, "policies[0].signatures.keys[0]", `undefined key "b": define it under keys`},
			{12, "policies[0].attestations[0].keys[0]", `undefined key "A": define it under keys, identities or x509Signers (did you mean "a"?)`},
		}},
		{"key listed twice", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    signatures:\n      keys: [a, a]\n      threshold: 2\n", []want{
			{9, "policies[0].signatures.keys[1]", `key "a" is listed twice`},
			{10, "policies[0].signatures.threshold", "2 exceeds the 1 key listed"},
		}},
		{"empty key list", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    signatures:\n      keys: []\n      threshold: 2\n", []want{
			{9, "policies[0].signatures.keys", "list at least one key name"},
		}},
		{"threshold too high", keyA + "  - name: b\n    publicKey: hashivault://b\n" + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    signatures:\n      keys: [a, b]\n      threshold: 3\n", []want{
			{12, "policies[0].signatures.threshold", "3 exceeds the 2 keys listed"},
		}},
		{"threshold zero and negative", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    signatures:\n      keys: [a]\n      threshold: 0\n    attestations:\n      - type: https://spdx.dev/Document\n        keys: [a]\n        threshold: -1\n", []want{
			{10, "policies[0].signatures.threshold", "must be at least 1, got 0"},
			{14, "policies[0].attestations[0].threshold", "must be at least 1, got -1"},
		}},
		{"threshold wrong type", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    signatures:\n      keys: [a]\n      threshold: two\n", []want{
			{10, "policies[0].signatures.threshold", "expected an integer, got a string"},
		}},
		{"requireTimestamp wrong type", keyA + "timestampAuthorities: [{name: t, certChain: t.pem}]\npolicies:\n  - name: p\n    scopes: ['r.io/**']\n    signatures:\n      keys: [a]\n      requireTimestamp: yes\n", []want{
			{5, "timestampAuthorities[0].certChain", "reading certificate chain"},
			{11, "policies[0].signatures.requireTimestamp", "expected true or false, got a string"},
		}},
		{"requireTimestamp without TSA", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    signatures:\n      keys: [a]\n      requireTimestamp: true\n", []want{
			{10, "policies[0].signatures.requireTimestamp", "no timestampAuthorities"},
		}},
		{"bindTag wrong type", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    signatures:\n      keys: [a]\n      bindTag: [v1]\n", []want{
			{10, "policies[0].signatures.bindTag", "expected true or false"},
		}},
		{"bindTag misspelled", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    signatures:\n      keys: [a]\n      bindTags: true\n", []want{
			{10, "policies[0].signatures", `unknown field "bindTags" (did you mean "bindTag"?)`},
		}},
		{"signatures missing keys", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    signatures:\n      threshold: 1\n", []want{
			{9, "policies[0].signatures", `missing required field "keys"`},
		}},
		{"attestation problems", keyA + `policies:
  - name: p
    scopes: ['r.io/**']
    attestations:
      - type: slsa
        keys: [a]
      - type: provenance/v1
        keys: [a]
        conditions: ["", 3]
      - keys: [a]
      - type: https://example.com/custom/v1
`, []want{
			{9, "policies[0].attestations[0].type", `did you mean "https://slsa.dev/provenance/v1"?`},
			{11, "policies[0].attestations[1].type", `attestation type "provenance/v1" is not an absolute URI`},
			{13, "policies[0].attestations[1].conditions[0]", "must not be empty"},
			{13, "policies[0].attestations[1].conditions[1]", "expected a string, got an integer"},
			{14, "policies[0].attestations[2]", `missing required field "type"`},
			{15, "policies[0].attestations[3]", `missing required field "keys"`},
		}},
		{"attestations not a list", keyA + "policies:\n  - name: p\n    scopes: ['r.io/**']\n    attestations: {type: x}\n", []want{
			{8, "policies[0].attestations", "expected a list, got a mapping"},
		}},
		{"anchors and aliases are followed", keyA + `  - name: b
    publicKey: hashivault://b
policies:
  - name: p
    scopes: ['r.io/**']
    signatures:
      keys: &both [a, b]
      threshold: 2
  - name: q
    scopes: ['s.io/**']
    signatures:
      keys: *both
      threshold: 3
`, []want{
			{17, "policies[1].signatures.threshold", "3 exceeds the 2 keys listed"},
		}},
		{"several problems sorted by line", `version: 1
policies:
  - name: p
    scopes: ['R.io/**']
    signatures: {keys: [x]}
keys:
  - name: a
    publicKey: hashivault://a
    extra: 1
`, []want{
			{4, "policies[0].scopes[0]", "lowercase"},
			{5, "policies[0].signatures.keys[0]", `undefined key "x"`},
			{9, "keys[0]", `unknown field "extra"`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), dir)
			if err == nil {
				t.Fatalf("Parse succeeded:\n%s", tt.yaml)
			}
			var ws []Problem
			for _, w := range tt.want {
				ws = append(ws, Problem{Line: w.line, Path: w.path, Msg: w.msg})
			}
			checkProblems(t, problemsOf(t, err), ws)
			if t.Failed() {
				t.Logf("policy:\n%s", numbered(tt.yaml))
			}
		})
	}
}

// keyA and ruleA are a minimal valid policy: keyA is lines 1-4, ruleA
// lines 5-9.
const keyA = `version: 1
keys:
  - name: a
    publicKey: hashivault://a
`
const ruleA = `policies:
  - name: prod
    scopes: ['registry.example.com/prod/**']
    signatures:
      keys: [a]
`

// TestComplianceCheckAloneIsARequirement: a compliance check set to true
// demands something of the image, without signatures or attestations.
func TestComplianceCheckAloneIsARequirement(t *testing.T) {
	for _, c := range []string{"{nonRootUser: true}", "{noSecretsInEnv: true}", "{nonRootUser: false, noSecretsInEnv: true}",
		"{maxSeverity: high, keys: [a]}", "{allowedBaseImages: ['r.io/base/*'], keys: [a]}"} {
		if _, err := Parse([]byte(keyA+"policies:\n  - name: p\n    scopes: ['r.io/**']\n    compliance: "+c+"\n"), ""); err != nil {
			t.Errorf("compliance %s: %v", c, err)
		}
	}
}

func TestMinimalPolicyIsValid(t *testing.T) {
	p, err := Parse([]byte(keyA+ruleA), "")
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Rules[0]; r.Mode != ModeEnforce || r.Signatures.Threshold != 1 || r.Signatures.RequireTimestamp || r.Line != 6 {
		t.Errorf("defaults: %+v %+v", r, r.Signatures)
	}
}

func TestBindTag(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want bool
	}{
		{keyA + ruleA, false},
		{keyA + ruleA + "      bindTag: true\n", true},
		{keyA + ruleA + "      bindTag: false\n", false},
	} {
		p, err := Parse([]byte(tc.yaml), "")
		if err != nil {
			t.Fatalf("%v\n%s", err, numbered(tc.yaml))
		}
		if got := p.Rules[0].Signatures.BindTag; got != tc.want {
			t.Errorf("BindTag = %v, want %v\n%s", got, tc.want, numbered(tc.yaml))
		}
	}
}

func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%3d  %s\n", i+1, l)
	}
	return b.String()
}

func mustParse(t *testing.T, pemData []byte) any {
	t.Helper()
	p, err := Parse([]byte("version: 1\nkeys:\n  - name: k\n    publicKey: |\n      "+
		strings.ReplaceAll(strings.TrimSpace(string(pemData)), "\n", "\n      ")+"\n"+
		"policies:\n  - name: p\n    scopes: ['**']\n    signatures: {keys: [k]}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	return p.Key("k").Public
}

// TestAliasExpansionIsBounded: anchors and aliases cannot make a small file
// expensive to check.
func TestAliasExpansionIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(keyA + "x-scopes: &s [")
	for i := range 3000 {
		fmt.Fprintf(&b, "'r.io/s%d', ", i)
	}
	b.WriteString("]\nx-rule: &r {name: p, scopes: *s, signatures: {keys: [a]}}\npolicies: [")
	b.WriteString(strings.Repeat("*r, ", 3000))
	b.WriteString("]\n")
	start := time.Now()
	_, err := Parse([]byte(b.String()), "")
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Parse took %v", el)
	}
	ps := problemsOf(t, err)
	if len(ps) > maxProblems+2 {
		t.Errorf("%d problems reported", len(ps))
	}
	if !strings.Contains(err.Error(), "expands too many YAML aliases") {
		t.Errorf("no budget problem in:\n%.2000s", err)
	}
}
