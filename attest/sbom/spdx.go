package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/imgsign/imgsign/attest/sbom/catalog"
)

// Subject is the image an SBOM describes.
type Subject struct {
	// Name is the repository ("registry.example.com/team/app").
	Name string
	// Digest is the image manifest digest ("sha256:…").
	Digest string
	// Platform is "os/arch[/variant]" for a platform image of an index, or "".
	Platform string
}

// EncodeOption configures SPDX and CycloneDX.
type EncodeOption func(*encodeConfig)

type encodeConfig struct {
	created     time.Time
	toolVersion string
}

// Created sets the document creation time (default: now). Golden tests and
// reproducible builds pass a fixed time.
func Created(t time.Time) EncodeOption { return func(c *encodeConfig) { c.created = t } }

// ToolVersion sets the imgsign version named as the document's creator.
func ToolVersion(v string) EncodeOption { return func(c *encodeConfig) { c.toolVersion = v } }

func encodeOptions(opts []EncodeOption) encodeConfig {
	c := encodeConfig{toolVersion: "dev"}
	for _, o := range opts {
		o(&c)
	}
	if c.created.IsZero() {
		c.created = time.Now()
	}
	c.created = c.created.UTC().Truncate(time.Second)
	return c
}

// packageKey identifies a package within a document; it is stable across
// runs so identifiers do not churn between SBOMs of the same image.
func packageKey(p catalog.Package) string {
	h := sha256.Sum256([]byte(p.Type + "\x00" + p.Name + "\x00" + p.Version + "\x00" + p.PURL + "\x00" + p.Location + "\x00" + p.Layer))
	return hex.EncodeToString(h[:8])
}

// imagePURL is the purl of the image itself (purl type "oci").
func imagePURL(s Subject) string {
	if s.Digest == "" {
		return ""
	}
	name := s.Name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	if name == "" {
		name = "image"
	}
	q := url.Values{}
	if s.Name != "" {
		q.Set("repository_url", s.Name)
	}
	if parts := strings.Split(s.Platform, "/"); len(parts) >= 2 {
		q.Set("arch", parts[1])
	}
	out := "pkg:oci/" + url.PathEscape(strings.ToLower(name)) + "@" + strings.ReplaceAll(s.Digest, ":", "%3A")
	if enc := q.Encode(); enc != "" {
		out += "?" + enc
	}
	return out
}

func subjectTitle(s Subject) string {
	t := s.Name
	if t == "" {
		t = "image"
	}
	if s.Digest != "" {
		t += "@" + s.Digest
	}
	if s.Platform != "" {
		t += " (" + s.Platform + ")"
	}
	return t
}

// SPDX encodes res as an SPDX 2.3 JSON document describing the image, which
// CONTAINS its operating system and every package found.
func SPDX(res *Result, subject Subject, opts ...EncodeOption) ([]byte, error) {
	cfg := encodeOptions(opts)
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      subjectTitle(subject),
		DocumentNamespace: spdxNamespace(subject),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "imgsign-" + cfg.toolVersion}},
			Created:  cfg.created.Format(time.RFC3339),
		},
	}
	img := &spdx.Package{
		PackageName:             subject.Name,
		PackageSPDXIdentifier:   "Image",
		PackageVersion:          subject.Digest,
		PackageDownloadLocation: "NOASSERTION",
		PackageSupplier:         &common.Supplier{Supplier: "NOASSERTION"},
		PackageLicenseConcluded: "NOASSERTION",
		PackageLicenseDeclared:  "NOASSERTION",
		PackageCopyrightText:    "NOASSERTION",
		PrimaryPackagePurpose:   "CONTAINER",
		PackageComment:          platformComment(subject),
	}
	if img.PackageName == "" {
		img.PackageName = "image"
	}
	if pu := imagePURL(subject); pu != "" {
		img.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: pu}}
	}
	doc.Packages = append(doc.Packages, img)
	doc.Relationships = append(doc.Relationships, &spdx.Relationship{
		RefA:         common.MakeDocElementID("", "DOCUMENT"),
		RefB:         common.MakeDocElementID("", "Image"),
		Relationship: common.TypeRelationshipDescribe,
	})
	contains := func(id common.ElementID) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA:         common.MakeDocElementID("", "Image"),
			RefB:         common.MakeDocElementID("", string(id)),
			Relationship: common.TypeRelationshipContains,
		})
	}
	if res.OS != nil {
		os := &spdx.Package{
			PackageName:             res.OS.ID,
			PackageSPDXIdentifier:   "OperatingSystem",
			PackageVersion:          res.OS.VersionID,
			PackageDownloadLocation: "NOASSERTION",
			PackageSupplier:         &common.Supplier{Supplier: "NOASSERTION"},
			PackageLicenseConcluded: "NOASSERTION",
			PackageLicenseDeclared:  "NOASSERTION",
			PackageCopyrightText:    "NOASSERTION",
			PackageDescription:      res.OS.PrettyName,
			PrimaryPackagePurpose:   "OPERATING-SYSTEM",
		}
		doc.Packages = append(doc.Packages, os)
		contains(os.PackageSPDXIdentifier)
	}
	refs := map[string]string{}
	for _, p := range res.Packages {
		sp := &spdx.Package{
			PackageName:               p.Name,
			PackageSPDXIdentifier:     common.ElementID("Package-" + SPDXIDPart(p.Type) + "-" + SPDXIDPart(p.Name) + "-" + packageKey(p)),
			PackageVersion:            p.Version,
			PackageDownloadLocation:   "NOASSERTION",
			FilesAnalyzed:             false,
			IsFilesAnalyzedTagPresent: true,
			PackageSupplier:           spdxSupplier(p.Supplier),
			PackageLicenseConcluded:   "NOASSERTION",
			PackageLicenseDeclared:    spdxDeclared(p.Licenses, refs),
			PackageCopyrightText:      "NOASSERTION",
			PackageSourceInfo:         fmt.Sprintf("acquired package info from %s metadata: /%s", p.Type, p.Location),
			PackageComment:            "layer: " + p.Layer + "; location: /" + p.Location,
			PrimaryPackagePurpose:     "LIBRARY",
		}
		for _, pr := range p.Properties {
			sp.PackageComment += "; " + pr.Name + ": " + pr.Value
		}
		if p.PURL != "" {
			sp.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: p.PURL}}
		}
		doc.Packages = append(doc.Packages, sp)
		contains(sp.PackageSPDXIdentifier)
	}
	ids := make([]string, 0, len(refs))
	for id := range refs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		doc.OtherLicenses = append(doc.OtherLicenses, &spdx.OtherLicense{
			LicenseIdentifier: id,
			ExtractedText:     refs[id],
			LicenseName:       refs[id],
			LicenseComment:    "license as the package metadata states it; not on the SPDX license list",
		})
	}
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return nil, fmt.Errorf("encoding SPDX: %w", err)
	}
	return buf.Bytes(), nil
}

// spdxNamespace is unique per image and platform but stable, so that the
// same image always gets the same document namespace.
func spdxNamespace(s Subject) string {
	h := sha256.Sum256([]byte(s.Name + "\x00" + s.Digest + "\x00" + s.Platform))
	name := s.Name
	if name == "" {
		name = "image"
	}
	return "https://github.com/imgsign/imgsign/spdx/" + url.PathEscape(name) + "-" + hex.EncodeToString(h[:16])
}

func platformComment(s Subject) string {
	if s.Platform == "" {
		return ""
	}
	return "platform: " + s.Platform
}

// SPDXIDPart keeps the characters SPDX identifiers allow, so any name can
// be part of an SPDXRef- identifier.
func SPDXIDPart(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// spdxSupplier turns "Name <email>" (dpkg, apk maintainers) into SPDX's
// "Person: Name (email)" and a vendor name into an Organization.
func spdxSupplier(s string) *common.Supplier {
	s = strings.TrimSpace(s)
	if s == "" {
		return &common.Supplier{Supplier: "NOASSERTION"}
	}
	if i := strings.IndexByte(s, '<'); i >= 0 && strings.HasSuffix(s, ">") {
		name := strings.TrimSpace(s[:i])
		email := s[i+1 : len(s)-1]
		if name == "" {
			name = email
		}
		return &common.Supplier{SupplierType: "Person", Supplier: name + " (" + email + ")"}
	}
	return &common.Supplier{SupplierType: "Organization", Supplier: s}
}

// spdxDeclared is the licenseDeclared expression: every license the
// metadata names, ANDed (a package's files are under all of them).
func spdxDeclared(lics []string, refs map[string]string) string {
	if len(lics) == 0 {
		return "NOASSERTION"
	}
	var parts []string
	seen := map[string]bool{}
	for _, l := range lics {
		n := normalizeLicense(l)
		if n.Expr == "" || seen[n.Expr] {
			continue
		}
		seen[n.Expr] = true
		if n.Ref != "" {
			refs[n.Ref] = n.Text
		}
		e := n.Expr
		if len(lics) > 1 && strings.ContainsAny(e, " ") {
			e = "(" + e + ")"
		}
		parts = append(parts, e)
	}
	if len(parts) == 0 {
		return "NOASSERTION"
	}
	return strings.Join(parts, " AND ")
}
