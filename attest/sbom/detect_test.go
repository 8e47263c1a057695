package sbom

import (
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/statement"
)

func TestDetect(t *testing.T) {
	res, subj := smallResult(t)
	spdxOut, err := SPDX(res, subj, created)
	if err != nil {
		t.Fatal(err)
	}
	cdxOut, err := CycloneDX(res, subj, created)
	if err != nil {
		t.Fatal(err)
	}
	spdx22 := `{"spdxVersion":"SPDX-2.2","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"syft",
		"documentNamespace":"https://anchore.com/syft/image/x","creationInfo":{"created":"2024-01-01T00:00:00Z","creators":["Tool: syft-0.100.0"]},
		"packages":[{"name":"musl","SPDXID":"SPDXRef-Package-apk-musl","versionInfo":"1.2.4-r2","downloadLocation":"NOASSERTION"}]}`
	cdx15 := `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[{"type":"library","name":"musl","version":"1.2.4-r2"}]}`
	tests := []struct {
		name, in string
		want     string
		errHas   string
	}{
		{"our SPDX", string(spdxOut), statement.SPDX, ""},
		{"our CycloneDX", string(cdxOut), statement.CycloneDX, ""},
		{"SPDX 2.2 from another tool", spdx22, statement.SPDX, ""},
		{"CycloneDX 1.5", cdx15, statement.CycloneDX, ""},
		{"SPDX 2.1", strings.Replace(spdx22, "SPDX-2.2", "SPDX-2.1", 1), "", "only SPDX-2.2 and SPDX-2.3"},
		{"SPDX with broken fields", `{"spdxVersion":"SPDX-2.3","packages":"nope"}`, "", "not a valid SPDX-2.3 JSON document"},
		{"SPDX without identity", `{"spdxVersion":"SPDX-2.3"}`, "", "missing SPDXID or name"},
		{"CycloneDX without specVersion", `{"bomFormat":"CycloneDX"}`, "", "no specVersion"},
		{"CycloneDX with broken fields", `{"bomFormat":"CycloneDX","specVersion":"1.6","components":{"a":1}}`, "", "not a valid CycloneDX JSON BOM"},
		{"other bomFormat", `{"bomFormat":"SWID","specVersion":"1"}`, "", `bomFormat "SWID"`},
		{"other JSON", `{"_type":"https://in-toto.io/Statement/v1"}`, "", "neither SPDX JSON"},
		{"JSON array", `[1,2]`, "", "not a JSON object"},
		{"tag-value SPDX", "SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n", "", "tag-value and XML"},
		{"empty", "", "", "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect([]byte(tt.in))
			if tt.errHas == "" {
				if err != nil || got != tt.want {
					t.Errorf("Detect = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("err = %v, want one containing %q", err, tt.errHas)
			}
			if k, ok := errkind.Of(err); !ok || k != errkind.Input {
				t.Errorf("err kind = %v, %v; want Input", k, ok)
			}
		})
	}
}
