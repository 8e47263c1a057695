package e2e

// Attestation review rows: statements a trusted signer produced that must
// still not satisfy an attestation requirement.

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/statement"
)

// orgYAML trusts every workflow of the acme organisation, on any
// repository: the policy narrows by source only in the attestation rule.
const orgYAML = `  - name: org
    issuer: ` + ghIssuer + `
    subjectGlob: https://github.com/acme/**
    trustRoots: [ci]
`

// workflowProvenance is GitHub-workflow SLSA v1 provenance claiming repo
// at ref as the build's source.
func workflowProvenance(repo, ref string) map[string]any {
	return map[string]any{
		"buildDefinition": map[string]any{
			"buildType":          statement.GitHubBuildType,
			"externalParameters": map[string]any{"workflow": map[string]any{"repository": repo, "ref": ref, "path": ".github/workflows/release.yml"}},
		},
		"runDetails": map[string]any{"builder": map[string]any{"id": "https://github.com/acme/sandbox/.github/workflows/release.yml@" + ref}},
	}
}

const workflowProvenanceJSON = `{"buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1", "externalParameters": {"workflow": {"repository": "https://github.com/acme/app", "ref": "refs/heads/main", "path": ".github/workflows/release.yml"}}}, "runDetails": {"builder": {"id": "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"}}}`

func sandboxCert(repo, ref string) fakesigstore.Identity {
	return workflowCert("https://github.com/acme/sandbox/.github/workflows/release.yml@"+ref, repo, ref)
}

// workflowCert is the certificate Fulcio issues a GitHub workflow run
// (not a reusable one) of repo at ref.
func workflowCert(workflow, repo, ref string) fakesigstore.Identity {
	return fakesigstore.Identity{Subject: workflow, Issuer: ghIssuer,
		Extensions: certificate.Extensions{SourceRepositoryURI: repo, SourceRepositoryRef: ref, RunnerEnvironment: "github-hosted",
			BuildSignerURI: workflow, BuildConfigURI: workflow}}
}

// appReleaseWorkflow is acme/app's release workflow on main, as GitHub
// spells it in builder ids and Fulcio in certificates.
const appReleaseWorkflow = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"

const appBuilderRule = "    attestations:\n      - type: " + slsaV1 + "\n        keys: [org]\n        builderId: " + appReleaseWorkflow + "\n"

// builderProvenance is workflowProvenance of acme/sandbox on main naming
// builder as its builder id.
func builderProvenance(builder string) map[string]any {
	p := workflowProvenance("https://github.com/acme/sandbox", "refs/heads/main")
	p["runDetails"] = map[string]any{"builder": map[string]any{"id": builder}}
	return p
}

const appSourceRule = "    attestations:\n      - type: " + slsaV1 + "\n        keys: [org]\n        sourceRepository: github.com/acme/app\n        sourceRef: refs/heads/main\n"

func init() {
	addAttacks(
		attack{
			name:   "provenance signed by the release signing key where the rule trusts only the CI key",
			guards: "an attestation counts only by the keys its own rule names: a key the policy trusts for image signatures does not vouch for provenance",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				s.trusted()
				s.key("ci", "ecdsa-p256")
				s.write("prov.json", workflowProvenanceJSON)
				s.must("sign", "--key", "k.key", s.at(d))
				s.must("attest", "predicate", "--key", "k.key", "--type", slsaV1, "--predicate", "prov.json", s.at(d))
				pol := s.write("trust.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\n  - name: ci\n    publicKey: ci.pub\npolicies:\n  - name: p\n    scopes: [\""+s.host+"/**\"]\n"+
					"    signatures: {keys: [k]}\n    attestations:\n      - type: "+slsaV1+"\n        keys: [ci]\n")
				return []string{"verify", "--policy", pol, s.at(d)}
			},
			wantCode: 1,
			want:     []string{"FAIL", "is not one of this rule's keys", "[key-not-in-rule]"},
			notWant:  []string{"PASS"},
		},
		attack{
			name: "BuildKit provenance naming the release workflow as its builder, signed by attest buildkit",
			guards: "builderId is the CI's word only: BuildKit writes builder.id from the build's own builder-id attribute, so its provenance " +
				"as signed unchanged by attest buildkit never satisfies builderId",
			run: func(t *testing.T, s *scene) []string {
				_, platform := s.buildKitIndex("build", func(p v1.Hash) []bkStatement {
					return []bkStatement{{bkProvenanceV1, buildKitV1Predicate(builderRelease, ""), []map[string]string{sha256Of(p)}}}
				})
				s.trusted()
				if r := s.run("attest", "buildkit", "--key", "k.key", s.ref("build")); r.Code != 0 {
					t.Fatalf("attest buildkit: exit %d\n%s", r.Code, r.Stderr)
				}
				return []string{"verify", "--policy", s.provenancePolicy("        builderId: " + builderRelease + "\n"), s.at(platform)}
			},
			wantCode: 1,
			want:     []string{"FAIL", `condition "builderId: ` + builderRelease + `" failed`},
			notWant:  []string{"PASS"},
		},
		attack{
			name: "keyless provenance from another repository's workflow claiming the app as its source",
			guards: "a certificate vouches only for its own workflow, which writes the predicate itself: provenance whose externalParameters.workflow " +
				"names another repository than the certificate's source claim satisfies no sourceRepository",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				st := s.stmt(d, slsaV1, workflowProvenance("https://github.com/acme/app", "refs/heads/main"), nil)
				attachReferrerAs(t, s.host, s.repo, d, slsaV1, fs.DSSEBundle(t, st, sandboxCert("https://github.com/acme/sandbox", "refs/heads/main")))
				return []string{"verify", "--policy", s.idPolicy("", orgYAML, appSourceRule), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "condition-failed", "is not the signing certificate's source repository"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless provenance from a branch workflow claiming main as its ref",
			guards: "the predicate's source ref must be the certificate's: a workflow run on a feature branch cannot claim refs/heads/main",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				st := s.stmt(d, slsaV1, workflowProvenance("https://github.com/acme/app", "refs/heads/main"), nil)
				attachReferrerAs(t, s.host, s.repo, d, slsaV1, fs.DSSEBundle(t, st, sandboxCert("https://github.com/acme/app", "refs/heads/evil")))
				return []string{"verify", "--policy", s.idPolicy("", orgYAML, appSourceRule), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "condition-failed", "is not the signing certificate's source ref"},
			notWant:  []string{"PASS"},
		},
		attack{
			name: "keyless provenance from another repository's workflow naming the app's release workflow as its builder",
			guards: "a certificate's workflow writes builder.id itself: a builder id naming a GitHub workflow satisfies builderId only when it is " +
				"the certificate's signing workflow or the workflow its build ran",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				st := s.stmt(d, slsaV1, builderProvenance(appReleaseWorkflow), nil)
				attachReferrerAs(t, s.host, s.repo, d, slsaV1, fs.DSSEBundle(t, st, sandboxCert("https://github.com/acme/sandbox", "refs/heads/main")))
				return []string{"verify", "--policy", s.idPolicy("", orgYAML, appBuilderRule), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "condition-failed", `condition "builderId: ` + appReleaseWorkflow + `" failed`, "signer.buildSignerURI"},
			notWant:  []string{"PASS"},
		},
	)
}

// The same keyless provenance counts when the certificate names the
// source the predicate claims: the rows above fail for the mismatch alone.
func TestAttestReviewKeylessSourceControl(t *testing.T) {
	e := newEnv(t)
	host := testenv.Registry(t, true).Addr
	s := &scene{env: e, host: host, kind: "referrers-api", repo: "attest-review/control"}
	fs := s.sigstore()
	d := s.image("v1")
	st := s.stmt(d, slsaV1, workflowProvenance("https://github.com/acme/app", "refs/heads/main"), nil)
	attachReferrerAs(t, s.host, s.repo, d, slsaV1, fs.DSSEBundle(t, st, sandboxCert("https://github.com/acme/app", "refs/heads/main")))
	if r := e.run("verify", "--policy", s.idPolicy("", orgYAML, appSourceRule), s.ref("v1")); r.Code != 0 {
		t.Fatalf("matching certificate and predicate: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// The release workflow's own certificate, naming itself as the builder.
	d2 := s.image("v2")
	st2 := s.stmt(d2, slsaV1, builderProvenance(appReleaseWorkflow), nil)
	attachReferrerAs(t, s.host, s.repo, d2, slsaV1, fs.DSSEBundle(t, st2, workflowCert(appReleaseWorkflow, "https://github.com/acme/app", "refs/heads/main")))
	if r := e.run("verify", "--policy", s.idPolicy("", orgYAML, appBuilderRule), s.ref("v2")); r.Code != 0 {
		t.Fatalf("the release workflow's certificate naming itself as builder: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
