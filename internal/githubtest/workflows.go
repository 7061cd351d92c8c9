package githubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Workflow describes a workflow file of the repository with a
// workflow_dispatch trigger.
type Workflow struct {
	// Name is the workflow's name; default its path, as GitHub shows an
	// unnamed workflow.
	Name string
	// RunName is the run-name template that gives a run its display_title;
	// it may use ${{ inputs.NAME }}, ${{ github.ref_name }}, ${{ github.actor }}
	// and ${{ github.sha }}. Empty means the workflow's name, as on GitHub.
	RunName string
	// Inputs are the declared inputs; a dispatch with any other input is
	// answered 422 "Unexpected inputs provided: [...]", as on GitHub.
	Inputs []string
	// Environment is the environment the deploy job names, a template like
	// RunName. If that environment has protection rules, the run waits. An
	// environment that does not exist is created without rules, as GitHub
	// does when a job names a new environment.
	Environment string
	// WaitForGoAhead gives the job the first step of Promote's example
	// deploy workflow: before it deploys, it waits until the Deployment
	// named by the input deployment_id has, as its latest status,
	// in_progress with a log_url naming this run (Promote's go-ahead), and
	// fails the run as soon as the latest status is any other than queued
	// or pending (the Deployment was abandoned, or names another run), or
	// after GoAheadTimeout without either. It looks at every status the
	// moment it is posted.
	WaitForGoAhead bool
	// GoAheadTimeout is how long that first step waits; default 10
	// minutes, as in the example workflow.
	GoAheadTimeout time.Duration
	// Script tells how a run goes, from its inputs; nil means a run that
	// succeeds at once. It is called with the server's lock held and must not
	// call the Server.
	Script func(inputs map[string]string) RunScript
}

// RunScript is the simulated course of a run, in simulated time.
type RunScript struct {
	QueueDelay time.Duration // queued this long before the job starts or waits
	Duration   time.Duration // in progress this long
	// Conclusion is the run's conclusion once it completes: success (the
	// default), failure, cancelled, timed_out, neutral, skipped,
	// action_required, ...
	Conclusion string
}

type workflow struct {
	id      int64
	file    string
	spec    Workflow
	created time.Time
	runs    int // run_number of the latest run
}

func (w *workflow) path() string { return ".github/workflows/" + w.file }

func (w *workflow) name() string {
	if w.spec.Name != "" {
		return w.spec.Name
	}
	return w.path()
}

// AddWorkflow adds the workflow .github/workflows/<file>, or replaces the
// description of an existing one (its id and runs are kept).
func (s *Server) AddWorkflow(file string, w Workflow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	file = strings.TrimPrefix(file, ".github/workflows/")
	w.Inputs = slices.Clone(w.Inputs)
	for _, wf := range s.workflows {
		if wf.file == file {
			wf.spec = w
			return
		}
	}
	s.workflows = append(s.workflows, &workflow{id: s.id("workflow"), file: file, spec: w, created: s.created})
}

// workflowLocked finds a workflow by id, file name or path, as the
// {workflow_id} parameter may be any of these.
func (s *Server) workflowLocked(q *request) *workflow {
	ref := q.PathValue("workflow_id")
	id, _ := strconv.ParseInt(ref, 10, 64)
	for _, wf := range s.workflows {
		if wf.id == id || wf.file == ref || wf.path() == ref {
			return wf
		}
	}
	return nil
}

func (s *Server) listWorkflows(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.paginate(q, len(s.workflows))
	out := []*workflowJSON{}
	for _, wf := range s.workflows[p.lo:p.hi] {
		out = append(out, s.workflowJSON(wf))
	}
	return listReply(p, map[string]any{"total_count": len(s.workflows), "workflows": out})
}

func (s *Server) getWorkflow(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	wf := s.workflowLocked(q)
	if wf == nil {
		return s.notFound(q)
	}
	return reply{status: http.StatusOK, body: s.workflowJSON(wf)}
}

var dispatchSchema = bodySchema{
	required: []string{"ref"},
	fields: []field{
		{name: "ref", kind: kString},
		{name: "inputs", kind: kObject},
		{name: "return_run_details", kind: kBool},
	},
}

// maxInputs is GitHub's limit on a dispatch's inputs.
const maxInputs = 25

func (s *Server) dispatch(q *request) reply {
	s.mu.Lock()
	wf := s.workflowLocked(q)
	s.mu.Unlock()
	if wf == nil {
		return s.notFound(q)
	}
	b, bad := s.readBody(q, dispatchSchema)
	if bad != nil {
		return *bad
	}
	if s.opts.NoRunDetails && b.has("return_run_details") {
		return s.invalid(q, `"return_run_details" is not a permitted key.`)
	}
	var raw map[string]json.RawMessage
	b.decode("inputs", &raw)
	if len(raw) > maxInputs {
		return s.invalid(q, fmt.Sprintf("For 'properties/inputs', the object has %d properties, more than the maximum of %d.", len(raw), maxInputs))
	}
	inputs := map[string]string{}
	var unexpected []string
	for k, v := range raw {
		if !slices.Contains(wf.spec.Inputs, k) {
			unexpected = append(unexpected, k)
			continue
		}
		var val any
		_ = json.Unmarshal(v, &val)
		switch val := val.(type) {
		case string:
			inputs[k] = val
		case bool, float64:
			inputs[k] = compact(v)
		default:
			return s.invalid(q, fmt.Sprintf("For 'properties/inputs/%s', %s is not a string.", k, compact(v)))
		}
	}
	if len(unexpected) > 0 {
		slices.Sort(unexpected)
		quoted, _ := json.Marshal(unexpected)
		return s.errorReply(q, http.StatusUnprocessableEntity, "Unexpected inputs provided: "+strings.ReplaceAll(string(quoted), `","`, `", "`), nil)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	ref := b.str("ref", "")
	full, ok := s.resolveRefLocked(ref)
	if !ok {
		return s.errorReply(q, http.StatusUnprocessableEntity, "No ref found for: "+ref, nil)
	}
	wf.runs++
	r := &run{
		id:      s.id("run"),
		jobID:   s.id("job"),
		number:  wf.runs,
		wf:      wf,
		fullRef: full,
		branch:  strings.TrimPrefix(strings.TrimPrefix(full, "refs/heads/"), "refs/tags/"),
		sha:     s.refs[full],
		inputs:  inputs,
		actor:   q.login,
		created: q.now,
		script:  RunScript{Conclusion: "success"},
	}
	if wf.spec.Script != nil {
		r.script = wf.spec.Script(cloneInputs(inputs))
		if r.script.Conclusion == "" {
			r.script.Conclusion = "success"
		}
	}
	r.title = wf.name()
	if wf.spec.RunName != "" {
		r.title = r.expand(wf.spec.RunName)
	}
	if wf.spec.Environment != "" {
		if name := r.expand(wf.spec.Environment); name != "" {
			e := s.environmentLocked(name, true)
			r.env, r.envID = e.name, e.id
			r.protection = e.protection
			r.protection.Reviewers = slices.Clone(e.protection.Reviewers)
		}
	}
	s.runs = append(s.runs, r)
	if !b.boolean("return_run_details", false) {
		return reply{status: http.StatusNoContent}
	}
	return reply{status: http.StatusOK, body: map[string]any{
		"workflow_run_id": r.id,
		"run_url":         s.runURL(r),
		"html_url":        s.runHTML(r),
	}}
}

func cloneInputs(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

var expression = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

// expand substitutes the ${{ }} expressions a run-name may use; any other
// expression becomes "", as an undefined context value does on GitHub.
func (r *run) expand(tmpl string) string {
	return expression.ReplaceAllStringFunc(tmpl, func(m string) string {
		expr := expression.FindStringSubmatch(m)[1]
		for _, prefix := range []string{"inputs.", "github.event.inputs."} {
			if name, ok := strings.CutPrefix(expr, prefix); ok {
				return r.inputs[name]
			}
		}
		switch expr {
		case "github.ref_name":
			return r.branch
		case "github.ref":
			return r.fullRef
		case "github.sha":
			return r.sha
		case "github.actor", "github.triggering_actor":
			return r.actor
		case "github.event_name":
			return "workflow_dispatch"
		}
		return ""
	})
}

// workflowJSON is GitHub's "workflow".
type workflowJSON struct {
	ID        int64  `json:"id"`
	NodeID    string `json:"node_id"`
	Name      string `json:"name"`
	Path      string `json:"path"`
	State     string `json:"state"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	URL       string `json:"url"`
	HTMLURL   string `json:"html_url"`
	BadgeURL  string `json:"badge_url"`
}

func (s *Server) workflowJSON(wf *workflow) *workflowJSON {
	return &workflowJSON{
		ID:        wf.id,
		NodeID:    nodeID("W_", wf.id),
		Name:      wf.name(),
		Path:      wf.path(),
		State:     "active",
		CreatedAt: timestamp(wf.created),
		UpdatedAt: timestamp(wf.created),
		URL:       s.repoAPI() + "/actions/workflows/" + strconv.FormatInt(wf.id, 10),
		HTMLURL:   s.repoHTML() + "/blob/" + s.opts.DefaultBranch + "/" + wf.path(),
		BadgeURL:  s.repoHTML() + "/workflows/" + url.PathEscape(wf.name()) + "/badge.svg",
	}
}
