package gateserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/promote-dev/promote/internal/githubtest"
	bolt "go.etcd.io/bbolt"
)

// TestDecisionsAnswered delivers one request per decision and checks the
// answer GitHub gets: approved for allow and warn, rejected for deny, with
// the reasons in the comment, and the run going ahead or failing.
func TestDecisionsAnswered(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		result, wantState, wantStatus string
	}{
		{ResultAllow, "approved", "in_progress"},
		{ResultWarn, "approved", "in_progress"},
		{ResultDeny, "rejected", "completed"},
		{"maybe", "rejected", "completed"}, // a decider's nonsense is a deny
	} {
		t.Run(tc.result, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var got []Target
				var mu sync.Mutex
				r := newRig(t, rigOptions{github: githubtest.Options{InMemory: true}, decider: decideFunc(func(_ context.Context, tg Target) (Decision, error) {
					mu.Lock()
					got = append(got, tg)
					mu.Unlock()
					return Decision{Result: tc.result, Reasons: []Reason{{Policy: "soak", Result: tc.result, Message: "soaked 2h in staging", Link: "https://evidence.example/1"}}}, nil
				})})
				id := r.dispatch("production")
				if code, body := r.deliver(newGUID(), r.event(id)); code != http.StatusAccepted {
					t.Fatalf("deliver: %d %s, want 202", code, body)
				}
				synctest.Wait()
				time.Sleep(time.Second) // nothing is due: the answer went at once
				synctest.Wait()
				rv := r.reviews()[id]
				if len(rv) != 1 {
					t.Fatalf("run %d got %d answers, want 1: %+v", id, len(rv), rv)
				}
				if rv[0].State != tc.wantState || rv[0].Environment != "production" || rv[0].User != "promote-gate[bot]" {
					t.Errorf("answer = %+v, want state %s for production by promote-gate[bot]", rv[0], tc.wantState)
				}
				if !strings.Contains(rv[0].Comment, "[soak]: soaked 2h in staging (https://evidence.example/1)") {
					t.Errorf("comment %q lacks the reason", rv[0].Comment)
				}
				sha := r.gh.SHA("main")
				want := Target{Repository: "acme/app", Environment: "production", Commit: sha, RunID: id, Actor: "promote-bot"}
				if len(got) != 1 || got[0] != want {
					t.Errorf("Decide got %+v, want one call with %+v", got, want)
				}
				for _, run := range r.gh.Runs() {
					if run.ID == id && run.Status != tc.wantStatus {
						t.Errorf("run status = %s, want %s", run.Status, tc.wantStatus)
					}
				}
				result := tc.result
				if result == "maybe" {
					result = ResultDeny
				}
				if v := r.metric(fmt.Sprintf(`promote_gate_decisions_total{environment="production",result=%q}`, result)); v != "1" {
					t.Errorf("promote_gate_decisions_total = %q, want 1", v)
				}
				if v := r.metric("promote_gate_pending_decisions"); v != "0" {
					t.Errorf("promote_gate_pending_decisions = %q, want 0", v)
				}
			})
		})
	}
}

// TestSoakDecidedLater: while the decider says a soak still runs, the
// request is acknowledged at once and decided again when the soak ends,
// not before.
func TestSoakDecidedLater(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		soakEnds := start.Add(90 * time.Minute)
		var calls atomic.Int32
		r := newRig(t, rigOptions{github: githubtest.Options{InMemory: true}, decider: decideFunc(func(context.Context, Target) (Decision, error) {
			calls.Add(1)
			if time.Now().Before(soakEnds) {
				return Decision{RetryAt: soakEnds, Reasons: []Reason{{Policy: "soak", Result: ResultDeny, Message: "soaking until " + soakEnds.Format(time.Kitchen)}}}, nil
			}
			return Decision{Result: ResultAllow}, nil
		})})
		id := r.dispatch("production")
		if code, body := r.deliver(newGUID(), r.event(id)); code != http.StatusAccepted {
			t.Fatalf("deliver: %d %s", code, body)
		}
		synctest.Wait()
		if v := r.metric("promote_gate_pending_decisions"); v != "1" {
			t.Errorf("pending while soaking = %q, want 1", v)
		}
		time.Sleep(89 * time.Minute)
		synctest.Wait()
		if n := len(r.reviews()[id]); n != 0 {
			t.Fatalf("answered %d times before the soak ended", n)
		}
		// The run's page says why it waits, once.
		var reports []string
		for _, run := range r.gh.Runs() {
			for _, rv := range run.ProtectionRuleReviews {
				if run.ID == id && rv.State == "" {
					reports = append(reports, rv.Comment)
				}
			}
		}
		if want := "promote gate: not yet, deciding again at " + soakEnds.UTC().Format(time.RFC3339) + "\n- deny [soak]: soaking until"; len(reports) != 1 || !strings.HasPrefix(reports[0], want) {
			t.Errorf("status reports = %q, want one starting %q", reports, want)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		rv := r.reviews()[id]
		if len(rv) != 1 || rv[0].State != "approved" {
			t.Fatalf("answers after the soak = %+v, want one approval", rv)
		}
		// The decision's commit waits for company up to the batch delay.
		if late := rv[0].At.Sub(soakEnds); late < 0 || late > 2*batchDelay {
			t.Errorf("answered at %v, want the soak's end %v (+ at most two batch delays)", rv[0].At.Sub(start), soakEnds.Sub(start))
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("Decide called %d times, want 2 (at delivery, at the soak's end)", n)
		}
	})
}

// TestConcurrentDeliveries sends 200 signed deliveries at once over
// loopback: every one is acknowledged and answered exactly once. It is the
// bounded version of BenchmarkDecisionLatency that `make test` runs; the
// percentiles it logs are for information, never asserted.
func TestConcurrentDeliveries(t *testing.T) {
	t.Parallel()
	const n = 200
	var decided sync.Map // run id → time the decision was made
	r := newRig(t, rigOptions{decider: decideFunc(func(_ context.Context, tg Target) (Decision, error) {
		if tg.Service != "api" || tg.Commit == "" {
			t.Errorf("Decide(%+v): want service api and the deployment's commit", tg)
		}
		decided.Store(tg.RunID, time.Now())
		return Decision{Result: ResultAllow}, nil
	})})
	front := httptest.NewServer(r.srv.Handler())
	defer front.Close()
	ids := make([]int64, n)
	bodies := make([][]byte, n)
	for i := range ids {
		ids[i] = r.dispatch("production")
		bodies[i] = withDeployment(t, r.event(ids[i]), r.gh.SHA("main"), "api")
	}
	sent, acked := make([]time.Time, n), make([]time.Time, n)
	var wg sync.WaitGroup
	var failures atomic.Int32
	for i := range n {
		wg.Go(func() {
			req := signedRequest(newGUID(), bodies[i])
			out, _ := http.NewRequest("POST", front.URL+"/webhook", req.Body)
			out.Header = req.Header
			sent[i] = time.Now()
			resp, err := front.Client().Do(out)
			if err != nil {
				t.Errorf("delivery %d: %v", i, err)
				failures.Add(1)
				return
			}
			resp.Body.Close()
			acked[i] = time.Now()
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("delivery %d: %s, want 202", i, resp.Status)
				failures.Add(1)
			}
		})
	}
	wg.Wait()
	if failures.Load() > 0 {
		t.FailNow()
	}
	r.waitAnswered(ids, time.Minute)
	var lat, ack []time.Duration
	for i, id := range ids {
		ack = append(ack, acked[i].Sub(sent[i]))
		if v, ok := decided.Load(id); ok {
			lat = append(lat, v.(time.Time).Sub(sent[i]))
		}
		if got := len(r.reviews()[id]); got != 1 {
			t.Errorf("run %d answered %d times, want 1", id, got)
		}
	}
	slices.Sort(lat)
	slices.Sort(ack)
	t.Logf("acknowledgement p50 %v, p99 %v", ack[len(ack)/2], ack[len(ack)*99/100])
	t.Logf("%d deliveries: decision latency p50 %v, p99 %v (loopback, the callback excluded)", len(lat), lat[len(lat)/2], lat[len(lat)*99/100])
}

// TestCallbackFailing: with GitHub failing 30 % of the answers (errors,
// rate limits, connections dropped before and after GitHub acted), every
// decision is still delivered, and none twice.
func TestCallbackFailing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const callback = "POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule"
		opts := githubtest.Options{InMemory: true, Seed: 7, Faults: githubtest.Faults{
			Rate: 0.3,
			Kinds: []githubtest.FaultKind{githubtest.FaultInternalServerError, githubtest.FaultBadGateway,
				githubtest.FaultServiceUnavailable, githubtest.FaultTooManyRequests,
				githubtest.FaultDropBeforeHandling, githubtest.FaultDropAfterHandling},
		}}
		gh := githubtest.New(opts) // only for its routes
		for _, route := range gh.Routes() {
			if route != callback {
				opts.Faults.SkipRoutes = append(opts.Faults.SkipRoutes, route)
			}
		}
		gh.Close()
		r := newRig(t, rigOptions{github: opts})
		var ids []int64
		for range 40 {
			id := r.dispatch("production")
			ids = append(ids, id)
			if code, body := r.deliver(newGUID(), r.event(id)); code != http.StatusAccepted {
				t.Fatalf("deliver: %d %s", code, body)
			}
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		got := r.reviews()
		for _, id := range ids {
			if len(got[id]) != 1 {
				t.Errorf("run %d answered %d times, want exactly 1", id, len(got[id]))
			}
		}
		faults := 0
		for _, f := range r.gh.FaultLog() {
			if f.Route == callback {
				faults++
			}
		}
		calls := r.gh.Calls()[callback].Total
		if faults == 0 || faults*100/calls < 15 {
			t.Errorf("%d of %d answers faulted: the test did not exercise failures", faults, calls)
		}
		if v := r.metric("promote_gate_callback_failures_total"); v == "0" || v == "" {
			t.Errorf("promote_gate_callback_failures_total = %q, want the failures counted", v)
		}
		t.Logf("%d runs answered once each through %d callbacks, %d faulted", len(ids), calls, faults)
	})
}

// TestRestart kills the server between a delivery and its answer: after a
// restart on the same database the decision is delivered, once.
func TestRestart(t *testing.T) {
	t.Parallel()
	t.Run("before deciding", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			block := make(chan struct{})
			var decisions atomic.Int32
			r := newRig(t, rigOptions{github: githubtest.Options{InMemory: true}, decider: decideFunc(func(ctx context.Context, tg Target) (Decision, error) {
				select {
				case <-block:
				case <-ctx.Done():
					return Decision{}, ctx.Err()
				}
				decisions.Add(1)
				return Decision{Result: ResultAllow}, nil
			})})
			id := r.dispatch("production")
			guid := newGUID()
			body := r.event(id)
			if code, _ := r.deliver(guid, body); code != http.StatusAccepted {
				t.Fatalf("deliver: %d", code)
			}
			synctest.Wait() // the worker is deciding
			r.kill()
			close(block)
			r.open()
			// GitHub's manual redelivery of the same GUID is not a second request.
			if code, _ := r.deliver(guid, body); code != http.StatusConflict {
				t.Errorf("redelivery after restart: %d, want 409", code)
			}
			time.Sleep(time.Second)
			synctest.Wait()
			if rv := r.reviews()[id]; len(rv) != 1 || rv[0].State != "approved" {
				t.Errorf("answers = %+v, want one approval", rv)
			}
			if n := decisions.Load(); n != 1 {
				t.Errorf("decided %d times, want 1", n)
			}
		})
	})
	t.Run("answer landed, acknowledgement lost", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			const callback = "POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule"
			r := newRig(t, rigOptions{github: githubtest.Options{InMemory: true, Faults: githubtest.Faults{
				First: map[string][]githubtest.FaultKind{callback: {githubtest.FaultDropAfterHandling}},
			}}, config: func(c *Config) { c.RetryMin, c.RetryMax = time.Hour, time.Hour }})
			id := r.dispatch("production")
			if code, _ := r.deliver(newGUID(), r.event(id)); code != http.StatusAccepted {
				t.Fatalf("deliver: %d", code)
			}
			synctest.Wait() // GitHub took the answer; the server waits an hour to retry
			r.kill()
			r.open()
			synctest.Wait()
			time.Sleep(2 * time.Hour)
			synctest.Wait()
			if rv := r.reviews()[id]; len(rv) != 1 {
				t.Errorf("answers = %+v, want exactly one", rv)
			}
			if n := r.gh.Calls()[callback].Total; n != 1 {
				t.Errorf("%d answers sent, want 1: the restarted server must look before answering again", n)
			}
		})
	})
}

// TestReconcile: a run waiting on the App's rule whose delivery never came
// is found and answered; waits on other environments, and waits the server
// has a record of, are left alone.
func TestReconcile(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOptions{github: githubtest.Options{InMemory: true}, config: func(c *Config) {
			c.ReconcileGrace = time.Minute
		}})
		r.gh.AddEnvironment("qa", githubtest.Protection{Reviewers: []string{"alice"}})
		lost := r.dispatch("production")
		delivered := r.dispatch("production")
		other := r.dispatch("qa")
		if code, _ := r.deliver(newGUID(), r.event(delivered)); code != http.StatusAccepted {
			t.Fatalf("deliver: %d", code)
		}
		synctest.Wait()
		ctx := context.Background()
		if n, err := r.srv.Reconcile(ctx); err != nil || n != 0 {
			t.Fatalf("Reconcile within the grace period = %d, %v; want 0, nil", n, err)
		}
		time.Sleep(2 * time.Minute)
		n, err := r.srv.Reconcile(ctx)
		if err != nil || n != 1 {
			t.Fatalf("Reconcile = %d, %v; want 1 (the lost delivery), nil", n, err)
		}
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		got := r.reviews()
		if len(got[lost]) != 1 || len(got[delivered]) != 1 || len(got[other]) != 0 {
			t.Errorf("answers: lost %d, delivered %d, other %d; want 1, 1, 0", len(got[lost]), len(got[delivered]), len(got[other]))
		}
		// A late delivery of the reconciled wait is the same wait.
		if code, body := r.deliver(newGUID(), r.event(lost)); code != http.StatusAccepted || !strings.Contains(body, "already handled") {
			t.Errorf("late delivery: %d %s, want 202 already handled", code, body)
		}
		if n, err := r.srv.Reconcile(ctx); err != nil || n != 0 {
			t.Errorf("second Reconcile = %d, %v; want 0, nil", n, err)
		}
		synctest.Wait()
		if got := r.reviews(); len(got[lost]) != 1 {
			t.Errorf("lost run answered %d times, want 1", len(got[lost]))
		}
	})
}

// TestHealth checks /healthz, /readyz around Run, and the metric names.
func TestHealth(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOptions{github: githubtest.Options{InMemory: true}})
		get := func(path string) (int, string) {
			w := httptest.NewRecorder()
			r.srv.Handler().ServeHTTP(w, httptest.NewRequest("GET", path, nil))
			return w.Code, w.Body.String()
		}
		synctest.Wait()
		if code, _ := get("/healthz"); code != 200 {
			t.Errorf("/healthz = %d", code)
		}
		if code, _ := get("/readyz"); code != 200 {
			t.Errorf("/readyz while running = %d", code)
		}
		_, metrics := get("/metrics")
		for _, name := range []string{"promote_gate_decision_duration_seconds_bucket", "promote_gate_callback_failures_total", "promote_gate_pending_decisions"} {
			if !strings.Contains(metrics, name) {
				t.Errorf("/metrics lacks %s", name)
			}
		}
		h := r.srv.Handler()
		r.stop()
		<-r.done
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		if w.Code != http.StatusServiceUnavailable {
			t.Errorf("/readyz after Run returned = %d, want 503", w.Code)
		}
	})
}

// TestOpenErrors: missing configuration and a locked database are clear
// errors.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		what string
		cfg  Config
		want string
	}{
		{"no secret", Config{Decider: allowAll}, "no webhook secret"},
		{"no decider", Config{Secret: []byte("s")}, "no Decider"},
		{"no app", Config{Secret: []byte("s"), Decider: allowAll}, "no GitHub App"},
	} {
		_, err := Open(dir+"/x.db", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Open = %v, want an error containing %q", tc.what, err, tc.want)
		}
	}
	cfg := Config{Secret: []byte("s"), Decider: allowAll}
	cfg.GitHub.Token = "t"
	s, err := Open(dir+"/gate.db", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = openStore(dir+"/gate.db", 10*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "another process holds it") {
		t.Errorf("second open = %v, want a lock error", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Error("unexpected")
	}
}

// TestServe runs the whole server on a loopback port and shuts it down
// gracefully, leaving a job it could not answer in the database.
func TestServe(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.kill() // Serve runs the workers itself
	srv, err := Open(r.dbPath, r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	id := r.dispatch("production")
	body := withDeployment(t, r.event(id), r.gh.SHA("main"), "api")
	req := signedRequest(newGUID(), body)
	out, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/webhook", bytes.NewReader(body))
	out.Header = req.Header
	resp, err := http.DefaultClient.Do(out)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delivery: %s", resp.Status)
	}
	r.waitAnswered([]int64{id}, 30*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil after a graceful shutdown", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Error("the server still answers after shutdown")
	}
}

// TestPrune: answered jobs older than the retention go, with their GUIDs;
// pending ones stay, however old.
func TestPrune(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOptions{github: githubtest.Options{InMemory: true}, decider: decideFunc(func(_ context.Context, tg Target) (Decision, error) {
			if tg.Environment == "staging" {
				return Decision{RetryAt: time.Now().Add(365 * 24 * time.Hour)}, nil // pending for good
			}
			return Decision{Result: ResultAllow}, nil
		})})
		r.gh.AddEnvironment("staging", githubtest.Protection{CustomRule: true})
		answered, pending := r.dispatch("production"), r.dispatch("staging")
		oldGUID := newGUID()
		for guid, id := range map[string]int64{oldGUID: answered, newGUID(): pending} {
			if code, _ := r.deliver(guid, r.event(id)); code != http.StatusAccepted {
				t.Fatalf("deliver: %d", code)
			}
		}
		synctest.Wait()
		time.Sleep(31 * 24 * time.Hour)
		var n int
		if err := r.srv.db.Update(func(tx *bolt.Tx) error {
			var err error
			n, err = prune(tx, time.Now().Add(-30*24*time.Hour))
			return err
		}); err != nil || n != 1 {
			t.Fatalf("prune = %d, %v; want 1 (the answered job), nil", n, err)
		}
		if v := r.metric("promote_gate_pending_decisions"); v != "1" {
			t.Errorf("pending = %q, want 1", v)
		}
		var jobs int
		r.srv.db.View(func(tx *bolt.Tx) error { jobs = tx.Bucket(bucketJobs).Stats().KeyN; return nil })
		if jobs != 1 {
			t.Errorf("%d jobs left, want 1", jobs)
		}
		// The pruned delivery is forgotten: the same GUID and body are a new
		// request now (within the retention they were refused with 409).
		if code, body := r.deliver(oldGUID, r.event(answered)); code != http.StatusAccepted {
			t.Errorf("redelivery after pruning: %d %s, want 202", code, body)
		}
	})
}

// TestSecondRequestForAWait: a second request for a wait still being
// decided (another GUID, another body) is acknowledged, not decided again.
func TestSecondRequestForAWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var decisions atomic.Int32
		r := newRig(t, rigOptions{github: githubtest.Options{InMemory: true}, decider: decideFunc(func(context.Context, Target) (Decision, error) {
			decisions.Add(1)
			time.Sleep(time.Second) // still deciding when the second request comes
			return Decision{Result: ResultAllow}, nil
		})})
		id := r.dispatch("production")
		body := r.event(id)
		if code, _ := r.deliver(newGUID(), body); code != http.StatusAccepted {
			t.Fatalf("first: %d", code)
		}
		time.Sleep(100 * time.Millisecond)
		again := append(bytes.Clone(body), '\n')
		if code, resp := r.deliver(newGUID(), again); code != http.StatusAccepted || !strings.Contains(resp, "already handled") {
			t.Errorf("second request: %d %s, want 202 already handled", code, resp)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := decisions.Load(); n != 1 {
			t.Errorf("decided %d times, want 1", n)
		}
		if rv := r.reviews()[id]; len(rv) != 1 {
			t.Errorf("%d answers, want 1", len(rv))
		}
	})
}
