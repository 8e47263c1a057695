// Package blob makes in-toto statements about files — release binaries,
// checksum lists, SBOM documents — rather than images, and SBOMs of Go
// executables. A statement names each file by its base name and sha256, as
// cosign verify-blob-attestation expects, and is signed into a Sigstore
// bundle by sign.Bundle exactly like an image attestation; the bundle is
// written next to the files instead of being pushed to a registry.
package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/imgsign/imgsign/internal/errkind"
)

// Subject is one file a statement is about.
type Subject struct {
	// Name is the file's base name: what a downloader has on disk, without
	// the directory it happened to be built in.
	Name string `json:"name"`
	// SHA256 is the hex sha256 of the file's content.
	SHA256 string `json:"sha256"`
	// Path is where the file was read from (not part of the statement).
	Path string `json:"-"`
	Size int64  `json:"size"`
}

// Hash reads each file and returns its subject. Two files with the same
// base name are refused: a verifier matching by name could not tell them
// apart.
func Hash(paths []string) ([]Subject, error) {
	if len(paths) == 0 {
		return nil, errkind.Inputf("no files given")
	}
	seen := map[string]string{}
	out := make([]Subject, 0, len(paths))
	for _, p := range paths {
		s, err := hashFile(p)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[s.Name]; dup {
			return nil, errkind.Inputf("%s and %s have the same name %q: a statement names files by base name", prev, p, s.Name)
		}
		seen[s.Name] = p
		out = append(out, s)
	}
	return out, nil
}

func hashFile(p string) (Subject, error) {
	f, err := os.Open(p)
	if err != nil {
		return Subject{}, errkind.Inputf("reading %s: %w", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Subject{}, errkind.Inputf("reading %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return Subject{}, errkind.Inputf("%s is not a regular file", p)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Subject{}, errkind.Inputf("reading %s: %w", p, err)
	}
	return Subject{Name: filepath.Base(p), SHA256: hex.EncodeToString(h.Sum(nil)), Path: p, Size: n}, nil
}

// Statement builds an in-toto Statement v1 whose subjects are the files.
func Statement(subjects []Subject, predicateType string, predicate any) ([]byte, error) {
	if len(subjects) == 0 {
		return nil, errkind.Inputf("a statement needs at least one file")
	}
	b, err := json.Marshal(predicate)
	if err != nil {
		return nil, errkind.Inputf("predicate for %s: %w", predicateType, err)
	}
	pb := &structpb.Struct{}
	if err := protojson.Unmarshal(b, pb); err != nil {
		return nil, errkind.Inputf("predicate for %s must be a JSON object: %w", predicateType, err)
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		PredicateType: predicateType,
		Predicate:     pb,
	}
	for _, s := range subjects {
		st.Subject = append(st.Subject, &intoto.ResourceDescriptor{Name: s.Name, Digest: map[string]string{"sha256": s.SHA256}})
	}
	if err := st.Validate(); err != nil {
		return nil, errkind.Inputf("statement: %w", err)
	}
	out, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding statement: %w", err)
	}
	return out, nil
}
