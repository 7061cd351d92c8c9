package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// maxKeyFileSize bounds what LoadOrCreateLocal reads: a PEM PKCS #8 key of a
// supported type is a few hundred bytes.
const maxKeyFileSize = 64 << 10

// Local signs with a private key kept in a PEM PKCS #8 file. It is safe for
// concurrent use. Its String and GoString methods print only the key id, so
// logging a Local never prints the private key.
type Local struct {
	key       crypto.Signer // *ecdsa.PrivateKey or ed25519.PrivateKey
	pub       crypto.PublicKey
	algorithm string
	keyID     string
}

// LoadOrCreateLocal reads the private key at path, or creates one there with
// the given algorithm ("ecdsa-p256" or "ed25519") when no file exists, and
// reports whether it created it.
//
// The file is PEM PKCS #8 ("PRIVATE KEY"), as openssl genpkey writes it.
// A new key is written with mode 0600 under a directory created with mode
// 0700, atomically and without ever replacing an existing file: when two
// processes create the same key file at once, one key wins and both return it.
// A key file that its group or others may access is refused (wrapping
// [ErrInsecureKeyFile]). An existing key must be of the given algorithm
// (otherwise the error wraps [ErrAlgorithmMismatch]); an empty algorithm
// accepts either and creates ECDSA P-256 keys, the algorithm cosign uses.
func LoadOrCreateLocal(path, algorithm string) (*Local, bool, error) {
	switch algorithm {
	case "", AlgorithmECDSAP256, AlgorithmEd25519:
	default:
		return nil, false, fmt.Errorf("local key algorithm %q: want %s: %w", algorithm, supportedAlgorithms, ErrUnsupportedKey)
	}
	if path == "" {
		return nil, false, errors.New("local key path is empty: name the file that holds (or will hold) the evidence signing key")
	}
	l, err := loadLocal(path, algorithm)
	if !errors.Is(err, fs.ErrNotExist) {
		return l, false, err
	}
	l, err = createLocal(path, algorithm)
	if !errors.Is(err, fs.ErrExist) {
		return l, err == nil, err
	}
	// Another process created the file first: use its key. Only the
	// fallback for file systems without hard links can expose a file that
	// is still being written, so wait briefly for it to be complete.
	for attempt := 0; ; attempt++ {
		l, err = loadLocal(path, algorithm)
		if err == nil || !errors.Is(err, errIncompleteKeyFile) || attempt == 20 {
			return l, false, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// errIncompleteKeyFile marks a key file without a complete PEM block.
var errIncompleteKeyFile = errors.New("no complete PEM block")

func loadLocal(path, algorithm string) (*Local, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening local key file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("checking local key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("local key file %q is not a regular file (mode %v)", path, info.Mode())
	}
	// Windows reports no group or other permissions to check.
	if perm := info.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("local key file %q has mode %04o, so other users may read or replace the private key: run chmod 600 %q: %w", path, perm, path, ErrInsecureKeyFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading local key file: %w", err)
	}
	defer clear(data)
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("local key file %q is larger than %d bytes: want a PEM PKCS #8 private key", path, maxKeyFileSize)
	}
	key, err := parsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("local key file %q: %w", path, err)
	}
	l, err := newLocal(key)
	if err != nil {
		return nil, fmt.Errorf("local key file %q: %w", path, err)
	}
	if algorithm != "" && l.algorithm != algorithm {
		return nil, fmt.Errorf("local key file %q holds an %s key but %q was asked for: ask for %q, or move the file away to create a new key: %w", path, l.algorithm, algorithm, l.algorithm, ErrAlgorithmMismatch)
	}
	return l, nil
}

// parsePrivateKey decodes a PEM PKCS #8 private key. Its errors never quote
// the file's content.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf(`want a PEM "PRIVATE KEY" (PKCS #8) block: %w`, errIncompleteKeyFile)
	}
	defer clear(block.Bytes)
	switch block.Type {
	case "PRIVATE KEY":
	case "EC PRIVATE KEY":
		return nil, errors.New(`PEM block is "EC PRIVATE KEY" (SEC 1): convert it to PKCS #8 with openssl pkcs8 -topk8 -nocrypt`)
	default:
		return nil, fmt.Errorf(`PEM block is %q: want an unencrypted "PRIVATE KEY" (PKCS #8) block, as openssl genpkey writes`, block.Type)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing PKCS #8 private key: %w", err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T: want %s: %w", parsed, supportedAlgorithms, ErrUnsupportedKey)
	}
	return key, nil
}

func newLocal(key crypto.Signer) (*Local, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey, ed25519.PrivateKey:
	default:
		return nil, fmt.Errorf("private key of type %T: want %s: %w", k, supportedAlgorithms, ErrUnsupportedKey)
	}
	pub := key.Public()
	algorithm, err := algorithmOf(pub)
	if err != nil {
		return nil, err
	}
	keyID, err := KeyIDOf(pub)
	if err != nil {
		return nil, err
	}
	return &Local{key: key, pub: pub, algorithm: algorithm, keyID: keyID}, nil
}

func createLocal(path, algorithm string) (*Local, error) {
	var key crypto.Signer
	switch algorithm {
	case AlgorithmEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating ed25519 key: %w", err)
		}
		key = k
	default:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating ecdsa-p256 key: %w", err)
		}
		key = k
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key as PKCS #8: %w", err)
	}
	defer clear(der)
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	defer clear(data)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the directory for local key file %q: %w", path, err)
	}
	if err := writeNewFile(path, data); err != nil {
		return nil, err
	}
	return newLocal(key)
}

// writeNewFile writes data to path with mode 0600 unless path exists, in which
// case the error wraps fs.ErrExist. Readers never see a partial file: data
// goes to a temporary file that is synced and then hard-linked to path, which
// (unlike a rename) fails rather than replace a file another process created
// meanwhile.
func writeNewFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating local key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = writeSync(tmp, data)
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("writing local key file: %w", err)
	}
	err = os.Link(tmp.Name(), path)
	switch {
	case err == nil:
		syncDir(dir)
		return nil
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("creating local key file: %w", err)
	}
	// The file system has no hard links: create path exclusively instead.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating local key file: %w", err)
	}
	err = writeSync(f, data)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("writing local key file %q: %w", path, err)
	}
	syncDir(dir)
	return nil
}

func writeSync(f *os.File, data []byte) error {
	// CreateTemp and OpenFile already ask for 0600; Chmod makes it so
	// whatever the umask or the platform's temporary file mode.
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}

// syncDir makes a new directory entry durable. It is best effort: some
// platforms cannot sync directories, and the key is already written.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// KeyID returns "local:sha256:<hex>", the SHA-256 of the PKIX DER encoding of
// the public key.
func (l *Local) KeyID() string { return l.keyID }

// Algorithm returns "ecdsa-p256" or "ed25519".
func (l *Local) Algorithm() string { return l.algorithm }

// Public returns the public key, to publish (see [PublicKeyPEM]) for
// verifiers such as cosign.
func (l *Local) Public() crypto.PublicKey { return l.pub }

// Sign signs each message in order: with ECDSA P-256 over its SHA-256 digest
// (ASN.1 DER signatures), or with Ed25519 over the message itself.
func (l *Local) Sign(ctx context.Context, messages [][]byte) ([][]byte, error) {
	sigs := make([][]byte, len(messages))
	for i, msg := range messages {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch key := l.key.(type) {
		case *ecdsa.PrivateKey:
			digest := sha256.Sum256(msg)
			sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
			if err != nil {
				return nil, fmt.Errorf("signing message %d with %s: %w", i, l.keyID, err)
			}
			sigs[i] = sig
		case ed25519.PrivateKey:
			sigs[i] = ed25519.Sign(key, msg)
		}
	}
	return sigs, nil
}

// PublicKeys returns the one public key, by its key id.
func (l *Local) PublicKeys(context.Context) (map[string]crypto.PublicKey, error) {
	return map[string]crypto.PublicKey{l.keyID: l.pub}, nil
}

// String describes the key by its id, never by its private part.
func (l *Local) String() string { return "local " + l.algorithm + " key " + l.keyID }

// GoString is String, so that %#v does not print the private key either.
func (l *Local) GoString() string { return l.String() }
