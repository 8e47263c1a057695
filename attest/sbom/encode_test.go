package sbom

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/imgsign/imgsign/attest/sbom/catalog"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/sbom/golden")

// smallResult scans a two-layer fixture image: Debian's os-release, a dpkg
// status file with a DEP-5 copyright, and a distroless status.d entry.
func smallResult(t *testing.T) (*Result, Subject) {
	t.Helper()
	l1 := layer(t, plain,
		file(osRel, fixture(t, "os-release.debian")),
		symlink("etc/os-release", "../usr/lib/os-release"),
		file(status, fixture(t, "dpkg/status")),
		file("usr/share/doc/adduser/copyright", fixture(t, "dpkg/adduser.copyright")),
	)
	l2 := layer(t, plain, file(statusD+"libssl3", fixture(t, "dpkg/status.d/libssl3")))
	img := image(t, l1, l2)
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return scan(t, img, catalog.OSPackages()), Subject{Name: "registry.example.com/team/app", Digest: d.String(), Platform: "linux/amd64"}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("..", "..", "testdata", "sbom", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; if intended, rerun with -update\n got:\n%s", name, got)
	}
}

var created = Created(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))

func TestSPDXGolden(t *testing.T) {
	res, subj := smallResult(t)
	out, err := SPDX(res, subj, created, ToolVersion("v0.0.0-test"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "small.spdx.json", out)

	// It must read back with tools-golang's own reader and validate.
	doc, err := spdxjson.Read(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		t.Errorf("ValidateDocument: %v", err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || len(doc.Packages) != 2+len(res.Packages) {
		t.Errorf("version %s, %d packages", doc.SPDXVersion, len(doc.Packages))
	}
	described, err := spdxlib.GetDescribedPackageIDs(doc)
	if err != nil || len(described) != 1 || described[0] != "Image" {
		t.Errorf("described = %v, %v", described, err)
	}
	byName := map[string]int{}
	for i, p := range doc.Packages {
		byName[p.PackageName] = i
	}
	adduser := doc.Packages[byName["adduser"]]
	if adduser.PackageLicenseDeclared != "GPL-2.0-only AND GPL-2.0-or-later" {
		t.Errorf("adduser licenseDeclared = %q", adduser.PackageLicenseDeclared)
	}
	if got := adduser.PackageExternalReferences[0].Locator; got != "pkg:deb/debian/adduser@3.134?arch=all&distro=debian-12" {
		t.Errorf("adduser purl = %s", got)
	}
	if !strings.Contains(adduser.PackageComment, "layer: "+res.Layers[0].Digest) {
		t.Errorf("adduser comment = %q", adduser.PackageComment)
	}
	libssl := doc.Packages[byName["libssl3"]]
	if libssl.PackageLicenseDeclared != "NOASSERTION" || !strings.Contains(libssl.PackageComment, res.Layers[1].Digest) {
		t.Errorf("libssl3 = %+v", libssl)
	}
	if libssl.PackageSupplier.SupplierType != "Person" || libssl.PackageSupplier.Supplier != "Debian OpenSSL Team (pkg-openssl-devel@alioth-lists.debian.net)" {
		t.Errorf("libssl3 supplier = %+v", libssl.PackageSupplier)
	}

	// Same input, same bytes; the namespace follows the digest.
	again, _ := SPDX(res, subj, created, ToolVersion("v0.0.0-test"))
	if !bytes.Equal(out, again) {
		t.Error("SPDX output is not deterministic")
	}
	other := subj
	other.Digest = "sha256:" + strings.Repeat("0", 64)
	o, _ := SPDX(res, other, created)
	od, _ := spdxjson.Read(bytes.NewReader(o))
	if od.DocumentNamespace == doc.DocumentNamespace {
		t.Error("different digests share a document namespace")
	}
}

func TestCycloneDXGolden(t *testing.T) {
	res, subj := smallResult(t)
	out, err := CycloneDX(res, subj, created, ToolVersion("v0.0.0-test"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "small.cdx.json", out)

	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(out), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	if bom.SpecVersion != cdx.SpecVersion1_6 || bom.BOMFormat != "CycloneDX" || !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") {
		t.Errorf("spec %v format %q serial %q", bom.SpecVersion, bom.BOMFormat, bom.SerialNumber)
	}
	if bom.Metadata.Component.Type != cdx.ComponentTypeContainer || bom.Metadata.Component.Version != subj.Digest {
		t.Errorf("metadata component = %+v", bom.Metadata.Component)
	}
	comps := *bom.Components
	if len(comps) != 1+len(res.Packages) || comps[0].Type != cdx.ComponentTypeOS || comps[0].Name != "debian" {
		t.Fatalf("components = %+v", comps)
	}
	refs := map[string]bool{}
	for _, c := range comps {
		if refs[c.BOMRef] {
			t.Errorf("duplicate bom-ref %s", c.BOMRef)
		}
		refs[c.BOMRef] = true
		if c.Type == cdx.ComponentTypeOS {
			continue
		}
		props := map[string]string{}
		for _, p := range *c.Properties {
			props[p.Name] = p.Value
		}
		if !strings.HasPrefix(props[PropertyLayer], "sha256:") || !strings.HasPrefix(props[PropertyLocation], "/var/lib/dpkg/status") {
			t.Errorf("%s properties = %v", c.Name, props)
		}
		if c.Name == "adduser" {
			lic := *c.Licenses
			if len(lic) != 2 || lic[0].License.ID != "GPL-2.0-only" || lic[1].License.ID != "GPL-2.0-or-later" {
				t.Errorf("adduser licenses = %+v", lic)
			}
		}
	}
	again, _ := CycloneDX(res, subj, created, ToolVersion("v0.0.0-test"))
	if !bytes.Equal(out, again) {
		t.Error("CycloneDX output is not deterministic")
	}
}

func TestEncodeEmptyResult(t *testing.T) {
	res := scan(t, image(t, layer(t, gzipped, file("hello", "world"))), Default())
	for name, enc := range map[string]func(*Result, Subject, ...EncodeOption) ([]byte, error){"spdx": SPDX, "cyclonedx": CycloneDX} {
		out, err := enc(res, Subject{}, created)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := Detect(out); err != nil {
			t.Errorf("%s of an empty image does not detect: %v", name, err)
		}
	}
}

func TestNormalizeLicense(t *testing.T) {
	tests := []struct{ in, expr, ref string }{
		{"MIT", "MIT", ""},
		{"mit", "MIT", ""},
		{"GPL-2+", "GPL-2.0-or-later", ""},
		{"Expat", "MIT", ""},
		{"GPL-2.0-or-later AND MIT", "GPL-2.0-or-later AND MIT", ""},
		{"(MIT or Apache-2.0)", "(MIT OR Apache-2.0)", ""},
		{"GPL-2.0-only WITH Linux-syscall-note", "GPL-2.0-only WITH Linux-syscall-note", ""},
		{"GPL-2.0+", "GPL-2.0+", ""},
		{"GPLv2+", "GPL-2.0-or-later", ""},
		{"LicenseRef-Fedora-Public-Domain", "LicenseRef-Fedora-Public-Domain", ""},
		{"public-domain", "LicenseRef-public-domain", "LicenseRef-public-domain"},
		{"BSD-4-clause-UC", "LicenseRef-BSD-4-clause-UC", "LicenseRef-BSD-4-clause-UC"},
		{"GPL-2+ with OpenSSL exception", "LicenseRef-GPL-2-plus-with-OpenSSL-exception", "LicenseRef-GPL-2-plus-with-OpenSSL-exception"},
		{"AND", "LicenseRef-AND", "LicenseRef-AND"},
	}
	for _, tt := range tests {
		got := normalizeLicense(tt.in)
		if got.Expr != tt.expr || got.Ref != tt.ref {
			t.Errorf("normalizeLicense(%q) = %+v, want expr %q ref %q", tt.in, got, tt.expr, tt.ref)
		}
	}
}
