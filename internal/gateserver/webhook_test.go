package gateserver

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/manifest"
)

// TestBadDeliveries sends 1,000 forged, replayed, truncated, oversized and
// otherwise wrong deliveries over loopback: none is accepted, nothing is
// decided, and the server then answers a good one.
func TestBadDeliveries(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{config: func(c *Config) { c.MaxBodyBytes = 64 << 10 }})
	front := httptest.NewServer(r.srv.Handler())
	defer front.Close()

	first := r.dispatch("production")
	good := r.event(first)
	goodGUID := newGUID()
	post := func(method string, hdr http.Header, body []byte) int {
		t.Helper()
		req, _ := http.NewRequest(method, front.URL+"/webhook", bytes.NewReader(body))
		req.Header = hdr
		resp, err := front.Client().Do(req)
		if err != nil {
			t.Fatalf("the server is down: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	headers := func(guid string, body []byte) http.Header { return signedRequest(guid, body).Header }
	if code := post("POST", headers(goodGUID, good), good); code != http.StatusAccepted {
		t.Fatalf("the first good delivery: %d, want 202", code)
	}
	r.waitAnswered([]int64{first}, 30*time.Second)

	other := r.dispatch("production") // never delivered properly
	otherBody := r.event(other)
	oversized := append(bytes.TrimSuffix(otherBody, []byte("}")), []byte(`,"padding":"`+strings.Repeat("x", 70<<10)+`"}`)...)
	sha1Sig := func(body []byte) string {
		m := hmac.New(sha1.New, []byte(testSecret))
		m.Write(body)
		return "sha1=" + hex.EncodeToString(m.Sum(nil))
	}
	elsewhere := bytes.ReplaceAll(otherBody, []byte(strings.TrimSuffix(r.gh.URL(), "/")), []byte("https://attacker.example"))

	type bad struct {
		what string
		send func(i int) int // returns the status, or 0 for a dropped connection
	}
	cases := []bad{
		{"forged signature", func(i int) int {
			h := headers(newGUID(), otherBody)
			h.Set(headerSignature, "sha256="+strings.Repeat(fmt.Sprintf("%x", i%16), 64))
			return post("POST", h, otherBody)
		}},
		{"signed with another secret", func(i int) int {
			h := headers(newGUID(), otherBody)
			m := hmac.New(sha256.New, []byte("guess"))
			m.Write(otherBody)
			h.Set(headerSignature, "sha256="+hex.EncodeToString(m.Sum(nil)))
			return post("POST", h, otherBody)
		}},
		{"unsigned", func(int) int {
			h := headers(newGUID(), otherBody)
			h.Del(headerSignature)
			return post("POST", h, otherBody)
		}},
		{"SHA-1 signature only", func(int) int {
			h := headers(newGUID(), otherBody)
			h.Del(headerSignature)
			h.Set("X-Hub-Signature", sha1Sig(otherBody))
			return post("POST", h, otherBody)
		}},
		{"SHA-1 in the SHA-256 header", func(int) int {
			h := headers(newGUID(), otherBody)
			h.Set(headerSignature, sha1Sig(otherBody))
			return post("POST", h, otherBody)
		}},
		{"replayed", func(int) int { return post("POST", headers(goodGUID, good), good) }},
		{"replayed under a new GUID", func(int) int { return post("POST", headers(newGUID(), good), good) }},
		{"truncated, signature of the whole", func(i int) int {
			h := headers(newGUID(), otherBody)
			return post("POST", h, otherBody[:1+i%(len(otherBody)-1)])
		}},
		{"truncated and signed", func(i int) int {
			cut := otherBody[:1+i%(len(otherBody)-1)]
			return post("POST", headers(newGUID(), cut), cut)
		}},
		{"truncated on the wire", func(i int) int {
			return sendTruncated(t, front.Listener.Addr().String(), headers(newGUID(), otherBody), otherBody, 1+i%(len(otherBody)-1))
		}},
		{"oversized", func(int) int { return post("POST", headers(newGUID(), oversized), oversized) }},
		{"another event", func(int) int {
			h := headers(newGUID(), otherBody)
			h.Set(headerEvent, "deployment_status")
			return post("POST", h, otherBody)
		}},
		{"no delivery GUID", func(int) int {
			h := headers("", otherBody)
			return post("POST", h, otherBody)
		}},
		{"a callback URL elsewhere", func(int) int { return post("POST", headers(newGUID(), elsewhere), elsewhere) }},
		{"form-encoded", func(int) int {
			h := headers(newGUID(), otherBody)
			h.Set("Content-Type", "application/x-www-form-urlencoded")
			return post("POST", h, otherBody)
		}},
		{"GET", func(int) int { return post("GET", headers(newGUID(), otherBody), otherBody) }},
	}
	counts := map[string]map[int]int{}
	for i := range 1000 {
		c := cases[i%len(cases)]
		code := c.send(i)
		if code >= 200 && code < 300 {
			t.Fatalf("%s (#%d) was accepted: %d", c.what, i, code)
		}
		if counts[c.what] == nil {
			counts[c.what] = map[int]int{}
		}
		counts[c.what][code]++
	}
	for _, c := range cases {
		t.Logf("%-40s %v", c.what, counts[c.what])
	}
	if v := r.metric("promote_gate_pending_decisions"); v != "0" {
		t.Errorf("promote_gate_pending_decisions = %q after the bad deliveries, want 0", v)
	}
	if got := r.reviews(); len(got[first]) != 1 || len(got[other]) != 0 {
		t.Fatalf("answers: first %d, other %d; want 1 and 0", len(got[first]), len(got[other]))
	}
	// The server is up and answers the next good delivery.
	if code := post("POST", headers(newGUID(), otherBody), otherBody); code != http.StatusAccepted {
		t.Fatalf("the next good delivery: %d, want 202", code)
	}
	r.waitAnswered([]int64{other}, 30*time.Second)
}

// sendTruncated announces the whole body and sends only its first n bytes
// before closing the connection; it returns the status, or 0 if the
// server closed the connection without one.
func sendTruncated(t *testing.T, addr string, hdr http.Header, body []byte, n int) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("the server is down: %v", err)
	}
	defer conn.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST /webhook HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", addr, len(body))
	hdr.Write(&b)
	b.WriteString("\r\n")
	b.Write(body[:n])
	conn.Write(b.Bytes())
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestParseDelivery covers the parser's refusals one by one, with the
// status each gets.
func TestParseDelivery(t *testing.T) {
	t.Parallel()
	body := []byte(`{"action":"requested","environment":"production","event":"push",` +
		`"deployment_callback_url":"https://api.github.com/repos/acme/app/actions/runs/42/deployment_protection_rule",` +
		`"deployment":{"id":1,"sha":"abc123","ref":"main","creator":{"login":"alice"},"payload":{"promote":{"service":"api"}}},` +
		`"repository":{"full_name":"acme/app"},"installation":{"id":7},"sender":{"login":"bob"}}`)
	d, err := ParseDelivery(signedRequest("guid-1", body).Header, body, []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	want := Delivery{ID: "guid-1", Event: eventProtectionRule, Owner: "acme", Repo: "app", InstallationID: 7,
		Environment: "production", RunID: 42, CallbackURL: "https://api.github.com/repos/acme/app/actions/runs/42/deployment_protection_rule",
		Commit: "abc123", Ref: "main", Service: "api", Actor: "alice"}
	d.BodySHA256 = [32]byte{}
	if *d != want {
		t.Errorf("ParseDelivery = %+v, want %+v", *d, want)
	}
	for _, tc := range []struct {
		what, from, to string
		status         int
	}{
		{"another action", `"requested"`, `"completed"`, 400},
		{"no environment", `"production"`, `""`, 400},
		{"a bad repository", `"acme/app"`, `"acme"`, 400},
		{"no installation", `{"id":7}`, `{}`, 400},
		{"a callback that is not a run's", `runs/42/deployment_protection_rule`, `runs/42/cancel`, 400},
		{"a callback of another repository", `repos/acme/app/actions`, `repos/evil/app/actions`, 400},
		{"a run id that is not a number", `runs/42/`, `runs/x/`, 400},
		{"not JSON", `{"action"`, `{action`, 400},
		{"a wrong type", `"environment":"production"`, `"environment":7`, 400},
	} {
		b := bytes.Replace(body, []byte(tc.from), []byte(tc.to), 1)
		_, err := ParseDelivery(signedRequest("guid-2", b).Header, b, []byte(testSecret))
		re, ok := err.(*RefusalError)
		if !ok || re.Status != tc.status {
			t.Errorf("%s: ParseDelivery = %v, want a %d refusal", tc.what, err, tc.status)
		}
	}
}

// FuzzParseDelivery feeds the parser signed bodies (so that parsing gets
// past the signature) with fuzzed headers: it must never panic, and what
// it accepts must be well-formed.
func FuzzParseDelivery(f *testing.F) {
	f.Add([]byte(`{"action":"requested","environment":"production","deployment_callback_url":"https://api.github.com/repos/acme/app/actions/runs/42/deployment_protection_rule","repository":{"full_name":"acme/app"},"installation":{"id":7},"sender":{"login":"bob"}}`), eventProtectionRule, "6b0f2c1e-0000", true)
	f.Add([]byte(`{"action":"requested","deployment":{"payload":"{\"promote\":1}","creator":null}}`), eventProtectionRule, "x", true)
	f.Add([]byte(`{}`), eventPing, "ping-1", true)
	f.Add([]byte(`{"zen":"x"}`), "deployment_status", "g", false)
	f.Fuzz(func(t *testing.T, body []byte, event, guid string, signed bool) {
		req := signedRequest(guid, body)
		req.Header.Set(headerEvent, event)
		if !signed {
			req.Header.Set(headerSignature, "sha256=00")
		}
		d, err := ParseDelivery(req.Header, body, []byte(testSecret))
		if err != nil {
			if _, ok := err.(*RefusalError); !ok {
				t.Fatalf("ParseDelivery error %T is not a *RefusalError: %v", err, err)
			}
			return
		}
		if !signed {
			t.Fatal("accepted a delivery with a wrong signature")
		}
		if d.Event == eventPing {
			return
		}
		if d.RunID <= 0 || d.InstallationID <= 0 || d.Environment == "" || d.Owner == "" || d.Repo == "" {
			t.Fatalf("accepted an incomplete delivery: %+v", d)
		}
		if _, err := callbackRunID(d.CallbackURL, d.Owner, d.Repo); err != nil {
			t.Fatalf("accepted callback %q: %v", d.CallbackURL, err)
		}
	})
}

// TestResolve maps GitHub environments to the manifest's service and
// environment, and refuses what it cannot tell.
func TestResolve(t *testing.T) {
	t.Parallel()
	m, err := manifest.Parse("promotion.yaml", []byte(`version: 1
environments:
  - name: staging
  - name: production
    github_environment: "{service}-prod"
services:
  api: {paths: ["api/**"], deploy: {command: ./d}}
  web: {paths: ["web/**"], deploy: {command: ./d}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		service, ghEnv, wantSvc, wantEnv, wantErr string
	}{
		{ghEnv: "web-prod", wantSvc: "web", wantEnv: "production"},
		{ghEnv: "API-PROD", wantSvc: "api", wantEnv: "production"},
		{service: "api", ghEnv: "staging", wantSvc: "api", wantEnv: "staging"},
		{ghEnv: "staging", wantErr: "several services"},
		{ghEnv: "qa", wantErr: "no service"},
		{service: "api", ghEnv: "web-prod", wantErr: `no environment of service "api"`},
	} {
		svc, env, err := resolve(m, tc.service, tc.ghEnv)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("resolve(%q, %q) = %v, want an error with %q", tc.service, tc.ghEnv, err, tc.wantErr)
			}
			continue
		}
		if err != nil || svc != tc.wantSvc || env != tc.wantEnv {
			t.Errorf("resolve(%q, %q) = %q, %q, %v; want %q, %q", tc.service, tc.ghEnv, svc, env, err, tc.wantSvc, tc.wantEnv)
		}
	}
	for title, want := range map[string]string{
		"deploy api to production #12": "api", "deploy api": "", "Deploy": "", "deploy a b to c": "",
	} {
		if got := serviceFromTitle(title); got != want {
			t.Errorf("serviceFromTitle(%q) = %q, want %q", title, got, want)
		}
	}
}
