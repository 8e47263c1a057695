package keys

import (
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
)

func TestParseType(t *testing.T) {
	tests := []struct {
		in      string
		want    Type
		wantErr bool
	}{
		{in: "ed25519", want: TypeEd25519},
		{in: "ecdsa-p256", want: TypeECDSAP256},
		{in: "ecdsa-p384", want: TypeECDSAP384},
		{in: "rsa-3072", want: TypeRSA3072},
		{in: "rsa-4096", want: TypeRSA4096},
		{in: "ECDSA-P256", want: TypeECDSAP256},
		{in: " rsa-4096 ", want: TypeRSA4096},
		{in: "rsa-2048", wantErr: true},
		{in: "ecdsa", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseType(tt.in)
			if tt.wantErr {
				wantKind(t, err, errkind.Input)
				for _, typ := range Types() {
					if !strings.Contains(err.Error(), string(typ)) {
						t.Errorf("error %q does not list valid type %s", err, typ)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseType(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseType(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestGenerateUnknownType(t *testing.T) {
	_, err := Generate(Type("dsa-1024"))
	wantKind(t, err, errkind.Input)
}
