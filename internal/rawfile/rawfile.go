// Package rawfile reads whole files in fewer system calls than os.ReadFile.
// An *os.File registers with the runtime's network poller and sets its
// descriptor non-blocking, calls that achieve nothing for a regular file;
// for a repository of small Istio files, or an evidence log of many
// records, they cost as much as the reading itself.
package rawfile

import "fmt"

// Read reads the whole file, as os.ReadFile does.
func Read(name string) ([]byte, error) { return read(name, -1) }

// ReadRegular reads a regular file of at most max bytes. A larger file is a
// *TooLargeError; a directory, a device or a pipe is an error. It reads the
// size the file had when opened, for files that are written once.
func ReadRegular(name string, max int64) ([]byte, error) { return read(name, max) }

// TooLargeError is a file larger than ReadRegular was allowed to read.
type TooLargeError struct {
	Name      string
	Size, Max int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is %d bytes, more than the %d allowed", e.Name, e.Size, e.Max)
}
