package store

import (
	"context"
	"errors"
	"github.com/promote-dev/promote/internal/store/storetest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// versitygw lacks these two calls; on AWS they answer.
const (
	noPublicAccessBlock = "the endpoint does not support GetPublicAccessBlock, so this cannot be checked here"
	noLogging           = "server access logging: the endpoint does not support GetBucketLogging, so this cannot be checked here; CloudTrail is not checked: the bucket is on a custom endpoint, not on AWS"
)

func TestCheckBucket(t *testing.T) {
	t.Parallel()
	g := gateway(t)
	ctx := context.Background()
	defaultRetention := func(mode types.ObjectLockRetentionMode, days int32) func(t *testing.T, c *s3.Client, bucket string) {
		return func(t *testing.T, c *s3.Client, bucket string) {
			_, err := c.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{
				Bucket: aws.String(bucket),
				ObjectLockConfiguration: &types.ObjectLockConfiguration{
					ObjectLockEnabled: types.ObjectLockEnabledEnabled,
					Rule:              &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: mode, Days: aws.Int32(days)}},
				},
			})
			if err != nil {
				t.Fatalf("PutObjectLockConfiguration() = %v", err)
			}
		}
	}
	tests := []struct {
		what      string
		plain     bool // a bucket without Object Lock
		retention time.Duration
		setup     func(t *testing.T, c *s3.Client, bucket string)
		trails    []fakeTrail
		want      []Check
	}{
		{
			what: "Object Lock without a default retention",
			want: []Check{
				{Name: "object-lock", OK: true, Detail: "Object Lock is enabled"},
				{Name: "default-retention", Detail: "no default retention: objects written without an explicit retention are not locked"},
				{Name: "versioning", OK: true, Detail: "versioning is enabled"},
				{Name: "public-access-block", Detail: noPublicAccessBlock},
				{Name: "access-audit", Detail: noLogging},
			},
		},
		{
			what:  "default retention",
			setup: defaultRetention(types.ObjectLockRetentionModeCompliance, 1),
			want: []Check{
				{Name: "object-lock", OK: true, Detail: "Object Lock is enabled"},
				{Name: "default-retention", OK: true, Detail: "default retention COMPLIANCE for 1 day"},
				{Name: "versioning", OK: true, Detail: "versioning is enabled"},
				{Name: "public-access-block", Detail: noPublicAccessBlock},
				{Name: "access-audit", Detail: noLogging},
			},
		},
		{
			what:      "default retention shorter than the store's",
			retention: 36 * time.Hour,
			setup:     defaultRetention(types.ObjectLockRetentionModeCompliance, 1),
			want: []Check{
				{Name: "object-lock", OK: true, Detail: "Object Lock is enabled"},
				{Name: "default-retention", Detail: "default retention COMPLIANCE for 1 day is shorter than the store's retention of 2 days"},
				{Name: "versioning", OK: true, Detail: "versioning is enabled"},
				{Name: "public-access-block", Detail: noPublicAccessBlock},
				{Name: "access-audit", Detail: noLogging},
			},
		},
		{
			what:  "default retention in governance mode",
			setup: defaultRetention(types.ObjectLockRetentionModeGovernance, 30),
			want: []Check{
				{Name: "object-lock", OK: true, Detail: "Object Lock is enabled"},
				{Name: "default-retention", Detail: "default retention GOVERNANCE for 30 days: mode GOVERNANCE can be bypassed, want COMPLIANCE"},
				{Name: "versioning", OK: true, Detail: "versioning is enabled"},
				{Name: "public-access-block", Detail: noPublicAccessBlock},
				{Name: "access-audit", Detail: noLogging},
			},
		},
		{
			what:   "CloudTrail data events",
			setup:  defaultRetention(types.ObjectLockRetentionModeCompliance, 1),
			trails: []fakeTrail{{name: "org", selectors: allObjects, logging: true}},
			want: []Check{
				{Name: "object-lock", OK: true, Detail: "Object Lock is enabled"},
				{Name: "default-retention", OK: true, Detail: "default retention COMPLIANCE for 1 day"},
				{Name: "versioning", OK: true, Detail: "versioning is enabled"},
				{Name: "public-access-block", Detail: noPublicAccessBlock},
				{Name: "access-audit", OK: true, Detail: "server access logging: the endpoint does not support GetBucketLogging, so this cannot be checked here; " +
					"CloudTrail logs reads of arn:aws:s3:::BUCKET/promote/evidence/ in trail org and writes in trail org"},
			},
		},
		{
			what:  "no Object Lock",
			plain: true,
			want: []Check{
				{Name: "object-lock", Detail: "Object Lock is not enabled: records can be deleted and overwritten"},
				{Name: "default-retention", Detail: "no default retention: Object Lock is not enabled"},
				{Name: "versioning", Detail: "versioning has never been enabled: a write replaces the object"},
				{Name: "public-access-block", Detail: noPublicAccessBlock},
				{Name: "access-audit", Detail: noLogging},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			cfg := g.config(t, !tt.plain)
			if tt.retention != 0 {
				cfg.Retention = tt.retention
			}
			if tt.setup != nil {
				tt.setup(t, g.client(t), cfg.Bucket)
			}
			if tt.trails != nil {
				cfg.CloudTrailEndpoint, _ = fakeCloudTrail(t, tt.trails, "")
			}
			s, err := NewS3(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.CheckBucket(ctx)
			if err != nil {
				t.Fatalf("CheckBucket() = %v", err)
			}
			for i := range tt.want {
				tt.want[i].Detail = strings.ReplaceAll(tt.want[i].Detail, "BUCKET", cfg.Bucket)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Check{}, "Fix")); diff != "" {
				t.Errorf("CheckBucket() (-want +got):\n%s", diff)
			}
			for _, c := range got {
				if c.OK != (c.Fix == "") {
					t.Errorf("CheckBucket() check %s: OK %v with Fix %q", c.Name, c.OK, c.Fix)
				}
			}
		})
	}
}

func TestCheckBucketMissing(t *testing.T) {
	t.Parallel()
	g := gateway(t)
	s, err := NewS3(context.Background(), S3Config{Bucket: "no-such-bucket", Endpoint: g.Endpoint, Credentials: storetest.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	checks, err := s.CheckBucket(context.Background())
	var noBucket *types.NoSuchBucket
	if !errors.As(err, &noBucket) && !isCode(err, "NoSuchBucket") {
		t.Errorf("CheckBucket() = %v, %v, want a NoSuchBucket error", checks, err)
	}
}

// TestChecks covers the answers versitygw cannot give: those of AWS.
func TestChecks(t *testing.T) {
	t.Parallel()
	s := &S3{bucket: "evidence", prefix: "promote/", region: "eu-west-1", mode: types.ObjectLockModeCompliance, retention: DefaultRetention}
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access Denied"}
	on, off := aws.Bool(true), aws.Bool(false)
	years := func(mode types.ObjectLockRetentionMode, n int32) *types.ObjectLockConfiguration {
		return &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled,
			Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: mode, Years: aws.Int32(n)}}}
	}
	tests := []struct {
		what string
		got  Check
		want Check
	}{
		{
			what: "public access blocked",
			got:  s.publicAccessCheck(&types.PublicAccessBlockConfiguration{BlockPublicAcls: on, IgnorePublicAcls: on, BlockPublicPolicy: on, RestrictPublicBuckets: on}, nil),
			want: Check{Name: "public-access-block", OK: true, Detail: "all four public access block settings are on"},
		},
		{
			what: "public access partly blocked",
			got:  s.publicAccessCheck(&types.PublicAccessBlockConfiguration{BlockPublicAcls: on, IgnorePublicAcls: off, BlockPublicPolicy: on}, nil),
			want: Check{Name: "public-access-block", Detail: "public access is not fully blocked: IgnorePublicAcls, RestrictPublicBuckets off"},
		},
		{
			what: "no public access block",
			got:  s.publicAccessCheck(nil, &smithy.GenericAPIError{Code: "NoSuchPublicAccessBlockConfiguration"}),
			want: Check{Name: "public-access-block", Detail: "the bucket has no public access block (an account-wide block is not checked here)"},
		},
		{
			what: "public access block not allowed",
			got:  s.publicAccessCheck(nil, denied),
			want: Check{Name: "public-access-block", Detail: "not allowed to call GetPublicAccessBlock: grant s3:GetBucketPublicAccessBlock to check this"},
		},
		{
			what: "versioning suspended",
			got:  s.versioningCheck(types.BucketVersioningStatusSuspended, nil),
			want: Check{Name: "versioning", Detail: "versioning is Suspended: a write replaces the object"},
		},
		{
			what: "Object Lock not allowed",
			got:  s.objectLockCheck(nil, denied),
			want: Check{Name: "object-lock", Detail: "not allowed to call GetObjectLockConfiguration: grant s3:GetBucketObjectLockConfiguration to check this"},
		},
		{
			what: "default retention in years",
			got:  s.defaultRetentionCheck(years(types.ObjectLockRetentionModeCompliance, 3), nil),
			want: Check{Name: "default-retention", OK: true, Detail: "default retention COMPLIANCE for 3 years"},
		},
		{
			what: "default retention too short in years",
			got:  s.defaultRetentionCheck(years(types.ObjectLockRetentionModeCompliance, 1), nil),
			want: Check{Name: "default-retention", Detail: "default retention COMPLIANCE for 1 year is shorter than the store's retention of 1095 days"},
		},
		{
			what: "server access logging",
			got:  s.accessAuditCheck(context.Background(), &types.LoggingEnabled{TargetBucket: aws.String("logs"), TargetPrefix: aws.String("evidence/")}, nil),
			want: Check{Name: "access-audit", OK: true, Detail: "server access logs go to s3://logs/evidence/; CloudTrail is not checked: the bucket is on a custom endpoint, not on AWS"},
		},
		{
			what: "no access audit",
			got:  s.accessAuditCheck(context.Background(), nil, nil),
			want: Check{Name: "access-audit", Detail: "server access logging is off; CloudTrail is not checked: the bucket is on a custom endpoint, not on AWS"},
		},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.got, cmpopts.IgnoreFields(Check{}, "Fix")); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.what, diff)
		}
		if tt.got.OK != (tt.got.Fix == "") {
			t.Errorf("%s: OK %v with Fix %q", tt.what, tt.got.OK, tt.got.Fix)
		}
	}
	fixes := []struct{ what, got, want string }{
		{"default retention", s.defaultRetentionCheck(nil, nil).Fix,
			`set a default retention so that objects written by other tools are locked too: aws s3api put-object-lock-configuration --bucket evidence --object-lock-configuration '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Days":1095}}}'`},
		{"access audit", s.accessAuditCheck(context.Background(), nil, nil).Fix,
			`turn on server access logging: aws s3api put-bucket-logging --bucket evidence --bucket-logging-status '{"LoggingEnabled":{"TargetBucket":"LOG-BUCKET","TargetPrefix":"evidence/"}}'; or log S3 data events (reads and writes) for arn:aws:s3:::evidence/promote/ in a CloudTrail trail (console: CloudTrail > Trails > Data events > S3)`},
	}
	for _, f := range fixes {
		if f.got != f.want {
			t.Errorf("%s: Fix = %q, want %q", f.what, f.got, f.want)
		}
	}
}
