package evidence

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/sign"
)

func spoolRecords(n int) []Record {
	var rs []Record
	for i := range n {
		rs = append(rs, Record{
			Kind: KindPromotion, Commit: strings.Repeat("a", 40), Service: "api", Environment: "dev",
			Node: "api@dev", Actor: "alice", Approvers: []string{}, Outcome: "succeeded", Attempts: i + 1,
			StartedAt: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), FinishedAt: time.Date(2026, 3, 2, 9, 5, 0, 0, time.UTC),
		})
	}
	return rs
}

// TestSpool spools two runs' records, one with a report they cover, while
// the store is away, then flushes them in order into a chain that verifies,
// the report stored beside it; a spooled batch changed on disk is refused.
func TestSpool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	signer, _, err := sign.LoadOrCreateLocal(filepath.Join(dir, "key.pem"), sign.AlgorithmEd25519)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signer.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spool := Spool{Dir: filepath.Join(dir, "spool")}
	report := []byte(`{"findings":[]}`)
	reportKey := ReportsPrefix + "0f1e.json"
	for i, n := range []int{3, 2} {
		var blobs map[string][]byte
		if i == 0 {
			blobs = map[string][]byte{reportKey: report}
		}
		if _, err := spool.Put(ctx, signer, spoolRecords(n), blobs); err != nil {
			t.Fatal(err)
		}
	}
	files, err := os.ReadDir(spool.Dir)
	if err != nil || len(files) != 2 {
		t.Fatalf("spool holds %d files (%v), want 2", len(files), err)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(spool.Dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "alice") || strings.Contains(string(data), "findings") {
			t.Errorf("%s holds the records in the clear; want them inside the signed envelope", f.Name())
		}
	}

	store, err := NewLocalStore(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := spool.Flush(ctx, store, signer, keys)
	if err != nil || n != 5 {
		t.Fatalf("Flush() = %d, %v; want 5 records", n, err)
	}
	if pending, _ := spool.Pending(); len(pending) != 0 {
		t.Errorf("%d batches still spooled after a flush", len(pending))
	}
	if got, err := store.Read(ctx, reportKey); err != nil || string(got) != string(report) {
		t.Errorf("the spooled report in the store = %q, %v; want %q", got, err, report)
	}
	rep, err := Verify(ctx, store, keys)
	if err != nil || !rep.OK() || rep.Records != 5 {
		t.Fatalf("Verify() = %+v, %v; want 5 good records", rep, err)
	}

	// A batch changed on disk is refused and stays in the spool.
	file, err := spool.Put(ctx, signer, spoolRecords(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(data), `"payload":"`) + len(`"payload":"`) + 5
	data[i] ^= 1
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := spool.Flush(ctx, store, signer, keys); err == nil || !strings.Contains(err.Error(), "changed after it was spooled") {
		t.Errorf("Flush(tampered) = %v, want it refused", err)
	}
	if pending, _ := spool.Pending(); len(pending) != 1 {
		t.Errorf("the tampered batch left the spool")
	}
}
