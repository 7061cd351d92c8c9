package evidence

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/promote-dev/promote/internal/sign"
)

// SpoolPayloadType is the DSSE payload type of a spooled batch.
const SpoolPayloadType = "application/vnd.promote.spool+json"

// Spool keeps the records of a run that could not be appended to the store
// (the store was unreachable), with the blobs they cover (such as a mesh
// check's report), until Flush writes them. A batch is signed before it
// touches the disk, so no record lies there unsigned; it is numbered and
// chained only when it is appended.
type Spool struct {
	Dir string
}

// spooled is one batch on disk: a DSSE envelope over its spoolBatch.
type spooled struct {
	Envelope json.RawMessage `json:"envelope"`
}

// spoolBatch is the signed payload of a spooled batch.
type spoolBatch struct {
	Records []Record          `json:"records"`
	Blobs   map[string][]byte `json:"blobs,omitempty"` // store key → content
}

// Put signs records and the blobs they cover as one batch and writes it to
// the spool. It returns the file written.
func (s Spool) Put(ctx context.Context, signer sign.Signer, records []Record, blobs map[string][]byte) (string, error) {
	payload, err := json.Marshal(spoolBatch{Records: records, Blobs: blobs})
	if err != nil {
		return "", fmt.Errorf("encode spooled records: %w", err)
	}
	sigs, err := signer.Sign(ctx, [][]byte{dsse.PAE(SpoolPayloadType, payload)})
	if err != nil {
		return "", fmt.Errorf("sign spooled records: %w", err)
	}
	env, err := json.Marshal(dsse.Envelope{
		PayloadType: SpoolPayloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []dsse.Signature{{KeyID: signer.KeyID(), Sig: base64.StdEncoding.EncodeToString(sigs[0])}},
	})
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(spooled{Envelope: env})
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return "", fmt.Errorf("create the spool: %w", err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	// Names sort by time, so batches are appended in the order of their runs.
	name := filepath.Join(s.Dir, fmt.Sprintf("%s-%s.json", time.Now().UTC().Format("20060102T150405.000000000Z"), hex.EncodeToString(suffix)))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("write the spool: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "", fmt.Errorf("write the spool: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("write the spool: %w", err)
	}
	return name, f.Close()
}

// Check reports whether the spool can take a batch: it creates the
// directory if needed and writes and removes a file there.
func (s Spool) Check() error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("create the spool: %w", err)
	}
	f, err := os.CreateTemp(s.Dir, ".check-*")
	if err != nil {
		return fmt.Errorf("write the spool: %w", err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Pending lists the spooled batches, oldest first.
func (s Spool) Pending() ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the spool: %w", err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			files = append(files, filepath.Join(s.Dir, e.Name()))
		}
	}
	slices.Sort(files)
	return files, nil
}

// Flush appends every spooled batch to the store, oldest first: its blobs
// first (a blob already stored is left as it is), then its records. It
// removes each batch once appended. A batch whose signature does not verify
// with keys is not appended: it was changed on disk. Flush returns how many
// records it appended.
func (s Spool) Flush(ctx context.Context, store Store, signer sign.Signer, keys map[string]crypto.PublicKey) (int, error) {
	files, err := s.Pending()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, file := range files {
		batch, err := readSpooled(file, keys)
		if err != nil {
			return n, err
		}
		if err := CreateBlobs(ctx, store, batch.Blobs); err != nil {
			return n, fmt.Errorf("store the spooled blobs of %s: %w", filepath.Base(file), err)
		}
		if _, err := Append(ctx, store, signer, batch.Records); err != nil {
			return n, fmt.Errorf("append the spooled records of %s: %w", filepath.Base(file), err)
		}
		n += len(batch.Records)
		if err := os.Remove(file); err != nil {
			return n, fmt.Errorf("remove %s after appending it (remove it by hand, or its records are appended twice): %w", file, err)
		}
	}
	return n, nil
}

// CreateBlobs writes blobs to the store in the order of their keys, each
// once: a key that exists already is left as it is (blobs are named by
// their digest).
func CreateBlobs(ctx context.Context, store Store, blobs map[string][]byte) error {
	for _, key := range slices.Sorted(maps.Keys(blobs)) {
		if _, err := store.Create(ctx, key, blobs[key]); err != nil && !errors.Is(err, ErrExists) {
			return err
		}
	}
	return nil
}

func readSpooled(file string, keys map[string]crypto.PublicKey) (*spoolBatch, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read the spool: %w", err)
	}
	var sp spooled
	var env dsse.Envelope
	if err := json.Unmarshal(data, &sp); err != nil {
		return nil, fmt.Errorf("%s: not a spooled batch: %w", file, err)
	}
	if err := json.Unmarshal(sp.Envelope, &env); err != nil || env.PayloadType != SpoolPayloadType || len(env.Signatures) != 1 {
		return nil, fmt.Errorf("%s: not a signed spooled batch", file)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	pub, ok := keys[env.Signatures[0].KeyID]
	if !ok {
		return nil, fmt.Errorf("%s: signed by unknown key %q", file, env.Signatures[0].KeyID)
	}
	if err := sign.Verify(pub, dsse.PAE(SpoolPayloadType, payload), sig); err != nil {
		return nil, fmt.Errorf("%s was changed after it was spooled: %w", file, err)
	}
	var batch spoolBatch
	if err := json.Unmarshal(payload, &batch); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &batch, nil
}

// Records counts the records waiting in the spool, in batches whose
// signature verifies with keys: the backlog a run or promote evidence flush
// will append.
func (s Spool) Records(keys map[string]crypto.PublicKey) (int, error) {
	files, err := s.Pending()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range files {
		b, err := readSpooled(f, keys)
		if err != nil {
			return n, err
		}
		n += len(b.Records)
	}
	return n, nil
}
