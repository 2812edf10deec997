package influxwrite

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/tinylib/msgp/msgp"
)

// answer is an InfluxQL answer: the results of each statement, or an
// error about the whole request.
type answer struct {
	Results []struct {
		Series []Series `json:"series"`
		Error  string   `json:"error"`
	} `json:"results"`
	Error string `json:"error"`
}

// msgpackType is the media type of InfluxDB's MessagePack answers (InfluxDB
// 1.x's /query writes it when asked; the shape is the JSON answer's, with
// values in their own types and strings unescaped, which costs the server
// and the reader less than JSON on answers of long strings such as the
// evidence records' messages).
const msgpackType = "application/x-msgpack"

// decodeMsgpack reads a MessagePack answer into the JSON answer's shape:
// numbers become json.Number with the text InfluxDB's JSON would carry
// (integers exact, floats in encoding/json's form), so every reader of
// Series sees one representation whichever the server sent.
func decodeMsgpack(b []byte) (*answer, error) {
	var a answer
	b, err := members(b, func(key string, b []byte) (_ []byte, err error) {
		switch key {
		case "error":
			a.Error, b, err = msgp.ReadStringBytes(b)
		case "results":
			var nr uint32
			if nr, b, err = msgp.ReadArrayHeaderBytes(b); err != nil {
				return b, err
			}
			a.Results = make([]struct {
				Series []Series `json:"series"`
				Error  string   `json:"error"`
			}, nr)
			for i := range a.Results {
				if b, err = decodeResult(b, &a.Results[i].Series, &a.Results[i].Error); err != nil {
					return b, fmt.Errorf("result %d: %w", i, err)
				}
			}
		default:
			b, err = msgp.Skip(b)
		}
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("answer: %d bytes after its end", len(b))
	}
	return &a, nil
}

// members reads a map of string keys, handing each member's value to
// member; an error names the member.
func members(b []byte, member func(key string, b []byte) ([]byte, error)) ([]byte, error) {
	n, b, err := msgp.ReadMapHeaderBytes(b)
	if err != nil {
		return b, err
	}
	for range n {
		var key string
		if key, b, err = msgp.ReadStringBytes(b); err != nil {
			return b, err
		}
		if b, err = member(key, b); err != nil {
			return b, fmt.Errorf("%s: %w", key, err)
		}
	}
	return b, nil
}

func decodeResult(b []byte, series *[]Series, errText *string) ([]byte, error) {
	return members(b, func(key string, b []byte) (_ []byte, err error) {
		switch key {
		case "error":
			*errText, b, err = msgp.ReadStringBytes(b)
		case "series":
			var ns uint32
			if ns, b, err = msgp.ReadArrayHeaderBytes(b); err != nil {
				return b, err
			}
			*series = make([]Series, ns)
			for i := range *series {
				if b, err = decodeSeries(b, &(*series)[i]); err != nil {
					return b, fmt.Errorf("%d: %w", i, err)
				}
			}
		default: // statement_id, messages, partial
			b, err = msgp.Skip(b)
		}
		return b, err
	})
}

func decodeSeries(b []byte, s *Series) ([]byte, error) {
	return members(b, func(key string, b []byte) (_ []byte, err error) {
		switch key {
		case "name":
			s.Name, b, err = msgp.ReadStringBytes(b)
		case "tags":
			var nt uint32
			if nt, b, err = msgp.ReadMapHeaderBytes(b); err != nil {
				return b, err
			}
			s.Tags = make(map[string]string, nt)
			for range nt {
				var k, v string
				if k, b, err = msgp.ReadStringBytes(b); err != nil {
					return b, err
				}
				if v, b, err = msgp.ReadStringBytes(b); err != nil {
					return b, fmt.Errorf("%q: %w", k, err)
				}
				s.Tags[k] = v
			}
		case "columns":
			var nc uint32
			if nc, b, err = msgp.ReadArrayHeaderBytes(b); err != nil {
				return b, err
			}
			s.Columns = make([]string, nc)
			for i := range s.Columns {
				if s.Columns[i], b, err = msgp.ReadStringBytes(b); err != nil {
					return b, fmt.Errorf("%d: %w", i, err)
				}
			}
		case "values":
			var nv uint32
			if nv, b, err = msgp.ReadArrayHeaderBytes(b); err != nil {
				return b, err
			}
			s.Values = make([][]any, nv)
			// The rows of a series share one array, allocated for rows
			// of as many values as the first.
			var slab []any
			for i := range s.Values {
				var nc uint32
				if nc, b, err = msgp.ReadArrayHeaderBytes(b); err != nil {
					return b, fmt.Errorf("row %d: %w", i, err)
				}
				if len(slab) < int(nc) {
					slab = make([]any, int(nc)*(int(nv)-i))
				}
				row := slab[:nc:nc]
				slab = slab[nc:]
				for j := range row {
					if row[j], b, err = decodeValue(b); err != nil {
						return b, fmt.Errorf("row %d column %d: %w", i, j, err)
					}
				}
				s.Values[i] = row
			}
		default: // partial
			b, err = msgp.Skip(b)
		}
		return b, err
	})
}

// decodeValue reads one value of a row: nil, a bool, a string, or a
// number as json.Number.
func decodeValue(b []byte) (any, []byte, error) {
	switch t := msgp.NextType(b); t {
	case msgp.NilType:
		b, err := msgp.ReadNilBytes(b)
		return nil, b, err
	case msgp.BoolType:
		return msgp.ReadBoolBytes(b)
	case msgp.StrType:
		return msgp.ReadStringBytes(b)
	case msgp.IntType:
		v, b, err := msgp.ReadInt64Bytes(b)
		return json.Number(strconv.FormatInt(v, 10)), b, err
	case msgp.UintType:
		v, b, err := msgp.ReadUint64Bytes(b)
		return json.Number(strconv.FormatUint(v, 10)), b, err
	case msgp.Float64Type:
		v, b, err := msgp.ReadFloat64Bytes(b)
		return jsonFloat(v), b, err
	case msgp.Float32Type:
		v, b, err := msgp.ReadFloat32Bytes(b)
		return jsonFloat(float64(v)), b, err
	default:
		return nil, b, fmt.Errorf("a value of MessagePack type %s", t)
	}
}

// jsonFloat is f as encoding/json writes a float64 (the text InfluxDB's
// JSON answers carry): decimal between 1e-6 and 1e21, else exponent form
// with at least one exponent digit.
func jsonFloat(f float64) json.Number {
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	s := strconv.AppendFloat(make([]byte, 0, 24), f, format, -1, 64)
	if format == 'e' {
		// e-07 becomes e-7, as encoding/json writes it.
		if n := len(s); n >= 4 && s[n-4] == 'e' && s[n-3] == '-' && s[n-2] == '0' {
			s[n-2] = s[n-1]
			s = s[:n-1]
		}
	}
	return json.Number(s)
}
