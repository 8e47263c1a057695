package statement

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Statement is a verified in-toto statement, decoded once: its predicate
// type, its subjects and its predicate. The zero value has no subjects and
// no predicate.
type Statement struct {
	PredicateType string
	subjects      []Subject
	predicate     any
	// doc is the whole statement as encoding/json decodes it: what policy
	// conditions evaluate.
	doc map[string]any
}

// Subject is one subject of a statement.
type Subject struct {
	Name   string
	Digest map[string]string
	// Annotations are the subject's annotations; nil when it has none.
	Annotations map[string]any
}

// Parse decodes a statement's JSON. It checks shape only, not the
// signature: call it on a payload whose envelope verified.
func Parse(raw []byte) (*Statement, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("statement is not a JSON object: %w", err)
	}
	return FromDocument(doc), nil
}

// FromDocument reads a statement already decoded from JSON; fields of the
// wrong shape read as absent.
func FromDocument(doc map[string]any) *Statement {
	s := &Statement{doc: doc}
	s.PredicateType, _ = doc["predicateType"].(string)
	s.predicate = doc["predicate"]
	list, _ := doc["subject"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		var sub Subject
		sub.Name, _ = m["name"].(string)
		if d, ok := m["digest"].(map[string]any); ok {
			sub.Digest = make(map[string]string, len(d))
			for alg, v := range d {
				if hex, ok := v.(string); ok {
					sub.Digest[alg] = hex
				}
			}
		}
		sub.Annotations, _ = m["annotations"].(map[string]any)
		s.subjects = append(s.subjects, sub)
	}
	return s
}

// Document is the statement as decoded JSON (never nil), for evaluating
// policy conditions over it.
func (s *Statement) Document() map[string]any {
	if s == nil || s.doc == nil {
		return map[string]any{}
	}
	return s.doc
}

// Subjects are the statement's subjects in order.
func (s *Statement) Subjects() []Subject {
	if s == nil {
		return nil
	}
	return s.subjects
}

// Predicate is the statement's predicate as decoded JSON (nil when absent).
func (s *Statement) Predicate() any {
	if s == nil {
		return nil
	}
	return s.predicate
}

// PredicateObject is the predicate when it is a JSON object, else nil.
func (s *Statement) PredicateObject() map[string]any {
	m, _ := s.Predicate().(map[string]any)
	return m
}

// Is reports whether the subject names digest ("alg:hex").
func (sub Subject) Is(digest string) bool {
	alg, hex, _ := strings.Cut(digest, ":")
	v, ok := sub.Digest[alg]
	return ok && v == hex
}

// Annotated is the first subject about digest that has annotations: the
// one whose annotations bind a tag.
func (s *Statement) Annotated(digest string) (Subject, bool) {
	for _, sub := range s.Subjects() {
		if sub.Is(digest) && sub.Annotations != nil {
			return sub, true
		}
	}
	return Subject{}, false
}

// TagFor is the tag the statement binds to digest (TagAnnotation), "" when
// it binds none.
func (s *Statement) TagFor(digest string) string {
	sub, _ := s.Annotated(digest)
	tag, _ := sub.Annotations[TagAnnotation].(string)
	return tag
}

// TagSignedAt is the raw SignedAtAnnotation on the subject about digest:
// when the signer says it bound the tag; ok is false when absent.
func (s *Statement) TagSignedAt(digest string) (v any, ok bool) {
	sub, _ := s.Annotated(digest)
	v, ok = sub.Annotations[SignedAtAnnotation]
	return v, ok
}

// signedTimes lists, per predicate type, the predicate fields that state
// when the attested content was made, preferred first. They are inside the
// signed statement, so only the signer could have written them; an RFC 3161
// timestamp proves only that a signature existed by some time — anyone can
// get a fresh one for an old signature — so it cannot stand in for them.
var signedTimes = []struct {
	// typ is the predicate type; with prefix, also its versioned forms
	// (typ + "/v1.6").
	typ    string
	prefix bool
	fields []string
}{
	{SLSAProvenanceV1, false, []string{"runDetails.metadata.finishedOn", "runDetails.metadata.startedOn"}},
	{SLSAProvenanceV02, false, []string{"metadata.buildFinishedOn", "metadata.buildStartedOn"}},
	{SLSAProvenanceV01, false, []string{"metadata.buildFinishedOn", "metadata.buildStartedOn"}},
	{SPDX, true, []string{"creationInfo.created"}},
	{CycloneDX, true, []string{"metadata.timestamp"}},
	{CosignVuln, false, []string{"metadata.scanFinishedOn", "metadata.scanStartedOn"}},
	{CosignCustom, false, []string{"timestamp"}},
	{OpenVEX, true, []string{"last_updated", "timestamp"}},
}

// SignedTimeFields returns the dotted predicate fields that hold the time
// the signer states for predicateType, preferred first; nil when imgsign
// knows no such field for the type.
func SignedTimeFields(predicateType string) []string {
	for _, s := range signedTimes {
		if predicateType == s.typ || s.prefix && strings.HasPrefix(predicateType, s.typ+"/") {
			return s.fields
		}
	}
	return nil
}

// TimeError says why a statement has no usable signed time.
type TimeError struct{ Reason string }

func (e *TimeError) Error() string { return e.Reason }

// Time is when the signer says the attested content was made: the first of
// SignedTimeFields present in the predicate, and that field's name. A
// *TimeError says why there is none (a type without a known field, a field
// missing, or one that is not an RFC 3339 time).
func (s *Statement) Time() (time.Time, string, error) {
	fields := SignedTimeFields(s.PredicateType)
	if fields == nil {
		return time.Time{}, "", &TimeError{fmt.Sprintf("predicates of type %s carry no signed time imgsign knows, and an RFC 3161 timestamp cannot stand in (anyone can get a fresh one for an old signature): drop maxAge for this type", s.PredicateType)}
	}
	pred := s.PredicateObject()
	for _, f := range fields {
		v := lookup(pred, strings.Split(f, "."))
		if v == nil {
			continue
		}
		str, _ := v.(string)
		t, err := time.Parse(time.RFC3339, str)
		if err != nil {
			return time.Time{}, "", &TimeError{fmt.Sprintf("the predicate's %s %s is not an RFC 3339 time", f, QuoteValue(v))}
		}
		return t, f, nil
	}
	return time.Time{}, "", &TimeError{fmt.Sprintf("the predicate carries no signed time (%s), and an RFC 3161 timestamp cannot stand in: anyone can get a fresh one for an old signature", strings.Join(fields, " or "))}
}

// QuoteValue shows an untrusted statement value briefly and on one line.
func QuoteValue(v any) string {
	r := []rune(fmt.Sprint(v))
	if len(r) > 40 {
		r = append(r[:40], '…')
	}
	return fmt.Sprintf("%q", string(r))
}

func lookup(m map[string]any, path []string) any {
	var cur any = m
	for _, k := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}
