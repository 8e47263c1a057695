// Package provenance builds SLSA provenance v1 predicates
// (https://slsa.dev/provenance/v1) for container images, from the CI
// environment (GitHub Actions, GitLab CI, or a caller-named builder) and
// BuildKit's own provenance (the buildx metadata file, or the attestation
// manifests BuildKit stores in an image index), and reads those BuildKit
// attestations so that they can be signed unchanged.
//
// Entry points:
//
//   - Generate combines the facts into one predicate, trimmed to mode=max or
//     mode=min with the meaning BuildKit gives the modes.
//   - FromIndex lists the in-toto statements BuildKit attached to an index;
//     ProvenanceFor picks a platform's provenance among them.
//   - ConvertV02 converts a SLSA v0.2 predicate to v1 the way BuildKit does.
//   - GitHubTokenSource fetches the GitHub Actions OIDC token whose claims,
//     when given, replace the environment as the source of the CI facts.
//
// Every predicate records in internalParameters where its facts came from
// ("imgsign.dev/factsSource" and "imgsign.dev/factSources"): environment
// variables, unverified or verified OIDC claims, the caller, or BuildKit.
//
// README.md in this directory is the reference: which field each mode
// includes, the build types, how CI facts and BuildKit's provenance are
// merged, and how SLSA v0.2 maps to v1.
package provenance
