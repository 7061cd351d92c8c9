package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkUpload writes 1,000 records of about 2 KiB, the size of a signed
// in-toto envelope, per iteration, by one writer and by eight.
func BenchmarkUpload(b *testing.B) {
	g := gateway(b)
	const records = 1000
	record := []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"` +
		string(bytes.Repeat([]byte("eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ"), 34)) +
		`","signatures":[{"keyid":"","sig":"MEUCIQDx"}]}`)
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			s := g.newStore(b, nil)
			ctx := context.Background()
			b.SetBytes(int64(records * len(record)))
			run := 0
			for b.Loop() {
				run++
				var (
					next atomic.Int64
					wg   sync.WaitGroup
				)
				for range workers {
					wg.Go(func() {
						for i := next.Add(1) - 1; i < records; i = next.Add(1) - 1 {
							if _, err := s.Create(ctx, fmt.Sprintf("run%d/records/%020d.dsse.json", run, i), record); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(records*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
