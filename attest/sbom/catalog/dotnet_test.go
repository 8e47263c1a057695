package catalog

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The fable-compiler npm package (the F#-to-JavaScript compiler) ships its
// .NET Core 2.1 build output, Fable.Cli.deps.json written by the .NET SDK
// included: no registry here serves NuGet packages or .NET SDKs, and this
// is a real, published deps.json with every kind of library in it (the
// application's project, another project, NuGet packages with and without
// assets, a plain reference).
const (
	fableNPM  = "fable-compiler@2.13.0"
	fableDeps = "package/bin/fable-cli/Fable.Cli.deps.json"
)

func nugetPkg(name, version, loc string) Package {
	return Package{Name: name, Version: version, Type: "nuget", PURL: "pkg:nuget/" + name + "@" + version,
		Location: loc, Layer: "sha256:layer"}
}

func TestDotnetNPMDepsJSON(t *testing.T) {
	root := t.TempDir()
	untgz(t, npmFetch(t, fableNPM), root, fableDeps)
	want := []Package{
		// Fable.Transforms (another project) and two packages that claim
		// no assembly (Microsoft.NETFramework.ReferenceAssemblies,
		// System.ValueTuple) are left out, as syft leaves them out.
		nugetPkg("Dotnet.ProjInfo", "0.39.1", fableDeps),
		nugetPkg("FSharp.Compiler.Service", "22.0.3.0", fableDeps),
		nugetPkg("FSharp.Core", "4.7.2", fableDeps),
		nugetPkg("Fable.Cli", "1.0.0", fableDeps),
		nugetPkg("Newtonsoft.Json", "12.0.3", fableDeps),
	}
	comparePackages(t, catalogTreeType(t, root, "nuget"), want)
}

func TestDotnetPackages(t *testing.T) {
	const doc = `{
  "targets": {
    ".NETCoreApp,Version=v8.0": {
      "app/1.0.0": {"dependencies": {"Meta": "2.0.0", "Lib": "1.0.0"}, "runtime": {"app.dll": {}}},
      "Meta/2.0.0": {"dependencies": {"Leaf": "3.0.0"}},
      "Leaf/3.0.0": {"runtime": {"lib/net8.0/Leaf.dll": {}}},
      "Empty/1.0.0": {},
      "Lib/1.0.0": {"runtime": {"Lib.dll": {}}},
      "Ref/1.0.0": {"compile": {"ref/Ref.dll": {}}},
      "Native/1.0.0": {"native": {"runtimes/linux-x64/native/libx.so": {}}}
    },
    ".NETCoreApp,Version=v8.0/linux-x64": {
      "Empty/1.0.0": {"resources": {"de/Empty.resources.dll": {"locale": "de"}}}
    }
  },
  "libraries": {
    "app/1.0.0": {"type": "project", "sha512": ""},
    "Meta/2.0.0": {"type": "package", "sha512": "x", "path": "meta/2.0.0"},
    "Leaf/3.0.0": {"type": "package", "sha512": "x", "path": "leaf/3.0.0"},
    "Empty/1.0.0": {"type": "package", "sha512": "x", "path": "empty/1.0.0"},
    "Lib/1.0.0": {"type": "project", "sha512": ""},
    "Ref/1.0.0": {"type": "referenceassembly", "sha512": "", "path": ""},
    "Native/1.0.0": {"type": "package", "sha512": "x", "path": "native/1.0.0"}
  }
}`
	got, err := dotnetCataloger{}.Catalog(File{Path: "app/app.deps.json", Layer: "l", Content: strings.NewReader(doc)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name+"@"+p.Version)
	}
	// The application first; Meta claims through Leaf; Empty claims a
	// resource in the RID-specific target; Lib is another project and Ref
	// an empty reference assembly.
	if want := "app@1.0.0 Empty@1.0.0 Leaf@3.0.0 Meta@2.0.0 Native@1.0.0"; strings.Join(names, " ") != want {
		t.Errorf("got %s, want %s", strings.Join(names, " "), want)
	}

	// An IL-merging tool among the libraries lifts the claim requirement.
	bundled := strings.Replace(doc, `"Empty/1.0.0": {},`, `"Empty/1.0.0": {}, "ILMerge/3.0.41": {},`, 1)
	got, err = dotnetCataloger{}.Catalog(File{Path: "x/app.deps.json", Content: strings.NewReader(bundled)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Errorf("with ILMerge: %d packages, want 6 (%v)", len(got), got)
	}
	if _, err := (dotnetCataloger{}).Catalog(File{Path: "a.deps.json", Content: strings.NewReader("{")}); err == nil {
		t.Error("truncated JSON: no error")
	}
}

func FuzzDotnetDeps(f *testing.F) {
	f.Add(`{"targets":{"t":{"a/1":{"dependencies":{"b":"2"}},"b/2":{"runtime":{"b.dll":{}}}}},"libraries":{"a/1":{"type":"project"}}}`)
	f.Add(`{"targets":{"t":{"a/1":{"dependencies":{"a":"1"}}}}}`)
	f.Fuzz(func(t *testing.T, in string) {
		pkgs, err := dotnetCataloger{}.Catalog(File{Path: "a.deps.json", Content: strings.NewReader(in)})
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Type != "nuget" || !strings.HasPrefix(p.PURL, "pkg:nuget/") {
				t.Fatalf("bad package %+v", p)
			}
		}
	})
}

// TestDotnetLinear: a long dependency chain whose last library alone claims
// an assembly is resolved in one pass, not one walk per library.
func TestDotnetLinear(t *testing.T) {
	const n = 50000
	var b strings.Builder
	b.WriteString(`{"targets":{"t":{`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		if i == n-1 {
			fmt.Fprintf(&b, `"L%d/1.0":{"runtime":{"x.dll":{}}}`, i)
		} else {
			fmt.Fprintf(&b, `"L%d/1.0":{"dependencies":{"L%d":"1.0"}}`, i, i+1)
		}
	}
	b.WriteString(`}}}`)
	start := time.Now()
	got, err := dotnetCataloger{}.Catalog(File{Path: "a.deps.json", Content: strings.NewReader(b.String())})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Errorf("%d packages, want %d", len(got), n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}
