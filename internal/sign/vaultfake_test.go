package sign

import (
	"time"

	"github.com/promote-dev/promote/internal/sign/vaulttest"
)

// fakeConfig returns a signer configuration for the test server and key,
// on the server's clock and without retry pauses.
func fakeConfig(f *vaulttest.Server, auth, key string) VaultConfig {
	cfg := VaultConfig{
		Address:    f.Srv.URL,
		Key:        key,
		Auth:       auth,
		HTTPClient: f.Srv.Client(),
		now:        f.Clock.Now,
		retryWait:  time.Millisecond,
	}
	switch auth {
	case "token":
		cfg.Token = vaulttest.RootToken
	case "jwt":
		cfg.Role = vaulttest.Role
		cfg.IDToken = f.IDToken
	}
	return cfg
}
