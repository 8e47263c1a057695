package e2e

import (
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// Every name under localhost is this machine to a policy (a scope for
// localhost:PORT covers app.localhost:PORT), so imgsign must reach this
// machine for it too: Go's resolver would ask DNS for app.localhost, and
// a proxy would look the name up where it runs — a registry anywhere,
// judged by the rules for this machine's, over plain HTTP. The image is
// verified through the name, with a proxy in the environment that would
// refuse every connection.
func TestSubLocalhostIsThisMachine(t *testing.T) {
	e := newEnv(t)
	host := testenv.Registry(t, true).Addr
	_, port, _ := strings.Cut(host, ":")
	d := testenv.PushImage(t, host, "app/web", "1.0")
	e.key("k", "ecdsa-p256")
	e.must("sign", "--key", "k.key", host+"/app/web@"+d.String())
	pol := e.policy("localhost:"+port, []string{"k"}, 1, nil)
	dead := "http://127.0.0.1:9" // discard: nothing answers there
	r := testenv.Run(t, e.dir, []string{"HTTPS_PROXY=" + dead, "HTTP_PROXY=" + dead, "NO_PROXY="}, e.bin,
		"verify", "--policy", pol, "app.localhost:"+port+"/app/web:1.0")
	expectExit(t, r, 0, "PASS")
}
