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
// Against AWS, leave Endpoint empty and Credentials nil (the SDK's default
// chain); here the test binary's versitygw stands in (see ExampleServer), and
// the example is skipped without one.
func ExampleNewS3() {
	ctx := context.Background()
	s, err := store.NewS3(ctx, store.S3Config{
		Bucket:      store.ExampleServer.Bucket, // with Object Lock, e.g. "acme-promotion-evidence"
		Prefix:      "promote/prod",
		Endpoint:    store.ExampleServer.Endpoint,
		Credentials: store.ExampleServer.Credentials,
		Retention:   3 * 365 * 24 * time.Hour,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, w := range s.Warnings() {
		log.Print("warning: ", w)
	}
	const key = "records/00000000000000000001.dsse.json"
	for range 2 {
		_, err := s.Create(ctx, key, []byte(`{"payloadType":"application/vnd.in-toto+json"}`))
		switch {
		case errors.Is(err, evidence.ErrExists):
			// Another run took this sequence number: read the head and retry.
			fmt.Println("refused: already stored", key)
		case err != nil:
			log.Fatal(err)
		default:
			fmt.Println("stored", key)
		}
	}
	report, err := s.Audit(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("audit: %d versions, %d problems\n", len(report.Versions), len(report.Problems))
	// Output:
	// stored records/00000000000000000001.dsse.json
	// refused: already stored records/00000000000000000001.dsse.json
	// audit: 1 versions, 0 problems
}
