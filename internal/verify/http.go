package verify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/promote-dev/promote/internal/manifest"
)

// maxBody is how much of a response body a check reads.
const maxBody = 1 << 20

// httpProbe requests the check's URL and wants its status (any 2xx unless
// one is set) and, if set, a body matching its expression. Header values
// come from environment variables and appear in no message.
func (v *Verifier) httpProbe(c *manifest.HTTPCheck, tmpl *strings.Replacer, dir string) (probe, error) {
	client, headers, err := v.client(c.TLS, c.Headers, dir)
	if err != nil {
		return nil, err
	}
	url := tmpl.Replace(c.URL)
	return func(ctx context.Context) (string, error) {
		req, err := http.NewRequestWithContext(ctx, c.Method, url, nil)
		if err != nil {
			return "", fmt.Errorf("invalid URL %q: %w", url, err)
		}
		req.Header = headers.Clone()
		resp, err := client.Do(req)
		if err != nil {
			return "no answer", fmt.Errorf("%s %s: %w", c.Method, url, unwrapURL(ctx, err))
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		value := fmt.Sprintf("HTTP %d", resp.StatusCode)
		if err != nil {
			return value, fmt.Errorf("%s %s: reading the body: %w", c.Method, url, unwrapURL(ctx, err))
		}
		switch {
		case c.Status != 0 && resp.StatusCode != c.Status:
			return value, fmt.Errorf("%s %s answered %d, want %d", c.Method, url, resp.StatusCode, c.Status)
		case c.Status == 0 && resp.StatusCode/100 != 2:
			return value, fmt.Errorf("%s %s answered %d, want a 2xx", c.Method, url, resp.StatusCode)
		case c.Body != nil && !c.Body.Match(body):
			return value + ", body " + excerpt(body), fmt.Errorf("%s %s: the body does not match %q", c.Method, url, c.Body.String())
		}
		return value, nil
	}, nil
}

// client builds the HTTP client and headers of a check.
func (v *Verifier) client(t manifest.TLS, names map[string]string, dir string) (*http.Client, http.Header, error) {
	headers := http.Header{}
	for h, env := range names {
		val := ""
		if v.Getenv != nil {
			val = v.Getenv(env)
		}
		if val == "" {
			return nil, nil, fmt.Errorf("header %s: environment variable %s is not set; set it in the step's env (its value is never printed)", h, env)
		}
		headers.Set(h, val)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		path := filepath.Join(dir, t.CAFile)
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("tls.ca_file: %q holds no PEM certificate", path)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr}, headers, nil
}

// unwrapURL says "timed out" for an attempt that ran out of time instead of
// Go's long "context deadline exceeded (Client.Timeout ...)".
func unwrapURL(ctx context.Context, err error) error {
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("no answer in time: %w", ctx.Err())
	}
	return err
}

// excerpt is the start of a body, printable, for a failure's last value.
func excerpt(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, string(b[:min(len(b), 200)]))
	if r := []rune(s); len(r) > 60 {
		s = string(r[:60]) + "…"
	}
	return fmt.Sprintf("%q", s)
}
