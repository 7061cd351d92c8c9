package evidence

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/promote-dev/promote/internal/sign"
)

// TestEd25519CheckpointsOpenWithSumdbNote checks an Ed25519-signed
// checkpoint with golang.org/x/mod/sumdb/note's own verifier, built from
// NoteVerifierKey, as any Go tool would.
func TestEd25519CheckpointsOpenWithSumdbNote(t *testing.T) {
	t.Parallel()
	store := newLocalStore(t)
	signer := localSigner(t, sign.AlgorithmEd25519)
	mustAppend(t, store, signer, testRecords(0, 3))
	vkey, err := NoteVerifierKey(signer.KeyID(), signer.Public())
	if err != nil {
		t.Fatalf("NoteVerifierKey() error = %v", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("note.NewVerifier(%q) error = %v", vkey, err)
	}
	n, err := note.Open(readObject(t, store, CheckpointKey(3)), note.VerifierList(v))
	if err != nil {
		t.Fatalf("note.Open() error = %v", err)
	}
	if !strings.HasPrefix(n.Text, "promote.dev/evidence/local/evidence\n3\n") || n.Sigs[0].Name != signer.KeyID() {
		t.Errorf("note.Open() = %q signed by %q", n.Text, n.Sigs[0].Name)
	}
}

// TestECDSACheckpointsFollowC2SP checks an ECDSA-signed checkpoint the way
// transparency-dev's note.NewECDSAVerifier does, independently of this
// package: signature type 0x02, key ID the first four bytes of the SHA-256
// of the PKIX public key, ASN.1 signature over the SHA-256 of the text.
func TestECDSACheckpointsFollowC2SP(t *testing.T) {
	t.Parallel()
	store := newLocalStore(t)
	signer := localSigner(t, sign.AlgorithmECDSAP256)
	mustAppend(t, store, signer, testRecords(0, 3))

	vkey, err := NoteVerifierKey(signer.KeyID(), signer.Public())
	if err != nil {
		t.Fatalf("NoteVerifierKey() error = %v", err)
	}
	parts := strings.SplitN(vkey, "+", 3)
	keyData, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || keyData[0] != 0x02 {
		t.Fatalf("verifier key %q: want base64 of 0x02 and the PKIX key", vkey)
	}
	der, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	wantHash := binary.BigEndian.Uint32(sum[:])
	if parts[0] != signer.KeyID() || parts[1] != fmt.Sprintf("%08x", wantHash) || !bytes.Equal(keyData[1:], der) {
		t.Errorf("verifier key = %q, want %s+%08x+base64(0x02 || PKIX)", vkey, signer.KeyID(), wantHash)
	}
	if _, err := note.NewVerifier(vkey); err == nil {
		t.Error("note.NewVerifier(ECDSA key) error = nil; sumdb/note knows only Ed25519")
	}

	msg := readObject(t, store, CheckpointKey(3))
	text, sigs, _ := bytes.Cut(msg, []byte("\n\n"))
	text = append(text, '\n')
	line := strings.TrimSuffix(string(sigs), "\n")
	name, b64, _ := strings.Cut(strings.TrimPrefix(line, "— "), " ")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || name != signer.KeyID() || len(raw) < 5 {
		t.Fatalf("signature line %q: want one by %q", line, signer.KeyID())
	}
	if got := binary.BigEndian.Uint32(raw); got != wantHash {
		t.Errorf("signature key ID = %08x, want %08x", got, wantHash)
	}
	digest := sha256.Sum256(text)
	if !ecdsa.VerifyASN1(signer.Public().(*ecdsa.PublicKey), digest[:], raw[4:]) {
		t.Error("ECDSA signature over SHA-256(text) does not verify")
	}

	v, err := NewNoteVerifier(signer.KeyID(), signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
		t.Errorf("note.Open(NewNoteVerifier) error = %v", err)
	}
}

func TestNoteKeyNames(t *testing.T) {
	t.Parallel()
	pub := newFastSigner(t, 1).priv.Public()
	for _, id := range []string{"", "a b", "a+b", "a\nb"} {
		if _, err := NoteVerifierKey(id, pub); err == nil {
			t.Errorf("NoteVerifierKey(%q) error = nil, want one", id)
		}
	}
	if _, err := NoteVerifierKey("vault:transit/promote-evidence:v3", pub); err != nil {
		t.Errorf("NoteVerifierKey(a Vault key id) error = %v, want nil", err)
	}
	if _, err := NoteVerifierKey("k", "not a key"); err == nil {
		t.Error("NoteVerifierKey(string key) error = nil, want one")
	}
}

func TestParseCheckpoint(t *testing.T) {
	t.Parallel()
	root := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		what    string
		in      string
		want    checkpoint
		wantErr string
	}{
		{"valid", "o\n5\n" + root + "\n", checkpoint{origin: "o", size: 5}, ""},
		{"empty tree", "o\n0\n" + root + "\n", checkpoint{origin: "o"}, ""},
		{"extension line", "o\n5\n" + root + "\next\n", checkpoint{}, "has 4 lines"},
		{"no final newline", "o\n5\n" + root, checkpoint{}, "has 2 lines"},
		{"leading zero", "o\n05\n" + root + "\n", checkpoint{}, "not a decimal"},
		{"negative", "o\n-5\n" + root + "\n", checkpoint{}, "not a decimal"},
		{"short root", "o\n5\nAAAA\n", checkpoint{}, "not 32 bytes"},
		{"empty origin", "\n5\n" + root + "\n", checkpoint{}, "empty origin"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			got, err := parseCheckpoint(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("parseCheckpoint(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parseCheckpoint(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if got.text() != tt.in {
				t.Errorf("text() = %q, want %q", got.text(), tt.in)
			}
		})
	}
}

// TestFrontiers checks that a frontier hashes to its tree's root and
// extends like the full tree, for every size up to 70.
func TestFrontiers(t *testing.T) {
	t.Parallel()
	full := hashMap{}
	for n := uint64(0); n <= 70; n++ {
		if n > 0 {
			hashes, err := tlog.StoredHashes(int64(n-1), []byte(strconv.FormatUint(n, 10)), full)
			if err != nil {
				t.Fatal(err)
			}
			full.add(int64(n-1), hashes)
		}
		want, err := tlog.TreeHash(int64(n), full)
		if err != nil {
			t.Fatal(err)
		}
		f, err := formatFrontier(n, full)
		if err != nil {
			t.Fatalf("formatFrontier(%d) error = %v", n, err)
		}
		m, err := parseFrontier(f, n)
		if err != nil {
			t.Fatalf("parseFrontier(%d) error = %v", n, err)
		}
		if got, err := tlog.TreeHash(int64(n), m); err != nil || got != want {
			t.Errorf("TreeHash(frontier %d) = %v, %v; want %v", n, got, err, want)
		}
		// Extend the frontier by three records; it must agree with the
		// full tree's hashes.
		for k := n; k < n+3; k++ {
			data := []byte(strconv.FormatUint(k+1, 10))
			hashes, err := tlog.StoredHashes(int64(k), data, m)
			if err != nil {
				t.Fatalf("extending frontier %d at %d: %v", n, k, err)
			}
			m.add(int64(k), hashes)
		}
		if _, err := parseFrontier(f, n+1); err == nil {
			t.Errorf("parseFrontier(frontier %d, size %d) error = nil, want one", n, n+1)
		}
	}
}
