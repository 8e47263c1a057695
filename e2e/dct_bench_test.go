package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// BenchmarkDCTImport migrates a repository of 100 DCT-signed tags from a
// real notary-server into a local registry with the referrers API, through
// the CLI. The first import (Notary metadata verified, each tag checked,
// signed and attested) runs once and is logged; the benchmarks are the
// repeatable parts: the dry-run plan, and re-runs that find every tag
// already imported.
//
//	go test -run '^$' -bench DCTImport ./e2e/
func BenchmarkDCTImport(b *testing.B) {
	const tags = 100
	host := testenv.Registry(b, true).Addr
	n := testenv.NotaryServer(b)
	c := n.Client(b)
	gun := host + "/bench/app"
	c.Init(b, gun)
	for i := range tags {
		tag := fmt.Sprintf("v%d", i)
		d := testenv.PushImage(b, host, "bench/app", tag)
		c.AddHash(b, gun, tag, d.String(), manifestSize(b, gun+":"+tag))
	}
	c.Publish(b, gun)
	bin := testenv.Imgsign(b)
	dir := b.TempDir()
	env := []string{"IMGSIGN_PASSWORD=" + passphrase}
	run := func(b *testing.B, args ...string) {
		b.Helper()
		if r := testenv.Run(b, dir, env, bin, args...); r.Code != 0 {
			b.Fatalf("imgsign %v: exit %d\n%s", args, r.Code, r.Stderr)
		}
	}
	run(b, "keys", "generate", "--type", "ecdsa-p256", "--out", "k")
	src := []string{"--server", n.URL, "--server-ca", n.CAFile, "--trust-dir", c.TrustDir, gun}
	start := time.Now()
	run(b, append([]string{"dct", "import", "--key", "k.key"}, src...)...)
	b.Logf("first import of %d tags: %v", tags, time.Since(start).Round(time.Millisecond))

	b.Run("plan", func(b *testing.B) {
		for range b.N {
			run(b, append([]string{"dct", "import", "--dry-run"}, src...)...)
		}
	})
	b.Run("rerun", func(b *testing.B) {
		for range b.N {
			run(b, append([]string{"dct", "import", "--key", "k.key"}, src...)...)
		}
	})
}
