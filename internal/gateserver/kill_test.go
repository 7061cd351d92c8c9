package gateserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/githubtest"
	bolt "go.etcd.io/bbolt"
)

// TestMain runs the test binary as a gate server child process when
// TestKilledProcess asks it to (GATESERVER_CHILD set).
func TestMain(m *testing.M) {
	if os.Getenv("GATESERVER_CHILD") != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// runChild serves until SIGTERM (or SIGKILL, which it does not survive).
func runChild() int {
	key, err := os.ReadFile(os.Getenv("GATESERVER_KEY"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	srv, err := Open(os.Getenv("GATESERVER_DB"), Config{
		Secret:  []byte(testSecret),
		Decider: allowAll,
		GitHub: github.Config{APIURL: os.Getenv("GATESERVER_API"), AppID: testAppID, AppPrivateKey: key,
			WritesPerMinute: -1, WritesPerHour: -1},
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, nil)),
		ReconcileEvery: -1,
		RetryMin:       50 * time.Millisecond,
		RetryMax:       200 * time.Millisecond,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", os.Getenv("GATESERVER_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	return 0
}

// TestKilledProcess runs the server as a process and kills it (SIGKILL)
// between receiving a delivery and answering it: while its answer is held
// on the way to GitHub, and after GitHub took the answer but before the
// server heard back. After a restart on the same database, each decision
// is delivered, once.
func TestKilledProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Parallel()
	for _, landed := range []bool{false, true} {
		t.Run(fmt.Sprintf("answer reached GitHub %v", landed), func(t *testing.T) {
			t.Parallel()
			killedProcess(t, landed)
		})
	}
}

func killedProcess(t *testing.T, landed bool) {
	opts := githubtest.Options{App: &githubtest.App{ID: testAppID, InstallationID: testInstallation, PublicKey: &appKey().PublicKey},
		WritesPerMinute: -1, WritesPerHour: -1}
	gh := githubtest.New(opts)
	defer gh.Close()
	gh.AddEnvironment("production", githubtest.Protection{CustomRule: true})
	gh.AddWorkflow("deploy.yml", githubtest.Workflow{
		Inputs: []string{"service", "environment"}, Environment: "${{ inputs.environment }}",
		Script: func(map[string]string) githubtest.RunScript { return githubtest.RunScript{Duration: time.Hour} },
	})

	// A proxy in front of GitHub holds the first answer: before passing it
	// on, or after GitHub handled it, until the server is killed.
	target, _ := url.Parse(gh.URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	var once sync.Once
	held := make(chan struct{})
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := false
		if strings.HasSuffix(r.URL.Path, "/deployment_protection_rule") {
			once.Do(func() { first = true })
		}
		if !first {
			rp.ServeHTTP(w, r)
			return
		}
		if landed {
			rp.ServeHTTP(httptest.NewRecorder(), r) // GitHub acts on it
		} else {
			io.Copy(io.Discard, r.Body) // GitHub never sees it
		}
		close(held)
		<-r.Context().Done() // the server dies waiting; nothing reaches it
	}))
	defer proxy.Close()

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "app.pem")
	os.WriteFile(keyFile, appKeyPEM(), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		cmd.Env = append(os.Environ(), "GATESERVER_CHILD=1", "GATESERVER_KEY="+keyFile, "GATESERVER_DB="+filepath.Join(dir, "gate.db"),
			"GATESERVER_API="+proxy.URL+"/", "GATESERVER_ADDR="+addr)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return cmd, &logs
				}
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("the server never became ready")
			}
		}
	}

	child, logs := start()
	req, _ := http.NewRequest("POST", gh.URL()+"repos/acme/app/actions/workflows/deploy.yml/dispatches",
		strings.NewReader(`{"ref":"main","inputs":{"service":"api","environment":"production"},"return_run_details":true}`))
	req.Header.Set("Authorization", "Bearer ci")
	resp, err := gh.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var run struct {
		ID int64 `json:"workflow_run_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&run)
	resp.Body.Close()
	if err != nil || run.ID == 0 {
		t.Fatalf("dispatch: %v", err)
	}
	body, err := gh.ProtectionRuleEvent(run.ID)
	if err != nil {
		t.Fatal(err)
	}
	// GitHub, as the server sees it, is the proxy.
	body = bytes.ReplaceAll(body, []byte(gh.URL()), []byte(proxy.URL+"/"))
	hook, _ := http.NewRequest("POST", "http://"+addr+"/webhook", bytes.NewReader(body))
	hook.Header = signedRequest(newGUID(), body).Header
	resp, err = http.DefaultClient.Do(hook)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delivery: %s\n%s", resp.Status, logs)
	}
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		child.Process.Kill()
		t.Fatalf("the answer never left the server\n%s", logs)
	}
	child.Process.Kill() // SIGKILL: no shutdown, no last write
	child.Wait()

	answers := func() (n int) {
		for _, r := range gh.Runs() {
			for _, rv := range r.ProtectionRuleReviews {
				if r.ID == run.ID && rv.State != "" {
					n++
				}
			}
		}
		return n
	}
	want := 0
	if landed {
		want = 1
	}
	if n := answers(); n != want {
		t.Fatalf("before the restart GitHub has %d answers, want %d", n, want)
	}

	child, logs = start()
	// The restarted server answers, or finds the answer given, and has
	// nothing left to do; then it is stopped gracefully.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if pendingOf(t, addr) == "0" {
			break
		}
		if time.Now().After(deadline) {
			child.Process.Kill()
			t.Fatalf("the restarted server still has pending decisions\n%s", logs)
		}
	}
	child.Process.Signal(syscall.SIGTERM)
	if err := child.Wait(); err != nil {
		t.Errorf("the restarted server did not shut down cleanly: %v\n%s", err, logs)
	}
	if n := answers(); n != 1 {
		t.Errorf("GitHub got %d answers, want exactly 1\n%s", n, logs)
	}
	// Not even tried twice: the restarted server looks before it answers.
	const callback = "POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule"
	if n := gh.Calls()[callback].Total; n != 1 {
		t.Errorf("GitHub was sent %d answers, want 1\n%s", n, logs)
	}
	db, err := openStore(filepath.Join(dir, "gate.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			var j job
			json.Unmarshal(v, &j)
			wantOutcome := outcomeAnswered
			if landed {
				wantOutcome = outcomeConfirmed // found answered, not answered again
			}
			if j.Outcome != wantOutcome {
				t.Errorf("job %s: outcome %q, want %q", k, j.Outcome, wantOutcome)
			}
			return nil
		})
	})
}

// pendingOf reads promote_gate_pending_decisions from a server's /metrics.
func pendingOf(t *testing.T, addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	for l := range strings.Lines(b.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "promote_gate_pending_decisions "); ok {
			return v
		}
	}
	return ""
}
