// Package keys turns key references into signers and verifiers: PEM files
// (PKCS#8, PKCS#1, SEC1, and cosign's encrypted format), KMS URIs through
// sigstore's providers, and RFC 7512 pkcs11: URIs through crypto11. Each of
// the three is a Backend (KeyFiles, KMS, PKCS11); BackendFor picks the one a
// reference names, and an Access, which the caller supplies, says how a
// passphrase or PIN may be asked for and where prompts go: the package
// writes to no terminal of its own.
// It also generates and imports keys, computes key ids (base64 of the
// SHA-256 of the PKIX public key, the Sigstore bundle's key hint), and
// describes a reference without ever printing key material, passphrases or
// PINs.
package keys
