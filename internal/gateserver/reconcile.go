package gateserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"
	"github.com/promote-dev/promote/internal/github"
	bolt "go.etcd.io/bbolt"
)

// ruleCheck caches whether the App's custom rule guards an environment.
type ruleCheck struct {
	ours bool
	at   time.Time
}

// ruleCacheTTL is how long that answer is trusted.
const ruleCacheTTL = 10 * time.Minute

// maxReconcilePages bounds the listing of one repository's waiting runs.
const maxReconcilePages = 10

func (s *Server) reconcileLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.ReconcileEvery)
	defer t.Stop()
	for {
		if _, err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("reconciling failed", "err", err)
		}
		if err := s.db.Update(func(tx *bolt.Tx) error {
			n, err := prune(tx, time.Now().Add(-s.cfg.Retention))
			if n > 0 {
				s.log.Info("pruned answered jobs", "count", n)
			}
			return err
		}); err != nil {
			s.log.Warn("pruning the database failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Reconcile lists the waiting runs of every repository the server serves
// and queues a job for each wait on an environment the App's rule guards
// that the server has no record of (its delivery was lost), so no run is
// left waiting. It returns how many it queued.
func (s *Server) Reconcile(ctx context.Context) (int, error) {
	repos := map[string]int64{}
	for name, inst := range s.cfg.Repositories {
		repos[name] = inst
	}
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRepos).ForEach(func(k, v []byte) error {
			n, _ := strconv.ParseInt(string(v), 10, 64)
			if repos[string(k)] == 0 {
				repos[string(k)] = n
			}
			return nil
		})
	}); err != nil {
		return 0, err
	}
	names := make([]string, 0, len(repos))
	for name := range repos {
		names = append(names, name)
	}
	slices.Sort(names)
	queued := 0
	var errs []string
	for _, name := range names {
		n, err := s.reconcileRepo(ctx, name, repos[name])
		queued += n
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", name, err))
		}
	}
	if len(errs) > 0 {
		return queued, fmt.Errorf("reconciling %s", strings.Join(errs, "; "))
	}
	return queued, nil
}

func (s *Server) reconcileRepo(ctx context.Context, name string, installation int64) (int, error) {
	owner, repo, ok := strings.Cut(name, "/")
	if !ok {
		return 0, fmt.Errorf("%q is not \"owner/repo\"", name)
	}
	if s.cfg.GitHub.AppID == 0 && installation == 0 {
		installation = -1 // a token needs no installation
	}
	c, err := s.client(ctx, owner, repo, max(installation, 0))
	if err != nil {
		return 0, err
	}
	queued := 0
	opts := &gh.ListWorkflowRunsOptions{Status: "waiting", ListOptions: gh.ListOptions{PerPage: 100}}
	for page := 0; page < maxReconcilePages; page++ {
		runs, resp, err := c.GH.Actions.ListRepositoryWorkflowRuns(ctx, owner, repo, opts)
		if err != nil {
			return queued, fmt.Errorf("listing waiting runs: %w", err)
		}
		for _, run := range runs.WorkflowRuns {
			if time.Since(run.GetUpdatedAt().Time) < s.cfg.ReconcileGrace {
				continue // its delivery may still be on its way
			}
			n, err := s.reconcileRun(ctx, c, installation, run)
			queued += n
			if err != nil {
				return queued, err
			}
		}
		if resp == nil || resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return queued, nil
}

func (s *Server) reconcileRun(ctx context.Context, c *github.Client, installation int64, run *gh.WorkflowRun) (int, error) {
	pending, err := c.PendingDeployments(ctx, run.GetID())
	if err != nil {
		return 0, err
	}
	queued := 0
	for _, p := range pending {
		env := p.Environment.Name
		known := false
		if err := s.db.View(func(tx *bolt.Tx) error {
			known = tx.Bucket(bucketRuns).Get(runKey(c.Owner+"/"+c.Repo, run.GetID(), env)) != nil
			return nil
		}); err != nil {
			return queued, err
		}
		if known {
			continue
		}
		ours, err := s.ruleGuards(ctx, c, env)
		if err != nil {
			return queued, err
		}
		if !ours {
			continue
		}
		now := time.Now()
		actor := run.GetTriggeringActor().GetLogin()
		if actor == "" {
			actor = run.GetActor().GetLogin()
		}
		j := &job{
			Key:    fmt.Sprintf("reconcile/%s/%s/%d/%s", c.Owner, c.Repo, run.GetID(), env),
			Origin: originReconcile, Owner: c.Owner, Repo: c.Repo, InstallationID: max(installation, 0),
			RunID: run.GetID(), Environment: env, Commit: run.GetHeadSHA(), Actor: actor,
			ReceivedAt: now, DueAt: now,
		}
		var adm admission
		if err := s.db.Update(func(tx *bolt.Tx) error {
			var err error
			adm, _, err = admit(tx, j, nil, now)
			return err
		}); err != nil {
			return queued, err
		}
		if adm != admitted {
			continue
		}
		queued++
		s.pending.Add(1)
		s.metrics.pending.Set(float64(s.pending.Load()))
		s.log.Warn("found a waiting run without a delivery; deciding it", j.logAttrs()...)
		s.schedule(j)
	}
	return queued, nil
}

// ruleGuards reports whether the App's custom protection rule is enabled
// on the environment: the server answers only its own rule.
func (s *Server) ruleGuards(ctx context.Context, c *github.Client, env string) (bool, error) {
	key := strings.ToLower(c.Owner + "/" + c.Repo + "\x00" + env)
	s.rulesMu.Lock()
	rc, ok := s.rules[key]
	s.rulesMu.Unlock()
	if ok && time.Since(rc.at) < ruleCacheTTL {
		return rc.ours, nil
	}
	var out struct {
		Rules []struct {
			Enabled bool `json:"enabled"`
			App     struct {
				ID int64 `json:"id"`
			} `json:"app"`
		} `json:"custom_deployment_protection_rules"`
	}
	path := fmt.Sprintf("repos/%s/%s/environments/%s/deployment_protection_rules", c.Owner, c.Repo, url.PathEscape(env))
	req, err := c.GH.NewRequest(http.MethodGet, path, nil)
	if err != nil {
		return false, err
	}
	if _, err := c.GH.Do(ctx, req, &out); err != nil {
		return false, fmt.Errorf("listing the protection rules of environment %q: %w", env, err)
	}
	ours := false
	for _, r := range out.Rules {
		if r.Enabled && r.App.ID == s.cfg.GitHub.AppID {
			ours = true
		}
	}
	s.rulesMu.Lock()
	s.rules[key] = ruleCheck{ours: ours, at: time.Now()}
	s.rulesMu.Unlock()
	return ours, nil
}
