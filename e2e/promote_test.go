package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/keysutil"

	"github.com/promote-dev/promote/internal/git/gittest"
	"github.com/promote-dev/promote/internal/githubtest"
	"github.com/promote-dev/promote/internal/sign/vaulttest"
	"github.com/promote-dev/promote/internal/store/storetest"
)

const (
	// actionsToken is the workflow's GITHUB_TOKEN; reviewerToken belongs to
	// the required reviewer of the production environments.
	actionsToken  = "ghs_e2e_actions_token"
	reviewerToken = "ghp_e2e_release_manager"
	reviewer      = "release-manager"
)

// promotion is the world of one promotion scenario: the example repository
// and the counterparts its workflows talk to.
type promotion struct {
	repo  string
	gh    *githubtest.Server
	gw    *storetest.Gateway
	vault *vaulttest.Server
	oidc  *oidcIssuer

	mu      sync.Mutex
	failing map[string]bool // "service@github-environment" whose deploy run fails
}

// newPromotion sets up the example repository for a real promotion: its
// manifest deploys every service with deploy.yml (the example deploys with
// commands so that make demo needs no GitHub), keeps its evidence in an
// Object-Lock bucket on versitygw signed by Vault Transit through GitHub
// OIDC, and its deploys and soaks take seconds instead of minutes.
func newPromotion(t *testing.T) *promotion {
	t.Helper()
	actBinary(t)
	gwBin := os.Getenv("VERSITYGW")
	if gwBin == "" {
		t.Skip("set VERSITYGW to a versitygw binary: the promotion scenarios keep their evidence in S3 with Object Lock; make e2e does")
	}
	p := &promotion{failing: map[string]bool{}}

	gw := storetest.StartWithBucket(t, gwBin, "evidence")
	p.gw = gw

	p.vault = vaulttest.NewServer(t)
	p.vault.AddKey(keysutil.PolicyConfig{Name: "evidence", Type: keysutil.KeyType_ECDSA_P256})
	p.oidc = newOIDCIssuer(t, p.vault.IDToken)

	p.repo = exampleRepo(t, func(files map[string]string) {
		m := files["promotion.yaml"]
		for _, s := range []string{"service-a", "service-b", "service-c"} {
			m = replace(t, m, "command: ./services/"+s+"/deploy.sh", "workflow: deploy.yml", 1)
		}
		// Promote looks at a run first after half its expected duration:
		// the simulated deploys take half a second.
		m = replace(t, m, "expected_duration: 5m", "expected_duration: 2s", 1)
		m = replace(t, m, "expected_duration: 4m", "expected_duration: 2s", 1)
		m = replace(t, m, "expected_duration: 6m", "expected_duration: 2s", 1)
		m = replace(t, m, "soak: 10m", "soak: 1s", 1)
		m = replace(t, m, "soak: 30m", "soak: 1s", 1)
		i := strings.Index(m, "\nevidence:\n")
		if i < 0 {
			t.Fatal("the example manifest has no evidence section")
		}
		m = m[:i] + fmt.Sprintf(`
evidence:
  store: s3://evidence/promote
  region: us-east-1
  endpoint: %s
  retention_days: 1
  mode: compliance
  signer:
    vault:
      address: %s
      key: evidence
      role: %s
`, gw.Endpoint, p.vault.Srv.URL, vaulttest.Role)
		files["promotion.yaml"] = m
	})

	p.gh = githubtest.New(githubtest.Options{
		Owner:  "acme",
		Repo:   "app",
		Tokens: map[string]string{actionsToken: "github-actions[bot]", reviewerToken: reviewer},
	})
	t.Cleanup(p.gh.Close)
	// GitHub knows the example repository's commit, on main.
	p.gh.SetRef("main", revParse(t, p.repo, "HEAD"))
	for _, env := range []string{"production-service-a", "production-service-b"} {
		p.gh.AddEnvironment(env, githubtest.Protection{Reviewers: []string{reviewer}})
	}
	w := readDeployWorkflow(t)
	job, ok := w.Jobs["deploy"]
	if !ok || job.Environment.Deployment == nil || *job.Environment.Deployment {
		t.Fatal("deploy.yml: want a job deploy whose environment has deployment: false, which the simulation assumes (Promote records the Deployment)")
	}
	if len(job.Steps) == 0 || !strings.Contains(job.Steps[0].Name, "go-ahead") {
		t.Fatal("deploy.yml: want the go-ahead step first, which the simulation assumes")
	}
	p.gh.AddWorkflow("deploy.yml", githubtest.Workflow{
		Name:           w.Name,
		RunName:        w.RunName,
		Inputs:         slices.Sorted(maps.Keys(w.On.WorkflowDispatch.Inputs)),
		Environment:    job.Environment.Name,
		WaitForGoAhead: true,
		Script: func(in map[string]string) githubtest.RunScript {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.failing[in["service"]+"@"+in["environment"]] {
				return githubtest.RunScript{Duration: 500 * time.Millisecond, Conclusion: "failure"}
			}
			return githubtest.RunScript{Duration: 500 * time.Millisecond}
		},
	})
	// The reviewer stops before the server closes (cleanups run last in,
	// first out), and never reports after the test ended.
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		p.review(t, stop)
	}()
	t.Cleanup(func() {
		close(stop)
		<-stopped
	})
	return p
}

// review is the production environments' required reviewer: it approves
// each run waiting on it once, through the REST API with its own token, as
// a person would on the run's page.
func (p *promotion) review(t *testing.T, stop <-chan struct{}) {
	done := map[int64]bool{}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for _, r := range p.gh.Runs() {
			if r.Status != "waiting" || done[r.ID] {
				continue
			}
			var pending []struct {
				Environment struct {
					ID   int64  `json:"id"`
					Name string `json:"name"`
				} `json:"environment"`
				CanApprove bool `json:"current_user_can_approve"`
			}
			if err := p.api(http.MethodGet, fmt.Sprintf("actions/runs/%d/pending_deployments", r.ID), nil, &pending); err != nil {
				t.Errorf("reviewer: %v", err)
				return
			}
			for _, d := range pending {
				if !d.CanApprove {
					continue
				}
				body := map[string]any{"environment_ids": []int64{d.Environment.ID}, "state": "approved", "comment": "approved by the e2e reviewer"}
				if err := p.api(http.MethodPost, fmt.Sprintf("actions/runs/%d/pending_deployments", r.ID), body, nil); err != nil {
					t.Errorf("reviewer: %v", err)
					return
				}
				done[r.ID] = true
			}
		}
	}
}

// api calls the in-memory GitHub as the reviewer.
func (p *promotion) api(method, path string, body, out any) error {
	var rd *bytes.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, p.gh.URL()+"repos/acme/app/"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+reviewerToken)
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var msg bytes.Buffer
		_, _ = msg.ReadFrom(resp.Body)
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, msg.String())
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// fail makes the deploy runs of service in a GitHub environment fail (or
// succeed again).
func (p *promotion) fail(node string, failing bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failing[node] = failing
}

// dispatch runs promote.yml under act as `gh workflow run promote.yml` would
// start it, with the repository variables and secrets a user sets.
func (p *promotion) dispatch(t *testing.T, inputs map[string]string) actResult {
	t.Helper()
	bin, hash := prebuiltPromote(t)
	event := map[string]any{"inputs": inputs, "ref": "refs/heads/main"}
	data, _ := json.Marshal(event)
	eventFile := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(eventFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	flags := []string{"-e", eventFile,
		"-s", "GITHUB_TOKEN=" + actionsToken,
		"--var", "PROMOTE_EVIDENCE_ROLE=arn:aws:iam::123456789012:role/promote-evidence",
		"--var", "PROMOTE_EVIDENCE_REGION=us-east-1",
		"--env", "GITHUB_API_URL=" + strings.TrimSuffix(p.gh.URL(), "/"),
		// What the configure-aws-credentials stand-in exports in place of
		// STS's temporary credentials.
		"--env", "STANDIN_AWS_ACCESS_KEY_ID=" + storetest.AccessKey,
		"--env", "STANDIN_AWS_SECRET_ACCESS_KEY=" + storetest.SecretKey,
		// The binary built once for every scenario: install.sh finds it
		// installed for this source and builds nothing (see prebuiltPromote).
		"--env", "PROMOTE_BIN=" + bin,
		"--env", "PROMOTE_SOURCE_HASH=" + hash,
	}
	for _, k := range slices.Sorted(maps.Keys(inputs)) {
		flags = append(flags, "--input", k+"="+inputs[k])
	}
	flags = append(flags, p.oidc.env()...)
	return runAct(t, p.repo, "promote.yml", "workflow_dispatch", flags...)
}

// deployments returns, per node (service@environment), the states
// of its Deployments' statuses, one string per Deployment, oldest first:
// e.g. "queued in_progress success".
func (p *promotion) deployments(t *testing.T, sha string) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	for _, d := range p.gh.Deployments() {
		if d.SHA != sha {
			t.Errorf("deployment %d of %s is for commit %s, want %s", d.ID, d.Environment, d.SHA, sha)
		}
		var payload struct {
			Promote struct {
				Node string `json:"node"`
			} `json:"promote"`
		}
		if err := json.Unmarshal(d.Payload, &payload); err != nil || payload.Promote.Node == "" {
			t.Errorf("deployment %d: payload %s names no Promote node", d.ID, d.Payload)
		}
		var states []string
		for _, s := range d.Statuses {
			states = append(states, s.State)
		}
		node := payload.Promote.Node
		got[node] = append(got[node], strings.Join(states, " "))
	}
	return got
}

// lastStates reduces deployments to each node's latest Deployment's latest
// state.
func lastStates(deps map[string][]string) map[string]string {
	out := map[string]string{}
	for node, list := range deps {
		states := strings.Fields(list[len(list)-1])
		out[node] = states[len(states)-1]
	}
	return out
}

// verifyEvidence runs `promote evidence verify` on the bucket the run wrote
// to, outside act, with the same binary, and returns its output. Outside
// Actions there is no OIDC token: Vault's root token reads the public keys,
// through a copy of the manifest that says auth: token.
func (p *promotion) verifyEvidence(t *testing.T) string {
	t.Helper()
	bin, _ := prebuiltPromote(t)
	manifest, err := os.ReadFile(filepath.Join(p.repo, "promotion.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "promotion.yaml")
	m := replace(t, string(manifest), "      role: "+vaulttest.Role+"\n", "      auth: token\n", 1)
	if err := os.WriteFile(local, []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "evidence", "verify", "--manifest", local)
	cmd.Env = append(hostEnv(),
		"AWS_ACCESS_KEY_ID="+storetest.AccessKey, "AWS_SECRET_ACCESS_KEY="+storetest.SecretKey,
		"VAULT_TOKEN="+vaulttest.RootToken)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promote evidence verify: %v\n%s", err, out)
	}
	return string(out)
}

// TestPromoteToProduction dispatches promote.yml for every service up to
// production, first as a dry run, then for real: the plan job shows the DAG, the promote job deploys the
// eight nodes through deploy.yml runs, production's two waiting on the
// required reviewer's approval, and the evidence job verifies the chain in
// the Object-Lock bucket.
func TestPromoteToProduction(t *testing.T) {
	t.Parallel()
	p := newPromotion(t)
	sha := revParse(t, p.repo, "HEAD")

	// A dry run first: it deploys nothing, records nothing, and so has no
	// evidence to verify.
	r := p.dispatch(t, map[string]string{"environment": "production", "services": "all", "since": "HEAD~1", "dry_run": "true"})
	r.requireJobs(t, map[string]string{"plan": "succeeded", "promote": "succeeded"})
	if log := r.jobLog("promote"); !strings.Contains(log, "Promoting 8 nodes in 4 waves") || !strings.Contains(log, "dry run: nothing is deployed") {
		t.Errorf("the dry run's promote job did not show the 8 nodes it would deploy:\n%s", log)
	}
	if n := len(p.gh.Deployments()); n != 0 {
		t.Fatalf("the dry run created %d Deployments", n)
	}

	r = p.dispatch(t, map[string]string{"environment": "production", "services": "all", "since": "HEAD~1", "dry_run": "false"})
	r.requireJobs(t, map[string]string{"plan": "succeeded", "promote": "succeeded", "evidence": "succeeded"})

	plan := r.jobLog("plan")
	for _, want := range []string{"Summary - ## Promotion plan", "```mermaid", "service-a@production"} {
		if !strings.Contains(plan, want) {
			t.Errorf("the plan job's summary lacks %q:\n%s", want, plan)
		}
	}
	if got := r.output(t, "promote", "result"); got != "success" {
		t.Errorf("promote result = %q, want success", got)
	}
	if got := r.output(t, "promote", "failed"); got != "[]" {
		t.Errorf("promote failed = %s, want []", got)
	}

	want := map[string]string{}
	for _, n := range []string{"service-a@dev", "service-b@dev", "service-c@dev", "service-a@staging", "service-b@staging", "service-c@staging", "service-a@production", "service-b@production"} {
		want[n] = "success"
	}
	deps := p.deployments(t, sha)
	if got := lastStates(deps); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Deployments' latest states = %v, want %v", got, want)
	}
	for node, list := range deps {
		if len(list) != 1 {
			t.Errorf("%s has %d Deployments, want 1: %q", node, len(list), list)
		}
	}
	approvedRuns := 0
	for _, run := range p.gh.Runs() {
		if run.Conclusion != "success" {
			t.Errorf("deploy run %q concluded %q, want success", run.DisplayTitle, run.Conclusion)
		}
		if strings.HasPrefix(run.Environment, "production-") {
			if len(run.Reviews) != 1 || run.Reviews[0].State != "approved" || run.Reviews[0].User != reviewer {
				t.Errorf("production run %q: reviews %+v, want one approval by %s", run.DisplayTitle, run.Reviews, reviewer)
			}
			approvedRuns++
		}
	}
	if approvedRuns != 2 {
		t.Errorf("%d production runs, want 2 (service-c is sandbox and never reaches production)", approvedRuns)
	}

	// A record per node, and one per approval of the production gate.
	verify := r.jobLog("evidence")
	if !strings.Contains(verify, "Evidence in s3://evidence/promote: 10 records") || !strings.Contains(verify, "OK: every signature") {
		t.Errorf("the evidence job did not verify 10 records:\n%s", verify)
	}
	if !strings.Contains(r.jobLog("promote"), "Sealed 10 evidence records in s3://evidence/promote") {
		t.Errorf("the promote job did not seal 10 records")
	}
	if out := p.verifyEvidence(t); !strings.Contains(out, "10 records") {
		t.Errorf("promote evidence verify after the run:\n%s", out)
	}
	// The promote job signed through Vault with a GitHub OIDC token, and
	// both jobs reached the bucket with OIDC-assumed credentials.
	audiences := strings.Join(p.oidc.requested(), " ")
	if !strings.Contains(audiences, p.vault.Srv.URL) || !strings.Contains(audiences, "sts.amazonaws.com") {
		t.Errorf("OIDC tokens requested for %q, want Vault's address and sts.amazonaws.com", audiences)
	}
}

// jsonList decodes a JSON array output of the promote action, sorted.
func jsonList(t *testing.T, s string) []string {
	t.Helper()
	var list []string
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		t.Fatalf("output %q is not a JSON array of strings: %v", s, err)
	}
	slices.Sort(list)
	return list
}

// TestPromoteFailureThenRerun dispatches promote.yml while service-b's
// deploy to staging fails: what depends on it (service-b in production,
// service-c in staging) is skipped, everything else finishes, production's
// service-a after its approval, and the evidence job still verifies the
// chain. Then, service-b fixed, the workflow runs again for the same
// commit and resumes: it deploys only the failed and skipped nodes.
func TestPromoteFailureThenRerun(t *testing.T) {
	t.Parallel()
	p := newPromotion(t)
	sha := revParse(t, p.repo, "HEAD")
	inputs := map[string]string{"environment": "production", "services": "all", "since": "HEAD~1", "dry_run": "false"}

	p.fail("service-b@staging", true)
	r := p.dispatch(t, inputs)
	r.requireJobs(t, map[string]string{"plan": "succeeded", "promote": "failed", "evidence": "succeeded"})
	if got := r.output(t, "promote", "result"); got != "failure" {
		t.Errorf("promote result = %q, want failure", got)
	}
	if got, want := jsonList(t, r.output(t, "promote", "failed")), []string{"service-b@staging"}; !slices.Equal(got, want) {
		t.Errorf("failed = %q, want %q", got, want)
	}
	if got, want := jsonList(t, r.output(t, "promote", "skipped")), []string{"service-b@production", "service-c@staging"}; !slices.Equal(got, want) {
		t.Errorf("skipped = %q, want %q", got, want)
	}
	succeeded := []string{"service-a@dev", "service-a@production", "service-a@staging", "service-b@dev", "service-c@dev"}
	if got := jsonList(t, r.output(t, "promote", "succeeded")); !slices.Equal(got, succeeded) {
		t.Errorf("succeeded = %q, want %q", got, succeeded)
	}
	want := map[string]string{"service-b@staging": "failure"}
	for _, n := range succeeded {
		want[n] = "success"
	}
	first := p.deployments(t, sha)
	if got := lastStates(first); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the failed run, Deployments' latest states = %v, want %v", got, want)
	}
	if !strings.Contains(r.jobLog("evidence"), "OK: every signature") {
		t.Errorf("the evidence job did not verify the chain after the failed promotion:\n%s", r.jobLog("evidence"))
	}

	p.fail("service-b@staging", false)
	r = p.dispatch(t, inputs)
	r.requireJobs(t, map[string]string{"plan": "succeeded", "promote": "succeeded", "evidence": "succeeded"})
	if got := r.output(t, "promote", "result"); got != "success" {
		t.Errorf("rerun: promote result = %q, want success", got)
	}
	log := r.jobLog("promote")
	for _, n := range succeeded {
		if !strings.Contains(log, n+" already succeeded for "+sha[:12]) {
			t.Errorf("rerun: %s was not resumed:\n%s", n, log)
		}
	}
	second := p.deployments(t, sha)
	for node, list := range second {
		added := len(list) - len(first[node])
		switch {
		case slices.Contains(succeeded, node) && added != 0:
			t.Errorf("rerun: %s, which had succeeded, got %d more Deployments", node, added)
		case !slices.Contains(succeeded, node) && added != 1:
			t.Errorf("rerun: %s got %d more Deployments, want 1", node, added)
		}
	}
	for _, node := range []string{"service-b@staging", "service-b@production", "service-c@staging"} {
		if got := lastStates(second)[node]; got != "success" {
			t.Errorf("rerun: %s ended %q, want success", node, got)
		}
	}
	if out := p.verifyEvidence(t); !strings.Contains(out, "OK: every signature") {
		t.Errorf("promote evidence verify after the rerun:\n%s", out)
	}
}

// TestPromoteChangedToStaging dispatches promote.yml with services
// "changed" after a commit that touches only service-c, up to staging: the
// plan has service-c in dev and staging and nothing else (no service
// depends on service-c), and nothing waits for a reviewer.
func TestPromoteChangedToStaging(t *testing.T) {
	t.Parallel()
	p := newPromotion(t)
	gittest.Write(t, p.repo, "services/service-c/CHANGELOG.md", "- faster start\n")
	gittest.Run(t, p.repo, "add", ".")
	gittest.Run(t, p.repo, "commit", "-q", "-m", "service-c: faster start")
	sha := revParse(t, p.repo, "HEAD")
	p.gh.SetRef("main", sha)

	r := p.dispatch(t, map[string]string{"environment": "staging", "services": "changed", "since": "HEAD~1", "dry_run": "false"})
	r.requireJobs(t, map[string]string{"plan": "succeeded", "promote": "succeeded", "evidence": "succeeded"})
	if got := r.output(t, "plan", "services"); got != `["service-c"]` {
		t.Errorf("planned services = %s, want only the changed service-c", got)
	}
	want := map[string]string{"service-c@dev": "success", "service-c@staging": "success"}
	if got := lastStates(p.deployments(t, sha)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Deployments' latest states = %v, want %v", got, want)
	}
	for _, run := range p.gh.Runs() {
		if len(run.Reviews) != 0 {
			t.Errorf("run %q was reviewed, but staging has no reviewers", run.DisplayTitle)
		}
	}
	if out := p.verifyEvidence(t); !strings.Contains(out, "2 records") {
		t.Errorf("promote evidence verify after the run:\n%s", out)
	}
}
