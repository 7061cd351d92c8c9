package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestPublicKeyPEMRoundTrip(t *testing.T) {
	t.Parallel()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ed, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pub  crypto.PublicKey
	}{
		{name: "ecdsa-p256", pub: &ec.PublicKey},
		{name: "ed25519", pub: ed},
	}
	keyID := regexp.MustCompile(`^local:sha256:[0-9a-f]{64}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, err := PublicKeyPEM(tt.pub)
			if err != nil {
				t.Fatalf("PublicKeyPEM() = %v", err)
			}
			if !strings.HasPrefix(string(data), "-----BEGIN PUBLIC KEY-----\n") {
				t.Errorf("PublicKeyPEM() = %q, want a PUBLIC KEY block", data)
			}
			back, err := ParsePublicKeyPEM(data)
			if err != nil {
				t.Fatalf("ParsePublicKeyPEM(PublicKeyPEM()) = %v", err)
			}
			if !back.(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.pub) {
				t.Errorf("ParsePublicKeyPEM(PublicKeyPEM(k)) = %v, want %v", back, tt.pub)
			}

			id, err := KeyIDOf(tt.pub)
			if err != nil || !keyID.MatchString(id) {
				t.Fatalf("KeyIDOf() = %q, %v; want local:sha256:<64 hex digits>", id, err)
			}
			block, _ := pem.Decode(data)
			sum := sha256.Sum256(block.Bytes)
			if want := "local:sha256:" + hex.EncodeToString(sum[:]); id != want {
				t.Errorf("KeyIDOf() = %q, want the SHA-256 of the PKIX DER, %q", id, want)
			}
		})
	}
}

func TestUnsupportedPublicKeys(t *testing.T) {
	t.Parallel()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pub  crypto.PublicKey
	}{
		{name: "P-384", pub: &p384.PublicKey},
		{name: "short ed25519", pub: ed25519.PublicKey{1, 2, 3}},
		{name: "nil", pub: nil},
		{name: "nil ecdsa", pub: (*ecdsa.PublicKey)(nil)},
		{name: "not a key", pub: "key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := Verify(tt.pub, []byte("m"), []byte("s")); !errors.Is(err, ErrUnsupportedKey) {
				t.Errorf("Verify() = %v, want %v", err, ErrUnsupportedKey)
			}
			if _, err := PublicKeyPEM(tt.pub); !errors.Is(err, ErrUnsupportedKey) {
				t.Errorf("PublicKeyPEM() = %v, want %v", err, ErrUnsupportedKey)
			}
			if _, err := KeyIDOf(tt.pub); !errors.Is(err, ErrUnsupportedKey) {
				t.Errorf("KeyIDOf() = %v, want %v", err, ErrUnsupportedKey)
			}
		})
	}
}

func TestParsePublicKeyPEMErrors(t *testing.T) {
	t.Parallel()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384DER, err := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr error // nil: any error
	}{
		{name: "not PEM", data: []byte("ssh-ed25519 AAAA")},
		{name: "private key block", data: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0}})},
		{name: "garbage DER", data: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})},
		{name: "P-384", data: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: p384DER}), wantErr: ErrUnsupportedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub, err := ParsePublicKeyPEM(tt.data)
			if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("ParsePublicKeyPEM() = %v, %v; want error %v", pub, err, tt.wantErr)
			}
		})
	}
}
