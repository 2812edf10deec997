package f32

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// checker compares AppendShortest with strconv and keeps the first few
// differences.
type checker struct {
	t        *testing.T
	got, exp []byte
	failures int
}

func (c *checker) check(f float32) {
	c.got = AppendShortest(c.got[:0], f)
	c.exp = strconv.AppendFloat(c.exp[:0], float64(f), 'g', -1, 32)
	if !bytes.Equal(c.got, c.exp) {
		c.failures++
		if c.failures <= 20 {
			c.t.Errorf("%#08x: got %q, strconv gives %q", math.Float32bits(f), c.got, c.exp)
		}
	}
}

// checkAround checks f and its neighbours up to two units in the last
// place away on either side, with both signs.
func (c *checker) checkAround(f float32) {
	u := math.Float32bits(f) &^ (1 << 31)
	for _, d := range []int64{-2, -1, 0, 1, 2} {
		v := int64(u) + d
		if v < 0 || v > 0x7f800000 {
			continue
		}
		c.check(math.Float32frombits(uint32(v)))
		c.check(math.Float32frombits(uint32(v) | 1<<31))
	}
}

func TestMatchesStrconvSample(t *testing.T) {
	start := time.Now()
	c := &checker{t: t}
	for _, f := range []float32{
		0, float32(math.Copysign(0, -1)),
		math.SmallestNonzeroFloat32,       // smallest subnormal
		math.Float32frombits(0x007fffff),  // largest subnormal
		math.Float32frombits(0x00800000),  // smallest normal
		math.MaxFloat32, -math.MaxFloat32, // largest finite
		1, -1, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 100, 1e6, 1e7, 123456, 1234567,
		0.0001, 0.00001, 0.00012345, 999999, 9999999, 16777216, 16777217,
		2097152.25,     // a tie between two shortest candidates, broken to even
		0.000244140625, // 2^-12, a tie strconv breaks upward
		412.38672, 17.25, 3.4028235e38, 1.17549435e-38, 1.4e-45, 9.8e-45,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
	} {
		c.checkAround(f)
	}
	// Every power of two, from the smallest subnormal to 2^127.
	for e := -149; e <= 127; e++ {
		c.checkAround(float32(math.Ldexp(1, e)))
	}
	// Powers of ten (rounded to float32) across the whole range.
	for e := -45; e <= 38; e++ {
		c.checkAround(float32(math.Pow(10, float64(e))))
		c.checkAround(float32(5 * math.Pow(10, float64(e))))
	}
	// Integers, quarters, tenths.
	for i := 0; i <= 100000; i++ {
		c.check(float32(i))
		c.check(-float32(i))
	}
	for k := -100; k <= 100; k += 7 {
		for i := 0; i < 4000; i++ {
			c.check(float32(i)/4 + float32(k))
		}
	}
	for i := 0; i < 100000; i++ {
		c.check(float32(i) * 0.1)
		c.check(float32(float64(i) * 0.1))
	}
	// Pseudo-random bit patterns, which mostly land far from the values
	// above, and random values in the range sensors report.
	r := rand.New(rand.NewPCG(1, 2))
	for range 2_000_000 {
		c.check(math.Float32frombits(r.Uint32()))
	}
	for range 200_000 {
		c.check(float32((r.Float64() - 0.5) * 2000))
	}
	t.Logf("compared in %v", time.Since(start))
}

// TestMatchesStrconvExhaustive compares all 2^32 bit patterns. It takes
// minutes, so it runs only on request:
//
//	EIPGW_F32_EXHAUSTIVE=1 go test -run Exhaustive -timeout 60m ./gateway/plumbing/batch/internal/f32
func TestMatchesStrconvExhaustive(t *testing.T) {
	if os.Getenv("EIPGW_F32_EXHAUSTIVE") != "1" {
		t.Skip("set EIPGW_F32_EXHAUSTIVE=1 to compare all 2^32 float32 bit patterns with strconv (takes minutes; use -timeout 60m)")
	}
	start := time.Now()
	workers := runtime.NumCPU()
	// Hand out blocks of 2^20 patterns so the workers finish together.
	const block = 1 << 20
	var next atomic.Uint64
	var failures atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var got, exp []byte
			for {
				b := next.Add(1) - 1
				if b >= 1<<32/block || failures.Load() >= 20 {
					return
				}
				for u := b * block; u < (b+1)*block; u++ {
					f := math.Float32frombits(uint32(u))
					got = AppendShortest(got[:0], f)
					exp = strconv.AppendFloat(exp[:0], float64(f), 'g', -1, 32)
					if !bytes.Equal(got, exp) {
						if failures.Add(1) <= 20 {
							t.Errorf("%#08x: got %q, strconv gives %q", u, got, exp)
						}
					}
				}
			}
		})
	}
	wg.Wait()
	if failures.Load() == 0 {
		t.Logf("all 2^32 bit patterns match strconv; %d workers, %v", workers, time.Since(start))
	}
}

// TestAppendKeepsTheRest checks that AppendShortest keeps what dst holds
// and writes nothing past the end of what it appends, whether dst has
// plenty of spare capacity (where it copies with overlapping stores),
// or too little (where it uses append).
func TestAppendKeepsTheRest(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	values := []float32{0, 1, -1, 17.25, -0.5, 1e-7, 123456, 1e6, 1.4e-45, math.MaxFloat32, -412.38672}
	for range 2000 {
		values = append(values, math.Float32frombits(r.Uint32()), float32(r.Float64()*100))
	}
	var want []byte
	for _, f := range values {
		for prefix := range 3 {
			for spare := range 20 {
				backing := make([]byte, prefix+spare+4)
				for i := range backing {
					backing[i] = '#'
				}
				dst := backing[: prefix : prefix+spare]
				got := AppendShortest(dst, f)
				want = append(want[:0], backing[:prefix]...)
				want = strconv.AppendFloat(want, float64(f), 'g', -1, 32)
				if !bytes.Equal(got, want) {
					t.Fatalf("%g after %d bytes with %d spare: got %q, want %q", f, prefix, spare, got, want)
				}
				if &got[0] == &backing[0] {
					// Appended in place: the bytes after it are untouched.
					for i := len(got); i < len(backing); i++ {
						if backing[i] != '#' {
							t.Fatalf("%g after %d bytes with %d spare: byte %d past the end overwritten: %q", f, prefix, spare, i, backing)
						}
					}
				}
			}
		}
	}
}

func TestASCIIDigits8(t *testing.T) {
	check := func(d uint32) {
		got := asciiDigits8(d)
		want := uint64(0)
		for i, r := 0, d; i < 8; i, r = i+1, r/10 {
			want |= uint64('0'+r%10) << (8 * (7 - i))
		}
		if got != want {
			t.Fatalf("asciiDigits8(%d) = %#x, want %#x", d, got, want)
		}
	}
	for d := uint32(0); d < 1e8; d += 7 {
		check(d)
	}
	for d := uint32(0); d < 1e5; d++ {
		check(d)
		check(1e8 - 1 - d)
	}
}

func TestDoesNotAllocate(t *testing.T) {
	values := []float32{0, 1, -17.25, 412.38672, 1e-7, 3.4028235e38, 1.4e-45, 123456, 1e6}
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		for _, f := range values {
			buf = AppendShortest(buf[:0], f)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendShortest allocates %v times per run of %d values", allocs, len(values))
	}
}

// benchValues returns the two sets of 1000 values the benchmarks format:
// quarters, as float32(i)/4 + 17, and sensor-like readings,
// float32(412.38672 + sin(i)).
func benchValues() map[string][]float32 {
	quarters := make([]float32, 1000)
	sensor := make([]float32, 1000)
	for i := range 1000 {
		quarters[i] = float32(i)/4 + 17
		sensor[i] = float32(412.38672 + math.Sin(float64(i)))
	}
	return map[string][]float32{"quarters": quarters, "sensor": sensor}
}

func benchmarkFormat(b *testing.B, format func([]byte, float32) []byte) {
	sets := benchValues()
	for _, name := range []string{"quarters", "sensor"} {
		values := sets[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 64)
			for b.Loop() {
				for _, f := range values {
					buf = format(buf[:0], f)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(values)), "ns/value")
		})
	}
}

func BenchmarkAppendShortest(b *testing.B) {
	benchmarkFormat(b, AppendShortest)
}

func BenchmarkStrconv(b *testing.B) {
	benchmarkFormat(b, func(dst []byte, f float32) []byte {
		return strconv.AppendFloat(dst, float64(f), 'g', -1, 32)
	})
}
