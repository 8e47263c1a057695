package e2e

// Review of mirrors, --as and scope matching (docs/policy.md#mirrors,
// #oci-layouts): an attacker who can push to a mirror, write a layout or
// name the image a deploy verifies tries to have it judged by a rule it
// should not be — a mirror host's own audit rule, a layout's oci: rule —
// or to have signatures made for one repository bind a tag in another.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/admission"
	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// mirrorRule is one rule of a mirror review policy: one scope, one
// signature by k, tag-bound when bindTag.
type mirrorRule struct {
	name, mode, scope string
	bindTag           bool
}

// mirrorReviewPolicy writes a policy trusting the scene's key k, with
// mirrors (YAML list items, "" for none) and rules.
func mirrorReviewPolicy(s *scene, mirrors string, rules ...mirrorRule) string {
	s.t.Helper()
	s.trusted()
	var b strings.Builder
	b.WriteString("version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\n")
	if mirrors != "" {
		b.WriteString("mirrors:\n" + mirrors)
	}
	b.WriteString("policies:\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "  - name: %s\n    mode: %s\n    scopes: [%q]\n    signatures:\n      keys: [k]\n      bindTag: %t\n", r.name, r.mode, r.scope, r.bindTag)
	}
	return s.write("trust.yaml", b.String())
}

// layoutName is the oci.invalid repository name of the layout directory
// dir with its host spelled host.
func layoutName(t *testing.T, dir, host string) string {
	t.Helper()
	n, err := refname.LayoutRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	return host + strings.TrimPrefix(n, refname.LayoutHost)
}

func init() {
	addAttacks(
		attack{
			name:   "mirror review: --as spelled as a layout's oci.invalid name",
			guards: "only a layout is judged by oci: scopes: an --as repository spelled as a layout's name in another case, with a trailing dot or :443 is refused (exit 2), not judged by an audit oci:/** rule instead of the enforce ** one",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1") // unsigned
				dir := s.path("layout")
				s.must("copy", s.ref("v1"), "oci:"+dir)
				pol := mirrorReviewPolicy(s, "",
					mirrorRule{name: "layouts", mode: "audit", scope: "oci:/**"},
					mirrorRule{name: "all", mode: "enforce", scope: "**"})
				return []string{"verify", "--policy", pol, "--as", layoutName(t, "/srv/prod", "OCI.INVALID.:443"), "oci:" + dir + ":v1"}
			},
			wantCode: 2,
			want:     []string{"reserved for OCI layouts"},
			notWant:  []string{"PASS", "audit mode", "policy: layouts"},
		},
		attack{
			name:   "mirror review: registry image named with a layout host spelling",
			guards: "a registry reference whose host canonicalises to oci.invalid (OCI.invalid., oci.invalid:443) is refused before any rule is chosen, not judged by the policy's oci: scopes",
			run: func(t *testing.T, s *scene) []string {
				pol := mirrorReviewPolicy(s, "",
					mirrorRule{name: "layouts", mode: "audit", scope: "oci:/**"},
					mirrorRule{name: "all", mode: "enforce", scope: "**"})
				return []string{"verify", "--policy", pol, layoutName(t, "/srv/prod", "Oci.Invalid.") + ":v1"}
			},
			offline:  true,
			wantCode: 2,
			want:     []string{"reserved for OCI layouts"},
			notWant:  []string{"audit mode", "policy: layouts"},
		},
		attack{
			name:   "mirror review: mirror mapped onto a layout's name",
			guards: "a mapping whose canonical side is oci.invalid is a policy error (exit 2): registry images pushed under the mirror prefix are never judged by oci: scopes",
			run: func(t *testing.T, s *scene) []string {
				// The mirror's copy is named so that, mapped, it reads as the
				// layout /srv/prod, which only an audit rule covers.
				path := strings.TrimPrefix(layoutName(t, "/srv/prod", ""), "/")
				testenv.PushImage(t, s.host, s.repo+"/"+path, "v1") // unsigned
				pol := mirrorReviewPolicy(s, "  - mirror: "+s.host+"/"+s.repo+"\n    canonical: oci.invalid\n",
					mirrorRule{name: "layouts", mode: "audit", scope: "oci:/srv/**"},
					mirrorRule{name: "all", mode: "enforce", scope: "**"})
				return []string{"verify", "--policy", pol, s.host + "/" + s.repo + "/" + path + ":v1"}
			},
			wantCode: 2,
			want:     []string{"mirrors[0].canonical", "reserved for OCI layouts"},
			notWant:  []string{"PASS", "audit mode"},
		},
		attack{
			name:   "mirror review: mirror prefix on a layout's name",
			guards: "a mirror prefix on oci.invalid never applies (layouts are not mapped): policy check refuses it (exit 2) rather than let the author believe layouts are judged by the canonical rule",
			run: func(t *testing.T, s *scene) []string {
				pol := mirrorReviewPolicy(s, "  - mirror: oci.invalid\n    canonical: ghcr.io/acme\n",
					mirrorRule{name: "acme", mode: "enforce", scope: "ghcr.io/acme/**"})
				return []string{"policy", "check", pol}
			},
			offline:  true,
			wantCode: 2,
			want:     []string{"mirrors[0].mirror", "reserved for OCI layouts"},
		},
		attack{
			name:   "mirror review: chain through a Docker Hub name read under library",
			guards: "a canonical docker.io/NAME maps its prefix to docker.io/library/NAME: inside another mapping's mirror prefix docker.io/library it is a chain, refused (exit 2) like any other",
			run: func(t *testing.T, s *scene) []string {
				pol := mirrorReviewPolicy(s, "  - mirror: mirror.corp/nginx\n    canonical: docker.io/nginx\n  - mirror: docker.io/library\n    canonical: ghcr.io/acme/hub\n",
					mirrorRule{name: "hub", mode: "audit", scope: "docker.io/**"},
					mirrorRule{name: "acme", mode: "enforce", scope: "ghcr.io/acme/**"})
				return []string{"policy", "check", pol}
			},
			offline:  true,
			wantCode: 2,
			want:     []string{"mirrors[0].canonical", "as an image name it reads index.docker.io/library/nginx", "do not chain"},
		},
		attack{
			name:   "mirror review: the mirror prefix's own repository read as an official image",
			guards: "a mirror prefix mapped to the Docker Hub namespace docker.io/acme maps its own repository to docker.io/acme, which as an image name is the official docker.io/library/acme: refused (exit 2), not judged by the official images' audit rule",
			run: func(t *testing.T, s *scene) []string {
				testenv.PushImage(t, s.host, s.repo+"/hub", "v1") // unsigned, at the prefix itself
				pol := mirrorReviewPolicy(s, "  - mirror: "+s.host+"/"+s.repo+"/hub\n    canonical: docker.io/acme\n",
					mirrorRule{name: "official", mode: "audit", scope: "docker.io/library/**"},
					mirrorRule{name: "acme", mode: "enforce", scope: "docker.io/acme/**"})
				return []string{"verify", "--policy", pol, s.host + "/" + s.repo + "/hub:v1"}
			},
			wantCode: 2,
			want:     []string{"outside the canonical prefix", "docker.io/library/NAME"},
			notWant:  []string{"PASS", "audit mode", "policy: official"},
		},
		attack{
			name:   "mirror review: image named in another spelling of the mirror host",
			guards: "a mirror prefix written localhost:PORT covers the copy named 127.0.0.1:PORT: the canonical enforce rule judges it, not the mirror host's own audit rule",
			run: func(t *testing.T, s *scene) []string {
				testenv.PushImage(t, s.host, s.repo+"/m/app", "v1") // unsigned
				port := s.host[strings.LastIndex(s.host, ":"):]
				pol := mirrorReviewPolicy(s, "  - mirror: localhost"+port+"/"+s.repo+"/m\n    canonical: ghcr.io/acme\n",
					mirrorRule{name: "acme", mode: "enforce", scope: "ghcr.io/acme/**"},
					mirrorRule{name: "mirror-own", mode: "audit", scope: s.host + "/**"})
				return []string{"verify", "--policy", pol, s.host + "/" + s.repo + "/m/app:v1"}
			},
			wantCode: 1,
			want:     []string{"FAIL", "policy: acme (enforce)", "mirror of: ghcr.io/acme/app (mirrors: localhost"},
			notWant:  []string{"audit mode", "mirror-own"},
		},
		attack{
			name:   "mirror review: --as a mirror repository",
			guards: "a layout --as a repository under a mirror prefix is judged by the canonical name's rule (mirrors apply to --as), not the mirror host's own audit rule",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1") // unsigned
				dir := s.path("layout")
				s.must("copy", s.ref("v1"), "oci:"+dir)
				pol := mirrorReviewPolicy(s, "  - mirror: mirror.corp/acme\n    canonical: ghcr.io/acme\n",
					mirrorRule{name: "acme", mode: "enforce", scope: "ghcr.io/acme/**"},
					mirrorRule{name: "mirror-own", mode: "audit", scope: "mirror.corp/**"},
					mirrorRule{name: "layouts", mode: "audit", scope: "oci:/**"})
				return []string{"verify", "--policy", pol, "--as", "MIRROR.corp.:443/acme/app", "oci:" + dir + ":v1"}
			},
			wantCode: 1,
			want:     []string{"FAIL", "policy: acme (enforce)", "mirror of: ghcr.io/acme/app"},
			notWant:  []string{"audit mode", "mirror-own", "policy: layouts"},
		},
		attack{
			name:   "mirror review: signature made for the mirror's copy binds no tag at the origin",
			guards: "a signature made in a mirror (naming the copy's repository) never binds a tag in the canonical repository: the origin's tag fails [tag-not-bound]",
			run: func(t *testing.T, s *scene) []string {
				mirror, origin := s.repo+"/m", s.repo+"/c"
				testenv.PushImage(t, s.host, origin+"/app", "1.0")
				signCopy(t, s.path(s.trusted()), s.host, origin+"/app", "1.0", s.host+"/"+mirror+"/app", "1.0")
				pol := mirrorReviewPolicy(s, "  - mirror: "+s.host+"/"+mirror+"\n    canonical: "+s.host+"/"+origin+"\n",
					mirrorRule{name: "origin", mode: "enforce", scope: s.host + "/" + origin + "/**", bindTag: true})
				return []string{"verify", "--policy", pol, s.host + "/" + origin + "/app:1.0"}
			},
			wantCode: 1,
			want:     []string{"FAIL", "policy: origin", "[tag-not-bound]"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "mirror review: signature made for a sibling mirror binds no tag in this copy",
			guards: "two mirrors of one origin are two repositories: a signature made for one copy's tag does not bind the tag in the other copy",
			run: func(t *testing.T, s *scene) []string {
				m1, m2, origin := s.repo+"/m1", s.repo+"/m2", s.repo+"/c"
				testenv.PushImage(t, s.host, m1+"/app", "1.0")
				signCopy(t, s.path(s.trusted()), s.host, m1+"/app", "1.0", s.host+"/"+m2+"/app", "1.0")
				pol := mirrorReviewPolicy(s, "  - mirror: "+s.host+"/"+m1+"\n    canonical: "+s.host+"/"+origin+"\n  - mirror: "+s.host+"/"+m2+"\n    canonical: "+s.host+"/"+origin+"\n",
					mirrorRule{name: "origin", mode: "enforce", scope: s.host + "/" + origin + "/**", bindTag: true})
				return []string{"verify", "--policy", pol, s.host + "/" + m1 + "/app:1.0"}
			},
			wantCode: 1,
			want:     []string{"FAIL", "policy: origin", "[tag-not-bound]", "mirror of: "},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "mirror review: tag moved in the mirror to another digest signed at the origin",
			guards: "bindTag holds in a mirror's copy: a tag moved there to another image the origin signed for another tag fails [tag-moved]",
			run: func(t *testing.T, s *scene) []string {
				m := s.repo + "/m"
				testenv.PushImage(t, s.host, m+"/app", "1.0")
				testenv.PushImage(t, s.host, m+"/app", "2.0")
				key := s.path(s.trusted())
				signCopy(t, key, s.host, m+"/app", "1.0", "ghcr.io/acme/app", "1.0")
				signCopy(t, key, s.host, m+"/app", "2.0", "ghcr.io/acme/app", "2.0")
				retag(t, s.host, m+"/app", "2.0", "1.0") // 1.0 now names the image signed for 2.0
				pol := mirrorReviewPolicy(s, "  - mirror: "+s.host+"/"+m+"\n    canonical: ghcr.io/acme\n",
					mirrorRule{name: "acme", mode: "enforce", scope: "ghcr.io/acme/**", bindTag: true})
				return []string{"verify", "--policy", pol, s.host + "/" + m + "/app:1.0"}
			},
			wantCode: 1,
			want:     []string{"FAIL", "policy: acme", "[tag-moved]"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "mirror review: mapping the mirror onto itself in another spelling",
			guards: "a mirror prefix mapped to itself in another host spelling (127.0.0.1 and localhost) is refused (exit 2): it would map nothing and hide the copy's own rule",
			run: func(t *testing.T, s *scene) []string {
				pol := mirrorReviewPolicy(s, "  - mirror: 127.0.0.1:5000/acme\n    canonical: localhost.:5000/acme\n",
					mirrorRule{name: "acme", mode: "enforce", scope: "ghcr.io/acme/**"})
				return []string{"policy", "check", pol}
			},
			offline:  true,
			wantCode: 2,
			want:     []string{"maps a prefix to itself"},
		},
	)
}

// TestMirrorReviewServeLayoutHostSpelling: imgsign serve admits an image
// that fails under an audit rule. Named with a layout's oci.invalid host in
// another spelling, an image was judged by an audit oci:/** rule — and
// admitted — instead of being refused under the enforce ** rule.
func TestMirrorReviewServeLayoutHostSpelling(t *testing.T) {
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	pol := e.write("trust.yaml", `version: 1
keys:
  - {name: k, publicKey: k.pub}
policies:
  - name: layouts
    mode: audit
    scopes: ["oci:/**"]
    signatures: {keys: [k]}
  - name: all
    scopes: ["**"]
    signatures: {keys: [k]}
`)
	s := startServe(t, e, pol)
	image := layoutName(t, "/srv/prod", "OCI.invalid.") + ":v1"
	body, err := json.Marshal(admission.ProviderRequest{APIVersion: "externaldata.gatekeeper.sh/v1beta1", Kind: "ProviderRequest",
		Request: struct {
			Keys []string `json:"keys"`
		}{Keys: []string{image}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.client.Post(s.url+"/externaldata", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pr admission.ProviderResponse
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	if len(pr.Response.Items) != 1 {
		t.Fatalf("items: %+v", pr.Response)
	}
	it := pr.Response.Items[0]
	if it.Error == "" || !strings.Contains(it.Error, "reserved for OCI layouts") {
		t.Errorf("%s admitted (value %+v, error %q): want it refused, its name reserved for layouts", image, it.Value, it.Error)
	}
}
