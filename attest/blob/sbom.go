package blob

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/imgsign/imgsign/attest/sbom"
	"github.com/imgsign/imgsign/attest/sbom/catalog"
	"github.com/imgsign/imgsign/internal/errkind"
)

// Scanned is a file and the Go modules its build info declares (none for
// a file that is not a Go executable).
type Scanned struct {
	Subject
	Packages []catalog.Package
}

// Scan hashes each file and reads the Go build info of those that are Go
// executables, with the go-binary cataloger the image SBOMs use, so a
// release SBOM lists exactly what `imgsign sbom IMAGE` would list for the
// same binary inside an image.
func Scan(paths []string) ([]Scanned, error) {
	subjects, err := Hash(paths)
	if err != nil {
		return nil, err
	}
	var gobin catalog.Cataloger
	for _, c := range catalog.Language() {
		if c.Name() == "go-binary" {
			gobin = c
		}
	}
	if gobin == nil {
		return nil, fmt.Errorf("the go-binary cataloger is missing")
	}
	out := make([]Scanned, 0, len(subjects))
	for _, s := range subjects {
		f, err := os.Open(s.Path)
		if err != nil {
			return nil, errkind.Inputf("reading %s: %w", s.Path, err)
		}
		// Mode and Layer are what the walker would pass; Catalog reads only
		// the content.
		pkgs, err := gobin.Catalog(catalog.File{Path: s.Name, Size: s.Size, Mode: 0o755, Content: f})
		f.Close()
		if err != nil {
			return nil, errkind.Inputf("%s: %w", s.Path, err)
		}
		out = append(out, Scanned{Subject: s, Packages: pkgs})
	}
	return out, nil
}

// SPDX encodes files as an SPDX 2.3 JSON document that DESCRIBES each file
// (purpose APPLICATION for a Go executable, FILE otherwise, with its
// sha256) and says that each executable CONTAINS the Go modules and standard
// library its build info names. Modules shared by several files are listed
// once. The document depends only on the files, created and toolVersion, so
// a reproducible build gets a reproducible SBOM.
func SPDX(files []Scanned, created time.Time, toolVersion string) ([]byte, error) {
	if len(files) == 0 {
		return nil, errkind.Inputf("no files to describe")
	}
	names := make([]string, len(files))
	ns := sha256.New()
	for i, f := range files {
		names[i] = f.Name
		fmt.Fprintf(ns, "%s\x00%s\x00", f.Name, f.SHA256)
	}
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      strings.Join(names, ", "),
		DocumentNamespace: "https://github.com/imgsign/imgsign/spdx/files-" + hex.EncodeToString(ns.Sum(nil)[:16]),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "imgsign-" + toolVersion}},
			Created:  created.UTC().Truncate(time.Second).Format(time.RFC3339),
		},
	}
	rel := func(a, b common.ElementID, typ string) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", string(a)), RefB: common.MakeDocElementID("", string(b)), Relationship: typ,
		})
	}
	modules := map[string]*spdx.Package{} // by purl
	for _, f := range files {
		purpose := "FILE"
		if len(f.Packages) > 0 {
			purpose = "APPLICATION"
		}
		fp := &spdx.Package{
			PackageName:               f.Name,
			PackageSPDXIdentifier:     common.ElementID("File-" + sbom.SPDXIDPart(f.Name) + "-" + shortHash(f.Name)),
			PackageFileName:           f.Name,
			PackageDownloadLocation:   "NOASSERTION",
			FilesAnalyzed:             false,
			IsFilesAnalyzedTagPresent: true,
			PackageChecksums:          []common.Checksum{{Algorithm: common.SHA256, Value: f.SHA256}},
			PackageSupplier:           &common.Supplier{Supplier: "NOASSERTION"},
			PackageLicenseConcluded:   "NOASSERTION",
			PackageLicenseDeclared:    "NOASSERTION",
			PackageCopyrightText:      "NOASSERTION",
			PrimaryPackagePurpose:     purpose,
		}
		doc.Packages = append(doc.Packages, fp)
		rel("DOCUMENT", fp.PackageSPDXIdentifier, common.TypeRelationshipDescribe)
		for _, p := range f.Packages {
			mp, ok := modules[p.PURL]
			if !ok {
				h := sha256.Sum256([]byte(p.Type + "\x00" + p.Name + "\x00" + p.Version + "\x00" + p.PURL))
				mp = &spdx.Package{
					PackageName:               p.Name,
					PackageSPDXIdentifier:     common.ElementID("Package-" + sbom.SPDXIDPart(p.Type) + "-" + sbom.SPDXIDPart(p.Name) + "-" + hex.EncodeToString(h[:8])),
					PackageVersion:            p.Version,
					PackageDownloadLocation:   "NOASSERTION",
					FilesAnalyzed:             false,
					IsFilesAnalyzedTagPresent: true,
					PackageSupplier:           &common.Supplier{Supplier: "NOASSERTION"},
					PackageLicenseConcluded:   "NOASSERTION",
					PackageLicenseDeclared:    "NOASSERTION",
					PackageCopyrightText:      "NOASSERTION",
					PackageSourceInfo:         "acquired package info from go module information in the executable's build info",
					PrimaryPackagePurpose:     "LIBRARY",
				}
				if p.PURL != "" {
					mp.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: p.PURL}}
				}
				modules[p.PURL] = mp
			}
			rel(fp.PackageSPDXIdentifier, mp.PackageSPDXIdentifier, common.TypeRelationshipContains)
		}
	}
	purls := make([]string, 0, len(modules))
	for k := range modules {
		purls = append(purls, k)
	}
	sort.Strings(purls)
	for _, k := range purls {
		doc.Packages = append(doc.Packages, modules[k])
	}
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return nil, fmt.Errorf("encoding SPDX: %w", err)
	}
	return buf.Bytes(), nil
}

// shortHash tells apart names sbom.SPDXIDPart maps to the same identifier ("a_b",
// "a-b").
func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:4])
}
