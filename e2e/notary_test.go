package e2e

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/testing/testpki"
)

// Notary Project signatures (docs/policy.md, "Notary Project signers
// (x509)") end to end: the notation CLI v1.3.2 and imgsign sign each
// other's signatures both ways, with and without RFC 3161 timestamps, in
// both envelope formats and on both kinds of registry; imgsign verify
// rejects what notation's own rules reject. Certificates come from
// testpki, made when the test runs, and the timestamps from the local TSA.

// forT is e for subtest t (same directory and binary).
func (e *env) forT(t *testing.T) *env { return &env{t: t, dir: e.dir, bin: e.bin} }

// envelope formats: notation's --signature-format and imgsign's, and the
// format the verify report names.
var notaryFormats = []struct{ flag, report string }{
	{"jws", formatNotaryJWS},
	{"cose", formatNotaryCOSE},
}

// notation signs with a testpki certificate (JWS and COSE, with and
// without a timestamp, ECDSA P-256 and RSA-3072 leaves); imgsign verify
// accepts it under a policy trusting the PKI's root and the leaf's subject
// (and the TSA's root when timestamped), as notation verify does under the
// same trust. A verified timestamp is the signature's trusted time.
func TestNotaryNotationSignedImgsignVerifies(t *testing.T) {
	tsaURL, tsaChain := testenv.TSA(t)
	tsaURL = notationTSA(t, tsaURL, tsaChain)
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			n := testenv.Notation(t)
			pki := testpki.New(t)
			root := pki.RootPEM(t, e.dir)
			tsaRoot := tsaRootOf(t, tsaChain, e.dir)
			// Two leaves with the same subject: one identity, two keys.
			leaf := leafNamed(t, pki, "notation signer", testpki.LeafOptions{})
			leaf.NotationKey(t, n.Config, "release")
			leafNamed(t, pki, "notation signer", testpki.LeafOptions{RSA: true}).NotationKey(t, n.Config, "release-rsa")
			for _, f := range notaryFormats {
				for _, v := range []struct {
					suffix, key string
					stamped     bool
				}{{"", "release", false}, {"-timestamped", "release", true}, {"-rsa", "release-rsa", false}, {"-rsa-timestamped", "release-rsa", true}} {
					name, stamped := f.flag+v.suffix, v.stamped
					t.Run(name, func(t *testing.T) {
						e := e.forT(t)
						repo := "notation/" + name
						ref := digestRef(host, repo, testenv.PushImage(t, host, repo, "v1"))
						o := notationSignOpts{key: v.key, format: f.flag, referrersAPI: reg.name == "referrers-api"}
						policyTSA := ""
						if stamped {
							o.tsaURL, o.tsaRoot, policyTSA = tsaURL, tsaRoot, tsaRoot
						}
						notationSign(t, n, ref, o)
						// notation itself accepts it under the same trust.
						notationTrust(t, n, root, policyTSA, leaf.Identity())
						n.Run(t, "verify", "--insecure-registry", ref)
						rep, r := notaryVerify(e, simpleNotaryPolicy(e, host, root, policyTSA, leaf.Identity(), ""), ref)
						rep.mustPass(t, r, f.report)
						a := rep.signatures(t).Accepted[0]
						if a.KeyName != "release" {
							t.Errorf("accepted signature counted for %q, want release", a.KeyName)
						}
						a.mustBeTimed(t, stamped)
					})
				}
			}
		})
	}
}

// imgsign sign --format notation with a testpki key and chain (JWS by
// default, COSE, with and without --tsa-url and --tsa-root-cert, ECDSA and
// RSA): notation verify accepts the signature under a trust policy
// trusting the PKI root (and the TSA root), and so does imgsign verify.
func TestNotaryImgsignSignedNotationVerifies(t *testing.T) {
	tsaURL, tsaChain := testenv.TSA(t)
	tsaURL = notationTSA(t, tsaURL, tsaChain)
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			n := testenv.Notation(t)
			pki := testpki.New(t)
			root := pki.RootPEM(t, e.dir)
			tsaRoot := tsaRootOf(t, tsaChain, e.dir)
			// Two leaves with the same subject, ECDSA P-256 and RSA-3072 (which
			// Notary Project signatures sign with RSASSA-PSS).
			leaf := leafNamed(t, pki, "imgsign signer", testpki.LeafOptions{})
			rsaLeaf := leafNamed(t, pki, "imgsign signer", testpki.LeafOptions{RSA: true})
			rsaDir := t.TempDir()
			keys := map[bool][2]string{
				false: {leaf.WriteKey(t, e.dir), leaf.WriteChain(t, e.dir)},
				true:  {rsaLeaf.WriteKey(t, rsaDir), rsaLeaf.WriteChain(t, rsaDir)},
			}
			for _, tc := range []struct {
				name, formatFlag, report, envelopeType string
				stamped, rsa                           bool
			}{
				{"default", "", formatNotaryJWS, "application/jose+json", false, false},
				{"jws", "jws", formatNotaryJWS, "application/jose+json", false, false},
				{"cose", "cose", formatNotaryCOSE, "application/cose", false, false},
				{"default-timestamped", "", formatNotaryJWS, "application/jose+json", true, false},
				{"cose-timestamped", "cose", formatNotaryCOSE, "application/cose", true, false},
				{"rsa", "", formatNotaryJWS, "application/jose+json", false, true},
				{"cose-rsa-timestamped", "cose", formatNotaryCOSE, "application/cose", true, true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e := e.forT(t)
					repo := "imgsign/" + tc.name
					d := testenv.PushImage(t, host, repo, "v1")
					ref := digestRef(host, repo, d)
					key, chain := keys[tc.rsa][0], keys[tc.rsa][1]
					args := []string{"sign", "--format", "notation", "--key", key, "--cert", chain}
					if tc.formatFlag != "" {
						args = append(args, "--signature-format", tc.formatFlag)
					}
					policyTSA := ""
					if tc.stamped {
						// Like notation, imgsign checks the countersignature
						// against the TSA's root when signing.
						args = append(args, "--tsa-url", tsaURL, "--tsa-root-cert", tsaRoot)
						policyTSA = tsaRoot
					}
					e.must(append(args, ref)...)

					// What imgsign pushed is one Notary Project signature
					// manifest whose envelope is of the asked format.
					sigs := notarySignatureManifests(t, host, repo, d)
					if len(sigs) != 1 {
						t.Fatalf("found %d Notary Project signature manifests on the image, want 1", len(sigs))
					}
					for _, raw := range sigs {
						var mf struct {
							Layers []struct {
								MediaType string `json:"mediaType"`
							} `json:"layers"`
						}
						if err := json.Unmarshal(raw, &mf); err != nil {
							t.Fatal(err)
						}
						if len(mf.Layers) != 1 || mf.Layers[0].MediaType != tc.envelopeType {
							t.Errorf("signature manifest layers %+v, want one %s envelope\n%s", mf.Layers, tc.envelopeType, raw)
						}
					}

					notationTrust(t, n, root, policyTSA, leaf.Identity())
					out := n.Run(t, "verify", "--insecure-registry", ref)
					if !strings.Contains(out, "Successfully verified") {
						t.Errorf("notation verify: %s", out)
					}
					rep, r := notaryVerify(e, simpleNotaryPolicy(e, host, root, policyTSA, leaf.Identity(), ""), ref)
					rep.mustPass(t, r, tc.report)
					rep.signatures(t).Accepted[0].mustBeTimed(t, tc.stamped)
				})
			}
		})
	}
}

// What imgsign verify rejects, each with exit 1 and a reason: a chain to
// a CA the policy does not trust, a leaf subject the signer's identities do
// not name, a certificate that has expired (unless a trusted timestamp
// shows it signed while valid: that passes, as the Notary Project
// specifies), a revoked leaf (unless revocation is skipped), a tampered
// envelope, and a signature copied onto another image.
func TestNotaryRejections(t *testing.T) {
	tsaURL, tsaChain := testenv.TSA(t)
	tsaURL = notationTSA(t, tsaURL, tsaChain)
	e := newEnv(t)
	n := testenv.Notation(t)
	tsaRoot := tsaRootOf(t, tsaChain, e.dir)

	pki := testpki.New(t, testpki.WithName("imgsign e2e CA"))
	root := pki.RootPEM(t, e.dir)
	leaf := leafNamed(t, pki, "release signer", testpki.LeafOptions{})
	leaf.NotationKey(t, n.Config, "release")

	// A lookalike PKI: CAs of the same names, other keys, issuing a leaf
	// of the trusted leaf's subject.
	lookalike := testpki.New(t, testpki.WithName("imgsign e2e CA"))
	lookalikeRoot := lookalike.RootPEM(t, t.TempDir())
	leafNamed(t, lookalike, "release signer", testpki.LeafOptions{}).NotationKey(t, n.Config, "lookalike")

	// A PKI of its own for revocation, its leaf revoked before anything
	// fetched a CRL (verifiers cache CRLs until their next update).
	revPKI := testpki.New(t)
	revRoot := revPKI.RootPEM(t, t.TempDir())
	revoked := leafNamed(t, revPKI, "revoked signer", testpki.LeafOptions{CRL: true})
	revPKI.Revoke(revoked.Cert.SerialNumber)
	revoked.NotationKey(t, n.Config, "revoked")
	good := leafNamed(t, revPKI, "good signer", testpki.LeafOptions{CRL: true})
	good.NotationKey(t, n.Config, "good")

	// A certificate valid for a few more seconds: signatures made now, with
	// and without a timestamp, are checked after it has expired (Notary
	// Project chain checks use the real time, so this waits).
	short := leafNamed(t, pki, "short-lived signer", testpki.LeafOptions{NotAfter: time.Now().Add(25 * time.Second)})
	short.NotationKey(t, n.Config, "short")

	hosts := map[string]string{}
	for _, reg := range registries {
		host := reg.start(t)
		hosts[reg.name] = host
		api := reg.name == "referrers-api"
		notationSign(t, n, digestRef(host, "expiring/plain", testenv.PushImage(t, host, "expiring/plain", "v1")),
			notationSignOpts{key: "short", referrersAPI: api})
		notationSign(t, n, digestRef(host, "expiring/stamped", testenv.PushImage(t, host, "expiring/stamped", "v1")),
			notationSignOpts{key: "short", format: "cose", tsaURL: tsaURL, tsaRoot: tsaRoot, referrersAPI: api})
		// A valid certificate, but an envelope that expires (notation sign
		// --expiry) before the certificate above does.
		notationSign(t, n, digestRef(host, "expiring/envelope", testenv.PushImage(t, host, "expiring/envelope", "v1")),
			notationSignOpts{key: "release", expiry: "15s", referrersAPI: api})
	}
	if time.Now().After(short.Cert.NotAfter.Add(-3 * time.Second)) {
		t.Fatalf("signing with the short-lived certificate took too long: it expires at %v", short.Cert.NotAfter)
	}

	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := hosts[reg.name]
			e := e.forT(t)
			api := reg.name == "referrers-api"
			signed := func(t *testing.T, repo, key, format string) (string, v1.Hash) {
				t.Helper()
				d := testenv.PushImage(t, host, repo, "v1")
				ref := digestRef(host, repo, d)
				notationSign(t, n, ref, notationSignOpts{key: key, format: format, referrersAPI: api})
				return ref, d
			}

			t.Run("untrusted CA", func(t *testing.T) {
				e := e.forT(t)
				// Signed by the lookalike PKI's leaf: same names all the way
				// up, so only the keys tell.
				ref, _ := signed(t, "neg/untrusted-ca", "lookalike", "")
				rep, r := notaryVerify(e, simpleNotaryPolicy(e, host, root, "", leaf.Identity(), ""), ref)
				rep.mustReject(t, r, "untrusted-key", formatNotaryJWS, "certificate chain does not contain any trusted certificate")
				notationTrust(t, n, root, "", leaf.Identity())
				notationVerifies(t, n, ref, false)
				// The same signature under a policy trusting its CA passes.
				rep, r = notaryVerify(e, simpleNotaryPolicy(e, host, lookalikeRoot, "", leaf.Identity(), ""), ref)
				rep.mustPass(t, r, formatNotaryJWS)
			})

			t.Run("identity mismatch", func(t *testing.T) {
				e := e.forT(t)
				ref, _ := signed(t, "neg/identity", "release", "cose")
				other := "x509.subject: C=US, ST=WA, O=imgsign test, CN=someone else"
				rep, r := notaryVerify(e, simpleNotaryPolicy(e, host, root, "", other, ""), ref)
				rep.mustReject(t, r, "untrusted-key", formatNotaryCOSE, "trusted identities")
				notationTrust(t, n, root, "", other)
				notationVerifies(t, n, ref, false)
				// The leaf's organisation alone names it (every attribute
				// written must be in the subject); another one does not.
				rep, r = notaryVerify(e, simpleNotaryPolicy(e, host, root, "", "x509.subject: C=US, ST=WA, O=imgsign test", ""), ref)
				rep.mustPass(t, r, formatNotaryCOSE)
				rep, r = notaryVerify(e, simpleNotaryPolicy(e, host, root, "", "x509.subject: C=US, ST=WA, O=imgsign test, OU=builds", ""), ref)
				rep.mustReject(t, r, "untrusted-key", formatNotaryCOSE, "trusted identities")
			})

			t.Run("revoked", func(t *testing.T) {
				e := e.forT(t)
				ref, _ := signed(t, "neg/revoked", "revoked", "")
				goodRef, _ := signed(t, "neg/not-revoked", "good", "")
				notationTrust(t, n, revRoot, "", revoked.Identity())
				notationVerifies(t, n, ref, false)
				notationTrust(t, n, revRoot, "", good.Identity())
				notationVerifies(t, n, goodRef, true)
				for _, tc := range []struct {
					mode string
					pass bool
				}{{"enforce", false}, {"log", true}, {"skip", true}} {
					t.Run(tc.mode, func(t *testing.T) {
						e := e.forT(t)
						pol := simpleNotaryPolicy(e, host, revRoot, "", revoked.Identity(), "    revocation: "+tc.mode+"\n")
						rep, r := notaryVerify(e, pol, ref)
						if tc.pass {
							rep.mustPass(t, r, formatNotaryJWS)
							// log says so on the signature; skip does not look.
							w := strings.Join(rep.signatures(t).Accepted[0].Warnings, "\n")
							if got := strings.Contains(w, "revoked"); got != (tc.mode == "log") {
								t.Errorf("revocation: %s: warnings %q", tc.mode, w)
							}
						} else {
							rep.mustReject(t, r, "revoked", formatNotaryJWS, "is revoked")
						}
						// A leaf of the same CA that is not revoked passes
						// in every mode: the CRLs are there and good.
						pol = simpleNotaryPolicy(e, host, revRoot, "", good.Identity(), "    revocation: "+tc.mode+"\n")
						rep, r = notaryVerify(e, pol, goodRef)
						rep.mustPass(t, r, formatNotaryJWS)
					})
				}
			})

			for _, f := range notaryFormats {
				t.Run("tampered "+f.flag, func(t *testing.T) {
					e := e.forT(t)
					src := "neg/source-" + f.flag
					_, d := signed(t, src, "release", f.flag)
					sigs := notarySignatureManifests(t, host, src, d)
					if len(sigs) != 1 {
						t.Fatalf("notation's signature: found %d signature manifests, want 1", len(sigs))
					}
					var raw []byte
					for _, m := range sigs {
						raw = m
					}
					pol := simpleNotaryPolicy(e, host, root, "", leaf.Identity(), "")

					// Control: the signature copied intact next to a copy of
					// the image still passes.
					intact := copyImageTo(t, host, src, d, "neg/intact-"+f.flag, "v1")
					repushSignature(t, host, src, raw, "neg/intact-"+f.flag, intact, nil)
					rep, r := notaryVerify(e, pol, digestRef(host, "neg/intact-"+f.flag, d))
					rep.mustPass(t, r, f.report)

					tampered := copyImageTo(t, host, src, d, "neg/tampered-"+f.flag, "v1")
					repushSignature(t, host, src, raw, "neg/tampered-"+f.flag, tampered, func(env []byte) []byte {
						return tamperEnvelope(t, f.flag, env)
					})
					rep, r = notaryVerify(e, pol, digestRef(host, "neg/tampered-"+f.flag, d))
					rep.mustReject(t, r, "signature-invalid", f.report, "signature is invalid")

					notationTrust(t, n, root, "", leaf.Identity())
					notationVerifies(t, n, digestRef(host, "neg/intact-"+f.flag, d), true)
					notationVerifies(t, n, digestRef(host, "neg/tampered-"+f.flag, d), false)
				})
			}

			t.Run("envelope of another type than its layer says", func(t *testing.T) {
				// A COSE envelope in a layer typed as JWS: not a signature
				// imgsign counts (nor does notation).
				e := e.forT(t)
				src := "neg/typed-cose"
				_, d := signed(t, src, "release", "cose")
				sigs := notarySignatureManifests(t, host, src, d)
				if len(sigs) != 1 {
					t.Fatalf("found %d signature manifests, want 1", len(sigs))
				}
				dst := "neg/typed-as-jws"
				subject := copyImageTo(t, host, src, d, dst, "v1")
				for _, raw := range sigs {
					repushSignatureWith(t, host, src, raw, dst, subject, nil, func(mf map[string]any) {
						mf["layers"].([]any)[0].(map[string]any)["mediaType"] = "application/jose+json"
					})
				}
				ref := digestRef(host, dst, d)
				rep, r := notaryVerify(e, simpleNotaryPolicy(e, host, root, "", leaf.Identity(), ""), ref)
				rep.mustReject(t, r, "", "", "unable to parse the digital signature")
				notationTrust(t, n, root, "", leaf.Identity())
				notationVerifies(t, n, ref, false)
			})

			t.Run("copied onto another image", func(t *testing.T) {
				e := e.forT(t)
				src := "neg/copied"
				_, d := signed(t, src, "release", "")
				sigs := notarySignatureManifests(t, host, src, d)
				if len(sigs) != 1 {
					t.Fatalf("found %d signature manifests, want 1", len(sigs))
				}
				otherDigest := testenv.PushImage(t, host, src, "other")
				other := descriptorOf(t, digestRef(host, src, otherDigest))
				for _, raw := range sigs {
					repushSignature(t, host, src, raw, src, other, nil)
				}
				if n := len(notarySignatureManifests(t, host, src, otherDigest)); n != 1 {
					t.Fatalf("the other image has %d signature manifests, want the copy", n)
				}
				rep, r := notaryVerify(e, simpleNotaryPolicy(e, host, root, "", leaf.Identity(), ""), digestRef(host, src, otherDigest))
				rep.mustReject(t, r, "subject-mismatch", formatNotaryJWS, "content descriptor mismatch")
				notationTrust(t, n, root, "", leaf.Identity())
				notationVerifies(t, n, digestRef(host, src, otherDigest), false)
			})
		})
	}

	// The short-lived certificate has expired by now, or will have soon.
	if wait := time.Until(short.Cert.NotAfter.Add(2 * time.Second)); wait > 0 {
		t.Logf("waiting %v for the short-lived certificate to expire", wait.Round(time.Second))
		time.Sleep(wait)
	}
	for _, reg := range registries {
		t.Run(reg.name+"/expired certificate", func(t *testing.T) {
			host := hosts[reg.name]
			e := e.forT(t)
			plain := host + "/expiring/plain:v1"
			stamped := host + "/expiring/stamped:v1"
			// No timestamp: the chain is judged now, and has expired.
			rep, r := notaryVerify(e, simpleNotaryPolicy(e, host, root, "", short.Identity(), ""), plain)
			rep.mustReject(t, r, "expired", formatNotaryJWS, "expired at")
			// A timestamp the policy trusts, made while the certificate was
			// valid: it passes.
			rep, r = notaryVerify(e, simpleNotaryPolicy(e, host, root, tsaRoot, short.Identity(), ""), stamped)
			rep.mustPass(t, r, formatNotaryCOSE)
			rep.signatures(t).Accepted[0].mustBeTimed(t, true)
			// The same timestamped signature without a tsa store: judged now.
			rep, r = notaryVerify(e, simpleNotaryPolicy(e, host, root, "", short.Identity(), ""), stamped)
			rep.mustReject(t, r, "expired", formatNotaryCOSE, "expired at")

			// notation judges them alike.
			notationTrust(t, n, root, "", short.Identity())
			notationVerifies(t, n, plain, false)
			notationVerifies(t, n, stamped, false)
			notationTrust(t, n, root, tsaRoot, short.Identity())
			notationVerifies(t, n, stamped, true)
		})
		t.Run(reg.name+"/expired envelope", func(t *testing.T) {
			host := hosts[reg.name]
			e := e.forT(t)
			ref := host + "/expiring/envelope:v1"
			rep, r := notaryVerify(e, simpleNotaryPolicy(e, host, root, "", leaf.Identity(), ""), ref)
			rep.mustReject(t, r, "expired", formatNotaryJWS, "digital signature has expired")
			// expiry: log accepts it and says so.
			rep, r = notaryVerify(e, simpleNotaryPolicy(e, host, root, "", leaf.Identity(), "    expiry: log\n"), ref)
			rep.mustPass(t, r, formatNotaryJWS)
			if w := rep.signatures(t).Accepted[0].Warnings; len(w) == 0 {
				t.Error("expiry: log accepted an expired envelope without a warning")
			} else {
				t.Logf("warnings: %q", w)
			}
			notationTrust(t, n, root, "", leaf.Identity())
			notationVerifies(t, n, ref, false)
		})
	}
}

// How time is trusted for Notary Project signatures (docs/policy.md,
// "Time"): with a tsa store and verifyTimestamp: always every signature
// needs a countersignature by a TSA of the store; afterCertExpiry does not
// ask for one while the chain is valid; signatures.requireTimestamp counts
// only signatures with a verified timestamp. notation judges alike where
// its trust policy can say the same.
func TestNotaryTimestampPolicy(t *testing.T) {
	tsaURL, tsaChain := testenv.TSA(t)
	tsaURL = notationTSA(t, tsaURL, tsaChain)
	otherURL, otherChain := testenv.TSA(t)
	otherURL = notationTSA(t, otherURL, otherChain)
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			n := testenv.Notation(t)
			pki := testpki.New(t)
			root := pki.RootPEM(t, e.dir)
			tsaRoot := tsaRootOf(t, tsaChain, e.dir)
			otherRoot := tsaRootOf(t, otherChain, t.TempDir())
			leaf := leafNamed(t, pki, "timestamp signer", testpki.LeafOptions{})
			leaf.NotationKey(t, n.Config, "release")
			api := reg.name == "referrers-api"
			sign := func(repo, format, url, tsaRoot string) string {
				ref := digestRef(host, repo, testenv.PushImage(t, host, repo, "v1"))
				notationSign(t, n, ref, notationSignOpts{key: "release", format: format, tsaURL: url, tsaRoot: tsaRoot, referrersAPI: api})
				return ref
			}
			plain := sign("time/plain", "jws", "", "")
			stamped := sign("time/stamped", "cose", tsaURL, tsaRoot)
			otherStamped := sign("time/other-tsa", "jws", otherURL, otherRoot)

			withTSA := simpleNotaryPolicy(e, host, root, tsaRoot, leaf.Identity(), "")
			afterExpiry := simpleNotaryPolicy(e, host, root, tsaRoot, leaf.Identity(), "    verifyTimestamp: afterCertExpiry\n")
			noTSA := simpleNotaryPolicy(e, host, root, "", leaf.Identity(), "")
			require := "      requireTimestamp: true\n"

			t.Run("no timestamp, tsa store", func(t *testing.T) {
				rep, r := notaryVerify(e.forT(t), withTSA, plain)
				rep.mustReject(t, r, "", formatNotaryJWS, "timestamp")
				notationTrust(t, n, root, tsaRoot, leaf.Identity())
				notationVerifies(t, n, plain, false)
			})
			t.Run("no timestamp, afterCertExpiry", func(t *testing.T) {
				rep, r := notaryVerify(e.forT(t), afterExpiry, plain)
				rep.mustPass(t, r, formatNotaryJWS)
				rep.signatures(t).Accepted[0].mustBeTimed(t, false)
				notationTrustVerifyTimestamp(t, n, root, tsaRoot, leaf.Identity(), "afterCertExpiry")
				notationVerifies(t, n, plain, true)
			})
			t.Run("no timestamp, afterCertExpiry, requireTimestamp", func(t *testing.T) {
				rep, r := notaryVerify(e.forT(t), withRuleLines(e, afterExpiry, require), plain)
				rep.mustReject(t, r, "timestamp-required", "", "requireTimestamp")
			})
			t.Run("timestamp, requireTimestamp", func(t *testing.T) {
				rep, r := notaryVerify(e.forT(t), withRuleLines(e, withTSA, require), stamped)
				rep.mustPass(t, r, formatNotaryCOSE)
				rep.signatures(t).Accepted[0].mustBeTimed(t, true)
			})
			t.Run("timestamp, no tsa store", func(t *testing.T) {
				// The timestamp is not verified: the chain is judged now, and
				// is valid; the time is the time of judgement.
				rep, r := notaryVerify(e.forT(t), noTSA, stamped)
				rep.mustPass(t, r, formatNotaryCOSE)
				rep.signatures(t).Accepted[0].mustBeTimed(t, false)
				// requireTimestamp with nothing to trust a time from is a
				// policy no signature can meet: bad input.
				r = e.forT(t).run("verify", "--policy", withRuleLines(e, noTSA, require), stamped)
				if r.Code != 2 || !strings.Contains(r.Stderr, "requireTimestamp") {
					t.Errorf("requireTimestamp without a tsa store: exit %d, want 2 naming requireTimestamp\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
				}
			})
			t.Run("timestamp by another TSA", func(t *testing.T) {
				rep, r := notaryVerify(e.forT(t), withTSA, otherStamped)
				rep.mustReject(t, r, "", formatNotaryJWS, "timestamp")
				notationTrust(t, n, root, tsaRoot, leaf.Identity())
				notationVerifies(t, n, otherStamped, false)
				// Under a tsa store of that TSA it passes.
				rep, r = notaryVerify(e.forT(t), simpleNotaryPolicy(e, host, root, otherRoot, leaf.Identity(), ""), otherStamped)
				rep.mustPass(t, r, formatNotaryJWS)
			})
		})
	}
}

// Revocation beyond a revoked leaf: an intermediate revoked on the root's
// CRL, a CRL server that is down (status unknown: enforce fails, log
// passes with a warning, skip never asks), and --offline, which asks no
// CRL server: it refuses a signer enforcing revocation (exit 2), and says
// on a signature under revocation: log that revocation was not checked.
func TestNotaryRevocation(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			n := testenv.Notation(t)
			api := reg.name == "referrers-api"
			sign := func(leaf *testpki.Leaf, repo string) string {
				leaf.NotationKey(t, n.Config, "signer")
				ref := digestRef(host, repo, testenv.PushImage(t, host, repo, "v1"))
				notationSign(t, n, ref, notationSignOpts{key: "signer", referrersAPI: api})
				return ref
			}
			policy := func(root, identity, mode string) string {
				return simpleNotaryPolicy(e, host, root, "", identity, "    revocation: "+mode+"\n")
			}

			// The intermediate revoked, the leaf naming no CRL: the root's
			// CRL, which the intermediate names, lists it.
			pkiI := testpki.New(t)
			rootI := pkiI.RootPEM(t, t.TempDir())
			leafI := leafNamed(t, pkiI, "signer under a revoked CA", testpki.LeafOptions{})
			pkiI.Revoke(pkiI.Intermediate.SerialNumber)
			refI := sign(leafI, "revocation/intermediate")

			// A leaf naming a CRL server that is down.
			pkiU := testpki.New(t)
			rootU := pkiU.RootPEM(t, t.TempDir())
			leafU := leafNamed(t, pkiU, "signer with a CRL server down", testpki.LeafOptions{CRL: true})
			pkiU.SetCRLAvailable(false)
			refU := sign(leafU, "revocation/unavailable")

			t.Run("intermediate revoked", func(t *testing.T) {
				rep, r := notaryVerify(e.forT(t), policy(rootI, leafI.Identity(), "enforce"), refI)
				rep.mustReject(t, r, "revoked", formatNotaryJWS, "revoked")
				notationTrust(t, n, rootI, "", leafI.Identity())
				notationVerifies(t, n, refI, false)
			})
			t.Run("CRL server down", func(t *testing.T) {
				rep, r := notaryVerify(e.forT(t), policy(rootU, leafU.Identity(), "enforce"), refU)
				rep.mustReject(t, r, "", formatNotaryJWS, "revocation status is unknown")
				if pkiU.CRLRequests() == 0 {
					t.Error("no CRL request was made")
				}
				rep, r = notaryVerify(e.forT(t), policy(rootU, leafU.Identity(), "log"), refU)
				rep.mustPass(t, r, formatNotaryJWS)
				if w := rep.signatures(t).Accepted[0].Warnings; len(w) == 0 {
					t.Errorf("revocation: log with the status unknown: accepted without a warning")
				} else {
					t.Logf("warnings: %q", w)
				}
				before := pkiU.CRLRequests()
				rep, r = notaryVerify(e.forT(t), policy(rootU, leafU.Identity(), "skip"), refU)
				rep.mustPass(t, r, formatNotaryJWS)
				if n := pkiU.CRLRequests() - before; n != 0 {
					t.Errorf("revocation: skip asked the CRL server %d times", n)
				}
				notationTrust(t, n, rootU, "", leafU.Identity())
				notationVerifies(t, n, refU, false)
			})
			t.Run("offline", func(t *testing.T) {
				before := pkiI.CRLRequests()
				// revocation: enforce cannot be checked offline: refused
				// before any connection (exit 2), never passed unchecked —
				// the revoked intermediate would PASS.
				r := e.forT(t).run("verify", "--offline", "--policy", policy(rootI, leafI.Identity(), "enforce"), refI)
				expectExit(t, r, 2, "--offline: x509 signer ")
				if !strings.Contains(r.Stderr, "checks revocation (revocation: enforce)") || strings.Contains(r.Stdout, "PASS") {
					t.Errorf("verify --offline with revocation: enforce:\n%s%s", r.Stdout, r.Stderr)
				}
				// revocation: log only ever warns: offline it is not
				// checked, and each signature says so.
				rep, r := notaryVerify(e.forT(t), policy(rootI, leafI.Identity(), "log"), refI, "--offline")
				rep.mustPass(t, r, formatNotaryJWS)
				w := strings.Join(rep.signatures(t).Accepted[0].Warnings, "\n")
				if !strings.Contains(w, "revocation not checked: offline") {
					t.Errorf("accepted offline with warnings %q, want it to say revocation was not checked", w)
				}
				if n := pkiI.CRLRequests() - before; n != 0 {
					t.Errorf("verify --offline asked the CRL server %d times", n)
				}
			})
		})
	}
}

// Distinct signers, not signatures or matches, count: with two x509
// signers over one CA, one naming the leaf's subject and one trusting any
// leaf ("*"), a single certificate is one signer however many envelopes it
// made, and two certificates are two when each can be given a signer of
// its own, whatever order they signed in.
func TestNotarySignerCounting(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			n := testenv.Notation(t)
			pki := testpki.New(t)
			root := pki.RootPEM(t, e.dir)
			named := leafNamed(t, pki, "release signer", testpki.LeafOptions{})
			named.NotationKey(t, n.Config, "named")
			leafNamed(t, pki, "other signer", testpki.LeafOptions{}).NotationKey(t, n.Config, "other")
			pol := notaryPolicy(e, host,
				[]x509Store{{name: "pki", typ: "ca", certs: []string{root}}},
				[]x509Signer{
					{name: "by-name", stores: []string{"pki"}, identities: []string{named.Identity()}},
					{name: "any", stores: []string{"pki"}, identities: []string{"*"}},
				}, nil, []string{"by-name", "any"}, 2)
			api := reg.name == "referrers-api"
			for _, tc := range []struct {
				name  string
				signs []string // key:format, in order
				pass  bool
			}{
				{"named once", []string{"named:jws"}, false},
				{"named twice", []string{"named:jws", "named:cose"}, false},
				{"other once", []string{"other:jws"}, false},
				{"named then other", []string{"named:jws", "other:cose"}, true},
				{"other then named", []string{"other:jws", "named:cose"}, true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e := e.forT(t)
					repo := "count/" + strings.ReplaceAll(tc.name, " ", "-")
					ref := digestRef(host, repo, testenv.PushImage(t, host, repo, "v1"))
					for _, s := range tc.signs {
						key, format, _ := strings.Cut(s, ":")
						notationSign(t, n, ref, notationSignOpts{key: key, format: format, referrersAPI: api})
					}
					rep, r := notaryVerify(e, pol, ref)
					if tc.pass {
						rep.mustPass(t, r)
						got := map[string]bool{}
						for _, a := range rep.signatures(t).Accepted {
							got[a.KeyName] = true
						}
						if !got["by-name"] || !got["any"] {
							t.Errorf("counted for %v, want by-name and any", got)
						}
					} else {
						rep.mustFail(t, r, "1 of 2", "0 of 2")
					}
				})
			}
		})
	}
}

// What a Notary Project signer's trust may be written as, and what a
// signature may look like in the registry, beyond what notation v1.3
// writes: trust stores given as a directory or as inline PEM, and the
// image-manifest form of a signature that earlier notation releases write
// (no artifactType; the config's media type says what it is).
func TestNotaryForms(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			n := testenv.Notation(t)
			pki := testpki.New(t)
			rootDir := t.TempDir()
			root := pki.RootPEM(t, rootDir)
			rootPEM, err := os.ReadFile(root)
			if err != nil {
				t.Fatal(err)
			}
			leaf := leafNamed(t, pki, "release signer", testpki.LeafOptions{})
			leaf.NotationKey(t, n.Config, "release")
			api := reg.name == "referrers-api"
			src := "forms/app"
			d := testenv.PushImage(t, host, src, "v1")
			ref := digestRef(host, src, d)
			notationSign(t, n, ref, notationSignOpts{key: "release", referrersAPI: api})

			t.Run("trust store certificates", func(t *testing.T) {
				for name, certs := range map[string][]string{
					"directory":  {rootDir},
					"inline PEM": {string(rootPEM)},
				} {
					t.Run(name, func(t *testing.T) {
						e := e.forT(t)
						pol := notaryPolicy(e, host, []x509Store{{name: "pki", typ: "ca", certs: certs}},
							[]x509Signer{{name: "release", stores: []string{"pki"}, identities: []string{leaf.Identity()}}},
							nil, []string{"release"}, 1)
						rep, r := notaryVerify(e, pol, ref)
						rep.mustPass(t, r, formatNotaryJWS)
					})
				}
			})

			t.Run("image-manifest form", func(t *testing.T) {
				e := e.forT(t)
				sigs := notarySignatureManifests(t, host, src, d)
				if len(sigs) != 1 {
					t.Fatalf("found %d signature manifests, want 1", len(sigs))
				}
				dst := "forms/legacy"
				subject := copyImageTo(t, host, src, d, dst, "v1")
				for _, raw := range sigs {
					repushSignatureWith(t, host, src, raw, dst, subject, nil, func(mf map[string]any) {
						delete(mf, "artifactType")
						mf["config"].(map[string]any)["mediaType"] = notarySignatureType
					})
				}
				legacy := digestRef(host, dst, d)
				rep, r := notaryVerify(e, simpleNotaryPolicy(e, host, root, "", leaf.Identity(), ""), legacy)
				rep.mustPass(t, r, formatNotaryJWS)
				notationTrust(t, n, root, "", leaf.Identity())
				notationVerifies(t, n, legacy, true)
			})
		})
	}
}

// tamperEnvelope changes a Notary Project envelope without re-signing it:
// in a JWS the signed payload gains an annotation, in a COSE_Sign1 a byte
// of the signature (the last field) flips.
func tamperEnvelope(t *testing.T, format string, env []byte) []byte {
	t.Helper()
	if format == "cose" {
		out := append([]byte(nil), env...)
		out[len(out)-5] ^= 0xff
		return out
	}
	var jws map[string]any
	if err := json.Unmarshal(env, &jws); err != nil {
		t.Fatalf("JWS envelope: %v", err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(jws["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatal(err)
	}
	p["targetArtifact"].(map[string]any)["annotations"] = map[string]string{"tampered": "yes"}
	payload, err = json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	jws["payload"] = base64.RawURLEncoding.EncodeToString(payload)
	out, err := json.Marshal(jws)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A rule needing 2 of a Sigstore key and a Notary Project signer passes an
// image both signed (imgsign sign --key, notation sign) and fails one that
// only one of them signed; two envelopes by the same certificate are still
// one signer.
func TestNotaryWithSigstoreKeyThreshold(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			n := testenv.Notation(t)
			e.key("k", "ecdsa-p256")
			pki := testpki.New(t)
			root := pki.RootPEM(t, e.dir)
			leaf := leafNamed(t, pki, "release signer", testpki.LeafOptions{})
			leaf.NotationKey(t, n.Config, "release")
			pol := notaryPolicy(e, host,
				[]x509Store{{name: "pki", typ: "ca", certs: []string{root}}},
				[]x509Signer{{name: "release", stores: []string{"pki"}, identities: []string{leaf.Identity()}}},
				[]sigKey{"k"}, []string{"k", "release"}, 2)
			api := reg.name == "referrers-api"
			for _, tc := range []struct {
				name     string
				sigstore bool
				notary   []string // envelope formats notation signs in, once each
				accepted int
			}{
				{"both", true, []string{"jws"}, 2},
				{"sigstore only", true, nil, 1},
				{"notary only", false, []string{"jws"}, 1},
				{"same certificate twice", false, []string{"jws", "cose"}, 1},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e := e.forT(t)
					repo := "threshold/" + strings.ReplaceAll(tc.name, " ", "-")
					ref := digestRef(host, repo, testenv.PushImage(t, host, repo, "v1"))
					if tc.sigstore {
						e.must("sign", "--key", "k.key", ref)
					}
					for _, f := range tc.notary {
						notationSign(t, n, ref, notationSignOpts{key: "release", format: f, referrersAPI: api})
					}
					rep, r := notaryVerify(e, pol, ref)
					if tc.accepted == 2 {
						rep.mustPass(t, r)
					} else {
						rep.mustFail(t, r, "threshold", "1 of 2")
					}
					rq := rep.signatures(t)
					if len(rq.Accepted) != tc.accepted {
						t.Errorf("%d signatures counted, want %d: %+v", len(rq.Accepted), tc.accepted, rq.Accepted)
					}
					if len(tc.notary) == 2 && len(rq.AlsoSigned) != 1 {
						t.Errorf("the second envelope by the same certificate is not listed as also signed: %+v", rq.AlsoSigned)
					}
					// Either envelope may be the one counted.
					want := map[string][]string{"k": {"sigstore-bundle"}, "release": {formatNotaryJWS, formatNotaryCOSE}}
					for _, a := range append(rq.Accepted, rq.AlsoSigned...) {
						if !containsString(want[a.KeyName], a.Format) {
							t.Errorf("signature by %s accepted with format %q, want one of %q", a.KeyName, a.Format, want[a.KeyName])
						}
					}
				})
			}
		})
	}
}

// Policies with x509 signers and trust stores that notation would refuse,
// or that name what is not there, are bad input (exit 2) when verify loads
// them, before any image is looked at.
func TestNotaryPolicyErrors(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	pki := testpki.New(t)
	root := pki.RootPEM(t, e.dir)
	leaf := leafNamed(t, pki, "release signer", testpki.LeafOptions{})
	leafOnly := testpki.ChainPEM(t, e.dir, "leaf.crt", leaf.Chain[:1])
	intermediate := testpki.ChainPEM(t, e.dir, "intermediate.crt", leaf.Chain[1:2])
	e.key("k", "ecdsa-p256")
	ref := digestRef(host, "bad/policy", testenv.PushImage(t, host, "bad/policy", "v1"))
	id := leaf.Identity()
	ca := x509Store{name: "pki", typ: "ca", certs: []string{root}}
	signer := func(stores []string, ids []string, extra string) []x509Signer {
		return []x509Signer{{name: "release", stores: stores, identities: ids, extra: extra}}
	}
	for _, tc := range []struct {
		name    string
		stores  []x509Store
		signers []x509Signer
		keys    []sigKey
		rule    []string
		want    string // in stderr
	}{
		{"ca store holding a leaf", []x509Store{{name: "pki", typ: "ca", certs: []string{leafOnly}}}, signer([]string{"pki"}, []string{id}, ""), nil, []string{"release"}, "not a CA certificate"},
		{"tsa store holding an intermediate", []x509Store{ca, {name: "tsa", typ: "tsa", certs: []string{intermediate}}}, signer([]string{"pki", "tsa"}, []string{id}, ""), nil, []string{"release"}, "tsa"},
		{"unknown store type", []x509Store{{name: "pki", typ: "root", certs: []string{root}}}, signer([]string{"pki"}, []string{id}, ""), nil, []string{"release"}, "type"},
		{"missing certificate file", []x509Store{{name: "pki", typ: "ca", certs: []string{filepath.Join(e.dir, "absent.crt")}}}, signer([]string{"pki"}, []string{id}, ""), nil, []string{"release"}, "absent.crt"},
		{"signer with only a tsa store", []x509Store{{name: "tsa", typ: "tsa", certs: []string{root}}}, signer([]string{"tsa"}, []string{id}, ""), nil, []string{"release"}, "trustStores"},
		{"signer naming an unknown store", []x509Store{ca}, signer([]string{"pki", "nowhere"}, []string{id}, ""), nil, []string{"release"}, "nowhere"},
		{"signer without trusted identities", []x509Store{ca}, signer([]string{"pki"}, nil, ""), nil, []string{"release"}, "trustedIdentities"},
		{"identity without O", []x509Store{ca}, signer([]string{"pki"}, []string{"x509.subject: C=US, ST=WA, CN=release signer"}, ""), nil, []string{"release"}, "trustedIdentities"},
		{"bad revocation mode", []x509Store{ca}, signer([]string{"pki"}, []string{id}, "    revocation: sometimes\n"), nil, []string{"release"}, "revocation"},
		{"bad verifyTimestamp", []x509Store{ca}, signer([]string{"pki"}, []string{id}, "    verifyTimestamp: never\n"), nil, []string{"release"}, "verifyTimestamp"},
		{"signer named as a key", []x509Store{ca}, []x509Signer{{name: "k", stores: []string{"pki"}, identities: []string{id}}}, []sigKey{"k"}, []string{"k"}, "k"},
		{"rule naming an unknown signer", []x509Store{ca}, signer([]string{"pki"}, []string{id}, ""), nil, []string{"releases"}, "releases"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.forT(t)
			pol := notaryPolicy(e, host, tc.stores, tc.signers, tc.keys, tc.rule, 1)
			r := e.run("verify", "--policy", pol, ref)
			if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) {
				b, _ := os.ReadFile(pol)
				t.Fatalf("exit %d, want 2 with %q in stderr\nstdout:\n%s\nstderr:\n%s\npolicy:\n%s", r.Code, tc.want, r.Stdout, r.Stderr, b)
			}
			t.Logf("refused: %s", strings.TrimSpace(r.Stderr))
		})
	}
	// The same policy without the faults verifies (and fails: nothing signed).
	r := e.run("verify", "--policy", simpleNotaryPolicy(e, host, root, "", id, ""), ref)
	if r.Code != 1 {
		t.Fatalf("a sound policy: exit %d, want 1 (not signed)\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// imgsign sign --format notation refuses, as bad input (exit 2) and
// pushing nothing, what notation would not sign with or what no verifier
// could accept.
func TestNotarySignBadInput(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	tsaURL, tsaChain := testenv.TSA(t)
	tsaURL = notationTSA(t, tsaURL, tsaChain)
	e := newEnv(t)
	pki := testpki.New(t)
	good := leafNamed(t, pki, "release signer", testpki.LeafOptions{})
	other := leafNamed(t, pki, "other signer", testpki.LeafOptions{})
	expired := leafNamed(t, pki, "expired signer", testpki.LeafOptions{NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	future := leafNamed(t, pki, "future signer", testpki.LeafOptions{NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(2 * time.Hour)})
	dir := func() string { return t.TempDir() }
	key, chain := good.WriteKey(t, dir()), good.WriteChain(t, dir())
	tsaRoot := tsaRootOf(t, tsaChain, dir())
	tsaCerts := pemCerts(t, tsaChain)
	if len(tsaCerts) != 3 {
		t.Fatalf("TSA chain of %d certificates, want leaf, intermediate, root", len(tsaCerts))
	}
	tsaIntermediate := filepath.Join(dir(), "tsa-intermediate.crt")
	if err := os.WriteFile(tsaIntermediate, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tsaCerts[1]}), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{name: "certificate of another key", args: []string{"--key", key, "--cert", other.WriteChain(t, dir())}},
		{name: "chain without its root", args: []string{"--key", key, "--cert", testpki.ChainPEM(t, dir(), "no-root.crt", good.Chain[:2])}},
		{name: "expired certificate", args: []string{"--key", expired.WriteKey(t, dir()), "--cert", expired.WriteChain(t, dir())}},
		{name: "certificate not yet valid", args: []string{"--key", future.WriteKey(t, dir()), "--cert", future.WriteChain(t, dir())}},
		{name: "no certificate", args: []string{"--key", key}},
		{name: "unknown envelope format", args: []string{"--key", key, "--cert", chain, "--signature-format", "xml"}},
		{name: "TSA without its root", args: []string{"--key", key, "--cert", chain, "--tsa-url", tsaURL}},
		// Refused up front, as notation refuses --timestamp-root-cert.
		{name: "TSA root that is an intermediate", args: []string{"--key", key, "--cert", chain, "--tsa-url", tsaURL, "--tsa-root-cert", tsaIntermediate}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.forT(t)
			repo := "badsign/" + strings.ToLower(strings.ReplaceAll(tc.name, " ", "-"))
			d := testenv.PushImage(t, host, repo, "v1")
			r := e.run(append(append([]string{"sign", "--format", "notation"}, tc.args...), digestRef(host, repo, d))...)
			if r.Code != 2 {
				t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
			} else {
				t.Logf("refused: %s", strings.TrimSpace(r.Stderr))
			}
			if n := len(notarySignatureManifests(t, host, repo, d)); n != 0 {
				t.Errorf("a refused signing pushed %d signatures", n)
			}
		})
	}
	// The same with everything right signs (timestamped too).
	repo := "badsign/control"
	d := testenv.PushImage(t, host, repo, "v1")
	e.must("sign", "--format", "notation", "--key", key, "--cert", chain, "--tsa-url", tsaURL, "--tsa-root-cert", tsaRoot, digestRef(host, repo, d))
	if n := len(notarySignatureManifests(t, host, repo, d)); n != 1 {
		t.Errorf("signing pushed %d signatures, want 1", n)
	}
}

// An x509 signer's validFrom, validUntil and revokedAt are judged at the
// signature's verified timestamp, and without one at the time of judgement
// (verify --at here; notation-go's own chain checks still use the real
// time, and the certificates are valid for a day).
func TestNotarySignerValidity(t *testing.T) {
	tsaURL, tsaChain := testenv.TSA(t)
	tsaURL = notationTSA(t, tsaURL, tsaChain)
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			n := testenv.Notation(t)
			pki := testpki.New(t)
			root := pki.RootPEM(t, e.dir)
			tsaRoot := tsaRootOf(t, tsaChain, e.dir)
			leaf := leafNamed(t, pki, "release signer", testpki.LeafOptions{})
			leaf.NotationKey(t, n.Config, "release")
			api := reg.name == "referrers-api"
			t0 := time.Now().UTC().Truncate(time.Second)
			sign := func(repo, url string) string {
				ref := digestRef(host, repo, testenv.PushImage(t, host, repo, "v1"))
				o := notationSignOpts{key: "release", referrersAPI: api}
				if url != "" {
					o.tsaURL, o.tsaRoot = url, tsaRoot
				}
				notationSign(t, n, ref, o)
				return ref
			}
			plain, stamped := sign("validity/plain", ""), sign("validity/stamped", tsaURL)
			at := t0.Add(time.Hour).Format(time.RFC3339)
			ts := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
			for _, tc := range []struct {
				name    string
				window  string // signer YAML lines
				stamped bool
				pass    bool
				code    string // of the rejection
			}{
				{"validUntil after the timestamp", "    validUntil: " + ts(30*time.Minute) + "\n", true, true, ""},
				{"validUntil before --at, no timestamp", "    validUntil: " + ts(30*time.Minute) + "\n", false, false, "expired"},
				{"validFrom after the timestamp", "    validFrom: " + ts(30*time.Minute) + "\n", true, false, "not-yet-valid"},
				{"validFrom before --at, no timestamp", "    validFrom: " + ts(30*time.Minute) + "\n", false, true, ""},
				{"revokedAt after the timestamp", "    revokedAt: " + ts(30*time.Minute) + "\n", true, true, ""},
				{"revokedAt before --at, no timestamp", "    revokedAt: " + ts(30*time.Minute) + "\n", false, false, "revoked"},
				{"revokedAt before the timestamp", "    revokedAt: " + ts(-time.Minute) + "\n", true, false, "revoked"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e := e.forT(t)
					ref, policyTSA, format := plain, "", formatNotaryJWS
					if tc.stamped {
						ref, policyTSA = stamped, tsaRoot
					}
					pol := simpleNotaryPolicy(e, host, root, policyTSA, leaf.Identity(), tc.window)
					rep, r := notaryVerify(e, pol, ref, "--at", at)
					if tc.pass {
						rep.mustPass(t, r, format)
						rep.signatures(t).Accepted[0].mustBeTimed(t, tc.stamped)
					} else {
						rep.mustReject(t, r, tc.code, format, "x509 signer release")
					}
				})
			}
		})
	}
}
