package main

import (
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/serve"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "enforce the trust policy in Kubernetes: admission webhooks and a Gatekeeper external-data provider",
		Description: `Serves HTTPS (TLS 1.3) on --listen:
  /admission/validate   validating webhook (AdmissionReview v1): denies Pods and workloads
                        (Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs)
                        whose container, init container or ephemeral container images the
                        policy does not trust, naming each image and the reason
  /admission/mutate     mutating webhook: pins each verified image:tag to image:tag@sha256:…
  /externaldata         Gatekeeper external data: verdict and digest per image
  /externaldata/mutate  Gatekeeper external data for an Assign mutation: the pinned reference
  /healthz, /readyz     liveness; readiness once a policy is loaded
  /metrics              Prometheus metrics

The policy is the file 'imgsign verify --policy' reads. It, the files it names, the
named Sigstore trust roots it uses (sigstore: public-good or github: the copy
'imgsign trust-root update' cached, or the embedded snapshot once that copy's TUF
metadata expires) and the TLS certificate are reloaded when they change (checked
every --reload-interval, and on SIGHUP); a policy that does not load keeps the
previous one in force and is reported on stderr, in /readyz and in
imgsign_reload_errors_total. KMS keys are fetched again every --kms-refresh: a
version rotated in or retired takes effect then. A KMS that cannot be reached keeps
the keys fetched before; a KMS that answers that a key is not there (not found,
disabled, refused) withdraws the policy, and every admission is denied until the
key loads again.

Verdicts are cached by policy content, image and digest; a pass at most
--verdict-ttl and never past the first validUntil, revokedAt or maxAge that could
change it, a failure --negative-ttl. Every answer arrives within --deadline: an
image that cannot be verified in time (registry down or hanging) is denied,
unless its rule is in audit mode, which admits with a warning.
docs/kubernetes.md shows the deployment.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "policy", Aliases: []string{"p"}, Required: true, Usage: "trust policy `FILE` (YAML), reloaded when it changes"},
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8443", Usage: "`ADDR:PORT` to serve HTTPS on (0.0.0.0:8443 in a pod)"},
			&cli.StringFlag{Name: "tls-cert", Required: true, Usage: "serving certificate `FILE` (PEM, chain), reloaded when it changes"},
			&cli.StringFlag{Name: "tls-key", Required: true, Usage: "its private key `FILE` (PEM)"},
			&cli.DurationFlag{Name: "deadline", Value: serve.DefaultDeadline, Usage: "answer every request within `DURATION`: 1s less than the webhook's timeoutSeconds"},
			&cli.DurationFlag{Name: "verdict-ttl", Value: serve.DefaultVerdictTTL, Usage: "reuse a pass for at most `DURATION` (0: never)"},
			&cli.DurationFlag{Name: "negative-ttl", Value: serve.DefaultNegativeTTL, Usage: "reuse a failure for at most `DURATION` (0: never)"},
			&cli.DurationFlag{Name: "resolve-ttl", Value: serve.DefaultResolveTTL, Usage: "reuse a tag's resolution to a digest for at most `DURATION` (0: never)"},
			&cli.DurationFlag{Name: "reload-interval", Value: serve.DefaultReloadInterval, Usage: "check the policy and certificate files for changes every `DURATION`"},
			&cli.DurationFlag{Name: "kms-refresh", Value: serve.DefaultKMSRefresh, Usage: "fetch the policy's KMS keys again every `DURATION`"},
		},
		Action: func(c *cli.Context) error {
			if d := c.Duration("kms-refresh"); d <= 0 {
				// serve.Config reads 0 as the default; the flag says what it means.
				return errkind.Inputf("--kms-refresh must be a positive duration such as 5m, not %s", d)
			}
			s, err := serve.New(serve.Config{
				PolicyFile: c.String("policy"), Listen: c.String("listen"),
				TLSCert: c.String("tls-cert"), TLSKey: c.String("tls-key"),
				Deadline: c.Duration("deadline"), VerdictTTL: c.Duration("verdict-ttl"),
				NegativeTTL: c.Duration("negative-ttl"), ResolveTTL: c.Duration("resolve-ttl"),
				ReloadInterval: c.Duration("reload-interval"), KMSRefresh: c.Duration("kms-refresh"),
				Registry: registryOptions(c),
				Log:      slog.New(slog.NewTextHandler(c.App.ErrWriter, nil)),
			})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return s.Run(ctx)
		},
	}
}
