package policy

// Parsing a policy file: the one YAML document, its top-level fields, and
// the schema's field names. The sections are read in parsekeys.go (keys,
// timestampAuthorities), mirror.go (mirrors) and parserules.go (policies),
// on top of the strict decoding helpers in decode.go.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/statement"
)

// Field names, as the YAML spells them.
var (
	topFields  = []string{"version", "keys", "timestampAuthorities", "trustRoots", "identities", "trustStores", "x509Signers", "mirrors", "policies"}
	keyFields  = []string{"name", "publicKey", "validFrom", "validUntil", "revokedAt"}
	tsaFields  = []string{"name", "certChain"}
	ruleFields = []string{"name", "scopes", "mode", "signatures", "attestations", "compliance"}
	compFields = []string{"nonRootUser", "noSecretsInEnv", "allowedBaseImages", "maxSeverity", "keys"}
	sigFields  = []string{"keys", "threshold", "requireTimestamp", "bindTag"}
	attFields  = []string{"type", "keys", "threshold", "maxAge", "builderId", "sourceRepository", "sourceRef", "buildType", "conditions"}
)

type parser struct {
	file, dir string
	probs     Problems
	visits    int
	exhausted bool
	dropped   int // problems beyond maxProblems, counted only
	pol       *Policy
	keyNames  map[string]int // key name → line
	// identityNames and rootNames are the names of identities and trust
	// roots → line. Keys and identities share one namespace: rules name both.
	identityNames, rootNames map[string]int
	// x509Names are x509 signer names → line (the signer namespace, with
	// keys and identities); storeNames and storeTypes the trust stores'
	// lines and types.
	x509Names, storeNames map[string]int
	storeTypes            map[string]string
}

func parse(data []byte, file, dir string) (*Policy, error) {
	p := &parser{file: file, dir: dir, keyNames: map[string]int{}, identityNames: map[string]int{}, rootNames: map[string]int{},
		x509Names: map[string]int{}, storeNames: map[string]int{}, storeTypes: map[string]string{}}
	p.run(data)
	if len(p.probs) > 0 || p.exhausted {
		sort.SliceStable(p.probs, func(i, j int) bool { return p.probs[i].Line < p.probs[j].Line })
		if p.exhausted {
			p.probs = append(Problems{{File: file, Msg: "the policy is too large or expands too many YAML aliases: checking stopped"}}, p.probs...)
		}
		if p.dropped > 0 {
			p.probs = append(p.probs, Problem{File: file, Msg: fmt.Sprintf("%d more problems not shown: fix these first", p.dropped)})
		}
		return nil, errkind.Mark(errkind.Input, p.probs)
	}
	return p.pol, nil
}

func (p *parser) run(data []byte) {
	if !utf8.Valid(data) {
		p.addf(0, "", "the policy is not UTF-8 text")
		return
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := decode(dec, &root); err != nil {
		if errors.Is(err, io.EOF) {
			p.addf(0, "", "the policy is empty: expected version, keys and policies")
			return
		}
		p.yamlError(err)
		return
	}
	var extra yaml.Node
	if err := decode(dec, &extra); err == nil {
		p.addf(extra.Line, "", "a policy file holds one YAML document: remove the second \"---\" document")
		return
	} else if !errors.Is(err, io.EOF) {
		p.yamlError(err)
		return
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			p.addf(0, "", "the policy is empty: expected version, keys and policies")
			return
		}
		doc = doc.Content[0]
	}
	p.policy(doc)
}

func (p *parser) policy(doc *yaml.Node) {
	// A policy trusts keys, identities, x509 signers or a mix: keys is
	// required only when there is neither of the others.
	required := []string{"version", "keys", "policies"}
	for _, other := range []string{"identities", "x509Signers"} {
		if v := fieldValue(doc, other); v != nil && !isNull(v) {
			required = []string{"version", "policies"}
		}
	}
	f, ok := p.fields(doc, "", topFields, required...)
	if !ok {
		return
	}
	pol := &Policy{File: p.file, Dir: p.dir}
	if v, ok := f["version"]; ok {
		if ver, ok := p.integer(v, "version"); ok {
			if ver != Version {
				// A newer format may mean anything: report only this.
				p.probs = nil
				p.addf(v.Line, "version", "unsupported policy version %d: this imgsign reads version %d", ver, Version)
				return
			}
			pol.Version = ver
		}
	}
	idRaw, hasIDs := f["identities"]
	x5Raw, hasX509 := f["x509Signers"]
	if v, ok := f["keys"]; ok {
		pol.Keys = p.keys(v, hasIDs && !isEmptyList(p.node(idRaw)) || hasX509 && !isEmptyList(p.node(x5Raw)))
	}
	if v, ok := f["timestampAuthorities"]; ok {
		pol.TimestampAuthorities = p.tsas(v)
	}
	if v, ok := f["trustRoots"]; ok {
		pol.TrustRoots = p.trustRoots(v)
	}
	if hasIDs {
		pol.Identities = p.identities(idRaw)
		if _, hasKeys := f["keys"]; !hasKeys && isEmptyList(p.node(idRaw)) {
			p.addf(idRaw.Line, "identities", "the policy trusts no keys and no identities: list at least one")
		}
	}
	if v, ok := f["trustStores"]; ok {
		pol.TrustStores = p.trustStores(v)
	}
	if hasX509 {
		pol.X509Signers = p.x509Signers(x5Raw)
		p.checkNotaryDocuments(pol)
	}
	if v, ok := f["mirrors"]; ok {
		pol.Mirrors = p.mirrors(v)
	}
	if v, ok := f["policies"]; ok {
		// Identities' signatures carry their trust root's times (a log
		// entry or a TSA's timestamp), so requireTimestamp can be met.
		pol.Rules = p.rules(v, len(pol.TimestampAuthorities) > 0 || len(pol.Identities) > 0 || slices.ContainsFunc(pol.X509Signers, func(s *X509Signer) bool { return s.HasTSA(pol) }))
		p.scopeTies(pol)
		p.mirroredScopes(pol)
	}
	p.pol = pol
}

// fieldValue returns the value of field name in mapping n (aliases not
// followed), or nil.
func fieldValue(n *yaml.Node, name string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == name {
			return n.Content[i+1]
		}
	}
	return nil
}

// checkTypeURI requires an absolute URI, as in-toto predicateType is.
func checkTypeURI(t string) error {
	if uri, ok := statement.Shorthand(t); ok {
		return fmt.Errorf("attestation type must be a predicateType URI: did you mean %q?", uri)
	}
	u, err := url.Parse(t)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") || strings.ContainsAny(t, " \t\r\n") {
		return fmt.Errorf("attestation type %q is not an absolute URI such as https://slsa.dev/provenance/v1", clip(t))
	}
	return nil
}
