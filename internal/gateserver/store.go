package gateserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// The store is one bbolt file. Every request GitHub holds a run for is a
// job, written (and synced to disk) before its delivery is acknowledged,
// and marked done only once GitHub has its answer.
var (
	bucketJobs       = []byte("jobs")       // job key → job (JSON)
	bucketDeliveries = []byte("deliveries") // X-GitHub-Delivery → job key
	bucketBodies     = []byte("bodies")     // SHA-256 of a delivery's body → job key
	bucketRuns       = []byte("runs")       // runKey → the latest job key for it
	bucketRepos      = []byte("repos")      // "owner/repo" → installation id
)

// Outcomes of a job.
const (
	outcomePending   = ""          // not yet answered
	outcomeAnswered  = "answered"  // GitHub accepted the answer
	outcomeConfirmed = "confirmed" // an earlier answer's fate was unknown; the run no longer waits on it
	outcomeAbandoned = "abandoned" // GitHub refused it for good (LastError says why)
)

// job is a request to decide and answer: one run's wait on one
// environment.
type job struct {
	Key            string    `json:"key"`
	Delivery       string    `json:"delivery,omitempty"` // empty for a reconciled job
	Origin         string    `json:"origin"`             // webhook or reconcile
	Owner          string    `json:"owner"`
	Repo           string    `json:"repo"`
	InstallationID int64     `json:"installation_id"`
	RunID          int64     `json:"run_id"`
	Environment    string    `json:"environment"`
	Service        string    `json:"service,omitempty"`
	Commit         string    `json:"commit,omitempty"`
	Actor          string    `json:"actor,omitempty"`
	ReceivedAt     time.Time `json:"received_at"`
	// DueAt is when a worker next takes it up: at once, when a soak
	// ends (Decision.RetryAt), or after a failed callback's backoff.
	DueAt    time.Time       `json:"due_at"`
	Decision *storedDecision `json:"decision,omitempty"`
	// DecideFailures and Attempts count failed decisions and callbacks.
	DecideFailures int `json:"decide_failures,omitempty"`
	Attempts       int `json:"attempts,omitempty"`
	// Unsure marks a decision whose answer may have reached GitHub
	// unacknowledged (a dropped connection, a 5xx, a restart): the run's
	// pending deployments are read before answering again.
	Unsure bool `json:"unsure,omitempty"`
	// Reported marks the status report posted on the first deferral.
	Reported   bool      `json:"reported,omitempty"`
	Outcome    string    `json:"outcome,omitempty"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
}

// storedDecision is the decision as it is sent: made once, never again.
type storedDecision struct {
	Result    string    `json:"result"` // allow, deny or warn
	State     string    `json:"state"`  // approved or rejected
	Comment   string    `json:"comment"`
	DecidedAt time.Time `json:"decided_at"`
}

func (j *job) done() bool         { return j.Outcome != outcomePending }
func (j *job) repository() string { return j.Owner + "/" + j.Repo }
func (j *job) runKey() []byte     { return runKey(j.repository(), j.RunID, j.Environment) }
func (j *job) logAttrs() []any {
	return []any{"job", j.Key, "repository", j.repository(), "run_id", j.RunID, "environment", j.Environment}
}

// runKey identifies a run's wait on an environment (names are
// case-insensitive, as on GitHub).
func runKey(repo string, runID int64, env string) []byte {
	return []byte(strings.ToLower(repo) + "\x00" + strconv.FormatInt(runID, 10) + "\x00" + strings.ToLower(env))
}

// batchDelay is how long db.Batch waits for company: deliveries and job
// updates that arrive together share one commit, and so one fsync.
const batchDelay = 2 * time.Millisecond

// openStore opens (or creates) the database at path. bbolt locks the file:
// a second server on the same file waits up to timeout, then fails.
func openStore(path string, timeout time.Duration) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("opening the gate's database %q: another process holds it: run one server per database file", path)
		}
		return nil, fmt.Errorf("opening the gate's database %q: %w", path, err)
	}
	db.MaxBatchDelay = batchDelay
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketJobs, bucketDeliveries, bucketBodies, bucketRuns, bucketRepos} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("preparing the gate's database %q: %w", path, err)
	}
	return db, nil
}

func getJob(tx *bolt.Tx, key string) (*job, error) {
	raw := tx.Bucket(bucketJobs).Get([]byte(key))
	if raw == nil {
		return nil, nil
	}
	var j job
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("job %q in the database is corrupt: %w", key, err)
	}
	return &j, nil
}

func putJob(tx *bolt.Tx, j *job) error {
	raw, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketJobs).Put([]byte(j.Key), raw)
}

// admission is what happened to an offered job.
type admission int

const (
	admitted  admission = iota // a new job
	replayed                   // the delivery (its GUID or its very body) was seen before
	duplicate                  // another job already answers this run's wait
)

// aliasWindow is how long after a reconciled answer a late delivery for the
// same wait is taken for that wait's own, not a new one (a rerun).
const aliasWindow = 10 * time.Minute

// admit stores j unless it repeats a delivery or a wait already handled.
// For a delivery, body is the SHA-256 of its body. existing is the job
// already handling it, if any.
func admit(tx *bolt.Tx, j *job, body []byte, now time.Time) (admission, *job, error) {
	deliveries, bodies, runs := tx.Bucket(bucketDeliveries), tx.Bucket(bucketBodies), tx.Bucket(bucketRuns)
	if j.Delivery != "" {
		for _, k := range [][]byte{deliveries.Get([]byte(j.Delivery)), bodies.Get(body)} {
			if k != nil {
				prev, err := getJob(tx, string(k))
				return replayed, prev, err
			}
		}
	}
	if k := runs.Get(j.runKey()); k != nil {
		prev, err := getJob(tx, string(k))
		if err != nil {
			return 0, nil, err
		}
		// A wait already being answered is the same wait: never a second
		// answer. So is a delivery arriving just after the reconciler
		// answered its wait, and a wait the reconciler finds just after it
		// was answered (GitHub may still list it for a moment). A wait whose
		// answer is older is a new one: the run was re-run.
		recent := prev != nil && now.Sub(prev.AnsweredAt) < aliasWindow
		if prev != nil && (!prev.done() || recent && (prev.Origin == originReconcile || j.Origin == originReconcile)) {
			if j.Delivery != "" {
				if err := deliveries.Put([]byte(j.Delivery), []byte(prev.Key)); err != nil {
					return 0, nil, err
				}
				if err := bodies.Put(body, []byte(prev.Key)); err != nil {
					return 0, nil, err
				}
			}
			return duplicate, prev, nil
		}
	}
	if err := putJob(tx, j); err != nil {
		return 0, nil, err
	}
	if j.Delivery != "" {
		if err := deliveries.Put([]byte(j.Delivery), []byte(j.Key)); err != nil {
			return 0, nil, err
		}
		if err := bodies.Put(body, []byte(j.Key)); err != nil {
			return 0, nil, err
		}
	}
	if err := runs.Put(j.runKey(), []byte(j.Key)); err != nil {
		return 0, nil, err
	}
	return admitted, j, tx.Bucket(bucketRepos).Put([]byte(j.repository()), []byte(strconv.FormatInt(j.InstallationID, 10)))
}

// prune deletes done jobs answered before cutoff, with their index
// entries: GitHub redelivers for 3 days and holds a run for 30.
func prune(tx *bolt.Tx, cutoff time.Time) (int, error) {
	var old []*job
	err := tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
		var j job
		if err := json.Unmarshal(v, &j); err != nil {
			return nil // left for an operator to look at
		}
		if j.done() && j.AnsweredAt.Before(cutoff) && j.ReceivedAt.Before(cutoff) {
			old = append(old, &j)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(old) == 0 {
		return 0, nil
	}
	gone := map[string]bool{}
	for _, j := range old {
		gone[j.Key] = true
		if err := tx.Bucket(bucketJobs).Delete([]byte(j.Key)); err != nil {
			return 0, err
		}
	}
	for _, b := range [][]byte{bucketDeliveries, bucketBodies, bucketRuns} {
		bk := tx.Bucket(b)
		var keys [][]byte
		bk.ForEach(func(k, v []byte) error {
			if gone[string(v)] {
				keys = append(keys, k)
			}
			return nil
		})
		for _, k := range keys {
			if err := bk.Delete(k); err != nil {
				return 0, err
			}
		}
	}
	return len(old), nil
}
