package githubtest

import (
	"net/http"
	"time"
)

// getCommit answers GET /repos/{owner}/{repo}/commits/{ref} for a branch, a
// tag or the SHA one of them points to. Every commit of the fake repository
// was authored and committed when the repository was created (a day before
// the server started, on its clock); an unknown ref is answered as GitHub
// answers it, 422 "No commit found for SHA: …".
func (s *Server) getCommit(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := q.PathValue("ref")
	sha := ""
	if full, ok := s.resolveRefLocked(ref); ok {
		sha = s.refs[full]
	}
	for _, v := range s.refs {
		if v == ref {
			sha = v
		}
	}
	if sha == "" {
		return s.errorReply(q, http.StatusUnprocessableEntity, "No commit found for SHA: "+ref, nil)
	}
	date := s.created.UTC().Format(time.RFC3339)
	person := map[string]any{"name": s.opts.User, "email": s.opts.User + "@users.noreply.github.com", "date": date}
	api := s.repoAPI()
	return reply{status: http.StatusOK, body: map[string]any{
		"url":          api + "/commits/" + sha,
		"sha":          sha,
		"node_id":      "C_" + sha[:12],
		"html_url":     s.repoHTML() + "/commit/" + sha,
		"comments_url": api + "/commits/" + sha + "/comments",
		"commit": map[string]any{
			"url":           api + "/git/commits/" + sha,
			"author":        person,
			"committer":     person,
			"message":       "Commit " + sha[:7],
			"comment_count": 0,
			"tree":          map[string]any{"sha": s.shaFor("tree:" + sha), "url": api + "/git/trees/" + s.shaFor("tree:"+sha)},
		},
		"author":    nil,
		"committer": nil,
		"parents":   []any{},
	}}
}
