package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The S3 tests run against one versitygw per test binary, started by
// TestMain when VERSITYGW names its binary (make test does), each test in a
// bucket of its own.
var gw *versitygw

const (
	gwAccessKey = "promote-test"
	gwSecretKey = "promote-test-secret"
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if bin := os.Getenv("VERSITYGW"); bin != "" {
		var err error
		gw, err = startVersitygw(bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		defer func() {
			if err := gw.stop(); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}()
	}
	return m.Run()
}

// versitygw is a running versitygw serving a temporary posix directory.
type versitygw struct {
	endpoint string
	dir      string
	cmd      *exec.Cmd
	exited   chan struct{}
	buckets  atomic.Int64
}

// startVersitygw starts bin on a free port and waits until it answers. The
// port is free when chosen but may be taken before versitygw binds it, so
// a start whose server exits is tried again on another port.
func startVersitygw(bin string) (*versitygw, error) {
	dir, err := os.MkdirTemp("", "promote-versitygw-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 {
		var g *versitygw
		g, lastErr = tryVersitygw(bin, dir)
		if lastErr == nil {
			return g, nil
		}
	}
	os.RemoveAll(dir)
	return nil, fmt.Errorf("start versitygw %q: %w", bin, lastErr)
}

func tryVersitygw(bin, dir string) (*versitygw, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	root, vers := filepath.Join(dir, "root"), filepath.Join(dir, "versions")
	for _, d := range []string{root, vers} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	logFile, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "--port", addr, "--quiet", "--keep-alive",
		"posix", "--versioning-dir", vers, root)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+gwAccessKey, "ROOT_SECRET_KEY="+gwSecretKey)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &versitygw{endpoint: "http://" + addr, dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(g.exited)
	}()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-g.exited:
			log, _ := os.ReadFile(logFile.Name())
			return nil, fmt.Errorf("versitygw exited at start: %s", log)
		default:
		}
		// Any HTTP answer, even 403 to an unsigned request, means it serves.
		if resp, err := client.Get(g.endpoint); err == nil {
			resp.Body.Close()
			return g, nil
		}
		if time.Now().After(deadline) {
			g.kill()
			return nil, errors.New("versitygw did not answer within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *versitygw) kill() {
	g.cmd.Process.Kill()
	<-g.exited
}

// stop ends versitygw and removes its directory. Object Lock binds the S3
// API only; the files and their extended attributes delete like any other.
func (g *versitygw) stop() error {
	g.cmd.Process.Signal(os.Interrupt)
	select {
	case <-g.exited:
	case <-time.After(5 * time.Second):
		g.kill()
	}
	if err := os.RemoveAll(g.dir); err != nil {
		return fmt.Errorf("remove versitygw's directory: %w", err)
	}
	return nil
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
		Endpoint:    g.endpoint,
		Credentials: credentials.NewStaticCredentialsProvider(gwAccessKey, gwSecretKey, ""),
		Retention:   24 * time.Hour,
	}
	_, err := g.client(tb).CreateBucket(context.Background(), &s3.CreateBucketInput{
		Bucket:                     aws.String(cfg.Bucket),
		ObjectLockEnabledForBucket: aws.Bool(lock),
	})
	if err != nil {
		tb.Fatalf("CreateBucket(%q) = %v", cfg.Bucket, err)
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
	return s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(g.endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(gwAccessKey, gwSecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
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
