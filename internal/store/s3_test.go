package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"

	"github.com/promote-dev/promote/internal/evidence"
)

func TestNewS3(t *testing.T) {
	t.Parallel()
	static := credentials.NewStaticCredentialsProvider("a", "b", "")
	tests := []struct {
		what         string
		cfg          S3Config
		wantErr      string
		wantMode     types.ObjectLockMode
		wantRet      time.Duration
		wantPrefix   string
		wantWarnings int
	}{
		{
			what:       "defaults",
			cfg:        S3Config{Bucket: "evidence", Region: "eu-west-1", Credentials: static},
			wantMode:   types.ObjectLockModeCompliance,
			wantRet:    1095 * 24 * time.Hour,
			wantPrefix: "",
		},
		{
			what:       "prefix slashes trimmed",
			cfg:        S3Config{Bucket: "evidence", Prefix: "/promote/prod/", Region: "eu-west-1", Credentials: static, Retention: time.Hour},
			wantMode:   types.ObjectLockModeCompliance,
			wantRet:    time.Hour,
			wantPrefix: "promote/prod/",
		},
		{
			what:         "governance warned about",
			cfg:          S3Config{Bucket: "evidence", Region: "eu-west-1", Credentials: static, Mode: "GOVERNANCE"},
			wantMode:     types.ObjectLockModeGovernance,
			wantRet:      DefaultRetention,
			wantWarnings: 1,
		},
		{
			what:       "custom endpoint needs no region",
			cfg:        S3Config{Bucket: "evidence", Endpoint: "http://127.0.0.1:1", Credentials: static},
			wantMode:   types.ObjectLockModeCompliance,
			wantRet:    DefaultRetention,
			wantPrefix: "",
		},
		{
			what:    "no bucket",
			cfg:     S3Config{Region: "eu-west-1"},
			wantErr: "s3 store: no bucket: name the bucket that keeps the evidence",
		},
		{
			what:    "unknown mode",
			cfg:     S3Config{Bucket: "evidence", Region: "eu-west-1", Mode: "compliance"},
			wantErr: `s3 store: unknown Object Lock mode "compliance": use COMPLIANCE or GOVERNANCE`,
		},
		{
			what:    "negative retention",
			cfg:     S3Config{Bucket: "evidence", Region: "eu-west-1", Retention: -time.Hour},
			wantErr: "s3 store: retention -1h0m0s is negative: give a positive duration, or zero for the default 26280h0m0s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			s, err := NewS3(context.Background(), tt.cfg)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("NewS3() = %v, want error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewS3() = %v", err)
			}
			got := fmt.Sprint(s.mode, " ", s.retention, " ", s.prefix, " ", len(s.Warnings()))
			want := fmt.Sprint(tt.wantMode, " ", tt.wantRet, " ", tt.wantPrefix, " ", tt.wantWarnings)
			if got != want {
				t.Errorf("NewS3() mode, retention, prefix, warnings = %s, want %s", got, want)
			}
		})
	}
}

func TestGovernanceWarning(t *testing.T) {
	t.Parallel()
	s, err := NewS3(context.Background(), S3Config{Bucket: "evidence", Prefix: "p", Region: "eu-west-1", Mode: ModeGovernance,
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Object Lock mode GOVERNANCE can be bypassed by anyone allowed s3:BypassGovernanceRetention, so evidence in s3://evidence/p/ can be deleted; use COMPLIANCE for evidence that must be immutable"}
	if diff := cmp.Diff(want, s.Warnings()); diff != "" {
		t.Errorf("Warnings() (-want +got):\n%s", diff)
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	s := &S3{bucket: "b", prefix: "p/"}
	tests := []struct {
		key, want, wantErr string
	}{
		{key: "records/1.json", want: "p/records/1.json"},
		{key: "", wantErr: "empty key: name the record"},
		{key: "/abs", wantErr: `key "/abs" starts or ends with a slash: give a path relative to the store such as "records/000001.json"`},
		{key: "dir/", wantErr: `key "dir/" starts or ends with a slash: give a path relative to the store such as "records/000001.json"`},
		{key: "bad\xff", wantErr: `key "bad\xff" is not UTF-8`},
	}
	for _, tt := range tests {
		got, err := s.objectKey(tt.key)
		if got != tt.want || fmt.Sprint(err) != cmpOrNil(tt.wantErr) {
			t.Errorf("objectKey(%q) = %q, %v, want %q, %s", tt.key, got, err, tt.want, cmpOrNil(tt.wantErr))
		}
	}
	if got, want := s.Identity(), "s3/b/p"; got != want {
		t.Errorf("Identity() = %q, want %q", got, want)
	}
	if got, want := (&S3{bucket: "b"}).Identity(), "s3/b"; got != want {
		t.Errorf("Identity() = %q, want %q", got, want)
	}
}

func cmpOrNil(s string) string {
	if s == "" {
		return "<nil>"
	}
	return s
}

// TestCreateSendsLockAndChecksum proves the headers AWS needs on a locked
// upload are sent: versitygw would accept the upload without them.
func TestCreateSendsLockAndChecksum(t *testing.T) {
	t.Parallel()
	g := gateway(t)
	rec := &recorder{base: http.DefaultTransport.(*http.Transport).Clone()}
	now := time.Now().UTC().Truncate(time.Second).Add(500 * time.Millisecond)
	s := g.newStore(t, func(c *S3Config) {
		c.HTTPClient = &http.Client{Transport: rec}
		c.Now = func() time.Time { return now }
	})
	data := []byte(`{"payloadType":"application/vnd.in-toto+json"}`)
	version, err := s.Create(context.Background(), "records/1.dsse.json", data)
	if err != nil {
		t.Fatalf("Create() = %v", err)
	}
	if version == "" {
		t.Error("Create() returned no version id")
	}
	puts := rec.requests(http.MethodPut)
	if len(puts) != 1 {
		t.Fatalf("Create() sent %d PUT requests, want 1", len(puts))
	}
	sum := sha256.Sum256(data)
	want := map[string]string{
		"Path":                                "/" + s.bucket + "/promote/evidence/records/1.dsse.json",
		"X-Amz-Checksum-Sha256":               base64.StdEncoding.EncodeToString(sum[:]),
		"If-None-Match":                       "*",
		"X-Amz-Object-Lock-Mode":              "COMPLIANCE",
		"X-Amz-Object-Lock-Retain-Until-Date": now.Add(24 * time.Hour).Truncate(time.Second).Add(time.Second).Format(time.RFC3339),
		"Content-Type":                        "application/json",
	}
	got := map[string]string{"Path": puts[0].path}
	for h := range want {
		if h != "Path" {
			got[h] = puts[0].header.Get(h)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PutObject request (-want +got):\n%s", diff)
	}

	// The server stored the lock that was asked for.
	ret, err := g.client(t).GetObjectRetention(context.Background(), &s3.GetObjectRetentionInput{
		Bucket: aws.String(s.bucket), Key: aws.String("promote/evidence/records/1.dsse.json"), VersionId: aws.String(version),
	})
	if err != nil {
		t.Fatalf("GetObjectRetention() = %v", err)
	}
	if got, want := fmt.Sprint(ret.Retention.Mode, " ", ret.Retention.RetainUntilDate.UTC().Format(time.RFC3339)),
		"COMPLIANCE "+want["X-Amz-Object-Lock-Retain-Until-Date"]; got != want {
		t.Errorf("GetObjectRetention() = %s, want %s", got, want)
	}
}

func TestCreateOnce(t *testing.T) {
	t.Parallel()
	g := gateway(t)
	s := g.newStore(t, nil)
	ctx := context.Background()
	v1, err := s.Create(ctx, "records/1.json", []byte("first"))
	if err != nil {
		t.Fatalf("Create() = %v", err)
	}
	_, err = s.Create(ctx, "records/1.json", []byte("second"))
	if !errors.Is(err, evidence.ErrExists) {
		t.Fatalf("second Create() = %v, want ErrExists", err)
	}
	if want := fmt.Sprintf("create s3://%s/promote/evidence/records/1.json: evidence object already exists", s.bucket); err.Error() != want {
		t.Errorf("second Create() = %q, want %q", err, want)
	}
	got, err := s.Read(ctx, "records/1.json")
	if err != nil || string(got) != "first" {
		t.Errorf("Read() = %q, %v, want %q", got, err, "first")
	}
	got, err = s.ReadVersion(ctx, "records/1.json", v1)
	if err != nil || string(got) != "first" {
		t.Errorf("ReadVersion(%q) = %q, %v, want %q", v1, got, err, "first")
	}
	if _, err := s.Read(ctx, "records/2.json"); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("Read(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.ReadVersion(ctx, "records/1.json", "01M8B6ARBFX5K70AEEJCKG55M8"); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("ReadVersion(missing version) = %v, want ErrNotFound", err)
	}
	v2, err := s.Create(ctx, "records/2.json", []byte("other"))
	if err != nil || v2 == "" || v2 == v1 {
		t.Errorf("Create(another key) = %q, %v, want a new version id", v2, err)
	}
}

// TestCreateConcurrent has several writers race for one key, as workflow
// runs appending the same sequence number would: exactly one wins.
func TestCreateConcurrent(t *testing.T) {
	t.Parallel()
	g := gateway(t)
	s := g.newStore(t, nil)
	const writers = 8
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		versions [writers]string
		errs     [writers]error
	)
	for i := range writers {
		wg.Go(func() {
			<-start
			versions[i], errs[i] = s.Create(context.Background(), "records/7.json", fmt.Appendf(nil, "writer %d", i))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner == -1:
			winner = i
		case err == nil:
			t.Errorf("writers %d and %d both created the key", winner, i)
		case !errors.Is(err, evidence.ErrExists):
			t.Errorf("writer %d: Create() = %v, want ErrExists", i, err)
		}
	}
	if winner == -1 {
		t.Fatal("no writer created the key")
	}
	got, err := s.Read(context.Background(), "records/7.json")
	if want := fmt.Sprintf("writer %d", winner); err != nil || string(got) != want {
		t.Errorf("Read() = %q, %v, want %q", got, err, want)
	}
	report, err := s.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Versions) != 1 || report.Versions[0].VersionID != versions[winner] || !report.OK() {
		t.Errorf("Audit() = %+v, want one version %q and no problem", report, versions[winner])
	}
}

// TestLocked proves what Object Lock refuses on a version Create wrote.
func TestLocked(t *testing.T) {
	t.Parallel()
	g := gateway(t)
	s := g.newStore(t, nil)
	ctx := context.Background()
	const key = "records/1.json"
	version, err := s.Create(ctx, key, []byte("evidence"))
	if err != nil {
		t.Fatal(err)
	}
	other := g.client(t)
	bucket, full := aws.String(s.bucket), aws.String("promote/evidence/"+key)
	retention := func(mode types.ObjectLockRetentionMode, until time.Time) *types.ObjectLockRetention {
		return &types.ObjectLockRetention{Mode: mode, RetainUntilDate: aws.Time(until)}
	}
	refused := []struct {
		what string
		call func() error
	}{
		{"delete the version", func() error {
			_, err := other.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: full, VersionId: aws.String(version)})
			return err
		}},
		{"delete the version bypassing governance", func() error {
			_, err := other.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: full, VersionId: aws.String(version), BypassGovernanceRetention: aws.Bool(true)})
			return err
		}},
		{"shorten the retention", func() error {
			_, err := other.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: bucket, Key: full, VersionId: aws.String(version),
				Retention: retention(types.ObjectLockRetentionModeCompliance, time.Now().Add(time.Hour))})
			return err
		}},
		{"weaken the mode to governance", func() error {
			_, err := other.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: bucket, Key: full, VersionId: aws.String(version),
				Retention: retention(types.ObjectLockRetentionModeGovernance, time.Now().Add(48*time.Hour)), BypassGovernanceRetention: aws.Bool(true)})
			return err
		}},
		{"delete them in a batch", func() error {
			out, err := other.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: bucket, Delete: &types.Delete{
				Objects: []types.ObjectIdentifier{{Key: full, VersionId: aws.String(version)}}}})
			if err == nil && len(out.Errors) == 1 {
				return fmt.Errorf("%s: %s", aws.ToString(out.Errors[0].Code), aws.ToString(out.Errors[0].Message))
			}
			return err
		}},
	}
	for _, r := range refused {
		err := r.call()
		if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
			t.Errorf("%s: error = %v, want AccessDenied", r.what, err)
		}
	}
	// Create refuses to write over it; a plain PutObject only adds a
	// version, which Audit reports, and the locked one stays as it was.
	if _, err := s.Create(ctx, key, []byte("forged")); !errors.Is(err, evidence.ErrExists) {
		t.Errorf("Create() over a locked record = %v, want ErrExists", err)
	}
	if _, err := other.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: full, Body: strings.NewReader("forged")}); err != nil {
		t.Fatalf("PutObject() = %v", err)
	}
	got, err := s.ReadVersion(ctx, key, version)
	if err != nil || string(got) != "evidence" {
		t.Errorf("ReadVersion() after an overwrite = %q, %v, want %q", got, err, "evidence")
	}
	// Retention can be extended, in COMPLIANCE mode.
	longer := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	if _, err := other.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: bucket, Key: full, VersionId: aws.String(version),
		Retention: retention(types.ObjectLockRetentionModeCompliance, longer)}); err != nil {
		t.Errorf("extend the retention: %v", err)
	}
	ret, err := other.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: bucket, Key: full, VersionId: aws.String(version)})
	if err != nil || !aws.ToTime(ret.Retention.RetainUntilDate).Equal(longer) || ret.Retention.Mode != types.ObjectLockRetentionModeCompliance {
		t.Errorf("GetObjectRetention() = %+v, %v, want COMPLIANCE until %v", ret, err, longer)
	}
}

// TestReadChecksum proves Read checks the stored SHA-256: a byte flipped on
// the server's disk is an error, not evidence.
func TestReadChecksum(t *testing.T) {
	t.Parallel()
	g := gateway(t)
	s := g.newStore(t, nil)
	ctx := context.Background()
	if _, err := s.Create(ctx, "records/1.json", []byte(`{"seq":1}`)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(g.Dir(), "root", s.bucket, "promote/evidence/records/1.json")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, bytes.Replace(data, []byte("1"), []byte("2"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(ctx, "records/1.json"); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("Read() of a changed object = %q, %v, want a checksum error", got, err)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	g := gateway(t)
	s := g.newStore(t, nil)
	s.pageSize = 2
	ctx := context.Background()
	keys := []string{"records/3.json", "records/1.json", "checkpoints/1.note", "records/2.json", "records/10.json"}
	for _, k := range keys {
		if _, err := s.Create(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	// A key outside the prefix is not the store's.
	if _, err := g.client(t).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("promote/other"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"checkpoints/1.note", "records/1.json", "records/10.json", "records/2.json", "records/3.json"}},
		{"records/", []string{"records/1.json", "records/10.json", "records/2.json", "records/3.json"}},
		{"records/1", []string{"records/1.json", "records/10.json"}},
		{"nothing/", nil},
	}
	for _, tt := range tests {
		got, err := s.List(ctx, tt.prefix)
		if err != nil {
			t.Fatalf("List(%q) = %v", tt.prefix, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("List(%q) (-want +got):\n%s", tt.prefix, diff)
		}
	}
}
