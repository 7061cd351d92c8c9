package manifest

import (
	"fmt"
	"testing"

	"github.com/promote-dev/promote/internal/manifesttest"
)

// BenchmarkParse measures YAML parsing and validation alone, for the same
// generated manifests as the dag package's BenchmarkPlan.
func BenchmarkParse(b *testing.B) {
	for _, services := range []int{1_000, 10_000, 100_000} {
		data := manifesttest.Generate(services, 3, 0)
		b.Run(fmt.Sprintf("services=%d", services), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Parse("gen.yaml", data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*services), "ns/service")
		})
	}
}
