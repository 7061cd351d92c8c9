//go:build unix

package evidence

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// benchRecords is the length of the log BenchmarkVerify checks.
const benchRecords = 100_000

// unsyncedStore is a LocalStore that skips fsync, to build a long log for a
// benchmark in seconds rather than minutes. Verify reads it like any other.
type unsyncedStore struct{ *LocalStore }

func (s unsyncedStore) Create(_ context.Context, key string, data []byte) (string, error) {
	file := filepath.Join(s.Dir(), filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return "", err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if errors.Is(err, fs.ErrExist) {
		return "", ErrExists
	}
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return "", err
}

// BenchmarkVerify verifies a log of 100,000 records signed with Ed25519,
// built once, in full and phase by phase:
//
//	go test -run '^$' -bench Verify -benchtime 3x ./internal/evidence/
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	signer := newFastSigner(b, 1)
	keys := publicKeys(b, signer)
	store := newLocalStore(b)
	start := time.Now()
	const batch = 5000
	for from := 0; from < benchRecords; from += batch {
		if _, err := Append(ctx, unsyncedStore{store}, signer, testRecords(from, batch)); err != nil {
			b.Fatalf("Append() error = %v", err)
		}
	}
	b.Logf("built a log of %d records in %v", benchRecords, time.Since(start).Round(time.Millisecond))

	// Wall time says how long a user waits; CPU time (user and system, of
	// the whole process) says how much work it is, even when other
	// processes share the machine.
	var cpuStart time.Duration
	startCPU := func(b *testing.B) {
		b.Helper()
		runtime.GC()
		cpuStart = cpuTime(b)
		b.ResetTimer()
	}
	perRecord := func(b *testing.B) {
		b.Helper()
		cpu := (cpuTime(b) - cpuStart).Seconds() / float64(b.N)
		b.ReportMetric(float64(benchRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op")
		b.ReportMetric(cpu, "cpu-s/op")
	}

	b.Run("all", func(b *testing.B) {
		startCPU(b)
		for b.Loop() {
			report, err := Verify(ctx, store, keys)
			if err != nil || !report.OK() || report.TreeSize != benchRecords {
				b.Fatalf("Verify() = %v failures, tree size %d, %v; want OK", len(report.Failures), report.TreeSize, err)
			}
		}
		perRecord(b)
	})
	// What a rerun of promote run pays to learn what already succeeded:
	// the same checks, keeping every record's commit, subjects and
	// predicate.
	b.Run("read-entries", func(b *testing.B) {
		startCPU(b)
		for b.Loop() {
			entries, err := (&Verifier{Keys: keys}).Read(ctx, store)
			if err != nil || len(entries) != benchRecords {
				b.Fatalf("Read() = %d entries, %v; want %d", len(entries), err, benchRecords)
			}
		}
		perRecord(b)
	})

	// The phases, each on the output of the one before.
	recordKeys, err := store.List(ctx, RecordsPrefix)
	if err != nil {
		b.Fatal(err)
	}
	workers := runtime.GOMAXPROCS(0)
	data := make([][]byte, len(recordKeys))
	b.Run("read", func(b *testing.B) {
		startCPU(b)
		for b.Loop() {
			keys, err := store.List(ctx, RecordsPrefix)
			if err != nil || len(keys) != benchRecords {
				b.Fatalf("List() = %d keys, %v", len(keys), err)
			}
			err = parallel(ctx, len(keys), workers, func(i int) error {
				var err error
				data[i], err = store.Read(ctx, keys[i])
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		perRecord(b)
	})
	results := make([]recordResult, len(recordKeys))
	envs := make([]*envelope, len(recordKeys))
	b.Run("parse", func(b *testing.B) {
		startCPU(b)
		for b.Loop() {
			_ = parallel(ctx, len(data), workers, func(i int) error {
				seq, _ := parseKey(recordKeys[i], RecordsPrefix, recordSuffix)
				results[i] = recordResult{key: recordKeys[i], seq: seq}
				envs[i] = results[i].parse(data[i])
				return nil
			})
		}
		perRecord(b)
	})
	b.Run("signatures", func(b *testing.B) {
		startCPU(b)
		for b.Loop() {
			chunks := (len(envs) + batchSize - 1) / batchSize
			_ = parallel(ctx, chunks, workers, func(c int) error {
				var batch ed25519Batch
				for i := c * batchSize; i < min((c+1)*batchSize, len(envs)); i++ {
					results[i].checkSignatures(envs[i], keys, &batch)
				}
				batch.verify()
				return nil
			})
		}
		perRecord(b)
	})
	b.Run("chain", func(b *testing.B) {
		startCPU(b)
		for b.Loop() {
			checkChain(results)
		}
		perRecord(b)
	})
	cpKeys, err := store.List(ctx, CheckpointsPrefix)
	if err != nil {
		b.Fatal(err)
	}
	checkpoints := make([]checkpointResult, len(cpKeys))
	verifiers := noteVerifiers(keys)
	b.Run(fmt.Sprintf("checkpoints=%d", len(cpKeys)), func(b *testing.B) {
		startCPU(b)
		for b.Loop() {
			err := parallel(ctx, len(cpKeys), workers, func(i int) error {
				size, _ := parseKey(cpKeys[i], CheckpointsPrefix, checkpointSuffix)
				checkpoints[i] = checkpointResult{key: cpKeys[i], keySize: size, stored: true}
				data, err := store.Read(ctx, cpKeys[i])
				checkpoints[i].data = data
				checkpoints[i].open(verifiers)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		perRecord(b)
	})
	b.Run("merkle", func(b *testing.B) {
		startCPU(b)
		for b.Loop() {
			t := buildTree(results)
			checkCheckpoints(checkpoints, t, benchRecords)
		}
		perRecord(b)
	})
	for _, r := range results {
		if len(r.failures) > 0 {
			b.Fatalf("%s: %q", r.key, r.failures)
		}
	}
}

// cpuTime returns the CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
