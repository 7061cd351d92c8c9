package githubtest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCreateDeployment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what       string
		body       string
		wantStatus int
		wantMsg    string
		want       map[string]any // fields of the created deployment
	}{
		{
			what:       "defaults",
			body:       `{"ref":"main"}`,
			wantStatus: 201,
			want: map[string]any{
				"task": "deploy", "environment": "production", "original_environment": "production",
				"production_environment": true, "transient_environment": false, "description": "",
				"payload": map[string]any{},
			},
		},
		{
			what:       "staging with a payload",
			body:       `{"ref":"refs/heads/main","environment":"staging","payload":{"a":1},"transient_environment":true,"description":"d"}`,
			wantStatus: 201,
			want: map[string]any{
				"environment": "staging", "production_environment": false, "transient_environment": true,
				"payload": map[string]any{"a": float64(1)}, "description": "d", "ref": "refs/heads/main",
			},
		},
		{
			what:       "string payload",
			body:       `{"ref":"main","payload":"raw","production_environment":false}`,
			wantStatus: 201,
			want:       map[string]any{"payload": "raw", "production_environment": false},
		},
		{
			what:       "a sha",
			body:       fmt.Sprintf(`{"ref":%q,"auto_merge":false}`, shaOf("refs/heads/feature")),
			wantStatus: 201,
			want:       map[string]any{"sha": shaOf("refs/heads/feature")},
		},
		{
			what:       "a branch with auto_merge false",
			body:       `{"ref":"feature","auto_merge":false,"required_contexts":[]}`,
			wantStatus: 201,
			want:       map[string]any{"ref": "feature", "sha": shaOf("refs/heads/feature")},
		},
		{what: "a branch with auto_merge", body: `{"ref":"feature"}`, wantStatus: 409, wantMsg: "Conflict merging main into feature."},
		{what: "required contexts", body: `{"ref":"main","required_contexts":["ci"]}`, wantStatus: 409, wantMsg: "Conflict: Commit status checks failed for main."},
		{what: "no ref", body: `{}`, wantStatus: 422, wantMsg: "Invalid request.\n\n\"ref\" wasn't supplied."},
		{what: "unknown ref", body: `{"ref":"nope"}`, wantStatus: 422, wantMsg: "No ref found for: nope"},
		{what: "wrong type", body: `{"ref":"main","auto_merge":"false"}`, wantStatus: 422, wantMsg: "Invalid request.\n\nFor 'properties/auto_merge', \"false\" is not a boolean."},
		{what: "bad payload", body: `{"ref":"main","payload":[1]}`, wantStatus: 422, wantMsg: "Invalid request.\n\nFor 'properties/payload', [1] is not an object or a string."},
		{what: "malformed", body: `{"ref"`, wantStatus: 400, wantMsg: "Problems parsing JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, Options{})
			s.SetBranches("feature")
			r := newAPI(t, s).do("POST", "repos/acme/app/deployments", tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("POST %s: status = %d, want %d; body %s", tt.body, r.status, tt.wantStatus, r.body)
			}
			if tt.wantMsg != "" {
				if got := r.message(t); got != tt.wantMsg {
					t.Errorf("message = %q, want %q", got, tt.wantMsg)
				}
				if n := len(s.Deployments()); n != 0 {
					t.Errorf("a refused request created %d deployments", n)
				}
				return
			}
			got := r.object(t)
			for k, want := range tt.want {
				if diff := cmp.Diff(want, got[k]); diff != "" {
					t.Errorf("%s (-want +got):\n%s", k, diff)
				}
			}
			if loc := r.header.Get("Location"); loc != got["url"] {
				t.Errorf("Location = %q, want the deployment's url %q", loc, got["url"])
			}
		})
	}
}

// shaOf is the SHA the fake gives a ref of acme/app.
func shaOf(ref string) string {
	return (&Server{opts: Options{Owner: "acme", Repo: "app"}}).shaFor(ref)
}

func TestListDeploymentsFilters(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	s.SetTags("v1")
	a := newAPI(t, s)
	staging := a.deploy("staging", nil)
	prod := a.deploy("production", map[string]any{"task": "deploy:migrate"})
	tagged := a.deploy("staging", map[string]any{"ref": "v1"})
	tests := []struct {
		query string
		want  []int64
	}{
		{"", []int64{tagged, prod, staging}},
		{"environment=staging", []int64{tagged, staging}},
		{"environment=none", []int64{tagged, prod, staging}},
		{"task=deploy:migrate", []int64{prod}},
		{"ref=v1", []int64{tagged}},
		{"sha=" + shaOf("refs/heads/main"), []int64{prod, staging}},
		{"ref=main&environment=production", []int64{prod}},
		{"environment=qa", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			var got []struct{ ID int64 }
			newAPI(t, s).do("GET", "repos/acme/app/deployments?"+tt.query, nil).want(t, tt.query, 200).decode(t, &got)
			var ids []int64
			for _, d := range got {
				ids = append(ids, d.ID)
			}
			if diff := cmp.Diff(tt.want, ids); diff != "" {
				t.Errorf("GET deployments?%s (-want +got):\n%s", tt.query, diff)
			}
		})
	}
}

func TestPaginationLinks(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{PageSize: 2})
	a := newAPI(t, s)
	var ids []int64
	for range 5 {
		ids = append([]int64{a.deploy("staging", nil)}, ids...) // newest first
	}
	base := s.URL() + "repos/acme/app/deployments?"
	link := func(query, rel string) string { return fmt.Sprintf("<%s%s>; rel=%q", base, query, rel) }
	tests := []struct {
		query    string
		wantIDs  []int64
		wantLink string
	}{
		{"", ids[0:2], link("page=2", "next") + ", " + link("page=3", "last")},
		{"page=2", ids[2:4], link("page=1", "prev") + ", " + link("page=3", "next") + ", " + link("page=3", "last") + ", " + link("page=1", "first")},
		{"page=3", ids[4:5], link("page=2", "prev") + ", " + link("page=1", "first")},
		{"environment=staging&per_page=3&page=1", ids[0:3],
			link("environment=staging&per_page=3&page=2", "next") + ", " + link("environment=staging&per_page=3&page=2", "last")},
		{"per_page=5", ids, ""},
		{"per_page=500", ids, ""},
		{"page=9", nil, link("page=3", "prev") + ", " + link("page=1", "first")},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			r := newAPI(t, s).do("GET", "repos/acme/app/deployments?"+tt.query, nil).want(t, tt.query, 200)
			var got []struct{ ID int64 }
			r.decode(t, &got)
			var gotIDs []int64
			for _, d := range got {
				gotIDs = append(gotIDs, d.ID)
			}
			if diff := cmp.Diff(tt.wantIDs, gotIDs); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(strings.Split(tt.wantLink, ", "), strings.Split(r.header.Get("Link"), ", ")); diff != "" {
				t.Errorf("Link (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAutoInactive(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	a := newAPI(t, s)
	status := func(id int64, body string) {
		t.Helper()
		a.do("POST", fmt.Sprintf("repos/acme/app/deployments/%d/statuses", id), body).want(t, "status", http.StatusCreated)
	}
	old := a.deploy("staging", nil)
	transient := a.deploy("staging", map[string]any{"transient_environment": true})
	failed := a.deploy("staging", nil)
	otherEnv := a.deploy("qa", nil)
	prodOld := a.deploy("production", nil)
	keep := a.deploy("staging", nil)
	for _, id := range []int64{old, transient, otherEnv, prodOld} {
		status(id, `{"state":"success"}`)
	}
	status(failed, `{"state":"failure"}`)
	status(keep, `{"state":"success"}`)
	latest := a.deploy("staging", nil)
	status(latest, `{"state":"success","auto_inactive":false}`) // keeps keep active
	newest := a.deploy("staging", nil)
	status(newest, `{"state":"success"}`)
	newProd := a.deploy("production", nil)
	status(newProd, `{"state":"success"}`)

	got := map[int64][]string{}
	for _, d := range s.Deployments() {
		for _, st := range d.Statuses {
			got[d.ID] = append(got[d.ID], st.State)
		}
	}
	want := map[int64][]string{
		old:       {"success", "inactive"}, // by the transient deployment's success
		transient: {"success"},             // transient: never
		failed:    {"failure"},             // not successful
		otherEnv:  {"success"},             // another environment
		prodOld:   {"success"},             // production: never
		keep:      {"success", "inactive"}, // by newest, not by latest
		latest:    {"success", "inactive"}, // by newest
		newest:    {"success"},             // the newest
		newProd:   {"success"},             // production
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statuses by deployment (-want +got):\n%s", diff)
	}
}

func TestDeploymentStatuses(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	a := newAPI(t, s)
	id := a.deploy("staging", nil)
	path := fmt.Sprintf("repos/acme/app/deployments/%d/statuses", id)
	tests := []struct {
		what       string
		body       string
		wantStatus int
		want       map[string]any
	}{
		{"log_url sets target_url", `{"state":"in_progress","log_url":"https://ci/1"}`, 201,
			map[string]any{"target_url": "https://ci/1", "log_url": "https://ci/1", "environment": "staging"}},
		{"target_url alone", `{"state":"queued","target_url":"https://ci/2"}`, 201,
			map[string]any{"target_url": "https://ci/2", "log_url": "https://ci/2"}},
		{"140 characters", `{"state":"pending","description":"` + strings.Repeat("é", 140) + `"}`, 201, nil},
		{"141 characters", `{"state":"pending","description":"` + strings.Repeat("é", 141) + `"}`, 422,
			map[string]any{"message": "Validation Failed"}},
		{"unknown state", `{"state":"waiting"}`, 422, nil},
		{"no state", `{}`, 422, map[string]any{"message": "Invalid request.\n\n\"state\" wasn't supplied."}},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			got := newAPI(t, s).do("POST", path, tt.body).want(t, tt.body, tt.wantStatus).object(t)
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s = %q, want %q", k, got[k], want)
				}
			}
		})
	}
}

func TestStatusMovesEnvironment(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	a := newAPI(t, s)
	id := a.deploy("staging", nil)
	a.do("POST", fmt.Sprintf("repos/acme/app/deployments/%d/statuses", id), `{"state":"success","environment":"qa"}`).want(t, "status", 201)
	got := a.do("GET", fmt.Sprintf("repos/acme/app/deployments/%d", id), nil).want(t, "get", 200).object(t)
	if got["environment"] != "qa" || got["original_environment"] != "staging" {
		t.Errorf("environment, original_environment = %q, %q, want qa, staging", got["environment"], got["original_environment"])
	}
}

// TestSetRef deploys a commit the test names, as the end to end tests do
// with the commits of a real git repository.
func TestSetRef(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	const sha = "1C980C4608A07C70674307D42642E1D807B4C31D"
	s.SetRef("main", sha)
	s.SetRef("refs/tags/v1", sha)
	if got := s.SHA("main"); got != strings.ToLower(sha) {
		t.Errorf("SHA(main) = %q, want %q", got, strings.ToLower(sha))
	}
	a := newAPI(t, s)
	for _, ref := range []string{"main", "v1", strings.ToLower(sha)} {
		got := a.do("POST", "repos/acme/app/deployments", map[string]any{"ref": ref, "auto_merge": false}).want(t, ref, 201).object(t)
		if got["sha"] != strings.ToLower(sha) {
			t.Errorf("deployment of %s: sha %v, want %s", ref, got["sha"], strings.ToLower(sha))
		}
	}
}
