// Package sign signs and verifies the DSSE pre-authentication encodings (PAE)
// of Promote's evidence records.
//
// Two signers exist: [Local], a key file on disk, and [Vault], a key in
// HashiCorp Vault's Transit engine that never leaves Vault. Both produce
// exactly what cosign verify-blob-attestation checks for a DSSE envelope and
// a PEM public key: ECDSA P-256 signatures in ASN.1 DER over SHA-256 of the
// message, or Ed25519 signatures over the message itself. [Verify] checks
// either, so evidence can be verified without the signer, with only the
// public keys that [Signer.PublicKeys] returns.
//
// Key ids name a key version: "local:sha256:<hex>" for a local key, where hex
// is the SHA-256 of the key's PKIX DER encoding, and
// "vault:<mount>/<key>:v<version>" for a Transit key version.
package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// Signer signs DSSE pre-authentication encodings (PAE) for evidence.
type Signer interface {
	// KeyID names the key version that signs now, e.g.
	// "local:sha256:<hex of the SHA-256 of the PKIX DER>" or
	// "vault:transit/promote-evidence:v3".
	KeyID() string
	// Sign signs each message in order, returning one signature per
	// message, each made by the key version KeyID names. Implementations
	// batch: the Vault signer makes one Transit call for all messages.
	Sign(ctx context.Context, messages [][]byte) ([][]byte, error)
	// PublicKeys returns every key version that may have signed, by key id
	// (old Vault versions included, so rotation keeps old records
	// verifiable).
	PublicKeys(ctx context.Context) (map[string]crypto.PublicKey, error)
}

var (
	_ Signer = (*Local)(nil)
	_ Signer = (*Vault)(nil)
)

// Errors that callers tell apart with errors.Is.
var (
	// ErrInvalidSignature means a signature does not match its message and
	// public key: the record or the signature was altered, or another key
	// signed it.
	ErrInvalidSignature = errors.New("invalid signature")
	// ErrUnsupportedKey means a key's algorithm is not ECDSA P-256 or Ed25519.
	ErrUnsupportedKey = errors.New("unsupported key type")
	// ErrAlgorithmMismatch means an existing key file holds a different
	// algorithm than the one asked for.
	ErrAlgorithmMismatch = errors.New("key algorithm mismatch")
	// ErrInsecureKeyFile means a private key file is accessible to its
	// group or to others.
	ErrInsecureKeyFile = errors.New("private key file is accessible to other users")
)

// The algorithm names LoadOrCreateLocal takes; they are also the names of the
// Transit key types Vault signs with.
const (
	AlgorithmECDSAP256 = "ecdsa-p256"
	AlgorithmEd25519   = "ed25519"
)

// supportedAlgorithms lists the choices for error messages.
const supportedAlgorithms = `"ecdsa-p256" or "ed25519"`

// Verify checks sig over msg with pub, for the algorithms signers produce:
// ECDSA P-256 (ASN.1 DER signature over SHA-256(msg)) and Ed25519 (over msg
// itself). These are exactly what cosign verify-blob-attestation checks for
// DSSE with a PEM key. A signature that does not match yields an error that
// wraps [ErrInvalidSignature]; a key of another type yields one that wraps
// [ErrUnsupportedKey].
func Verify(pub crypto.PublicKey, msg, sig []byte) error {
	if _, err := algorithmOf(pub); err != nil {
		return err
	}
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		digest := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			return fmt.Errorf("ecdsa-p256 signature does not match the message: %w", ErrInvalidSignature)
		}
	case ed25519.PublicKey:
		if !ed25519.Verify(pub, msg, sig) {
			return fmt.Errorf("ed25519 signature does not match the message: %w", ErrInvalidSignature)
		}
	}
	return nil
}

// PublicKeyPEM encodes a public key as PEM PKIX ("PUBLIC KEY"), the form
// cosign --key takes.
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := publicKeyDER(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKeyPEM decodes a PEM PKIX ("PUBLIC KEY") public key, the form
// [PublicKeyPEM] writes and cosign --key reads, and accepts only the
// algorithms [Verify] checks.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New(`no PEM block found: want a "PUBLIC KEY" block as cosign public-key writes`)
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf(`PEM block is %q, want "PUBLIC KEY" (PKIX)`, block.Type)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing PKIX public key: %w", err)
	}
	if _, err := algorithmOf(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// KeyIDOf returns the key id of a local public key: "local:sha256:" followed
// by the hex SHA-256 of its PKIX DER encoding.
func KeyIDOf(pub crypto.PublicKey) (string, error) {
	der, err := publicKeyDER(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return "local:sha256:" + hex.EncodeToString(sum[:]), nil
}

func publicKeyDER(pub crypto.PublicKey) ([]byte, error) {
	if _, err := algorithmOf(pub); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key as PKIX: %w", err)
	}
	return der, nil
}

// algorithmOf names the algorithm of a public key, or fails for any key this
// package does not sign or verify with.
func algorithmOf(pub crypto.PublicKey) (string, error) {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		if pub == nil || pub.Curve != elliptic.P256() {
			name := "nil"
			if pub != nil && pub.Curve != nil {
				name = pub.Curve.Params().Name
			}
			return "", fmt.Errorf("ecdsa key on curve %s, want P-256: %w", name, ErrUnsupportedKey)
		}
		return AlgorithmECDSAP256, nil
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return "", fmt.Errorf("ed25519 public key is %d bytes, want %d: %w", len(pub), ed25519.PublicKeySize, ErrUnsupportedKey)
		}
		return AlgorithmEd25519, nil
	default:
		return "", fmt.Errorf("public key of type %T, want %s: %w", pub, supportedAlgorithms, ErrUnsupportedKey)
	}
}
