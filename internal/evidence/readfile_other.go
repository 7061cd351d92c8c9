//go:build !unix

package evidence

import (
	"fmt"
	"os"
)

func readFile(name string) ([]byte, error) {
	info, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if info.Size() > maxObjectSize {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d an evidence object may have: it is not Promote's", name, info.Size(), maxObjectSize)
	}
	return os.ReadFile(name)
}
