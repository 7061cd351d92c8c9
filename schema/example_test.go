package schema_test

import (
	"encoding/json"
	"fmt"

	"github.com/promote-dev/promote/schema"
)

// The schema names the URL it is published at, the one a manifest's
// yaml-language-server modeline points to.
func Example() {
	var s struct {
		ID string `json:"$id"`
	}
	if err := json.Unmarshal(schema.JSON, &s); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.ID)
	// Output:
	// https://raw.githubusercontent.com/promote-dev/promote/main/schema/promotion.schema.json
}
