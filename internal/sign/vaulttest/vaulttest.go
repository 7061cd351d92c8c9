// Package vaulttest serves the parts of Vault's HTTP API that Promote's
// Vault Transit signer uses, signing with Vault's own Transit code, for
// tests that drive the real vault/api client.
package vaulttest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hashicorp/vault/sdk/helper/keysutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/promote-dev/promote/internal/clock"
)

const (
	RootToken    = "hvs.fake-root"
	Role         = "promote-evidence"
	githubIssuer = "https://token.actions.githubusercontent.com"
	DefaultKey   = "promote-evidence"
)

// Server serves the routes of Vault's HTTP API that the Vault signer uses,
// with the response shapes Vault gives, and signs with Vault's own Transit
// crypto (keysutil), so signatures are byte for byte what Vault returns:
//
//	PUT|POST /v1/auth/jwt/login               {role, jwt} → auth.client_token with a lease
//	GET      /v1/transit/keys/{name}          → data.type, data.latest_version, data.keys.{version}.public_key, …
//	PUT|POST /v1/transit/keys/{name}/Rotate   → a new version
//	PUT|POST /v1/transit/sign/{name}          {batch_input, key_version, hash_algorithm, marshaling_algorithm}
//	                                          → data.batch_results[{signature: "vault:v1:…"}]
//
// A missing, unknown or expired token gets 403 {"errors":["permission denied"]}.
// The JWT auth method accepts Ed25519-signed tokens from IDToken, for role
// Role and audience boundAudience, as a role with bound_audiences would.
type Server struct {
	t             testing.TB
	Srv           *httptest.Server
	Clock         *clock.Manual
	storage       logical.Storage
	jwtKey        ed25519.PrivateKey
	TokenTTL      time.Duration
	BoundAudience string

	mu          sync.Mutex
	policies    map[string]*keysutil.Policy
	tokens      map[string]time.Time // token → expiry, zero for never
	nextToken   int
	calls       map[string]int // route → requests
	denied      int            // requests refused with 403
	signed      []SignRequest
	idTokens    []string // every OIDC token IDToken issued
	idAudiences []string // the audience of each
}

// SignRequest is the body of a sign request, for assertions.
type SignRequest struct {
	BatchInput []struct {
		Input   string `json:"input"`
		Context string `json:"context,omitempty"`
	} `json:"batch_input"`
	Input               string `json:"input"`
	KeyVersion          int    `json:"key_version"`
	HashAlgorithm       string `json:"hash_algorithm"`
	MarshalingAlgorithm string `json:"marshaling_algorithm"`
	Prehashed           bool   `json:"prehashed"`
}

func NewServer(t testing.TB) *Server {
	t.Helper()
	_, jwtKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &Server{
		t:        t,
		Clock:    clock.NewManual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		storage:  new(logical.InmemStorage),
		jwtKey:   jwtKey,
		TokenTTL: 20 * time.Minute,
		policies: map[string]*keysutil.Policy{},
		tokens:   map[string]time.Time{RootToken: {}},
		calls:    map[string]int{},
	}
	mux := http.NewServeMux()
	for _, method := range []string{http.MethodPut, http.MethodPost} {
		mux.HandleFunc(method+" /v1/auth/jwt/login", f.login)
		mux.HandleFunc(method+" /v1/transit/keys/{name}/Rotate", f.authorized("Rotate", f.rotateKey))
		mux.HandleFunc(method+" /v1/transit/sign/{name}", f.authorized("sign", f.sign))
	}
	mux.HandleFunc("GET /v1/transit/keys/{name}", f.authorized("read", f.readKey))
	f.Srv = httptest.NewServer(mux)
	t.Cleanup(f.Srv.Close)
	f.BoundAudience = f.Srv.URL
	return f
}

// AddKey creates a Transit key as "vault write transit/keys/<name> type=…"
// does. RSA keys get no version: generating one takes long enough to slow
// the suite, and the signer must refuse the key by its type alone.
func (f *Server) AddKey(cfg keysutil.PolicyConfig) *keysutil.Policy {
	f.t.Helper()
	p := keysutil.NewPolicy(cfg)
	switch cfg.Type {
	case keysutil.KeyType_RSA2048, keysutil.KeyType_RSA3072, keysutil.KeyType_RSA4096:
	default:
		if err := p.Rotate(context.Background(), f.storage, rand.Reader); err != nil {
			f.t.Fatalf("creating transit key %q: %v", cfg.Name, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.policies[cfg.Name] = p
	return p
}

// IDToken mints a GitHub Actions OIDC token for audience.
func (f *Server) IDToken(_ context.Context, audience string) (string, error) {
	now := f.Clock.Now()
	token, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss":         githubIssuer,
		"aud":         audience,
		"sub":         "repo:promote-dev/promote:environment:production",
		"repository":  "promote-dev/promote",
		"environment": "production",
		"iat":         now.Unix(),
		"exp":         now.Add(5 * time.Minute).Unix(),
	}).SignedString(f.jwtKey)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.idTokens = append(f.idTokens, token)
	f.idAudiences = append(f.idAudiences, audience)
	return token, nil
}

// Rotate rotates a key through the HTTP API, as "vault write -f
// transit/keys/<name>/Rotate" does.
func (f *Server) Rotate(name string) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.Srv.URL+"/v1/transit/keys/"+name+"/Rotate", nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", RootToken)
	resp, err := f.Srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("rotating %q: status %d", name, resp.StatusCode)
	}
}

// RevokeTokens revokes every token but the root token.
func (f *Server) RevokeTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for token := range f.tokens {
		if token != RootToken {
			delete(f.tokens, token)
		}
	}
}

func (f *Server) Count(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[route]
}

func (f *Server) DeniedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.denied
}

func (f *Server) SignRequests() []SignRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SignRequest(nil), f.signed...)
}

func (f *Server) IssuedIDTokens() (tokens, audiences []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.idTokens...), append([]string(nil), f.idAudiences...)
}

// VaultVerify checks a "vault:v<n>:…" signature as POST transit/verify/<name>
// does, hashing the input first for ECDSA keys.
func (f *Server) VaultVerify(name string, msg []byte, signature string) bool {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.policies[name]
	input, hashType, marshaling, err := prepareInput(p, msg, "", "", false)
	if err != nil {
		f.t.Fatal(err)
	}
	ok, err := p.VerifySignatureWithOptions(nil, input, signature, &keysutil.SigningOptions{HashAlgorithm: hashType, Marshaling: marshaling})
	if err != nil {
		f.t.Fatalf("verifying %q: %v", signature, err)
	}
	return ok
}

// authorized wraps a handler with Vault's token check and counts requests.
func (f *Server) authorized(route string, h func(http.ResponseWriter, *http.Request, *keysutil.Policy)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls[route]++
		expiry, ok := f.tokens[r.Header.Get("X-Vault-Token")]
		if !ok || (!expiry.IsZero() && !f.Clock.Now().Before(expiry)) {
			f.denied++
			writeErrors(w, http.StatusForbidden, "permission denied")
			return
		}
		p, ok := f.policies[r.PathValue("name")]
		if !ok {
			writeErrors(w, http.StatusNotFound)
			return
		}
		h(w, r, p)
	}
}

func (f *Server) login(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["login"]++
	var req struct {
		Role string `json:"role"`
		JWT  string `json:"jwt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErrors(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Role != Role {
		writeErrors(w, http.StatusBadRequest, fmt.Sprintf("role %q could not be found", req.Role))
		return
	}
	_, err := jwt.Parse(req.JWT, func(*jwt.Token) (any, error) { return f.jwtKey.Public(), nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(githubIssuer),
		jwt.WithAudience(f.BoundAudience),
		jwt.WithTimeFunc(f.Clock.Now))
	switch {
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		writeErrors(w, http.StatusBadRequest, "error validating token: invalid audience (aud) claim: audience claim does not match any expected audience")
		return
	case err != nil:
		writeErrors(w, http.StatusBadRequest, "error validating token: "+err.Error())
		return
	}
	f.nextToken++
	token := "hvs.fake-" + strconv.Itoa(f.nextToken)
	f.tokens[token] = f.Clock.Now().Add(f.TokenTTL)
	writeJSON(w, http.StatusOK, map[string]any{
		"auth": map[string]any{
			"client_token":   token,
			"accessor":       "accessor-" + strconv.Itoa(f.nextToken),
			"policies":       []string{"default", "promote-evidence"},
			"token_policies": []string{"default", "promote-evidence"},
			"metadata":       map[string]string{"role": Role},
			"lease_duration": int(f.TokenTTL.Seconds()),
			"renewable":      true,
		},
	})
}

// readKey answers as Vault's formatKeyPolicy does for the fields a client
// may read.
func (f *Server) readKey(w http.ResponseWriter, _ *http.Request, p *keysutil.Policy) {
	writeData(w, keyData(p))
}

func keyData(p *keysutil.Policy) map[string]any {
	data := map[string]any{
		"name":                   p.Name,
		"type":                   p.Type.String(),
		"derived":                p.Derived,
		"deletion_allowed":       p.DeletionAllowed,
		"exportable":             p.Exportable,
		"min_available_version":  p.MinAvailableVersion,
		"min_decryption_version": p.MinDecryptionVersion,
		"min_encryption_version": p.MinEncryptionVersion,
		"latest_version":         p.LatestVersion,
		"supports_encryption":    p.Type.EncryptionSupported(),
		"supports_decryption":    p.Type.DecryptionSupported(),
		"supports_signing":       p.Type.SigningSupported(),
		"supports_derivation":    p.Type.DerivationSupported(),
		"auto_rotate_period":     0,
		"imported_key":           p.Imported,
	}
	switch p.Type {
	case keysutil.KeyType_ECDSA_P256, keysutil.KeyType_ED25519, keysutil.KeyType_RSA2048:
		keys := map[string]map[string]any{}
		for version, entry := range p.Keys {
			name := map[keysutil.KeyType]string{keysutil.KeyType_ECDSA_P256: "P-256", keysutil.KeyType_ED25519: "ed25519", keysutil.KeyType_RSA2048: "rsa-2048"}[p.Type]
			publicKey := entry.FormattedPublicKey
			if p.Type == keysutil.KeyType_ED25519 && p.Derived {
				publicKey = "" // Vault shows derived public keys only for a context.
			}
			keys[version] = map[string]any{
				"name":              name,
				"public_key":        publicKey,
				"creation_time":     entry.CreationTime.Format(time.RFC3339Nano),
				"certificate_chain": "",
			}
		}
		data["keys"] = keys
	default:
		keys := map[string]int64{}
		for version, entry := range p.Keys {
			keys[version] = entry.DeprecatedCreationTime
		}
		data["keys"] = keys
	}
	return data
}

func (f *Server) rotateKey(w http.ResponseWriter, r *http.Request, p *keysutil.Policy) {
	if err := p.Rotate(r.Context(), f.storage, rand.Reader); err != nil {
		writeErrors(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeData(w, keyData(p))
}

// sign answers as Vault's transit sign path does: it hashes each input for
// key types that sign digests (unless prehashed) and signs with keysutil.
func (f *Server) sign(w http.ResponseWriter, r *http.Request, p *keysutil.Policy) {
	var req SignRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErrors(w, http.StatusBadRequest, err.Error())
		return
	}
	f.signed = append(f.signed, req)
	inputs := []string{req.Input}
	if len(req.BatchInput) > 0 {
		inputs = inputs[:0]
		for _, item := range req.BatchInput {
			inputs = append(inputs, item.Input)
		}
	}
	results := make([]map[string]any, len(inputs))
	for i, encoded := range inputs {
		results[i] = map[string]any{}
		msg, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			results[i]["error"] = "unable to decode input as base64: " + err.Error()
			continue
		}
		input, hashType, marshaling, err := prepareInput(p, msg, req.HashAlgorithm, req.MarshalingAlgorithm, req.Prehashed)
		if err != nil {
			results[i]["error"] = err.Error()
			continue
		}
		sig, err := p.SignWithOptions(req.KeyVersion, nil, input, &keysutil.SigningOptions{
			HashAlgorithm: hashType,
			Marshaling:    marshaling,
			SaltLength:    rsa.PSSSaltLengthAuto,
		})
		if err != nil {
			results[i]["error"] = err.Error()
			continue
		}
		version := req.KeyVersion
		if version == 0 {
			version = p.LatestVersion
		}
		results[i]["signature"] = sig.Signature
		results[i]["key_version"] = version
	}
	if len(req.BatchInput) > 0 {
		writeData(w, map[string]any{"batch_results": results})
		return
	}
	if msg, ok := results[0]["error"]; ok {
		writeErrors(w, http.StatusBadRequest, msg.(string))
		return
	}
	writeData(w, results[0])
}

// prepareInput applies Vault's defaults (sha2-256, asn1) and, for key types
// that sign a digest, hashes msg as Vault does before calling keysutil.
func prepareInput(p *keysutil.Policy, msg []byte, hashAlgorithm, marshalingAlgorithm string, prehashed bool) ([]byte, keysutil.HashType, keysutil.MarshalingType, error) {
	if hashAlgorithm == "" {
		hashAlgorithm = "sha2-256"
	}
	if marshalingAlgorithm == "" {
		marshalingAlgorithm = "asn1"
	}
	hashType, ok := keysutil.HashTypeMap[hashAlgorithm]
	if !ok {
		return nil, 0, 0, fmt.Errorf("unsupported hash algorithm %s", hashAlgorithm)
	}
	marshaling, ok := keysutil.MarshalingTypeMap[marshalingAlgorithm]
	if !ok {
		return nil, 0, 0, fmt.Errorf("unsupported marshaling type %s", marshalingAlgorithm)
	}
	if p.Type.HashSignatureInput() && !prehashed {
		newHash := keysutil.HashFuncMap[hashType]
		if newHash == nil {
			return nil, 0, 0, fmt.Errorf("hash algorithm %s requires prehashed input", hashAlgorithm)
		}
		h := newHash()
		h.Write(msg)
		msg = h.Sum(nil)
	}
	return msg, hashType, marshaling, nil
}

func writeData(w http.ResponseWriter, data map[string]any) {
	writeJSON(w, http.StatusOK, map[string]any{
		"request_id":     "00000000-0000-0000-0000-000000000000",
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": 0,
		"data":           data,
		"wrap_info":      nil,
		"warnings":       nil,
		"auth":           nil,
	})
}

func writeErrors(w http.ResponseWriter, status int, errs ...string) {
	writeJSON(w, status, map[string]any{"errors": append([]string{}, errs...)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
