// Package importnotation turns a notation setup — its trust policy
// (trustpolicy.json, OCI trust policy version 1.0) and its trust store
// directory (x509/{ca,signingAuthority,tsa}/NAME/) — into the equivalent
// imgsign trust policy: one trustStores entry per trust store a statement
// names, one x509Signers entry and one policies entry per statement
// (docs/notation.md, "Importing a notation setup").
//
// The trust policy is parsed and validated by notation-go's own trustpolicy
// package, and the trust stores are read by notation-go's rules, so what
// notation refuses is refused here. What imgsign cannot express (a skip
// level, an override that only logs authenticity, fields notation ignores,
// registry scopes imgsign reads as another repository) is left out and
// reported in Result.Notes, one line each.
package importnotation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"go.yaml.in/yaml/v3"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/verify/policy"
)

// MaxTrustPolicyBytes bounds the trust policy file read.
const MaxTrustPolicyBytes = 4 << 20

// Options say where the notation setup came from and where the imported
// policy goes.
type Options struct {
	// TrustPolicy is the trust policy file's path, for messages and the
	// policy's header comment.
	TrustPolicy string
	// TrustStore is notation's trust store directory: the one holding x509/.
	TrustStore string
	// Out is the file the policy will be written to. Certificates are then
	// referenced by path, in CertsDir next to it; with Out empty (stdout)
	// they are inlined as PEM.
	Out string
}

// Result is an imported policy, not yet written.
type Result struct {
	// Policy is the imgsign policy YAML.
	Policy []byte
	// CertsDir is the directory, relative to the policy's, that Certs go
	// into and the policy refers to ("" when certificates are inlined).
	CertsDir string
	// Certs are the certificate files to write under CertsDir.
	Certs []CertFile
	// Notes are the things not mapped, one line each without a prefix:
	// `statement "NAME": WHAT is not mapped: WHY`. Untrusted strings in
	// them are quoted with escapes, so they are safe to print.
	Notes []string
}

// CertFile is one certificate file of a trust store, PEM-encoded.
type CertFile struct {
	// Path is slash-separated and relative to Result.CertsDir:
	// TYPE/NAME/FILE.
	Path string
	Data []byte
}

// The imgsign policy, in the order its sections are written.
type outPolicy struct {
	Version     int         `yaml:"version"`
	TrustStores []outStore  `yaml:"trustStores"`
	X509Signers []outSigner `yaml:"x509Signers"`
	Policies    []outRule   `yaml:"policies"`
}

type outStore struct {
	Name         string   `yaml:"name"`
	Type         string   `yaml:"type"`
	Certificates []string `yaml:"certificates"`
}

type outSigner struct {
	Name               string   `yaml:"name"`
	TrustStores        []string `yaml:"trustStores,flow"`
	TrustedIdentities  []string `yaml:"trustedIdentities"`
	VerifyTimestamp    string   `yaml:"verifyTimestamp,omitempty"`
	AuthenticTimestamp string   `yaml:"authenticTimestamp,omitempty"`
	Expiry             string   `yaml:"expiry,omitempty"`
	Revocation         string   `yaml:"revocation,omitempty"`
}

type outRule struct {
	Name       string        `yaml:"name"`
	Scopes     []string      `yaml:"scopes,flow"`
	Mode       string        `yaml:"mode,omitempty"`
	Signatures outSignatures `yaml:"signatures"`
}

type outSignatures struct {
	Keys      []string `yaml:"keys,flow"`
	Threshold int      `yaml:"threshold"`
}

// CertsDirFor is the directory certificates are copied to for a policy
// written to out: "<out without extension>.certs", next to it.
func CertsDirFor(out string) string {
	base := filepath.Base(out)
	if ext := filepath.Ext(base); ext != "" && ext != base {
		base = strings.TrimSuffix(base, ext)
	}
	return base + ".certs"
}

// importer holds one import's state.
type importer struct {
	o     Options
	notes []string
	// stores are the trust stores statements name, loaded, by
	// "type:name" in the order first named.
	stores     map[string]*store
	storeOrder []string
	// fieldNotes are the notes on fields notation ignores, by statement
	// index, noted when the statement is mapped.
	fieldNotes [][]string
}

// Import maps the notation trust policy data (the content of
// o.TrustPolicy) and the trust stores it names under o.TrustStore onto an
// imgsign policy. Every error is bad input (errkind.Input), one line
// naming the file and what to do.
func Import(data []byte, o Options) (*Result, error) {
	im := &importer{o: o, stores: map[string]*store{}}
	doc, err := im.parse(data)
	if err != nil {
		return nil, err
	}
	out, err := im.mapDocument(doc)
	if err != nil {
		return nil, err
	}
	res := &Result{Notes: im.notes}
	if o.Out != "" {
		res.CertsDir = CertsDirFor(o.Out)
	}
	// The policy is checked as imgsign will load it, with the certificates
	// inline (the files are not written yet; they hold the same ones): a
	// mapping imgsign would refuse is a bug here, not the user's to find.
	inline, _, err := im.render(*out, "")
	if err != nil {
		return nil, err
	}
	if _, err := policy.Parse(inline, ""); err != nil {
		return nil, errkind.Inputf("%s: the imported policy does not load, so nothing was written (please report this): %v", safetext.Clean(o.TrustPolicy), err)
	}
	if res.CertsDir == "" {
		res.Policy = inline
		return res, nil
	}
	res.Policy, res.Certs, err = im.render(*out, res.CertsDir)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// render writes the policy with the trust stores' certificates inline
// (certsDir "") or as files in certsDir.
func (im *importer) render(out outPolicy, certsDir string) ([]byte, []CertFile, error) {
	var certs []CertFile
	for _, key := range im.storeOrder {
		s := im.stores[key]
		if !s.used {
			continue
		}
		ost := outStore{Name: s.imgsignName, Type: s.typ}
		for _, f := range s.files {
			if certsDir == "" {
				for _, c := range f.certs {
					ost.Certificates = append(ost.Certificates, string(pemOf(c)))
				}
				continue
			}
			rel := path.Join(s.typ, s.name, f.outName)
			certs = append(certs, CertFile{Path: rel, Data: f.pem()})
			ost.Certificates = append(ost.Certificates, certsDir+"/"+rel)
		}
		out.TrustStores = append(out.TrustStores, ost)
	}
	var body bytes.Buffer
	enc := yaml.NewEncoder(&body)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return nil, nil, fmt.Errorf("writing the imported policy: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, nil, fmt.Errorf("writing the imported policy: %w", err)
	}
	return append(im.header(), body.Bytes()...), certs, nil
}

// header is the comment the policy starts with: where it was imported
// from, and what was left out.
func (im *importer) header() []byte {
	var b bytes.Buffer
	b.WriteString("# Imported from a notation setup by `imgsign policy import-notation`:\n")
	fmt.Fprintf(&b, "#   trust policy: %s\n", safetext.Clean(im.o.TrustPolicy))
	fmt.Fprintf(&b, "#   trust store:  %s\n", safetext.Clean(im.o.TrustStore))
	b.WriteString("# Each notation trust policy statement is one x509Signers entry and one\n")
	b.WriteString("# policies entry of the same name (docs/notation.md).\n")
	if len(im.notes) > 0 {
		b.WriteString("# Not mapped:\n")
		for _, n := range im.notes {
			fmt.Fprintf(&b, "#   %s\n", safetext.Clean(n))
		}
	}
	return b.Bytes()
}

// note records something not mapped.
func (im *importer) note(format string, args ...any) {
	im.notes = append(im.notes, safetext.Clean(fmt.Sprintf(format, args...)))
}

// inputf is a bad-input error about the trust policy file.
func (im *importer) inputf(format string, args ...any) error {
	return errkind.Inputf("%s: %s", safetext.Clean(im.o.TrustPolicy), fmt.Sprintf(format, args...))
}

// Fields of trust policy version 1.0, as notation-go's structs name them.
// encoding/json matches names case-insensitively, and so does the check for
// fields notation ignores.
var (
	documentFields     = []string{"version", "trustPolicies"}
	statementFields    = []string{"name", "registryScopes", "signatureVerification", "trustStores", "trustedIdentities"}
	verificationFields = []string{"level", "override", "verifyTimestamp"}
)

// parse decodes and validates the trust policy as notation does
// (encoding/json into trustpolicy.Document, then Validate), and notes the
// fields notation ignores.
func (im *importer) parse(data []byte) (*trustpolicy.Document, error) {
	var doc trustpolicy.Document
	// notation reads its trust policy with json.NewDecoder(…).Decode.
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, im.inputf("malformed trust policy (%v): it must be a notation trust policy JSON document (version \"1.0\")", jsonReason(err))
	}
	if err := doc.Validate(); err != nil {
		if bytes.Contains(data, []byte(`"globalPolicy"`)) {
			return nil, im.inputf("notation refuses this trust policy: %v (this looks like notation's blob trust policy, trustpolicy.blob.json: import its OCI trust policy, trustpolicy.json or trustpolicy.oci.json)", err)
		}
		return nil, im.inputf("notation refuses this trust policy: %v", err)
	}
	im.unknownFields(data)
	return &doc, nil
}

// jsonReason is a decoding error without the Go type names.
func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("%s: a %s where notation expects another type", te.Field, te.Value)
		}
		return fmt.Sprintf("a %s where notation expects another type", te.Value)
	}
	return err.Error()
}

// unknownFields notes every field of the document, its statements and their
// signatureVerification that trust policy 1.0 does not define: notation
// ignores them, and so does the import.
func (im *importer) unknownFields(data []byte) {
	var raw map[string]json.RawMessage
	if json.NewDecoder(bytes.NewReader(data)).Decode(&raw) != nil {
		return
	}
	for _, k := range unknown(raw, documentFields) {
		im.note("field %q is not mapped: trust policy version 1.0 has no such field, so notation ignores it too", k)
	}
	var stmts []map[string]json.RawMessage
	if v, ok := field(raw, "trustPolicies"); !ok || json.Unmarshal(v, &stmts) != nil {
		return
	}
	im.fieldNotes = make([][]string, len(stmts))
	for i, st := range stmts {
		var name string
		if v, ok := field(st, "name"); ok {
			_ = json.Unmarshal(v, &name)
		}
		add := func(format string, args ...any) {
			im.fieldNotes[i] = append(im.fieldNotes[i], safetext.Clean(fmt.Sprintf(format, args...)))
		}
		for _, k := range unknown(st, statementFields) {
			add("statement %q: field %q is not mapped: %s", name, k, unknownWhy(k))
		}
		var sv map[string]json.RawMessage
		if v, ok := field(st, "signatureVerification"); ok && json.Unmarshal(v, &sv) == nil {
			for _, k := range unknown(sv, verificationFields) {
				add("statement %q: field %q is not mapped: %s", name, "signatureVerification."+k, unknownWhy(k))
			}
		}
	}
}

func unknownWhy(k string) string {
	if strings.Contains(strings.ToLower(k), "plugin") {
		return "imgsign runs no verification plugins, and notation reads plugin settings from `notation verify --plugin-config`, not from the trust policy, so it ignores this field too"
	}
	return "trust policy version 1.0 has no such field, so notation ignores it too"
}

// field looks a field up as encoding/json would: the exact name first,
// else case-insensitively.
func field(m map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

func unknown(m map[string]json.RawMessage, known []string) []string {
	var out []string
	for k := range m {
		ok := false
		for _, f := range known {
			if strings.EqualFold(k, f) {
				ok = true
				break
			}
		}
		if !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// mapDocument maps each statement; the trust stores they name are loaded
// on the way.
func (im *importer) mapDocument(doc *trustpolicy.Document) (*outPolicy, error) {
	out := &outPolicy{Version: policy.Version}
	// Registry scopes imgsign reads as one repository (one registry, one
	// spelling): the first statement's scope judges it.
	seen := map[string]scopeOwner{}
	for i, st := range doc.TrustPolicies {
		if i < len(im.fieldNotes) {
			im.notes = append(im.notes, im.fieldNotes[i]...)
		}
		signer, rule, err := im.mapStatement(st, seen)
		if err != nil {
			return nil, err
		}
		if rule == nil {
			continue
		}
		out.X509Signers = append(out.X509Signers, *signer)
		out.Policies = append(out.Policies, *rule)
	}
	if len(out.Policies) == 0 {
		return nil, im.inputf("no statement of the trust policy can be imported (see the lines above): an imgsign policy needs at least one rule")
	}
	return out, nil
}

type scopeOwner struct{ statement, scope string }

// mapStatement maps one statement to a signer and a rule; both nil when
// nothing of it can be mapped (noted).
func (im *importer) mapStatement(st trustpolicy.TrustPolicy, seen map[string]scopeOwner) (*outSigner, *outRule, error) {
	sv := st.SignatureVerification
	if sv.VerificationLevel == trustpolicy.LevelSkip.Name {
		im.note("statement %q: verification level %q is not mapped: imgsign never accepts an image without checking its signatures, so its registry scopes %s get no rule and are rejected%s; write an imgsign rule for them if they must pass",
			st.Name, sv.VerificationLevel, quoteList(st.RegistryScopes), catchAllHint(st))
		return nil, nil, nil
	}
	level, err := sv.GetVerificationLevel()
	if err != nil { // Validate checked it
		return nil, nil, im.inputf("statement %q: %v", st.Name, err)
	}

	var scopes []string
	for _, sc := range st.RegistryScopes {
		if mapped, ok := im.mapScope(st.Name, sc, seen); ok {
			scopes = append(scopes, mapped)
		}
	}
	if len(scopes) == 0 {
		im.note("statement %q: the statement is not mapped: none of its registry scopes is", st.Name)
		return nil, nil, nil
	}

	signer := &outSigner{Name: st.Name, VerifyTimestamp: string(sv.VerifyTimestamp)}
	haveSigning := false
	for _, ref := range st.TrustStores {
		s, err := im.store(st.Name, ref)
		if err != nil {
			return nil, nil, err
		}
		s.used = true
		signer.TrustStores = append(signer.TrustStores, s.imgsignName)
		if s.typ != string(truststore.TypeTSA) {
			haveSigning = true
		}
	}
	if !haveSigning {
		return nil, nil, im.inputf("statement %q names no trust store of type ca or signingAuthority (only %s), so notation verifies no signature under it: add the store of the CA that issues its signing certificates (\"ca:NAME\") or remove the statement",
			st.Name, quoteList(st.TrustStores))
	}
	for _, id := range st.TrustedIdentities {
		if prefix, _, _ := strings.Cut(id, ":"); id != "*" && prefix != "x509.subject" {
			im.note("statement %q: trusted identity %q is not mapped to a check: only a verification plugin checks identities of kind %q, and imgsign runs no plugins; it is copied as written, and like notation without that plugin imgsign matches leaf certificates only against the x509.subject identities",
				st.Name, id, prefix)
		}
		signer.TrustedIdentities = append(signer.TrustedIdentities, id)
	}

	rule := &outRule{
		Name:       st.Name,
		Scopes:     scopes,
		Signatures: outSignatures{Keys: []string{st.Name}, Threshold: 1},
	}
	im.mapLevel(st, level, signer, rule)
	return signer, rule, nil
}

// mapLevel maps the verification level and its overrides onto the signer's
// actions and the rule's mode.
func (im *importer) mapLevel(st trustpolicy.TrustPolicy, level *trustpolicy.VerificationLevel, signer *outSigner, rule *outRule) {
	sv := st.SignatureVerification
	act := level.Enforcement
	if sv.VerificationLevel == trustpolicy.LevelAudit.Name && act[trustpolicy.TypeAuthenticity] == trustpolicy.ActionLog {
		// audit: notation reports every failed check but integrity and lets
		// the artifact through; imgsign's mode: audit reports the verdict
		// of the strict signer and exits 0. Overrides still say what is
		// checked at all (revocation: skip).
		rule.Mode = string(policy.ModeAudit)
		im.note("statement %q: the integrity check of level %q is not mapped: notation's audit level still fails an image with no signature, or none intact, where imgsign's mode: audit reports every failure and exits 0",
			st.Name, sv.VerificationLevel)
		act = map[trustpolicy.ValidationType]trustpolicy.ValidationAction{}
		for k, v := range trustpolicy.LevelStrict.Enforcement {
			act[k] = v
		}
		for k, v := range sv.Override {
			if k != trustpolicy.TypeAuthenticity {
				act[k] = v
			}
		}
	} else if act[trustpolicy.TypeAuthenticity] != trustpolicy.ActionEnforce {
		im.note("statement %q: override %q: %q is not mapped: imgsign counts a signature only when its certificate chain and identity are trusted, so authenticity is enforced; set \"mode: audit\" on policy %q to only report failures",
			st.Name, trustpolicy.TypeAuthenticity, act[trustpolicy.TypeAuthenticity], st.Name)
	}
	set := func(v trustpolicy.ValidationAction) string {
		if v == trustpolicy.ActionEnforce {
			return "" // the default
		}
		return string(v)
	}
	signer.AuthenticTimestamp = set(act[trustpolicy.TypeAuthenticTimestamp])
	signer.Expiry = set(act[trustpolicy.TypeExpiry])
	signer.Revocation = set(act[trustpolicy.TypeRevocation])
}

// mapScope maps one registry scope: "*" to the catch-all "**", a
// repository to the same repository. ok is false (noted) when imgsign
// cannot read it as that repository.
func (im *importer) mapScope(statement, scope string, seen map[string]scopeOwner) (string, bool) {
	mapped := scope
	if scope == "*" {
		mapped = "**"
	} else if host, rest, ok := strings.Cut(scope, "/"); ok && host != strings.ToLower(host) {
		// notation allows capitals in the registry host; imgsign compares
		// hosts case-insensitively and writes them in lower case.
		mapped = strings.ToLower(host) + "/" + rest
	}
	sc, err := policy.ParseScope(mapped)
	if err != nil {
		why := strings.TrimPrefix(err.Error(), fmt.Sprintf("bad glob %q: ", mapped))
		if host, _, _ := strings.Cut(scope, "/"); !strings.ContainsAny(host, ".:") && host != "localhost" {
			why += " (a notation scope for an OCI layout, as given to `notation verify --oci-layout --scope`, has no imgsign counterpart: imgsign judges a layout by its path, scope \"oci:/PATH\", or as a repository with --as)"
		}
		im.note("statement %q: registry scope %q is not mapped: %s", statement, scope, why)
		return "", false
	}
	if prev, dup := seen[sc.Pattern]; dup {
		if prev.statement == statement {
			return "", false // two spellings of one repository, one rule either way
		}
		im.note("statement %q: registry scope %q is not mapped: imgsign reads it as %q, the repository scope %q of statement %q names (one registry, one spelling), so that statement's rule judges it",
			statement, scope, sc.Pattern, prev.scope, prev.statement)
		return "", false
	}
	seen[sc.Pattern] = scopeOwner{statement, scope}
	return mapped, true
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// catchAllHint says that a skipped statement's scopes fall to the catch-all
// rule, if it is "*" itself or not.
func catchAllHint(st trustpolicy.TrustPolicy) string {
	for _, s := range st.RegistryScopes {
		if s == "*" {
			return ""
		}
	}
	return " (or judged by the rule of a \"*\" statement, if there is one)"
}
