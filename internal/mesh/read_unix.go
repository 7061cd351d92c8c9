//go:build unix

package mesh

import (
	"errors"
	"io/fs"
	"syscall"
)

// readFile reads a whole file as os.ReadFile does, in half its system
// calls: os.Open also tries to register every file with the network poller
// (four fcntl and an epoll_ctl, refused for regular files), which for a
// repository of small files cost as much as reading them.
func readFile(name string) ([]byte, error) {
	var fd int
	err := retry(func() (err error) {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer syscall.Close(fd)
	size := 512
	var st syscall.Stat_t
	if retry(func() error { return syscall.Fstat(fd, &st) }) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG && st.Size > 0 {
		size = int(st.Size) + 1 // one more byte to see the end at once
	}
	data := make([]byte, 0, size)
	for {
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
			return data, nil
		}
		data = data[:len(data)+n]
	}
}

// retry calls f again while a signal interrupts it.
func retry(f func() error) error {
	for {
		if err := f(); !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
