package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/promote-dev/promote/internal/clock"
	"io"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/promote-dev/promote/internal/evidence"
)

// DefaultRetention is how long evidence stays locked unless S3Config says
// otherwise: three years of 365 days.
const DefaultRetention = 1095 * 24 * time.Hour

// The Object Lock modes S3Config.Mode accepts.
const (
	// ModeCompliance locks a version for everyone, the root user included,
	// until its retain-until date. It is the default.
	ModeCompliance = "COMPLIANCE"
	// ModeGovernance can be lifted by anyone allowed
	// s3:BypassGovernanceRetention, so it does not make evidence immutable.
	ModeGovernance = "GOVERNANCE"
)

// S3Config says where and how [S3] keeps evidence.
type S3Config struct {
	// Bucket is the bucket's name. It needs Object Lock enabled (and so
	// versioning); CheckBucket says whether it has.
	Bucket string
	// Prefix is the folder inside the bucket that holds the evidence:
	// keys given to Create, Read and List are relative to it. Slashes at
	// either end are ignored; empty means the bucket's root.
	Prefix string
	// Region is the bucket's AWS region; empty means the default chain's
	// (AWS_REGION, the shared config), or us-east-1 with a custom Endpoint.
	Region string
	// Endpoint is the URL of an S3-compatible server instead of AWS, such as
	// versitygw or MinIO. Setting it turns on UsePathStyle.
	Endpoint string
	// UsePathStyle addresses the bucket as https://host/bucket instead of
	// https://bucket.host.
	UsePathStyle bool
	// Retention is how long each record stays locked after it is written;
	// zero means DefaultRetention.
	Retention time.Duration
	// Mode is the Object Lock mode of each record: ModeCompliance (the
	// default) or ModeGovernance, which NewS3 warns about.
	Mode string
	// Credentials signs the requests; nil means the SDK's default chain
	// (environment, shared files, web identity, instance role).
	Credentials aws.CredentialsProvider
	// HTTPClient sends the requests; nil means the SDK's default client,
	// which trusts the certificates in AWS_CA_BUNDLE too.
	HTTPClient *http.Client
	// Now tells the time that retain-until dates count from; nil means
	// time.Now.
	Now func() time.Time
	// CloudTrailEndpoint is the URL of the CloudTrail API that CheckBucket
	// asks about data events; empty means AWS's endpoint for Region, and no
	// CloudTrail check at all when Endpoint is set.
	CloudTrailEndpoint string
}

// S3 is an evidence store in an S3 bucket under Object Lock. Its methods are
// safe for concurrent use.
type S3 struct {
	client     *s3.Client
	cloudTrail *cloudtrail.Client // nil when the bucket is not on AWS
	bucket     string
	prefix     string // "" or ending in "/"
	region     string
	retention  time.Duration
	mode       types.ObjectLockMode
	now        func() time.Time
	warnings   []string

	// pageSize caps the keys per List and Audit page; 0 means the server's
	// default (1,000 on AWS). Tests lower it to cross page boundaries.
	pageSize int32
	// auditWorkers is how many GetObjectRetention calls Audit makes at once.
	auditWorkers int
}

var (
	_ evidence.Store      = (*S3)(nil)
	_ evidence.Identifier = (*S3)(nil)
)

// NewS3 checks cfg and returns a store that writes to its bucket. It makes no
// request: call CheckBucket to see whether the bucket is fit for evidence.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3 store: no bucket: name the bucket that keeps the evidence")
	}
	if cfg.Retention < 0 {
		return nil, fmt.Errorf("s3 store: retention %v is negative: give a positive duration, or zero for the default %v", cfg.Retention, DefaultRetention)
	}
	s := &S3{
		bucket:       cfg.Bucket,
		prefix:       cleanPrefix(cfg.Prefix),
		retention:    cfg.Retention,
		now:          cfg.Now,
		auditWorkers: 8,
	}
	if s.retention == 0 {
		s.retention = DefaultRetention
	}
	if s.now == nil {
		s.now = time.Now
	}
	switch cfg.Mode {
	case "", ModeCompliance:
		s.mode = types.ObjectLockModeCompliance
	case ModeGovernance:
		s.mode = types.ObjectLockModeGovernance
		s.warnings = append(s.warnings, fmt.Sprintf(
			"Object Lock mode %s can be bypassed by anyone allowed s3:BypassGovernanceRetention, so evidence in s3://%s/%s can be deleted; use %s for evidence that must be immutable",
			ModeGovernance, s.bucket, s.prefix, ModeCompliance))
	default:
		return nil, fmt.Errorf("s3 store: unknown Object Lock mode %q: use %s or %s", cfg.Mode, ModeCompliance, ModeGovernance)
	}

	opts := []func(*config.LoadOptions) error{
		// Since January 2025 the SDK adds CRC checksums to every request by
		// default, which S3-compatible servers often reject. Create sets
		// its SHA-256 checksum explicitly instead.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 store: load the AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		if cfg.Endpoint == "" {
			return nil, fmt.Errorf("s3 store: no region for bucket %q: set the region in the configuration or AWS_REGION", cfg.Bucket)
		}
		awsCfg.Region = "us-east-1"
	}
	if cfg.HTTPClient != nil {
		// Set after loading: LoadDefaultConfig fails to add AWS_CA_BUNDLE
		// to a plain *http.Client, and a caller's client is its own.
		awsCfg.HTTPClient = cfg.HTTPClient
	}
	s.region = awsCfg.Region
	s.client = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
		}
		if cfg.UsePathStyle {
			o.UsePathStyle = true
		}
	})
	if cfg.Endpoint == "" || cfg.CloudTrailEndpoint != "" {
		s.cloudTrail = cloudtrail.NewFromConfig(awsCfg, func(o *cloudtrail.Options) {
			if cfg.CloudTrailEndpoint != "" {
				o.BaseEndpoint = aws.String(cfg.CloudTrailEndpoint)
			}
		})
	}
	return s, nil
}

// Warnings returns what is allowed but unwise in the configuration, such as
// GOVERNANCE mode, one sentence each.
func (s *S3) Warnings() []string {
	return append([]string(nil), s.warnings...)
}

// Location returns the store's place as an s3:// URL.
func (s *S3) Location() string {
	return "s3://" + s.bucket + "/" + s.prefix
}

// Identity names the store as "s3/<bucket>/<prefix>" (or "s3/<bucket>"
// without a prefix) for the origin line of the log's checkpoints.
func (s *S3) Identity() string {
	return strings.TrimSuffix("s3/"+s.bucket+"/"+s.prefix, "/")
}

// Create writes data under key once, locked until now plus the retention, and
// returns the new object's version id. If key exists already, in any
// version, the error wraps evidence.ErrExists. If the SDK retried a write
// whose answer was lost, the retry finds its own object and reports
// evidence.ErrExists too: callers that see it re-read the key.
func (s *S3) Create(ctx context.Context, key string, data []byte) (string, error) {
	full, err := s.objectKey(key)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	// Retain-until is sent with whole seconds; round up so that the lock
	// never falls short of the retention.
	until := s.now().Add(s.retention).UTC().Truncate(time.Second).Add(time.Second)
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(full),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String(contentType(key)),
		// Create-only: a second write of the key gets 412.
		IfNoneMatch:               aws.String("*"),
		ObjectLockMode:            s.mode,
		ObjectLockRetainUntilDate: aws.Time(until),
		// AWS rejects a locked upload without a checksum; the SDK sends
		// none by itself with WhenRequired, so set both explicitly.
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		ChecksumSHA256:    aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	}
	var out *s3.PutObjectOutput
	// AWS answers 409 ConditionalRequestConflict while another conditional
	// write of the same key is in flight; once that one settles, a retry
	// either succeeds or gets 412.
	for attempt := 0; ; attempt++ {
		out, err = s.client.PutObject(ctx, in)
		if err == nil || !isCode(err, "ConditionalRequestConflict") || attempt == 4 {
			break
		}
		if _, serr := in.Body.(io.Seeker).Seek(0, io.SeekStart); serr != nil {
			return "", serr
		}
		if werr := (clock.Real{}).Sleep(ctx, time.Duration(50<<attempt)*time.Millisecond); werr != nil {
			return "", fmt.Errorf("create %s: %w", s.url(full), werr)
		}
	}
	switch {
	case isStatus(err, http.StatusPreconditionFailed) || isCode(err, "PreconditionFailed"):
		return "", fmt.Errorf("create %s: %w", s.url(full), evidence.ErrExists)
	case isMissingObjectLock(err):
		return "", fmt.Errorf("create %s: bucket %q has no Object Lock; promote evidence check-bucket says how to enable it: %w", s.url(full), s.bucket, err)
	case err != nil:
		return "", fmt.Errorf("create %s: %w", s.url(full), err)
	case aws.ToString(out.VersionId) == "":
		return "", fmt.Errorf("created %s but the bucket returned no version id, so it cannot be locked: enable Object Lock on bucket %q (promote evidence check-bucket shows how)", s.url(full), s.bucket)
	}
	return aws.ToString(out.VersionId), nil
}

// Read returns the current version of key. The error wraps
// evidence.ErrNotFound when there is none, also when a delete marker hides
// it: Audit tells those apart.
func (s *S3) Read(ctx context.Context, key string) ([]byte, error) {
	return s.read(ctx, key, "")
}

// ReadVersion returns one version of key, as a verifier must: the version
// Create wrote stays readable under its id even if someone added a delete
// marker or another version later. The error wraps evidence.ErrNotFound when
// there is no such version.
func (s *S3) ReadVersion(ctx context.Context, key, versionID string) ([]byte, error) {
	if versionID == "" {
		return nil, fmt.Errorf("read %q: empty version id: pass the id Create or Audit returned", key)
	}
	return s.read(ctx, key, versionID)
}

func (s *S3) read(ctx context.Context, key, versionID string) ([]byte, error) {
	full, err := s.objectKey(key)
	if err != nil {
		return nil, err
	}
	in := &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(full),
		// Make the SDK check the body against the stored checksum.
		ChecksumMode: types.ChecksumModeEnabled,
	}
	what := s.url(full)
	if versionID != "" {
		in.VersionId = aws.String(versionID)
		what += " version " + versionID
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("read %s: %w", what, evidence.ErrNotFound)
		}
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return data, nil
}

// List returns the keys under prefix (relative to the store's prefix, like
// the keys given to Create) that have a current version, sorted.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	in := &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	}
	if s.pageSize > 0 {
		in.MaxKeys = aws.Int32(s.pageSize)
	}
	seen := map[string]bool{}
	var keys []string
	pages := s3.NewListObjectsV2Paginator(s.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", s.url(s.prefix+prefix), err)
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok || key == "" || strings.HasSuffix(key, "/") || seen[key] {
				continue
			}
			seen[key] = true
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// objectKey returns the bucket key of a store key.
func (s *S3) objectKey(key string) (string, error) {
	switch {
	case key == "":
		return "", errors.New("empty key: name the record")
	case !utf8.ValidString(key):
		return "", fmt.Errorf("key %q is not UTF-8", key)
	case strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/"):
		return "", fmt.Errorf("key %q starts or ends with a slash: give a path relative to the store such as \"records/000001.json\"", key)
	}
	return s.prefix + key, nil
}

func (s *S3) url(full string) string {
	return "s3://" + s.bucket + "/" + full
}

// cleanPrefix turns a configured prefix into "" or "dir/".
func cleanPrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// contentType names a record's media type by its key's extension: DSSE
// envelopes are JSON, checkpoints and frontiers are text.
func contentType(key string) string {
	switch path.Ext(key) {
	case ".json":
		return "application/json"
	case ".note", ".txt":
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}
