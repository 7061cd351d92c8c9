package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"

	"github.com/promote-dev/promote/internal/evidence"
)

// wantProblem is a Problem whose Reason is a regular expression, since
// reasons carry the server's timestamps.
type wantProblem struct {
	key, version, reason string
}

// checkProblems compares got with want in order.
func checkProblems(t *testing.T, got []Problem, want []wantProblem) {
	t.Helper()
	var g, w []string
	for _, p := range got {
		g = append(g, p.Key+" "+p.VersionID+" "+p.Reason)
	}
	for i, p := range want {
		line := p.key + " " + p.version + " " + p.reason
		if i < len(got) && got[i].Key == p.key && got[i].VersionID == p.version && regexp.MustCompile("^"+p.reason+"$").MatchString(got[i].Reason) {
			line = g[i]
		}
		w = append(w, line)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("Audit() problems (-want +got):\n%s", diff)
	}
}

const (
	stamp        = `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`
	markerReason = "delete marker added " + stamp + ": someone tried to delete the record; the locked version is still readable by its id"
	extraReason  = "extra version written " + stamp + ` over a write-once record \(2 versions\)`
	noLockReason = "no Object Lock retention: the version can be deleted"
)

func TestAudit(t *testing.T) {
	t.Parallel()
	g := gateway(t)
	ctx := context.Background()
	tests := []struct {
		what string
		// writer and auditor change the configurations of the store that
		// writes the records and of the one that audits them.
		writer, auditor func(*S3Config)
		// pageSize is the auditor's, to cross page boundaries.
		pageSize int32
		// setup writes with the writer store and with another client, and
		// returns the problems the audit must find.
		setup func(t *testing.T, writer *S3, other *s3.Client) []wantProblem
		// versions and markers are how many of each the audit must list.
		versions, markers int
	}{
		{
			what: "untouched",
			setup: func(t *testing.T, w *S3, _ *s3.Client) []wantProblem {
				create(t, w, "records/1.json", "records/2.json", "checkpoints/2.note")
				return nil
			},
			versions: 3,
		},
		{
			what: "delete marker added by another client",
			setup: func(t *testing.T, w *S3, other *s3.Client) []wantProblem {
				create(t, w, "records/1.json", "records/2.json")
				out, err := other.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.bucket), Key: aws.String("promote/evidence/records/1.json")})
				if err != nil {
					t.Fatalf("DeleteObject() without a version id = %v, want a delete marker", err)
				}
				return []wantProblem{{"records/1.json", aws.ToString(out.VersionId), markerReason}}
			},
			versions: 2, markers: 1,
		},
		{
			what: "written over by another client",
			setup: func(t *testing.T, w *S3, other *s3.Client) []wantProblem {
				create(t, w, "records/1.json")
				v := put(t, other, w.bucket, "promote/evidence/records/1.json")
				return []wantProblem{{"records/1.json", v, extraReason}, {"records/1.json", v, noLockReason}}
			},
			versions: 2,
		},
		{
			what: "written without a lock",
			setup: func(t *testing.T, w *S3, other *s3.Client) []wantProblem {
				create(t, w, "records/1.json")
				v := put(t, other, w.bucket, "promote/evidence/records/2.json")
				return []wantProblem{{"records/2.json", v, noLockReason}}
			},
			versions: 2,
		},
		{
			what: "outside the prefix",
			setup: func(t *testing.T, w *S3, other *s3.Client) []wantProblem {
				create(t, w, "records/1.json")
				put(t, other, w.bucket, "promote/other/1.json")
				put(t, other, w.bucket, "promote/evidence-old/1.json")
				return nil
			},
			versions: 1,
		},
		{
			what:    "retained for less than the retention",
			auditor: func(c *S3Config) { c.Retention = 48 * time.Hour },
			setup: func(t *testing.T, w *S3, _ *s3.Client) []wantProblem {
				v := create(t, w, "records/1.json")
				return []wantProblem{{"records/1.json", v[0], "retained until " + stamp + ", before its write time " + stamp + " plus the retention 48h0m0s"}}
			},
			versions: 1,
		},
		{
			what:   "governance when compliance is wanted",
			writer: func(c *S3Config) { c.Mode = ModeGovernance },
			setup: func(t *testing.T, w *S3, _ *s3.Client) []wantProblem {
				v := create(t, w, "records/1.json")
				return []wantProblem{{"records/1.json", v[0], "Object Lock mode GOVERNANCE, want COMPLIANCE"}}
			},
			versions: 1,
		},
		{
			what:    "compliance when governance is wanted",
			auditor: func(c *S3Config) { c.Mode = ModeGovernance },
			setup: func(t *testing.T, w *S3, _ *s3.Client) []wantProblem {
				create(t, w, "records/1.json")
				return nil
			},
			versions: 1,
		},
		{
			// Two entries a page: versitygw repeats a delete marker that
			// ends a page at the top of the next.
			what:     "across pages",
			pageSize: 2,
			setup: func(t *testing.T, w *S3, other *s3.Client) []wantProblem {
				var want []wantProblem
				for i := range 4 {
					key := fmt.Sprintf("records/%d.json", i)
					create(t, w, key)
					v := put(t, other, w.bucket, "promote/evidence/"+key)
					out, err := other.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.bucket), Key: aws.String("promote/evidence/" + key)})
					if err != nil {
						t.Fatal(err)
					}
					want = append(want,
						wantProblem{key, aws.ToString(out.VersionId), markerReason},
						wantProblem{key, v, extraReason},
						wantProblem{key, v, noLockReason})
				}
				return want
			},
			versions: 8, markers: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			cfg := g.config(t, true)
			store := func(edit func(*S3Config)) *S3 {
				c := cfg
				if edit != nil {
					edit(&c)
				}
				s, err := NewS3(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			writer, auditor := store(tt.writer), store(tt.auditor)
			auditor.pageSize = tt.pageSize
			want := tt.setup(t, writer, g.client(t))
			report, err := auditor.Audit(ctx)
			if err != nil {
				t.Fatalf("Audit() = %v", err)
			}
			checkProblems(t, report.Problems, want)
			if len(report.Versions) != tt.versions || len(report.DeleteMarkers) != tt.markers {
				t.Errorf("Audit() listed %d versions and %d delete markers, want %d and %d", len(report.Versions), len(report.DeleteMarkers), tt.versions, tt.markers)
			}
			if report.OK() != (len(want) == 0) {
				t.Errorf("Audit().OK() = %v with %d problems", report.OK(), len(report.Problems))
			}
		})
	}
}

// TestAuditDeleteMarkerKeepsVersion shows what a verifier sees after another
// client deletes a record: the key is gone from Read and List, Audit reports
// the delete marker and lists the locked version first, and that version
// reads by its id.
func TestAuditDeleteMarkerKeepsVersion(t *testing.T) {
	t.Parallel()
	g := gateway(t)
	s := g.newStore(t, nil)
	ctx := context.Background()
	versions := create(t, s, "records/1.json", "records/2.json")
	if _, err := g.client(t).DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("promote/evidence/records/1.json")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, "records/1.json"); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("Read() of a deleted record = %v, want ErrNotFound", err)
	}
	keys, err := s.List(ctx, "")
	if diff := cmp.Diff([]string{"records/2.json"}, keys); err != nil || diff != "" {
		t.Errorf("List() = %v (-want +got):\n%s", err, diff)
	}
	report, err := s.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range report.Versions {
		got = append(got, v.Key+" "+v.VersionID+" "+v.Mode)
	}
	want := []string{"records/1.json " + versions[0] + " COMPLIANCE", "records/2.json " + versions[1] + " COMPLIANCE"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Audit().Versions (-want +got):\n%s", diff)
	}
	if len(report.Problems) != 1 || !strings.HasPrefix(report.Problems[0].String(), "records/1.json (version "+report.DeleteMarkers[0].VersionID+"): delete marker added ") {
		t.Errorf("Audit().Problems = %v, want the delete marker", report.Problems)
	}
	data, err := s.ReadVersion(ctx, "records/1.json", versions[0])
	if err != nil || string(data) != "records/1.json" {
		t.Errorf("ReadVersion() = %q, %v, want the record", data, err)
	}
}

func TestRetentionProblem(t *testing.T) {
	t.Parallel()
	written := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		what   string
		mode   types.ObjectLockMode
		v      Version
		reason string
	}{
		{"locked as written", types.ObjectLockModeCompliance,
			Version{Mode: "COMPLIANCE", LastModified: written, RetainUntil: written.Add(24 * time.Hour)}, ""},
		{"writer's clock a little behind", types.ObjectLockModeCompliance,
			Version{Mode: "COMPLIANCE", LastModified: written, RetainUntil: written.Add(24*time.Hour - 59*time.Second)}, ""},
		{"too short", types.ObjectLockModeCompliance,
			Version{Mode: "COMPLIANCE", LastModified: written, RetainUntil: written.Add(24*time.Hour - 61*time.Second)},
			"retained until 2026-01-03T03:03:04Z, before its write time 2026-01-02T03:04:05Z plus the retention 24h0m0s"},
		{"no lock", types.ObjectLockModeCompliance, Version{LastModified: written}, noLockReason},
		{"governance", types.ObjectLockModeCompliance,
			Version{Mode: "GOVERNANCE", LastModified: written, RetainUntil: written.Add(48 * time.Hour)}, "Object Lock mode GOVERNANCE, want COMPLIANCE"},
		{"governance wanted", types.ObjectLockModeGovernance,
			Version{Mode: "GOVERNANCE", LastModified: written, RetainUntil: written.Add(48 * time.Hour)}, ""},
		{"compliance is stricter than governance", types.ObjectLockModeGovernance,
			Version{Mode: "COMPLIANCE", LastModified: written, RetainUntil: written.Add(48 * time.Hour)}, ""},
	}
	for _, tt := range tests {
		s := &S3{mode: tt.mode, retention: 24 * time.Hour}
		if got := s.retentionProblem(tt.v); got != tt.reason {
			t.Errorf("%s: retentionProblem() = %q, want %q", tt.what, got, tt.reason)
		}
	}
}

// TestAuditRepeatedPage proves Audit stops, rather than looping, on a server
// that answers the next page with the same page: versitygw v1.8.0 does when a
// page of one entry ends with a delete marker.
func TestAuditRepeatedPage(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if _, ok := r.URL.Query()["versions"]; !ok || r.Method != http.MethodGet {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.String(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<ListVersionsResult><IsTruncated>true</IsTruncated><NextKeyMarker>p/a</NextKeyMarker><NextVersionIdMarker>v1</NextVersionIdMarker>`+
			`<DeleteMarker><Key>p/a</Key><VersionId>v1</VersionId><IsLatest>true</IsLatest><LastModified>2026-01-01T00:00:00.000Z</LastModified></DeleteMarker></ListVersionsResult>`)
	}))
	defer srv.Close()
	s, err := NewS3(context.Background(), S3Config{Bucket: "evidence", Prefix: "p", Endpoint: srv.URL,
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Audit(context.Background())
	want := `list the versions under s3://evidence/p/: the server repeated the page after key "p/a" version "v1"`
	if err == nil || err.Error() != want {
		t.Errorf("Audit() = %v, want %q", err, want)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("Audit() made %d requests, want 2", n)
	}
}

// create writes each key with its own name as the data and returns the
// version ids.
func create(t *testing.T, s *S3, keys ...string) []string {
	t.Helper()
	var versions []string
	for _, k := range keys {
		v, err := s.Create(context.Background(), k, []byte(k))
		if err != nil {
			t.Fatalf("Create(%q) = %v", k, err)
		}
		versions = append(versions, v)
	}
	return versions
}

// put writes key as a client other than Promote would, without a lock, and
// returns the version id.
func put(t *testing.T, c *s3.Client, bucket, key string) string {
	t.Helper()
	out, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("forged")})
	if err != nil {
		t.Fatalf("PutObject(%q) = %v", key, err)
	}
	return aws.ToString(out.VersionId)
}
