//go:build !unix

package ocilayout

import "context"

// lockDir is a no-op where flock is missing: writers within one process
// are still serialised (dirLocks); across processes they are not.
func lockDir(context.Context, string) (func(), error) { return func() {}, nil }
