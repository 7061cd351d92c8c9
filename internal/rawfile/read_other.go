//go:build !unix

package rawfile

import (
	"errors"
	"io/fs"
	"os"
)

func read(name string, max int64) ([]byte, error) {
	if max < 0 {
		return os.ReadFile(name)
	}
	info, err := os.Stat(name)
	switch {
	case err != nil:
		return nil, err
	case !info.Mode().IsRegular():
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("not a regular file")}
	case info.Size() > max:
		return nil, &TooLargeError{Name: name, Size: info.Size(), Max: max}
	}
	return os.ReadFile(name)
}
