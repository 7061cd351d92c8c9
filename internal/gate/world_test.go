package gate

import (
	"context"
	"crypto"
	"path/filepath"
	"testing"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/githubtest"
	"github.com/promote-dev/promote/internal/sign"
)

// world is a repository for the gate to look at: an in-memory GitHub (run
// it inside a synctest bubble, whose clock it follows) and a local
// evidence store with its signer.
type world struct {
	t      testing.TB
	srv    *githubtest.Server
	client *github.Client
	commit string
	store  *evidence.LocalStore
	signer sign.Signer
	keys   map[string]crypto.PublicKey
}

func newWorld(t testing.TB, opts githubtest.Options) *world {
	t.Helper()
	opts.InMemory = true
	srv := githubtest.New(opts)
	t.Cleanup(srv.Close)
	token := "test-token"
	for tok := range opts.Tokens {
		if opts.Tokens[tok] == "promote-bot" {
			token = tok
		}
	}
	client, err := github.New(context.Background(), github.Config{
		APIURL: srv.URL(), Token: token, Owner: "acme", Repo: "app", HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := evidence.NewLocalStore(filepath.Join(dir, "evidence"))
	if err != nil {
		t.Fatal(err)
	}
	signer, _, err := sign.LoadOrCreateLocal(filepath.Join(dir, "evidence.pem"), sign.AlgorithmEd25519)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signer.PublicKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, srv: srv, client: client, commit: srv.SHA("main"), store: store, signer: signer, keys: keys}
}

// deploy records a Deployment of the commit to environment whose statuses
// are states, one after another, as promote run would.
func (w *world) deploy(environment string, states ...string) int64 {
	w.t.Helper()
	ctx := context.Background()
	d, _, err := w.client.GH.Repositories.CreateDeployment(ctx, "acme", "app", &gh.DeploymentRequest{
		Ref: gh.String(w.commit), Environment: gh.String(environment), AutoMerge: gh.Bool(false), RequiredContexts: &[]string{},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, s := range states {
		if _, _, err := w.client.GH.Repositories.CreateDeploymentStatus(ctx, "acme", "app", d.GetID(), &gh.DeploymentStatusRequest{State: gh.String(s)}); err != nil {
			w.t.Fatal(err)
		}
	}
	return d.GetID()
}

// seal appends records to the evidence store, as the CLI does when the
// store is reachable.
func (w *world) seal(ctx context.Context, records []evidence.Record, blobs map[string][]byte) error {
	if err := evidence.CreateBlobs(ctx, w.store, blobs); err != nil {
		return err
	}
	_, err := evidence.Append(ctx, w.store, w.signer, records)
	return err
}

// meshCheck seals a mesh-check record of service for the commit.
func (w *world) meshCheck(service, outcome string) {
	w.t.Helper()
	now := time.Now()
	err := w.seal(context.Background(), []evidence.Record{{
		Kind: evidence.KindMeshCheck, Commit: w.commit, Service: service, Environment: "staging", Node: service + "@staging",
		Actor: "ci", Approvers: []string{}, StartedAt: now, FinishedAt: now, Outcome: outcome,
		MeshReportSHA256: "0000000000000000000000000000000000000000000000000000000000000000",
	}}, nil)
	if err != nil {
		w.t.Fatal(err)
	}
}

// gate makes a Gate over the world that seals its decisions.
func (w *world) gate(manifestText string, dirs ...string) *Gate {
	w.t.Helper()
	g, err := New(context.Background(), Config{
		Manifest: parseManifest(w.t, manifestText), GitHub: w.client, Evidence: w.store, Keys: w.keys,
		EvidenceURL: func(key string) string { return "file://" + filepath.Join(w.store.Dir(), key) },
		Seal:        w.seal, PolicyDirs: dirs,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return g
}
