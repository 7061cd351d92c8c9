package run

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	Version        int          `json:"version"`
	ManifestSHA256 string       `json:"manifest_sha256"`
	Commit         string       `json:"commit,omitempty"`
	Result         string       `json:"result"`
	StartedAt      time.Time    `json:"started_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
	FinishedAt     *time.Time   `json:"finished_at,omitempty"`
	Window         int          `json:"window"`
	Nodes          []NodeStatus `json:"nodes"`
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
