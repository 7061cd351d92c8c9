package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/promote-dev/promote/internal/git/gittest"
	"github.com/promote-dev/promote/internal/store/storetest"
)

// TestEvidenceS3 promotes with evidence in an Object-Lock bucket on
// versitygw, verifies it (chain and object versions), checks the bucket,
// and catches a delete marker that another client adds.
func TestEvidenceS3(t *testing.T) {
	t.Parallel()
	gw, dir, manifest, getenv := s3EvidenceRepo(t)
	ctx := context.Background()

	r := promote(t, getenv, "run", "--manifest", manifest, "--status-file", filepath.Join(dir, "status.json"), "--heartbeat", "0")
	if r.code != ExitOK || !strings.Contains(r.stdout, "Sealed 4 evidence records in s3://evidence/promote") {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r = promote(t, getenv, "evidence", "verify", "--manifest", manifest); r.code != ExitOK || !strings.Contains(r.stdout, "4 records") {
		t.Fatalf("verify: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// versitygw has Object Lock and versioning, but no public access block
	// or access logging API: those checks fail, saying so.
	r = promote(t, getenv, "evidence", "check-bucket", "--manifest", manifest)
	if r.code != ExitFindings || !strings.Contains(r.stdout, "PASS object-lock") || !strings.Contains(r.stdout, "FAIL public-access-block") {
		t.Errorf("check-bucket: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// Someone deletes a record without a version id: S3 keeps the locked
	// version and adds a delete marker, which verify reports.
	if _, err := gw.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("evidence"), Key: aws.String("promote/records/00000000000000000002.dsse.json")}); err != nil {
		t.Fatal(err)
	}
	r = promote(t, getenv, "evidence", "verify", "--manifest", manifest)
	if r.code != ExitFindings || !strings.Contains(r.stdout, "00000000000000000002") {
		t.Errorf("verify after a delete marker: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// s3EvidenceRepo starts versitygw with an Object-Lock bucket and returns
// it with a repository whose manifest keeps evidence there (retention one
// day) and the environment with its credentials. It skips the test without
// VERSITYGW.
func s3EvidenceRepo(t *testing.T) (gw *storetest.Gateway, dir, manifest string, getenv func(string) string) {
	t.Helper()
	bin := os.Getenv("VERSITYGW")
	if bin == "" {
		t.Skip("set VERSITYGW to a versitygw binary; make test does")
	}
	gw = storetest.StartWithBucket(t, bin, "evidence")
	yaml := strings.Replace(evidenceManifest, "  store: file://.promote/evidence\n",
		"  store: s3://evidence/promote\n  region: us-east-1\n  endpoint: "+gw.Endpoint+"\n  retention_days: 1\n", 1)
	dir = gittest.Init(t, map[string]string{"promotion.yaml": yaml})
	env := map[string]string{"AWS_ACCESS_KEY_ID": storetest.AccessKey, "AWS_SECRET_ACCESS_KEY": storetest.SecretKey}
	return gw, dir, filepath.Join(dir, "promotion.yaml"), func(k string) string { return env[k] }
}
