package evidence

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Store keeps evidence objects, each written once.
type Store interface {
	// Create writes key once; it returns an error that wraps ErrExists if
	// the key exists. It returns the object's version id ("" where
	// versions do not exist).
	Create(ctx context.Context, key string, data []byte) (version string, err error)
	// Read returns the object at key, or an error that wraps ErrNotFound.
	Read(ctx context.Context, key string) ([]byte, error)
	// List returns the keys that start with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}

// An Identifier is a Store that can name the log it holds. The name goes
// into the origin line of the log's first checkpoint; later checkpoints keep
// that origin, so renaming a directory or a bucket later does not fork the
// log.
type Identifier interface {
	// Identity names the store, e.g. "s3/<bucket>/<prefix>"; it must not
	// contain newlines.
	Identity() string
}

// Errors that stores return, wrapped, and that callers tell apart with
// errors.Is.
var (
	// ErrExists means Create found the key already written.
	ErrExists = errors.New("evidence object already exists")
	// ErrNotFound means Read found no object at the key.
	ErrNotFound = errors.New("evidence object not found")
)

// The key layout. Sequence numbers and tree sizes are zero-padded to 20
// digits, the width of the largest uint64, so that sorting keys as strings
// sorts them by number: List returns a log in order.
const (
	// RecordsPrefix holds one DSSE envelope per record.
	RecordsPrefix = "records/"
	// CheckpointsPrefix holds the signed checkpoints (C2SP
	// tlog-checkpoint notes).
	CheckpointsPrefix = "checkpoints/"
	// ReportsPrefix holds reports that records cover, such as a mesh
	// check's JSON report, named by their SHA-256: reports/<sha256>.json.
	ReportsPrefix = "reports/"
	// FrontiersPrefix holds, for each checkpoint, the hashes of the
	// largest complete subtrees of its tree, so Append extends the Merkle
	// tree without reading every record. A frontier is a cache: Append
	// uses it only when it matches its signed checkpoint, and Verify
	// ignores it.
	FrontiersPrefix = "frontiers/"

	recordSuffix     = ".dsse.json"
	checkpointSuffix = ".note"
	frontierSuffix   = ".txt"
	seqDigits        = 20
)

// RecordKey returns the key of the record with sequence number seq, e.g.
// "records/00000000000000000042.dsse.json".
func RecordKey(seq uint64) string {
	return fmt.Sprintf("%s%0*d%s", RecordsPrefix, seqDigits, seq, recordSuffix)
}

// CheckpointKey returns the key of the checkpoint of the tree of the first
// size records, e.g. "checkpoints/00000000000000000256.note".
func CheckpointKey(size uint64) string {
	return fmt.Sprintf("%s%0*d%s", CheckpointsPrefix, seqDigits, size, checkpointSuffix)
}

func frontierKey(size uint64) string {
	return fmt.Sprintf("%s%0*d%s", FrontiersPrefix, seqDigits, size, frontierSuffix)
}

// parseKey returns the number in a key of the form prefix, 20 digits,
// suffix; ok is false for any other key.
func parseKey(key, prefix, suffix string) (n uint64, ok bool) {
	digits, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, suffix)
	if !ok || len(digits) != seqDigits {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}
