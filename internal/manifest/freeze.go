package manifest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones must resolve the same on every runner, with or without /usr/share/zoneinfo

	"github.com/promote-dev/promote/internal/yamlnode"
	yaml "go.yaml.in/yaml/v3"
)

// Freeze is a change-freeze window of an environment: while it is open, the
// shipped gate policy denies promotions into the environment unless a
// break-glass reason is given. A window is either one-off (Start to End) or
// weekly (Days, From to To), in the wall-clock time of Location.
type Freeze struct {
	Name string
	// Reason says why, for the gate's message; may be empty.
	Reason string
	// TimeZone is the IANA name the window is written in ("UTC" by
	// default); Location is the zone it names.
	TimeZone string
	Location *time.Location
	// Start and End bound a one-off window; both are zero for a weekly one.
	Start, End time.Time
	// Days, From and To describe a weekly window: on each of Days, from the
	// wall-clock time From to To after midnight. A To not after From ends
	// the next day, so "22:00" to "06:00" spans the night.
	Days     []time.Weekday
	From, To time.Duration
	Pos      Pos
}

// Weekly reports whether f repeats every week.
func (f Freeze) Weekly() bool { return len(f.Days) > 0 }

// At returns the occurrence of the window that is open at now (active), or
// else the next one to open (start and end in the future), or, for a
// one-off window that has ended, that window with active false. Weekly
// occurrences are computed in f.Location's wall-clock time, so they follow
// daylight-saving changes.
func (f Freeze) At(now time.Time) (start, end time.Time, active bool) {
	if !f.Weekly() {
		return f.Start, f.End, !now.Before(f.Start) && now.Before(f.End)
	}
	local := now.In(f.Location)
	y, m, d := local.Date()
	// An occurrence that began yesterday may still be open; the next one is
	// at most a week away.
	for i := -1; i <= 7; i++ {
		day := time.Date(y, m, d+i, 0, 0, 0, 0, f.Location)
		if !slices.Contains(f.Days, day.Weekday()) {
			continue
		}
		s := wallClock(day, f.From, f.Location)
		e := wallClock(day, f.To, f.Location)
		if f.To <= f.From {
			e = wallClock(day.AddDate(0, 0, 1), f.To, f.Location)
		}
		if now.Before(e) {
			return s, e, !now.Before(s)
		}
	}
	return time.Time{}, time.Time{}, false // unreachable with at least one day
}

// wallClock is the instant at offset after midnight of day's date in loc,
// by the clock on the wall: 02:30 on the day clocks skip it is normalised
// as time.Date does.
func wallClock(day time.Time, offset time.Duration, loc *time.Location) time.Time {
	y, m, d := day.Date()
	return time.Date(y, m, d, int(offset/time.Hour), int(offset%time.Hour/time.Minute), 0, 0, loc)
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// localLayouts are the wall-clock forms a one-off window's start and end
// take; RFC 3339 with an offset is accepted too.
var localLayouts = []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}

// freezes decodes an environment's gate.freeze list.
func (d *decoder) freezes(n *yaml.Node, what string, env *Environment) {
	d.list(n, what, func(item *yaml.Node) {
		item = d.w.Resolve(item)
		f := Freeze{Pos: pos(item), TimeZone: "UTC", Location: time.UTC}
		w := fmt.Sprintf("%s[%d]", what, len(env.Freeze))
		var start, end, from, to *yaml.Node
		given := d.fields(item, w, map[string]func(*yaml.Node){
			"name":   func(n *yaml.Node) { d.str(n, w+".name", &f.Name) },
			"reason": func(n *yaml.Node) { d.str(n, w+".reason", &f.Reason) },
			"timezone": func(n *yaml.Node) {
				d.str(n, w+".timezone", &f.TimeZone)
				loc, err := time.LoadLocation(f.TimeZone)
				if err != nil || f.TimeZone == "Local" {
					d.errorf(resolveAliases(n), "%s.timezone: unknown time zone %q; use an IANA name such as \"Europe/Berlin\" or \"UTC\"", w, f.TimeZone)
					return
				}
				f.Location = loc
			},
			"start": func(n *yaml.Node) { start = n },
			"end":   func(n *yaml.Node) { end = n },
			"days": func(n *yaml.Node) {
				d.list(n, w+".days", func(day *yaml.Node) {
					var s string
					d.str(day, w+".days", &s)
					wd, ok := weekdays[s]
					switch {
					case s == "":
					case !ok:
						d.errorf(resolveAliases(day), "%s.days: unknown day %q (expected mon, tue, wed, thu, fri, sat or sun)", w, s)
					case slices.Contains(f.Days, wd):
						d.errorf(resolveAliases(day), "%s.days: %q is listed twice", w, s)
					default:
						f.Days = append(f.Days, wd)
					}
				})
			},
			"from": func(n *yaml.Node) { from = n },
			"to":   func(n *yaml.Node) { to = n },
		})
		if given == nil {
			return
		}
		if !given["name"] {
			d.errorf(item, "%s has no \"name\"", w)
		}
		for _, other := range env.Freeze {
			if f.Name != "" && other.Name == f.Name {
				d.errorf(item, "%s: a second freeze window named %q; names must be unique in an environment", w, f.Name)
			}
		}
		oneOff, weekly := given["start"] || given["end"], given["days"] || given["from"] || given["to"]
		switch {
		case oneOff && weekly:
			d.errorf(item, "%s: give either start and end (a one-off window) or days, from and to (a weekly one), not both", w)
			return
		case oneOff:
			if !given["start"] || !given["end"] {
				d.errorf(item, "%s: a one-off window needs both start and end", w)
				return
			}
			okS := d.localTime(start, w+".start", f.Location, &f.Start)
			okE := d.localTime(end, w+".end", f.Location, &f.End)
			if okS && okE && !f.End.After(f.Start) {
				d.errorf(resolveAliases(end), "%s.end: the window ends at %s, not after its start %s", w, f.End.Format(time.RFC3339), f.Start.Format(time.RFC3339))
			}
		case weekly:
			if !given["days"] || !given["from"] || !given["to"] {
				d.errorf(item, "%s: a weekly window needs days, from and to", w)
				return
			}
			d.clock(from, w+".from", &f.From)
			d.clock(to, w+".to", &f.To)
		default:
			d.errorf(item, "%s: a freeze window needs start and end (one-off) or days, from and to (weekly)", w)
			return
		}
		env.Freeze = append(env.Freeze, f)
	})
}

// localTime decodes a one-off window's bound: a wall-clock date and time in
// loc, or an RFC 3339 time with its own offset. YAML may have typed it as a
// timestamp; its text is what counts.
func (d *decoder) localTime(n *yaml.Node, what string, loc *time.Location, out *time.Time) bool {
	n = d.w.Resolve(n)
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!timestamp") {
		d.errorf(n, "%s: expected a date and time such as \"2026-12-24 00:00\", got %s", what, yamlnode.Describe(n))
		return false
	}
	if t, err := time.Parse(time.RFC3339, n.Value); err == nil {
		*out = t
		return true
	}
	for _, layout := range localLayouts {
		if t, err := time.ParseInLocation(layout, n.Value, loc); err == nil {
			*out = t
			return true
		}
	}
	d.errorf(n, "%s: invalid date and time %q; use \"YYYY-MM-DD HH:MM\" in the window's timezone, or RFC 3339 with an offset", what, n.Value)
	return false
}

// clock decodes a wall-clock time "HH:MM", from 00:00 to 24:00.
func (d *decoder) clock(n *yaml.Node, what string, out *time.Duration) {
	n = d.w.Resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		d.errorf(n, "%s: expected a time of day such as \"18:00\", got %s", what, yamlnode.Describe(n))
		return
	}
	h, m, ok := strings.Cut(n.Value, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		d.errorf(n, "%s: invalid time of day %q; use \"HH:MM\" from \"00:00\" to \"24:00\" (quote it)", what, n.Value)
		return
	}
	*out = time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute
}
