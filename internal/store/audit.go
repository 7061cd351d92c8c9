package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// ClockSkew is how much earlier than its write time plus the retention a
// version's retain-until date may be before Audit objects: the writer's
// clock starts the retention and the server's stamps the write.
const ClockSkew = time.Minute

// AuditReport is what Audit found under the store's prefix.
type AuditReport struct {
	// Versions holds every object version, by key, oldest first. A
	// verifier reads the first version of each key by its id.
	Versions []Version
	// DeleteMarkers holds every delete marker, by key, oldest first.
	DeleteMarkers []Version
	// Problems holds what breaks the write-once, locked promise, by key.
	Problems []Problem
}

// OK reports whether the audit found no problem.
func (r *AuditReport) OK() bool { return len(r.Problems) == 0 }

// Version is one version of an object, or a delete marker.
type Version struct {
	// Key is relative to the store's prefix, like the keys given to Create.
	Key       string
	VersionID string
	// LastModified is when the server wrote the version.
	LastModified time.Time
	// Size is the object's length in bytes; zero for a delete marker.
	Size int64
	// Mode and RetainUntil are the version's Object Lock retention; empty
	// when it has none, and for delete markers.
	Mode        string
	RetainUntil time.Time
}

// Problem is one way in which stored evidence is not as Create left it.
type Problem struct {
	Key       string
	VersionID string
	Reason    string
}

// String formats the problem as "key (version id): reason".
func (p Problem) String() string {
	if p.VersionID == "" {
		return p.Key + ": " + p.Reason
	}
	return p.Key + " (version " + p.VersionID + "): " + p.Reason
}

// Audit checks that the evidence under the store's prefix is still as
// Create wrote it: no delete markers (someone tried to delete a record), one
// version per key (someone wrote over a record), and every version locked in
// the configured mode (or COMPLIANCE) until at least its write time plus the
// retention, less ClockSkew. Problems are findings in the report; the error
// is for failures to look.
func (s *S3) Audit(ctx context.Context) (*AuditReport, error) {
	versions, markers, err := s.listVersions(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.fetchRetention(ctx, versions); err != nil {
		return nil, err
	}
	report := &AuditReport{Versions: versions, DeleteMarkers: markers}
	for _, m := range markers {
		report.Problems = append(report.Problems, Problem{Key: m.Key, VersionID: m.VersionID,
			Reason: fmt.Sprintf("delete marker added %s: someone tried to delete the record; the locked version is still readable by its id", m.LastModified.UTC().Format(time.RFC3339))})
	}
	perKey := map[string]int{}
	for _, v := range versions {
		perKey[v.Key]++
	}
	first := map[string]bool{}
	for _, v := range versions {
		if n := perKey[v.Key]; n > 1 && first[v.Key] {
			report.Problems = append(report.Problems, Problem{Key: v.Key, VersionID: v.VersionID,
				Reason: fmt.Sprintf("extra version written %s over a write-once record (%d versions)", v.LastModified.UTC().Format(time.RFC3339), n)})
		}
		first[v.Key] = true
		if reason := s.retentionProblem(v); reason != "" {
			report.Problems = append(report.Problems, Problem{Key: v.Key, VersionID: v.VersionID, Reason: reason})
		}
	}
	slices.SortStableFunc(report.Problems, func(a, b Problem) int { return strings.Compare(a.Key, b.Key) })
	return report, nil
}

// retentionProblem says what is wrong with v's lock, or "".
func (s *S3) retentionProblem(v Version) string {
	switch {
	case v.Mode == "":
		return "no Object Lock retention: the version can be deleted"
	case v.Mode != string(types.ObjectLockRetentionModeCompliance) && v.Mode != string(s.mode):
		return fmt.Sprintf("Object Lock mode %s, want %s", v.Mode, s.mode)
	}
	want := v.LastModified.Add(s.retention)
	if v.RetainUntil.Before(want.Add(-ClockSkew)) {
		return fmt.Sprintf("retained until %s, before its write time %s plus the retention %v",
			v.RetainUntil.UTC().Format(time.RFC3339), v.LastModified.UTC().Format(time.RFC3339), s.retention)
	}
	return ""
}

// listVersions returns every version and delete marker under the prefix,
// by key and oldest first within a key.
func (s *S3) listVersions(ctx context.Context) (versions, markers []Version, err error) {
	in := &s3.ListObjectVersionsInput{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix),
	}
	if s.pageSize > 0 {
		in.MaxKeys = aws.Int32(s.pageSize)
	}
	type id struct{ key, version string }
	seen := map[id]bool{}
	add := func(list []Version, key, version string, modified *time.Time, size *int64) []Version {
		rel, ok := strings.CutPrefix(key, s.prefix)
		// versitygw repeats a page's last entry at the top of the next
		// page: count each (key, version id) once.
		if !ok || seen[id{key, version}] {
			return list
		}
		seen[id{key, version}] = true
		return append(list, Version{Key: rel, VersionID: version, LastModified: aws.ToTime(modified), Size: aws.ToInt64(size)})
	}
	for {
		page, err := s.client.ListObjectVersions(ctx, in)
		if err != nil {
			return nil, nil, fmt.Errorf("list the versions under %s: %w", s.Location(), err)
		}
		for _, v := range page.Versions {
			versions = add(versions, aws.ToString(v.Key), aws.ToString(v.VersionId), v.LastModified, v.Size)
		}
		for _, m := range page.DeleteMarkers {
			markers = add(markers, aws.ToString(m.Key), aws.ToString(m.VersionId), m.LastModified, nil)
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		next, nextVersion := aws.ToString(page.NextKeyMarker), aws.ToString(page.NextVersionIdMarker)
		if next == "" || (next == aws.ToString(in.KeyMarker) && nextVersion == aws.ToString(in.VersionIdMarker)) {
			// A page that ends where it started would loop forever.
			return nil, nil, fmt.Errorf("list the versions under %s: the server repeated the page after key %q version %q", s.Location(), next, nextVersion)
		}
		in.KeyMarker, in.VersionIdMarker = aws.String(next), aws.String(nextVersion)
	}
	// S3 lists a key's versions newest first; sort oldest first, keeping
	// the listing's order among versions written in the same second.
	oldestFirst := func(list []Version) {
		slices.Reverse(list)
		slices.SortStableFunc(list, func(a, b Version) int {
			return cmp.Or(strings.Compare(a.Key, b.Key), a.LastModified.Compare(b.LastModified))
		})
	}
	oldestFirst(versions)
	oldestFirst(markers)
	return versions, markers, nil
}

// fetchRetention fills in each version's Object Lock retention, asking
// several at a time.
func (s *S3) fetchRetention(ctx context.Context, versions []Version) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range max(1, s.auditWorkers) {
		wg.Go(func() {
			for i := range work {
				v := &versions[i]
				out, err := s.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{
					Bucket:    aws.String(s.bucket),
					Key:       aws.String(s.prefix + v.Key),
					VersionId: aws.String(v.VersionID),
				})
				switch {
				case err == nil && out.Retention != nil:
					v.Mode = string(out.Retention.Mode)
					v.RetainUntil = aws.ToTime(out.Retention.RetainUntilDate)
				case err == nil || isCode(err, "NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"):
					// No retention: a problem for Audit to report.
				default:
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("read the retention of %s version %s: %w", s.url(s.prefix+v.Key), v.VersionID, err)
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range versions {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}
