package store

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/google/go-cmp/cmp"
)

func TestSelectorCoverage(t *testing.T) {
	t.Parallel()
	const objects = "arn:aws:s3:::evidence/promote/"
	basic := func(rw cttypes.ReadWriteType, typ string, values ...string) []cttypes.EventSelector {
		return []cttypes.EventSelector{{ReadWriteType: rw, DataResources: []cttypes.DataResource{{Type: aws.String(typ), Values: values}}}}
	}
	field := func(name string, edit func(*cttypes.AdvancedFieldSelector)) cttypes.AdvancedFieldSelector {
		f := cttypes.AdvancedFieldSelector{Field: aws.String(name)}
		edit(&f)
		return f
	}
	equals := func(name string, values ...string) cttypes.AdvancedFieldSelector {
		return field(name, func(f *cttypes.AdvancedFieldSelector) { f.Equals = values })
	}
	data := []cttypes.AdvancedFieldSelector{equals("eventCategory", "Data"), equals("resources.type", "AWS::S3::Object")}
	advanced := func(extra ...cttypes.AdvancedFieldSelector) []cttypes.AdvancedEventSelector {
		return []cttypes.AdvancedEventSelector{{FieldSelectors: append(append([]cttypes.AdvancedFieldSelector(nil), data...), extra...)}}
	}
	tests := []struct {
		what        string
		basic       []cttypes.EventSelector
		advanced    []cttypes.AdvancedEventSelector
		read, write bool
	}{
		{what: "no selectors"},
		{what: "basic, all buckets", basic: basic(cttypes.ReadWriteTypeAll, "AWS::S3::Object", "arn:aws:s3"), read: true, write: true},
		{what: "basic, all buckets with colons", basic: basic("", "AWS::S3::Object", "arn:aws:s3:::"), read: true, write: true},
		{what: "basic, the bucket", basic: basic(cttypes.ReadWriteTypeAll, "AWS::S3::Object", "arn:aws:s3:::evidence/"), read: true, write: true},
		{what: "basic, a wider prefix", basic: basic(cttypes.ReadWriteTypeReadOnly, "AWS::S3::Object", "arn:aws:s3:::evidence/pro"), read: true},
		{what: "basic, writes", basic: basic(cttypes.ReadWriteTypeWriteOnly, "AWS::S3::Object", "arn:aws:s3:::evidence/"), write: true},
		{what: "basic, a narrower prefix", basic: basic(cttypes.ReadWriteTypeAll, "AWS::S3::Object", "arn:aws:s3:::evidence/promote/records/")},
		{what: "basic, a bucket whose name starts alike", basic: basic(cttypes.ReadWriteTypeAll, "AWS::S3::Object", "arn:aws:s3:::evidence-logs/")},
		{what: "basic, Lambda", basic: basic(cttypes.ReadWriteTypeAll, "AWS::Lambda::Function", "arn:aws:lambda")},
		{what: "basic, another partition", basic: basic(cttypes.ReadWriteTypeAll, "AWS::S3::Object", "arn:aws-cn:s3")},
		{what: "advanced, all S3 objects", advanced: advanced(), read: true, write: true},
		{what: "advanced, reads", advanced: advanced(equals("readOnly", "true")), read: true},
		{what: "advanced, writes", advanced: advanced(field("readOnly", func(f *cttypes.AdvancedFieldSelector) { f.NotEquals = []string{"true"} })), write: true},
		{what: "advanced, the bucket", advanced: advanced(field("resources.ARN", func(f *cttypes.AdvancedFieldSelector) {
			f.StartsWith = []string{"arn:aws:s3:::other/", "arn:aws:s3:::evidence/"}
		})), read: true, write: true},
		{what: "advanced, another bucket", advanced: advanced(field("resources.ARN", func(f *cttypes.AdvancedFieldSelector) {
			f.StartsWith = []string{"arn:aws:s3:::other/"}
		}))},
		{what: "advanced, records excluded", advanced: advanced(field("resources.ARN", func(f *cttypes.AdvancedFieldSelector) {
			f.NotStartsWith = []string{"arn:aws:s3:::evidence/promote/records/"}
		}))},
		{what: "advanced, another bucket excluded", advanced: advanced(field("resources.ARN", func(f *cttypes.AdvancedFieldSelector) {
			f.NotStartsWith = []string{"arn:aws:s3:::other/"}
		})), read: true, write: true},
		{what: "advanced, exact objects", advanced: advanced(equals("resources.ARN", "arn:aws:s3:::evidence/promote/records/1.json"))},
		{what: "advanced, some event names", advanced: advanced(equals("eventName", "PutObject"))},
		{what: "advanced, S3 as the event source", advanced: advanced(equals("eventSource", "s3.amazonaws.com")), read: true, write: true},
		{what: "advanced, management events", advanced: []cttypes.AdvancedEventSelector{{FieldSelectors: []cttypes.AdvancedFieldSelector{equals("eventCategory", "Management")}}}},
		{what: "advanced, S3 buckets, not objects", advanced: []cttypes.AdvancedEventSelector{{FieldSelectors: []cttypes.AdvancedFieldSelector{
			equals("eventCategory", "Data"), equals("resources.type", "AWS::S3Express::Object")}}}},
		{what: "basic reads and advanced writes", basic: basic(cttypes.ReadWriteTypeReadOnly, "AWS::S3::Object", "arn:aws:s3"),
			advanced: advanced(equals("readOnly", "false")), read: true, write: true},
	}
	for _, tt := range tests {
		read, write := selectorCoverage(tt.basic, tt.advanced, objects)
		if read != tt.read || write != tt.write {
			t.Errorf("%s: selectorCoverage() = %v, %v, want %v, %v", tt.what, read, write, tt.read, tt.write)
		}
	}
}

// fakeTrail is a trail of the fake CloudTrail API.
type fakeTrail struct {
	name      string
	selectors string // GetEventSelectors' answer, JSON; "" fails the call
	logging   bool
}

// fakeCloudTrail serves the three CloudTrail calls CheckBucket makes, as
// AWS's JSON 1.1 protocol does. describeErr, if set, is the error code of
// DescribeTrails.
func fakeCloudTrail(t *testing.T, trails []fakeTrail, describeErr string) (url string, calls func() []string) {
	t.Helper()
	var (
		mu  sync.Mutex
		log []string
	)
	arn := func(name string) string { return "arn:aws:cloudtrail:eu-west-1:123456789012:trail/" + name }
	fail := func(w http.ResponseWriter, code string) {
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": "fake " + code})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ TrailName, Name string }
		json.NewDecoder(r.Body).Decode(&in)
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "CloudTrail_20131101.")
		mu.Lock()
		log = append(log, strings.TrimSpace(op+" "+in.TrailName+in.Name))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		find := func(a string) *fakeTrail {
			for i := range trails {
				if arn(trails[i].name) == a {
					return &trails[i]
				}
			}
			return nil
		}
		switch op {
		case "DescribeTrails":
			if describeErr != "" {
				fail(w, describeErr)
				return
			}
			var list []map[string]string
			for _, tr := range trails {
				list = append(list, map[string]string{"Name": tr.name, "TrailARN": arn(tr.name), "HomeRegion": "eu-west-1"})
			}
			json.NewEncoder(w).Encode(map[string]any{"trailList": list})
		case "GetEventSelectors":
			tr := find(in.TrailName)
			if tr == nil || tr.selectors == "" {
				fail(w, "TrailNotFoundException")
				return
			}
			w.Write([]byte(tr.selectors))
		case "GetTrailStatus":
			tr := find(in.Name)
			if tr == nil {
				fail(w, "TrailNotFoundException")
				return
			}
			json.NewEncoder(w).Encode(map[string]bool{"IsLogging": tr.logging})
		default:
			fail(w, "UnknownOperationException")
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), log...)
	}
}

const (
	allObjects = `{"AdvancedEventSelectors":[{"Name":"s3","FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.type","Equals":["AWS::S3::Object"]}]}]}`
	readsOnly  = `{"EventSelectors":[{"ReadWriteType":"ReadOnly","DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3:::evidence/"]}]}]}`
	writesOnly = `{"EventSelectors":[{"ReadWriteType":"WriteOnly","DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3:::evidence/promote/"]}]}]}`
	management = `{"EventSelectors":[{"ReadWriteType":"All","IncludeManagementEvents":true}]}`
)

func TestCloudTrailCoverage(t *testing.T) {
	t.Parallel()
	arn := func(name string) string { return "arn:aws:cloudtrail:eu-west-1:123456789012:trail/" + name }
	tests := []struct {
		what        string
		trails      []fakeTrail
		describeErr string
		want        trailFinding
		wantCalls   []string
	}{
		{
			what:      "no trails",
			want:      trailFinding{detail: "no logging CloudTrail trail in eu-west-1 records data events for arn:aws:s3:::evidence/promote/"},
			wantCalls: []string{"DescribeTrails"},
		},
		{
			what:      "a trail of all S3 data events",
			trails:    []fakeTrail{{name: "org", selectors: allObjects, logging: true}},
			want:      trailFinding{ok: true, detail: "CloudTrail logs reads of arn:aws:s3:::evidence/promote/ in trail org and writes in trail org"},
			wantCalls: []string{"DescribeTrails", "GetEventSelectors " + arn("org"), "GetTrailStatus " + arn("org")},
		},
		{
			what: "reads in one trail, writes in another",
			trails: []fakeTrail{
				{name: "mgmt", selectors: management, logging: true},
				{name: "reads", selectors: readsOnly, logging: true},
				{name: "writes", selectors: writesOnly, logging: true},
			},
			want: trailFinding{ok: true, detail: "CloudTrail logs reads of arn:aws:s3:::evidence/promote/ in trail reads and writes in trail writes"},
			wantCalls: []string{"DescribeTrails", "GetEventSelectors " + arn("mgmt"), "GetEventSelectors " + arn("reads"), "GetTrailStatus " + arn("reads"),
				"GetEventSelectors " + arn("writes"), "GetTrailStatus " + arn("writes")},
		},
		{
			what:      "reads only",
			trails:    []fakeTrail{{name: "reads", selectors: readsOnly, logging: true}},
			want:      trailFinding{detail: "CloudTrail logs only reads of arn:aws:s3:::evidence/promote/ (trail reads), not writes"},
			wantCalls: []string{"DescribeTrails", "GetEventSelectors " + arn("reads"), "GetTrailStatus " + arn("reads")},
		},
		{
			what:      "a stopped trail",
			trails:    []fakeTrail{{name: "org", selectors: allObjects}},
			want:      trailFinding{detail: `no logging CloudTrail trail in eu-west-1 records data events for arn:aws:s3:::evidence/promote/ (trail "org" would log the evidence's data events but is stopped)`},
			wantCalls: []string{"DescribeTrails", "GetEventSelectors " + arn("org"), "GetTrailStatus " + arn("org")},
		},
		{
			what:      "selectors unreadable for one trail",
			trails:    []fakeTrail{{name: "gone"}, {name: "org", selectors: allObjects, logging: true}},
			want:      trailFinding{ok: true, detail: `CloudTrail logs reads of arn:aws:s3:::evidence/promote/ in trail org and writes in trail org (cannot read the event selectors of trail "gone": `},
			wantCalls: []string{"DescribeTrails", "GetEventSelectors " + arn("gone"), "GetEventSelectors " + arn("org"), "GetTrailStatus " + arn("org")},
		},
		{
			what:        "not allowed",
			describeErr: "AccessDeniedException",
			want:        trailFinding{detail: "CloudTrail: not allowed to call DescribeTrails: grant cloudtrail:DescribeTrails, cloudtrail:GetEventSelectors and cloudtrail:GetTrailStatus to check this"},
			wantCalls:   []string{"DescribeTrails"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			url, calls := fakeCloudTrail(t, tt.trails, tt.describeErr)
			s, err := NewS3(context.Background(), S3Config{Bucket: "evidence", Prefix: "promote", Region: "eu-west-1", CloudTrailEndpoint: url,
				Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
			if err != nil {
				t.Fatal(err)
			}
			got := s.cloudTrailCoverage(context.Background())
			// An SDK error message ends the detail; compare up to it.
			if strings.HasSuffix(tt.want.detail, ": ") && strings.HasPrefix(got.detail, tt.want.detail) {
				got.detail = tt.want.detail
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(trailFinding{})); diff != "" {
				t.Errorf("cloudTrailCoverage() (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCalls, calls()); diff != "" {
				t.Errorf("CloudTrail calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCloudTrailSkippedOffAWS(t *testing.T) {
	t.Parallel()
	s, err := NewS3(context.Background(), S3Config{Bucket: "evidence", Endpoint: "http://127.0.0.1:1",
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	if err != nil {
		t.Fatal(err)
	}
	want := trailFinding{detail: "CloudTrail is not checked: the bucket is on a custom endpoint, not on AWS"}
	if diff := cmp.Diff(want, s.cloudTrailCoverage(context.Background()), cmp.AllowUnexported(trailFinding{})); diff != "" {
		t.Errorf("cloudTrailCoverage() (-want +got):\n%s", diff)
	}
}
