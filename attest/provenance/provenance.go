package provenance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Provenance is a SLSA provenance v1 predicate.
//
// Plain structs rather than the in-toto protobuf types: encoding/json on the
// generated types writes snake_case names ("build_definition"), protojson
// deliberately randomises whitespace (no stable golden files, no stable
// digests), and structpb turns every number into a float64, which would
// silently round large integers from BuildKit. The tests check that every
// predicate we produce parses with the in-toto protobuf types and passes
// their Validate, so the two stay interchangeable on the wire.
type Provenance struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition is the input of the build: what was asked, with what.
type BuildDefinition struct {
	BuildType string `json:"buildType"`
	// ExternalParameters and InternalParameters hold arbitrary JSON. Numbers
	// are json.Number so that values read from BuildKit survive unchanged.
	ExternalParameters   map[string]any       `json:"externalParameters"`
	InternalParameters   map[string]any       `json:"internalParameters,omitempty"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies,omitempty"`
}

// RunDetails describes this particular execution of the build.
type RunDetails struct {
	Builder    Builder              `json:"builder"`
	Metadata   *BuildMetadata       `json:"metadata,omitempty"`
	Byproducts []ResourceDescriptor `json:"byproducts,omitempty"`
}

// Builder identifies the build platform; policies match on ID.
type Builder struct {
	ID                  string               `json:"id"`
	Version             map[string]string    `json:"version,omitempty"`
	BuilderDependencies []ResourceDescriptor `json:"builderDependencies,omitempty"`
}

// BuildMetadata holds the invocation id and timestamps, plus SLSA extension
// fields (names of the form vendor_field, such as BuildKit's
// buildkit_metadata), which the SLSA v1 spec allows on any object.
type BuildMetadata struct {
	InvocationID string
	StartedOn    *time.Time
	FinishedOn   *time.Time
	// Extensions maps an extension field name to its raw JSON value.
	Extensions map[string]json.RawMessage
}

// ResourceDescriptor is an in-toto v1 ResourceDescriptor.
type ResourceDescriptor struct {
	Name             string            `json:"name,omitempty"`
	URI              string            `json:"uri,omitempty"`
	Digest           map[string]string `json:"digest,omitempty"`
	Content          []byte            `json:"content,omitempty"`
	DownloadLocation string            `json:"downloadLocation,omitempty"`
	MediaType        string            `json:"mediaType,omitempty"`
	Annotations      map[string]any    `json:"annotations,omitempty"`
}

// MarshalJSON writes the standard fields first and then the extension
// fields in name order, so output is byte-for-byte deterministic.
func (m BuildMetadata) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	field := func(name string, v any) error {
		b, err := marshalJSON(v)
		if err != nil {
			return fmt.Errorf("runDetails.metadata.%s: %w", name, err)
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		k, _ := marshalJSON(name)
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(b)
		return nil
	}
	if m.InvocationID != "" {
		if err := field("invocationId", m.InvocationID); err != nil {
			return nil, err
		}
	}
	if m.StartedOn != nil {
		if err := field("startedOn", m.StartedOn.UTC()); err != nil {
			return nil, err
		}
	}
	if m.FinishedOn != nil {
		if err := field("finishedOn", m.FinishedOn.UTC()); err != nil {
			return nil, err
		}
	}
	for _, k := range sortedKeys(m.Extensions) {
		if err := field(k, m.Extensions[k]); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON reads the standard fields and keeps everything else as an
// extension. It also accepts "invocationID": in-toto-golang's SLSA v1 struct,
// and so BuildKit's native v1 output, spells the field that way although the
// spec says invocationId.
func (m *BuildMetadata) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = BuildMetadata{}
	for k, v := range raw {
		switch k {
		case "invocationId", "invocationID":
			if err := json.Unmarshal(v, &m.InvocationID); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		case "startedOn", "finishedOn":
			var t *time.Time
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			if k == "startedOn" {
				m.StartedOn = t
			} else {
				m.FinishedOn = t
			}
		default:
			if m.Extensions == nil {
				m.Extensions = map[string]json.RawMessage{}
			}
			m.Extensions[k] = canonicalJSON(v)
		}
	}
	return nil
}

func (m *BuildMetadata) empty() bool {
	return m == nil || (m.InvocationID == "" && m.StartedOn == nil && m.FinishedOn == nil && len(m.Extensions) == 0)
}

// MarshalIndent returns the predicate as indented JSON with sorted object
// keys and a final newline: the form golden files and `imgsign provenance`
// print.
func (p *Provenance) MarshalIndent() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parseV1 reads a SLSA v1 predicate, keeping numbers exact.
func parseV1(b []byte) (*Provenance, error) {
	var p Provenance
	if err := decodeJSON(b, &p); err != nil {
		return nil, fmt.Errorf("SLSA v1 provenance: %w", err)
	}
	if p.BuildDefinition.BuildType == "" {
		return nil, fmt.Errorf("SLSA v1 provenance: buildDefinition.buildType is missing")
	}
	if p.BuildDefinition.ExternalParameters == nil {
		p.BuildDefinition.ExternalParameters = map[string]any{}
	}
	if p.RunDetails.Metadata.empty() {
		p.RunDetails.Metadata = nil
	}
	return &p, nil
}

// decodeJSON decodes exactly one JSON value, with numbers as json.Number.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}

// canonicalJSON re-encodes a JSON value with object keys sorted, numbers
// unchanged and no HTML escaping, so that extension fields copied from
// BuildKit print as deterministically as everything else.
func canonicalJSON(b []byte) json.RawMessage {
	var v any
	if err := decodeJSON(b, &v); err != nil {
		return append(json.RawMessage(nil), b...)
	}
	out, err := marshalJSON(v)
	if err != nil {
		return append(json.RawMessage(nil), b...)
	}
	return out
}

// marshalJSON is json.Marshal without HTML escaping: "&" in a purl or a
// build argument stays "&" rather than becoming "\u0026".
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// normalizeRepo reduces a git repository location to host/path for
// comparisons: "git+https://github.com/o/r.git#refs/heads/main" and
// "https://github.com/o/r@refs/heads/main" are the same repository.
func normalizeRepo(uri string) string {
	u := strings.TrimPrefix(uri, "git+")
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexAny(u, "#?"); i >= 0 {
		u = u[:i]
	}
	// A ref follows the last "@" after the path starts; an "@" before the
	// first "/" is userinfo.
	if slash := strings.Index(u, "/"); slash >= 0 {
		if at := strings.LastIndex(u, "@"); at > slash {
			u = u[:at]
		} else if at >= 0 {
			u = u[at+1:]
		}
	}
	u = strings.TrimSuffix(strings.TrimSuffix(u, "/"), ".git")
	return strings.ToLower(u)
}
