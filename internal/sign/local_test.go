package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustLocal(t *testing.T, path, algorithm string) (*Local, bool) {
	t.Helper()
	l, created, err := LoadOrCreateLocal(path, algorithm)
	if err != nil {
		t.Fatalf("LoadOrCreateLocal(%q, %q) = %v", path, algorithm, err)
	}
	return l, created
}

// writeKeyFile writes a PEM block to a new 0600 file and returns its path.
func writeKeyFile(t *testing.T, blockType string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadOrCreateLocalCreatesOnFirstUse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		algorithm string
		want      string
	}{
		{algorithm: "", want: AlgorithmECDSAP256},
		{algorithm: AlgorithmECDSAP256, want: AlgorithmECDSAP256},
		{algorithm: AlgorithmEd25519, want: AlgorithmEd25519},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.algorithm), func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			dir := filepath.Join(root, "state", "keys")
			path := filepath.Join(dir, "evidence.key")

			l, created := mustLocal(t, path, tt.algorithm)
			if !created {
				t.Errorf("LoadOrCreateLocal() created = false for a missing file")
			}
			if got := l.Algorithm(); got != tt.want {
				t.Errorf("Algorithm() = %q, want %q", got, tt.want)
			}
			if runtime.GOOS != "windows" {
				for p, want := range map[string]fs.FileMode{path: 0o600, dir: 0o700, filepath.Dir(dir): 0o700} {
					info, err := os.Stat(p)
					if err != nil {
						t.Fatal(err)
					}
					if got := info.Mode().Perm(); got != want {
						t.Errorf("mode of %s = %04o, want %04o", p, got, want)
					}
				}
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if diff := cmp.Diff([]string{"evidence.key"}, names); diff != "" {
				t.Errorf("files left in the key directory (-want +got):\n%s", diff)
			}

			again, created := mustLocal(t, path, tt.algorithm)
			if created {
				t.Errorf("LoadOrCreateLocal() created = true for an existing file")
			}
			if again.KeyID() != l.KeyID() {
				t.Errorf("KeyID() after reload = %q, want %q", again.KeyID(), l.KeyID())
			}
			wantID, err := KeyIDOf(l.Public())
			if err != nil || l.KeyID() != wantID {
				t.Errorf("KeyID() = %q, want KeyIDOf(Public()) = %q, %v", l.KeyID(), wantID, err)
			}
		})
	}
}

func TestLoadOrCreateLocalRefusesAccessibleKeyFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no group or other permission bits")
	}
	t.Parallel()
	tests := []struct {
		mode    fs.FileMode
		wantErr bool
	}{
		{mode: 0o600},
		{mode: 0o400},
		{mode: 0o644, wantErr: true},
		{mode: 0o640, wantErr: true},
		{mode: 0o604, wantErr: true},
		{mode: 0o620, wantErr: true},
		{mode: 0o666, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%04o", tt.mode), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "evidence.key")
			mustLocal(t, path, AlgorithmECDSAP256)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadOrCreateLocal(path, AlgorithmECDSAP256)
			if !tt.wantErr {
				if err != nil {
					t.Errorf("LoadOrCreateLocal(mode %04o) = %v, want nil", tt.mode, err)
				}
				return
			}
			if !errors.Is(err, ErrInsecureKeyFile) {
				t.Fatalf("LoadOrCreateLocal(mode %04o) = %v, want %v", tt.mode, err, ErrInsecureKeyFile)
			}
			if want := "chmod 600 " + fmt.Sprintf("%q", path); !strings.Contains(err.Error(), want) {
				t.Errorf("LoadOrCreateLocal() = %q, want it to say %q", err, want)
			}
		})
	}
}

func TestLoadOrCreateLocalConcurrentCreation(t *testing.T) {
	t.Parallel()
	const rounds, racers = 10, 8
	for round := range rounds {
		path := filepath.Join(t.TempDir(), "keys", "evidence.key")
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			keyIDs  = make([]string, racers)
			created = make([]bool, racers)
			errs    = make([]error, racers)
		)
		for i := range racers {
			wg.Go(func() {
				<-start
				var l *Local
				l, created[i], errs[i] = LoadOrCreateLocal(path, AlgorithmEd25519)
				if l != nil {
					keyIDs[i] = l.KeyID()
				}
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: LoadOrCreateLocal() = %v", round, err)
		}
		if n := len(slices.DeleteFunc(slices.Clone(created), func(c bool) bool { return !c })); n != 1 {
			t.Errorf("round %d: %d racers report creating the key, want 1", round, n)
		}
		onDisk, _ := mustLocal(t, path, AlgorithmEd25519)
		for i, id := range keyIDs {
			if id != onDisk.KeyID() {
				t.Errorf("round %d: racer %d got key %q, the file holds %q", round, i, id, onDisk.KeyID())
			}
		}
	}
}

func TestLoadOrCreateLocalAlgorithmMismatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		existing, asked string
		wantErr         bool
	}{
		{existing: AlgorithmEd25519, asked: AlgorithmECDSAP256, wantErr: true},
		{existing: AlgorithmECDSAP256, asked: AlgorithmEd25519, wantErr: true},
		{existing: AlgorithmEd25519, asked: ""},
		{existing: AlgorithmECDSAP256, asked: ""},
		{existing: AlgorithmEd25519, asked: AlgorithmEd25519},
	}
	for _, tt := range tests {
		t.Run(tt.existing+" asked "+tt.asked, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "evidence.key")
			first, _ := mustLocal(t, path, tt.existing)
			l, created, err := LoadOrCreateLocal(path, tt.asked)
			if tt.wantErr {
				if !errors.Is(err, ErrAlgorithmMismatch) {
					t.Fatalf("LoadOrCreateLocal(%q) = %v, want %v", tt.asked, err, ErrAlgorithmMismatch)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("ask for %q", tt.existing)) {
					t.Errorf("LoadOrCreateLocal() = %q, want it to name the file's algorithm", err)
				}
				return
			}
			if err != nil || created || l.KeyID() != first.KeyID() {
				t.Errorf("LoadOrCreateLocal(%q) = %v, created %t, %v; want the existing key", tt.asked, l, created, err)
			}
		})
	}
}

func TestLoadOrCreateLocalRejectsBadKeyFiles(t *testing.T) {
	t.Parallel()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384DER, err := x509.MarshalPKCS8PrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1DER, err := x509.MarshalECPrivateKey(p256)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path      func(t *testing.T) string
		algorithm string
		wantErr   error // nil: any error
		wantHint  string
	}{
		{
			name:      "unknown algorithm",
			path:      func(t *testing.T) string { return filepath.Join(t.TempDir(), "k") },
			algorithm: "rsa-2048",
			wantErr:   ErrUnsupportedKey,
			wantHint:  `"ecdsa-p256" or "ed25519"`,
		},
		{
			name:     "empty path",
			path:     func(*testing.T) string { return "" },
			wantHint: "path is empty",
		},
		{
			name: "not PEM",
			path: func(t *testing.T) string {
				path := filepath.Join(t.TempDir(), "k")
				if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
					t.Fatal(err)
				}
				return path
			},
			wantHint: `"PRIVATE KEY"`,
		},
		{
			name:     "SEC 1 EC key",
			path:     func(t *testing.T) string { return writeKeyFile(t, "EC PRIVATE KEY", sec1DER) },
			wantHint: "openssl pkcs8 -topk8",
		},
		{
			name:     "encrypted cosign key",
			path:     func(t *testing.T) string { return writeKeyFile(t, "ENCRYPTED SIGSTORE PRIVATE KEY", []byte("x")) },
			wantHint: "unencrypted",
		},
		{
			name:     "P-384 key",
			path:     func(t *testing.T) string { return writeKeyFile(t, "PRIVATE KEY", p384DER) },
			wantErr:  ErrUnsupportedKey,
			wantHint: "P-384",
		},
		{
			name:     "garbage DER",
			path:     func(t *testing.T) string { return writeKeyFile(t, "PRIVATE KEY", []byte{0x30, 0x03, 1, 2, 3}) },
			wantHint: "parsing PKCS #8",
		},
		{
			name:     "a directory",
			path:     func(t *testing.T) string { return t.TempDir() },
			wantHint: "not a regular file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := tt.path(t)
			l, _, err := LoadOrCreateLocal(path, tt.algorithm)
			if err == nil {
				t.Fatalf("LoadOrCreateLocal(%q, %q) = %v, want an error", path, tt.algorithm, l)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("LoadOrCreateLocal() = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantHint) {
				t.Errorf("LoadOrCreateLocal() = %q, want it to say %q", err, tt.wantHint)
			}
			if tt.algorithm == "rsa-2048" {
				if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a key file was created for an unknown algorithm")
				}
			}
		})
	}
}

func TestLocalSignVerify(t *testing.T) {
	t.Parallel()
	for _, algorithm := range []string{AlgorithmECDSAP256, AlgorithmEd25519} {
		t.Run(algorithm, func(t *testing.T) {
			t.Parallel()
			l, _ := mustLocal(t, filepath.Join(t.TempDir(), "evidence.key"), algorithm)
			other, _ := mustLocal(t, filepath.Join(t.TempDir(), "other.key"), algorithm)
			msgs := append(statements(2), []byte{})
			sigs := mustSign(t, l, msgs)

			keys := mustPublicKeys(t, l)
			if diff := cmp.Diff([]string{l.KeyID()}, slices.Sorted(maps.Keys(keys))); diff != "" {
				t.Fatalf("PublicKeys() key ids (-want +got):\n%s", diff)
			}
			pub := keys[l.KeyID()]
			for i, msg := range msgs {
				flipped := slices.Clone(sigs[i])
				flipped[len(flipped)/2] ^= 0x01
				tests := []struct {
					what  string
					pub   crypto.PublicKey
					msg   []byte
					sig   []byte
					valid bool
				}{
					{what: "genuine", pub: pub, msg: msg, sig: sigs[i], valid: true},
					{what: "tampered message", pub: pub, msg: append(slices.Clone(msg), '!'), sig: sigs[i]},
					{what: "tampered signature", pub: pub, msg: msg, sig: flipped},
					{what: "truncated signature", pub: pub, msg: msg, sig: sigs[i][:len(sigs[i])-1]},
					{what: "no signature", pub: pub, msg: msg, sig: nil},
					{what: "another key", pub: other.Public(), msg: msg, sig: sigs[i]},
					{what: "another message's signature", pub: pub, msg: msg, sig: sigs[(i+1)%len(sigs)]},
				}
				for _, tt := range tests {
					err := Verify(tt.pub, tt.msg, tt.sig)
					if tt.valid && err != nil || !tt.valid && !errors.Is(err, ErrInvalidSignature) {
						t.Errorf("message %d, %s: Verify() = %v, want valid %t", i, tt.what, err, tt.valid)
					}
				}
			}
		})
	}
}

func TestLocalSignHonoursContext(t *testing.T) {
	t.Parallel()
	l, _ := mustLocal(t, filepath.Join(t.TempDir(), "evidence.key"), "")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.Sign(ctx, statements(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Sign(canceled context) = %v, want %v", err, context.Canceled)
	}
}

func TestLocalDoesNotPrintThePrivateKey(t *testing.T) {
	t.Parallel()
	for _, algorithm := range []string{AlgorithmECDSAP256, AlgorithmEd25519} {
		t.Run(algorithm, func(t *testing.T) {
			t.Parallel()
			l, _ := mustLocal(t, filepath.Join(t.TempDir(), "evidence.key"), algorithm)
			want := "local " + algorithm + " key " + l.KeyID()
			for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
				if got := fmt.Sprintf(format, l); got != want {
					t.Errorf("Sprintf(%q, local) = %q, want %q", format, got, want)
				}
			}
		})
	}
}
