package gate

import (
	"bytes"
	"os"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const (
	inputSchemaFile = "../../schema/gate-input.schema.json"
	inputSchemaID   = "https://raw.githubusercontent.com/promote-dev/promote/main/schema/gate-input.schema.json"
)

var inputSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	data, err := os.ReadFile(inputSchemaFile)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(inputSchemaID, doc); err != nil {
		return nil, err
	}
	return c.Compile(inputSchemaID)
})

// checkInput validates a real gate input against the published schema.
func checkInput(t *testing.T, input []byte) {
	t.Helper()
	sch, err := inputSchema()
	if err != nil {
		t.Fatalf("compiling %s: %v", inputSchemaFile, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("the gate input does not follow %s: %v\n%s", inputSchemaFile, err, input)
	}
}

// TestInputSchemaRejects checks that the schema is strict where it
// matters: an unknown key and a wrong type are refused.
func TestInputSchemaRejects(t *testing.T) {
	t.Parallel()
	sch, err := inputSchema()
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{`{}`, `{"version": 2}`} {
		v, _ := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(doc)))
		if sch.Validate(v) == nil {
			t.Errorf("Validate(%s) = nil, want an error", doc)
		}
	}
}
