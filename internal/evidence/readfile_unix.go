//go:build unix

package evidence

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// readFile reads a whole file like os.ReadFile, in fewer system calls: an
// *os.File registers with the runtime's poller and sets the descriptor
// non-blocking, which for a regular file costs three calls that achieve
// nothing, and os.ReadFile reads once more to see the end. Verify reads
// every record of a log, and in a virtual machine each call is dear.
func readFile(name string) ([]byte, error) {
	var fd int
	err := retryEINTR(func() (err error) {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := retryEINTR(func() error { return syscall.Fstat(fd, &st) }); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("not a regular file")}
	}
	if st.Size > maxObjectSize {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d an evidence object may have: it is not Promote's", name, st.Size, maxObjectSize)
	}
	// Objects are written once, so the size is final; reading stops
	// there, and also at an early end if the file shrank.
	data := make([]byte, st.Size)
	for n := 0; n < len(data); {
		var m int
		err := retryEINTR(func() (err error) {
			m, err = syscall.Read(fd, data[n:])
			return err
		})
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if m == 0 {
			return data[:n], nil
		}
		n += m
	}
	return data, nil
}

func retryEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
