package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
	"github.com/imgsign/imgsign/verify/compliance"
	"github.com/imgsign/imgsign/verify/policy"
)

// maxConfigBytes bounds an image config; long histories stay well under it.
const maxConfigBytes = 8 << 20

// compliance runs a rule's compliance checks. Config checks cost a manifest
// and a config fetch per platform, and run only when the rule asks for them.
func (v *Verifier) compliance(ctx context.Context, repo storage.Reader, desc v1.Descriptor, rule *policy.Rule, cands []candidate, now time.Time) ([]*RequirementResult, error) {
	c := rule.Compliance
	var out []*RequirementResult
	// code is compliance-failed, or not-signed when the check had no
	// trusted attestation to read.
	result := func(check string, problems []string, ok string, code Code) *RequirementResult {
		rr := &RequirementResult{Kind: "compliance", Check: check, Keys: []string{}, Accepted: []*KeyUse{}, Rejected: []*Rejection{}, Satisfied: len(problems) == 0}
		for _, p := range problems {
			rr.Rejected = append(rr.Rejected, &Rejection{Code: code, Reason: p})
		}
		rr.Summary = ok
		if !rr.Satisfied {
			rr.Summary = fmt.Sprintf("%d problem(s)", len(problems))
			rr.Code = code
		}
		return rr
	}
	if c.NonRootUser || c.NoSecretsInEnv {
		cfgs, err := configs(ctx, repo, desc)
		if err != nil {
			return nil, fmt.Errorf("reading image config for compliance checks: %w", err)
		}
		var nonRoot, secrets []string
		if len(cfgs) == 0 {
			// Vacuous compliance is no compliance.
			none := fmt.Sprintf("image index %s lists no image a runtime could run, so there is no config to check", desc.Digest)
			nonRoot, secrets = []string{none}, []string{none}
		}
		for _, pc := range cfgs {
			prefix := ""
			if len(cfgs) > 1 {
				prefix = pc.platform + ": "
			}
			if p := compliance.NonRootUser(pc.cfg); p != "" {
				nonRoot = append(nonRoot, prefix+p)
			}
			for _, s := range compliance.Secrets(pc.cfg) {
				secrets = append(secrets, prefix+s)
			}
		}
		if c.NonRootUser {
			out = append(out, result("nonRootUser", nonRoot, "runs as a non-root user", CodeComplianceFailed))
		}
		if c.NoSecretsInEnv {
			out = append(out, result("noSecretsInEnv", secrets, "no credentials found in env, labels or history", CodeComplianceFailed))
		}
	}
	if len(c.AllowedBaseImages) > 0 {
		preds, why := trustedPredicates(rule, statement.SLSAProvenanceV1, cands, now)
		var problems []string
		code := CodeComplianceFailed
		switch bases := compliance.BaseImages(preds); {
		case len(preds) == 0:
			problems, code = []string{"no trusted SLSA provenance to read base images from: " + why}, CodeNotSigned
		case len(bases) == 0:
			problems = []string{"the provenance lists no image dependencies (resolvedDependencies)"}
		default:
			for _, b := range compliance.AllowedBase(bases, c.AllowedBaseImages) {
				problems = append(problems, fmt.Sprintf("base image %s matches none of %v", b, c.AllowedBaseImages))
			}
		}
		out = append(out, result("allowedBaseImages", problems, "every base image is allowed", code))
	}
	if c.MaxSeverity != "" {
		preds, why := trustedPredicates(rule, statement.CosignVuln, cands, now)
		var problems []string
		code := CodeComplianceFailed
		if len(preds) == 0 {
			problems, code = []string{"no trusted vulnerability attestation: " + why}, CodeNotSigned
		} else {
			anys := make([]any, len(preds))
			for i, p := range preds {
				anys[i] = p
			}
			over, err := compliance.OverSeverity(anys, c.MaxSeverity)
			if err != nil {
				problems = []string{err.Error()}
			}
			if len(over) > 0 {
				problems = append(problems, fmt.Sprintf("%d vulnerabilities above %s: %s", len(over), c.MaxSeverity, strings.Join(over, ", ")))
			}
		}
		out = append(out, result("maxSeverity", problems, "nothing above "+c.MaxSeverity, code))
	}
	return out, nil
}

// trustedPredicates returns the predicates of valid attestations of type typ
// by the keys compliance trusts for it, or why there are none.
func trustedPredicates(rule *policy.Rule, typ string, cands []candidate, now time.Time) ([]map[string]any, string) {
	keys := rule.Compliance.Keys
	if len(keys) == 0 {
		for _, a := range rule.Attestations {
			if a.Type == typ {
				keys = append(keys, a.Keys...)
			}
		}
	}
	var out []map[string]any
	why := fmt.Sprintf("none of type %s signed by %v", typ, keys)
	allowed := map[string]bool{}
	for _, k := range keys {
		allowed[k] = true
	}
	for _, c := range cands {
		if c.err == nil {
			c, _ = c.forSigner(allowed)
		}
		if c.err != nil || c.predicateType != typ || c.key == nil || !allowed[c.key.Name] {
			continue
		}
		if err := c.key.CheckAt(c.signedAt); err != nil {
			why = oneLine(err)
			continue
		}
		if p := c.statement.PredicateObject(); p != nil {
			out = append(out, p)
		}
	}
	return out, why
}

type platformConfig struct {
	platform string
	cfg      *v1.ConfigFile
}

// configs fetches the config of an image, or of every child of an index
// that a runtime could run (storage.RunnableChildren): a child the index
// lists without a platform, or inside a nested index, runs all the same.
func configs(ctx context.Context, repo storage.Reader, desc v1.Descriptor) ([]platformConfig, error) {
	children, err := storage.RunnableChildren(ctx, repo, desc)
	if err != nil {
		return nil, err
	}
	if len(children) == 0 {
		raw, mt, err := repo.Manifest(ctx, "", desc.Digest)
		if err != nil {
			return nil, err
		}
		if mt == types.OCIImageIndex || mt == types.DockerManifestList {
			return nil, nil // no image in it to check: the caller says so
		}
		cfg, err := configOf(ctx, repo, raw)
		if err != nil {
			return nil, err
		}
		return []platformConfig{{platform: "image", cfg: cfg}}, nil
	}
	out := make([]platformConfig, len(children))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, c := range children {
		g.Go(func() error {
			raw, _, err := repo.Manifest(gctx, "", c.Descriptor.Digest)
			if err != nil {
				return err
			}
			cfg, err := configOf(gctx, repo, raw)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Label(), err)
			}
			out[i] = platformConfig{platform: c.Label(), cfg: cfg}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b platformConfig) int { return strings.Compare(a.platform, b.platform) })
	return out, nil
}

func configOf(ctx context.Context, repo storage.Reader, manifest []byte) (*v1.ConfigFile, error) {
	var m v1.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, errkind.Untrustedf("image manifest: %w", err)
	}
	b, err := repo.Blob(ctx, m.Config, maxConfigBytes)
	if err != nil {
		return nil, err
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, errkind.Untrustedf("image config %s: %w", m.Config.Digest, err)
	}
	return &cfg, nil
}
