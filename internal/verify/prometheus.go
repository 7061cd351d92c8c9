package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/promote-dev/promote/internal/manifest"
)

// prometheusProbe runs the check's query against a Prometheus-compatible
// HTTP API (/api/v1/query, or /api/v1/query_range over a window) and wants
// every value within the bounds. No data, NaN, an error or an answer that
// is not the API's JSON fail the attempt: a check never passes on what it
// could not read.
func (v *Verifier) prometheusProbe(c *manifest.PrometheusCheck, tmpl *strings.Replacer, dir string) (probe, error) {
	client, headers, err := v.client(c.TLS, c.Headers, dir)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(c.URL, "/")
	query := tmpl.Replace(c.Query)
	return func(ctx context.Context) (string, error) {
		form := url.Values{"query": {query}}
		endpoint := base + "/api/v1/query"
		if c.Window > 0 {
			now := v.clock().Now()
			step := c.Step
			if step <= 0 {
				step = max(c.Window/30, time.Second)
			}
			endpoint = base + "/api/v1/query_range"
			form.Set("start", unixTime(now.Add(-c.Window)))
			form.Set("end", unixTime(now))
			form.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return "", fmt.Errorf("invalid Prometheus URL %q: %w", c.URL, err)
		}
		req.Header = headers.Clone()
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			return "no answer", fmt.Errorf("prometheus at %s: %w", c.URL, unwrapURL(ctx, err))
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		if err != nil {
			return "no answer", fmt.Errorf("prometheus at %s: reading the answer: %w", c.URL, unwrapURL(ctx, err))
		}
		values, err := decodeSamples(body)
		if err != nil {
			return fmt.Sprintf("HTTP %d", resp.StatusCode), fmt.Errorf("prometheus at %s (HTTP %d): %w", c.URL, resp.StatusCode, err)
		}
		return judge(values, c.Below, c.Above)
	}, nil
}

func unixTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}

// apiResponse is the envelope of Prometheus's HTTP API.
type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      *struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// sample is [time, "value"], as the API writes it.
type sample [2]json.RawMessage

func (s sample) value() (float64, error) {
	var str string
	if err := json.Unmarshal(s[1], &str); err != nil {
		return 0, fmt.Errorf("a sample's value is not a string: %s", s[1])
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return 0, fmt.Errorf("a sample's value %q is not a number", str)
	}
	return f, nil
}

// decodeSamples returns every value of an API answer: a scalar's, each
// series' of a vector, each sample's of a matrix.
func decodeSamples(body []byte) ([]float64, error) {
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil || r.Status == "" {
		return nil, fmt.Errorf("the answer is not Prometheus API JSON (it starts %s); check the url: it is the server's base, such as http://prometheus:9090", excerpt(body))
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("the query failed: %s: %s", r.ErrorType, r.Error)
	}
	if r.Data == nil {
		return nil, errors.New("the answer has no data")
	}
	var out []float64
	add := func(ss ...sample) error {
		for _, s := range ss {
			f, err := s.value()
			if err != nil {
				return err
			}
			out = append(out, f)
		}
		return nil
	}
	switch r.Data.ResultType {
	case "scalar":
		var s sample
		if err := json.Unmarshal(r.Data.Result, &s); err != nil {
			return nil, fmt.Errorf("a malformed scalar: %w", err)
		}
		return out, add(s)
	case "vector":
		var vec []struct {
			Value *sample `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &vec); err != nil {
			return nil, fmt.Errorf("a malformed vector: %w", err)
		}
		for _, e := range vec {
			if e.Value == nil {
				return nil, errors.New("a malformed vector: a series without a value")
			}
			if err := add(*e.Value); err != nil {
				return nil, err
			}
		}
		return out, nil
	case "matrix":
		var m []struct {
			Values []sample `json:"values"`
		}
		if err := json.Unmarshal(r.Data.Result, &m); err != nil {
			return nil, fmt.Errorf("a malformed matrix: %w", err)
		}
		for _, e := range m {
			if err := add(e.Values...); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected result type %q; write a query whose value is a number or an instant vector", r.Data.ResultType)
}

// judge wants every value within the bounds. The last value names the
// worst sample: the one furthest out, or the closest to a bound.
func judge(values []float64, below, above *float64) (string, error) {
	if len(values) == 0 {
		return "no data", errors.New("no data: the query returned no series; check the metric's name and labels, and that the service had traffic")
	}
	worst := values[0]
	bad := 0
	for _, f := range values {
		out := math.IsNaN(f) || below != nil && f >= *below || above != nil && f <= *above
		if out {
			bad++
		}
		if math.IsNaN(f) || math.IsNaN(worst) {
			if math.IsNaN(f) {
				worst = f
			}
			continue
		}
		if below != nil && f > worst || below == nil && f < worst {
			worst = f
		}
	}
	value := strconv.FormatFloat(worst, 'g', 6, 64)
	if bad == 0 {
		return value, nil
	}
	var want []string
	if below != nil {
		want = append(want, "below "+strconv.FormatFloat(*below, 'g', -1, 64))
	}
	if above != nil {
		want = append(want, "above "+strconv.FormatFloat(*above, 'g', -1, 64))
	}
	if math.IsNaN(worst) {
		return value, fmt.Errorf("%d of %d values are NaN (a ratio without requests?), want %s", bad, len(values), strings.Join(want, " and "))
	}
	return value, fmt.Errorf("%d of %d values out of bounds: %s, want %s", bad, len(values), value, strings.Join(want, " and "))
}
