package rollback

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	gh "github.com/google/go-github/v60/github"
	"github.com/promote-dev/promote/internal/clock"
	"github.com/promote-dev/promote/internal/dag"
	"github.com/promote-dev/promote/internal/deploy"
	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/git/gittest"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/githubtest"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
	"github.com/promote-dev/promote/internal/sign"
)

// history is a git repository with five commits, c[0] oldest: c[2] is a
// schema migration.
func history(t *testing.T) (dir string, c []string) {
	t.Helper()
	dir = gittest.Init(t, map[string]string{"api/main.go": "package main\n"})
	for i := range 5 {
		if i > 0 {
			gittest.Write(t, dir, fmt.Sprintf("api/change%d.go", i), "package main\n")
			gittest.Run(t, dir, "add", ".")
			gittest.Run(t, dir, "commit", "-q", "-m", fmt.Sprintf("change %d", i))
		}
		out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
		if err != nil {
			t.Fatal(err)
		}
		c = append(c, strings.TrimSpace(string(out)))
	}
	return dir, c
}

// world is the in-memory GitHub with the repository's commits as tags and
// a deploy workflow whose runs fail for the commits in failing.
type world struct {
	srv     *githubtest.Server
	ex      *deploy.GitHub
	mu      sync.Mutex
	failing map[string]bool
}

func newWorld(t *testing.T, commits []string) *world {
	t.Helper()
	w := &world{failing: map[string]bool{}}
	w.srv = githubtest.New(githubtest.Options{InMemory: true})
	t.Cleanup(w.srv.Close)
	for i, c := range commits {
		w.srv.SetRef(fmt.Sprintf("refs/tags/c%d", i), c)
	}
	w.srv.AddWorkflow("deploy.yml", githubtest.Workflow{
		RunName: "deploy ${{ inputs.service }} to ${{ inputs.environment }} #${{ inputs.deployment_id }}",
		Inputs:  []string{"service", "environment", "ref", "deployment_id"}, Environment: "${{ inputs.environment }}",
		WaitForGoAhead: true,
		Script: func(in map[string]string) githubtest.RunScript {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.failing[in["ref"]] {
				return githubtest.RunScript{Duration: time.Minute, Conclusion: "failure"}
			}
			return githubtest.RunScript{Duration: 2 * time.Minute, Conclusion: "success"}
		},
	})
	c := clock.Real{}
	client, err := github.New(context.Background(), github.Config{
		APIURL: w.srv.URL(), Token: "test-token", Owner: "acme", Repo: "app",
		HTTPClient: w.srv.Client(), Sleep: c.Sleep, Now: c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.ex = &deploy.GitHub{Client: client, Commit: commits[len(commits)-1], DispatchRef: "main", Clock: c,
		Poll: github.Backoff{Min: 5 * time.Second, Max: 20 * time.Second, Factor: 2}}
	return w
}

func (w *world) fail(commit string) {
	w.mu.Lock()
	w.failing[commit] = true
	w.mu.Unlock()
}

// deployAt deploys the node at commit, as an earlier promotion did.
func (w *world) deployAt(t *testing.T, n *plan.Node, commit string) error {
	t.Helper()
	return w.ex.At(commit, "").Deploy(t.Context(), n, 1, func(run.Update) {})
}

var apiProd = &plan.Node{ID: "api@production", Service: "api", Environment: "production", GitHubEnvironment: "production", Deploy: plan.Deploy{Workflow: "deploy.yml"}}

// sealed appends promotion records of api@production with these commits
// and outcomes to a new local log, and reads it back verified.
func sealed(t *testing.T, promotions [][2]string) []evidence.Entry {
	t.Helper()
	store, err := evidence.NewLocalStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	signer, _, err := sign.LoadOrCreateLocal(filepath.Join(t.TempDir(), "key.pem"), "")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var records []evidence.Record
	for i, p := range promotions {
		records = append(records, evidence.Record{
			Kind: evidence.KindPromotion, Commit: p[0], Service: "api", Environment: "production", Node: "api@production",
			Actor: "octocat", Approvers: []string{}, Outcome: p[1], Attempts: 1,
			Subjects:  []evidence.Subject{{Name: "plan.json", SHA256: strings.Repeat("ab", 32)}},
			StartedAt: start.Add(time.Duration(i) * time.Hour), FinishedAt: start.Add(time.Duration(i)*time.Hour + time.Minute),
		})
	}
	if _, err := evidence.Append(context.Background(), store, signer, records); err != nil {
		t.Fatal(err)
	}
	keys, err := signer.PublicKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	entries, err := (&evidence.Verifier{Keys: keys}).Read(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// TestChoose picks the target among earlier promotions: failed ones and
// ones GitHub does not confirm are passed over, an inactive Deployment
// that had succeeded counts, and a target beyond an irreversible range is
// refused.
func TestChoose(t *testing.T) {
	t.Parallel()
	dir, c := history(t)
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, c)
		// GitHub: c0 and c2 deployed, c2 later made inactive; c1's run
		// failed; c3 was never deployed through GitHub.
		for _, commit := range []string{c[0], c[2]} {
			if err := w.deployAt(t, apiProd, commit); err != nil {
				t.Fatal(err)
			}
		}
		w.fail(c[1])
		if err := w.deployAt(t, apiProd, c[1]); err == nil {
			t.Fatal("deploying c1 succeeded, want the scripted failure")
		}
		for _, d := range w.srv.Deployments() {
			if d.SHA == c[2] {
				_, _, err := w.ex.Client.GH.Repositories.CreateDeploymentStatus(t.Context(), "acme", "app", d.ID, &gh.DeploymentStatusRequest{State: gh.String("inactive")})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		// The evidence: c0 ok, c1 failed, c2 ok, c3 ok (a record GitHub
		// cannot confirm), c4 failed (the promotion being rolled back).
		entries := sealed(t, [][2]string{{c[0], "succeeded"}, {c[1], "failed"}, {c[2], "succeeded"}, {c[3], "succeeded"}, {c[4], "failed"}})
		ch := &Chooser{Entries: entries, Deployments: w.ex, Dir: dir}

		tests := []struct {
			what         string
			irreversible []manifest.Irreversible
			want         string
			wantErr      string
		}{
			{what: "newest confirmed success", want: c[2]},
			{what: "a range already deployed at the target", irreversible: []manifest.Irreversible{{Commits: c[1] + ".." + c[2], Reason: "add orders.total"}}, want: c[2]},
			{what: "across a migration", irreversible: []manifest.Irreversible{{Commits: c[3], Reason: "drop orders.legacy"}}, wantErr: "would cross irreversible commits " + c[3] + " (drop orders.legacy)"},
		}
		for _, tt := range tests {
			got, err := ch.Choose(t.Context(), apiProd, c[4], tt.irreversible)
			if tt.wantErr != "" {
				var ie *IrreversibleError
				if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("%s: Choose() = %v, %v; want an IrreversibleError %q", tt.what, got.Commit, err, tt.wantErr)
				}
				continue
			}
			if err != nil || got.Commit != tt.want || got.Seq != 3 || got.DeploymentID == 0 {
				t.Errorf("%s: Choose() = %+v, %v; want c2 (record #3) with its Deployment", tt.what, got, err)
			}
			if len(got.Skipped) != 1 || !strings.Contains(got.Skipped[0], "has no successful Deployment") {
				t.Errorf("%s: skipped %q, want c3 passed over as unconfirmed", tt.what, got.Skipped)
			}
		}

		// Nothing earlier succeeded: no target.
		only := &Chooser{Entries: sealed(t, [][2]string{{c[1], "failed"}, {c[4], "failed"}}), Deployments: w.ex, Dir: dir}
		if _, err := only.Choose(t.Context(), apiProd, c[4], nil); !errors.Is(err, ErrNoTarget) {
			t.Errorf("Choose(no success) = %v, want ErrNoTarget", err)
		}
		// A shallow history cannot tell: no rollback.
		shallow := &Chooser{Entries: entries, Deployments: w.ex, Dir: t.TempDir()}
		if _, err := shallow.Choose(t.Context(), apiProd, c[4], []manifest.Irreversible{{Commits: c[3], Reason: "r"}}); err == nil || !strings.Contains(err.Error(), "cannot tell whether rolling back") {
			t.Errorf("Choose(no git history) = %v, want it to refuse", err)
		}
	})
}

const rollbackManifest = `version: 1
defaults: {retries: 0, timeout: 1h, deploy: {workflow: deploy.yml}}
environments: [{name: production}]
services:
  api:
    paths: ["api/**"]
%s`

// TestAutoRollback fails a promotion of c4 through the scheduler and
// checks the rollback: to c2, with a Deployment saying so; a rollback that
// fails too is reported once; and none without the manifest's opt-in.
func TestAutoRollback(t *testing.T) {
	t.Parallel()
	dir, c := history(t)
	tests := []struct {
		what       string
		rollback   string
		failTarget bool
		result     string
		deploys    int // Deployments after the seeded ones
	}{
		{what: "rolled back", rollback: "    rollback: {environments: [production]}\n", result: run.RollbackSucceeded, deploys: 2},
		{what: "rollback fails", rollback: "    rollback: {environments: [production]}\n", failTarget: true, result: run.RollbackFailed, deploys: 2},
		{what: "disabled", rollback: "", deploys: 1},
		{what: "irreversible", rollback: "    rollback: {environments: [production], irreversible: [{commits: " + c[3][:12] + ", reason: drop orders.legacy}]}\n", result: run.RollbackNotPossible, deploys: 1},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				w := newWorld(t, c)
				if err := w.deployAt(t, apiProd, c[2]); err != nil {
					t.Fatal(err)
				}
				seeded := len(w.srv.Deployments())
				w.fail(c[4])
				if tt.failTarget {
					w.fail(c[2])
				}
				yaml := fmt.Sprintf(rollbackManifest, tt.rollback)
				m, err := manifest.Parse("promotion.yaml", []byte(yaml))
				if err != nil {
					t.Fatal(err)
				}
				p, err := plan.Build(m, dag.Selection{}, plan.Meta{ManifestBytes: []byte(yaml), Commit: c[4]})
				if err != nil {
					t.Fatal(err)
				}
				auto := &Auto{
					Manifest: m, From: c[4], Now: time.Now,
					Deploy:  func(commit, why string) run.Executor { return w.ex.At(commit, why) },
					Chooser: &Chooser{Entries: sealed(t, [][2]string{{c[2], "succeeded"}, {c[3], "failed"}}), Deployments: w.ex, Dir: dir},
				}
				st, err := run.Run(t.Context(), p, w.ex, run.Options{Clock: clock.Real{}, Rollback: auto.Rollback})
				if err != nil {
					t.Fatal(err)
				}
				n := st.Nodes[0]
				if n.State != run.Failed {
					t.Fatalf("api@production = %s, want failed", n.State)
				}
				deps := w.srv.Deployments()
				if got := len(deps) - seeded; got != tt.deploys {
					t.Errorf("%d new Deployments, want %d: the promotion's, and one rollback at most", got, tt.deploys)
				}
				if tt.result == "" {
					if n.Rollback != nil {
						t.Errorf("rollback = %+v, want none", n.Rollback)
					}
					return
				}
				if n.Rollback == nil || n.Rollback.Result != tt.result {
					t.Fatalf("rollback = %+v, want %s", n.Rollback, tt.result)
				}
				switch tt.result {
				case run.RollbackNotPossible:
					if !strings.Contains(n.Rollback.Message, "would cross irreversible commits") {
						t.Errorf("message = %q, want the irreversible range", n.Rollback.Message)
					}
				default:
					rb := deps[len(deps)-1]
					if rb.SHA != c[2] || !strings.HasPrefix(rb.Description, "rollback of api@production to "+c[2][:12]+": the deploy run concluded failure") {
						t.Errorf("rollback Deployment %s %q, want c2 and a description saying why", rb.SHA, rb.Description)
					}
					want := map[string]string{run.RollbackSucceeded: "success", run.RollbackFailed: "failure"}[tt.result]
					if last := rb.Statuses[len(rb.Statuses)-1].State; last != want || n.Rollback.DeploymentID != rb.ID {
						t.Errorf("rollback Deployment #%d ends %s (status names #%d), want %s", rb.ID, last, n.Rollback.DeploymentID, want)
					}
				}
			})
		})
	}
}
