package manifest

import (
	"strings"
	"testing"
	"time"
)

func freezeManifest(windows string) string {
	return `version: 1
environments:
  - name: dev
  - name: prod
    protected: true
    gate:
      freeze:
` + windows + `services:
  a: {paths: ["a/**"], deploy: {command: x}}
`
}

func TestFreezeAt(t *testing.T) {
	t.Parallel()
	m, err := Parse("promotion.yaml", []byte(freezeManifest(`        - name: year-end
          start: "2026-12-24 00:00"
          end: 2027-01-04T00:00
          timezone: Europe/Berlin
        - name: nights
          days: [fri, sat]
          from: "22:00"
          to: "06:00"
          timezone: America/New_York
        - name: offset
          start: 2026-03-01T00:00:00+05:30
          end: 2026-03-02
`)))
	if err != nil {
		t.Fatal(err)
	}
	fs := m.Environments[1].Freeze
	if len(fs) != 3 {
		t.Fatalf("parsed %d freeze windows, want 3", len(fs))
	}
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		what             string
		window           int
		now              string
		active           bool
		wantStart, wantE string
	}{
		// Berlin is UTC+1 in winter: the window opens at 23:00 UTC.
		{"before the one-off window", 0, "2026-12-23T22:59:59Z", false, "2026-12-23T23:00:00Z", "2027-01-03T23:00:00Z"},
		{"as it opens", 0, "2026-12-23T23:00:00Z", true, "2026-12-23T23:00:00Z", "2027-01-03T23:00:00Z"},
		{"as it closes", 0, "2027-01-03T23:00:00Z", false, "2026-12-23T23:00:00Z", "2027-01-03T23:00:00Z"},
		// New York is UTC-5 in winter, UTC-4 in summer: Friday 22:00 local.
		{"Friday night in winter", 1, "2026-12-05T03:30:00Z", true, "2026-12-05T03:00:00Z", "2026-12-05T11:00:00Z"},
		{"Friday night in summer", 1, "2026-07-04T02:30:00Z", true, "2026-07-04T02:00:00Z", "2026-07-04T10:00:00Z"},
		{"the night into Sunday, begun on Saturday", 1, "2026-12-06T10:59:00Z", true, "2026-12-06T03:00:00Z", "2026-12-06T11:00:00Z"},
		{"Sunday night is not frozen", 1, "2026-12-07T03:30:00Z", false, "2026-12-12T03:00:00Z", "2026-12-12T11:00:00Z"},
		// The night of the autumn change (1 November 2026) is 9 hours long.
		{"across the end of daylight saving", 1, "2026-11-01T10:30:00Z", true, "2026-11-01T02:00:00Z", "2026-11-01T11:00:00Z"},
		{"the offset wins over the zone", 2, "2026-02-28T18:30:00Z", true, "2026-02-28T18:30:00Z", "2026-03-02T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			start, end, active := fs[tt.window].At(utc(tt.now))
			if active != tt.active || !start.Equal(utc(tt.wantStart)) || !end.Equal(utc(tt.wantE)) {
				t.Errorf("%s.At(%s) = %s, %s, %v, want %s, %s, %v", fs[tt.window].Name, tt.now,
					start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), active, tt.wantStart, tt.wantE, tt.active)
			}
		})
	}
}

func TestFreezeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what, windows, want string
	}{
		{"no name", "        - {start: \"2026-12-24 00:00\", end: \"2026-12-25 00:00\"}\n", `has no "name"`},
		{"bad zone", "        - {name: x, start: \"2026-12-24 00:00\", end: \"2026-12-25 00:00\", timezone: Mars/Olympus}\n", `unknown time zone "Mars/Olympus"`},
		{"end before start", "        - {name: x, start: \"2026-12-24 00:00\", end: \"2026-12-23 00:00\"}\n", "not after its start"},
		{"bad date", "        - {name: x, start: \"24.12.2026\", end: \"2026-12-25 00:00\"}\n", `invalid date and time "24.12.2026"`},
		{"both kinds", "        - {name: x, start: \"2026-12-24 00:00\", end: \"2026-12-25 00:00\", days: [mon], from: \"10:00\", to: \"11:00\"}\n", "not both"},
		{"weekly without to", "        - {name: x, days: [mon], from: \"10:00\"}\n", "needs days, from and to"},
		{"bad day", "        - {name: x, days: [funday], from: \"10:00\", to: \"11:00\"}\n", `unknown day "funday"`},
		{"bad clock", "        - {name: x, days: [mon], from: \"25:00\", to: \"11:00\"}\n", `invalid time of day "25:00"`},
		{"duplicate name", "        - {name: x, days: [mon], from: \"10:00\", to: \"11:00\"}\n        - {name: x, days: [tue], from: \"10:00\", to: \"11:00\"}\n", `second freeze window named "x"`},
		{"empty", "        - {name: x}\n", "needs start and end (one-off) or days, from and to (weekly)"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("promotion.yaml", []byte(freezeManifest(tt.windows)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse() error = %v, want one containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "promotion.yaml:") {
				t.Errorf("error %q has no file:line:col position", err)
			}
		})
	}
}
