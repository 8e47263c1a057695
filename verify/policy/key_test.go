package policy

import (
	"errors"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/errkind"
)

func TestCheckAt(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	until := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	revoked := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	ns := time.Nanosecond

	window := &TrustedKey{Name: "release-2026", ValidFrom: &from, ValidUntil: &until}
	rev := &TrustedKey{Name: "release-2025", RevokedAt: &revoked}
	both := &TrustedKey{Name: "k", ValidFrom: &from, ValidUntil: &until, RevokedAt: &revoked}
	open := &TrustedKey{Name: "forever"}

	tests := []struct {
		key     *TrustedKey
		at      time.Time
		want    error
		message string
	}{
		{window, from.Add(-ns), ErrKeyNotYetValid, "key release-2026 is not valid before 2026-01-01T00:00:00Z"},
		{window, from, nil, ""},
		{window, until.Add(-ns), nil, ""},
		{window, until, ErrKeyExpired, "key release-2026 expired at 2027-01-01T00:00:00Z"},
		{window, until.Add(time.Hour), ErrKeyExpired, ""},
		{rev, revoked.Add(-ns), nil, ""},
		{rev, revoked, ErrKeyRevoked, "key release-2025 was revoked at 2026-03-01T00:00:00Z"},
		{rev, revoked.Add(24 * time.Hour), ErrKeyRevoked, ""},
		{rev, time.Time{}, nil, ""},
		{both, revoked.Add(-ns), nil, ""},
		{both, revoked, ErrKeyRevoked, ""},
		{both, until, ErrKeyRevoked, ""}, // revocation is reported before expiry
		{both, from.Add(-ns), ErrKeyNotYetValid, ""},
		{open, time.Time{}, nil, ""},
		{open, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), nil, ""},
		// Times in other zones compare as instants.
		{window, time.Date(2026, 1, 1, 0, 59, 59, 0, time.FixedZone("CET", 3600)), ErrKeyNotYetValid, ""},
		{window, time.Date(2026, 1, 1, 1, 0, 0, 0, time.FixedZone("CET", 3600)), nil, ""},
	}
	for i, tt := range tests {
		err := tt.key.CheckAt(tt.at)
		if tt.want == nil {
			if err != nil {
				t.Errorf("%d: %s at %v: %v", i, tt.key.Name, tt.at, err)
			}
			continue
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%d: %s at %v: err = %v, want %v", i, tt.key.Name, tt.at, err, tt.want)
			continue
		}
		if tt.message != "" && err.Error() != tt.message {
			t.Errorf("%d: message %q, want %q", i, err, tt.message)
		}
		if k, _ := errkind.Of(err); k != errkind.Untrusted {
			t.Errorf("%d: kind = %v", i, k)
		}
	}
}

// TestCheckAtFromPolicy checks that validity in the YAML reaches the
// resolved key.
func TestCheckAtFromPolicy(t *testing.T) {
	_, pemData := newPub(t, "p256")
	dir := writeTree(t, map[string][]byte{"k.pub": pemData})
	p, err := Parse([]byte(`version: 1
keys:
  - name: release-2025
    publicKey: k.pub
    validFrom: 2025-01-01T00:00:00+02:00
    revokedAt: 2026-03-01T00:00:00Z
policies:
  - name: p
    scopes: ['**']
    signatures: {keys: [release-2025]}
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	k := p.Key("release-2025")
	if err := k.CheckAt(time.Date(2024, 12, 31, 22, 0, 0, 0, time.UTC)); err != nil {
		t.Errorf("at validFrom: %v", err)
	}
	if err := k.CheckAt(time.Date(2024, 12, 31, 21, 59, 59, 0, time.UTC)); !errors.Is(err, ErrKeyNotYetValid) {
		t.Errorf("before validFrom: %v", err)
	}
	err = k.CheckAt(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if !errors.Is(err, ErrKeyRevoked) || err.Error() != "key release-2025 was revoked at 2026-03-01T00:00:00Z" {
		t.Errorf("at revokedAt: %v", err)
	}
}
