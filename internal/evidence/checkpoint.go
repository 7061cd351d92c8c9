package evidence

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/promote-dev/promote/internal/sign"
)

// Signature type identifier bytes of C2SP signed notes
// (https://c2sp.org/signed-note). 0x01 is Ed25519 over the note text, the
// only type golang.org/x/mod/sumdb/note implements. 0x02 is ECDSA as
// github.com/transparency-dev/witness and Sigstore's Rekor implement it: an
// ASN.1 DER signature over the SHA-256 of the note text, exactly what
// sign.Signer produces for P-256 keys, with a key ID that is the first four
// bytes of the SHA-256 of the PKIX (SPKI) DER public key. Both are assigned by
// the specification, so tools outside Promote can check Promote's
// checkpoints.
const (
	noteTypeEd25519 = 0x01
	noteTypeECDSA   = 0x02
)

// originPrefix starts the origin line of every checkpoint.
const originPrefix = "promote.dev/evidence"

// noteKey is a signer's public key as signed notes name it.
type noteKey struct {
	name string
	hash uint32
	// data is the verifier key's key data: the type byte, then the
	// Ed25519 key or the PKIX DER of the ECDSA key.
	data []byte
	pub  crypto.PublicKey
}

func newNoteKey(keyID string, pub crypto.PublicKey) (*noteKey, error) {
	if keyID == "" || !utf8.ValidString(keyID) || strings.IndexFunc(keyID, unicode.IsSpace) >= 0 || strings.Contains(keyID, "+") {
		return nil, fmt.Errorf("key id %q cannot name a signed note's key: it must be non-empty, without spaces or +", keyID)
	}
	k := &noteKey{name: keyID, pub: pub}
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("key %q: ed25519 public key of %d bytes, want %d", keyID, len(pub), ed25519.PublicKeySize)
		}
		k.data = append([]byte{noteTypeEd25519}, pub...)
		// As in golang.org/x/mod/sumdb/note.
		h := sha256.New()
		h.Write([]byte(keyID + "\n"))
		h.Write(k.data)
		k.hash = binary.BigEndian.Uint32(h.Sum(nil))
	case *ecdsa.PublicKey:
		if pub == nil || pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("key %q: ecdsa key not on P-256: %w", keyID, sign.ErrUnsupportedKey)
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", keyID, err)
		}
		k.data = append([]byte{noteTypeECDSA}, der...)
		sum := sha256.Sum256(der)
		k.hash = binary.BigEndian.Uint32(sum[:])
	default:
		return nil, fmt.Errorf("key %q is a %T: signed notes take ed25519 or ecdsa p-256 keys: %w", keyID, pub, sign.ErrUnsupportedKey)
	}
	return k, nil
}

func (k *noteKey) Name() string    { return k.name }
func (k *noteKey) KeyHash() uint32 { return k.hash }

// Verify reports whether sig is k's signature of msg.
func (k *noteKey) Verify(msg, sig []byte) bool { return sign.Verify(k.pub, msg, sig) == nil }

// NewNoteVerifier returns a note.Verifier for checkpoints signed by the key
// with the given key id: the key name of the note's signature line is the key
// id, and the signature type is 0x01 (Ed25519) or 0x02 (ECDSA P-256 over
// SHA-256, as transparency-dev and Rekor sign notes).
func NewNoteVerifier(keyID string, pub crypto.PublicKey) (note.Verifier, error) {
	return newNoteKey(keyID, pub)
}

// NoteVerifierKey returns the verifier key of a signer's public key,
// "<key id>+<hex key hash>+<base64 of type byte and key>": what
// note.NewVerifier takes for an Ed25519 key, and what transparency-dev's
// note.NewECDSAVerifier takes for an ECDSA one.
func NoteVerifierKey(keyID string, pub crypto.PublicKey) (string, error) {
	k, err := newNoteKey(keyID, pub)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s+%08x+%s", k.name, k.hash, base64.StdEncoding.EncodeToString(k.data)), nil
}

// signedNoteKey is a note.Signer that hands out a signature made earlier, so
// that one signer.Sign call can sign several checkpoints: note.Sign asks
// for one signature at a time and takes no context.
type signedNoteKey struct {
	*noteKey
	text string
	sig  []byte
}

func (s *signedNoteKey) Sign(msg []byte) ([]byte, error) {
	if string(msg) != s.text {
		return nil, errors.New("signing a note whose text was not signed")
	}
	return s.sig, nil
}

// checkpoint is the body of a C2SP tlog-checkpoint.
type checkpoint struct {
	origin string
	size   uint64
	root   tlog.Hash
}

func (c checkpoint) text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.origin, c.size, base64.StdEncoding.EncodeToString(c.root[:]))
}

// parseCheckpoint parses a checkpoint's text: origin, tree size in decimal
// and root hash in base64, one a line. Promote writes no extension lines, so
// a checkpoint with any is refused.
func parseCheckpoint(text string) (checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return checkpoint{}, fmt.Errorf("checkpoint has %d lines, want 3: origin, tree size, root hash", len(lines)-1)
	}
	c := checkpoint{origin: lines[0]}
	if c.origin == "" {
		return checkpoint{}, errors.New("checkpoint has an empty origin")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || lines[1] != strconv.FormatUint(size, 10) {
		return checkpoint{}, fmt.Errorf("checkpoint tree size %q is not a decimal number", lines[1])
	}
	c.size = size
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return checkpoint{}, fmt.Errorf("checkpoint root hash %q is not %d bytes of base64", lines[2], tlog.HashSize)
	}
	copy(c.root[:], root)
	return c, nil
}

// noteVerifiers returns verifiers for the keys that can sign notes.
func noteVerifiers(keys map[string]crypto.PublicKey) note.Verifiers {
	var list []note.Verifier
	for id, pub := range keys {
		if k, err := newNoteKey(id, pub); err == nil {
			list = append(list, k)
		}
	}
	return note.VerifierList(list...)
}

// openCheckpoint checks a stored checkpoint's signature and parses it. It
// returns the key ids that signed it.
func openCheckpoint(data []byte, verifiers note.Verifiers) (checkpoint, []string, error) {
	n, err := note.Open(data, verifiers)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			var names []string
			for _, s := range unverified.Note.UnverifiedSigs {
				names = append(names, s.Name)
			}
			return checkpoint{}, nil, fmt.Errorf("signed by no trusted key: signatures by %q", names)
		case errors.As(err, &invalid):
			return checkpoint{}, nil, fmt.Errorf("signature by key %q does not verify", invalid.Name)
		}
		return checkpoint{}, nil, fmt.Errorf("not a signed note: %w", err)
	}
	c, err := parseCheckpoint(n.Text)
	if err != nil {
		return checkpoint{}, nil, err
	}
	var ids []string
	for _, s := range n.Sigs {
		ids = append(ids, s.Name)
	}
	return c, ids, nil
}

// hashMap holds some of a tree's stored hashes (see tlog.StoredHashIndex):
// enough to extend the tree and to hash it, not to prove records.
type hashMap map[int64]tlog.Hash

// ReadHashes implements tlog.HashReader.
func (m hashMap) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := m[x]
		if !ok {
			return nil, fmt.Errorf("stored hash %d is not at hand", x)
		}
		out[i] = h
	}
	return out, nil
}

// add stores the hashes tlog.StoredHashes returned for record n.
func (m hashMap) add(n int64, hashes []tlog.Hash) {
	x := tlog.StoredHashIndex(0, n)
	for i, h := range hashes {
		m[x+int64(i)] = h
	}
}

// frontierIndexes returns the stored hash indexes of the largest complete
// subtrees of a tree of size n, left to right. Their hashes are all that
// tlog needs to hash the tree and to extend it.
func frontierIndexes(n uint64) []int64 {
	var idx []int64
	var start uint64
	for level := 63; level >= 0; level-- {
		if n&(1<<level) != 0 {
			idx = append(idx, tlog.StoredHashIndex(level, int64(start>>level)))
			start += 1 << level
		}
	}
	return idx
}

const frontierHeader = "promote evidence frontier v1"

// formatFrontier writes the frontier of a tree of size n from m.
func formatFrontier(n uint64, m tlog.HashReader) ([]byte, error) {
	hashes, err := m.ReadHashes(frontierIndexes(n))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%d\n", frontierHeader, n)
	for _, h := range hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	return b.Bytes(), nil
}

// parseFrontier reads a frontier of a tree of size n into a hashMap.
func parseFrontier(data []byte, n uint64) (hashMap, error) {
	lines := strings.Split(string(data), "\n")
	want := bits.OnesCount64(n)
	if len(lines) != want+3 || lines[0] != frontierHeader || lines[1] != strconv.FormatUint(n, 10) || lines[len(lines)-1] != "" {
		return nil, fmt.Errorf("frontier of tree size %d is malformed", n)
	}
	m := hashMap{}
	for i, x := range frontierIndexes(n) {
		h, err := base64.StdEncoding.DecodeString(lines[2+i])
		if err != nil || len(h) != tlog.HashSize {
			return nil, fmt.Errorf("frontier of tree size %d has a malformed hash", n)
		}
		m[x] = tlog.Hash(h)
	}
	return m, nil
}
