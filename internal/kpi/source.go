package kpi

import (
	"context"
	"crypto"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/store"
)

// Sources are where Gather reads.
type Sources struct {
	// StoreName names the evidence store in promote_evidence_info.
	StoreName string
	Store     evidence.Store
	// Keys are the trusted public keys, by key id.
	Keys map[string]crypto.PublicKey
	// Bucket audits an S3 store; nil for a local one.
	Bucket Auditor
	// Spool is where records wait for the store; nil when there is none.
	Spool *evidence.Spool
	// GitHub lists the Deployments Promote did not make; nil unless asked.
	GitHub *github.Client
	// Window is how far back from each refresh GitHub's Deployments are
	// listed; 0 lists them all.
	Window time.Duration
	// CheckEverySignature verifies each record's signature, as promote
	// evidence verify does, instead of the records that a good checkpoint
	// covers through it (evidence.Verifier.TrustCheckpoints).
	CheckEverySignature bool
	// Nodes are the manifest's nodes (Input.Nodes).
	Nodes []Node
}

// Auditor is the S3 audit of promote evidence verify (store.S3).
type Auditor interface {
	Audit(ctx context.Context) (*store.AuditReport, error)
}

// The sources, as promote_kpi_refresh_errors_total names them.
const (
	SourceEvidence = "evidence"
	SourceBucket   = "bucket"
	SourceSpool    = "spool"
	SourceGitHub   = "github"
)

// Gathered is what Gather read: the input for Compute, and why each source
// that failed did.
type Gathered struct {
	Input
	Errors map[string]error
}

// Gather reads every source: the evidence log, verified as it is read; the
// bucket's audit; the spool; GitHub's Deployments. A source that fails is
// recorded in Errors and leaves its part of the input empty.
func Gather(ctx context.Context, src Sources) Gathered {
	g := Gathered{Input: Input{Store: src.StoreName, Nodes: src.Nodes}, Errors: map[string]error{}}
	v := &evidence.Verifier{Keys: src.Keys, TrustCheckpoints: !src.CheckEverySignature}
	report, entries, err := v.ReadReport(ctx, src.Store)
	if err != nil {
		g.Errors[SourceEvidence] = err
		g.ReadErr = err
	} else {
		g.Report, g.Entries = report, entries
	}
	var audit *store.AuditReport
	if src.Bucket != nil {
		audit, err = src.Bucket.Audit(ctx)
		if err != nil {
			g.Errors[SourceBucket] = err
			g.BucketErr = err
		} else {
			g.WORM = wormOf(audit)
		}
	}
	if g.Report != nil && g.Report.TreeSize > 0 {
		g.LastCheckpoint = checkpointTime(src.Store, audit, evidence.CheckpointKey(g.Report.TreeSize))
	}
	if src.Spool != nil {
		g.Spool, err = src.Spool.Records(src.Keys)
		if err != nil {
			g.Errors[SourceSpool] = err
			g.SpoolErr = err
		}
	}
	if src.GitHub != nil && g.Report != nil && g.Report.OK() {
		var since time.Time
		if src.Window > 0 {
			since = time.Now().Add(-src.Window)
		}
		g.Deployments, err = GitHubDeployments(ctx, src.GitHub, since, promoted(g.Entries))
		if err != nil {
			g.Errors[SourceGitHub] = err
		}
	}
	return g
}

// promoted returns the deployment ids the chain records.
func promoted(entries []evidence.Entry) map[int64]bool {
	ids := map[int64]bool{}
	for _, e := range entries {
		if e.DeploymentID != 0 {
			ids[e.DeploymentID] = true
		}
	}
	return ids
}

// wormOf returns the bucket figures of an audit.
func wormOf(a *store.AuditReport) *WORM {
	w := &WORM{Objects: int64(len(a.Versions)), DeleteMarkers: len(a.DeleteMarkers)}
	for _, v := range a.Versions {
		w.Bytes += v.Size
		if v.Mode != "COMPLIANCE" {
			w.Noncompliant++
		}
		if !v.RetainUntil.IsZero() && (w.MinRetainUntil.IsZero() || v.RetainUntil.Before(w.MinRetainUntil)) {
			w.MinRetainUntil = v.RetainUntil
		}
	}
	return w
}

// checkpointTime returns when the checkpoint at key was written: its first
// version's time in S3, its file's modification time in a local store.
func checkpointTime(s evidence.Store, audit *store.AuditReport, key string) time.Time {
	if audit != nil {
		for _, v := range audit.Versions {
			if v.Key == key {
				return v.LastModified
			}
		}
	}
	if l, ok := s.(*evidence.LocalStore); ok {
		if fi, err := os.Stat(filepath.Join(l.Dir(), filepath.FromSlash(key))); err == nil {
			return fi.ModTime()
		}
	}
	return time.Time{}
}

// serviceOfTask returns the service a Deployment's task names
// ("deploy:api" is api), or the task itself.
func serviceOfTask(task string) string {
	if s, ok := strings.CutPrefix(task, "deploy:"); ok && s != "" {
		return s
	}
	return task
}
