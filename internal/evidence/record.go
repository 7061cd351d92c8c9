package evidence

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// Kind is what a record attests.
type Kind string

// The kinds of records, each with its own predicate type.
const (
	// KindPromotion is the outcome of one node of a promotion: a service
	// deployed to an environment.
	KindPromotion Kind = "promotion"
	// KindGate is a gate's decision, such as an environment's required
	// reviewers approving or rejecting a deployment.
	KindGate Kind = "gate"
	// KindMeshCheck is the result of a service mesh check.
	KindMeshCheck Kind = "mesh-check"
)

// kinds lists every kind.
var kinds = []Kind{KindPromotion, KindGate, KindMeshCheck}

// predicateTypePrefix starts every predicate type; the kind and the
// version ("/v2") follow.
const predicateTypePrefix = "https://promote.dev/evidence/"

// PredicateType returns the in-toto predicate type URI of the kind that
// Append writes, e.g. "https://promote.dev/evidence/promotion/v2", the
// --type that cosign verify-blob-attestation takes. Records written before
// predicate v2 have ".../v1" and still verify.
func (k Kind) PredicateType() string { return k.predicateType(currentPredicate) }

func (k Kind) predicateType(version int) string {
	return predicateTypePrefix + string(k) + "/v" + strconv.Itoa(version)
}

// kindOf returns the kind and predicate version of predicate type t.
func kindOf(t string) (Kind, int, bool) {
	rest, ok := strings.CutPrefix(t, predicateTypePrefix)
	if !ok {
		return "", 0, false
	}
	for _, v := range []int{predicateV2, predicateV1} {
		if k, ok := strings.CutSuffix(rest, "/v"+strconv.Itoa(v)); ok && slices.Contains(kinds, Kind(k)) {
			return Kind(k), v, true
		}
	}
	return "", 0, false
}

// outcomes lists the outcomes each kind allows. A promotion node ends in one
// of the run's final states.
var outcomes = map[Kind][]string{
	KindPromotion: {"succeeded", "failed", "skipped", "cancelled"},
	KindGate:      {"approved", "rejected"},
	KindMeshCheck: {"passed", "failed"},
}

// PayloadType is the DSSE payload type of every envelope, exactly what cosign
// verify-blob-attestation requires.
const PayloadType = "application/vnd.in-toto+json"

// Record is one piece of evidence to append: what happened to which commit.
// Append adds the chain fields, seq and prev.
type Record struct {
	Kind Kind
	// Repository is the repository's URL, e.g.
	// "https://github.com/promote-dev/promote"; with it the commit's
	// subject is named "git+<Repository>@<Commit>".
	Repository string
	// Commit is the promoted commit: 40 lowercase hex digits.
	Commit string
	// Subjects are the artifacts and reports the record covers, by
	// SHA-256, such as the plan. cosign verify-blob-attestation checks
	// that the blob it is given is one of them.
	Subjects []Subject

	Service     string
	Environment string
	// Node is the plan node, e.g. "api@staging".
	Node string
	// DeploymentID is GitHub's deployment id, or 0 when there is none.
	DeploymentID int64
	// WorkflowRunURL is the run that did it, or empty outside Actions.
	WorkflowRunURL string
	// Actor is who started the promotion.
	Actor string
	// Approvers are who approved it, if anyone.
	Approvers  []string
	StartedAt  time.Time
	FinishedAt time.Time
	// Outcome is, for a promotion, "succeeded", "failed", "skipped" or
	// "cancelled"; for a gate, "approved" or "rejected"; for a mesh
	// check, "passed" or "failed".
	Outcome string
	// Attempts is how many times the node was tried.
	Attempts int
	// MeshReportSHA256 is the hex SHA-256 of the mesh check's report, if
	// any; the report also becomes a subject, named "mesh-report".
	MeshReportSHA256 string

	// Fields of predicate v2, each written only when set.

	// QueuedAt is when a promotion's node became ready to run: its
	// dependencies done.
	QueuedAt time.Time
	// ApprovalWait is how long a promotion's deploy waited on required
	// reviewers and wait timers.
	ApprovalWait time.Duration
	// CommitTime is when the promoted commit was made (its committer
	// date), for change lead time.
	CommitTime time.Time
	// APIRequests is how many GitHub requests a promotion's node made.
	APIRequests int
	// Run describes the promotion run, the same in each of its records.
	Run *RunSummary
	// Mesh is a mesh check's findings in figures.
	Mesh *MeshSummary
}

// Subject is an artifact or report that a record covers.
type Subject struct {
	Name string
	// SHA256 is the hex SHA-256 of the artifact's bytes.
	SHA256 string
}

// meshReportSubject names the subject Append adds for a mesh report.
const meshReportSubject = "mesh-report"

// maxSeq is the largest sequence number a predicate can carry exactly: JSON
// numbers in a protobuf Struct are float64.
const maxSeq = 1<<53 - 1

// validate checks what the JSON Schema checks, so that Append never signs a
// record the schema would reject.
func (r *Record) validate() error {
	allowed, ok := outcomes[r.Kind]
	if !ok {
		return fmt.Errorf("kind %q: want one of %q", r.Kind, kinds)
	}
	if !isHex(r.Commit, 40) {
		return fmt.Errorf("commit %q: want 40 lowercase hex digits", r.Commit)
	}
	for _, f := range []struct{ name, value string }{
		{"service", r.Service}, {"environment", r.Environment}, {"node", r.Node}, {"actor", r.Actor},
	} {
		if strings.TrimSpace(f.value) == "" {
			return fmt.Errorf("%s is empty: every %s record names its %s", f.name, r.Kind, f.name)
		}
	}
	if !slices.Contains(allowed, r.Outcome) {
		return fmt.Errorf("outcome %q of a %s record: want one of %q", r.Outcome, r.Kind, allowed)
	}
	if r.StartedAt.IsZero() || r.FinishedAt.IsZero() {
		return errors.New("started and finished times are required")
	}
	if r.FinishedAt.Before(r.StartedAt) {
		return fmt.Errorf("finished at %s, before it started at %s", r.FinishedAt.UTC().Format(time.RFC3339), r.StartedAt.UTC().Format(time.RFC3339))
	}
	if r.Attempts < 0 {
		return fmt.Errorf("attempts is %d: want 0 or more", r.Attempts)
	}
	if r.DeploymentID < 0 || r.DeploymentID > maxSeq {
		return fmt.Errorf("deployment id %d: want 1 to %d, or 0 for none", r.DeploymentID, int64(maxSeq))
	}
	if r.MeshReportSHA256 != "" && !isHex(r.MeshReportSHA256, 64) {
		return fmt.Errorf("mesh report sha256 %q: want 64 lowercase hex digits", r.MeshReportSHA256)
	}
	for _, s := range r.Subjects {
		if s.Name == "" || !isHex(s.SHA256, 64) {
			return fmt.Errorf("subject %q with sha256 %q: want a name and 64 lowercase hex digits", s.Name, s.SHA256)
		}
	}
	for _, a := range r.Approvers {
		if a == "" {
			return errors.New("an approver is empty")
		}
	}
	if strings.ContainsAny(r.Repository, " \t\r\n@") {
		return fmt.Errorf("repository %q: want a URL without spaces or @", r.Repository)
	}
	return r.checkFields()
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// statement returns the in-toto Statement of r as sealed at seq after the
// record whose payload hashes to prev, marshalled with protojson. Callers
// must store these bytes as they are: protojson output is not stable.
func (r *Record) statement(seq uint64, prev string) ([]byte, error) {
	return r.statementOf(seq, prev, currentPredicate)
}

// statementOf is statement with a predicate of the given version; tests
// write version 1 with it, as Promote did before predicate v2.
func (r *Record) statementOf(seq uint64, prev string, version int) ([]byte, error) {
	if seq == 0 || seq > maxSeq {
		return nil, fmt.Errorf("sequence number %d out of range 1 to %d", seq, uint64(maxSeq))
	}
	name := ""
	if r.Repository != "" {
		name = "git+" + r.Repository + "@" + r.Commit
	}
	subjects := []*intoto.ResourceDescriptor{{
		Name:   name,
		Digest: map[string]string{string(intoto.AlgorithmGitCommit): r.Commit},
	}}
	mesh := r.MeshReportSHA256 != ""
	for _, s := range r.Subjects {
		subjects = append(subjects, &intoto.ResourceDescriptor{
			Name:   s.Name,
			Digest: map[string]string{string(intoto.AlgorithmSHA256): s.SHA256},
		})
		if s.SHA256 == r.MeshReportSHA256 {
			mesh = false
		}
	}
	if mesh {
		subjects = append(subjects, &intoto.ResourceDescriptor{
			Name:   meshReportSubject,
			Digest: map[string]string{string(intoto.AlgorithmSHA256): r.MeshReportSHA256},
		})
	}

	fields := map[string]any{
		"kind":        string(r.Kind),
		"service":     r.Service,
		"environment": r.Environment,
		"node":        r.Node,
		"actor":       r.Actor,
		"started_at":  r.StartedAt.UTC().Format(time.RFC3339Nano),
		"finished_at": r.FinishedAt.UTC().Format(time.RFC3339Nano),
		"outcome":     r.Outcome,
		"attempts":    r.Attempts,
		"seq":         float64(seq),
		"prev":        prev,
	}
	approvers := make([]any, len(r.Approvers))
	for i, a := range r.Approvers {
		approvers[i] = a
	}
	fields["approvers"] = approvers
	if r.DeploymentID != 0 {
		fields["deployment_id"] = float64(r.DeploymentID)
	}
	if r.WorkflowRunURL != "" {
		fields["workflow_run_url"] = r.WorkflowRunURL
	}
	if r.MeshReportSHA256 != "" {
		fields["mesh_report_sha256"] = r.MeshReportSHA256
	}
	for _, f := range predicateFields {
		if f.put != nil && f.since <= version && (f.kinds == nil || slices.Contains(f.kinds, r.Kind)) {
			f.put(r, fields)
		}
	}
	predicate, err := structpb.NewStruct(fields)
	if err != nil {
		return nil, fmt.Errorf("building the predicate: %w", err)
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       subjects,
		PredicateType: r.Kind.predicateType(version),
		Predicate:     predicate,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("building the in-toto statement: %w", err)
	}
	b, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("marshalling the in-toto statement: %w", err)
	}
	return b, nil
}

// Predicate is the predicate of every record, as the JSON Schema
// schema/evidence-predicate.schema.json documents it; encoding/json decodes
// a statement's "predicate" into it.
type Predicate struct {
	Kind             Kind     `json:"kind"`
	Service          string   `json:"service"`
	Environment      string   `json:"environment"`
	Node             string   `json:"node"`
	DeploymentID     int64    `json:"deployment_id,omitempty"`
	WorkflowRunURL   string   `json:"workflow_run_url,omitempty"`
	Actor            string   `json:"actor"`
	Approvers        []string `json:"approvers"`
	StartedAt        string   `json:"started_at"`
	FinishedAt       string   `json:"finished_at"`
	Outcome          string   `json:"outcome"`
	Attempts         int      `json:"attempts"`
	MeshReportSHA256 string   `json:"mesh_report_sha256,omitempty"`
	// Seq numbers the records of a log from 1.
	Seq uint64 `json:"seq"`
	// Prev is the hex SHA-256 of the previous record's payload, the
	// in-toto Statement bytes inside its envelope; empty for seq 1.
	Prev string `json:"prev"`

	// Fields of predicate v2, absent from v1 records and omitted when
	// empty: an absent number is 0.

	QueuedAt            string       `json:"queued_at,omitempty"`
	ApprovalWaitSeconds float64      `json:"approval_wait_seconds,omitempty"`
	CommitTime          string       `json:"commit_time,omitempty"`
	APIRequests         int          `json:"api_requests,omitempty"`
	Run                 *RunSummary  `json:"run,omitempty"`
	Mesh                *MeshSummary `json:"mesh,omitempty"`
}
