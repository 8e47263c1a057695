package registry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// backoff is short on purpose: a deploy gate should fail in seconds when a
// registry is down, and CI retries whole jobs anyway.
var backoff = []time.Duration{200 * time.Millisecond, 600 * time.Millisecond, 1500 * time.Millisecond}

// retrying retries requests that failed with a 5xx, a 429 or a reset
// connection. Requests with a body are retried only when it can be replayed.
// A connection that breaks after the headers, while the body is read, is
// retried by Repo.get, which reads the bodies.
type retrying struct {
	inner http.RoundTripper
}

func (r *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 0; ; attempt++ {
		try := req
		if attempt > 0 && req.GetBody != nil {
			b, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			// A RoundTripper must not modify the caller's request.
			try = req.Clone(req.Context())
			try.Body = b
		}
		resp, err := r.inner.RoundTrip(try)
		if attempt >= len(backoff) || !replayable || !retryable(resp, err) {
			return resp, err
		}
		// Cancelled while the answer was on its way: the run is over, and
		// saying so beats handing back an answer that asks for a retry.
		if cerr := req.Context().Err(); errors.Is(cerr, context.Canceled) {
			if resp != nil {
				resp.Body.Close()
			}
			return nil, cerr
		}
		if !canWait(req.Context(), backoff[attempt]) {
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if !sleep(req.Context(), backoff[attempt]) {
			return nil, req.Context().Err()
		}
	}
}

// canWait reports whether a retry after d could still run before ctx's
// deadline. When it could not, the last answer is worth more than waiting
// out the deadline for a context error that says less.
func canWait(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d
}

// sleep waits d unless ctx ends first or would end before d is up; it
// reports whether the caller may retry.
func sleep(ctx context.Context, d time.Duration) bool {
	if !canWait(ctx, d) {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func retryable(resp *http.Response, err error) bool {
	if err != nil {
		// The run's deadline or a cancel: the context's own end, which no
		// retry can outlast.
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return false
		}
		var nerr net.Error
		// io.EOF from a round trip is a connection the server closed before
		// answering (a restarting registry or load balancer), as good as a reset.
		return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
			errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
			(errors.As(err, &nerr) && nerr.Timeout())
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
