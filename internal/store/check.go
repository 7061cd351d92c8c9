package store

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Check is one finding of CheckBucket: whether one property that evidence
// relies on holds, what was found, and how to fix it.
type Check struct {
	// Name identifies the check: object-lock, default-retention,
	// versioning, public-access-block or access-audit.
	Name string
	OK   bool
	// Detail says what is configured, or why it could not be told.
	Detail string
	// Fix says how to make the check pass, as an aws CLI command or a
	// console step; empty when OK.
	Fix string
}

// CheckBucket reports whether the bucket is fit to keep evidence: Object
// Lock enabled, a default retention at least as strict as the store's,
// versioning enabled, public access blocked, and access audited by server
// access logging or CloudTrail data events. A check the endpoint or the
// credentials cannot answer fails with a Detail saying so; the error is for
// failures such as a missing bucket or an unreachable endpoint.
func (s *S3) CheckBucket(ctx context.Context) ([]Check, error) {
	bucket := aws.String(s.bucket)
	lock, lockErr := s.client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: bucket})
	versioning, versioningErr := s.client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: bucket})
	public, publicErr := s.client.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: bucket})
	logging, loggingErr := s.client.GetBucketLogging(ctx, &s3.GetBucketLoggingInput{Bucket: bucket})
	// Errors that a check explains (the endpoint lacks the call, the
	// credentials may not make it, nothing is configured) are findings;
	// any other, such as a missing bucket or a network failure, fails the
	// whole check.
	for _, c := range []struct {
		err    error
		absent string
	}{
		{lockErr, "ObjectLockConfigurationNotFoundError"},
		{versioningErr, ""},
		{publicErr, "NoSuchPublicAccessBlockConfiguration"},
		{loggingErr, ""},
	} {
		if c.err != nil && !isNotImplemented(c.err) && !isAccessDenied(c.err) && (c.absent == "" || !isCode(c.err, c.absent)) {
			return nil, fmt.Errorf("check bucket %q: %w", s.bucket, c.err)
		}
	}

	var lockCfg *types.ObjectLockConfiguration
	if lock != nil {
		lockCfg = lock.ObjectLockConfiguration
	}
	var versioningStatus types.BucketVersioningStatus
	if versioning != nil {
		versioningStatus = versioning.Status
	}
	var publicCfg *types.PublicAccessBlockConfiguration
	if public != nil {
		publicCfg = public.PublicAccessBlockConfiguration
	}
	var loggingCfg *types.LoggingEnabled
	if logging != nil {
		loggingCfg = logging.LoggingEnabled
	}
	checks := []Check{
		s.objectLockCheck(lockCfg, lockErr),
		s.defaultRetentionCheck(lockCfg, lockErr),
		s.versioningCheck(versioningStatus, versioningErr),
		s.publicAccessCheck(publicCfg, publicErr),
	}
	checks = append(checks, s.accessAuditCheck(ctx, loggingCfg, loggingErr))
	return checks, nil
}

// unanswered says why a bucket configuration call gave no answer: the
// endpoint lacks the call, or the credentials may not make it.
func unanswered(op, permission string, err error) string {
	if isNotImplemented(err) {
		return fmt.Sprintf("the endpoint does not support %s, so this cannot be checked here", op)
	}
	return fmt.Sprintf("not allowed to call %s: grant %s to check this", op, permission)
}

func (s *S3) objectLockCheck(cfg *types.ObjectLockConfiguration, err error) Check {
	c := Check{Name: "object-lock"}
	switch {
	case err != nil && !isCode(err, "ObjectLockConfigurationNotFoundError"):
		c.Detail = unanswered("GetObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration", err)
	case cfg == nil || cfg.ObjectLockEnabled != types.ObjectLockEnabledEnabled:
		c.Detail = "Object Lock is not enabled: records can be deleted and overwritten"
	default:
		c.OK = true
		c.Detail = "Object Lock is enabled"
		return c
	}
	c.Fix = fmt.Sprintf("enable Object Lock (it also needs versioning): aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled && aws s3api put-object-lock-configuration --bucket %s --object-lock-configuration ObjectLockEnabled=Enabled; or create a new bucket with aws s3api create-bucket --bucket NAME --object-lock-enabled-for-bucket", s.bucket, s.bucket)
	return c
}

func (s *S3) defaultRetentionCheck(cfg *types.ObjectLockConfiguration, err error) Check {
	days := int32(math.Ceil(s.retention.Hours() / 24))
	c := Check{
		Name: "default-retention",
		Fix: fmt.Sprintf(`set a default retention so that objects written by other tools are locked too: aws s3api put-object-lock-configuration --bucket %s --object-lock-configuration '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"%s","Days":%d}}}'`,
			s.bucket, s.mode, days),
	}
	var rule *types.DefaultRetention
	if cfg != nil && cfg.Rule != nil {
		rule = cfg.Rule.DefaultRetention
	}
	switch {
	case err != nil && !isCode(err, "ObjectLockConfigurationNotFoundError"):
		c.Detail = unanswered("GetObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration", err)
		return c
	case cfg == nil || cfg.ObjectLockEnabled != types.ObjectLockEnabledEnabled:
		c.Detail = "no default retention: Object Lock is not enabled"
		return c
	case rule == nil:
		c.Detail = "no default retention: objects written without an explicit retention are not locked"
		return c
	}
	var period time.Duration
	var configured string
	switch {
	case rule.Days != nil:
		period = time.Duration(*rule.Days) * 24 * time.Hour
		configured = fmt.Sprintf("%s for %s", rule.Mode, plural(int(*rule.Days), "day"))
	case rule.Years != nil:
		// Object Lock counts a year as 365 days.
		period = time.Duration(*rule.Years) * 365 * 24 * time.Hour
		configured = fmt.Sprintf("%s for %s", rule.Mode, plural(int(*rule.Years), "year"))
	default:
		configured = fmt.Sprintf("%s with no period", rule.Mode)
	}
	modeOK := rule.Mode == types.ObjectLockRetentionModeCompliance || string(rule.Mode) == string(s.mode)
	switch {
	case !modeOK:
		c.Detail = fmt.Sprintf("default retention %s: mode %s can be bypassed, want %s", configured, rule.Mode, s.mode)
	case period < s.retention:
		c.Detail = fmt.Sprintf("default retention %s is shorter than the store's retention of %s", configured, plural(int(days), "day"))
	default:
		c.OK, c.Fix = true, ""
		c.Detail = "default retention " + configured
	}
	return c
}

func (s *S3) versioningCheck(status types.BucketVersioningStatus, err error) Check {
	c := Check{Name: "versioning"}
	switch {
	case err != nil:
		c.Detail = unanswered("GetBucketVersioning", "s3:GetBucketVersioning", err)
	case status == types.BucketVersioningStatusEnabled:
		c.OK = true
		c.Detail = "versioning is enabled"
		return c
	case status == "":
		c.Detail = "versioning has never been enabled: a write replaces the object"
	default:
		c.Detail = fmt.Sprintf("versioning is %s: a write replaces the object", status)
	}
	c.Fix = fmt.Sprintf("aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled", s.bucket)
	return c
}

func (s *S3) publicAccessCheck(cfg *types.PublicAccessBlockConfiguration, err error) Check {
	c := Check{
		Name: "public-access-block",
		Fix: fmt.Sprintf("aws s3api put-public-access-block --bucket %s --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true (or turn on Block Public Access for the whole account in the S3 console)",
			s.bucket),
	}
	switch {
	case err != nil && !isCode(err, "NoSuchPublicAccessBlockConfiguration"):
		c.Detail = unanswered("GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock", err)
		return c
	case cfg == nil:
		c.Detail = "the bucket has no public access block (an account-wide block is not checked here)"
		return c
	}
	var off []string
	for _, f := range []struct {
		name string
		on   *bool
	}{
		{"BlockPublicAcls", cfg.BlockPublicAcls},
		{"IgnorePublicAcls", cfg.IgnorePublicAcls},
		{"BlockPublicPolicy", cfg.BlockPublicPolicy},
		{"RestrictPublicBuckets", cfg.RestrictPublicBuckets},
	} {
		if !aws.ToBool(f.on) {
			off = append(off, f.name)
		}
	}
	if len(off) > 0 {
		c.Detail = "public access is not fully blocked: " + strings.Join(off, ", ") + " off"
		return c
	}
	c.OK, c.Fix = true, ""
	c.Detail = "all four public access block settings are on"
	return c
}

// accessAuditCheck passes when server access logging or CloudTrail data
// events record who reads and writes the evidence; either is enough.
func (s *S3) accessAuditCheck(ctx context.Context, logging *types.LoggingEnabled, loggingErr error) Check {
	c := Check{Name: "access-audit"}
	var loggingDetail string
	switch {
	case loggingErr != nil:
		loggingDetail = "server access logging: " + unanswered("GetBucketLogging", "s3:GetBucketLogging", loggingErr)
	case logging == nil:
		loggingDetail = "server access logging is off"
	default:
		c.OK = true
		loggingDetail = fmt.Sprintf("server access logs go to s3://%s/%s", aws.ToString(logging.TargetBucket), aws.ToString(logging.TargetPrefix))
	}
	trail := s.cloudTrailCoverage(ctx)
	c.OK = c.OK || trail.ok
	c.Detail = loggingDetail + "; " + trail.detail
	if !c.OK {
		c.Fix = fmt.Sprintf(`turn on server access logging: aws s3api put-bucket-logging --bucket %s --bucket-logging-status '{"LoggingEnabled":{"TargetBucket":"LOG-BUCKET","TargetPrefix":"%s/"}}'; or log S3 data events (reads and writes) for arn:%s:s3:::%s/%s in a CloudTrail trail (console: CloudTrail > Trails > Data events > S3)`,
			s.bucket, s.bucket, partition(s.region), s.bucket, s.prefix)
	}
	return c
}

// plural returns "1 day", "2 days".
func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
