//go:build unix

package sign

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/sign/vaulttest"
)

// refusingAddress returns the URL of a TCP port that is bound but not
// listening, so connections to it are refused, and that no other test can
// take while this one runs (unlike the port of a closed server).
func refusingAddress(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

func TestVaultUnreachable(t *testing.T) {
	t.Parallel()
	idToken := func(context.Context, string) (string, error) { return "a.b.c", nil }
	tests := []struct {
		name string
		cfg  VaultConfig
	}{
		{name: "token", cfg: VaultConfig{Key: vaulttest.DefaultKey, Token: "hvs.secret"}},
		{name: "jwt", cfg: VaultConfig{Key: vaulttest.DefaultKey, Auth: "jwt", Role: vaulttest.Role, IDToken: idToken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.Address = refusingAddress(t)
			cfg.retryWait = time.Millisecond // vault/api retries refused connections

			_, err := NewVault(t.Context(), cfg)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("NewVault(%s) = %v, want %v", cfg.Address, err, syscall.ECONNREFUSED)
			}
			if want := "cannot reach vault at " + fmt.Sprintf("%q", cfg.Address); !strings.Contains(err.Error(), want) {
				t.Errorf("NewVault() = %q, want it to say %q", err, want)
			}
			if strings.Contains(err.Error(), "hvs.secret") {
				t.Errorf("NewVault() error contains the token")
			}
		})
	}
}
