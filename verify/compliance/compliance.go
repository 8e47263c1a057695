// Package compliance runs the pre-deploy checks container platforms apply
// beyond signatures: the image runs as a non-root user, carries no
// credentials in its config, was built FROM allowed base images (per its
// verified provenance) and has no vulnerability above a severity (per its
// verified vulnerability attestation). Each check returns findings a person
// can act on; secret values are never included in them.
package compliance

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/glob"
	"github.com/imgsign/imgsign/statement/vuln"
)

// NonRootUser reports why cfg would run as root, or "" if it does not.
func NonRootUser(cfg *v1.ConfigFile) string {
	u := strings.TrimSpace(cfg.Config.User)
	user, _, _ := strings.Cut(u, ":")
	// runc (moby/sys/user) reads a numeric USER with strconv.Atoi, so
	// "00", "+0" and "-0" are uid 0 as much as "0" is. A name other than
	// root that /etc/passwd maps to uid 0 is not caught: imgsign does not
	// read the image's files.
	uid, err := strconv.Atoi(user)
	switch {
	case user == "":
		return "the image sets no USER, so it runs as root: add `USER 65532` (or a named non-root user) to the Dockerfile"
	case user == "root" || err == nil && uid == 0:
		return fmt.Sprintf("the image runs as %q (root): set USER to a non-root user", u)
	}
	return ""
}

// secretValue matches credential formats with a distinctive shape. These
// and secretName are compiled on first use, not at init, where every start
// of imgsign would pay for them.
var secretValue = sync.OnceValue(func() []secretPattern {
	return []secretPattern{
		{"an AWS access key id", regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
		{"a private key", regexp.MustCompile(`-----BEGIN ([A-Z]+ )?PRIVATE KEY-----`)},
		{"a GitHub token", regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b`)},
		{"a GitLab token", regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{20,}\b`)},
		{"a Slack token", regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}\b`)},
		{"a Google API key", regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}\b`)},
		{"a Stripe live key", regexp.MustCompile(`\b[sr]k_live_[0-9a-zA-Z]{20,}\b`)},
		{"a password in a URL", regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]{3,}@`)},
	}
})

type secretPattern struct {
	what string
	re   *regexp.Regexp
}

// secretName matches variable names that hold credentials by convention.
// GPG_KEY is a public fingerprint in many official images, so *_KEY alone
// is not enough.
var secretName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(^|_)(PASSWORD|PASSWD|SECRET|SECRET_KEY|TOKEN|AUTH_TOKEN|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CLIENT_SECRET)$`)
})

// Secrets lists where cfg appears to carry credentials: env, labels and the
// build history's commands. Findings name the place, never the value.
func Secrets(cfg *v1.ConfigFile) []string {
	var out []string
	check := func(where, name, value string) {
		if name != "" && value != "" && secretName().MatchString(name) && !placeholder(value) {
			out = append(out, fmt.Sprintf("%s %s has a value and its name says it is a credential", where, name))
			return
		}
		for _, s := range secretValue() {
			if s.re.MatchString(value) {
				out = append(out, fmt.Sprintf("%s %s contains what looks like %s", where, name, s.what))
				return
			}
		}
	}
	for _, e := range cfg.Config.Env {
		k, v, _ := strings.Cut(e, "=")
		check("env", k, v)
	}
	labels := make([]string, 0, len(cfg.Config.Labels))
	for k := range cfg.Config.Labels {
		labels = append(labels, k)
	}
	sort.Strings(labels)
	for _, k := range labels {
		check("label", k, cfg.Config.Labels[k])
	}
	for i, h := range cfg.History {
		check("history", fmt.Sprintf("step %d", i+1), h.CreatedBy)
	}
	return out
}

// placeholder values are not secrets: empty-ish, file paths, references.
func placeholder(v string) bool {
	v = strings.TrimSpace(v)
	return len(v) < 6 || strings.HasPrefix(v, "/") || strings.HasPrefix(v, "$") ||
		strings.EqualFold(v, "changeme") || strings.Contains(v, "_FILE")
}

// BaseImages returns the image dependencies of SLSA v1 provenance
// predicates, as registry/repository[:tag][@digest] references.
func BaseImages(provenances []map[string]any) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range provenances {
		bd, _ := p["buildDefinition"].(map[string]any)
		deps, _ := bd["resolvedDependencies"].([]any)
		for _, d := range deps {
			dm, _ := d.(map[string]any)
			uri, _ := dm["uri"].(string)
			ref := imageRef(uri)
			if ref == "" || seen[ref] {
				continue
			}
			seen[ref] = true
			out = append(out, ref)
		}
	}
	sort.Strings(out)
	return out
}

// imageRef turns BuildKit's image dependency URIs into a reference:
// pkg:docker/[ns/]name@tag?repository_url=… (purl) or docker-image://ref.
// BuildKit's frontend image (docker/dockerfile) is a build tool, not a base.
func imageRef(uri string) string {
	if r, ok := strings.CutPrefix(uri, "docker-image://"); ok {
		return normalize(r)
	}
	rest, ok := strings.CutPrefix(uri, "pkg:docker/")
	if !ok {
		if rest, ok = strings.CutPrefix(uri, "pkg:oci/"); !ok {
			return ""
		}
	}
	rest, query, _ := strings.Cut(rest, "?")
	path, version, _ := strings.Cut(rest, "@")
	path, _ = url.PathUnescape(path)
	version, _ = url.PathUnescape(version)
	if path == "docker/dockerfile" || strings.HasPrefix(path, "docker/dockerfile-") {
		return ""
	}
	q, _ := url.ParseQuery(query)
	ref := path
	if repo := q.Get("repository_url"); repo != "" {
		ref = repo
	}
	if version != "" {
		if strings.HasPrefix(version, "sha256:") {
			ref += "@" + version
		} else {
			ref += ":" + version
		}
	}
	return normalize(ref)
}

// normalize spells Docker Hub references in full: alpine:3 → docker.io/library/alpine:3.
func normalize(ref string) string {
	first, rest, found := strings.Cut(ref, "/")
	if !found {
		return "docker.io/library/" + ref
	}
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "docker.io/" + ref
	}
	if first == "index.docker.io" || first == "registry-1.docker.io" {
		return "docker.io/" + rest
	}
	return ref
}

// AllowedBase reports the base images that match none of the globs. A glob
// matches the repository or the whole reference; `*` stays within a path
// segment and `**` crosses them.
func AllowedBase(images, globs []string) []string {
	var bad []string
	for _, img := range images {
		repo := img
		if i := strings.IndexAny(repo, "@"); i >= 0 {
			repo = repo[:i]
		}
		if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			repo = repo[:i]
		}
		ok := false
		for _, g := range globs {
			re := glob.Compile(normalize(g))
			if re.MatchString(repo) || re.MatchString(img) {
				ok = true
				break
			}
		}
		if !ok {
			bad = append(bad, img)
		}
	}
	return bad
}

// OverSeverity lists the findings of vulnerability predicates that are
// more severe than max.
func OverSeverity(vulnPredicates []any, max string) ([]string, error) {
	limit, _ := vuln.SeverityRank(max)
	var out []string
	seen := map[string]bool{}
	for _, p := range vulnPredicates {
		fs, err := vuln.Findings(p)
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			if r, _ := vuln.SeverityRank(f.Severity); r > limit && !seen[f.ID] {
				seen[f.ID] = true
				out = append(out, fmt.Sprintf("%s (%s)", f.ID, f.Severity))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
