package gateserver

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	gh "github.com/google/go-github/v60/github"
)

// The webhook headers GitHub sends.
const (
	headerSignature = "X-Hub-Signature-256"
	headerEvent     = "X-GitHub-Event"
	headerDelivery  = "X-GitHub-Delivery"
)

// eventProtectionRule is the only event the server decides on; "ping",
// which GitHub sends when the webhook is set up, is answered and ignored.
const (
	eventProtectionRule = "deployment_protection_rule"
	eventPing           = "ping"
)

// Delivery is a verified deployment_protection_rule (requested) delivery:
// what the server needs to decide and to answer.
type Delivery struct {
	ID    string // X-GitHub-Delivery, reused by GitHub's manual redeliveries
	Event string // deployment_protection_rule, or ping

	Owner, Repo    string
	InstallationID int64
	Environment    string // the GitHub environment the run waits on
	RunID          int64  // from the callback URL
	CallbackURL    string

	// From the deployment, when the payload has one, else empty: the
	// server then reads the run.
	Commit, Ref string
	// Service is the Promote service named in the deployment's payload
	// ({"promote": {"service": …}}), when Promote created it.
	Service string
	Actor   string // the deployment's creator, else the sender

	BodySHA256 [sha256.Size]byte
}

// Repository is "owner/repo".
func (d *Delivery) Repository() string { return d.Owner + "/" + d.Repo }

// RefusalError is why a delivery was refused, with the HTTP status the
// server answers it with.
type RefusalError struct {
	Status int
	Reason string
}

func (e *RefusalError) Error() string { return e.Reason }

func refuse(status int, format string, args ...any) error {
	return &RefusalError{Status: status, Reason: fmt.Sprintf(format, args...)}
}

// maxDeliveryIDLen bounds X-GitHub-Delivery: GitHub sends a UUID.
const maxDeliveryIDLen = 64

// ParseDelivery verifies a webhook delivery's signature and parses it. It
// accepts only an HMAC-SHA256 signature in X-Hub-Signature-256 (never the
// SHA-1 X-Hub-Signature, which go-github's ValidatePayload falls back to),
// compared in constant time. The body must already be bounded by the
// caller. Every refusal is a *RefusalError.
func ParseDelivery(h http.Header, body, secret []byte) (*Delivery, error) {
	if len(secret) == 0 {
		return nil, refuse(http.StatusInternalServerError, "no webhook secret is configured")
	}
	sig := h.Get(headerSignature)
	if sig == "" {
		return nil, refuse(http.StatusUnauthorized, "unsigned delivery: no %s header", headerSignature)
	}
	// go-github's ValidateSignature also takes "sha1=…": insist on SHA-256.
	if !strings.HasPrefix(sig, "sha256=") {
		return nil, refuse(http.StatusUnauthorized, "%s is not \"sha256=<hex>\"", headerSignature)
	}
	if err := gh.ValidateSignature(sig, body, secret); err != nil {
		return nil, refuse(http.StatusUnauthorized, "the signature does not match the body: check the webhook secret")
	}

	d := &Delivery{ID: h.Get(headerDelivery), Event: h.Get(headerEvent), BodySHA256: sha256.Sum256(body)}
	if !validDeliveryID(d.ID) {
		return nil, refuse(http.StatusBadRequest, "%s %q is not a delivery GUID", headerDelivery, truncate(d.ID, maxDeliveryIDLen))
	}
	switch d.Event {
	case eventPing:
		return d, nil
	case eventProtectionRule:
	default:
		return nil, refuse(http.StatusBadRequest, "event %q is not handled: subscribe the App to %q only", truncate(d.Event, 64), eventProtectionRule)
	}
	if ct := h.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return nil, refuse(http.StatusUnsupportedMediaType, "content type %q: set the webhook's content type to application/json", truncate(ct, 64))
		}
	}

	// ParseWebHook decodes into go-github's event type; a syntax error in
	// a signed body is a sender's bug, never a panic.
	parsed, err := gh.ParseWebHook(eventProtectionRule, body)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "the body is not a %s event: %v", eventProtectionRule, err)
	}
	ev, ok := parsed.(*gh.DeploymentProtectionRuleEvent)
	if !ok {
		return nil, refuse(http.StatusBadRequest, "the body is not a %s event", eventProtectionRule)
	}
	if a := ev.GetAction(); a != "requested" {
		return nil, refuse(http.StatusBadRequest, "action %q: only \"requested\" is decided", truncate(a, 64))
	}
	d.Environment = ev.GetEnvironment()
	if d.Environment == "" || len(d.Environment) > 255 {
		return nil, refuse(http.StatusBadRequest, "the payload names no environment")
	}
	owner, repo, ok := strings.Cut(ev.GetRepo().GetFullName(), "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return nil, refuse(http.StatusBadRequest, "the payload's repository.full_name %q is not \"owner/repo\"", truncate(ev.GetRepo().GetFullName(), 200))
	}
	d.Owner, d.Repo = owner, repo
	d.InstallationID = ev.GetInstallation().GetID()
	if d.InstallationID <= 0 {
		return nil, refuse(http.StatusBadRequest, "the payload has no installation: deliver it from the GitHub App, not a repository webhook")
	}
	d.CallbackURL = ev.GetDeploymentCallbackURL()
	if d.RunID, err = callbackRunID(d.CallbackURL, owner, repo); err != nil {
		return nil, refuse(http.StatusBadRequest, "deployment_callback_url: %v", err)
	}
	if dep := ev.GetDeployment(); dep != nil {
		d.Commit, d.Ref = dep.GetSHA(), dep.GetRef()
		d.Actor = dep.GetCreator().GetLogin()
		d.Service = promoteService(dep.Payload)
	}
	if d.Actor == "" {
		d.Actor = ev.GetSender().GetLogin()
	}
	return d, nil
}

// callbackRunID checks that a callback URL is the protection rule review of
// a run of owner/repo and returns the run's id. Where the API lives is
// checked by the server, which knows it.
func callbackRunID(raw, owner, repo string) (int64, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return 0, fmt.Errorf("%q is not an http(s) URL", truncate(raw, 200))
	}
	prefix := "/repos/" + owner + "/" + repo + "/actions/runs/"
	i := strings.LastIndex(strings.ToLower(u.Path), strings.ToLower(prefix))
	if i < 0 {
		return 0, fmt.Errorf("%q is not a run of %s/%s", truncate(raw, 200), owner, repo)
	}
	idStr, ok := strings.CutSuffix(u.Path[i+len(prefix):], "/deployment_protection_rule")
	id, err := strconv.ParseInt(idStr, 10, 64)
	if !ok || err != nil || id <= 0 {
		return 0, fmt.Errorf("%q does not end in /actions/runs/{run_id}/deployment_protection_rule", truncate(raw, 200))
	}
	return id, nil
}

// promoteService reads the service Promote records in a deployment's payload.
func promoteService(raw json.RawMessage) string {
	var p struct {
		Promote struct {
			Service string `json:"service"`
		} `json:"promote"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &p) != nil {
		return ""
	}
	return p.Promote.Service
}

func validDeliveryID(id string) bool {
	if id == "" || len(id) > maxDeliveryIDLen {
		return false
	}
	for _, c := range id {
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// truncate shortens s for an error message, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
