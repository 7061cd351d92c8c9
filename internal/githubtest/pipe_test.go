package githubtest

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestInMemoryInBubble runs an in-memory server on the default real clock
// inside a synctest bubble: a run's states change at exactly the simulated
// instants its script says, a latency fault sleeps exactly its latency, and a
// dropped connection reaches the client as an error. When the bubble ends,
// synctest fails the test if Close left a goroutine of the server or of the
// client's transport blocked.
func TestInMemoryInBubble(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newServer(t, Options{InMemory: true})
		if s.URL() != "http://api.github.test/" {
			t.Errorf("URL() = %q, want http://api.github.test/", s.URL())
		}
		s.AddEnvironment("production", Protection{Reviewers: []string{"promote-bot"}})
		s.AddWorkflow("deploy.yml", deployWorkflow(RunScript{QueueDelay: 10 * time.Second, Duration: 2 * time.Minute, Conclusion: "success"}))
		s.SetApprover(func(int64, string) (time.Duration, bool) { return 5 * time.Minute, true })
		a := newAPI(t, s)
		id := a.dispatch("api", "production")
		for _, step := range []struct {
			sleep time.Duration
			want  string
		}{
			{0, "queued"},
			{10*time.Second - time.Nanosecond, "queued"},
			{time.Nanosecond, "waiting"},
			{5*time.Minute - time.Nanosecond, "waiting"},
			{time.Nanosecond, "in_progress"},
			{2*time.Minute - time.Nanosecond, "in_progress"},
			{time.Nanosecond, "completed/success"},
		} {
			time.Sleep(step.sleep)
			if got := a.runState(id); got != step.want {
				t.Fatalf("after %v: run %s, want %s", s.Clock().Now().Sub(s.Runs()[0].CreatedAt), got, step.want)
			}
		}
	})
}

func TestInMemoryFaults(t *testing.T) {
	t.Parallel()
	for _, kind := range []FaultKind{FaultLatency, FaultDropBeforeHandling, FaultDropAfterHandling} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				s := newServer(t, Options{InMemory: true, Faults: Faults{Rate: 1, Kinds: []FaultKind{kind}}})
				a := newAPI(t, s)
				start := time.Now()
				r, err := a.try("POST", "repos/acme/app/deployments", map[string]any{"ref": "main", "auto_merge": false})
				elapsed := time.Since(start)
				log := s.FaultLog()
				if len(log) != 1 || log[0].Kind != kind {
					t.Fatalf("FaultLog() = %+v, want one %v", log, kind)
				}
				switch kind {
				case FaultLatency:
					if err != nil || r.status != 201 || elapsed != log[0].Latency {
						t.Errorf("answer %d, %v after %v; want 201 after exactly the injected %v", r.status, err, elapsed, log[0].Latency)
					}
				default:
					if err == nil {
						t.Errorf("answer %d, want a dropped connection", r.status)
					}
					want := 0
					if kind == FaultDropAfterHandling {
						want = 1
					}
					if n := len(s.Deployments()); n != want {
						t.Errorf("%d deployments, want %d", n, want)
					}
				}
			})
		})
	}
}
