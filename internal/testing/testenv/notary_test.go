package testenv

import (
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestNotary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts notary-server")
	}
	n := NotaryServer(t)
	c := n.Client(t)
	const gun = "127.0.0.1:5000/app"
	digest := func(s string) string { return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(s))) }

	c.Init(t, gun)
	c.AddHash(t, gun, "v1", digest("v1"), 101)
	c.AddHash(t, gun, "latest", digest("latest"), 102)
	c.Publish(t, gun)
	keyID := c.AddDelegation(t, gun, "targets/releases")
	c.AddHash(t, gun, "v2", digest("v2"), 103, "targets/releases")
	c.Publish(t, gun)

	// notary list prints a NAME DIGEST SIZE ROLE table with a dashed rule.
	rows := func(out string) map[string]string {
		m := map[string]string{}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) == 4 && f[0] != "NAME" && !strings.HasPrefix(f[0], "-") {
				m[f[0]] = strings.Join(f[1:], " ")
			}
		}
		return m
	}
	hex := func(d string) string { return strings.TrimPrefix(d, "sha256:") }
	all := rows(c.Run(t, "list", gun))
	want := map[string]string{
		"v1":     hex(digest("v1")) + " 101 targets",
		"latest": hex(digest("latest")) + " 102 targets",
		"v2":     hex(digest("v2")) + " 103 targets/releases",
	}
	for tag, w := range want {
		if all[tag] != w {
			t.Errorf("notary list %s: %s = %q, want %q", gun, tag, all[tag], w)
		}
	}
	rel := rows(c.Run(t, "list", gun, "--roles", "targets/releases"))
	if len(rel) != 1 || rel["v2"] != want["v2"] {
		t.Errorf("notary list %s --roles targets/releases = %v, want only v2", gun, rel)
	}

	// The delegation's key is the one in targets.json and signed its role.
	var releases struct {
		Signatures []struct {
			KeyID string `json:"keyid"`
		} `json:"signatures"`
	}
	b, err := os.ReadFile(c.MetadataPath(gun, "targets/releases"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &releases); err != nil {
		t.Fatal(err)
	}
	if len(releases.Signatures) != 1 || releases.Signatures[0].KeyID != keyID {
		t.Errorf("targets/releases.json signatures = %+v, want one by %s", releases.Signatures, keyID)
	}

	// The root key ID is the root role's key in root.json; its certificate
	// names the GUN, and the snapshot and timestamp keys are server-managed.
	var root struct {
		Signed struct {
			Roles map[string]struct {
				KeyIDs []string `json:"keyids"`
			} `json:"roles"`
		} `json:"signed"`
	}
	if b, err = os.ReadFile(c.MetadataPath(gun, "root")); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	rootID := c.RootKeyID(t, gun)
	if !slices.Contains(root.Signed.Roles["root"].KeyIDs, rootID) {
		t.Errorf("root key ID %s not in root.json root keyids %v", rootID, root.Signed.Roles["root"].KeyIDs)
	}
	if block, _ := pem.Decode(c.RootCertPEM(t, gun)); block == nil || block.Type != "CERTIFICATE" {
		t.Errorf("RootCertPEM is not a PEM certificate")
	}
	for _, k := range c.privateKeys(t) {
		if k.role == "snapshot" || k.role == "timestamp" {
			t.Errorf("local %s key %s, want it server-managed", k.role, k.path)
		}
	}
}
