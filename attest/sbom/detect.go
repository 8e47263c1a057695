package sbom

import (
	"bytes"
	"encoding/json"

	cdx "github.com/CycloneDX/cyclonedx-go"
	spdxjson "github.com/spdx/tools-golang/json"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/statement"
)

// Detect tells which predicate type an existing SBOM file is (for
// `attest sbom --input FILE`): SPDX 2.2/2.3 JSON or CycloneDX JSON, each
// checked by parsing it with that format's own library. Anything else is a
// bad-input error saying what the file is not.
func Detect(data []byte) (predicateType string, err error) {
	var probe struct {
		SPDXVersion *string `json:"spdxVersion"`
		BOMFormat   *string `json:"bomFormat"`
		SpecVersion string  `json:"specVersion"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return "", errkind.Inputf("SBOM is not a JSON object, so neither SPDX JSON nor CycloneDX JSON (tag-value and XML SBOMs are not supported): %v", err)
	}
	switch {
	case probe.SPDXVersion != nil:
		v := *probe.SPDXVersion
		if v != "SPDX-2.2" && v != "SPDX-2.3" {
			return "", errkind.Inputf("SBOM says spdxVersion %q; only SPDX-2.2 and SPDX-2.3 JSON are supported", v)
		}
		doc, err := spdxjson.Read(bytes.NewReader(data))
		if err != nil {
			return "", errkind.Inputf("SBOM is not a valid %s JSON document: %v", v, err)
		}
		if doc.SPDXIdentifier == "" || doc.DocumentName == "" {
			return "", errkind.Inputf("SBOM is not a valid %s JSON document: missing SPDXID or name", v)
		}
		return statement.SPDX, nil
	case probe.BOMFormat != nil:
		if *probe.BOMFormat != "CycloneDX" {
			return "", errkind.Inputf("SBOM has bomFormat %q, not CycloneDX", *probe.BOMFormat)
		}
		if probe.SpecVersion == "" {
			return "", errkind.Inputf("SBOM is not a valid CycloneDX JSON BOM: no specVersion")
		}
		var bom cdx.BOM
		if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
			return "", errkind.Inputf("SBOM is not a valid CycloneDX JSON BOM: %v", err)
		}
		return statement.CycloneDX, nil
	}
	return "", errkind.Inputf("SBOM is neither SPDX JSON (no spdxVersion field) nor CycloneDX JSON (no bomFormat field)")
}
