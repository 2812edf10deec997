package config

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The names a point may not take and the units it may carry, for every
// driver's points and for ingest, which applies the same rules to what it
// receives (docs/contracts.md, "What ingest validates"). A point's name
// becomes a field key of its device kind's measurement in InfluxDB, beside
// the fields and tags ingest writes itself.
const (
	// SeqField holds a batch's sequence number.
	SeqField = "batch_seq"
	// HashField and CheckField hold a batch's evidence.
	HashField  = "batch_hash"
	CheckField = "batch_check"
	// QualitySuffix is appended to a point's name for its quality field.
	QualitySuffix = "_q"
	// MaxUnitLen is the longest unit, in bytes.
	MaxUnitLen = 32
)

// SeqFieldOf is the field that holds the sequence number of part part of
// a poll: SeqField for a whole poll and for the first part of a split
// one, SeqField_<part> for the others. The parts of a split poll share
// their device and poll time, so InfluxDB merges them into one point, in
// which each part's number keeps a field of its own.
func SeqFieldOf(part int) string {
	if part == 0 {
		return SeqField
	}
	return SeqField + "_" + strconv.Itoa(part)
}

// IsSeqField reports whether name is a field SeqFieldOf makes.
func IsSeqField(name string) bool {
	if name == SeqField {
		return true
	}
	rest, ok := strings.CutPrefix(name, SeqField+"_")
	if !ok || rest == "" || rest[0] == '0' {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return false
		}
	}
	return true
}

// TagKeys are the tags of every reading in InfluxDB, in lexical order.
var TagKeys = []string{"device", "gateway", "park", "site", "tenant"}

// ReservedPointName returns why name may not name a point, or "" when it
// may. A field named like a tag hides the tag from InfluxQL (WHERE
// "gateway" = 'x' compares the field), and InfluxDB 1.8 drops a field
// named time without an error.
func ReservedPointName(name string) string {
	switch {
	case IsSeqField(name) || name == HashField || name == CheckField:
		return "is a field of the batch itself (" + SeqField + ", " + SeqField + "_<part>, " + HashField + ", " + CheckField + ")"
	case strings.HasSuffix(name, QualitySuffix):
		return "ends in " + QualitySuffix + ", the suffix of quality fields"
	case slices.Contains(TagKeys, name):
		return "is a tag of every reading (" + strings.Join(TagKeys, ", ") + "): a field of that name would hide the tag from queries"
	case name == "time":
		return "is InfluxDB's time column, which drops a field of that name"
	}
	return ""
}

// reservedKinds are the measurements eipgw writes itself;
// reservedKindPrefixes cover those to come. Compared without regard to
// letter case.
var (
	reservedKinds        = []string{"completeness", "deadletter", "dead_letter", "quarantine"}
	reservedKindPrefixes = []string{"park_", "eipgw_"}
)

// ReservedKind reports whether a device kind names a measurement that
// eipgw writes itself.
func ReservedKind(kind string) bool {
	k := strings.ToLower(kind)
	if slices.Contains(reservedKinds, k) {
		return true
	}
	for _, p := range reservedKindPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// ReservedKindRule says which kinds ReservedKind refuses.
const ReservedKindRule = "names a measurement eipgw writes itself (completeness, deadletter, quarantine, park_*, eipgw_*)"

// ValidUnit reports whether u is a unit: at most MaxUnitLen bytes of
// printable UTF-8 ("MW", "Nm3/h", "%", "°C", "m³/h") without space,
// quote, apostrophe, backslash, comma or equals sign.
func ValidUnit(u string) bool {
	if len(u) > MaxUnitLen {
		return false
	}
	for _, r := range u {
		switch {
		case r == utf8.RuneError, r == '"', r == '\\', r == ',', r == '=', r == '\'':
			return false
		case r < utf8.RuneSelf:
			if r <= ' ' || r == 0x7f {
				return false
			}
		case !unicode.IsGraphic(r) || unicode.IsSpace(r):
			return false
		}
	}
	return true
}

// UnitRule says what ValidUnit accepts.
const UnitRule = "at most 32 bytes of printable text without spaces, quotes, backslashes, ',' or '='"

// ReservedGateways and ReservedDevices are the names eipgw's own topics
// take at the gateway and device levels of a data topic
// (eip/v1/{park}/{gateway}/{device}): a gateway metrics, control or
// deadletter, a device status, metrics or deadletter.
var (
	ReservedGateways = []string{"metrics", "control", "deadletter"}
	ReservedDevices  = []string{"status", "metrics", "deadletter"}
)
