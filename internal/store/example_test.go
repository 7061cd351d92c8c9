package store_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/store"
)

// A store writes each record once, locked for the retention; a second write
// of the same key is refused, and Audit proves later that nothing changed.
func ExampleNewS3() {
	ctx := context.Background()
	s, err := store.NewS3(ctx, store.S3Config{
		Bucket:    "acme-promotion-evidence",
		Prefix:    "promote/prod",
		Region:    "eu-west-1",
		Retention: 3 * 365 * 24 * time.Hour,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, w := range s.Warnings() {
		log.Print("warning: ", w)
	}
	version, err := s.Create(ctx, "records/00000000000000000001.dsse.json", []byte(`{"payloadType":"application/vnd.in-toto+json"}`))
	switch {
	case errors.Is(err, evidence.ErrExists):
		// Another run took this sequence number: read the head and retry.
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("stored version", version)
	}
	report, err := s.Audit(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range report.Problems {
		fmt.Println(p)
	}
}
