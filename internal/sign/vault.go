package sign

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
)

// VaultConfig configures a [Vault] signer. Its String and GoString methods
// leave the token out, so logging a VaultConfig never prints it.
type VaultConfig struct {
	// Address is Vault's URL, e.g. "https://vault.example.com:8200".
	Address string
	// Mount is the path the Transit engine is mounted at; "transit" when
	// empty.
	Mount string
	// Key is the name of the Transit key, of type ecdsa-p256 or ed25519.
	Key string
	// Auth is how to log in: "token" (the default) or "jwt".
	Auth string
	// Token is the Vault token, for Auth "token".
	Token string
	// JWTMount is the path the JWT auth method is mounted at; "jwt" when
	// empty.
	JWTMount string
	// Role is the JWT auth role to log in with, for Auth "jwt".
	Role string
	// Audience is the audience to request the OIDC token for, which the
	// role's bound_audiences must list; Address when empty.
	Audience string
	// IDToken returns an OIDC token for an audience, for Auth "jwt": in
	// GitHub Actions, the job's token (permissions: id-token: write). It is
	// asked again whenever the Vault token expires.
	IDToken func(ctx context.Context, audience string) (string, error)
	// HTTPClient carries the requests when set; otherwise the vault/api
	// client's default does, configured by the VAULT_CACERT family of
	// environment variables as the vault CLI is.
	HTTPClient *http.Client

	// now tells the time for token expiry; time.Now when nil.
	now func() time.Time
	// retryWait, when set, replaces the vault/api client's wait of one
	// second or more between retries of failed requests.
	retryWait time.Duration
}

// String describes the configuration without the token.
func (c VaultConfig) String() string {
	token := ""
	if c.Token != "" {
		token = "(redacted)"
	}
	return fmt.Sprintf("VaultConfig{Address: %q, Mount: %q, Key: %q, Auth: %q, Token: %q, JWTMount: %q, Role: %q, Audience: %q}",
		c.Address, c.Mount, c.Key, c.Auth, token, c.JWTMount, c.Role, c.Audience)
}

// GoString is String, so that %#v leaves the token out too.
func (c VaultConfig) GoString() string { return c.String() }

// Vault signs with a key of HashiCorp Vault's Transit secrets engine; the
// private key never leaves Vault. It is safe for concurrent use.
//
// A Vault pins the key version that was the latest when [NewVault] ran: Sign
// asks Transit for that version (its key_version parameter), so every
// signature matches KeyID even if the key is rotated meanwhile. Make a new
// Vault to sign with a newer version.
//
// The Vault token needs this policy (with the default mount and key name):
//
//	path "transit/keys/promote-evidence" { capabilities = ["read"] }
//	path "transit/sign/promote-evidence" { capabilities = ["update"] }
type Vault struct {
	client    *api.Client
	cfg       VaultConfig // with defaults filled in
	now       func() time.Time
	algorithm string
	version   int
	keyID     string
	pub       crypto.PublicKey // of version

	mu      sync.Mutex // guards token and renewAt
	token   string
	renewAt time.Time // zero when the token does not expire
}

// NewVault logs in to Vault, reads the Transit key and returns a signer for
// its latest version.
//
// With Auth "jwt" it asks cfg.IDToken for an OIDC token for cfg.Audience,
// logs in with it at auth/<JWTMount>/login as cfg.Role, and logs in again
// when the Vault token's lease runs out or Vault refuses the token.
//
// Only ecdsa-p256 and ed25519 Transit keys are supported (otherwise the
// error wraps [ErrUnsupportedKey]): their signatures are the ones cosign
// verifies. NewVault ignores VAULT_TOKEN and VAULT_AGENT_ADDR; it honours
// VAULT_NAMESPACE.
func NewVault(ctx context.Context, cfg VaultConfig) (*Vault, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	config := api.DefaultConfig()
	if config.Error != nil {
		return nil, fmt.Errorf("configuring the vault client from the VAULT_* environment variables: %w", config.Error)
	}
	config.Address = cfg.Address
	config.AgentAddress = ""
	if cfg.HTTPClient != nil {
		// A copy: vault/api fills in a nil Transport of the client it uses.
		hc := *cfg.HTTPClient
		config.HttpClient = &hc
	}
	if cfg.retryWait > 0 {
		config.MinRetryWait, config.MaxRetryWait = cfg.retryWait, cfg.retryWait
	}
	client, err := api.NewClient(config)
	if err != nil {
		return nil, fmt.Errorf("creating the vault client for %q: %w", cfg.Address, err)
	}
	// Every request carries the token that this Vault chose (see withToken).
	client.ClearToken()

	v := &Vault{client: client, cfg: cfg, now: cfg.now, token: cfg.Token}
	if v.now == nil {
		v.now = time.Now
	}
	key, err := v.readKey(ctx)
	if err != nil {
		return nil, err
	}
	v.algorithm = key.algorithm
	v.version = key.latest
	v.keyID = v.versionKeyID(key.latest)
	v.pub = key.public[key.latest]
	if v.pub == nil {
		return nil, fmt.Errorf("vault transit key %q reports latest version %d but lists no public key for it", v.keyPath(), key.latest)
	}
	return v, nil
}

func (c VaultConfig) withDefaults() (VaultConfig, error) {
	if c.Address == "" {
		return c, errors.New(`vault address is empty: set it to Vault's URL, e.g. "https://vault.example.com:8200"`)
	}
	if c.Key == "" || strings.Contains(c.Key, "/") {
		return c, fmt.Errorf("vault transit key name %q: want the name of a Transit key, e.g. %q", c.Key, "promote-evidence")
	}
	c.Mount = strings.Trim(c.Mount, "/")
	if c.Mount == "" {
		c.Mount = "transit"
	}
	c.JWTMount = strings.Trim(c.JWTMount, "/")
	if c.JWTMount == "" {
		c.JWTMount = "jwt"
	}
	switch c.Auth {
	case "", "token":
		c.Auth = "token"
		if c.Token == "" {
			return c, errors.New(`vault auth "token" needs a token: pass one, or use auth "jwt" with a role`)
		}
	case "jwt":
		if c.Role == "" {
			return c, errors.New(`vault auth "jwt" needs the role to log in with: name the JWT auth role bound to this repository`)
		}
		if c.IDToken == nil {
			return c, errors.New(`vault auth "jwt" needs an OIDC token source: in GitHub Actions grant the job "permissions: id-token: write"`)
		}
		if c.Audience == "" {
			c.Audience = c.Address
		}
	default:
		return c, fmt.Errorf(`vault auth %q: want "token" or "jwt"`, c.Auth)
	}
	return c, nil
}

// KeyID returns "vault:<mount>/<key>:v<version>", naming the version Sign
// signs with.
func (v *Vault) KeyID() string { return v.keyID }

// Algorithm returns the Transit key's type: "ecdsa-p256" or "ed25519".
func (v *Vault) Algorithm() string { return v.algorithm }

// String describes the signer by its key id.
func (v *Vault) String() string { return "vault " + v.algorithm + " key " + v.keyID }

// GoString is String.
func (v *Vault) GoString() string { return v.String() }

func (v *Vault) keyPath() string { return v.cfg.Mount + "/keys/" + v.cfg.Key }

func (v *Vault) versionKeyID(version int) string {
	return "vault:" + v.cfg.Mount + "/" + v.cfg.Key + ":v" + strconv.Itoa(version)
}

// Sign signs all messages with one Transit request (batch_input) using the
// version KeyID names, and checks each signature against that version's
// public key before returning it. ECDSA signatures are ASN.1 DER over the
// SHA-256 of the message, which Vault computes (hash_algorithm sha2-256);
// Ed25519 signatures are over the message itself.
func (v *Vault) Sign(ctx context.Context, messages [][]byte) ([][]byte, error) {
	if len(messages) == 0 {
		return [][]byte{}, nil
	}
	batch := make([]map[string]any, len(messages))
	for i, msg := range messages {
		batch[i] = map[string]any{"input": base64.StdEncoding.EncodeToString(msg)}
	}
	body := map[string]any{"batch_input": batch, "key_version": v.version}
	if v.algorithm == AlgorithmECDSAP256 {
		body["hash_algorithm"] = "sha2-256"
		body["marshaling_algorithm"] = "asn1"
	}
	path := v.cfg.Mount + "/sign/" + v.cfg.Key
	secret, err := v.do(ctx, func(c *api.Client) (*api.Secret, error) {
		return c.Logical().WriteWithContext(ctx, path, body)
	})
	if err != nil {
		return nil, v.requestError(fmt.Sprintf("signing %d messages with %s at %q", len(messages), v.keyID, path), err)
	}
	var out struct {
		BatchResults []struct {
			Signature string `json:"signature"`
			Error     string `json:"error"`
		} `json:"batch_results"`
	}
	if err := decodeData(secret, &out); err != nil {
		return nil, fmt.Errorf("vault response to %q: %w", path, err)
	}
	if len(out.BatchResults) != len(messages) {
		return nil, fmt.Errorf("vault returned %d signatures for %d messages at %q", len(out.BatchResults), len(messages), path)
	}
	sigs := make([][]byte, len(messages))
	for i, r := range out.BatchResults {
		if r.Error != "" {
			return nil, fmt.Errorf("vault could not sign message %d with %s: %s", i, v.keyID, r.Error)
		}
		version, sig, err := parseVaultSignature(r.Signature)
		if err != nil {
			return nil, fmt.Errorf("vault signature for message %d: %w", i, err)
		}
		if version != v.version {
			return nil, fmt.Errorf("vault signed message %d with version %d of %q, not the version %d that was asked for", i, version, v.keyPath(), v.version)
		}
		if err := Verify(v.pub, messages[i], sig); err != nil {
			return nil, fmt.Errorf("vault signature for message %d does not verify with %s: %w", i, v.keyID, err)
		}
		sigs[i] = sig
	}
	return sigs, nil
}

// parseVaultSignature splits "vault:v<version>:<base64>".
func parseVaultSignature(s string) (int, []byte, error) {
	rest, ok := strings.CutPrefix(s, "vault:v")
	digits, encoded, found := strings.Cut(rest, ":")
	if !ok || !found {
		return 0, nil, fmt.Errorf(`signature %q is not of the form "vault:v<version>:<base64>": promote does not support custom Transit version templates`, truncate(s, 24))
	}
	version, err := strconv.Atoi(digits)
	if err != nil || version < 1 {
		return 0, nil, fmt.Errorf("signature version %q is not a positive number", digits)
	}
	sig, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return 0, nil, fmt.Errorf("decoding the base64 of a version %d signature: %w", version, err)
	}
	return version, sig, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// PublicKeys reads the Transit key again and returns the public key of every
// version Vault still holds, by key id, so that records signed before a
// rotation stay verifiable. It deliberately ignores min_decryption_version:
// that setting restricts what Vault itself will verify, not which of
// Promote's past records are genuine.
func (v *Vault) PublicKeys(ctx context.Context) (map[string]crypto.PublicKey, error) {
	key, err := v.readKey(ctx)
	if err != nil {
		return nil, err
	}
	if key.algorithm != v.algorithm {
		return nil, fmt.Errorf("vault transit key %q is now of type %q, not %q", v.keyPath(), key.algorithm, v.algorithm)
	}
	keys := make(map[string]crypto.PublicKey, len(key.public))
	for version, pub := range key.public {
		keys[v.versionKeyID(version)] = pub
	}
	return keys, nil
}

// transitKey is what readKey learns of a Transit key.
type transitKey struct {
	algorithm string
	latest    int
	public    map[int]crypto.PublicKey
}

// readKey reads <mount>/keys/<key>, the response of which has this shape:
//
//	{"type": "ecdsa-p256", "latest_version": 2, "derived": false,
//	 "keys": {"1": {"public_key": "-----BEGIN PUBLIC KEY-----…", "name": "P-256", …}, "2": …}}
//
// The public key is PEM PKIX for ECDSA and raw base64 for Ed25519.
func (v *Vault) readKey(ctx context.Context) (transitKey, error) {
	path := v.keyPath()
	secret, err := v.do(ctx, func(c *api.Client) (*api.Secret, error) {
		return c.Logical().ReadWithContext(ctx, path)
	})
	if err != nil {
		return transitKey{}, v.requestError(fmt.Sprintf("reading vault transit key %q", path), err)
	}
	if secret == nil {
		return transitKey{}, fmt.Errorf("vault has no transit key %q: create one with: vault write %s/keys/%s type=ecdsa-p256", path, v.cfg.Mount, v.cfg.Key)
	}
	var data struct {
		Type          string                     `json:"type"`
		Derived       bool                       `json:"derived"`
		LatestVersion int                        `json:"latest_version"`
		Keys          map[string]json.RawMessage `json:"keys"`
	}
	if err := decodeData(secret, &data); err != nil {
		return transitKey{}, fmt.Errorf("vault response to %q: %w", path, err)
	}
	switch {
	case data.Type != AlgorithmECDSAP256 && data.Type != AlgorithmEd25519:
		return transitKey{}, fmt.Errorf("vault transit key %q is of type %q; promote signs with %s keys, which cosign verifies: create one with: vault write %s/keys/<name> type=ecdsa-p256: %w",
			path, data.Type, supportedAlgorithms, v.cfg.Mount, ErrUnsupportedKey)
	case data.Derived:
		return transitKey{}, fmt.Errorf("vault transit key %q is derived (derived=true), so its signing key depends on a context: create a key without derivation: %w", path, ErrUnsupportedKey)
	case data.LatestVersion < 1:
		return transitKey{}, fmt.Errorf("vault transit key %q has no key versions", path)
	}
	key := transitKey{algorithm: data.Type, latest: data.LatestVersion, public: make(map[int]crypto.PublicKey, len(data.Keys))}
	for name, raw := range data.Keys {
		version, err := strconv.Atoi(name)
		if err != nil || version < 1 {
			return transitKey{}, fmt.Errorf("vault transit key %q lists a version named %q, want a positive number", path, name)
		}
		var entry struct {
			PublicKey string `json:"public_key"`
		}
		if err := json.Unmarshal(raw, &entry); err != nil {
			return transitKey{}, fmt.Errorf("vault transit key %q version %d: %w", path, version, err)
		}
		pub, err := parseTransitPublicKey(data.Type, entry.PublicKey)
		if err != nil {
			return transitKey{}, fmt.Errorf("vault transit key %q version %d: %w", path, version, err)
		}
		key.public[version] = pub
	}
	return key, nil
}

// parseTransitPublicKey decodes a Transit public key: PEM PKIX for ECDSA,
// the raw key in base64 for Ed25519.
func parseTransitPublicKey(keyType, s string) (crypto.PublicKey, error) {
	if keyType == AlgorithmEd25519 {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("decoding the base64 ed25519 public key: %w", err)
		}
		if len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("ed25519 public key is %d bytes, want %d", len(raw), ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(raw), nil
	}
	pub, err := ParsePublicKeyPEM([]byte(s))
	if err != nil {
		return nil, err
	}
	if got, _ := algorithmOf(pub); got != keyType {
		return nil, fmt.Errorf("public key is %T, want an %s key", pub, keyType)
	}
	return pub, nil
}

// decodeData decodes a response's data into out.
func decodeData(secret *api.Secret, out any) error {
	if secret == nil || secret.Data == nil {
		return errors.New("the response has no data")
	}
	raw, err := json.Marshal(secret.Data)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// do runs call with a valid Vault token. Under JWT auth, a refused token
// (Vault answers 403 to an expired or revoked one) leads to one new login
// and one retry.
func (v *Vault) do(ctx context.Context, call func(*api.Client) (*api.Secret, error)) (*api.Secret, error) {
	token, err := v.currentToken(ctx)
	if err != nil {
		return nil, err
	}
	secret, err := call(v.withToken(token))
	if v.cfg.Auth != "jwt" || !isPermissionDenied(err) {
		return secret, err
	}
	token, err = v.relogin(ctx, token)
	if err != nil {
		return nil, err
	}
	return call(v.withToken(token))
}

// withToken returns a client whose requests carry token, so that concurrent
// requests and logins never race on the client's own token.
func (v *Vault) withToken(token string) *api.Client {
	return v.client.WithRequestCallbacks(func(r *api.Request) { r.ClientToken = token })
}

func isPermissionDenied(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}

// loginError marks a failed login, which requestError passes on as is.
type loginError struct{ err error }

func (e *loginError) Error() string { return e.err.Error() }
func (e *loginError) Unwrap() error { return e.err }

// requestError explains a failed request and what to check.
func (v *Vault) requestError(what string, err error) error {
	var le *loginError
	var re *api.ResponseError
	switch {
	case errors.As(err, &le):
		return le.err
	case isPermissionDenied(err) && v.cfg.Auth == "jwt":
		return fmt.Errorf("%s: vault refused a fresh token of role %q: the role's token_policies must allow read on %q and update on %q: %w",
			what, v.cfg.Role, v.keyPath(), v.cfg.Mount+"/sign/"+v.cfg.Key, err)
	case isPermissionDenied(err):
		return fmt.Errorf("%s: vault refused the token: it may have expired or been revoked, or its policy lacks read on %q and update on %q: %w",
			what, v.keyPath(), v.cfg.Mount+"/sign/"+v.cfg.Key, err)
	case errors.As(err, &re):
		return fmt.Errorf("%s: %w", what, err)
	case isContextError(err):
		return fmt.Errorf("%s: %w", what, err)
	default:
		return fmt.Errorf("%s: cannot reach vault at %q (check the address and the network): %w", what, v.cfg.Address, err)
	}
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// currentToken returns the token to use, logging in first under JWT auth
// when there is none or it is about to expire.
func (v *Vault) currentToken(ctx context.Context) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cfg.Auth != "jwt" {
		return v.token, nil
	}
	if v.token != "" && (v.renewAt.IsZero() || v.now().Before(v.renewAt)) {
		return v.token, nil
	}
	return v.loginLocked(ctx)
}

// relogin logs in again after Vault refused stale, unless a concurrent
// call has already replaced it.
func (v *Vault) relogin(ctx context.Context, stale string) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.token != stale {
		return v.token, nil
	}
	return v.loginLocked(ctx)
}

// loginLocked logs in with the JWT auth method; v.mu must be held. Neither
// the OIDC token nor the Vault token appears in its errors.
func (v *Vault) loginLocked(ctx context.Context) (string, error) {
	jwt, err := v.cfg.IDToken(ctx, v.cfg.Audience)
	if err != nil {
		return "", &loginError{fmt.Errorf("getting an OIDC token for audience %q to log in to vault (in GitHub Actions the job needs permissions: id-token: write): %w", v.cfg.Audience, err)}
	}
	path := "auth/" + v.cfg.JWTMount + "/login"
	secret, err := v.withToken("").Logical().WriteWithContext(ctx, path, map[string]any{"role": v.cfg.Role, "jwt": jwt})
	if err != nil {
		var re *api.ResponseError
		if !errors.As(err, &re) {
			return "", &loginError{fmt.Errorf("logging in to vault at %q: cannot reach vault at %q (check the address and the network): %w", path, v.cfg.Address, err)}
		}
		return "", &loginError{fmt.Errorf("logging in to vault at %q as role %q: check that the role exists, that its bound_audiences include %q and that its bound_claims match this job: %w", path, v.cfg.Role, v.cfg.Audience, err)}
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return "", &loginError{fmt.Errorf("logging in to vault at %q as role %q: the response has no client token", path, v.cfg.Role)}
	}
	v.token = secret.Auth.ClientToken
	v.renewAt = time.Time{}
	if lease := time.Duration(secret.Auth.LeaseDuration) * time.Second; lease > 0 {
		// Log in again a little before the lease ends, so that a request
		// does not start with a token that expires on the way.
		v.renewAt = v.now().Add(lease - min(lease/10, 30*time.Second))
	}
	return v.token, nil
}
