package compliance

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestNonRootUser(t *testing.T) {
	for user, wantProblem := range map[string]bool{"": true, "root": true, "0": true, "0:0": true, "root:staff": true, "65532": false, "app": false, "1000:1000": false,
		"00": true, "+0": true, "-0": true, "000:1000": true, "1000:0": false, "0app": false} {
		cfg := &v1.ConfigFile{Config: v1.Config{User: user}}
		if got := NonRootUser(cfg) != ""; got != wantProblem {
			t.Errorf("User %q: problem=%v, want %v", user, got, wantProblem)
		}
	}
}

func TestSecrets(t *testing.T) {
	awsKey := "AKIA" + "IOSFODNN7EXAMPLE"
	ghToken := "ghp_" + strings.Repeat("a1B2", 9)
	cases := []struct {
		name string
		cfg  v1.Config
		hist []v1.History
		want []string // substrings, one per finding
	}{
		{"clean official-image style", v1.Config{Env: []string{"PATH=/usr/bin", "GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D", "PYTHON_VERSION=3.12.1", "DB_PASSWORD_FILE=/run/secrets/db"}}, nil, nil},
		{"aws key in env", v1.Config{Env: []string{"CREDS=" + awsKey}}, nil, []string{"env CREDS contains what looks like an AWS access key id"}},
		{"named password", v1.Config{Env: []string{"DB_PASSWORD=hunter2hunter2"}}, nil, []string{"env DB_PASSWORD has a value"}},
		{"placeholder password", v1.Config{Env: []string{"DB_PASSWORD=/run/secrets/db"}}, nil, nil},
		{"token in label", v1.Config{Labels: map[string]string{"ci.token": ghToken}}, nil, []string{"label ci.token contains what looks like a GitHub token"}},
		{"private key in history", v1.Config{}, []v1.History{{CreatedBy: "RUN echo '-----BEGIN RSA PRIVATE KEY-----' > /k"}}, []string{"history step 1 contains what looks like a private key"}},
		{"password in URL", v1.Config{Env: []string{"PIP_INDEX_URL=https://user:s3cretpw@pypi.example.com/simple"}}, nil, []string{"a password in a URL"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Secrets(&v1.ConfigFile{Config: c.cfg, History: c.hist})
			if len(got) != len(c.want) {
				t.Fatalf("findings %q, want %d", got, len(c.want))
			}
			for i, w := range c.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("finding %q lacks %q", got[i], w)
				}
			}
			for _, f := range got {
				for _, secret := range []string{awsKey, ghToken, "hunter2", "s3cretpw"} {
					if strings.Contains(f, secret) {
						t.Errorf("finding %q shows the secret", f)
					}
				}
			}
		})
	}
}

func TestBaseImages(t *testing.T) {
	prov := map[string]any{"buildDefinition": map[string]any{"resolvedDependencies": []any{
		map[string]any{"uri": "pkg:docker/docker/dockerfile@1?platform=linux%2Famd64"},
		map[string]any{"uri": "pkg:docker/alpine@3.20?platform=linux%2Famd64", "digest": map[string]any{"sha256": "ab"}},
		map[string]any{"uri": "pkg:docker/cgr.dev/chainguard/static@latest?platform=linux%2Famd64"},
		map[string]any{"uri": "docker-image://ghcr.io/acme/base:1.2"},
		map[string]any{"uri": "git+https://github.com/acme/app@refs/heads/main"},
	}}}
	got := BaseImages([]map[string]any{prov})
	want := []string{"cgr.dev/chainguard/static:latest", "docker.io/library/alpine:3.20", "ghcr.io/acme/base:1.2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("BaseImages = %q, want %q", got, want)
	}
	cases := []struct {
		globs []string
		bad   []string
	}{
		{[]string{"cgr.dev/chainguard/*", "docker.io/library/*", "ghcr.io/acme/**"}, nil},
		{[]string{"alpine"}, []string{"cgr.dev/chainguard/static:latest", "ghcr.io/acme/base:1.2"}},
		{[]string{"cgr.dev/**"}, []string{"docker.io/library/alpine:3.20", "ghcr.io/acme/base:1.2"}},
		{[]string{"docker.io/library/alpine:3.*", "cgr.dev/chainguard/static", "ghcr.io/acme/base"}, nil},
	}
	for _, c := range cases {
		if bad := AllowedBase(got, c.globs); !reflect.DeepEqual(bad, c.bad) {
			t.Errorf("AllowedBase(%q) = %q, want %q", c.globs, bad, c.bad)
		}
	}
}

func TestOverSeverity(t *testing.T) {
	load := func(name string) any {
		b, err := os.ReadFile("../../testdata/vuln/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var r any
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return map[string]any{"scanner": map[string]any{"result": r}}
	}
	cases := []struct {
		file, max string
		n         int
	}{
		{"trivy.json", "HIGH", 1},
		{"trivy.json", "CRITICAL", 0},
		{"trivy.json", "LOW", 2},
		{"trivy-clean.json", "HIGH", 0},
		{"grype.json", "HIGH", 1},
		{"grype.json", "critical", 0},
	}
	for _, c := range cases {
		over, err := OverSeverity([]any{load(c.file)}, strings.ToUpper(c.max))
		if err != nil || len(over) != c.n {
			t.Errorf("%s over %s: %q %v, want %d", c.file, c.max, over, err, c.n)
		}
	}
}
