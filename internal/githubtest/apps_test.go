package githubtest

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestProtectionRuleEventMatchesSchema checks the webhook payload against
// GitHub's schema of deployment_protection_rule (requested).
func TestProtectionRuleEventMatchesSchema(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/webhooks-subset.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Webhooks map[string]struct {
			Post struct {
				RequestBody struct {
					Content map[string]struct {
						Schema json.RawMessage `json:"schema"`
					} `json:"content"`
				} `json:"requestBody"`
			} `json:"post"`
		} `json:"webhooks"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	schemaJSON := doc.Webhooks["deployment-protection-rule-requested"].Post.RequestBody.Content["application/json"].Schema
	if len(schemaJSON) == 0 {
		t.Fatal("no deployment-protection-rule-requested schema in testdata/webhooks-subset.json")
	}
	sch, err := jsonschema.UnmarshalJSON(bytesReader(schemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("webhook.json", sch); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("webhook.json")
	if err != nil {
		t.Fatal(err)
	}

	s, _ := newManual(t, Options{App: &App{ID: 11, InstallationID: 4242}})
	s.AddEnvironment("production", Protection{CustomRule: true})
	s.AddWorkflow("deploy.yml", Workflow{Inputs: []string{"environment"}, Environment: "${{ inputs.environment }}",
		Script: func(map[string]string) RunScript { return RunScript{Duration: time.Minute} }})
	a := newAPI(t, s)
	r := a.do("POST", "repos/acme/app/actions/workflows/deploy.yml/dispatches",
		`{"ref":"main","inputs":{"environment":"production"},"return_run_details":true}`).want(t, "dispatch", 200)
	var d struct {
		ID int64 `json:"workflow_run_id"`
	}
	r.decode(t, &d)
	body, err := s.ProtectionRuleEvent(d.ID)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := jsonschema.UnmarshalJSON(bytesReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(payload); err != nil {
		t.Errorf("ProtectionRuleEvent(%d) does not match GitHub's schema:\n%v\n%s", d.ID, err, body)
	}
	if _, err := s.ProtectionRuleEvent(42); err == nil {
		t.Error("ProtectionRuleEvent(42) of a missing run: no error")
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
