package actions

import (
	"cmp"
	"slices"
	"strings"
)

// Mask asks the runner to replace secret with "***" in the job's logs, and
// remembers it for Redact. GitHub masks line by line, so Mask emits one
// add-mask command per line of a multi-line secret, each trimmed of
// surrounding white space (the trimmed line occurs wherever the untrimmed one
// does, so it masks at least as much); blank lines are skipped, and lines
// masked before are not emitted again. Like GitHub, Mask masks a short line
// such as "{" of a JSON secret everywhere it occurs.
//
// Off GitHub Actions, Mask only remembers the secret.
func (r *Runtime) Mask(secret string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	remember := func(s string) {
		if _, ok := r.secrets[s]; !ok {
			r.secrets[s] = struct{}{}
			changed = true
		}
	}
	if strings.TrimSpace(secret) != "" {
		remember(secret)
	}
	var fresh []string
	for _, line := range strings.FieldsFunc(secret, func(c rune) bool { return c == '\n' || c == '\r' }) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		remember(line)
		if _, ok := r.masked[line]; !ok {
			r.masked[line] = struct{}{}
			fresh = append(fresh, line)
		}
	}
	if changed {
		r.rebuildRedactor()
	}
	if !r.enabled {
		return nil
	}
	for i, line := range fresh {
		if err := r.issue("add-mask", nil, line); err != nil {
			// Let a later Mask retry the lines the runner never saw.
			for _, l := range fresh[i:] {
				delete(r.masked, l)
			}
			return err
		}
	}
	return nil
}

// Redact returns s with every secret given to Mask, and every line of each,
// replaced by "***". Promote passes text it prints itself (errors, logs,
// summaries) through Redact, so a secret stays hidden off GitHub Actions too,
// where no runner masks it.
func (r *Runtime) Redact(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.redactLocked(s)
}

// redactLocked is Redact for callers that hold r.mu.
func (r *Runtime) redactLocked(s string) string {
	if r.redactor == nil {
		return s
	}
	return r.redactor.Replace(s)
}

// rebuildRedactor makes the replacer of every remembered secret, longest
// first, so that a whole multi-line secret becomes one "***" rather than one
// per line. r.mu must be held.
func (r *Runtime) rebuildRedactor() {
	if len(r.secrets) == 0 {
		r.redactor = nil
		return
	}
	secrets := make([]string, 0, len(r.secrets))
	for s := range r.secrets {
		secrets = append(secrets, s)
	}
	slices.SortFunc(secrets, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b))
	})
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, "***")
	}
	r.redactor = strings.NewReplacer(pairs...)
}
