package actions

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestIDToken(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer request-token" || r.URL.Query().Get("audience") != "https://vault.example" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Write([]byte(`{"value":"eyJ.oidc.token"}`))
	}))
	defer srv.Close()
	var out bytes.Buffer
	env := map[string]string{
		"GITHUB_ACTIONS":                 "true",
		"ACTIONS_ID_TOKEN_REQUEST_URL":   srv.URL + "/token?api-version=2.0",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
	}
	rt := New(WithGetenv(func(k string) string { return env[k] }), WithStdout(&out))
	tok, err := rt.IDToken(context.Background(), "https://vault.example")
	if err != nil || tok != "eyJ.oidc.token" {
		t.Fatalf("IDToken() = %q, %v", tok, err)
	}
	if !strings.Contains(out.String(), "::add-mask::eyJ.oidc.token") {
		t.Errorf("the token was not masked: %q", out.String())
	}

	none := New(WithGetenv(func(string) string { return "" }))
	if _, err := none.IDToken(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "id-token: write") {
		t.Errorf("IDToken() without Actions = %v, want how to get one", err)
	}
}
