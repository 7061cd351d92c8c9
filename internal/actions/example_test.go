package actions_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/promote-dev/promote/internal/actions"
)

func Example() {
	dir, err := os.MkdirTemp("", "promote-actions-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	env := map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
		"INPUT_MAX_PARALLEL":  "4",
	}
	rt := actions.New(
		actions.WithGetenv(func(k string) string { return env[k] }),
		actions.WithStdout(os.Stdout),
	)

	// A subcommand parses its flags, then fills the unset ones from inputs.
	fs := flag.NewFlagSet("promote", flag.ContinueOnError)
	maxParallel := fs.Int("max-parallel", 1, "how many stages to promote at once")
	if err := fs.Parse(nil); err != nil {
		fmt.Println(err)
		return
	}
	if err := rt.ApplyInputs(fs); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("max-parallel:", *maxParallel)

	_ = rt.Mask("s3cr3t")
	_ = rt.Annotate(actions.Annotation{
		Level: actions.Error, File: "promote.yaml", Line: 3, Col: 7,
		Title: "unknown stage", Message: `stage "prod" is not defined`,
	})
	fmt.Println(rt.Redact("token s3cr3t was rejected"))

	if err := rt.SetOutput("promoted", "false"); err != nil {
		fmt.Println(err)
	}
	rt.AddSummary("## Promotion\n\nNothing promoted.\n")
	if err := rt.Flush(); err != nil {
		fmt.Println(err)
	}
	summary, _ := os.ReadFile(env["GITHUB_STEP_SUMMARY"])
	fmt.Print(string(summary))
	// Output:
	// max-parallel: 4
	// ::add-mask::s3cr3t
	// ::error col=7,file=promote.yaml,line=3,title=unknown stage::stage "prod" is not defined
	// token *** was rejected
	// ## Promotion
	//
	// Nothing promoted.
}
