// Package topic builds and parses eipgw's MQTT topics. Every topic and
// subscription filter of the project comes from here; nothing else joins or
// splits topic levels by hand.
//
// The topic tree of one park (version 1 of the contract):
//
//	eip/v1/{park}/{gateway}/{device}            data: one batch per device per poll
//	eip/v1/{park}/{gateway}/status              status: retained birth / last will
//	eip/v1/{park}/metrics/{metric}[.{entity}]   metrics: live park metrics, retained
//	eip/v1/{park}/deadletter                    dead letters from ingest
//	eip/v1/{park}/control/replay/{requester}    replay request of an ingest worker, retained
//
// The kinds differ by their number of levels and by reserved words: the
// data topics of a gateway named "metrics" or of a device named "status"
// cannot be told from metrics and status topics, so those names are
// reserved (the configuration refuses a device called status, metrics or
// deadletter). A gateway named "control" parses, but the broker's ACLs
// would let it write replay requests: do not use it. Dead-letter topics have one level fewer and replay topics one
// more than data topics, so the data filter eip/v1/{park}/+/+ never matches
// them; it does match status and metrics topics, which subscribers skip
// after Parse.
//
// Levels are names: park, gateway, device, metric and entity each follow
// config.ValidName (1 to 64 ASCII letters, digits, '-', '_' or '.', starting
// with a letter or digit); a metric has no '.', since the first '.' of the
// metrics level separates it from the entity. A requester is an MQTT client
// id, which operators choose and which defaults to a host name and may be
// longer: any non-empty level of valid UTF-8 without control characters.
// No level is empty or holds the wildcards '+' or '#'.
//
// The constructors do not validate: they join the names they are given,
// which the configuration validated. Parse validates everything it reads,
// and Parse(Data(p, g, d)) returns p, g, d for every valid, unreserved
// p, g, d (likewise for every kind).
package topic

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/eipgw/eipgw/config"
)

// Root is the first two levels of every topic: the project and the
// version of the topic contract.
const Root = "eip/v1"

// prefix precedes the park level of every topic.
const prefix = Root + "/"

// Reserved levels.
const (
	// StatusLevel is the device level of a gateway's status topic.
	StatusLevel = "status"
	// MetricsLevel is the gateway level of metrics topics.
	MetricsLevel = "metrics"
	// DeadLetterLevel is the level after the park of the dead-letter topic.
	DeadLetterLevel = "deadletter"
	// ControlLevel and ReplayLevel are the levels between the park and the
	// requester of a replay topic.
	ControlLevel = "control"
	ReplayLevel  = "replay"
)

// Kind is what a topic carries.
type Kind uint8

// Kinds of topics.
const (
	KindData Kind = iota + 1
	KindStatus
	KindMetrics
	KindDeadLetter
	KindReplay
)

// String returns the kind's name (data, status, metrics, deadletter,
// replay).
func (k Kind) String() string {
	switch k {
	case KindData:
		return "data"
	case KindStatus:
		return "status"
	case KindMetrics:
		return "metrics"
	case KindDeadLetter:
		return "deadletter"
	case KindReplay:
		return "replay"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Topic is a parsed topic. Fields that the kind does not have are empty.
type Topic struct {
	Kind Kind
	Park string
	// Gateway is set for data and status topics.
	Gateway string
	// Device is set for data topics.
	Device string
	// Metric and Entity are set for metrics topics; Entity may be empty.
	Metric string
	Entity string
	// Requester is set for replay topics: the requester's MQTT client id.
	Requester string
}

// String builds the topic t describes.
func (t Topic) String() string {
	switch t.Kind {
	case KindData:
		return Data(t.Park, t.Gateway, t.Device)
	case KindStatus:
		return Status(t.Park, t.Gateway)
	case KindMetrics:
		return Metrics(t.Park, t.Metric, t.Entity)
	case KindDeadLetter:
		return DeadLetter(t.Park)
	case KindReplay:
		return Replay(t.Park, t.Requester)
	}
	return ""
}

// Data is where a device's batches are published:
// eip/v1/{park}/{gateway}/{device}.
func Data(park, gateway, device string) string {
	return prefix + park + "/" + gateway + "/" + device
}

// Status is a gateway's retained birth / last-will topic:
// eip/v1/{park}/{gateway}/status.
func Status(park, gateway string) string {
	return prefix + park + "/" + gateway + "/" + StatusLevel
}

// Metrics is the retained topic of a live park metric:
// eip/v1/{park}/metrics/{metric}, or eip/v1/{park}/metrics/{metric}.{entity}
// for a metric of one entity (a tenant, device or cascade link), such as
// steam_power_mw.t01.
func Metrics(park, metric, entity string) string {
	if entity == "" {
		return prefix + park + "/" + MetricsLevel + "/" + metric
	}
	return prefix + park + "/" + MetricsLevel + "/" + metric + "." + entity
}

// DeadLetter receives the messages ingest could not use:
// eip/v1/{park}/deadletter.
func DeadLetter(park string) string { return prefix + park + "/" + DeadLetterLevel }

// Replay is where requester (an ingest worker's MQTT client id) asks the
// park's edges to publish again what they published since a time:
// eip/v1/{park}/control/replay/{requester}.
func Replay(park, requester string) string {
	return prefix + park + "/" + ControlLevel + "/" + ReplayLevel + "/" + requester
}

// DataFilter matches every data topic of a park, and also its status and
// metrics topics: eip/v1/{park}/+/+.
func DataFilter(park string) string { return prefix + park + "/+/+" }

// GatewayFilter matches the data topics and the status topic of one
// gateway: eip/v1/{park}/{gateway}/+.
func GatewayFilter(park, gateway string) string { return prefix + park + "/" + gateway + "/+" }

// MetricsFilter matches every metrics topic of a park:
// eip/v1/{park}/metrics/+.
func MetricsFilter(park string) string { return prefix + park + "/" + MetricsLevel + "/+" }

// ReplayFilter matches every replay request of a park:
// eip/v1/{park}/control/replay/+.
func ReplayFilter(park string) string {
	return prefix + park + "/" + ControlLevel + "/" + ReplayLevel + "/+"
}

// ParkFilter matches every topic of a park: eip/v1/{park}/#.
func ParkFilter(park string) string { return prefix + park + "/#" }

// Shared turns filter into a shared subscription of group,
// $share/{group}/{filter}: the broker delivers each message to one
// subscriber of the group.
func Shared(group, filter string) string { return "$share/" + group + "/" + filter }

// Parse errors; every error Parse returns wraps exactly one of them.
var (
	// ErrPrefix: the topic does not begin with eip/v1/.
	ErrPrefix = errors.New("not under " + prefix)
	// ErrLevels: no kind has that many levels.
	ErrLevels = errors.New("wrong number of levels")
	// ErrEmptyLevel: a level is empty (a leading, trailing or doubled '/').
	ErrEmptyLevel = errors.New("empty level")
	// ErrWildcard: a level holds '+' or '#'; that is a filter, not a topic.
	ErrWildcard = errors.New("wildcard character")
	// ErrKind: the levels have the count of some kind but not its reserved
	// words.
	ErrKind = errors.New("unknown kind")
	// ErrName: a level is not a valid name.
	ErrName = errors.New("invalid name")
)

// Error is a topic that Parse refused. Err is one of the Err* values.
type Error struct {
	Topic string
	// Level is the 1-based level at fault, 0 for the whole topic.
	Level int
	// Role names the level (park, gateway, device, metric, entity,
	// requester), if known.
	Role   string
	Err    error
	Detail string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("topic ")
	b.WriteString(quote(e.Topic))
	if e.Level > 0 {
		fmt.Fprintf(&b, ": level %d", e.Level)
		if e.Role != "" {
			b.WriteString(" (" + e.Role + ")")
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// quote quotes s, cut to 80 bytes: a topic can be 64 KiB.
func quote(s string) string {
	const n = 80
	if len(s) > n {
		return strconv.Quote(s[:n]) + "... (" + strconv.Itoa(len(s)) + " bytes)"
	}
	return strconv.Quote(s)
}

// nameRule is what config.ValidName accepts.
const nameRule = "use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"

// maxLevels is the most levels of any topic: eip, v1, park, control,
// replay, requester.
const maxLevels = 6

// Parse reads a topic of the contract. The error is an *Error naming the
// topic, the level at fault and what is wrong; errors.Is tells which of the
// Err* values it is.
func Parse(s string) (Topic, error) {
	fail := func(level int, role string, err error, format string, args ...any) (Topic, error) {
		return Topic{}, &Error{Topic: s, Level: level, Role: role, Err: err, Detail: fmt.Sprintf(format, args...)}
	}
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return fail(0, "", ErrPrefix, "want %s{park}/...", prefix)
	}
	lv := [maxLevels]string{"eip", "v1"}
	n := 2
	for ; ; n++ {
		level, tail, more := strings.Cut(rest, "/")
		if n == maxLevels {
			return fail(0, "", ErrLevels, "more than %d", maxLevels)
		}
		lv[n] = level
		if !more {
			n++
			break
		}
		rest = tail
	}
	for i := 2; i < n; i++ {
		if j := strings.IndexAny(lv[i], "+#"); j >= 0 {
			return fail(i+1, "", ErrWildcard, "%q in %s", lv[i][j], quote(lv[i]))
		}
		if lv[i] == "" {
			return fail(i+1, "", ErrEmptyLevel, "")
		}
	}
	t := Topic{Park: lv[2]}
	if !config.ValidName(t.Park) {
		return fail(3, "park", ErrName, "%s: %s", quote(t.Park), nameRule)
	}
	name := func(level int, role, v string) error {
		if config.ValidName(v) {
			return nil
		}
		return &Error{Topic: s, Level: level, Role: role, Err: ErrName, Detail: quote(v) + ": " + nameRule}
	}
	switch n {
	case 4:
		if lv[3] != DeadLetterLevel {
			return fail(4, "", ErrKind, "%s after the park, want %s (or more levels)", quote(lv[3]), DeadLetterLevel)
		}
		t.Kind = KindDeadLetter
	case 5:
		switch {
		case lv[3] == MetricsLevel:
			metric, entity, dotted := strings.Cut(lv[4], ".")
			if err := name(5, "metric", metric); err != nil {
				return Topic{}, err
			}
			if dotted {
				if err := name(5, "entity", entity); err != nil {
					return Topic{}, err
				}
			}
			t.Kind, t.Metric, t.Entity = KindMetrics, metric, entity
		case lv[4] == StatusLevel:
			if err := name(4, "gateway", lv[3]); err != nil {
				return Topic{}, err
			}
			t.Kind, t.Gateway = KindStatus, lv[3]
		default:
			if err := name(4, "gateway", lv[3]); err != nil {
				return Topic{}, err
			}
			if err := name(5, "device", lv[4]); err != nil {
				return Topic{}, err
			}
			t.Kind, t.Gateway, t.Device = KindData, lv[3], lv[4]
		}
	case 6:
		if lv[3] != ControlLevel || lv[4] != ReplayLevel {
			return fail(4, "", ErrKind, "%s/%s after the park, want %s/%s/{requester}",
				quote(lv[3]), quote(lv[4]), ControlLevel, ReplayLevel)
		}
		if !validRequester(lv[5]) {
			return fail(6, "requester", ErrName, "%s: want an MQTT client id of printable UTF-8", quote(lv[5]))
		}
		t.Kind, t.Requester = KindReplay, lv[5]
	default: // 3: the park and nothing after it
		return fail(0, "", ErrLevels, "%d levels, no kind after the park", n)
	}
	return t, nil
}

// validRequester reports whether s may be a requester level: non-empty
// valid UTF-8 without control characters (the caller checked '/', '+' and
// '#').
func validRequester(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (0x7f <= r && r < 0xa0) {
			return false
		}
	}
	return true
}
