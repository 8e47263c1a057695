package ocilayout

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Processes writing one layout at once lose no index.json entry: the
// flock serialises their read-modify-write, which the in-process mutex
// cannot. The test binary re-runs itself as the writers.
func TestWritersInSeveralProcesses(t *testing.T) {
	const perProcess = 40
	if dir := os.Getenv("OCILAYOUT_TEST_WRITER_DIR"); dir != "" {
		repo, _ := name.NewRepository(os.Getenv("OCILAYOUT_TEST_WRITER_REPO"))
		n, _ := strconv.Atoi(os.Getenv("OCILAYOUT_TEST_WRITER_N"))
		subject := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: v1.Hash{Algorithm: "sha256", Hex: os.Getenv("OCILAYOUT_TEST_WRITER_SUBJECT")}, Size: 1}
		for i := range perProcess {
			if _, err := Open(dir, repo).PushReferrer(context.Background(), referrer(t, subject, n*perProcess+i)); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	if testing.Short() {
		t.Skip("starts several processes; run without -short")
	}
	l, img := newLayout(t)
	var cmds []*exec.Cmd
	for n := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWritersInSeveralProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "OCILAYOUT_TEST_WRITER_DIR="+l.dir, "OCILAYOUT_TEST_WRITER_REPO="+l.name.Name(),
			"OCILAYOUT_TEST_WRITER_N="+strconv.Itoa(n), "OCILAYOUT_TEST_WRITER_SUBJECT="+img.Digest.Hex)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := l.readIndex()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(idx.Manifests), 1+4*perProcess; got != want {
		t.Errorf("index.json lists %d entries after 4 processes wrote %d referrers, want %d", got, 4*perProcess, want)
	}
}
