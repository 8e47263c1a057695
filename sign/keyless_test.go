package sign

import (
	"errors"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
)

// keylessError tells a refused token (bad input) from a service that
// failed (operational) by where the error came from, not by its text: a
// dial error to port 40141 once read as an HTTP 401 and turned an
// unreachable timestamp authority into "keyless signing refused", exit 2.
func TestKeylessError(t *testing.T) {
	s := KeylessServices{Fulcio: "http://127.0.0.1:4011", TSAs: []string{"http://127.0.0.1:40141/api/v1/timestamp"}, Logs: []string{"http://127.0.0.1:40341"}}
	dial := func(u string) error {
		return &url.Error{Op: "Post", URL: u, Err: syscall.ECONNREFUSED}
	}
	for _, tc := range []struct {
		name string
		err  error
		kind errkind.Kind
		want string
	}{
		{"Fulcio refuses the token", &stageError{"fulcio", errors.New(`Fulcio returned 400: {"code":3,"message":"There was an error processing the identity token"}`)},
			errkind.Input, "refused the identity token"},
		{"Fulcio unauthorized", &stageError{"fulcio", errors.New("Fulcio returned 401: no")}, errkind.Input, "refused the identity token"},
		{"Fulcio overloaded", &stageError{"fulcio", errors.New("Fulcio returned 429: slow down")}, errkind.Operational, "getting a certificate from Fulcio"},
		{"Fulcio down", &stageError{"fulcio", errors.New("Fulcio returned 503: down")}, errkind.Operational, "getting a certificate from Fulcio"},
		{"Fulcio unreachable on a port with 401 in it", &stageError{"fulcio", dial("http://127.0.0.1:4011/api/v2/signingCert")},
			errkind.Operational, "getting a certificate from Fulcio"},
		{"an unmarked error naming a port with 401 in it", dial(s.TSAs[0]), errkind.Operational, "keyless signing with Fulcio"},
		{"TSA unreachable, marked by its transport", &url.Error{Op: "Post", URL: s.TSAs[0], Err: &stageError{"tsa", syscall.ECONNREFUSED}},
			errkind.Operational, "getting an RFC 3161 timestamp from http://127.0.0.1:40141"},
		{"TSA refuses", errors.New("timestamp authority returned 400: bad request"), errkind.Operational, "getting an RFC 3161 timestamp"},
		{"log unreachable on a port with 403 in it", &stageError{"log", dial("http://127.0.0.1:40341/api/v2/log/entries")},
			errkind.Operational, "recording the signature in the transparency log"},
		{"a 400 in some other message", errors.New("verifying the bundle: 400 reasons"), errkind.Operational, "keyless signing with Fulcio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := keylessError(tc.err, s)
			if k := errkind.KindOf(err); k != tc.kind || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("keylessError = %v (%v); want %v saying %q", err, k, tc.kind, tc.want)
			}
		})
	}
}
