package evidence

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"filippo.io/edwards25519"
	"github.com/hdevalence/ed25519consensus"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/promote-dev/promote/internal/sign"
)

// Report is what Verify found.
type Report struct {
	// Records is how many records were read and checked.
	Records int `json:"records"`
	// Head is the highest sequence number in the log.
	Head uint64 `json:"head"`
	// Origin is the log's name in its checkpoints.
	Origin string `json:"origin,omitempty"`
	// Checkpoints are the checkpoints checked, by tree size.
	Checkpoints []CheckedCheckpoint `json:"checkpoints"`
	// TreeSize is the size of the largest checkpoint that passed every
	// check. Records after it are not yet covered by a checkpoint, as
	// when a run stopped between writing its records and its checkpoint.
	TreeSize uint64 `json:"tree_size"`
	// Failures lists every problem, by key.
	Failures []Failure `json:"failures"`
}

// OK reports whether Verify found no failure.
func (r *Report) OK() bool { return len(r.Failures) == 0 }

// CheckedCheckpoint is a checkpoint Verify checked.
type CheckedCheckpoint struct {
	// Key is the checkpoint's key, or "external checkpoint N" for the
	// Nth of Verifier.Checkpoints.
	Key string `json:"key"`
	// Size is the tree size the checkpoint states or, if it cannot be
	// read, the one its key states.
	Size uint64 `json:"size"`
	// Root is the base64 root hash the checkpoint states, if it can be
	// read.
	Root string `json:"root,omitempty"`
	// KeyIDs are the keys whose signatures verified.
	KeyIDs []string `json:"key_ids"`
	// OK reports whether the checkpoint passed every check.
	OK bool `json:"ok"`
}

// Failure is one problem with one object of the log.
type Failure struct {
	// Key is the object's key.
	Key string `json:"key"`
	// Seq is the record's sequence number, or the checkpoint's tree size.
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
}

func (f Failure) String() string { return fmt.Sprintf("%s: %s", f.Key, f.Reason) }

// Verify checks the log in store with the trusted public keys, by key id;
// it is Verifier{Keys: keys}.Verify.
func Verify(ctx context.Context, store Store, keys map[string]crypto.PublicKey) (*Report, error) {
	return (&Verifier{Keys: keys}).Verify(ctx, store)
}

// Verifier checks logs.
type Verifier struct {
	// Keys are the trusted public keys, by key id.
	Keys map[string]crypto.PublicKey
	// Checkpoints are signed checkpoints kept outside the store, such as
	// one an earlier run printed in its job summary or a witness holds.
	// They are checked like the stored ones, so a log truncated together
	// with its checkpoints is still caught.
	Checkpoints [][]byte
	// Workers is how many goroutines read and check records; 0 means
	// GOMAXPROCS.
	Workers int
	// TrustCheckpoints checks the records that a checkpoint covers
	// through it, not one signature at a time: the checkpoint's signature
	// by a trusted key is checked, and its root against the Merkle tree of
	// the stored bytes (signatures included), so a record changed,
	// removed or added since fails as before, and the records after the
	// last good checkpoint are checked one by one. What it does not
	// check is what only the signer itself could have written: a
	// covered record's own signature, or its key id. It is for readers
	// that need the records fast, such as KPIs; promote evidence verify
	// checks every signature.
	TrustCheckpoints bool
}

// Verify reads every record and checkpoint once and checks:
//
//   - each record: a DSSE envelope with payload type
//     "application/vnd.in-toto+json" and exactly one signature, made by a
//     trusted key named by its keyid, over the DSSE PAE of the stored
//     payload; the payload is an in-toto Statement v1 whose subject names a
//     commit and whose predicate type and predicate are Promote's;
//   - the chain: sequence numbers run from 1 without gaps, each record's key
//     matches its seq, and each prev is the SHA-256 of the previous record's
//     payload;
//   - each checkpoint: its signature by a trusted key, its origin (the
//     log's), its tree size (at most the records there are), its root hash
//     against the RFC 6962 Merkle tree of the stored records' bytes, and
//     that each checkpoint's tree extends the one before (a consistency
//     proof; two checkpoints of one size with different roots fork the log).
//
// Records are read and checked in parallel. Problems are findings, listed in
// the Report; the error is for what stopped the check, such as a store that
// cannot be listed or read.
func (v *Verifier) Verify(ctx context.Context, store Store) (*Report, error) {
	report, _, err := v.verify(ctx, store)
	return report, err
}

// verify checks the log as Verify documents and also returns what it
// learned about each record, in sequence order.
func (v *Verifier) verify(ctx context.Context, store Store) (*Report, []recordResult, error) {
	keys, err := store.List(ctx, RecordsPrefix)
	if err != nil {
		return nil, nil, fmt.Errorf("listing evidence records: %w", err)
	}
	cpKeys, err := store.List(ctx, CheckpointsPrefix)
	if err != nil {
		return nil, nil, fmt.Errorf("listing evidence checkpoints: %w", err)
	}
	report := &Report{Checkpoints: []CheckedCheckpoint{}, Failures: []Failure{}}

	var records []recordResult
	for _, key := range keys {
		seq, ok := parseKey(key, RecordsPrefix, recordSuffix)
		if !ok {
			report.fail(key, 0, "unexpected key among the records: want records/<20-digit seq>.dsse.json")
			continue
		}
		records = append(records, recordResult{key: key, seq: seq})
	}
	var checkpoints []checkpointResult
	for _, key := range cpKeys {
		size, ok := parseKey(key, CheckpointsPrefix, checkpointSuffix)
		if !ok {
			report.fail(key, 0, "unexpected key among the checkpoints: want checkpoints/<20-digit tree size>.note")
			continue
		}
		checkpoints = append(checkpoints, checkpointResult{key: key, keySize: size, stored: true})
	}
	for i, data := range v.Checkpoints {
		checkpoints = append(checkpoints, checkpointResult{key: fmt.Sprintf("external checkpoint %d", i+1), data: data})
	}

	verifiers := noteVerifiers(v.Keys)
	workers := v.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	openCheckpoint := func(c *checkpointResult) error {
		if c.stored {
			data, err := store.Read(ctx, c.key)
			if errors.Is(err, ErrNotFound) {
				c.fail("listed but cannot be read: %v", err)
				return nil
			}
			if err != nil {
				return err
			}
			c.data = data
		}
		c.open(verifiers)
		return nil
	}
	// With TrustCheckpoints, the checkpoints are opened first: records up
	// to the largest one whose signature verifies leave their signatures
	// for later, checked only if its root turns out not to match.
	var deferUpTo uint64
	opened := 0
	if v.TrustCheckpoints {
		if err := parallel(ctx, len(checkpoints), workers, func(i int) error { return openCheckpoint(&checkpoints[i]) }); err != nil {
			return nil, nil, fmt.Errorf("verifying evidence: %w", err)
		}
		for _, c := range checkpoints {
			if c.opened && len(c.failures) == 0 {
				deferUpTo = max(deferUpTo, c.cp.size)
			}
		}
		opened = len(checkpoints)
	}
	checkRecords := func(rs []recordResult) error {
		var batch ed25519Batch
		for j := range rs {
			r := &rs[j]
			data, err := r.readFrom(ctx, store)
			if err != nil {
				return err
			}
			if data == nil {
				continue
			}
			env := r.parse(data)
			if r.seq <= deferUpTo {
				r.deferred = true
				continue
			}
			r.checkSignatures(env, v.Keys, &batch)
		}
		batch.verify()
		return nil
	}
	chunks := (len(records) + batchSize - 1) / batchSize
	err = parallel(ctx, chunks+len(checkpoints)-opened, workers, func(i int) error {
		if i < chunks {
			return checkRecords(records[i*batchSize : min((i+1)*batchSize, len(records))])
		}
		return openCheckpoint(&checkpoints[opened+i-chunks])
	})
	if err != nil {
		return nil, nil, fmt.Errorf("verifying evidence: %w", err)
	}

	report.Records = len(records)
	if len(records) > 0 {
		report.Head = records[len(records)-1].seq
	}
	checkChain(records)
	tree := buildTree(records)
	report.Origin = checkCheckpoints(checkpoints, tree, report.Head)
	if deferUpTo > 0 {
		// Records no good checkpoint covers after all get their
		// signatures checked one by one, read again.
		var covered uint64
		for _, c := range checkpoints {
			if len(c.failures) == 0 {
				covered = max(covered, c.size())
			}
		}
		var tail []*recordResult
		for i := range records {
			if r := &records[i]; r.deferred && r.seq > covered {
				tail = append(tail, r)
			}
		}
		err := parallel(ctx, (len(tail)+batchSize-1)/batchSize, workers, func(i int) error {
			var batch ed25519Batch
			for _, r := range tail[i*batchSize : min((i+1)*batchSize, len(tail))] {
				data, err := r.readFrom(ctx, store)
				if err != nil {
					return err
				}
				if env, err := decodeEnvelope(data); data != nil && err == nil { // else parse said so
					r.checkSignatures(env, v.Keys, &batch)
				}
			}
			batch.verify()
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("verifying evidence: %w", err)
		}
	}

	for _, r := range records {
		for _, reason := range r.failures {
			report.fail(r.key, r.seq, reason)
		}
	}
	for _, c := range checkpoints {
		for _, reason := range c.failures {
			report.fail(c.key, c.size(), reason)
		}
		checked := CheckedCheckpoint{Key: c.key, Size: c.size(), KeyIDs: c.keyIDs, OK: len(c.failures) == 0}
		if c.opened {
			checked.Root = base64.StdEncoding.EncodeToString(c.cp.root[:])
		}
		if checked.OK {
			report.TreeSize = max(report.TreeSize, checked.Size)
		}
		report.Checkpoints = append(report.Checkpoints, checked)
	}
	slices.SortStableFunc(report.Checkpoints, func(a, b CheckedCheckpoint) int { return cmp.Compare(a.Size, b.Size) })
	slices.SortStableFunc(report.Failures, func(a, b Failure) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.Reason, b.Reason))
	})
	return report, records, nil
}

func (r *Report) fail(key string, seq uint64, reason string) {
	r.Failures = append(r.Failures, Failure{Key: key, Seq: seq, Reason: reason})
}

// parallel calls f(0) to f(n-1) from workers goroutines and returns the
// first error, after which it starts no more calls.
func parallel(ctx context.Context, n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				err := ctx.Err()
				if err == nil {
					err = f(i)
				}
				if err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// recordResult is what Verify learned about one record.
type recordResult struct {
	key string
	seq uint64 // from the key
	// leaf is the record's Merkle leaf hash, of its stored bytes.
	leaf tlog.Hash
	// read reports whether the record could be read.
	read bool
	// payloadSHA256 is the SHA-256 of the payload, if it decoded.
	payloadSHA256 [sha256.Size]byte
	havePayload   bool
	// predicate is the statement's predicate, if it decoded.
	predicate *Predicate
	// st is the whole statement, if it decoded.
	st *statement
	// deferred reports whether the signature check was left to the
	// checkpoint that covers the record (Verifier.TrustCheckpoints).
	deferred bool
	failures []string
}

func (r *recordResult) fail(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// readFrom reads the record from store; a record listed but gone is a
// failure of the record and nil data, other errors stop the check.
func (r *recordResult) readFrom(ctx context.Context, store Store) ([]byte, error) {
	data, err := store.Read(ctx, r.key)
	if errors.Is(err, ErrNotFound) {
		r.fail("listed but cannot be read: %v", err)
		return nil, nil
	}
	return data, err
}

// parse hashes a record's stored bytes and decodes its envelope and
// statement. It returns the envelope, or nil if it did not decode.
func (r *recordResult) parse(data []byte) *envelope {
	r.read = true
	r.leaf = tlog.RecordHash(data)
	env, err := decodeEnvelope(data)
	if err != nil {
		r.fail("not a DSSE envelope: %v", err)
		return nil
	}
	if env.payloadType != PayloadType {
		r.fail("payloadType is %q, want %q", env.payloadType, PayloadType)
	}
	r.payloadSHA256 = sha256.Sum256(env.payload)
	r.havePayload = true
	st, err := decodeStatement(env.payload)
	if err != nil {
		r.fail("payload is not a Promote in-toto statement: %v", err)
		return env
	}
	r.st = st
	r.predicate = &st.predicate
	if st.predicate.Seq != r.seq {
		r.fail("payload says seq %d but the key says %d: records were renamed, swapped or copied", st.predicate.Seq, r.seq)
	}
	return env
}

// checkSignatures checks that env has exactly one signature, by a trusted
// key, over the PAE of its payload.
func (r *recordResult) checkSignatures(env *envelope, keys map[string]crypto.PublicKey, batch *ed25519Batch) {
	if env == nil {
		return
	}
	if n := len(env.signatures); n != 1 {
		r.fail("envelope has %d signatures, want exactly 1", n)
	}
	var pae []byte
	for _, s := range env.signatures {
		pub, ok := keys[s.keyID]
		if !ok {
			r.fail("signed by key %q, which is not trusted", s.keyID)
			continue
		}
		if pae == nil {
			pae = dsse.PAE(env.payloadType, env.payload)
		}
		if pub, ok := pub.(ed25519.PublicKey); ok && batch != nil && batch.add(r, s.keyID, pub, pae, s.sig) {
			continue
		}
		if err := sign.Verify(pub, pae, s.sig); err != nil {
			r.fail("signature by key %q does not verify: %v", s.keyID, err)
		}
	}
}

// batchSize is how many records one task reads and checks; their Ed25519
// signatures are verified as one batch.
const batchSize = 128

// ed25519Batch verifies Ed25519 signatures together, about twice as fast as
// one by one (ed25519consensus, ZIP-215 rules). When the batch fails, each
// signature is verified alone with the standard library, so the records
// that fail are named exactly as without batching.
type ed25519Batch struct {
	items []batchItem
}

type batchItem struct {
	r        *recordResult
	keyID    string
	pub      ed25519.PublicKey
	msg, sig []byte
}

// add queues a signature and reports whether it did; signatures the batch
// rules could judge differently from the standard library's (a malformed
// length, a non-canonical R or S) are left to single verification.
func (b *ed25519Batch) add(r *recordResult, keyID string, pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize || !canonical(sig[:32]) || !canonicalScalar(sig[32:]) {
		return false
	}
	b.items = append(b.items, batchItem{r, keyID, pub, msg, sig})
	return true
}

func (b *ed25519Batch) verify() {
	if len(b.items) == 0 {
		return
	}
	v := ed25519consensus.NewPreallocatedBatchVerifier(len(b.items))
	for _, it := range b.items {
		v.Add(it.pub, it.msg, it.sig)
	}
	if v.Verify() {
		return
	}
	for _, it := range b.items {
		if err := sign.Verify(it.pub, it.msg, it.sig); err != nil {
			it.r.fail("signature by key %q does not verify: %v", it.keyID, err)
		}
	}
}

// canonical reports whether a compressed Edwards point encodes its y
// coordinate below the field prime 2^255-19, as the standard library
// requires of R.
func canonical(p []byte) bool {
	// y >= p only when the low 255 bits are all ones but for the lowest
	// byte, which is at least 0xed (p = 2^255-19).
	if p[31]&0x7f != 0x7f {
		return true
	}
	for _, c := range p[1:31] {
		if c != 0xff {
			return true
		}
	}
	return p[0] < 0xed
}

// canonicalScalar reports whether S is below the group order L, as both
// the standard library and ZIP-215 require.
func canonicalScalar(s []byte) bool {
	_, err := new(edwards25519.Scalar).SetCanonicalBytes(s)
	return err == nil
}

// checkChain checks sequence numbers and prev links, in key order.
func checkChain(records []recordResult) {
	var want uint64 = 1
	for i := range records {
		r := &records[i]
		switch {
		case r.seq == want+1:
			r.fail("record %d is missing before it", want)
		case r.seq > want:
			r.fail("records %d to %d are missing before it", want, r.seq-1)
		}
		want = r.seq + 1
		if r.predicate == nil || r.predicate.Seq != r.seq {
			continue // reported by parse
		}
		if r.seq == 1 || i == 0 || records[i-1].seq != r.seq-1 {
			continue // the first record, or after a gap
		}
		before := &records[i-1]
		if !before.havePayload {
			continue // reported on the record before
		}
		if got := hex.EncodeToString(before.payloadSHA256[:]); r.predicate.Prev != got {
			r.fail("prev is %s but the payload of record %d hashes to %s: a record was changed, replaced or reordered", r.predicate.Prev, before.seq, got)
		}
	}
}

// tree is the Merkle tree of the records that run from 1 without a gap.
type tree struct {
	size   uint64
	hashes []tlog.Hash // stored hashes, by tlog.StoredHashIndex
	// missing is the first record absent after them (0 if none).
	missing uint64
}

func (t *tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(t.hashes)) {
			return nil, fmt.Errorf("stored hash %d is beyond the tree", x)
		}
		out[i] = t.hashes[x]
	}
	return out, nil
}

func buildTree(records []recordResult) *tree {
	t := &tree{hashes: make([]tlog.Hash, 0, tlog.StoredHashCount(int64(len(records))))}
	for _, r := range records {
		if r.seq != t.size+1 || !r.read {
			t.missing = t.size + 1
			break
		}
		hashes, err := tlog.StoredHashesForRecordHash(int64(t.size), r.leaf, t)
		if err != nil {
			// Cannot happen: the tree holds every hash before.
			panic(err)
		}
		t.hashes = append(t.hashes, hashes...)
		t.size++
	}
	return t
}

// checkpointResult is what Verify learned about one checkpoint.
type checkpointResult struct {
	key     string
	keySize uint64 // from the key, if stored
	stored  bool
	data    []byte
	// opened reports whether the signature verified and the text parsed.
	opened   bool
	cp       checkpoint
	keyIDs   []string
	rootOK   bool
	failures []string
}

// size is the tree size the checkpoint states, or the one its key states.
func (c *checkpointResult) size() uint64 {
	if c.opened {
		return c.cp.size
	}
	return c.keySize
}

func (c *checkpointResult) fail(format string, args ...any) {
	c.failures = append(c.failures, fmt.Sprintf(format, args...))
}

// open checks the checkpoint's signature and parses it.
func (c *checkpointResult) open(verifiers note.Verifiers) {
	cp, ids, err := openCheckpoint(c.data, verifiers)
	if err != nil {
		c.fail("%v", err)
		return
	}
	c.cp, c.keyIDs, c.opened = cp, ids, true
	if c.stored && cp.size != c.keySize {
		c.fail("checkpoint is of tree size %d but the key says %d: checkpoints were renamed or replaced", cp.size, c.keySize)
	}
}

// checkCheckpoints checks the opened checkpoints against the tree and each
// other, and returns the log's origin: that of its smallest checkpoint.
func checkCheckpoints(checkpoints []checkpointResult, t *tree, head uint64) string {
	var opened []*checkpointResult
	for i := range checkpoints {
		if checkpoints[i].opened {
			opened = append(opened, &checkpoints[i])
		}
	}
	slices.SortStableFunc(opened, func(a, b *checkpointResult) int { return cmp.Compare(a.cp.size, b.cp.size) })
	if len(opened) == 0 {
		return ""
	}
	origin := opened[0].cp.origin
	for _, c := range opened {
		if c.cp.origin != origin {
			c.fail("origin %q differs from the log's, %q: the checkpoint belongs to another log", c.cp.origin, origin)
		}
		switch {
		case c.cp.size == head+1:
			c.fail("checkpoint covers %d records but the log ends at record %d: record %d was removed (truncated)", c.cp.size, head, c.cp.size)
		case c.cp.size > head:
			c.fail("checkpoint covers %d records but the log ends at record %d: records %d to %d were removed (truncated)", c.cp.size, head, head+1, c.cp.size)
		case c.cp.size > t.size:
			c.fail("checkpoint covers record %d, which is missing", t.missing)
		default:
			root, err := tlog.TreeHash(int64(c.cp.size), t)
			if err != nil {
				c.fail("hashing the tree of records 1 to %d: %v", c.cp.size, err)
				continue
			}
			if root != c.cp.root {
				c.fail("root hash %s does not match %s, the Merkle tree of records 1 to %d: a record it covers was changed or removed, or the checkpoint was replaced",
					base64.StdEncoding.EncodeToString(c.cp.root[:]), base64.StdEncoding.EncodeToString(root[:]), c.cp.size)
				continue
			}
			c.rootOK = true
		}
	}
	// Every root that matched the records is consistent with every other
	// by construction; proving it with tlog checks the two independently.
	// Checkpoints of one size must agree even when the records are gone.
	for i := 1; i < len(opened); i++ {
		a, b := opened[i-1], opened[i]
		switch {
		case a.cp.size == b.cp.size && a.cp.root != b.cp.root:
			b.fail("forks the log: %s states another root for the same tree size", a.key)
		case a.rootOK && b.rootOK && a.cp.size < b.cp.size:
			proof, err := tlog.ProveTree(int64(b.cp.size), int64(a.cp.size), t)
			if err == nil {
				err = tlog.CheckTree(proof, int64(b.cp.size), b.cp.root, int64(a.cp.size), a.cp.root)
			}
			if err != nil {
				b.fail("tree does not extend the tree of %s: %v", a.key, err)
			}
		}
	}
	return origin
}
