package evidence_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/sign"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "promote-evidence-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := evidence.NewLocalStore(filepath.Join(dir, "evidence"))
	if err != nil {
		log.Fatal(err)
	}
	signer, _, err := sign.LoadOrCreateLocal(filepath.Join(dir, "evidence.key"), sign.AlgorithmEd25519)
	if err != nil {
		log.Fatal(err)
	}

	// One run's evidence: a gate's decision and the node's outcome,
	// sealed with one signing call.
	started := time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC)
	node := evidence.Record{
		Kind:        evidence.KindPromotion,
		Repository:  "https://github.com/promote-dev/promote",
		Commit:      "3f786850e387550fdab836ed7e6dc881de23001b",
		Service:     "api",
		Environment: "production",
		Node:        "api@production",
		Actor:       "octocat",
		Approvers:   []string{"alice"},
		StartedAt:   started,
		FinishedAt:  started.Add(3 * time.Minute),
		Outcome:     "succeeded",
		Attempts:    1,
	}
	gate := node
	gate.Kind, gate.Outcome, gate.FinishedAt = evidence.KindGate, "approved", started.Add(time.Minute)
	stored, err := evidence.Append(ctx, store, signer, []evidence.Record{gate, node})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range stored {
		fmt.Println(s.Key)
	}

	// Anyone with the public keys can check the whole log.
	keys, err := signer.PublicKeys(ctx)
	if err != nil {
		log.Fatal(err)
	}
	report, err := evidence.Verify(ctx, store, keys)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("ok: %v, records: %d, checkpointed: %d\n", report.OK(), report.Records, report.TreeSize)

	// A rerun reads the records back, only from a log that verifies, and
	// finds what already succeeded for its commit.
	entries, err := (&evidence.Verifier{Keys: keys}).Read(ctx, store)
	if err != nil {
		log.Fatal(err)
	}
	for id, e := range evidence.LastPromotions(entries, node.Commit) {
		fmt.Printf("%s %s in record #%d\n", id, e.Outcome, e.Seq)
	}
	// Output:
	// records/00000000000000000001.dsse.json
	// records/00000000000000000002.dsse.json
	// ok: true, records: 2, checkpointed: 2
	// api@production succeeded in record #2
}
