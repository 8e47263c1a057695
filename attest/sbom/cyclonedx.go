package sbom

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"
)

// Property names imgsign adds to CycloneDX components.
const (
	PropertyLayer    = "imgsign:layer"
	PropertyLocation = "imgsign:location"
	PropertyPlatform = "imgsign:platform"
)

// serialNamespace scopes the name-based UUIDs of BOM serial numbers.
var serialNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/imgsign/imgsign/cyclonedx"))

// CycloneDX encodes res as a CycloneDX 1.6 JSON BOM whose metadata component
// is the image; the operating system and every package are components.
func CycloneDX(res *Result, subject Subject, opts ...EncodeOption) ([]byte, error) {
	cfg := encodeOptions(opts)
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuid.NewSHA1(serialNamespace, []byte(subject.Name+"\x00"+subject.Digest+"\x00"+subject.Platform)).String()
	img := &cdx.Component{
		BOMRef:     "image",
		Type:       cdx.ComponentTypeContainer,
		Name:       subject.Name,
		Version:    subject.Digest,
		PackageURL: imagePURL(subject),
	}
	if img.Name == "" {
		img.Name = "image"
	}
	if subject.Platform != "" {
		img.Properties = &[]cdx.Property{{Name: PropertyPlatform, Value: subject.Platform}}
	}
	bom.Metadata = &cdx.Metadata{
		Timestamp: cfg.created.Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "imgsign", Version: cfg.toolVersion,
		}}},
		Component: img,
	}
	comps := []cdx.Component{}
	var refs []string
	if res.OS != nil {
		comps = append(comps, cdx.Component{
			BOMRef:      "os",
			Type:        cdx.ComponentTypeOS,
			Name:        res.OS.ID,
			Version:     res.OS.VersionID,
			Description: res.OS.PrettyName,
		})
		refs = append(refs, "os")
	}
	for _, p := range res.Packages {
		c := cdx.Component{
			BOMRef:     "pkg-" + packageKey(p),
			Type:       cdx.ComponentTypeLibrary,
			Name:       p.Name,
			Version:    p.Version,
			PackageURL: p.PURL,
			Licenses:   cdxLicenses(p.Licenses),
			Properties: &[]cdx.Property{
				{Name: PropertyLayer, Value: p.Layer},
				{Name: PropertyLocation, Value: "/" + p.Location},
			},
		}
		for _, pr := range p.Properties {
			*c.Properties = append(*c.Properties, cdx.Property{Name: "imgsign:" + pr.Name, Value: pr.Value})
		}
		if s := strings.TrimSpace(p.Supplier); s != "" {
			c.Supplier = cdxSupplier(s)
		}
		comps = append(comps, c)
		refs = append(refs, c.BOMRef)
	}
	bom.Components = &comps
	bom.Dependencies = &[]cdx.Dependency{{Ref: "image", Dependencies: &refs}}
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	enc.SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("encoding CycloneDX: %w", err)
	}
	return buf.Bytes(), nil
}

// cdxSupplier splits "Name <email>" into an organisation with a contact.
func cdxSupplier(s string) *cdx.OrganizationalEntity {
	if i := strings.IndexByte(s, '<'); i >= 0 && strings.HasSuffix(s, ">") {
		name := strings.TrimSpace(s[:i])
		email := s[i+1 : len(s)-1]
		if name == "" {
			name = email
		}
		return &cdx.OrganizationalEntity{Name: name, Contact: &[]cdx.OrganizationalContact{{Name: name, Email: email}}}
	}
	return &cdx.OrganizationalEntity{Name: s}
}

// cdxLicenses uses a listed SPDX id where the metadata has one, an SPDX
// expression for a compound license, and the text as a name otherwise.
// CycloneDX allows either licenses or one expression per component, so a
// compound license among several is kept as a named license.
func cdxLicenses(lics []string) *cdx.Licenses {
	if len(lics) == 0 {
		return nil
	}
	if len(lics) == 1 {
		n := normalizeLicense(lics[0])
		if n.Ref == "" && n.ID == "" {
			return &cdx.Licenses{{Expression: n.Expr}}
		}
	}
	out := cdx.Licenses{}
	seen := map[string]bool{}
	for _, l := range lics {
		if seen[l] {
			continue
		}
		seen[l] = true
		n := normalizeLicense(l)
		if n.ID != "" {
			out = append(out, cdx.LicenseChoice{License: &cdx.License{ID: n.ID}})
		} else {
			out = append(out, cdx.LicenseChoice{License: &cdx.License{Name: l}})
		}
	}
	return &out
}
