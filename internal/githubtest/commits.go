package githubtest

import "strings"

// SetCommit points a tag at a given commit SHA (40 hex digits), so that a
// test can deploy the commits of a real git repository: Deployments of a
// SHA need a ref that points to it.
func (s *Server) SetCommit(tag, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs["refs/tags/"+strings.TrimPrefix(tag, "refs/tags/")] = strings.ToLower(sha)
}
