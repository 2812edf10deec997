package modbus

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
)

// BenchmarkAnswersToReadings takes the answers of one poll of a device of
// 1000 float32 points (16 reads of 125 registers) into the device and
// hands its readings over in the contract's form: decoding and Device.fill,
// what a poll costs beside the transport, per value.
func BenchmarkAnswersToReadings(b *testing.B) {
	p, errs := ParseProfile("bench.yaml", []byte(float32Profile(1000)))
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	d := NewDevice(config.Device{Name: "bench", Unit: 1, Interval: time.Second}, p)
	bus, err := NewBus(config.Bus{Name: "b", Transport: "tcp", Address: "127.0.0.1:1", Timeout: time.Second}, []*Device{d}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	answers := make([][]byte, len(d.plan))
	for ri := range d.plan {
		r := &d.plan[ri]
		data := make([]byte, r.dataLen())
		for i := 0; i+4 <= len(data); i += 4 {
			v := math.Float32bits(float32(ri*1000+i) * 0.37)
			data[i], data[i+1], data[i+2], data[i+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		}
		answers[ri] = data
	}
	rs := make([]drivers.Reading, d.numeric)
	b.ReportAllocs()
	for b.Loop() {
		for ri := range d.plan {
			bus.result(d, ri, answers[ri], nil)
		}
		d.fill(rs)
	}
	if rs[999].Quality != Good || !rs[999].Float32 {
		b.Fatalf("reading %+v", rs[999])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/value")
}

// TestFillIsEachPointsReading: the readings Device.fill hands over, copied
// from the profile's kept good readings, are those Point.goodReading makes
// from each point for a good value (exact integers, unsigned, float32 and
// float64, scaled or not), and carry only name, unit and quality otherwise.
func TestFillIsEachPointsReading(t *testing.T) {
	p := mustParse(t, wireProfile+"  - {name: label, address: 20, type: string, length: 2, unit: \"1\"}\n  - {name: on, table: coil, address: 0, type: bool, unit: \"1\"}\n  - {name: total, address: 30, type: uint64, unit: Wh}\n")
	d := NewDevice(deviceConfig("dev", 1), p)
	// Profiles not made by ParseProfile keep their good readings per device.
	bare := &Profile{Kind: p.Kind, Points: p.Points}
	for _, d := range []*Device{d, NewDevice(deviceConfig("bare", 1), bare)} {
		rng := rand.New(rand.NewPCG(1, 2))
		quals := []qcode{qGood, qGood, qGood, qOutOfRange, qTimeout, qCommError, qException + 6, qNone}
		rs := make([]drivers.Reading, d.numeric+3) // a lent buffer may be longer
		for round := range 200 {
			for s := range d.numeric {
				d.vals[s] = rng.Uint64()
				d.quals[s] = quals[rng.IntN(len(quals))]
				if round%50 == 0 {
					d.vals[s] = 0
				}
			}
			d.fill(rs)
			s := 0
			for i := range p.Points {
				pt := &p.Points[i]
				if pt.Text() {
					continue
				}
				want := drivers.Reading{Name: pt.Name, Unit: pt.Unit, Quality: d.quals[s].quality()}
				if d.quals[s] == qGood {
					pt.goodReading(&want, d.vals[s])
				}
				if got := rs[s]; got != want && !(math.IsNaN(got.Float) && math.IsNaN(want.Float)) {
					t.Fatalf("%s: point %s, bits %#x, quality %q: got %+v, want %+v", d.Name, pt.Name, d.vals[s], want.Quality, got, want)
				}
				s++
			}
			if s != d.numeric || s != 10 {
				t.Fatalf("%d numeric readings, want 10", s)
			}
		}
	}
}

// BenchmarkParseProfile1000 parses a profile of 1000 float32 points, as
// an edge does at its start and at each reload.
func BenchmarkParseProfile1000(b *testing.B) {
	data := []byte(float32Profile(1000))
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := ParseProfile("bench.yaml", data); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}

// TestExactLimitsAsWritten: the min and max of a 64-bit integer point are
// taken as written, not as the float64 they round to (2^53 + 1 is read
// as 2^53), both in a profile that limits every point and in one where
// only the last point has limits.
func TestExactLimitsAsWritten(t *testing.T) {
	for _, y := range []string{
		"kind: test\npoints:\n  - {name: n, address: 0, type: int64, unit: \"1\", min: -9007199254740993, max: 9007199254740993}\n",
		"kind: test\npoints:\n  - {name: f, address: 8, type: float32, unit: kW}\n  - {name: n, address: 0, type: int64, unit: \"1\", min: -9007199254740993, max: 9007199254740993}\n",
	} {
		p := mustParse(t, y)
		pt := &p.Points[len(p.Points)-1]
		for v, want := range map[int64]bool{1<<53 + 1: true, 1<<53 + 2: false, -(1<<53 + 1): true, -(1<<53 + 2): false} {
			if got := pt.intInRange(v); got != want {
				t.Errorf("%d in [-(2^53+1), 2^53+1]: %v, want %v (profile %q)", v, got, want, y)
			}
		}
	}
}

// float32Profile is a profile of n float32 points (p0000, p0001, ...) in
// consecutive holding registers from 0, as the benchmarks poll.
func float32Profile(n int) string {
	var y strings.Builder
	y.WriteString("kind: bench\npoints:\n")
	for i := range n {
		fmt.Fprintf(&y, "  - {name: p%04d, address: %d, type: float32, unit: kW}\n", i, 2*i)
	}
	return y.String()
}

// TestPlainFloat32MatchesDecodeBits: Bus.result decodes an unscaled ABCD
// float32 point without Point.decodeBits; for every point of a profile
// that mixes such points (with and without a range) with other orders,
// scaled float32 and integers, the value bits and quality it keeps must be
// decodeBits' for the same registers: negative zero, subnormals, NaNs,
// infinities, the largest finite values and the range's own limits
// included.
func TestPlainFloat32MatchesDecodeBits(t *testing.T) {
	p := mustParse(t, `kind: mix
points:
  - {name: a, address: 0, type: float32, unit: kW}
  - {name: b, address: 2, type: float32, unit: kW, min: -1.5, max: 1000}
  - {name: c, address: 4, type: float32, unit: kW, order: CDAB}
  - {name: d, address: 6, type: float32, unit: kW, scale: 0.5}
  - {name: e, address: 8, type: float32, unit: kW, min: 0}
  - {name: f, address: 10, type: int32, unit: kW}
  - {name: g, address: 12, type: float32, unit: kW, offset: -3, max: 7}
`)
	d := NewDevice(deviceConfig("dev", 1), p)
	bus, err := NewBus(config.Bus{Name: "b", Transport: "tcp", Address: "127.0.0.1:1", Timeout: time.Second}, []*Device{d}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.plan) != 1 || d.plan[0].Quantity != 14 {
		t.Fatalf("plan %+v, want one read of 14 registers", d.plan)
	}
	plain := 0
	for i := range p.Points {
		if p.Points[i].plainF32 {
			plain++
		}
	}
	if plain != 3 {
		t.Fatalf("%d points take the plain float32 path, want 3 (a, b, e)", plain)
	}
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1.5, -1.5000001, 1000, 1000.0001, math.MaxFloat32,
		-math.MaxFloat32, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, float32(math.Inf(1)),
		float32(math.Inf(-1)), float32(math.NaN()), 412.38672, 7, 10, 1e-38}
	rnd := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 28)
	for n := range 20000 {
		for i := 0; i < len(data); i += 4 {
			var u uint32
			if n < len(special)*len(special) {
				u = math.Float32bits(special[(n/len(special)+i/4)%len(special)])
			} else {
				u = rnd.Uint32()
			}
			data[i], data[i+1], data[i+2], data[i+3] = byte(u>>24), byte(u>>16), byte(u>>8), byte(u)
		}
		bus.result(d, 0, data, nil)
		regs := make([]uint16, 14)
		for i := range regs {
			regs[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
		}
		for i := range p.Points {
			pt := &p.Points[i]
			bits, ok := pt.decodeBits(regs[pt.reg:])
			wantQ := qGood
			if !ok {
				bits, wantQ = 0, qOutOfRange
			}
			s := d.slot[i]
			if d.vals[s] != bits || d.quals[s] != wantQ {
				t.Fatalf("point %s, registers %04x: kept %#x quality %d, decodeBits gives %#x quality %d",
					pt.Name, regs[pt.reg:pt.reg+2], d.vals[s], d.quals[s], bits, wantQ)
			}
		}
	}
}
