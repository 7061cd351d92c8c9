package evidence

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/promote-dev/promote/internal/clock"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/promote-dev/promote/internal/sign"
)

// CheckpointInterval is how often Append writes a checkpoint within a batch:
// at every tree size that is a multiple of it, besides the one after the
// batch's last record.
const CheckpointInterval = 256

// maxAttempts bounds how often Append re-reads the head and signs its
// remaining records again after other writers took the next sequence
// numbers. Every lost race means another writer appended, so the log as a
// whole always progresses; the bound only keeps one writer from starving
// for ever.
const maxAttempts = 100

// maxBaseCandidates bounds how many checkpoints Append tries, newest first,
// to find a frontier to extend before it hashes the whole log instead.
const maxBaseCandidates = 4

// Stored is a record as Append wrote it.
type Stored struct {
	Key string
	// Version is the store's version id of the object, or empty where
	// the store keeps no versions or reported the write as existing (see
	// Append).
	Version string
	Seq     uint64
	// SHA256 is the hex SHA-256 of Envelope, the stored bytes.
	SHA256 string
	// Envelope is the DSSE envelope exactly as stored.
	Envelope []byte
}

// Append seals records as the next entries of the log in store.
//
// It reads the head (the record with the highest sequence number), numbers
// the records after it, links each to the one before by the SHA-256 of that
// record's payload (see Predicate.Prev), and signs the whole batch with one
// signer.Sign call, so that a Vault signer makes one call per run however
// many records it seals. Each record is then written once, in order. When
// another writer took a sequence number first, Append re-reads the head,
// numbers, links and signs the records it has not written yet again, and
// goes on; only signed records are ever written. A store that reports its
// own retried write as existing is recognised: the record there is byte for
// byte Append's.
//
// After the records, Append writes checkpoints signed by the same signer,
// again with one Sign call: one at every multiple of CheckpointInterval it
// crossed and one for the tree ending at its last record.
//
// Append validates every record before writing any. On error it returns the
// records it wrote so far.
func Append(ctx context.Context, store Store, signer sign.Signer, records []Record) ([]Stored, error) {
	for i := range records {
		if err := records[i].validate(); err != nil {
			return nil, fmt.Errorf("evidence record %d: %w", i+1, err)
		}
	}
	if len(records) == 0 {
		return nil, nil
	}
	var stored []Stored
	pending := records
	for attempt := 1; len(pending) > 0; attempt++ {
		if attempt > maxAttempts {
			return stored, fmt.Errorf("appending evidence: other writers took the next sequence number %d times; %d of %d records written: run again", maxAttempts, len(stored), len(records))
		}
		if attempt > 1 {
			if err := backoff(ctx, attempt); err != nil {
				return stored, err
			}
		}
		h, err := readHead(ctx, store)
		if err != nil {
			return stored, err
		}
		sealed, err := seal(ctx, signer, pending, h)
		if err != nil {
			return stored, err
		}
		written, err := writeRecords(ctx, store, sealed)
		stored = append(stored, written...)
		pending = pending[len(written):]
		if err != nil && !errors.Is(err, ErrExists) {
			return stored, err
		}
	}
	if err := writeCheckpoints(ctx, store, signer, stored); err != nil {
		return stored, err
	}
	return stored, nil
}

// backoff waits a little before attempt, at random so that racing writers
// spread out.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(min(attempt, 20)) * int64(time.Millisecond)))
	return clock.Real{}.Sleep(ctx, d)
}

// head is the last record of a log.
type head struct {
	seq uint64
	// prev is the hex SHA-256 of its payload, the next record's prev.
	prev string
}

// readHead finds the record with the highest sequence number.
func readHead(ctx context.Context, store Store) (head, error) {
	keys, err := store.List(ctx, RecordsPrefix)
	if err != nil {
		return head{}, fmt.Errorf("listing evidence records: %w", err)
	}
	for i := len(keys) - 1; i >= 0; i-- {
		seq, ok := parseKey(keys[i], RecordsPrefix, recordSuffix)
		if !ok {
			continue
		}
		data, err := store.Read(ctx, keys[i])
		if err != nil {
			return head{}, fmt.Errorf("reading the last evidence record: %w", err)
		}
		env, err := decodeEnvelope(data)
		if err != nil {
			return head{}, fmt.Errorf("last evidence record %q is not a DSSE envelope (%v): run promote evidence verify", keys[i], err)
		}
		st, err := decodeStatement(env.payload)
		if err != nil {
			return head{}, fmt.Errorf("last evidence record %q has no Promote statement (%v): run promote evidence verify", keys[i], err)
		}
		if st.predicate.Seq != seq {
			return head{}, fmt.Errorf("last evidence record %q says it is record %d: run promote evidence verify", keys[i], st.predicate.Seq)
		}
		sum := sha256.Sum256(env.payload)
		return head{seq: seq, prev: hex.EncodeToString(sum[:])}, nil
	}
	return head{}, nil
}

type sealedRecord struct {
	seq      uint64
	envelope []byte
}

// seal numbers and links records after h and signs them with one call.
func seal(ctx context.Context, signer sign.Signer, records []Record, h head) ([]sealedRecord, error) {
	payloads := make([][]byte, len(records))
	messages := make([][]byte, len(records))
	prev := h.prev
	for i := range records {
		p, err := records[i].statement(h.seq+1+uint64(i), prev)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(p)
		prev = hex.EncodeToString(sum[:])
		payloads[i] = p
		messages[i] = dsse.PAE(PayloadType, p)
	}
	sigs, err := signer.Sign(ctx, messages)
	if err != nil {
		return nil, fmt.Errorf("signing %d evidence records: %w", len(records), err)
	}
	if len(sigs) != len(records) {
		return nil, fmt.Errorf("signing %d evidence records: the signer returned %d signatures", len(records), len(sigs))
	}
	// Asked after signing, so that it names the key version that signed.
	keyID := signer.KeyID()
	out := make([]sealedRecord, len(records))
	for i := range records {
		env, err := encodeEnvelope(payloads[i], keyID, sigs[i])
		if err != nil {
			return nil, err
		}
		out[i] = sealedRecord{seq: h.seq + 1 + uint64(i), envelope: env}
	}
	return out, nil
}

// writeRecords creates the records in order and stops at the first error,
// which wraps ErrExists when another writer took a sequence number.
//
// A store may also report ErrExists for a write of its own: S3 does when the
// SDK retried a PutObject whose answer was lost. The record at the key is
// then byte for byte the one written (signatures make each envelope unique),
// and it counts as written, without a version id.
func writeRecords(ctx context.Context, store Store, records []sealedRecord) ([]Stored, error) {
	var written []Stored
	for _, r := range records {
		key := RecordKey(r.seq)
		version, err := store.Create(ctx, key, r.envelope)
		if errors.Is(err, ErrExists) {
			if existing, rerr := store.Read(ctx, key); rerr == nil && bytes.Equal(existing, r.envelope) {
				err = nil
			}
		}
		if err != nil {
			return written, fmt.Errorf("writing evidence record %d: %w", r.seq, err)
		}
		sum := sha256.Sum256(r.envelope)
		written = append(written, Stored{Key: key, Version: version, Seq: r.seq, SHA256: hex.EncodeToString(sum[:]), Envelope: r.envelope})
	}
	return written, nil
}

// base is where a tree's hashing starts: a verified checkpoint and the
// frontier that hashes to its root.
type base struct {
	origin string
	size   uint64
	hashes hashMap
}

// writeCheckpoints writes the checkpoints of the trees ending at mine's
// records that are multiples of CheckpointInterval and at its last record.
func writeCheckpoints(ctx context.Context, store Store, signer sign.Signer, mine []Stored) error {
	last := mine[len(mine)-1].Seq
	ours := make(map[uint64][]byte, len(mine))
	var sizes []uint64
	for _, s := range mine {
		ours[s.Seq] = s.Envelope
		if s.Seq%CheckpointInterval == 0 || s.Seq == last {
			sizes = append(sizes, s.Seq)
		}
	}
	keys, err := signer.PublicKeys(ctx)
	if err != nil {
		return fmt.Errorf("checkpointing evidence: %w", err)
	}
	b, err := findBase(ctx, store, keys, mine[0].Seq-1)
	if err != nil {
		return err
	}
	if b.origin == "" {
		b.origin = originPrefix
		if id, ok := store.(Identifier); ok && id.Identity() != "" {
			b.origin += "/" + strings.ReplaceAll(id.Identity(), "\n", " ")
		}
	}

	tree := b.hashes
	checkpoints := make([]checkpoint, 0, len(sizes))
	frontiers := make([][]byte, 0, len(sizes))
	next := 0 // the next size to checkpoint; all are after the base
	for seq := b.size + 1; seq <= last; seq++ {
		data, ok := ours[seq]
		if !ok {
			// Not ours: an earlier run's after the base, or
			// another writer's between ours.
			if data, err = store.Read(ctx, RecordKey(seq)); err != nil {
				return fmt.Errorf("checkpointing evidence: %w", err)
			}
		}
		hashes, err := tlog.StoredHashes(int64(seq-1), data, tree)
		if err != nil {
			return fmt.Errorf("checkpointing evidence: hashing record %d: %w", seq, err)
		}
		tree.add(int64(seq-1), hashes)
		if next == len(sizes) || sizes[next] != seq {
			continue
		}
		next++
		root, err := tlog.TreeHash(int64(seq), tree)
		if err != nil {
			return fmt.Errorf("checkpointing evidence: hashing tree %d: %w", seq, err)
		}
		f, err := formatFrontier(seq, tree)
		if err != nil {
			return fmt.Errorf("checkpointing evidence: %w", err)
		}
		checkpoints = append(checkpoints, checkpoint{origin: b.origin, size: seq, root: root})
		frontiers = append(frontiers, f)
	}

	notes, err := signCheckpoints(ctx, signer, keys, checkpoints)
	if err != nil {
		return err
	}
	for i, c := range checkpoints {
		if err := createCheckpoint(ctx, store, c, notes[i]); err != nil {
			return err
		}
		// The frontier is a cache; losing it costs the next Append
		// reads, not evidence.
		if _, err := store.Create(ctx, frontierKey(c.size), frontiers[i]); err != nil && !errors.Is(err, ErrExists) {
			return fmt.Errorf("writing the frontier of evidence checkpoint %d: %w", c.size, err)
		}
	}
	return nil
}

// createCheckpoint writes a checkpoint unless the same tree's checkpoint
// exists.
func createCheckpoint(ctx context.Context, store Store, c checkpoint, signed []byte) error {
	key := CheckpointKey(c.size)
	_, err := store.Create(ctx, key, signed)
	if !errors.Is(err, ErrExists) {
		if err != nil {
			return fmt.Errorf("writing evidence checkpoint: %w", err)
		}
		return nil
	}
	old, err := store.Read(ctx, key)
	if err != nil {
		return fmt.Errorf("reading existing evidence checkpoint: %w", err)
	}
	text, _, _ := bytes.Cut(old, []byte("\n\n"))
	if prev, err := parseCheckpoint(string(text) + "\n"); err != nil || prev.root != c.root {
		return fmt.Errorf("evidence checkpoint %q already exists for another tree: run promote evidence verify", key)
	}
	return nil
}

// findBase returns the newest checkpoint of a tree of at most limit records
// whose signature verifies with keys and whose frontier matches it, or an
// empty base (hash the whole log) if there is none. The log's origin comes
// from its newest checkpoint that verifies, if any.
func findBase(ctx context.Context, store Store, keys map[string]crypto.PublicKey, limit uint64) (base, error) {
	list, err := store.List(ctx, CheckpointsPrefix)
	if err != nil {
		return base{}, fmt.Errorf("listing evidence checkpoints: %w", err)
	}
	verifiers := noteVerifiers(keys)
	open := func(key string, size uint64) (checkpoint, bool) {
		data, err := store.Read(ctx, key)
		if err != nil {
			return checkpoint{}, false
		}
		c, _, err := openCheckpoint(data, verifiers)
		return c, err == nil && c.size == size
	}
	b := base{hashes: hashMap{}}
	tried := 0
	for i := len(list) - 1; i >= 0 && tried < maxBaseCandidates; i-- {
		size, ok := parseKey(list[i], CheckpointsPrefix, checkpointSuffix)
		if !ok || (size > limit && b.origin != "") {
			continue
		}
		tried++
		c, ok := open(list[i], size)
		if !ok {
			continue
		}
		if b.origin == "" {
			b.origin = c.origin
		}
		if size > limit || c.origin != b.origin {
			continue
		}
		f, err := store.Read(ctx, frontierKey(size))
		if err != nil {
			continue
		}
		m, err := parseFrontier(f, size)
		if err != nil {
			continue
		}
		if root, err := tlog.TreeHash(int64(size), m); err != nil || root != c.root {
			continue
		}
		b.size, b.hashes = size, m
		return b, nil
	}
	return b, nil
}

// signCheckpoints signs the checkpoints' texts with one call and returns the
// signed notes.
func signCheckpoints(ctx context.Context, signer sign.Signer, keys map[string]crypto.PublicKey, checkpoints []checkpoint) ([][]byte, error) {
	texts := make([][]byte, len(checkpoints))
	for i, c := range checkpoints {
		texts[i] = []byte(c.text())
	}
	sigs, err := signer.Sign(ctx, texts)
	if err != nil {
		return nil, fmt.Errorf("signing %d evidence checkpoints: %w", len(texts), err)
	}
	if len(sigs) != len(texts) {
		return nil, fmt.Errorf("signing %d evidence checkpoints: the signer returned %d signatures", len(texts), len(sigs))
	}
	keyID := signer.KeyID()
	pub, ok := keys[keyID]
	if !ok {
		return nil, fmt.Errorf("signing evidence checkpoints: the signer's public keys lack its key %q", keyID)
	}
	k, err := newNoteKey(keyID, pub)
	if err != nil {
		return nil, fmt.Errorf("signing evidence checkpoints: %w", err)
	}
	notes := make([][]byte, len(texts))
	for i := range texts {
		notes[i], err = note.Sign(&note.Note{Text: string(texts[i])}, &signedNoteKey{noteKey: k, text: string(texts[i]), sig: sigs[i]})
		if err != nil {
			return nil, fmt.Errorf("signing evidence checkpoint: %w", err)
		}
	}
	return notes, nil
}
