package sbom

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/imgsign/imgsign/attest/sbom/catalog"
)

// TestEcosystemsEncoded scans an image with a gem, a Cargo.lock (with a
// workspace member, which has no purl), Composer's installed.json and a
// .NET deps.json in two layers, and checks every package reaches SPDX
// (valid) and CycloneDX with its purl, file and layer.
func TestEcosystemsEncoded(t *testing.T) {
	l1 := layer(t, gzipped,
		file("usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec",
			"Gem::Specification.new do |s|\n  s.name = \"rake\".freeze\n  s.version = \"13.0.6\"\n  s.licenses = [\"MIT\".freeze]\nend\n"),
		file("srv/app/Cargo.lock", "version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"itoa\"\nversion = \"1.0.1\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n"),
	)
	l2 := layer(t, plain,
		file("var/www/vendor/composer/installed.json", `{"packages":[{"name":"masterminds/html5","version":"2.7.6","license":["MIT"]}],"dev":false}`),
		file("opt/svc/Svc.deps.json", `{"targets":{".NETCoreApp,Version=v8.0":{"Svc/1.0.0":{"dependencies":{"Newtonsoft.Json":"13.0.3"},"runtime":{"Svc.dll":{}}},"Newtonsoft.Json/13.0.3":{"runtime":{"lib/net6.0/Newtonsoft.Json.dll":{}}}}},"libraries":{"Svc/1.0.0":{"type":"project"},"Newtonsoft.Json/13.0.3":{"type":"package","sha512":"x","path":"newtonsoft.json/13.0.3"}}}`),
	)
	img := image(t, l1, l2)
	res := scan(t, img, catalog.Language())
	type want struct{ purl, loc, layer string }
	wants := map[string]want{
		"rake":              {"pkg:gem/rake@13.0.6", "usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec", digestOf(t, l1)},
		"app":               {"", "srv/app/Cargo.lock", digestOf(t, l1)},
		"itoa":              {"pkg:cargo/itoa@1.0.1", "srv/app/Cargo.lock", digestOf(t, l1)},
		"masterminds/html5": {"pkg:composer/masterminds/html5@2.7.6", "var/www/vendor/composer/installed.json", digestOf(t, l2)},
		"Svc":               {"pkg:nuget/Svc@1.0.0", "opt/svc/Svc.deps.json", digestOf(t, l2)},
		"Newtonsoft.Json":   {"pkg:nuget/Newtonsoft.Json@13.0.3", "opt/svc/Svc.deps.json", digestOf(t, l2)},
	}
	if len(res.Packages) != len(wants) {
		t.Errorf("%d packages, want %d: %v", len(res.Packages), len(wants), names(res))
	}
	for _, p := range res.Packages {
		w, ok := wants[p.Name]
		if !ok || p.PURL != w.purl || p.Location != w.loc || p.Layer != w.layer {
			t.Errorf("%s: purl %q location %q layer %q, want %+v", p.Name, p.PURL, p.Location, p.Layer, w)
		}
	}

	subj := Subject{Name: "registry.example.com/app", Digest: "sha256:" + strings.Repeat("a", 64), Platform: "linux/amd64"}
	out, err := SPDX(res, subj)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := spdxjson.Read(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		t.Errorf("SPDX does not validate: %v", err)
	}
	seen := map[string]bool{}
	for _, p := range doc.Packages {
		w, ok := wants[p.PackageName]
		if !ok {
			continue
		}
		seen[p.PackageName] = true
		purl := ""
		for _, r := range p.PackageExternalReferences {
			if r.RefType == "purl" {
				purl = r.Locator
			}
		}
		if purl != w.purl || !strings.Contains(p.PackageComment, "layer: "+w.layer+"; location: /"+w.loc) {
			t.Errorf("SPDX %s: purl %q comment %q", p.PackageName, purl, p.PackageComment)
		}
	}
	if len(seen) != len(wants) {
		t.Errorf("SPDX has %d of the %d packages", len(seen), len(wants))
	}

	out, err = CycloneDX(res, subj)
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		Components []struct {
			Name, Purl string
			Properties []struct{ Name, Value string }
		}
	}
	if err := json.Unmarshal(out, &bom); err != nil {
		t.Fatal(err)
	}
	seen = map[string]bool{}
	for _, c := range bom.Components {
		w, ok := wants[c.Name]
		if !ok {
			continue
		}
		seen[c.Name] = true
		props := map[string]string{}
		for _, p := range c.Properties {
			props[p.Name] = p.Value
		}
		if c.Purl != w.purl || props[PropertyLayer] != w.layer || props[PropertyLocation] != "/"+w.loc {
			t.Errorf("CycloneDX %s: purl %q properties %v", c.Name, c.Purl, props)
		}
	}
	if len(seen) != len(wants) {
		t.Errorf("CycloneDX has %d of the %d packages", len(seen), len(wants))
	}
}
