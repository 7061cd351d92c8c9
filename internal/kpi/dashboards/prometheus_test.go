package dashboards

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A snapshot is what one `promote kpi --output openmetrics` printed, the
// time it stands for, and the labels a Pushgateway would add to its series
// (the grouping key: job and repository).
type snapshot struct {
	openMetrics []byte
	at          time.Time
	labels      map[string]string
}

// stamp returns s's OpenMetrics text with s.labels added to every sample
// and s.at as every sample's timestamp, which promtool needs to backfill it
// (a scrape or a push would stamp it the same way).
func stamp(s snapshot) ([]byte, error) {
	var extra []string
	for k, v := range s.labels {
		extra = append(extra, k+"="+strconv.Quote(v))
	}
	ts := strconv.FormatFloat(float64(s.at.UnixMilli())/1000, 'f', 3, 64)
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(s.openMetrics))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			continue
		}
		name, labels, rest, err := splitSample(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w: %q", n, err, line)
		}
		if fields := strings.Fields(rest); len(fields) != 1 {
			return nil, fmt.Errorf("line %d: want a value and no timestamp or exemplar, got %q", n, rest)
		}
		all := append(append([]string(nil), labels...), extra...)
		fmt.Fprintf(&out, "%s{%s} %s %s\n", name, strings.Join(all, ","), strings.TrimSpace(rest), ts)
	}
	return out.Bytes(), sc.Err()
}

// splitSample splits an OpenMetrics sample line into its name, its labels
// (each `name="value"` as written) and what follows them.
func splitSample(line string) (name string, labels []string, rest string, err error) {
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return "", nil, "", fmt.Errorf("no metric name")
	}
	name, rest = line[:i], line[i:]
	if rest[0] != '{' {
		return name, nil, rest, nil
	}
	start, inQuote := 1, false
	for j := 1; j < len(rest); j++ {
		switch c := rest[j]; {
		case inQuote && c == '\\':
			j++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && (c == ',' || c == '}'):
			if l := strings.TrimSpace(rest[start:j]); l != "" {
				labels = append(labels, l)
			}
			start = j + 1
			if c == '}' {
				return name, labels, rest[j+1:], nil
			}
		}
	}
	return "", nil, "", fmt.Errorf("labels not closed")
}

func TestStamp(t *testing.T) {
	t.Parallel()
	in := "# TYPE a counter\na_total{x=\"1,}\\\"2\"} 3\nb 4.5\n# EOF\n"
	got, err := stamp(snapshot{openMetrics: []byte(in), at: time.UnixMilli(1700000000500), labels: map[string]string{"repository": "acme/app"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "# TYPE a counter\na_total{x=\"1,}\\\"2\",repository=\"acme/app\"} 3 1700000000.500\nb{repository=\"acme/app\"} 4.5 1700000000.500\n# EOF\n"
	if string(got) != want {
		t.Errorf("stamp() =\n%s\nwant\n%s", got, want)
	}
	if _, err := stamp(snapshot{openMetrics: []byte("a{x=\"1\" 2\n")}); err == nil {
		t.Error("stamp() of unclosed labels: no error")
	}
}

// prometheusServer is a real Prometheus on loopback, serving a TSDB that
// promtool backfilled from Promote's output and evaluating Promote's rules.
type prometheusServer struct {
	url     string
	targets int // how many targets it scrapes
}

// backfill writes the snapshots into a new TSDB with promtool and returns
// its directory.
func backfill(t *testing.T, snapshots []snapshot) string {
	t.Helper()
	promtool := tool(t, "PROMTOOL")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	for i, s := range snapshots {
		om, err := stamp(s)
		if err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
		file := filepath.Join(dir, fmt.Sprintf("snapshot-%d.om", i))
		if err := os.WriteFile(file, om, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", file, data).CombinedOutput(); err != nil {
			t.Fatalf("promtool tsdb create-blocks-from openmetrics (snapshot %d): %v\n%s", i, err, out)
		}
	}
	return data
}

// startPrometheus starts Prometheus on the TSDB in data, with the rules
// file loaded and evaluated every second, scraping scrapeTargets (with
// honor_labels, as a Pushgateway needs) every second.
func startPrometheus(t *testing.T, data string, scrapeTargets ...string) *prometheusServer {
	t.Helper()
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	config := "global: {evaluation_interval: 1s, scrape_interval: 1s}\nrule_files: [" + strconv.Quote(rules) + "]\n"
	if len(scrapeTargets) > 0 {
		quoted := make([]string, len(scrapeTargets))
		for i, target := range scrapeTargets {
			quoted[i] = strconv.Quote(target)
		}
		config += "scrape_configs:\n  - job_name: promote\n    honor_labels: true\n    static_configs: [{targets: [" + strings.Join(quoted, ", ") + "]}]\n"
	}
	file := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	start(t, exec.Command(tool(t, "PROMETHEUS"),
		"--config.file="+file,
		"--storage.tsdb.path="+data,
		"--storage.tsdb.retention.time=30d",
		"--web.listen-address="+addr,
		"--log.level=warn"), "http://"+addr+"/-/ready")
	return &prometheusServer{url: "http://" + addr, targets: len(scrapeTargets)}
}

// waitScraping waits until Prometheus scrapes each of its targets.
// Prometheus applies new targets every 5 seconds: a sample pushed before
// would be missed.
func (p *prometheusServer) waitScraping(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var d struct {
			ActiveTargets []struct {
				Health string `json:"health"`
			} `json:"activeTargets"`
		}
		if err := p.get("/api/v1/targets", url.Values{}, &d); err != nil {
			t.Fatal(err)
		}
		up := 0
		for _, target := range d.ActiveTargets {
			if target.Health == "up" {
				up++
			}
		}
		if up == p.targets {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus scrapes %d of %d targets after 30 s", up, p.targets)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startPushgateway starts a Pushgateway and returns its address.
func startPushgateway(t *testing.T) string {
	t.Helper()
	addr := freeAddr(t)
	start(t, exec.Command(tool(t, "PUSHGATEWAY"), "--web.listen-address="+addr, "--log.level=warn"), "http://"+addr+"/-/ready")
	return addr
}

// pushing is a Pushgateway and the Prometheus that scrapes it.
type pushing struct {
	gateway    string
	prometheus *prometheusServer
}

// scraped waits until Prometheus has scraped a push of repository's group
// made at or after since. Real pushes are hours apart and scrapes a
// minute: a push that replaced the previous one before any scrape would
// make a series appear already counting, where increase() sees nothing.
func (p *pushing) scraped(t *testing.T, repository string, since time.Time) {
	t.Helper()
	query := fmt.Sprintf(`push_time_seconds{repository=%q}`, repository)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var r queryResult
		if err := p.prometheus.get("/api/v1/query", url.Values{"query": {query}}, &r); err != nil {
			t.Fatal(err)
		}
		for _, v := range r.values() {
			if v >= float64(since.UnixMilli())/1000-1 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus did not scrape the push of %s within 30 s (%s = %v)", repository, query, r.values())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startServe starts `promote kpi serve` in r, refreshing every second, and
// returns its address.
func startServe(t *testing.T, r *repo) string {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(r.promote, "kpi", "serve", "--listen", addr, "--interval", "1s")
	cmd.Dir, cmd.Env = r.dir, r.env
	start(t, cmd, "http://"+addr+"/readyz")
	return addr
}

// start starts a server, stops it when the test ends, and waits until
// ready answers 200.
func start(t *testing.T, cmd *exec.Cmd, ready string) {
	t.Helper()
	bin := filepath.Base(cmd.Path)
	log, err := os.Create(filepath.Join(t.TempDir(), bin+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("%s log:\n%s", bin, out)
		}
		log.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("%s not ready after 30 s (%s): %v\n%s", bin, ready, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeAddr returns a loopback address no one listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// apiResponse is the envelope of Prometheus's HTTP API.
type apiResponse struct {
	Status    string          `json:"status"`
	Error     string          `json:"error"`
	ErrorType string          `json:"errorType"`
	Data      json.RawMessage `json:"data"`
}

// get calls the HTTP API and decodes its data into v.
func (p *prometheusServer) get(path string, params url.Values, v any) error {
	resp, err := http.Get(p.url + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("%s: %v: %s", path, err, body)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, r.ErrorType, r.Error)
	}
	return json.Unmarshal(r.Data, v)
}

// queryResult is the data of a query or query_range answer.
type queryResult struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
		Value  []any             `json:"value"`
		Values [][]any           `json:"values"`
	} `json:"result"`
}

// values returns every value of every series in r, as numbers.
func (r queryResult) values() []float64 {
	var vs []float64
	add := func(pair []any) {
		if len(pair) == 2 {
			if s, ok := pair[1].(string); ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					vs = append(vs, f)
				}
			}
		}
	}
	for _, s := range r.Result {
		add(s.Value)
		for _, v := range s.Values {
			add(v)
		}
	}
	return vs
}

// window is the time the snapshots span, and how Grafana's variables read
// for a dashboard showing exactly that time.
type window struct {
	from, to time.Time
	// scrape is the time between two samples of a series.
	scrape time.Duration
	// constant says the counters did not grow in the window: a quantile
	// of their increase is NaN.
	constant bool
}

// substitute replaces Grafana's variables in expr as Grafana would for the
// window with every service and environment selected ("All").
func (w window) substitute(expr string) string {
	rangeSeconds := int(math.Ceil(w.to.Sub(w.from).Seconds() + w.scrape.Seconds()))
	return strings.NewReplacer(
		// Four scrape intervals, as Grafana computes it for a short range.
		"$__rate_interval", strconv.Itoa(int(4*w.scrape.Seconds()))+"s",
		"$__range", strconv.Itoa(rangeSeconds)+"s",
		"$__interval", strconv.Itoa(int(w.scrape.Seconds()))+"s",
		"$service", ".*",
		"$environment", ".*",
	).Replace(expr)
}

// evaluate runs a panel's query as Grafana would (range query for time
// series, instant query otherwise) and returns what is wrong with the
// answer's shape.
func (p *prometheusServer) evaluate(w window, q target) []string {
	expr := w.substitute(q.expr)
	if strings.Contains(expr, "$") {
		return []string{"a variable no dashboard defines: " + expr}
	}
	var r queryResult
	var err error
	want := "vector"
	if q.instant {
		err = p.get("/api/v1/query", url.Values{"query": {expr}, "time": {unixString(w.to)}}, &r)
	} else {
		want = "matrix"
		err = p.get("/api/v1/query_range", url.Values{
			"query": {expr}, "start": {unixString(w.from)}, "end": {unixString(w.to)}, "step": {strconv.Itoa(int(w.scrape.Seconds()))},
		}, &r)
	}
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if r.ResultType != want {
		problems = append(problems, fmt.Sprintf("result type %s, want %s", r.ResultType, want))
	}
	if len(r.Result) == 0 {
		return append(problems, "no series on Promote's output")
	}
	numbers := 0
	for _, v := range r.values() {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			numbers++
		}
	}
	if numbers == 0 && !w.constant {
		problems = append(problems, "only NaN or infinite values")
	}
	for _, m := range legendLabel.FindAllStringSubmatch(q.legend, -1) {
		for _, s := range r.Result {
			if _, ok := s.Metric[m[1]]; !ok {
				problems = append(problems, fmt.Sprintf("legend {{%s}}: a series without that label: %v", m[1], s.Metric))
				break
			}
		}
	}
	if q.panelType == "table" {
		for _, s := range r.Result {
			if len(s.Metric) <= 1 {
				problems = append(problems, fmt.Sprintf("a table row without labels: %v", s.Metric))
				break
			}
		}
	}
	return problems
}

func unixString(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// metricNames returns the names of the series p holds.
func metricNames(t *testing.T, p *prometheusServer) map[string]bool {
	t.Helper()
	var names []string
	if err := p.get("/api/v1/label/__name__/values", url.Values{}, &names); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return set
}

// checkPanels evaluates every committed panel query, and every variable's
// query, on what the server holds, and fails on a panel that names a metric
// the server does not have.
func checkPanels(t *testing.T, p *prometheusServer, w window) {
	t.Helper()
	exported := metricNames(t, p)
	for _, q := range committedTargets(t) {
		for _, m := range metricRefs(q.expr) {
			if !exported[m] {
				t.Errorf("%v: names %s, which Promote does not export", q, m)
			}
		}
		for _, problem := range p.evaluate(w, q) {
			t.Errorf("%v: %s", q, problem)
		}
	}
	for _, v := range committedVariables(t) {
		var values []string
		if err := p.get("/api/v1/label/"+v.label+"/values", url.Values{"match[]": {v.match}}, &values); err != nil {
			t.Errorf("%s: variable %s: %v", v.dashboard, v.label, err)
		} else if len(values) == 0 {
			t.Errorf("%s: variable %s (label_values(%s, %s)) has no values on Promote's output", v.dashboard, v.label, v.match, v.label)
		}
	}
}

// TestDashboardsOnPromoteOutput is the end-to-end test of the dashboards
// and rules: Promote promotes (the demo's flow, and runs through the
// in-memory GitHub), `promote kpi` turns its evidence into OpenMetrics,
// promtool backfills that into a TSDB, and a real Prometheus serves it and
// evaluates the rules. Every panel query of every dashboard must return data
// of its panel's shape, every variable must have values, every rule must
// evaluate cleanly, and the alerts the scenarios provoke must fire.
func TestDashboardsOnPromoteOutput(t *testing.T) {
	tool(t, "PROMTOOL")
	tool(t, "PROMETHEUS")
	versitygw := os.Getenv("VERSITYGW")
	if versitygw == "" {
		t.Skip("VERSITYGW is not set: the WORM dashboard needs evidence in an Object Lock bucket; make tools builds .tools/bin/versitygw")
	}
	if testing.Short() {
		t.Skip("promotes for real and starts Prometheus: not in -short")
	}
	t.Parallel()
	began := time.Now()
	phase := func(what string) {
		t.Logf("%s: %.1f s", what, time.Since(began).Seconds())
		began = time.Now()
	}
	// With a Pushgateway, the setup users run goes alongside: each
	// snapshot is also pushed (promote kpi --push), and a second Prometheus
	// scrapes the Pushgateway every second while the scenarios run.
	var push *pushing
	var live *prometheusServer
	liveStart := time.Now()
	if os.Getenv("PUSHGATEWAY") != "" {
		gateway := startPushgateway(t)
		live = startPrometheus(t, t.TempDir(), gateway)
		push = &pushing{gateway: gateway, prometheus: live}
	} else {
		t.Log("PUSHGATEWAY is not set: the panels are not evaluated on a Prometheus scraping a Pushgateway")
	}
	promote, err := buildPromote()
	if err != nil {
		t.Fatalf("build promote: %v", err)
	}
	if live != nil {
		live.waitScraping(t)
	}
	phase("start the Pushgateway and its Prometheus; build promote")
	demo := demoScenario(t, promote, push)
	phase("demo scenario")
	gh := gitHubScenario(t, promote, versitygw, push)
	phase("GitHub scenario")
	tampered := tamperedCopy(t, demo, map[string]string{"job": "promote", "repository": "example/tampered"})
	var snaps []snapshot
	for _, r := range []*repo{demo, gh, tampered} {
		snaps = append(snaps, r.snaps...)
	}
	if live != nil {
		t.Run("pushgateway", func(t *testing.T) {
			checkPanels(t, live, window{from: liveStart, to: time.Now(), scrape: time.Second})
		})
	}
	// promote kpi serve over the same evidence, scraped: the chains do not
	// grow while it serves, so a histogram's quantile over a rate window is
	// NaN there, and only the series and their shape count.
	exported := map[string]bool{}
	t.Run("serve", func(t *testing.T) {
		p := startPrometheus(t, t.TempDir(), startServe(t, demo), startServe(t, gh))
		p.waitScraping(t)
		from := time.Now()
		time.Sleep(3 * time.Second)
		checkPanels(t, p, window{from: from, to: time.Now(), scrape: time.Second, constant: true})
		maps.Copy(exported, metricNames(t, p))
	})
	phase("Pushgateway and kpi serve, scraped")
	w := stampTimes(snaps, time.Now())
	data := backfill(t, snaps)
	phase("backfill")
	p := startPrometheus(t, data)
	checkPanels(t, p, w)
	positive := func(v float64) bool { return v > 0 }
	checkValues(t, p, w, map[string]func(float64) bool{
		// service-b@dev and web@production failed once, then recovered.
		"Promote: Promotion KPIs: Change failure rate":                      func(v float64) bool { return v > 0 && v < 1 },
		"Promote: Promotion KPIs: Failed deployment recovery time (median)": positive,
		"Promote: Promotion KPIs: Change lead time (median)":                positive,
		"Promote: Promotion KPIs: Succeeded":                                func(v float64) bool { return v > 0.5 && v < 1 },
		// acme/app's command checks: one failed (web@production, release-2).
		"Promote: Promotion KPIs: Verification failure ratio by type": func(v float64) bool { return v > 0 && v < 1 },
		// example/tampered's chain does not verify.
		"Promote: Evidence chain integrity: Chain verified": func(v float64) bool { return v == 0 },
		// The demo made service-b's namespace PERMISSIVE.
		"Promote: Service mesh status: Namespaces without STRICT mTLS": func(v float64) bool { return v == 1 },
		// acme/app's bucket: objects under a one-day retention.
		"Promote: WORM storage: Objects":          positive,
		"Promote: WORM storage: Retention margin": func(v float64) bool { return v > 0 && v <= 86400 },
	})
	checkNewNodeFailure(t, p, snaps)
	checkRollback(t, p, w)
	maps.Copy(exported, metricNames(t, p))
	// The rules name only metrics that promote kpi or promote kpi serve
	// export.
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			for _, m := range metricRefs(r.Expr) {
				if !exported[m] {
					t.Errorf("rule %s%s names %s, which Promote does not export", r.Alert, r.Record, m)
				}
			}
		}
	}
	checkRules(t, p)
	// What the scenarios did wrong, and nothing else, fires: the demo's
	// service-b namespace lost STRICT mTLS, example/tampered's chain is
	// broken, acme/app's web@production was rolled back.
	checkAlerts(t, p, []string{
		"PromoteEvidenceChainBroken example/tampered",
		"PromoteMeshStrictMTLSLost example/demo",
		"PromoteRollbackHappened acme/app",
	})
	phase("evaluate")
}

// checkAlerts compares the firing alerts, as "alertname repository", with
// want.
func checkAlerts(t *testing.T, p *prometheusServer, want []string) {
	t.Helper()
	var d struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	if err := p.get("/api/v1/alerts", url.Values{}, &d); err != nil {
		t.Fatal(err)
	}
	var firing []string
	for _, a := range d.Alerts {
		if a.State == "firing" {
			firing = append(firing, a.Labels["alertname"]+" "+a.Labels["repository"])
		}
	}
	slices.Sort(firing)
	firing = slices.Compact(firing)
	if diff := cmp.Diff(want, firing); diff != "" {
		t.Errorf("firing alerts (-want +got):\n%s\nall alerts: %+v", diff, d.Alerts)
	}
}

// stampTimes gives the snapshots of each repository times a minute apart,
// the last one at end, as a scrape every minute would; repositories are
// 5 seconds apart, so no two promtool blocks cover the same instant. It
// returns the window the snapshots span.
func stampTimes(snaps []snapshot, end time.Time) window {
	end = end.Truncate(time.Second)
	perRepo := map[string][]int{}
	for i, s := range snaps {
		perRepo[s.labels["repository"]] = append(perRepo[s.labels["repository"]], i)
	}
	w := window{from: end, to: end, scrape: time.Minute}
	for k, repo := range slices.Sorted(maps.Keys(perRepo)) {
		idx := perRepo[repo]
		for j, i := range idx {
			snaps[i].at = end.Add(-time.Duration(k)*5*time.Second - time.Duration(len(idx)-1-j)*time.Minute)
			if snaps[i].at.Before(w.from) {
				w.from = snaps[i].at
			}
		}
	}
	return w
}

// checkRules waits until Prometheus has evaluated every rule group and
// fails on a rule that did not evaluate cleanly.
func checkRules(t *testing.T, p *prometheusServer) {
	t.Helper()
	type rulesData struct {
		Groups []struct {
			Name           string    `json:"name"`
			LastEvaluation time.Time `json:"lastEvaluation"`
			Rules          []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	want := len(readRules(t).Groups)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var d rulesData
		if err := p.get("/api/v1/rules", url.Values{}, &d); err != nil {
			t.Fatal(err)
		}
		evaluated := 0
		for _, g := range d.Groups {
			if !g.LastEvaluation.IsZero() && g.LastEvaluation.Year() > 1 {
				evaluated++
			}
		}
		if len(d.Groups) == want && evaluated == want {
			for _, g := range d.Groups {
				for _, r := range g.Rules {
					if r.Health != "ok" {
						t.Errorf("rule %s: health %s: %s", r.Name, r.Health, r.LastError)
					}
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus evaluated %d of %d rule groups (%d loaded) in 20 s", evaluated, want, len(d.Groups))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkValues evaluates the stat panels named in want (by dashboard and
// title) at the end of w and checks their one value: the numbers the
// scenarios must show, not only their shape.
func checkValues(t *testing.T, p *prometheusServer, w window, want map[string]func(float64) bool) {
	t.Helper()
	found := map[string]bool{}
	for _, q := range committedTargets(t) {
		name := q.dashboard + ": " + q.panel
		ok, listed := want[name]
		if !listed {
			continue
		}
		found[name] = true
		var r queryResult
		if err := p.get("/api/v1/query", url.Values{"query": {w.substitute(q.expr)}, "time": {unixString(w.to)}}, &r); err != nil {
			t.Errorf("%v: %v", q, err)
			continue
		}
		if vs := r.values(); len(vs) != 1 || !ok(vs[0]) {
			t.Errorf("%v = %v on the scenarios' series, want one value that passes its check", q, vs)
		}
	}
	for name := range want {
		if !found[name] {
			t.Errorf("no panel %q", name)
		}
	}
}

// instant evaluates expr at time at and returns its values.
func (p *prometheusServer) instant(t *testing.T, expr string, at time.Time) []float64 {
	t.Helper()
	var r queryResult
	if err := p.get("/api/v1/query", url.Values{"query": {expr}, "time": {unixString(at)}}, &r); err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return r.values()
}

// checkNewNodeFailure checks that web@production's first record, a
// failure, shows in increase() between acme/app's first two snapshots:
// the first, before any run, has the manifest's nodes at 0; the second
// has the failure. Without the zeros the series would start at 1 and
// increase() would find no growth (the failure-ratio alert's input).
func checkNewNodeFailure(t *testing.T, p *prometheusServer, snaps []snapshot) {
	t.Helper()
	var gh []snapshot
	for _, s := range snaps {
		if s.labels["repository"] == "acme/app" {
			gh = append(gh, s)
		}
	}
	const series = `promote_promotions_total{repository="acme/app",service="web",environment="production",result="failed"}`
	if vs := p.instant(t, series, gh[0].at); len(vs) != 1 || vs[0] != 0 {
		t.Errorf("before the first run: %s = %v, want one 0 (the manifest's node exported at 0)", series, vs)
	}
	const expr = `sum(increase(` + series + `[90s]))`
	if vs := p.instant(t, expr, gh[1].at); len(vs) != 1 || vs[0] < 1 {
		t.Errorf("after web@production's first failure: %s = %v, want one value of at least 1", expr, vs)
	}
}

// checkRollback checks that acme/app's rollback of web@production
// succeeded, as the rollbacks panel counts it.
func checkRollback(t *testing.T, p *prometheusServer, w window) {
	t.Helper()
	for result, want := range map[string]float64{"succeeded": 1, "failed": 0} {
		expr := `sum(promote_rollbacks_total{repository="acme/app",service="web",environment="production",result="` + result + `"})`
		if vs := p.instant(t, expr, w.to); len(vs) != 1 || vs[0] != want {
			t.Errorf("%s = %v, want %v", expr, vs, want)
		}
	}
}
