package gate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/githubtest"
	"github.com/promote-dev/promote/internal/sign"
)

// bubbleManifest freezes production on Saturdays from midnight to 02:00 in
// Berlin: a synctest bubble starts on Saturday 1 January 2000 at midnight
// UTC, 01:00 in Berlin, so the window closes an hour in.
const bubbleManifest = `version: 1
environments:
  - name: staging
  - name: production
    protected: true
    gate:
      soak: 30m
      freeze:
        - {name: saturday-night, days: [sat], from: "00:00", to: "02:00", timezone: Europe/Berlin}
services:
  api:
    paths: ["api/**"]
    mesh: api/mesh
    deploy: {command: ./deploy.sh}
`

// results maps each policy to the result of its reason.
func results(d Decision) map[string]string {
	m := map[string]string{}
	for _, r := range d.Reasons {
		if m[r.Policy] == "" || rank(r.Result) > rank(m[r.Policy]) {
			m[r.Policy] = r.Result
		}
	}
	return m
}

// TestSoakAndFreeze promotes api into production as time passes: the soak
// and the freeze window deny, each until its end, which RetryAt names;
// break-glass turns the freeze into a warning; every decision is sealed
// with its input.
func TestSoakAndFreeze(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		w := newWorld(t, githubtest.Options{})
		t0 := time.Now()
		w.deploy("staging", "in_progress", "success")
		w.meshCheck("api", "passed")
		g := w.gate(bubbleManifest)
		target := Target{Service: "api", Environment: "production", Commit: w.commit, Actor: "alice"}
		glass := target
		glass.BreakGlass = "INC-42: roll forward the payment fix"

		steps := []struct {
			at      time.Duration
			target  Target
			want    string
			results map[string]string
			retryAt time.Duration // from t0; -1 for none
		}{
			{0, target, Deny, map[string]string{"soak": Deny, "freeze": Deny}, time.Hour},
			{0, glass, Deny, map[string]string{"soak": Deny, "freeze": Warn}, 30 * time.Minute},
			{30*time.Minute - time.Second, glass, Deny, map[string]string{"soak": Deny, "freeze": Warn}, 30 * time.Minute},
			{30 * time.Minute, glass, Warn, map[string]string{"soak": Allow, "freeze": Warn}, -1},
			{30 * time.Minute, target, Deny, map[string]string{"soak": Allow, "freeze": Deny}, time.Hour},
			{time.Hour, target, Allow, map[string]string{"soak": Allow, "freeze": Allow}, -1},
		}
		var outcomes []string
		for i, s := range steps {
			time.Sleep(time.Until(t0.Add(s.at)))
			d, err := g.Decide(ctx, s.target)
			if err != nil {
				t.Fatal(err)
			}
			checkInput(t, d.Input)
			got := results(d)
			for _, p := range []string{"previous-succeeded", "mesh-check", "chain-verified", "sandbox"} {
				if got[p] != Allow {
					t.Errorf("step %d: %s = %q, want allow; reasons %+v", i, p, got[p], d.Reasons)
				}
			}
			if d.Result != s.want || got["soak"] != s.results["soak"] || got["freeze"] != s.results["freeze"] {
				t.Errorf("step %d at +%v: Decide = %s (soak %s, freeze %s), want %s (soak %s, freeze %s)", i, s.at,
					d.Result, got["soak"], got["freeze"], s.want, s.results["soak"], s.results["freeze"])
			}
			wantRetry := time.Time{}
			if s.retryAt >= 0 {
				wantRetry = t0.Add(s.retryAt)
			}
			if !d.RetryAt.Equal(wantRetry) {
				t.Errorf("step %d: RetryAt = %v, want %v", i, d.RetryAt, wantRetry)
			}
			if d.BreakGlass != s.target.BreakGlass {
				t.Errorf("step %d: BreakGlass = %q, want %q", i, d.BreakGlass, s.target.BreakGlass)
			}
			if d.Sealed == nil {
				t.Fatalf("step %d: the decision was not sealed", i)
			}
			outcomes = append(outcomes, d.Sealed.Outcome)
		}
		if want := []string{"rejected", "rejected", "rejected", "approved", "rejected", "approved"}; !slices.Equal(outcomes, want) {
			t.Errorf("sealed outcomes = %q, want %q", outcomes, want)
		}

		// Each gate record covers its input, which the store holds.
		entries, err := (&evidence.Verifier{Keys: w.keys}).Read(ctx, w.store)
		if err != nil {
			t.Fatal(err)
		}
		gates := 0
		for _, e := range entries {
			if e.Kind != evidence.KindGate {
				continue
			}
			gates++
			digest := e.Subject(evidence.GateInputSubject)
			blob, err := w.store.Read(ctx, evidence.ReportsPrefix+digest+".json")
			if err != nil {
				t.Fatalf("record %d: its input: %v", e.Seq, err)
			}
			if sum := sha256.Sum256(blob); hex.EncodeToString(sum[:]) != digest {
				t.Errorf("record %d: the stored input does not hash to its subject", e.Seq)
			}
		}
		if gates != len(steps) {
			t.Errorf("%d gate records, want %d", gates, len(steps))
		}
	})
}

// TestDenials covers the facts that deny: no success in the previous
// environment, a failed or missing mesh check, a chain that does not
// verify. None is time-bound, so RetryAt stays zero.
func TestDenials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what    string
		setup   func(w *world)
		results map[string]string
	}{
		{
			what:    "staging failed",
			setup:   func(w *world) { w.deploy("staging", "in_progress", "failure"); w.meshCheck("api", "passed") },
			results: map[string]string{"previous-succeeded": Deny, "soak": Allow, "mesh-check": Allow},
		},
		{
			what: "staging succeeded by the evidence alone",
			setup: func(w *world) {
				w.meshCheck("api", "passed")
				now := time.Now().Add(-time.Hour)
				if err := w.seal(context.Background(), []evidence.Record{{
					Kind: evidence.KindPromotion, Commit: w.commit, Service: "api", Environment: "staging", Node: "api@staging",
					Actor: "ci", Approvers: []string{}, StartedAt: now, FinishedAt: now, Outcome: "succeeded", Attempts: 1,
				}}, nil); err != nil {
					t.Fatal(err)
				}
			},
			results: map[string]string{"previous-succeeded": Allow, "soak": Allow, "mesh-check": Allow},
		},
		{
			what:    "mesh check failed",
			setup:   func(w *world) { w.deploy("staging", "success"); w.meshCheck("api", "failed") },
			results: map[string]string{"previous-succeeded": Allow, "mesh-check": Deny, "chain-verified": Allow},
		},
		{
			what:    "no mesh check",
			setup:   func(w *world) { w.deploy("staging", "success") },
			results: map[string]string{"mesh-check": Deny},
		},
		{
			what: "a record signed by a stranger",
			setup: func(w *world) {
				w.deploy("staging", "success")
				w.meshCheck("api", "passed")
				stranger, _, err := sign.LoadOrCreateLocal(filepath.Join(t.TempDir(), "stranger.pem"), sign.AlgorithmEd25519)
				if err != nil {
					t.Fatal(err)
				}
				now := time.Now()
				if _, err := evidence.Append(context.Background(), w.store, stranger, []evidence.Record{{
					Kind: evidence.KindMeshCheck, Commit: w.commit, Service: "api", Environment: "staging", Node: "api@staging",
					Actor: "mallory", Approvers: []string{}, StartedAt: now, FinishedAt: now, Outcome: "passed",
				}}); err != nil {
					t.Fatal(err)
				}
			},
			results: map[string]string{"previous-succeeded": Allow, "chain-verified": Deny, "mesh-check": Allow},
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				w := newWorld(t, githubtest.Options{})
				tt.setup(w)
				// Past the freeze window and any soak.
				time.Sleep(2 * time.Hour)
				d, err := w.gate(bubbleManifest).Decide(context.Background(), Target{Service: "api", Environment: "production", Commit: w.commit})
				if err != nil {
					t.Fatal(err)
				}
				checkInput(t, d.Input)
				got := results(d)
				for p, want := range tt.results {
					if got[p] != want {
						t.Errorf("%s = %q, want %q; reasons %+v", p, got[p], want, d.Reasons)
					}
				}
				want := Allow
				for _, r := range tt.results {
					if r == Deny {
						want = Deny
					}
				}
				if d.Result != want || !d.RetryAt.IsZero() {
					t.Errorf("Decide = %s, RetryAt %v, want %s and no retry", d.Result, d.RetryAt, want)
				}
			})
		})
	}
}

// TestReasonsLink checks that reasons link to what they are about.
func TestReasonsLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, githubtest.Options{})
		w.deploy("staging", "success")
		w.meshCheck("api", "failed")
		d, err := w.gate(bubbleManifest).Decide(context.Background(), Target{Service: "api", Environment: "production", Commit: w.commit})
		if err != nil {
			t.Fatal(err)
		}
		links := map[string]string{}
		for _, r := range d.Reasons {
			if r.Result != Allow {
				links[r.Policy] = r.Link
			}
		}
		want := map[string]string{
			"mesh-check": "file://" + filepath.Join(w.store.Dir(), "records/00000000000000000001.dsse.json"),
			"soak":       "https://github.com/acme/app/deployments/staging",
			"freeze":     "https://github.com/acme/app/commit/" + w.commit,
		}
		if diff := cmp.Diff(want, links); diff != "" {
			t.Errorf("links of the findings (-want +got):\n%s", diff)
		}
	})
}

// TestReplay replays sealed decisions: the same policies give the same
// decisions; a policy added since gives another, which Replay reports; an
// input changed in the store is refused.
func TestReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		w := newWorld(t, githubtest.Options{})
		w.deploy("staging", "success")
		w.meshCheck("api", "passed")
		g := w.gate(bubbleManifest)
		target := Target{Service: "api", Environment: "production", Commit: w.commit}
		var decided []Decision
		for _, at := range []time.Duration{0, time.Hour} {
			time.Sleep(at)
			d, err := g.Decide(ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			decided = append(decided, d)
		}
		// Later, on another clock: the replay judges the sealed input.
		time.Sleep(72 * time.Hour)

		replayed, err := Replay(ctx, g.engine, w.store, w.keys, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(replayed) != 2 {
			t.Fatalf("Replay replayed %d decisions, want 2", len(replayed))
		}
		for i, r := range replayed {
			if !r.Same || r.Replayed.Result != decided[i].Result || !slices.EqualFunc(r.Replayed.Reasons, decided[i].Reasons, func(a, b Reason) bool { return a == b }) {
				t.Errorf("replay of record %d = %s %+v, want the sealed %s %+v", r.Seq, r.Replayed.Result, r.Replayed.Reasons, decided[i].Result, decided[i].Reasons)
			}
		}
		one, err := Replay(ctx, g.engine, w.store, w.keys, replayed[1].Seq)
		if err != nil || len(one) != 1 || one[0].Seq != replayed[1].Seq || !one[0].Same {
			t.Errorf("Replay(seq %d) = %+v, %v; want that record, the same", replayed[1].Seq, one, err)
		}
		if _, err := Replay(ctx, g.engine, w.store, w.keys, 1); err == nil || !strings.Contains(err.Error(), "without a gate decision") {
			t.Errorf("Replay(the mesh-check record) error = %v, want one saying it holds no decision", err)
		}

		// A stricter policy decides otherwise.
		strict := t.TempDir()
		if err := os.WriteFile(filepath.Join(strict, "weekend.rego"), []byte(`package promote.gates.weekend

findings contains {"rule": "no-friday", "severity": "error", "resource": "target", "message": "never"}
`), 0o644); err != nil {
			t.Fatal(err)
		}
		engine, err := LoadPolicies(ctx, []string{strict})
		if err != nil {
			t.Fatal(err)
		}
		replayed, err = Replay(ctx, engine, w.store, w.keys, 0)
		if err != nil {
			t.Fatal(err)
		}
		if replayed[1].Same || replayed[1].Replayed.Result != Deny {
			t.Errorf("replay under a stricter policy = %s, same %v; want deny, differing", replayed[1].Replayed.Result, replayed[1].Same)
		}

		// The store's copy of an input is changed.
		key := filepath.Join(w.store.Dir(), evidence.ReportsPrefix+replayed[0].Sealed.InputSHA256+".json")
		if err := os.Chmod(key, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(key, []byte(`{"version": 1}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Replay(ctx, g.engine, w.store, w.keys, 0); err == nil || !errors.Is(err, ErrInputMismatch) {
			t.Errorf("Replay() of a changed input error = %v, want one saying it does not hash", err)
		}
	})
}

// TestPreviousFailedSince checks that a commit that failed in the previous
// environment after it succeeded there is not healthy until it succeeds
// again, and that its soak starts over then.
func TestPreviousFailedSince(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		w := newWorld(t, githubtest.Options{})
		w.meshCheck("api", "passed")
		g := w.gate(bubbleManifest)
		target := Target{Service: "api", Environment: "production", Commit: w.commit}
		decide := func() (Decision, Input) {
			t.Helper()
			d, err := g.Decide(ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			checkInput(t, d.Input)
			var in Input
			if err := json.Unmarshal(d.Input, &in); err != nil {
				t.Fatal(err)
			}
			return d, in
		}
		t0 := time.Now()
		w.deploy("staging", "success")
		time.Sleep(2 * time.Hour)
		w.deploy("staging", "in_progress", "failure")
		d, in := decide()
		if got := results(d); got["previous-succeeded"] != Deny || in.Previous.Succeeded {
			t.Errorf("after a failed redeploy: previous-succeeded %s, succeeded %v; want deny", got["previous-succeeded"], in.Previous.Succeeded)
		}

		time.Sleep(time.Hour)
		redeployed := time.Now()
		w.deploy("staging", "success")
		time.Sleep(10 * time.Minute)
		d, in = decide()
		if got := results(d); got["previous-succeeded"] != Allow || got["soak"] != Deny || in.Previous.SucceededAt != stamp(redeployed) ||
			!d.RetryAt.Equal(redeployed.Add(30*time.Minute)) {
			t.Errorf("10 minutes after it succeeded again: %v, succeeded at %s, retry at %v; want the soak counted from %s (t0 %s)",
				got, in.Previous.SucceededAt, d.RetryAt, stamp(redeployed), stamp(t0))
		}

		// The evidence alone tells the same: a failed promotion after the
		// success.
		now := time.Now()
		if err := w.seal(ctx, []evidence.Record{{
			Kind: evidence.KindPromotion, Commit: w.commit, Service: "api", Environment: "staging", Node: "api@staging",
			Actor: "ci", Approvers: []string{}, StartedAt: now, FinishedAt: now, Outcome: "failed", Attempts: 1,
		}}, nil); err != nil {
			t.Fatal(err)
		}
		d, in = decide()
		if got := results(d); got["previous-succeeded"] != Deny || len(in.Previous.Promotions) != 1 {
			t.Errorf("after a failed promotion record: %v, promotions %+v; want deny", got, in.Previous.Promotions)
		}
	})
}
