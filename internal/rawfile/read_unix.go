//go:build unix

package rawfile

import (
	"errors"
	"io/fs"
	"syscall"
)

// read reads name to its end, or, when max is not negative, a regular file
// of at most max bytes up to the size it had when opened (no extra read to
// see the end).
func read(name string, max int64) ([]byte, error) {
	var fd int
	err := retry(func() (err error) {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	statErr := retry(func() error { return syscall.Fstat(fd, &st) })
	regular := statErr == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG
	limit, size := -1, 512
	switch {
	case max >= 0 && statErr != nil:
		return nil, &fs.PathError{Op: "stat", Path: name, Err: statErr}
	case max >= 0 && !regular:
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("not a regular file")}
	case max >= 0 && st.Size > max:
		return nil, &TooLargeError{Name: name, Size: st.Size, Max: max}
	case max >= 0:
		limit, size = int(st.Size), int(st.Size)
	case regular && st.Size > 0:
		size = int(st.Size) + 1 // one more byte to see the end at once
	}
	data := make([]byte, 0, size)
	for limit < 0 || len(data) < limit {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		var n int
		err := retry(func() (err error) {
			n, err = syscall.Read(fd, data[len(data):cap(data)])
			return err
		})
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if n == 0 {
			break
		}
		data = data[:len(data)+n]
	}
	return data, nil
}

// retry calls f again while a signal interrupts it.
func retry(f func() error) error {
	for {
		if err := f(); !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
