package dashboards

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The alerting rules users load, and promtool's unit tests of them.
const (
	rulesFile     = "../../../examples/prometheus/promote-rules.yml"
	rulesTestFile = "../../../examples/prometheus/promote-rules.test.yml"
)

// tool returns the path in the environment variable name, or skips the
// test saying how to get it.
func tool(t *testing.T, name string) string {
	t.Helper()
	path := os.Getenv(name)
	if path == "" {
		t.Skipf("%s is not set: `make prometheus` installs Debian's prometheus and prometheus-pushgateway; then %s=%s", name, name, map[string]string{
			"PROMTOOL": "/usr/bin/promtool", "PROMETHEUS": "/usr/bin/prometheus", "PUSHGATEWAY": "/usr/bin/prometheus-pushgateway",
		}[name])
	}
	return path
}

// ruleGroups is the part of a Prometheus rules file the tests read.
type ruleGroups struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T) ruleGroups {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules ruleGroups
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return rules
}

// TestRulesCoverage checks that promote-rules.test.yml tests every alert
// both ways: a case where it fires and one where it stays silent.
func TestRulesCoverage(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &tests); err != nil {
		t.Fatalf("%s: %v", rulesTestFile, err)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, g := range tests.Tests {
		for _, a := range g.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	var alerts []string
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if !fires[r.Alert] {
				t.Errorf("%s: no alert_rule_test in which it fires", r.Alert)
			}
			if !silent[r.Alert] {
				t.Errorf("%s: no alert_rule_test in which it stays silent (exp_alerts: [])", r.Alert)
			}
		}
	}
	for _, want := range []string{
		"PromotePromotionFailureRatioHigh", "PromoteEvidenceChainBroken", "PromoteEvidenceStale",
		"PromoteWORMRetentionMarginShort", "PromoteEvidenceSpoolGrowing", "PromoteMeshStrictMTLSLost",
	} {
		if !slices.Contains(alerts, want) {
			t.Errorf("%s: no such alert in %s", want, rulesFile)
		}
	}
}

// TestPromtool runs promtool's checks of the rules and its unit tests of
// every alert (promote-rules.test.yml).
func TestPromtool(t *testing.T) {
	t.Parallel()
	promtool := tool(t, "PROMTOOL")
	for _, args := range [][]string{
		{"check", "rules", filepath.Base(rulesFile)},
		{"test", "rules", filepath.Base(rulesTestFile)},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = filepath.Dir(rulesFile)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
