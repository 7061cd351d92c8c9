package store

import (
	"context"
	"flag"
	"fmt"
	"github.com/promote-dev/promote/internal/store/storetest"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The S3 tests run against one versitygw per test binary, started by
// TestMain when VERSITYGW names its binary (make test does), each test in a
// bucket of its own.
var gw *versitygw

// versitygw is the test binary's gateway, and a counter of its buckets.
type versitygw struct {
	*storetest.Gateway
	buckets atomic.Int64
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// ExampleServer is where ExampleNewS3 keeps its evidence: the test binary's
// versitygw and a bucket with Object Lock on it, set by TestMain. (Exported
// from a test file, for the store_test package of the examples.)
var ExampleServer struct {
	Endpoint, Bucket string
	Credentials      aws.CredentialsProvider
}

func runTests(m *testing.M) int {
	flag.Parse()
	bin := os.Getenv("VERSITYGW")
	if bin == "" {
		// ExampleNewS3 writes to a real S3 server and checks what it
		// prints; without one it is skipped, like the tests that need one.
		skip := "^ExampleNewS3$"
		if prev := flag.Lookup("test.skip").Value.String(); prev != "" {
			skip = prev + "|" + skip
		}
		if err := flag.Set("test.skip", skip); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		return m.Run()
	}
	g, err := storetest.Start(bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	gw = &versitygw{Gateway: g}
	defer func() {
		if err := gw.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	ExampleServer.Endpoint, ExampleServer.Bucket, ExampleServer.Credentials = g.Endpoint, "acme-promotion-evidence", storetest.Credentials()
	if err := g.CreateBucket(context.Background(), ExampleServer.Bucket, true); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	return m.Run()
}

// gateway returns the test binary's versitygw, or skips the test.
func gateway(tb testing.TB) *versitygw {
	tb.Helper()
	if gw == nil {
		tb.Skip("set VERSITYGW to a versitygw binary; make test does")
	}
	return gw
}

var notBucketChars = regexp.MustCompile(`[^a-z0-9]+`)

// bucketName returns a bucket name that no other test uses.
func (g *versitygw) bucketName(tb testing.TB) string {
	name := fmt.Sprintf("t%d-%s", g.buckets.Add(1), notBucketChars.ReplaceAllString(strings.ToLower(tb.Name()), "-"))
	return strings.TrimRight(name[:min(len(name), 63)], "-")
}

// config returns a configuration for a store on a new bucket with Object
// Lock, or without it if lock is false.
func (g *versitygw) config(tb testing.TB, lock bool) S3Config {
	tb.Helper()
	cfg := S3Config{
		Bucket:      g.bucketName(tb),
		Prefix:      "promote/evidence",
		Region:      "us-east-1",
		Endpoint:    g.Endpoint,
		Credentials: storetest.Credentials(),
		Retention:   24 * time.Hour,
	}
	if err := g.CreateBucket(context.Background(), cfg.Bucket, lock); err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// newStore returns a store on a new bucket with Object Lock, with the
// changes that edit makes to the test configuration.
func (g *versitygw) newStore(tb testing.TB, edit func(*S3Config)) *S3 {
	tb.Helper()
	cfg := g.config(tb, true)
	if edit != nil {
		edit(&cfg)
	}
	s, err := NewS3(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("NewS3() = %v", err)
	}
	return s
}

// client returns another client of the gateway, as someone other than
// Promote would use it.
func (g *versitygw) client(tb testing.TB) *s3.Client {
	tb.Helper()
	return g.Client()
}

// recorder is an HTTP transport that keeps each request's method, path and
// headers.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []recordedRequest
}

type recordedRequest struct {
	method, path string
	header       http.Header
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, recordedRequest{req.Method, req.URL.Path, req.Header.Clone()})
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

func (r *recorder) requests(method string) []recordedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recordedRequest
	for _, req := range r.reqs {
		if req.method == method {
			out = append(out, req)
		}
	}
	return out
}
