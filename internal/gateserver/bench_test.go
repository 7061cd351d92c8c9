package gateserver

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDecisionLatency sends bursts of 200 concurrent signed deliveries
// over loopback and reports the p50 and p99 latency from a delivery's
// sending to its decision: signature, parsing, the synced write to the
// database, the queue and the decider (an instant one, to measure the
// server), the answer to GitHub excluded. Every delivery is answered before
// the next burst.
func BenchmarkDecisionLatency(b *testing.B) {
	const burst = 200
	var mu sync.Mutex
	decided := map[int64]time.Time{}
	var pending sync.WaitGroup // the burst's decisions to come
	r := newRig(b, rigOptions{decider: decideFunc(func(_ context.Context, tg Target) (Decision, error) {
		mu.Lock()
		decided[tg.RunID] = time.Now()
		mu.Unlock()
		pending.Done()
		return Decision{Result: ResultAllow}, nil
	}), config: func(c *Config) { c.Logger = nil }})
	front := httptest.NewServer(r.srv.Handler())
	defer front.Close()
	client := front.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = burst
	var lat, ack []time.Duration
	var cpu time.Duration
	deliveries := 0
	for b.Loop() {
		b.StopTimer()
		ids := make([]int64, burst)
		bodies := make([][]byte, burst)
		for i := range ids {
			ids[i] = r.dispatch("production")
			bodies[i] = withDeployment(b, r.event(ids[i]), r.gh.SHA("main"), "api")
		}
		sent, acked := make([]time.Time, burst), make([]time.Time, burst)
		pending.Add(burst)
		cpu0 := cpuTime()
		b.StartTimer()
		var wg sync.WaitGroup
		for i := range burst {
			wg.Go(func() {
				req, _ := http.NewRequest("POST", front.URL+"/webhook", bytes.NewReader(bodies[i]))
				req.Header = signedRequest(newGUID(), bodies[i]).Header
				sent[i] = time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				resp.Body.Close()
				acked[i] = time.Now()
				if resp.StatusCode != http.StatusAccepted {
					b.Errorf("delivery: %s", resp.Status)
				}
			})
		}
		wg.Wait()
		pending.Wait()
		b.StopTimer()
		cpu += cpuTime() - cpu0
		deliveries += burst
		r.waitAnswered(ids, time.Minute) // outside the measurement: it polls
		b.StartTimer()
		mu.Lock()
		for i, id := range ids {
			lat = append(lat, decided[id].Sub(sent[i]))
			ack = append(ack, acked[i].Sub(sent[i]))
		}
		mu.Unlock()
	}
	slices.Sort(lat)
	slices.Sort(ack)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-decision-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-decision-ms")
	b.ReportMetric(ms(ack[len(ack)/2]), "p50-ack-ms")
	b.ReportMetric(ms(ack[len(ack)*99/100]), "p99-ack-ms")
	// CPU time moves less than wall-clock latency on a busy machine. It
	// includes the in-process GitHub's share of the answers sent during
	// the burst.
	b.ReportMetric(ms(cpu)/float64(deliveries), "cpu-ms/delivery")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
