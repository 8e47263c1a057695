package provenance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/statement"
)

// Keys of the buildx metadata file (docker buildx build --metadata-file).
const (
	metaProvenance       = "buildx.build.provenance"
	metaBuildRef         = "buildx.build.ref"
	metaImageDigest      = "containerimage.digest"
	metaImageDescriptor  = "containerimage.descriptor"
	metaImageName        = "image.name"
	v02MetadataBuildKit  = "https://mobyproject.org/buildkit@v1#metadata"
	v02MetadataHermetic  = "https://mobyproject.org/buildkit@v1#hermetic"
	extBuildKitMetadata  = "buildkit_metadata"
	extBuildKitHermetic  = "buildkit_hermetic"
	extBuildKitComplete  = "buildkit_completeness"
	extBuildKitReproduce = "buildkit_reproducible"
)

// BuildKitMetadata is the part of a buildx metadata file imgsign uses.
type BuildKitMetadata struct {
	// ImageDigest is containerimage.digest: the manifest (or, for a
	// multi-platform build, the index) that was built.
	ImageDigest string
	// DescriptorDigest is containerimage.descriptor.digest, normally equal
	// to ImageDigest.
	DescriptorDigest string
	ImageName        string
	// BuildRef is buildx.build.ref (builder/node/ref), the key of the build
	// record in `docker buildx history`.
	BuildRef string
	// Provenance maps a platform ("linux/arm64") to that platform's raw
	// predicate. A single-platform build has one entry under "".
	Provenance map[string]json.RawMessage
}

// ParseBuildKitMetadata reads the JSON buildx writes with --metadata-file.
//
// buildx stores the provenance under "buildx.build.provenance" (one
// platform) or "buildx.build.provenance/<platform>" (several); each value is
// a JSON object, or base64 of one as some buildx versions left it. Newer
// buildx converts a v1 predicate to v0.2 before writing it here, and with
// BUILDX_METADATA_PROVENANCE=min (its default) drops buildConfig and
// metadata; both shapes are accepted.
func ParseBuildKitMetadata(b []byte) (*BuildKitMetadata, error) {
	var raw map[string]json.RawMessage
	if err := decodeJSON(b, &raw); err != nil {
		return nil, errkind.Inputf("BuildKit metadata file is not a JSON object: %v (pass the file from docker buildx build --metadata-file)", err)
	}
	md := &BuildKitMetadata{Provenance: map[string]json.RawMessage{}}
	known := false
	str := func(key string, dst *string) error {
		v, ok := raw[key]
		if !ok {
			return nil
		}
		known = true
		if err := json.Unmarshal(v, dst); err != nil {
			return errkind.Inputf("BuildKit metadata: %s is not a string", key)
		}
		return nil
	}
	for key, dst := range map[string]*string{metaImageDigest: &md.ImageDigest, metaImageName: &md.ImageName, metaBuildRef: &md.BuildRef} {
		if err := str(key, dst); err != nil {
			return nil, err
		}
	}
	if v, ok := raw[metaImageDescriptor]; ok {
		known = true
		var d struct {
			Digest string `json:"digest"`
		}
		if err := json.Unmarshal(v, &d); err != nil {
			return nil, errkind.Inputf("BuildKit metadata: %s is not a descriptor", metaImageDescriptor)
		}
		md.DescriptorDigest = d.Digest
	}
	for key, v := range raw {
		platform, ok := strings.CutPrefix(key, metaProvenance)
		if !ok || (platform != "" && !strings.HasPrefix(platform, "/")) {
			continue
		}
		known = true
		platform = strings.TrimPrefix(platform, "/")
		pred, err := provenanceValue(v)
		if err != nil {
			return nil, errkind.Inputf("BuildKit metadata: %s: %v", key, err)
		}
		md.Provenance[platform] = pred
	}
	if !known {
		// docker buildx bake --metadata-file writes one such object per target.
		var targets []string
		for k, v := range raw {
			if bytes.Contains(v, []byte(metaImageDigest)) || bytes.Contains(v, []byte(metaProvenance)) {
				targets = append(targets, k)
			}
		}
		if len(targets) > 0 {
			slices.Sort(targets)
			return nil, errkind.Inputf("BuildKit metadata looks like a bake file with targets %s: pass one target's object (jq '.\"%s\"')", strings.Join(targets, ", "), targets[0])
		}
		return nil, errkind.Inputf("BuildKit metadata has none of %s, %s, %s: is it the file from docker buildx build --metadata-file?", metaImageDigest, metaBuildRef, metaProvenance)
	}
	return md, nil
}

func provenanceValue(v json.RawMessage) (json.RawMessage, error) {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		dec, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("a string that is not base64 JSON")
		}
		v = bytes.TrimSpace(dec)
	}
	if len(v) == 0 || v[0] != '{' {
		return nil, fmt.Errorf("not a JSON object")
	}
	return v, nil
}

// selectProvenance picks the predicate for platform from md.
func (md *BuildKitMetadata) selectProvenance(platform string) (json.RawMessage, error) {
	if p, ok := md.Provenance[platform]; ok {
		return p, nil
	}
	platforms := sortedKeys(md.Provenance)
	switch {
	case len(platforms) == 0:
		return nil, nil
	case platform == "" && len(platforms) == 1:
		return md.Provenance[platforms[0]], nil
	case platform == "":
		return nil, errkind.Inputf("BuildKit metadata has provenance for %d platforms (%s): choose one platform", len(platforms), strings.Join(platforms, ", "))
	case len(platforms) == 1 && platforms[0] == "":
		// A single-platform build does not name its platform.
		return md.Provenance[""], nil
	}
	return nil, errkind.Inputf("BuildKit metadata has no provenance for platform %s (it has %s)", platform, strings.Join(platforms, ", "))
}

// parsePredicate reads a SLSA v0.2 or v1 predicate. predicateType may be
// empty, in which case the shape decides (v1 has buildDefinition).
func parsePredicate(pred []byte, predicateType string) (*Provenance, error) {
	switch predicateType {
	case statement.SLSAProvenanceV1:
		return parseV1(pred)
	case statement.SLSAProvenanceV02:
		return ConvertV02(pred)
	case "":
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(pred, &probe); err != nil {
			return nil, fmt.Errorf("provenance predicate is not a JSON object: %w", err)
		}
		if _, ok := probe["buildDefinition"]; ok {
			return parseV1(pred)
		}
		return ConvertV02(pred)
	}
	return nil, fmt.Errorf("predicate type %s is not SLSA provenance v0.2 or v1", predicateType)
}

type v02Predicate struct {
	Builder struct {
		ID string `json:"id"`
	} `json:"builder"`
	BuildType  string `json:"buildType"`
	Invocation struct {
		ConfigSource struct {
			URI        string            `json:"uri"`
			Digest     map[string]string `json:"digest"`
			EntryPoint string            `json:"entryPoint"`
		} `json:"configSource"`
		Parameters  any `json:"parameters"`
		Environment any `json:"environment"`
	} `json:"invocation"`
	BuildConfig any                        `json:"buildConfig"`
	Metadata    map[string]json.RawMessage `json:"metadata"`
	Materials   []struct {
		URI    string            `json:"uri"`
		Digest map[string]string `json:"digest"`
	} `json:"materials"`
}

// ConvertV02 converts a SLSA v0.2 predicate to SLSA v1 without losing
// information.
//
// BuildKit predicates (buildType https://mobyproject.org/buildkit@v1) are
// converted exactly as BuildKit's own ConvertSLSA02ToSLSA1 does, so the
// result has the shape BuildKit writes natively with version=v1 and one
// policy reads both:
//
//	builder.id                         → runDetails.builder.id
//	buildType                          → buildType https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md
//	invocation.configSource{uri,digest,entryPoint}
//	                                   → externalParameters.configSource{uri,digest,path}
//	invocation.parameters              → externalParameters.request
//	invocation.environment.platform    → internalParameters.builderPlatform
//	buildConfig                        → internalParameters.buildConfig
//	materials                          → resolvedDependencies
//	metadata.buildInvocationID         → runDetails.metadata.invocationId
//	metadata.buildStartedOn/FinishedOn → runDetails.metadata.startedOn/finishedOn
//	metadata[…buildkit@v1#metadata]    → runDetails.metadata.buildkit_metadata
//	metadata[…buildkit@v1#hermetic]    → runDetails.metadata.buildkit_hermetic
//	metadata.completeness{parameters,materials}
//	                                   → runDetails.metadata.buildkit_completeness{request,resolvedDependencies}
//	metadata.reproducible              → runDetails.metadata.buildkit_reproducible
//
// Any other predicate keeps its buildType, and maps configSource →
// externalParameters.configSource (unchanged), parameters →
// externalParameters.parameters, environment → internalParameters.environment,
// buildConfig → internalParameters.buildConfig, completeness/reproducible →
// runDetails.metadata.slsa02_completeness/slsa02_reproducible. Unknown
// metadata keys stay as extension fields of runDetails.metadata in both cases.
func ConvertV02(predicate []byte) (*Provenance, error) {
	var in v02Predicate
	if err := decodeJSON(predicate, &in); err != nil {
		return nil, fmt.Errorf("SLSA v0.2 provenance: %w", err)
	}
	if in.BuildType == "" {
		return nil, fmt.Errorf("SLSA v0.2 provenance: buildType is missing")
	}
	buildkit := in.BuildType == statement.BuildKitBuildTypeV02
	cs := in.Invocation.ConfigSource

	p := &Provenance{}
	p.RunDetails.Builder.ID = in.Builder.ID
	for _, m := range in.Materials {
		p.BuildDefinition.ResolvedDependencies = append(p.BuildDefinition.ResolvedDependencies, ResourceDescriptor{URI: m.URI, Digest: m.Digest})
	}
	ext := map[string]any{}
	internal := map[string]any{}
	configSource := map[string]any{}
	if cs.URI != "" {
		configSource["uri"] = cs.URI
	}
	if len(cs.Digest) > 0 {
		configSource["digest"] = cs.Digest
	}
	if buildkit {
		p.BuildDefinition.BuildType = statement.BuildKitBuildTypeV1
		if cs.EntryPoint != "" {
			configSource["path"] = cs.EntryPoint
		}
		ext["configSource"] = configSource
		ext["request"] = orEmptyObject(in.Invocation.Parameters)
		platform := ""
		if env, ok := in.Invocation.Environment.(map[string]any); ok {
			platform, _ = env["platform"].(string)
			// BuildKit sets only platform; keep anything else rather than drop it.
			if rest := withoutKey(env, "platform"); len(rest) > 0 {
				internal["environment"] = rest
			}
		}
		internal["builderPlatform"] = platform
	} else {
		p.BuildDefinition.BuildType = in.BuildType
		if cs.EntryPoint != "" {
			configSource["entryPoint"] = cs.EntryPoint
		}
		if len(configSource) > 0 {
			ext["configSource"] = configSource
		}
		if in.Invocation.Parameters != nil {
			ext["parameters"] = in.Invocation.Parameters
		}
		if in.Invocation.Environment != nil {
			internal["environment"] = in.Invocation.Environment
		}
	}
	if in.BuildConfig != nil {
		internal["buildConfig"] = in.BuildConfig
	}
	p.BuildDefinition.ExternalParameters = ext
	if len(internal) > 0 {
		p.BuildDefinition.InternalParameters = internal
	}
	meta, err := convertV02Metadata(in.Metadata, buildkit)
	if err != nil {
		return nil, err
	}
	p.RunDetails.Metadata = meta
	return p, nil
}

func convertV02Metadata(md map[string]json.RawMessage, buildkit bool) (*BuildMetadata, error) {
	if md == nil {
		return nil, nil
	}
	out := &BuildMetadata{Extensions: map[string]json.RawMessage{}}
	timeField := func(k string) (*time.Time, error) {
		var t *time.Time
		if err := json.Unmarshal(md[k], &t); err != nil {
			return nil, fmt.Errorf("SLSA v0.2 provenance: metadata.%s: %w", k, err)
		}
		return t, nil
	}
	var completeness struct {
		Parameters bool `json:"parameters"`
		Materials  bool `json:"materials"`
	}
	for k, v := range md {
		var err error
		switch {
		// The spec says buildInvocationId; in-toto-golang (and so BuildKit) writes buildInvocationID.
		case k == "buildInvocationId" || k == "buildInvocationID":
			err = json.Unmarshal(v, &out.InvocationID)
		case k == "buildStartedOn":
			out.StartedOn, err = timeField(k)
		case k == "buildFinishedOn":
			out.FinishedOn, err = timeField(k)
		case buildkit && k == v02MetadataBuildKit:
			if !isEmptyObject(v) {
				out.Extensions[extBuildKitMetadata] = canonicalJSON(v)
			}
		case buildkit && k == v02MetadataHermetic:
			if isTrue(v) {
				out.Extensions[extBuildKitHermetic] = json.RawMessage("true")
			}
		case buildkit && k == "completeness":
			if err = json.Unmarshal(v, &completeness); err == nil {
				out.Extensions[extBuildKitComplete], err = marshalJSON(map[string]bool{
					"request":              completeness.Parameters,
					"resolvedDependencies": completeness.Materials,
				})
			}
		case buildkit && k == "reproducible":
			if isTrue(v) {
				out.Extensions[extBuildKitReproduce] = json.RawMessage("true")
			}
		case !buildkit && (k == "completeness" || k == "reproducible"):
			out.Extensions["slsa02_"+k] = canonicalJSON(v)
		default:
			out.Extensions[k] = canonicalJSON(v)
		}
		if err != nil {
			return nil, fmt.Errorf("SLSA v0.2 provenance: metadata.%s: %w", k, err)
		}
	}
	if len(out.Extensions) == 0 {
		out.Extensions = nil
	}
	if out.empty() {
		return nil, nil
	}
	return out, nil
}

// BuildKit request fields mode=min leaves out (BuildKit's own rule: build
// arguments and labels are dropped from args; secrets and ssh only appear
// with mode=max), and metadata keys that only mode=max carries.
var (
	minDroppedArgPrefixes = []string{"build-arg:", "label:"}
	maxOnlyRequestKeys    = []string{"secrets", "ssh"}
	maxOnlyBuildKitMeta   = []string{"source", "layers", "sysUsage"}
)

// applyBuildKitMode trims a BuildKit v1 predicate to mode, the way BuildKit
// itself would have produced it. Provenance BuildKit already produced with
// mode=min cannot be widened: what it left out is gone. In both modes a
// secret or ssh entry keeps only id and optional, so nothing but the ids can
// ever be copied.
func applyBuildKitMode(p *Provenance, mode Mode) error {
	if p.BuildDefinition.BuildType != statement.BuildKitBuildTypeV1 {
		return nil
	}
	req, _ := p.BuildDefinition.ExternalParameters["request"].(map[string]any)
	requestComplete := true
	if req != nil {
		for _, k := range maxOnlyRequestKeys {
			if entries, ok := req[k].([]any); ok {
				req[k] = idsOnly(entries)
			}
		}
		if mode == ModeMin {
			if args, ok := req["args"].(map[string]any); ok {
				for k := range args {
					for _, prefix := range minDroppedArgPrefixes {
						if strings.HasPrefix(k, prefix) {
							delete(args, k)
							requestComplete = false
						}
					}
				}
			}
			for _, k := range maxOnlyRequestKeys {
				delete(req, k)
			}
		}
	}
	if mode != ModeMin {
		return nil
	}
	delete(p.BuildDefinition.InternalParameters, "buildConfig")
	md := p.RunDetails.Metadata
	if md == nil {
		return nil
	}
	if raw, ok := md.Extensions[extBuildKitMetadata]; ok {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("BuildKit provenance: runDetails.metadata.%s: %w", extBuildKitMetadata, err)
		}
		for _, k := range maxOnlyBuildKitMeta {
			delete(m, k)
		}
		if len(m) == 0 {
			delete(md.Extensions, extBuildKitMetadata)
		} else {
			md.Extensions[extBuildKitMetadata], _ = marshalJSON(m)
		}
	}
	if !requestComplete {
		var c map[string]any
		if raw, ok := md.Extensions[extBuildKitComplete]; ok {
			_ = json.Unmarshal(raw, &c)
		}
		if c == nil {
			c = map[string]any{"resolvedDependencies": false}
		}
		c["request"] = false
		md.Extensions[extBuildKitComplete], _ = marshalJSON(c)
	}
	return nil
}

// idsOnly keeps id and optional of each secret/ssh entry.
func idsOnly(entries []any) []any {
	out := make([]any, 0, len(entries))
	for _, e := range entries {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		kept := map[string]any{}
		for _, k := range []string{"id", "optional"} {
			if v, ok := m[k]; ok {
				kept[k] = v
			}
		}
		out = append(out, kept)
	}
	return out
}

func orEmptyObject(v any) any {
	if v == nil {
		return map[string]any{}
	}
	return v
}

func withoutKey(m map[string]any, key string) map[string]any {
	out := maps.Clone(m)
	delete(out, key)
	return out
}

func isEmptyObject(v json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(v, &m) == nil && len(m) == 0
}

func isTrue(v json.RawMessage) bool {
	var b bool
	return json.Unmarshal(v, &b) == nil && b
}

// What imgsign vouches for from a build. BuildKit's statements and its
// metadata file are written by whoever runs the build (or can push the
// index): imgsign signs or merges them only in the shape BuildKit itself
// writes, so a build step can neither make a signature vouch for another
// image nor claim the source the CI records.

// Attestation types BuildKit emits: SLSA provenance (v0.2 by default, v1
// with version=v1) and SBOMs from its scanners (SPDX; CycloneDX from other
// scanner images). Anything else — above all the plain-signature type
// https://sigstore.dev/cosign/sign/v1, which a policy's signatures rule
// counts — is not BuildKit's to write.
var buildKitPredicateTypes = []string{statement.SLSAProvenanceV02, statement.SLSAProvenanceV1, statement.SPDX, statement.CycloneDX}

// Fields of a SLSA v1 predicate that imgsign and the CI fill in and that
// verification reads as the build's own source (verify/conditions
// BuildSource); BuildKit writes none of them.
var (
	ciExternalParameters = []string{"workflow", "source"}
	ciInternalParameters = []string{"github", "gitlab"}
	imgsignInternalKey   = "imgsign.dev/"
)

// Signable says why imgsign must not sign a as it is (nil if it may): its
// statement must parse the same for every verifier (strict in-toto JSON) and
// name exactly the platform manifest it is attached to — one
// subject, with that manifest's sha256 digest and no other — its predicate
// type must be one BuildKit emits, and provenance must have BuildKit's shape.
func (a *Attestation) Signable() error {
	if a.ambiguous != nil {
		return a.ambiguous
	}
	if len(a.subjects) != 1 {
		return errkind.Inputf("statement names %d subjects (%s), but BuildKit names only the platform manifest %s: a signature over it would vouch for the others too", len(a.subjects), (&parsedStatement{subjects: a.subjects}).subjectList(), a.Subject)
	}
	for _, alg := range sortedKeys(a.subjects[0].Digest) {
		v := a.subjects[0].Digest[alg]
		switch {
		case alg != a.Subject.Algorithm:
			return errkind.Inputf("statement's subject carries a %s digest besides the platform manifest's %s: imgsign cannot tell it names %s and no other manifest", alg, a.Subject.Algorithm, a.Subject)
		case v != a.Subject.Hex:
			return errkind.Inputf("statement is about %s:%s, not the platform manifest %s", alg, v, a.Subject)
		}
	}
	if a.subjects[0].Digest[a.Subject.Algorithm] != a.Subject.Hex {
		return errkind.Inputf("statement's subject has no %s digest, so it does not name the platform manifest %s", a.Subject.Algorithm, a.Subject)
	}
	if !slices.Contains(buildKitPredicateTypes, a.PredicateType) {
		return errkind.Inputf("predicate type %s is not one BuildKit emits (%s)", a.PredicateType, strings.Join(buildKitPredicateTypes, ", "))
	}
	if a.IsProvenance() {
		return checkBuildKitPredicate(a.Predicate, a.PredicateType)
	}
	return nil
}

// checkBuildKitPredicate requires SLSA provenance to be BuildKit's: its build
// type, and none of the fields imgsign or the CI record. predicateType ""
// (a metadata file) lets the shape decide, as parsePredicate does.
func checkBuildKitPredicate(pred []byte, predicateType string) error {
	// Exact keys: encoding/json matches struct fields case-insensitively,
	// while verification reads the predicate as a JSON map, so a struct
	// here could be shown "BuildDefinition" while a policy reads
	// "buildDefinition".
	var top map[string]json.RawMessage
	if err := json.Unmarshal(pred, &top); err != nil || top == nil {
		return errkind.Inputf("provenance predicate is not a JSON object")
	}
	_, hasV1 := top["buildDefinition"]
	_, hasRunDetails := top["runDetails"]
	if predicateType == statement.SLSAProvenanceV02 || predicateType == "" && !hasV1 {
		// Policies over v1 read buildDefinition and runDetails; a v0.2
		// predicate carrying them would answer for a v1 one.
		if hasV1 || hasRunDetails {
			return errkind.Inputf("SLSA v0.2 provenance carries SLSA v1 fields (buildDefinition, runDetails), which BuildKit never writes there")
		}
		var bt string
		_ = json.Unmarshal(top["buildType"], &bt)
		if bt != statement.BuildKitBuildTypeV02 {
			return notBuildKitType(bt, statement.BuildKitBuildTypeV02)
		}
		return nil
	}
	var bd map[string]json.RawMessage
	if err := json.Unmarshal(top["buildDefinition"], &bd); err != nil || bd == nil {
		return errkind.Inputf("SLSA v1 provenance has no buildDefinition object")
	}
	var bt string
	_ = json.Unmarshal(bd["buildType"], &bt)
	if bt != statement.BuildKitBuildTypeV1 {
		return notBuildKitType(bt, statement.BuildKitBuildTypeV1)
	}
	var ext, internal map[string]json.RawMessage
	_ = json.Unmarshal(bd["externalParameters"], &ext)
	_ = json.Unmarshal(bd["internalParameters"], &internal)
	for _, k := range ciExternalParameters {
		if _, ok := ext[k]; ok {
			return errkind.Inputf("BuildKit provenance has externalParameters.%s, which BuildKit never writes: only the CI's facts, as imgsign records them, name the build's source", k)
		}
	}
	for _, k := range sortedKeys(internal) {
		if slices.Contains(ciInternalParameters, k) || strings.HasPrefix(k, imgsignInternalKey) {
			return errkind.Inputf("BuildKit provenance has internalParameters.%s, which BuildKit never writes: only imgsign records it", k)
		}
	}
	return nil
}

// checkParsedBuildKit is checkBuildKitPredicate on the provenance as
// parsed (v0.2 converted to v1): what imgsign merges and signs, whatever
// spelling of the keys the build used to get it there.
func checkParsedBuildKit(p *Provenance) error {
	bd := p.BuildDefinition
	if bd.BuildType != statement.BuildKitBuildTypeV1 {
		return notBuildKitType(bd.BuildType, statement.BuildKitBuildTypeV1)
	}
	for _, k := range ciExternalParameters {
		if _, ok := bd.ExternalParameters[k]; ok {
			return errkind.Inputf("BuildKit provenance has externalParameters.%s, which BuildKit never writes: only the CI's facts, as imgsign records them, name the build's source", k)
		}
	}
	for _, k := range sortedKeys(bd.InternalParameters) {
		if slices.Contains(ciInternalParameters, k) || strings.HasPrefix(k, imgsignInternalKey) {
			return errkind.Inputf("BuildKit provenance has internalParameters.%s, which BuildKit never writes: only imgsign records it", k)
		}
	}
	return nil
}

func notBuildKitType(got, want string) error {
	if got == "" {
		return errkind.Inputf("provenance buildType is missing (BuildKit writes %s)", want)
	}
	return errkind.Inputf("provenance buildType %s is not BuildKit's (%s)", got, want)
}
