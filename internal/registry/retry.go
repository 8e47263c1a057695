package registry

import (
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
type retrying struct {
	inner http.RoundTripper
}

func (r *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 0; ; attempt++ {
		if attempt > 0 && req.GetBody != nil {
			b, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = b
		}
		resp, err := r.inner.RoundTrip(req)
		if attempt >= len(backoff) || !replayable || !retryable(resp, err) {
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(backoff[attempt]):
		}
	}
}

func retryable(resp *http.Response, err error) bool {
	if err != nil {
		var nerr net.Error
		return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
			errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &nerr) && nerr.Timeout())
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
