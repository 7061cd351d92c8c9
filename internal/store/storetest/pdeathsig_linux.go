package storetest

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal kills versitygw if the test binary dies without
// stopping it, as when go test's -timeout panics.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
