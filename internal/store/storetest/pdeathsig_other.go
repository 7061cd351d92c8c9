//go:build !linux

package storetest

import "os/exec"

// setParentDeathSignal does nothing where the kernel cannot tie a child's
// life to its parent's: TestMain stops versitygw.
func setParentDeathSignal(*exec.Cmd) {}
