package github

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoffNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what    string
		b       Backoff
		changed []bool
		want    []time.Duration
	}{
		{
			what:    "grows to Max while nothing changes, back to Min on a change",
			b:       Backoff{Min: 2 * time.Second, Max: 30 * time.Second, Factor: 2},
			changed: []bool{false, false, false, false, false, false, true, false},
			want:    []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second, 2 * time.Second, 4 * time.Second},
		},
		{
			what:    "a fractional factor",
			b:       Backoff{Min: 4 * time.Second, Max: time.Minute, Factor: 1.5},
			changed: []bool{false, false, false},
			want:    []time.Duration{4 * time.Second, 6 * time.Second, 9 * time.Second},
		},
		{
			what:    "the zero value polls every second",
			changed: []bool{false, false},
			want:    []time.Duration{time.Second, time.Second},
		},
		{
			what:    "Max below Min and Factor below 1",
			b:       Backoff{Min: 5 * time.Second, Max: time.Second, Factor: 0.5},
			changed: []bool{false, false},
			want:    []time.Duration{5 * time.Second, 5 * time.Second},
		},
		{
			what:    "huge Max does not overflow",
			b:       Backoff{Min: time.Hour, Max: 1<<63 - 1, Factor: 1e9},
			changed: []bool{false, false, false},
			want:    []time.Duration{time.Hour, 1<<63 - 1, 1<<63 - 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			b := tt.b
			var got []time.Duration
			for _, c := range tt.changed {
				got = append(got, b.Next(c))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Next (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPoll(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c, clock := newTestClient(t, srv, nil)
	states := []string{"queued", "queued", "in_progress", "in_progress", "in_progress", "completed"}
	i, last := 0, ""
	check := func(context.Context) (done, changed bool, err error) {
		s := states[i]
		i++
		changed, last = s != last, s
		return s == "completed", changed, nil
	}

	err := c.Poll(context.Background(), &Backoff{Min: time.Second, Max: 8 * time.Second, Factor: 2}, check)

	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{time.Second, 2 * time.Second, time.Second, 2 * time.Second, 4 * time.Second}
	if diff := cmp.Diff(want, clock.Sleeps()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}

	boom := errors.New("boom")
	err = c.Poll(context.Background(), &Backoff{}, func(context.Context) (bool, bool, error) { return false, false, boom })
	if !errors.Is(err, boom) {
		t.Errorf("Poll() = %v, want check's error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = c.Poll(ctx, &Backoff{}, func(context.Context) (bool, bool, error) { return false, false, nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Poll() = %v, want context.Canceled", err)
	}
}

func ExampleBackoff_Next() {
	b := Backoff{Min: time.Second, Max: 10 * time.Second, Factor: 2}
	for _, changed := range []bool{false, false, false, false, false, true} {
		fmt.Print(b.Next(changed), " ")
	}
	fmt.Println()
	// Output: 1s 2s 4s 8s 10s 1s
}
