//go:build !linux

package testenv

import "errors"

// loopbackUp is never reached off Linux: LoopbackOnly skips first.
func loopbackUp() error { return errors.New("network namespaces need Linux") }
