package github

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	key := string(testKeyPEM())
	oneLineKey := strings.ReplaceAll(strings.TrimSpace(key), "\n", `\n`)
	tests := []struct {
		what string
		env  map[string]string
		want Config
		// wantErr is a part of the error; "" means success.
		wantErr string
	}{
		{
			what: "GITHUB_TOKEN",
			env:  map[string]string{"GITHUB_REPOSITORY": "octo-org/octo-repo", "GITHUB_TOKEN": testToken, "GITHUB_API_URL": "https://api.github.com"},
			want: Config{APIURL: "https://api.github.com", Token: testToken, Owner: "octo-org", Repo: "octo-repo"},
		},
		{
			what: "GitHub Enterprise Server",
			env:  map[string]string{"GITHUB_REPOSITORY": "octo-org/octo-repo", "GITHUB_TOKEN": testToken, "GITHUB_API_URL": "https://ghe.example.com/api/v3"},
			want: Config{APIURL: "https://ghe.example.com/api/v3", Token: testToken, Owner: "octo-org", Repo: "octo-repo"},
		},
		{
			what: "GitHub App",
			env:  map[string]string{"GITHUB_REPOSITORY": "octo-org/octo-repo", "PROMOTE_APP_ID": "12345", "PROMOTE_APP_PRIVATE_KEY": key},
			want: Config{AppID: 12345, AppPrivateKey: []byte(key), Owner: "octo-org", Repo: "octo-repo"},
		},
		{
			what: "GitHub App with installation, token too",
			env: map[string]string{"GITHUB_REPOSITORY": "octo-org/octo-repo", "GITHUB_TOKEN": testToken,
				"PROMOTE_APP_ID": " 12345 ", "PROMOTE_APP_PRIVATE_KEY": key, "PROMOTE_APP_INSTALLATION_ID": "777"},
			want: Config{Token: testToken, AppID: 12345, AppPrivateKey: []byte(key), InstallationID: 777, Owner: "octo-org", Repo: "octo-repo"},
		},
		{
			what: "a key pasted as one line with \\n",
			env:  map[string]string{"GITHUB_REPOSITORY": "octo-org/octo-repo", "PROMOTE_APP_ID": "12345", "PROMOTE_APP_PRIVATE_KEY": oneLineKey},
			want: Config{AppID: 12345, AppPrivateKey: []byte(key), Owner: "octo-org", Repo: "octo-repo"},
		},
		{
			what:    "no repository",
			env:     map[string]string{"GITHUB_TOKEN": testToken},
			wantErr: "GITHUB_REPOSITORY is not set",
		},
		{
			what:    "repository without owner",
			env:     map[string]string{"GITHUB_REPOSITORY": "octo-repo", "GITHUB_TOKEN": testToken},
			wantErr: `GITHUB_REPOSITORY "octo-repo" is not "owner/repo"`,
		},
		{
			what:    "no credentials",
			env:     map[string]string{"GITHUB_REPOSITORY": "octo-org/octo-repo"},
			wantErr: "set GITHUB_TOKEN",
		},
		{
			what:    "bad API URL",
			env:     map[string]string{"GITHUB_REPOSITORY": "octo-org/octo-repo", "GITHUB_TOKEN": testToken, "GITHUB_API_URL": "ghe.example.com"},
			wantErr: `GITHUB_API_URL: "ghe.example.com" is not an http(s) URL`,
		},
		{
			what:    "App ID without key",
			env:     map[string]string{"GITHUB_REPOSITORY": "octo-org/octo-repo", "PROMOTE_APP_ID": "12345"},
			wantErr: "PROMOTE_APP_PRIVATE_KEY is not",
		},
		{
			what:    "key without App ID",
			env:     map[string]string{"GITHUB_REPOSITORY": "octo-org/octo-repo", "PROMOTE_APP_PRIVATE_KEY": key},
			wantErr: "PROMOTE_APP_ID is not",
		},
		{
			what:    "App ID not a number",
			env:     map[string]string{"GITHUB_REPOSITORY": "octo-org/octo-repo", "PROMOTE_APP_ID": "promote-app", "PROMOTE_APP_PRIVATE_KEY": key},
			wantErr: `PROMOTE_APP_ID "promote-app" is not an App ID`,
		},
		{
			what:    "key that is not PEM",
			env:     map[string]string{"GITHUB_REPOSITORY": "octo-org/octo-repo", "PROMOTE_APP_ID": "12345", "PROMOTE_APP_PRIVATE_KEY": "SECRETSECRETSECRET"},
			wantErr: "PROMOTE_APP_PRIVATE_KEY: not an RSA private key in PEM form",
		},
		{
			what:    "installation ID not a number",
			env:     map[string]string{"GITHUB_REPOSITORY": "octo-org/octo-repo", "PROMOTE_APP_ID": "12345", "PROMOTE_APP_PRIVATE_KEY": key, "PROMOTE_APP_INSTALLATION_ID": "x"},
			wantErr: `PROMOTE_APP_INSTALLATION_ID "x" is not an installation ID`,
		},
		{
			what:    "installation ID without App",
			env:     map[string]string{"GITHUB_REPOSITORY": "octo-org/octo-repo", "GITHUB_TOKEN": testToken, "PROMOTE_APP_INSTALLATION_ID": "777"},
			wantErr: "PROMOTE_APP_INSTALLATION_ID is set but PROMOTE_APP_ID is not",
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			got, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ConfigFromEnv() error = %v, want it to contain %q", err, tt.wantErr)
				}
				checkNoSecrets(t, err, []string{testToken, key, "SECRETSECRETSECRET"})
				return
			}
			if err != nil {
				t.Fatalf("ConfigFromEnv() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ConfigFromEnv() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what       string
		cfg        Config
		wantBase   string
		wantUpload string
		wantErr    string
	}{
		{
			what:       "github.com by default",
			cfg:        Config{Token: testToken, Owner: testOwner, Repo: testRepo},
			wantBase:   "https://api.github.com/",
			wantUpload: "https://uploads.github.com/",
		},
		{
			what:       "GHES without the trailing slash",
			cfg:        Config{APIURL: "https://ghe.example.com/api/v3", Token: testToken, Owner: testOwner, Repo: testRepo},
			wantBase:   "https://ghe.example.com/api/v3/",
			wantUpload: "https://ghe.example.com/api/uploads/",
		},
		{
			what:    "no repository",
			cfg:     Config{Token: testToken},
			wantErr: "Owner and Repo are required",
		},
		{
			what:    "no credentials",
			cfg:     Config{Owner: testOwner, Repo: testRepo},
			wantErr: "no credentials",
		},
		{
			what:    "bad URL",
			cfg:     Config{APIURL: "ftp://ghe.example.com", Token: testToken, Owner: testOwner, Repo: testRepo},
			wantErr: "not an http(s) URL",
		},
		{
			what:    "bad key",
			cfg:     Config{AppID: 1, AppPrivateKey: []byte("nope"), Owner: testOwner, Repo: testRepo},
			wantErr: "AppPrivateKey: not an RSA private key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			c, err := New(context.Background(), tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New() error = %v", err)
			}
			if got := c.GH.BaseURL.String(); got != tt.wantBase {
				t.Errorf("BaseURL = %q, want %q", got, tt.wantBase)
			}
			if got := c.GH.UploadURL.String(); got != tt.wantUpload {
				t.Errorf("UploadURL = %q, want %q", got, tt.wantUpload)
			}
		})
	}
}

func TestTokenRequestsOnGHES(t *testing.T) {
	t.Parallel()
	path := "/api/v3" + repoPath("deployments")
	srv := newServer(t, map[string]http.HandlerFunc{"GET " + path: script(t, reply{status: 200, body: `[{"id":1}]`})})
	c, _ := newTestClient(t, srv, func(cfg *Config) { cfg.APIURL = srv.URL + "/api/v3" })

	deps, _, err := c.GH.Repositories.ListDeployments(context.Background(), testOwner, testRepo, nil)

	if err != nil || len(deps) != 1 {
		t.Fatalf("ListDeployments = %v, %v, want one deployment", deps, err)
	}
	seen := srv.seen()
	if len(seen) != 1 {
		t.Fatalf("requests = %d, want 1", len(seen))
	}
	h := seen[0].Header
	for name, want := range map[string]string{
		"Authorization":        "Bearer " + testToken,
		"User-Agent":           "promote-test",
		"X-Github-Api-Version": "2022-11-28",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if diff := cmp.Diff(map[string]RouteStats{"GET /repos/{owner}/{repo}/deployments": {Total: 1}}, c.Stats()); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
	}
}
