package gateserver

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDecisionLatency sends bursts of 200 concurrent signed deliveries
// over loopback to the server and reports the p50 and p99 latency from a
// delivery's sending to its acknowledgement and to its decision:
// signature, parsing, the synced write to the database, the queue and the
// decider (an instant one, to measure the server), the answer to GitHub
// excluded (the answers go out meanwhile, as they would). Every delivery is
// answered before the next burst.
//
// The machine is shared, so each iteration also sends the same burst to a
// floor: a handler that reads the body through the same size limit and
// answers 202, with nothing else. The ratio of the server's p99 to the
// floor's, measured in the same run, moves less with the machine's load
// than either does.
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
	floor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.ReadAll(http.MaxBytesReader(w, req.Body, 1<<20))
		w.WriteHeader(http.StatusAccepted)
	}))
	defer floor.Close()
	for _, s := range []*httptest.Server{front, floor} {
		s.Client().Transport.(*http.Transport).MaxIdleConnsPerHost = burst
	}
	// send posts the deliveries at once and returns when each was sent and
	// acknowledged.
	send := func(s *httptest.Server, bodies [][]byte, hdrs []http.Header) (sent, acked []time.Time) {
		sent, acked = make([]time.Time, len(bodies)), make([]time.Time, len(bodies))
		var wg sync.WaitGroup
		for i := range bodies {
			wg.Go(func() {
				req, _ := http.NewRequest("POST", s.URL+"/webhook", bytes.NewReader(bodies[i]))
				req.Header = hdrs[i]
				sent[i] = time.Now()
				resp, err := s.Client().Do(req)
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
		return sent, acked
	}
	var lat, ack, floorAck []time.Duration
	var cpu time.Duration
	deliveries := 0
	for b.Loop() {
		b.StopTimer()
		ids := make([]int64, burst)
		bodies := make([][]byte, burst)
		hdrs := make([]http.Header, burst)
		for i := range ids {
			ids[i] = r.dispatch("production")
			bodies[i] = withDeployment(b, r.event(ids[i]), r.gh.SHA("main"), "api")
			hdrs[i] = signedRequest(newGUID(), bodies[i]).Header
		}
		fsent, facked := send(floor, bodies, hdrs)
		for i := range fsent {
			floorAck = append(floorAck, facked[i].Sub(fsent[i]))
		}
		pending.Add(burst)
		cpu0 := cpuTime()
		b.StartTimer()
		sent, acked := send(front, bodies, hdrs)
		pending.Wait()
		b.StopTimer()
		cpu += cpuTime() - cpu0
		deliveries += burst
		r.waitAnswered(ids, time.Minute) // outside the measurement: it polls
		mu.Lock()
		for i, id := range ids {
			lat = append(lat, decided[id].Sub(sent[i]))
			ack = append(ack, acked[i].Sub(sent[i]))
		}
		mu.Unlock()
		b.StartTimer()
	}
	for _, d := range [][]time.Duration{lat, ack, floorAck} {
		slices.Sort(d)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	p := func(d []time.Duration, q int) time.Duration { return d[len(d)*q/100] }
	b.ReportMetric(ms(p(lat, 50)), "p50-decision-ms")
	b.ReportMetric(ms(p(lat, 99)), "p99-decision-ms")
	b.ReportMetric(ms(p(ack, 50)), "p50-ack-ms")
	b.ReportMetric(ms(p(ack, 99)), "p99-ack-ms")
	b.ReportMetric(ms(p(floorAck, 99)), "p99-floor-ms")
	b.ReportMetric(float64(p(lat, 99))/float64(p(floorAck, 99)), "p99-decision/floor")
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
