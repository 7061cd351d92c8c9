package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
)

// trailFinding is what CloudTrail says about the evidence's data events.
type trailFinding struct {
	ok     bool
	detail string
}

// cloudTrailCoverage asks CloudTrail whether a logging trail in the bucket's
// region records data events for reads and writes of every evidence object.
// Trouble reading CloudTrail is a finding, not an error: server access
// logging may still pass the check.
func (s *S3) cloudTrailCoverage(ctx context.Context) trailFinding {
	if s.cloudTrail == nil {
		return trailFinding{detail: "CloudTrail is not checked: the bucket is on a custom endpoint, not on AWS"}
	}
	objects := fmt.Sprintf("arn:%s:s3:::%s/%s", partition(s.region), s.bucket, s.prefix)
	trails, err := s.cloudTrail.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
	if err != nil {
		if isAccessDenied(err) {
			return trailFinding{detail: "CloudTrail: not allowed to call DescribeTrails: grant cloudtrail:DescribeTrails, cloudtrail:GetEventSelectors and cloudtrail:GetTrailStatus to check this"}
		}
		return trailFinding{detail: fmt.Sprintf("CloudTrail: cannot list trails: %v", err)}
	}
	var read, write, notes []string
	for _, t := range trails.TrailList {
		name := cmp.Or(aws.ToString(t.TrailARN), aws.ToString(t.Name))
		sel, err := s.cloudTrail.GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String(name)})
		if err != nil {
			notes = append(notes, fmt.Sprintf("cannot read the event selectors of trail %q: %v", aws.ToString(t.Name), err))
			continue
		}
		r, w := selectorCoverage(sel.EventSelectors, sel.AdvancedEventSelectors, objects)
		if !r && !w {
			continue
		}
		status, err := s.cloudTrail.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(name)})
		if err != nil {
			notes = append(notes, fmt.Sprintf("cannot read the status of trail %q: %v", aws.ToString(t.Name), err))
			continue
		}
		if !aws.ToBool(status.IsLogging) {
			notes = append(notes, fmt.Sprintf("trail %q would log the evidence's data events but is stopped", aws.ToString(t.Name)))
			continue
		}
		if r {
			read = append(read, aws.ToString(t.Name))
		}
		if w {
			write = append(write, aws.ToString(t.Name))
		}
	}
	f := trailFinding{ok: len(read) > 0 && len(write) > 0}
	switch {
	case f.ok:
		f.detail = fmt.Sprintf("CloudTrail logs reads of %s in trail %s and writes in trail %s", objects, strings.Join(read, ", "), strings.Join(write, ", "))
	case len(read) > 0:
		f.detail = fmt.Sprintf("CloudTrail logs only reads of %s (trail %s), not writes", objects, strings.Join(read, ", "))
	case len(write) > 0:
		f.detail = fmt.Sprintf("CloudTrail logs only writes of %s (trail %s), not reads", objects, strings.Join(write, ", "))
	default:
		f.detail = fmt.Sprintf("no logging CloudTrail trail in %s records data events for %s", s.region, objects)
	}
	if len(notes) > 0 {
		f.detail += " (" + strings.Join(notes, "; ") + ")"
	}
	return f
}

// selectorCoverage reports whether a trail's event selectors log data events
// for reads and for writes of every object whose ARN starts with objects
// ("arn:aws:s3:::bucket/prefix/"). A selector that narrows the events in a
// way not understood here, such as by event name or user, counts for
// nothing: the check errs towards failing.
func selectorCoverage(basic []cttypes.EventSelector, advanced []cttypes.AdvancedEventSelector, objects string) (read, write bool) {
	bucketARN, _, _ := strings.Cut(objects, "/")
	allS3, _, _ := strings.Cut(bucketARN, ":::") // "arn:aws:s3"
	for _, sel := range basic {
		covered := false
		for _, dr := range sel.DataResources {
			if aws.ToString(dr.Type) != "AWS::S3::Object" {
				continue
			}
			for _, v := range dr.Values {
				if v == allS3 || v == allS3+":::" || v == bucketARN ||
					(strings.HasPrefix(v, bucketARN+"/") && strings.HasPrefix(objects, v)) {
					covered = true
				}
			}
		}
		if !covered {
			continue
		}
		switch sel.ReadWriteType {
		case cttypes.ReadWriteTypeReadOnly:
			read = true
		case cttypes.ReadWriteTypeWriteOnly:
			write = true
		default: // All, the default
			read, write = true, true
		}
	}
	for _, sel := range advanced {
		r, w := advancedCoverage(sel.FieldSelectors, objects)
		read, write = read || r, write || w
	}
	return read, write
}

// advancedCoverage evaluates one advanced event selector, whose field
// selectors must all match an event for it to be logged.
func advancedCoverage(fields []cttypes.AdvancedFieldSelector, objects string) (read, write bool) {
	data, s3Objects := false, false
	read, write = true, true
	for _, f := range fields {
		switch aws.ToString(f.Field) {
		case "eventCategory":
			data = slices.Contains(f.Equals, "Data") && only(f, "Equals")
		case "resources.type":
			s3Objects = slices.Contains(f.Equals, "AWS::S3::Object") && only(f, "Equals")
		case "eventSource":
			if !(slices.Contains(f.Equals, "s3.amazonaws.com") && only(f, "Equals")) {
				return false, false
			}
		case "readOnly":
			switch {
			case only(f, "Equals") && slices.Equal(f.Equals, []string{"true"}),
				only(f, "NotEquals") && slices.Equal(f.NotEquals, []string{"false"}):
				write = false
			case only(f, "Equals") && slices.Equal(f.Equals, []string{"false"}),
				only(f, "NotEquals") && slices.Equal(f.NotEquals, []string{"true"}):
				read = false
			default:
				return false, false
			}
		case "resources.ARN":
			if !arnCovers(f, objects) {
				return false, false
			}
		default:
			// eventName, userIdentity.arn, errorCode…: some events of
			// the evidence would go unlogged.
			return false, false
		}
	}
	if !data || !s3Objects {
		return false, false
	}
	return read, write
}

// arnCovers reports whether a resources.ARN field selector keeps every
// object whose ARN starts with objects.
func arnCovers(f cttypes.AdvancedFieldSelector, objects string) bool {
	if len(f.Equals) > 0 || len(f.EndsWith) > 0 || len(f.NotEndsWith) > 0 {
		// Exact ARNs and suffixes cannot cover records not written yet,
		// and a suffix exclusion may drop some.
		return false
	}
	for _, v := range f.NotStartsWith {
		if strings.HasPrefix(objects, v) || strings.HasPrefix(v, objects) {
			return false
		}
	}
	for _, v := range f.NotEquals {
		if strings.HasPrefix(v, objects) {
			return false
		}
	}
	if len(f.StartsWith) == 0 {
		return true
	}
	for _, v := range f.StartsWith {
		if strings.HasPrefix(objects, v) {
			return true
		}
	}
	return false
}

// only reports whether the field selector uses no operator but op.
func only(f cttypes.AdvancedFieldSelector, op string) bool {
	ops := map[string]int{
		"Equals": len(f.Equals), "NotEquals": len(f.NotEquals),
		"StartsWith": len(f.StartsWith), "NotStartsWith": len(f.NotStartsWith),
		"EndsWith": len(f.EndsWith), "NotEndsWith": len(f.NotEndsWith),
	}
	for name, n := range ops {
		if name != op && n > 0 {
			return false
		}
	}
	return ops[op] > 0
}

// partition returns the AWS partition of a region, for ARNs.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}
