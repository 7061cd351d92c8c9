package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzManifest feeds arbitrary bytes to Parse: it must never panic, and every
// error it reports must carry a position.
func FuzzManifest(f *testing.F) {
	seeds, _ := filepath.Glob("../../examples/broken/*.yaml")
	seeds = append(seeds, "../../examples/promotion.yaml", "../../schema/testdata/valid/freeze.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(base))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("f.yaml", data)
		if err == nil {
			if m == nil || len(m.Services) == 0 || len(m.Environments) == 0 {
				t.Fatalf("Parse() = %+v, nil; want services and environments", m)
			}
			for _, e := range m.Environments {
				for _, w := range e.Freeze {
					if start, end, _ := w.At(time.Unix(1_800_000_000, 0)); w.Weekly() && !end.After(start) {
						t.Fatalf("freeze window %q at %v: ends %v, not after its start %v", w.Name, time.Unix(1_800_000_000, 0), end, start)
					}
				}
			}
			return
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("Parse() error %T %v, want a non-empty ErrorList", err, err)
		}
		for _, e := range list {
			if e.File != "f.yaml" || e.Pos.Line < 1 || e.Pos.Col < 1 || e.Msg == "" {
				t.Fatalf("error without a position: %q", e.Error())
			}
		}
	})
}
