//go:build !linux

package kubeenv

import "syscall"

// sysProcAttr puts a component in its own process group (Stop kills the
// group). Only Linux has a parent-death signal: elsewhere a test binary
// killed before its TestMain calls Stop leaves the components running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
