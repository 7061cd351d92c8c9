package evidence

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"slices"
	"testing"

	"github.com/promote-dev/promote/internal/sign"
)

// TestEd25519Batch checks that batching changes nothing in the verdicts:
// every bad signature is named, a non-canonical R that the batch rules
// would accept is judged by the standard library, and good ones pass.
func TestEd25519Batch(t *testing.T) {
	t.Parallel()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	records := make([]recordResult, n)
	var batch ed25519Batch
	for i := range records {
		msg := []byte(fmt.Sprintf("record %d", i))
		sig := ed25519.Sign(priv, msg)
		switch i {
		case 7:
			sig[40] ^= 1 // a flipped bit in S
		case 150:
			msg = []byte("another message")
		case 299:
			// R = the field prime: a non-canonical encoding of y = 0.
			sig = slices.Concat([]byte{0xed}, bytes.Repeat([]byte{0xff}, 30), []byte{0x7f}, sig[32:])
		}
		records[i].seq = uint64(i)
		if !batch.add(&records[i], "k", pub, msg, sig) {
			if i != 299 {
				t.Fatalf("record %d was not batched", i)
			}
			records[i].fail("not batched")
		}
	}
	batch.verify()
	var failed []int
	for i, r := range records {
		if len(r.failures) > 0 {
			failed = append(failed, i)
		}
	}
	if want := []int{7, 150, 299}; !slices.Equal(failed, want) {
		t.Errorf("failed records = %v, want %v", failed, want)
	}
}

// TestEd25519BatchLeavesNonCanonicalR checks that a signature the batch
// rules (ZIP-215) accept but the standard library refuses is judged by the
// standard library: the identity as public key, R a non-canonical encoding
// of the identity (y = p+1) and S = 0 satisfy ZIP-215's equation for any
// message. Alone in a batch it would pass; it must be verified alone and
// fail.
//
// Mutant this kills: canonical accepting every R (the batch then passes the
// forged signature, because no other signature makes it fail).
func TestEd25519BatchLeavesNonCanonicalR(t *testing.T) {
	t.Parallel()
	identity := ed25519.PublicKey(append([]byte{1}, make([]byte, 31)...))
	r := slices.Concat([]byte{0xee}, bytes.Repeat([]byte{0xff}, 30), []byte{0x7f})
	sig := slices.Concat(r, make([]byte, 32))
	var rec recordResult
	var batch ed25519Batch
	// As checkSignatures does: what the batch does not take is verified
	// alone.
	if !batch.add(&rec, "k", identity, []byte("any record"), sig) {
		if err := sign.Verify(identity, []byte("any record"), sig); err != nil {
			rec.fail("%v", err)
		}
	}
	batch.verify()
	if len(rec.failures) != 1 {
		t.Errorf("failures %q, want the forged signature refused once", rec.failures)
	}
}
