//go:build !unix

package ocilayout

// lockDir is a no-op where flock is missing: writers within one process
// are still serialised (dirLocks); across processes they are not.
func lockDir(string) (func(), error) { return func() {}, nil }
