package sign

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/helper/keysutil"
	"github.com/promote-dev/promote/internal/sign/vaulttest"
)

// pae is DSSE's pre-authentication encoding, what evidence signers sign.
func pae(payloadType string, body []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(body), body)
}

func statements(n int) [][]byte {
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = pae("application/vnd.in-toto+json", fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","seq":%d}`, i))
	}
	return msgs
}

func newTestVault(t *testing.T, cfg VaultConfig) *Vault {
	t.Helper()
	v, err := NewVault(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewVault(%v) = %v", cfg, err)
	}
	return v
}

func mustSign(t *testing.T, s Signer, msgs [][]byte) [][]byte {
	t.Helper()
	sigs, err := s.Sign(t.Context(), msgs)
	if err != nil {
		t.Fatalf("Sign(%d messages) = %v", len(msgs), err)
	}
	if len(sigs) != len(msgs) {
		t.Fatalf("Sign(%d messages) returned %d signatures", len(msgs), len(sigs))
	}
	return sigs
}

func mustPublicKeys(t *testing.T, s Signer) map[string]crypto.PublicKey {
	t.Helper()
	keys, err := s.PublicKeys(t.Context())
	if err != nil {
		t.Fatalf("PublicKeys() = %v", err)
	}
	return keys
}

var vaultKeyTypes = []struct {
	name    string
	keyType keysutil.KeyType
}{
	{name: "ecdsa-p256", keyType: keysutil.KeyType_ECDSA_P256},
	{name: "ed25519", keyType: keysutil.KeyType_ED25519},
}

func TestVaultSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tt := range vaultKeyTypes {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := vaulttest.NewServer(t)
			f.AddKey(keysutil.PolicyConfig{Name: vaulttest.DefaultKey, Type: tt.keyType})
			v := newTestVault(t, fakeConfig(f, "token", vaulttest.DefaultKey))

			if got, want := v.KeyID(), "vault:transit/promote-evidence:v1"; got != want {
				t.Errorf("KeyID() = %q, want %q", got, want)
			}
			if got := v.Algorithm(); got != tt.name {
				t.Errorf("Algorithm() = %q, want %q", got, tt.name)
			}
			for _, format := range []string{"%v", "%+v", "%#v"} {
				if got := fmt.Sprintf(format, v); strings.Contains(got, vaulttest.RootToken) {
					t.Errorf("Sprintf(%q, vault) = %q, which holds the token", format, got)
				}
			}
			msgs := statements(3)
			sigs := mustSign(t, v, msgs)
			keys := mustPublicKeys(t, v)
			if diff := cmp.Diff([]string{v.KeyID()}, slices.Sorted(maps.Keys(keys))); diff != "" {
				t.Errorf("PublicKeys() key ids (-want +got):\n%s", diff)
			}
			pub := keys[v.KeyID()]
			for i, msg := range msgs {
				if err := Verify(pub, msg, sigs[i]); err != nil {
					t.Errorf("Verify(message %d) = %v, want nil", i, err)
				}
				// Vault itself accepts the signature as it travelled.
				encoded := "vault:v1:" + base64.StdEncoding.EncodeToString(sigs[i])
				if !f.VaultVerify(vaulttest.DefaultKey, msg, encoded) {
					t.Errorf("transit/verify rejects signature %d", i)
				}
				tampered := append(slices.Clone(msg), ' ')
				if err := Verify(pub, tampered, sigs[i]); !errors.Is(err, ErrInvalidSignature) {
					t.Errorf("Verify(tampered message %d) = %v, want %v", i, err, ErrInvalidSignature)
				}
			}
		})
	}
}

func TestVaultSignMakesOneRequestPerBatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		keyType keysutil.KeyType
		want    vaulttest.SignRequest // without inputs
	}{
		{
			name:    "ecdsa-p256: vault hashes with sha2-256 and returns asn1",
			keyType: keysutil.KeyType_ECDSA_P256,
			want:    vaulttest.SignRequest{KeyVersion: 1, HashAlgorithm: "sha2-256", MarshalingAlgorithm: "asn1"},
		},
		{
			name:    "ed25519: no hashing",
			keyType: keysutil.KeyType_ED25519,
			want:    vaulttest.SignRequest{KeyVersion: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := vaulttest.NewServer(t)
			f.AddKey(keysutil.PolicyConfig{Name: vaulttest.DefaultKey, Type: tt.keyType})
			v := newTestVault(t, fakeConfig(f, "token", vaulttest.DefaultKey))

			msgs := statements(300)
			sigs := mustSign(t, v, msgs)

			if got := f.Count("sign"); got != 1 {
				t.Errorf("Sign(300 messages) made %d sign requests, want 1", got)
			}
			reqs := f.SignRequests()
			if len(reqs) != 1 {
				t.Fatalf("got %d sign requests, want 1", len(reqs))
			}
			var inputs []string
			for _, item := range reqs[0].BatchInput {
				inputs = append(inputs, item.Input)
			}
			var wantInputs []string
			for _, msg := range msgs {
				wantInputs = append(wantInputs, base64.StdEncoding.EncodeToString(msg))
			}
			if diff := cmp.Diff(wantInputs, inputs); diff != "" {
				t.Errorf("batch_input, in order (-want +got):\n%s", diff)
			}
			got := reqs[0]
			got.BatchInput = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sign request parameters (-want +got):\n%s", diff)
			}
			pub := mustPublicKeys(t, v)[v.KeyID()]
			for i, msg := range msgs {
				if err := Verify(pub, msg, sigs[i]); err != nil {
					t.Fatalf("Verify(message %d) = %v: signatures out of order?", i, err)
				}
			}
			if got, err := v.Sign(t.Context(), nil); err != nil || len(got) != 0 {
				t.Errorf("Sign(no messages) = %d signatures, %v; want none, nil", len(got), err)
			}
			if got := f.Count("sign"); got != 1 {
				t.Errorf("Sign(no messages) made a request")
			}
		})
	}
}

func TestVaultRotationKeepsOldRecordsVerifiable(t *testing.T) {
	t.Parallel()
	for _, tt := range vaultKeyTypes {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := vaulttest.NewServer(t)
			f.AddKey(keysutil.PolicyConfig{Name: vaulttest.DefaultKey, Type: tt.keyType})
			const v1, v2 = "vault:transit/promote-evidence:v1", "vault:transit/promote-evidence:v2"

			before := newTestVault(t, fakeConfig(f, "token", vaulttest.DefaultKey))
			msgs := statements(3)
			sigBefore := mustSign(t, before, msgs[:1])[0]

			f.Rotate(vaulttest.DefaultKey)

			// A signer made before the rotation keeps its pinned version, so its
			// key id stays true.
			if got := before.KeyID(); got != v1 {
				t.Errorf("KeyID() after rotation = %q, want %q", got, v1)
			}
			sigPinned := mustSign(t, before, msgs[1:2])[0]

			after := newTestVault(t, fakeConfig(f, "token", vaulttest.DefaultKey))
			if got := after.KeyID(); got != v2 {
				t.Errorf("KeyID() of a signer made after rotation = %q, want %q", got, v2)
			}
			sigAfter := mustSign(t, after, msgs[2:3])[0]

			var versions []int
			for _, req := range f.SignRequests() {
				versions = append(versions, req.KeyVersion)
			}
			if diff := cmp.Diff([]int{1, 1, 2}, versions); diff != "" {
				t.Errorf("key_version of each sign request (-want +got):\n%s", diff)
			}

			keys := mustPublicKeys(t, after)
			if diff := cmp.Diff([]string{v1, v2}, slices.Sorted(maps.Keys(keys))); diff != "" {
				t.Fatalf("PublicKeys() key ids (-want +got):\n%s", diff)
			}
			for _, c := range []struct {
				what  string
				keyID string
				msg   []byte
				sig   []byte
				valid bool
			}{
				{what: "v1 record", keyID: v1, msg: msgs[0], sig: sigBefore, valid: true},
				{what: "pinned v1 signer after rotation", keyID: v1, msg: msgs[1], sig: sigPinned, valid: true},
				{what: "v2 record", keyID: v2, msg: msgs[2], sig: sigAfter, valid: true},
				{what: "v2 record checked with v1", keyID: v1, msg: msgs[2], sig: sigAfter, valid: false},
				{what: "v1 record checked with v2", keyID: v2, msg: msgs[0], sig: sigBefore, valid: false},
			} {
				err := Verify(keys[c.keyID], c.msg, c.sig)
				if c.valid && err != nil || !c.valid && !errors.Is(err, ErrInvalidSignature) {
					t.Errorf("%s: Verify() = %v, want valid %t", c.what, err, c.valid)
				}
			}
		})
	}
}

func TestVaultJWTLogin(t *testing.T) {
	t.Parallel()
	errNoOIDC := errors.New("ACTIONS_ID_TOKEN_REQUEST_URL is not set")
	tests := []struct {
		name          string
		boundAudience string // the role's bound_audiences; the server URL when empty
		configure     func(*VaultConfig)
		wantAudience  string // requested of IDToken; the server URL when empty
		wantStatus    int    // of a failed login; 0 for success
		wantErr       error
		wantHint      string
	}{
		{
			name:      "audience defaults to the vault address",
			configure: func(*VaultConfig) {},
		},
		{
			name:          "explicit audience",
			boundAudience: "https://github.com/promote-dev",
			configure:     func(c *VaultConfig) { c.Audience = "https://github.com/promote-dev" },
			wantAudience:  "https://github.com/promote-dev",
		},
		{
			name:         "audience not bound to the role",
			configure:    func(c *VaultConfig) { c.Audience = "sts.amazonaws.com" },
			wantAudience: "sts.amazonaws.com",
			wantStatus:   http.StatusBadRequest,
			wantHint:     `bound_audiences include "sts.amazonaws.com"`,
		},
		{
			name:       "unknown role",
			configure:  func(c *VaultConfig) { c.Role = "deployer" },
			wantStatus: http.StatusBadRequest,
			wantHint:   `as role "deployer"`,
		},
		{
			name: "no OIDC token",
			configure: func(c *VaultConfig) {
				c.IDToken = func(context.Context, string) (string, error) { return "", errNoOIDC }
			},
			wantErr:  errNoOIDC,
			wantHint: "id-token: write",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := vaulttest.NewServer(t)
			f.AddKey(keysutil.PolicyConfig{Name: vaulttest.DefaultKey, Type: keysutil.KeyType_ECDSA_P256})
			if tt.boundAudience != "" {
				f.BoundAudience = tt.boundAudience
			}
			cfg := fakeConfig(f, "jwt", vaulttest.DefaultKey)
			tt.configure(&cfg)

			v, err := NewVault(t.Context(), cfg)
			tokens, audiences := f.IssuedIDTokens()
			if tt.wantStatus == 0 && tt.wantErr == nil {
				if err != nil {
					t.Fatalf("NewVault() = %v", err)
				}
				mustSign(t, v, statements(2))
				wantAudience := tt.wantAudience
				if wantAudience == "" {
					wantAudience = f.Srv.URL
				}
				if diff := cmp.Diff([]string{wantAudience}, audiences); diff != "" {
					t.Errorf("audiences asked of IDToken (-want +got):\n%s", diff)
				}
				if got := f.Count("login"); got != 1 {
					t.Errorf("logins = %d, want 1", got)
				}
				return
			}
			if err == nil {
				t.Fatal("NewVault() = nil error, want a login failure")
			}
			var re *api.ResponseError
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("NewVault() = %v, want %v", err, tt.wantErr)
			case tt.wantStatus != 0 && (!errors.As(err, &re) || re.StatusCode != tt.wantStatus):
				t.Errorf("NewVault() = %v, want a vault response with status %d", err, tt.wantStatus)
			}
			if !strings.Contains(err.Error(), tt.wantHint) {
				t.Errorf("NewVault() = %q, want it to say %q", err, tt.wantHint)
			}
			for _, token := range tokens {
				if strings.Contains(err.Error(), token) {
					t.Errorf("NewVault() error contains the OIDC token")
				}
			}
			if got := f.Count("read") + f.Count("sign"); got != 0 {
				t.Errorf("made %d transit requests without logging in", got)
			}
		})
	}
}

func TestVaultLogsInAgainWhenTheTokenExpires(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		expire     func(*vaulttest.Server)
		wantDenied int // requests refused before the new login
	}{
		{
			name:       "lease ran out: log in before the request",
			expire:     func(f *vaulttest.Server) { f.Clock.Advance(f.TokenTTL) },
			wantDenied: 0,
		},
		{
			name:       "lease ends within the renewal margin",
			expire:     func(f *vaulttest.Server) { f.Clock.Advance(f.TokenTTL - 10*time.Second) },
			wantDenied: 0,
		},
		{
			name:       "token revoked: vault says 403, log in and retry",
			expire:     (*vaulttest.Server).RevokeTokens,
			wantDenied: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := vaulttest.NewServer(t)
			f.AddKey(keysutil.PolicyConfig{Name: vaulttest.DefaultKey, Type: keysutil.KeyType_ED25519})
			v := newTestVault(t, fakeConfig(f, "jwt", vaulttest.DefaultKey))
			msgs := statements(2)
			mustSign(t, v, msgs[:1])

			tt.expire(f)
			sig := mustSign(t, v, msgs[1:])[0]

			if got := f.Count("login"); got != 2 {
				t.Errorf("logins = %d, want 2", got)
			}
			if got := f.DeniedCount(); got != tt.wantDenied {
				t.Errorf("requests refused = %d, want %d", got, tt.wantDenied)
			}
			if err := Verify(mustPublicKeys(t, v)[v.KeyID()], msgs[1], sig); err != nil {
				t.Errorf("Verify() = %v", err)
			}
		})
	}
}

func TestVaultTokenRefused(t *testing.T) {
	t.Parallel()
	const secret = "hvs.CAESIthis-is-a-secret-token"
	f := vaulttest.NewServer(t)
	f.AddKey(keysutil.PolicyConfig{Name: vaulttest.DefaultKey, Type: keysutil.KeyType_ECDSA_P256})
	cfg := fakeConfig(f, "token", vaulttest.DefaultKey)
	cfg.Token = secret

	_, err := NewVault(t.Context(), cfg)
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		t.Fatalf("NewVault(unknown token) = %v, want a 403 from vault", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("NewVault() error contains the token: %q", err)
	}
	if !strings.Contains(err.Error(), "expired") {
		t.Errorf("NewVault() = %q, want it to suggest the token expired or lacks a policy", err)
	}
	if got := f.Count("login"); got != 0 {
		t.Errorf("token auth logged in %d times", got)
	}
	if s := fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg); strings.Contains(s, secret) {
		t.Errorf("formatting a VaultConfig prints the token: %s", s)
	}
}

func TestVaultRefusesKeysItCannotSignWith(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		key      keysutil.PolicyConfig
		keyName  string // to ask for; key.Name when empty
		wantErr  error
		wantHint string
	}{
		{
			name:     "rsa-2048",
			key:      keysutil.PolicyConfig{Name: "rsa", Type: keysutil.KeyType_RSA2048},
			wantErr:  ErrUnsupportedKey,
			wantHint: `is of type "rsa-2048"; promote signs with "ecdsa-p256" or "ed25519" keys`,
		},
		{
			name:     "aes256-gcm96 cannot sign",
			key:      keysutil.PolicyConfig{Name: "aes", Type: keysutil.KeyType_AES256_GCM96},
			wantErr:  ErrUnsupportedKey,
			wantHint: `"aes256-gcm96"`,
		},
		{
			name:     "derived ed25519",
			key:      keysutil.PolicyConfig{Name: "derived", Type: keysutil.KeyType_ED25519, Derived: true, KDF: keysutil.Kdf_hkdf_sha256},
			wantErr:  ErrUnsupportedKey,
			wantHint: "derived",
		},
		{
			name:     "missing key",
			key:      keysutil.PolicyConfig{Name: "other", Type: keysutil.KeyType_ECDSA_P256},
			keyName:  "promote-evidence",
			wantHint: "vault write transit/keys/promote-evidence type=ecdsa-p256",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := vaulttest.NewServer(t)
			f.AddKey(tt.key)
			name := tt.keyName
			if name == "" {
				name = tt.key.Name
			}
			_, err := NewVault(t.Context(), fakeConfig(f, "token", name))
			if err == nil {
				t.Fatal("NewVault() = nil error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("NewVault() = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantHint) {
				t.Errorf("NewVault() = %q, want it to say %q", err, tt.wantHint)
			}
			if got := f.Count("sign"); got != 0 {
				t.Errorf("made %d sign requests", got)
			}
		})
	}
}

func TestVaultConfigErrors(t *testing.T) {
	t.Parallel()
	idToken := func(context.Context, string) (string, error) { return "", nil }
	tests := []struct {
		name     string
		cfg      VaultConfig
		wantHint string
	}{
		{name: "no address", cfg: VaultConfig{Key: "k", Token: "t"}, wantHint: "vault address is empty"},
		{name: "no key", cfg: VaultConfig{Address: "http://vault", Token: "t"}, wantHint: "transit key name"},
		{name: "key with a slash", cfg: VaultConfig{Address: "http://vault", Key: "a/b", Token: "t"}, wantHint: `"a/b"`},
		{name: "unknown auth", cfg: VaultConfig{Address: "http://vault", Key: "k", Auth: "approle"}, wantHint: `want "token" or "jwt"`},
		{name: "token auth without token", cfg: VaultConfig{Address: "http://vault", Key: "k"}, wantHint: "needs a token"},
		{name: "jwt without role", cfg: VaultConfig{Address: "http://vault", Key: "k", Auth: "jwt", IDToken: idToken}, wantHint: "needs the role"},
		{name: "jwt without token source", cfg: VaultConfig{Address: "http://vault", Key: "k", Auth: "jwt", Role: "r"}, wantHint: "id-token: write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewVault(t.Context(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantHint) {
				t.Errorf("NewVault(%v) = %v, want an error saying %q", tt.cfg, err, tt.wantHint)
			}
		})
	}
}

func TestVaultSignatureParsing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in          string
		wantVersion int
		wantSig     []byte
		wantErr     bool
	}{
		{in: "vault:v1:AQID", wantVersion: 1, wantSig: []byte{1, 2, 3}},
		{in: "vault:v12:AQID", wantVersion: 12, wantSig: []byte{1, 2, 3}},
		{in: "vault:v0:AQID", wantErr: true},
		{in: "vault:vx:AQID", wantErr: true},
		{in: "vault:v1", wantErr: true},
		{in: "custom:v1:AQID", wantErr: true},
		{in: "vault:v1:not base64!", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			version, sig, err := parseVaultSignature(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseVaultSignature(%q) = %v, want error %t", tt.in, err, tt.wantErr)
			}
			if version != tt.wantVersion || !slices.Equal(sig, tt.wantSig) {
				t.Errorf("parseVaultSignature(%q) = %d, %v; want %d, %v", tt.in, version, sig, tt.wantVersion, tt.wantSig)
			}
		})
	}
}

// TestVaultSignaturesVerifyLikeCosign signs with Vault's Transit crypto
// exactly as Vault's sign endpoint calls it, and checks that Verify (the
// check cosign verify-blob-attestation makes with a PEM key) accepts the
// signature over the raw message, with the public key as Vault exports it.
func TestVaultSignaturesVerifyLikeCosign(t *testing.T) {
	t.Parallel()
	for _, tt := range vaultKeyTypes {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := keysutil.NewPolicy(keysutil.PolicyConfig{Name: vaulttest.DefaultKey, Type: tt.keyType})
			if err := p.RotateInMemory(rand.Reader); err != nil {
				t.Fatal(err)
			}
			msg := pae("application/vnd.in-toto+json", []byte(`{"_type":"https://in-toto.io/Statement/v1"}`))
			input := msg
			if tt.keyType == keysutil.KeyType_ECDSA_P256 {
				digest := sha256.Sum256(msg) // Vault hashes before keysutil signs.
				input = digest[:]
			}
			res, err := p.SignWithOptions(0, nil, input, &keysutil.SigningOptions{
				HashAlgorithm: keysutil.HashTypeSHA2256,
				Marshaling:    keysutil.MarshalingTypeASN1,
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(res.Signature, "vault:v1:") {
				t.Fatalf("keysutil signature %q lacks vault:v1:", res.Signature)
			}
			version, sig, err := parseVaultSignature(res.Signature)
			if err != nil || version != 1 {
				t.Fatalf("parseVaultSignature(%q) = %d, %v", res.Signature, version, err)
			}
			pub, err := parseTransitPublicKey(tt.name, p.Keys["1"].FormattedPublicKey)
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(pub, msg, sig); err != nil {
				t.Errorf("Verify(vault signature) = %v, want nil", err)
			}
			if err := Verify(pub, msg[1:], sig); !errors.Is(err, ErrInvalidSignature) {
				t.Errorf("Verify(other message) = %v, want %v", err, ErrInvalidSignature)
			}
			// The PEM handed to cosign --key parses back to the same key.
			pemKey, err := PublicKeyPEM(pub)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParsePublicKeyPEM(pemKey)
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(back, msg, sig); err != nil {
				t.Errorf("Verify with the exported PEM = %v", err)
			}
			if tt.keyType == keysutil.KeyType_ECDSA_P256 {
				if diff := cmp.Diff(p.Keys["1"].FormattedPublicKey, string(pemKey)); diff != "" {
					t.Errorf("PublicKeyPEM differs from Vault's export (-vault +ours):\n%s", diff)
				}
			}
		})
	}
}
