// Package storetest runs versitygw, a real S3 server that enforces Object
// Lock, for the tests of the S3 evidence store and of the commands that use
// it. make test installs the binary and names it in VERSITYGW.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The root credentials every Gateway serves with.
const (
	AccessKey = "promote-test"
	SecretKey = "promote-test-secret"
)

// Gateway is a running versitygw serving a temporary posix directory.
type Gateway struct {
	// Endpoint is its base URL, e.g. http://127.0.0.1:40123.
	Endpoint string
	dir      string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// Start starts the versitygw binary bin on a free port and waits until it answers. The
// port is free when chosen but may be taken before versitygw binds it, so
// a start whose server exits is tried again on another port.
func Start(bin string) (*Gateway, error) {
	dir, err := os.MkdirTemp("", "promote-versitygw-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 {
		var g *Gateway
		g, lastErr = tryVersitygw(bin, dir)
		if lastErr == nil {
			return g, nil
		}
	}
	os.RemoveAll(dir)
	return nil, fmt.Errorf("start versitygw %q: %w", bin, lastErr)
}

func tryVersitygw(bin, dir string) (*Gateway, error) {
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
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &Gateway{Endpoint: "http://" + addr, dir: dir, cmd: cmd, exited: make(chan struct{})}
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
		if resp, err := client.Get(g.Endpoint); err == nil {
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

func (g *Gateway) kill() {
	g.cmd.Process.Kill()
	<-g.exited
}

// Stop ends versitygw and removes its directory. Object Lock binds the S3
// API only; the files and their extended attributes delete like any other.
func (g *Gateway) Stop() error {
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

// Credentials are the gateway's root credentials.
func Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")
}

// Client returns a client of the gateway, as someone other than Promote
// would use it.
func (g *Gateway) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(g.Endpoint),
		UsePathStyle:               true,
		Credentials:                Credentials(),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// CreateBucket creates a bucket, with Object Lock (and so versioning) when
// lock is set.
func (g *Gateway) CreateBucket(ctx context.Context, name string, lock bool) error {
	_, err := g.Client().CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket:                     aws.String(name),
		ObjectLockEnabledForBucket: aws.Bool(lock),
	})
	if err != nil {
		return fmt.Errorf("create bucket %q: %w", name, err)
	}
	return nil
}

// Dir is the gateway's directory: the objects live under Dir/root/BUCKET,
// for tests that change them behind the S3 API's back.
func (g *Gateway) Dir() string { return g.dir }

// StartWithBucket starts the versitygw binary bin for t with one Object
// Lock bucket, named bucket, and stops it when t ends.
func StartWithBucket(t testing.TB, bin, bucket string) *Gateway {
	t.Helper()
	gw, err := Start(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := gw.Stop(); err != nil {
			t.Error(err)
		}
	})
	if err := gw.CreateBucket(context.Background(), bucket, true); err != nil {
		t.Fatal(err)
	}
	return gw
}
