package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// StatusVersion is the version of the status file format.
const StatusVersion = 1

// The results of a run.
const (
	ResultRunning   = "running"
	ResultSuccess   = "success"
	ResultFailure   = "failure"
	ResultCancelled = "cancelled"
)

// Status is a run's state: what `promote run` rewrites to its status file
// after every change, and returns at the end.
type Status struct {
	Version        int        `json:"version"`
	ManifestSHA256 string     `json:"manifest_sha256"`
	Commit         string     `json:"commit,omitempty"`
	Result         string     `json:"result"`
	StartedAt      time.Time  `json:"started_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
	Window         int        `json:"window"`
	// MaxParallel is the run's concurrency limit, the most the window
	// grows to.
	MaxParallel int `json:"max_parallel,omitempty"`
	// Fatal is the failure that stopped the whole run, if one did.
	Fatal string       `json:"fatal,omitempty"`
	Nodes []NodeStatus `json:"nodes"`
}

// NodeStatus is one node's state and what it cost: the KPI record of a node.
type NodeStatus struct {
	ID         string     `json:"id"`
	State      State      `json:"state"`
	Phase      Phase      `json:"phase,omitempty"`
	Message    string     `json:"message,omitempty"`
	Resumed    bool       `json:"resumed,omitempty"`
	Attempts   int        `json:"attempts"`
	ReadyAt    *time.Time `json:"ready_at,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// QueueWaitSeconds is the time from ready (needs done, soak over) to
	// start, spent waiting for a slot in the rollout window.
	QueueWaitSeconds float64 `json:"queue_wait_seconds"`
	// ApprovalWaitSeconds is the time spent waiting for reviewers or a wait
	// timer.
	ApprovalWaitSeconds float64 `json:"approval_wait_seconds"`
	// DeploySeconds is the time from start to end, less the approval wait.
	DeploySeconds float64 `json:"deploy_seconds"`
	APICalls      int     `json:"api_calls"`
	DeploymentID  int64   `json:"deployment_id,omitempty"`
	DeploymentURL string  `json:"deployment_url,omitempty"`
	RunURL        string  `json:"run_url,omitempty"`
	// Approvals are the reviewers' decisions that gated the node, if its
	// environment requires reviewers.
	Approvals []Approval `json:"approvals,omitempty"`
}

// IDs returns the nodes in a state.
func (s *Status) IDs(state State) []string {
	out := []string{}
	for _, n := range s.Nodes {
		if n.State == state {
			out = append(out, n.ID)
		}
	}
	return out
}

// WriteFile writes the status as JSON atomically: readers see the previous
// or the new file, never a part.
func (s *Status) WriteFile(path string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode status: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write status: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write status: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

// StatusFile keeps a run's status file current: give Update to
// Options.OnChange. Writes happen in the background, one at a time, always
// of the latest status, so a thousand-node run does not serialise thousands
// of snapshots; Close waits for the last.
type StatusFile struct {
	path   string
	mu     sync.Mutex
	latest *Status // the next status to write, owned by the writer once taken
	busy   bool
	err    error
	done   sync.WaitGroup
}

// NewStatusFile returns a StatusFile writing to path.
func NewStatusFile(path string) *StatusFile { return &StatusFile{path: path} }

// Update takes a new status.
func (w *StatusFile) Update(st *Status) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// The scheduler reuses its snapshot: copy it, into the copy not taken
	// by the writer yet if there is one.
	if w.latest == nil {
		w.latest = &Status{}
	}
	nodes := append(w.latest.Nodes[:0], st.Nodes...)
	*w.latest = *st
	w.latest.Nodes = nodes
	if !w.busy {
		w.busy = true
		w.done.Add(1)
		go w.loop()
	}
}

func (w *StatusFile) loop() {
	defer w.done.Done()
	for {
		w.mu.Lock()
		st := w.latest
		w.latest = nil
		if st == nil {
			w.busy = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		if err := st.WriteFile(w.path); err != nil {
			w.mu.Lock()
			w.err = errors.Join(w.err, err)
			w.mu.Unlock()
		}
	}
}

// Close waits until the latest status is written.
func (w *StatusFile) Close() error {
	w.done.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return fmt.Errorf("write the status file: %w", w.err)
	}
	return nil
}
